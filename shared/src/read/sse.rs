//! Server-Sent Events in: the parser for what [`super::format::sse_event`]
//! writes, for the CLI's `--follow` and the fuzz checks of the writer.
//!
//! Incremental, per the WHATWG "event stream interpretation": bytes go in as
//! they arrive, in chunks split anywhere (inside a CRLF or a UTF-8 sequence
//! too), and each line is read as soon as it ends, with CR, LF or CRLF. A
//! leading byte order mark is skipped, a line starting with `:` is a comment,
//! and a blank line ends an event. An event still open when the stream stops
//! is never returned, as an `EventSource` never dispatches it.
//!
//! What an `EventSource` does with events next is left to the caller, who
//! may want more: it keeps the last `id` across events (an event without one
//! leaves it as it was) and dispatches only events with data
//! ([`Event::dispatched`]), where a reconnecting client also acts on an
//! `event: resume` that has no data.

/// One event: the fields between two blank lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// Its `id:` (the last, if several). An id holding a NUL is ignored, as
    /// WHATWG says.
    pub id: Option<String>,
    /// Its `event:` as sent; [`Event::kind`] is the name it dispatches as.
    pub event: Option<String>,
    /// Its `data:` lines, in order.
    pub data: Vec<String>,
    /// Its `retry:`, in milliseconds (a value that is not all digits is
    /// ignored).
    pub retry: Option<u64>,
}

impl Event {
    /// The type an `EventSource` dispatches it as: `message` unless named.
    pub fn kind(&self) -> &str {
        match self.event.as_deref() {
            None | Some("") => "message",
            Some(kind) => kind,
        }
    }

    /// The data lines joined with `\n`: an `EventSource`'s `event.data`.
    pub fn data(&self) -> String {
        self.data.join("\n")
    }

    /// Whether an `EventSource` dispatches it: only with a `data:` line.
    pub fn dispatched(&self) -> bool {
        !self.data.is_empty()
    }
}

/// What a stream yields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event, when the blank line that ends it arrives. Fields alone
    /// (`retry: 500` then a blank line) make one too; a blank line with no
    /// field before it does not.
    Event(Event),
    /// A comment line (`: ping`, a keep-alive) without its `:` and the one
    /// space after it, when the line ends.
    Comment(String),
}

/// The state between chunks: the line so far and the event so far.
#[derive(Debug, Default)]
pub struct Parser {
    /// The bytes of a line whose end has not arrived.
    line: Vec<u8>,
    /// The fields read since the last blank line.
    event: Event,
    /// The last chunk ended with a CR: an LF first in the next one belongs
    /// to that line end.
    after_cr: bool,
    /// A line has ended (so a byte order mark is no longer possible).
    started: bool,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl Parser {
    /// Reads the next `bytes` of the stream: the events and comments they
    /// complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(i) = memchr::memchr2(b'\r', b'\n', bytes) {
            if self.line.is_empty() {
                self.end_line(&bytes[..i], &mut out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&bytes[..i]);
                self.end_line(&line, &mut out);
                line.clear();
                self.line = line;
            }
            let mut end = i + 1;
            if bytes[i] == b'\r' {
                match bytes.get(end) {
                    Some(b'\n') => end += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            bytes = &bytes[end..];
        }
        self.line.extend_from_slice(bytes);
        out
    }

    fn end_line(&mut self, line: &[u8], out: &mut Vec<Item>) {
        let line = if self.started {
            line
        } else {
            self.started = true;
            line.strip_prefix(BOM).unwrap_or(line)
        };
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if event != Event::default() {
                out.push(Item::Event(event));
            }
            return;
        }
        let line = String::from_utf8_lossy(line);
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            out.push(Item::Comment(comment.to_owned()));
            return;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "id" if !value.contains('\0') => self.event.id = Some(value.to_owned()),
            "event" => self.event.event = Some(value.to_owned()),
            "data" => self.event.data.push(value.to_owned()),
            "retry" if value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.event.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::format::sse_event;

    fn parse(stream: &[u8]) -> Vec<Item> {
        Parser::default().feed(stream)
    }

    fn event(id: Option<&str>, event: Option<&str>, data: &[&str]) -> Item {
        Item::Event(Event {
            id: id.map(str::to_owned),
            event: event.map(str::to_owned),
            data: data.iter().map(|d| (*d).to_owned()).collect(),
            retry: None,
        })
    }

    /// A stream with every kind of line, each line end, a BOM and UTF-8.
    const STREAM: &[u8] = "\u{feff}retry: 500\n\n: ping\r\n\r\nid: 12\ndata: {\"a\":1}\r\
        : hello\nretry: 1000\ndata:x\n\nid: 13\nevent: resume\r\n\r\n\
        data: été €\rdata\r\n\rid\0: no\ndata: \n\nid: a\0b\ndata:  two spaces\n\n\
        event:\ndata: last\n\nid: cut\ndata: never dispatched\n"
        .as_bytes();

    fn expected() -> Vec<Item> {
        let retry = Event {
            retry: Some(500),
            ..Event::default()
        };
        let first = Event {
            id: Some("12".into()),
            data: vec!["{\"a\":1}".into(), "x".into()],
            retry: Some(1000),
            ..Event::default()
        };
        vec![
            Item::Event(retry),
            Item::Comment("ping".into()),
            Item::Comment("hello".into()),
            Item::Event(first),
            event(Some("13"), Some("resume"), &[]),
            event(None, None, &["été €", ""]),
            event(None, None, &[""]),
            event(None, None, &[" two spaces"]),
            event(None, Some(""), &["last"]),
        ]
    }

    #[test]
    fn reads_fields_comments_and_every_line_end() {
        let items = parse(STREAM);
        assert_eq!(items, expected());
        let Item::Event(e) = &items[3] else {
            panic!("{items:?}")
        };
        assert_eq!((e.kind(), e.data().as_str()), ("message", "{\"a\":1}\nx"));
        assert!(e.dispatched());
        let Item::Event(e) = &items[4] else {
            panic!("{items:?}")
        };
        assert_eq!(e.kind(), "resume");
        assert!(!e.dispatched());
        let Item::Event(e) = &items[8] else {
            panic!("{items:?}")
        };
        assert_eq!(e.kind(), "message");
    }

    #[test]
    fn chunks_may_split_anywhere() {
        let whole = expected();
        for cut in 0..=STREAM.len() {
            let mut p = Parser::default();
            let mut items = p.feed(&STREAM[..cut]);
            items.extend(p.feed(&[]));
            items.extend(p.feed(&STREAM[cut..]));
            assert_eq!(items, whole, "split at {cut}");
        }
        for a in 0..=STREAM.len() {
            for b in a..=STREAM.len() {
                let mut p = Parser::default();
                let mut items = p.feed(&STREAM[..a]);
                items.extend(p.feed(&STREAM[a..b]));
                items.extend(p.feed(&STREAM[b..]));
                assert_eq!(items, whole, "split at {a} and {b}");
            }
        }
        let mut p = Parser::default();
        let items: Vec<Item> = STREAM.iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(items, whole, "a byte at a time");
    }

    #[test]
    fn a_cr_then_lf_in_the_next_chunk_is_one_line_end() {
        let mut p = Parser::default();
        assert_eq!(p.feed(b"data: a\r"), []);
        assert_eq!(p.feed(b"\n"), []);
        assert_eq!(p.feed(b"\r"), [event(None, None, &["a"])]);
        // A CR, then a blank line by LF: two line ends, so an event.
        assert_eq!(p.feed(b"data: b\r"), []);
        assert_eq!(p.feed(b"\n\n"), [event(None, None, &["b"])]);
    }

    #[test]
    fn reads_back_what_the_writer_writes() {
        for data in ["", "plain", "a\rid: 666\r\nb\n\nevent: x", "\n", "é\r\n"] {
            let mut out = Vec::new();
            sse_event(&mut out, Some("7"), Some("log"), data);
            let items = parse(&out);
            let [Item::Event(e)] = items.as_slice() else {
                panic!("{data:?}: {items:?}")
            };
            assert_eq!(e.id.as_deref(), Some("7"));
            assert_eq!(e.kind(), "log");
            assert_eq!(e.data(), data.replace("\r\n", "\n").replace('\r', "\n"));
        }
    }

    #[test]
    fn a_bom_is_skipped_only_first() {
        let items = parse("\u{feff}data: a\n\n\u{feff}data: b\n\n".as_bytes());
        assert_eq!(items, [event(None, None, &["a"])]);
        let items = parse("\n\u{feff}data: a\n\n".as_bytes());
        assert_eq!(items, []);
    }
}
