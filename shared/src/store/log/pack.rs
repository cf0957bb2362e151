//! Archiving and retention at the level of one log: packing a sealed page's
//! segments into one compressed object, reading packed segments back, and
//! letting the oldest pages expire.
//!
//! **Positions never change meaning.** Packing rewrites a sealed page with the
//! same offsets, lines and times; only each segment's `blob` changes, from a
//! hot blob key to a [`Location::Packed`] reference into the page's object (one
//! gzip member per segment, so one segment is one ranged GET and one small
//! inflate, and the object as a whole is a valid `.gz` of the page). Expiry
//! moves the head's `retained` mark forward over whole pages: bytes before it
//! are gone, every later offset and line number stays what it was.
//!
//! **Readers in flight.** A reader may hold a page (or a head) from before a
//! rewrite for as long as its request lasts, so the blobs a rewrite replaces
//! are not deleted here: the caller deletes them after a grace period longer
//! than any request ([`Packed::replaced`], [`Expired::objects`]). An appender
//! whose commit lost a race re-writes the page it sealed with the hot keys;
//! packing only pages sealed longer ago than that grace rules this out (the
//! caller passes `sealed_before`).

use super::head::{PageRef, Segment};
use super::{Head, Log, codec, head};
use crate::store::error::{StoreError, StoreResult};
use crate::store::kv::{Update, update};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

/// Where a segment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// A blob of its own, written by the append.
    Hot(&'a str),
    /// A blob of its own holding one gzip member of the segment (see
    /// [`super::codec`]).
    Compressed(&'a str),
    /// `len` bytes at `start` of an archive object, gzip-compressed or stored.
    Packed {
        /// The page's archive object, a key in the blob store.
        object: &'a str,
        /// Offset in the object of the segment's first stored byte.
        start: u64,
        /// Stored bytes: compressed if `gzip`, else the segment's length.
        len: u64,
        /// The stored bytes are one gzip member ([`Packing::Gzip`]), else
        /// the segment as it was ([`Packing::Stored`]).
        gzip: bool,
    },
}

/// Hot blob keys are `<prefix>/s/<id>`, never starting with `@`; a
/// compressed one is marked [`codec::TAG`].
const GZ: &str = "@gz/";
const RAW: &str = "@raw/";

impl<'a> Location<'a> {
    /// `@gz/<start>/<len>/<object>` or `@raw/...`: the object key goes last,
    /// so it may hold any character. `@z/<key>`: a compressed hot blob.
    pub fn of(blob: &'a str) -> Location<'a> {
        if let Some(key) = blob.strip_prefix(codec::TAG) {
            return Location::Compressed(key);
        }
        let (rest, gzip) = match (blob.strip_prefix(GZ), blob.strip_prefix(RAW)) {
            (Some(rest), _) => (rest, true),
            (None, Some(rest)) => (rest, false),
            (None, None) => return Location::Hot(blob),
        };
        let mut parts = rest.splitn(3, '/');
        let start = parts.next().and_then(|s| s.parse().ok());
        let len = parts.next().and_then(|s| s.parse().ok());
        match (start, len, parts.next()) {
            (Some(start), Some(len), Some(object)) => Location::Packed {
                object,
                start,
                len,
                gzip,
            },
            _ => Location::Hot(blob),
        }
    }

    /// The blob key of the object holding the bytes.
    pub fn object(self) -> &'a str {
        match self {
            Location::Hot(key) | Location::Compressed(key) => key,
            Location::Packed { object, .. } => object,
        }
    }

    fn packed(object: &str, start: u64, len: u64, gzip: bool) -> String {
        let tag = if gzip { GZ } else { RAW };
        format!("{tag}{start}/{len}/{object}")
    }
}

/// How a page is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// gzip at this level (1 fastest .. 9 smallest).
    Gzip(u32),
    /// Bytes as they are: the hot store emptied, nothing compressed.
    Stored,
}

/// What packing one page did.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// The archive object written, the key the caller chose.
    pub object: String,
    /// Byte offset in the log where the page begins.
    pub offset: u64,
    /// Byte offset in the log just past the page's last byte.
    pub end: u64,
    /// Newlines in the log before the page.
    pub first_line: u64,
    /// Newlines inside the page.
    pub lines: u64,
    /// Commit time of its first segment, µs since the epoch.
    pub first_time: u64,
    /// Commit time of its last segment, µs since the epoch.
    pub last_time: u64,
    /// The page's bytes uncompressed (`end - offset`).
    pub bytes: u64,
    /// The archive object's size: the page's bytes as packed.
    pub stored_bytes: u64,
    /// Hot blobs the page no longer lists: delete after the grace period.
    pub replaced: Vec<String>,
}

/// What an expiry did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expired {
    /// Pages that expired now.
    pub pages: usize,
    /// Log bytes in those pages, now unreadable.
    pub bytes: u64,
    /// Blobs and objects no page lists any more: delete after the grace period.
    pub objects: Vec<String>,
}

impl Log {
    /// Page `n`'s segments as stored.
    pub fn page(&self, n: usize) -> StoreResult<Vec<Segment>> {
        let key = self.page_key(n);
        let bytes = self
            .store
            .meta
            .get(&key)?
            .ok_or_else(|| StoreError::internal(format!("missing index page {key}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::internal(format!("index page {key}: {e}")))
    }

    /// When page `n` was sealed: the time its page reference records, or,
    /// for a page sealed before references recorded it, the commit time of
    /// the first segment after it (exact then: the commit that added that
    /// segment sealed the page; since pages are sealed before a commit adds
    /// its own segments, a later commit may seal it, so the time is kept).
    pub fn sealed_at(&self, head: &Head, n: usize) -> StoreResult<Option<u64>> {
        if let Some(time) = head.pages.get(n).and_then(|p| p.sealed) {
            return Ok(Some(time));
        }
        if n + 1 < head.pages.len() {
            return Ok(self.page(n + 1)?.first().map(|s| s.time));
        }
        if n + 1 == head.pages.len() {
            return Ok(head.tail.first().map(|s| s.time));
        }
        Ok(None)
    }

    /// Packs sealed page `n` into the object `object` (a fresh key) and
    /// rewrites the page to point into it. `None` if the page is packed
    /// already (by an earlier run or a concurrent one: its object then stays
    /// unwritten or is deleted at once).
    pub fn pack_page(
        &self,
        n: usize,
        object: &str,
        packing: Packing,
    ) -> StoreResult<Option<Packed>> {
        let page = self.page(n)?;
        if page.is_empty()
            || page
                .iter()
                .any(|s| matches!(Location::of(&s.blob), Location::Packed { .. }))
        {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut packed = page.clone();
        for seg in packed.iter_mut() {
            let start = out.len() as u64;
            match (packing, Location::of(&seg.blob)) {
                // Already one gzip member: copied, not recompressed.
                (Packing::Gzip(_), Location::Compressed(key)) => {
                    out.extend_from_slice(&self.stored(key, &seg.blob)?)
                }
                (Packing::Gzip(level), _) => {
                    let bytes = self.segment_bytes(seg)?;
                    let mut gz = GzEncoder::new(&mut out, Compression::new(level.clamp(1, 9)));
                    gz.write_all(&bytes).map_err(StoreError::internal)?;
                    gz.finish().map_err(StoreError::internal)?;
                }
                (Packing::Stored, _) => out.extend_from_slice(&self.segment_bytes(seg)?),
            }
            let len = out.len() as u64 - start;
            seg.blob = Location::packed(object, start, len, packing != Packing::Stored);
        }
        self.store.blobs.put(object, &out)?;
        let before = serde_json::to_vec(&page).map_err(StoreError::internal)?;
        let after = serde_json::to_vec(&packed).map_err(StoreError::internal)?;
        let won = update::<_, StoreError>(
            self.store.meta.as_ref(),
            &self.page_key(n),
            None,
            20,
            |current| match current {
                Some(c) if c == before.as_slice() => Ok(Update::Write(after.clone(), true)),
                Some(c) if c == after.as_slice() => Ok(Update::Keep(true)),
                _ => Ok(Update::Keep(false)),
            },
        )?;
        if !won {
            self.store.blobs.delete(object)?;
            return Ok(None);
        }
        let (first, last) = (&page[0], &page[page.len() - 1]);
        Ok(Some(Packed {
            object: object.to_owned(),
            offset: first.offset,
            end: last.offset + last.len,
            first_line: first.line,
            lines: page.iter().map(|s| s.newlines).sum(),
            first_time: first.time,
            last_time: last.time,
            bytes: page.iter().map(|s| s.len).sum(),
            stored_bytes: out.len() as u64,
            // The blobs, not the references: a compressed segment's
            // reference is tagged (`@z/...`), and deleting the tag deletes
            // nothing.
            replaced: page
                .iter()
                .map(|s| Location::of(&s.blob).object().to_owned())
                .collect(),
        }))
    }

    /// Expires pages `head.expired_pages..upto`: bytes before the first line
    /// that starts at or after page `upto` become unreadable. Returns what no
    /// page lists any more.
    pub fn expire_pages(&self, upto: usize) -> StoreResult<Expired> {
        let Some(snapshot) = self.snapshot()? else {
            return Ok(Expired::default());
        };
        let head = snapshot.head();
        let upto = upto.min(head.pages.len());
        let from = head.expired_pages;
        if upto <= from {
            return Ok(Expired::default());
        }
        // The new mark: where the first whole line of page `upto` starts
        // (a page may begin inside a line), or the tail's first line.
        let start = head
            .pages
            .get(upto)
            .copied()
            .or_else(|| {
                head.tail.first().map(|s| PageRef {
                    offset: s.offset,
                    line: s.line,
                    key: s.key,
                    min: None,
                    sealed: None,
                })
            })
            .unwrap_or(PageRef {
                offset: head.size,
                line: head.lines,
                key: None,
                min: None,
                sealed: None,
            });
        let boundary = snapshot.line_start(start.line)?;
        let mark = if boundary == start.offset {
            start
        } else {
            let line = start.line + 1;
            PageRef {
                offset: snapshot.line_start(line)?,
                line,
                key: start.key,
                min: None,
                sealed: None,
            }
        };
        let mut objects = Vec::new();
        let mut filters = Vec::new();
        let mut bytes = 0;
        for n in from..upto {
            for seg in self.page(n)? {
                bytes += seg.len;
                filters.push(seg.filter.clone());
                let key = Location::of(&seg.blob).object().to_owned();
                if !objects.contains(&key) {
                    objects.push(key);
                }
            }
        }
        // The filters go first: a reader (or this expiry, failing) that
        // finds one missing reads its segment, which stays for the grace.
        self.discard_filters(&filters);
        update::<_, StoreError>(
            self.store.meta.as_ref(),
            &self.head_key(),
            None,
            100,
            |current| {
                let Some(bytes) = current else {
                    return Ok(Update::Keep(()));
                };
                let mut head = head::parse(bytes)?;
                if head.expired_pages >= upto {
                    return Ok(Update::Keep(()));
                }
                head.expired_pages = upto;
                head.retained = Some(mark);
                Ok(Update::Write(
                    serde_json::to_vec(&head).map_err(StoreError::internal)?,
                    (),
                ))
            },
        )?;
        Ok(Expired {
            pages: upto - from,
            bytes,
            objects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::log::PAGE_SEGMENTS;
    use std::rc::Rc;

    fn filled(pages: usize) -> (Log, Vec<u8>) {
        let log = Log::new(Rc::new(Store::memory()), "t");
        let mut all = Vec::new();
        for i in 0..(pages * PAGE_SEGMENTS + 5) {
            // Every third append is long enough to be stored compressed.
            let len = if i % 3 == 0 { 1_200 } else { 200 + i % 13 };
            let line = format!("line {i} {}\n", "x".repeat(len));
            all.extend_from_slice(line.as_bytes());
            log.append(line.as_bytes(), None).unwrap();
        }
        let page = log.page(0).unwrap();
        let compressed = |s: &Segment| matches!(Location::of(&s.blob), Location::Compressed(_));
        assert_eq!(
            page.iter().filter(|s| compressed(s)).count(),
            PAGE_SEGMENTS.div_ceil(3)
        );
        (log, all)
    }

    fn read(log: &Log, start: u64) -> Vec<u8> {
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let size = snap.size();
        snap.read(start, size)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .concat()
    }

    #[test]
    fn locations_round_trip_and_hot_keys_stay_hot() {
        let blob = Location::packed("archive/a/b:c", 10, 20, true);
        assert_eq!(
            Location::of(&blob),
            Location::Packed {
                object: "archive/a/b:c",
                start: 10,
                len: 20,
                gzip: true
            }
        );
        assert_eq!(Location::of("t/s/abc"), Location::Hot("t/s/abc"));
        assert_eq!(Location::of("@gz/x"), Location::Hot("@gz/x"));
        assert_eq!(Location::of("@z/t/s/abc"), Location::Compressed("t/s/abc"));
        assert_eq!(Location::of("@z/t/s/abc").object(), "t/s/abc");
    }

    #[test]
    fn packed_pages_read_the_same_and_keep_every_position() {
        for packing in [Packing::Gzip(6), Packing::Stored] {
            let (log, all) = filled(3);
            let before = Rc::new(log.snapshot().unwrap().unwrap());
            let line_200 = before.line_start(200).unwrap();
            let p = log.pack_page(1, "archive/o1", packing).unwrap().unwrap();
            assert_eq!(p.replaced.len(), PAGE_SEGMENTS);
            // Every one a blob that is there to delete (compressed ones too).
            for key in &p.replaced {
                assert!(log.store.blobs.get(key).unwrap().is_some(), "{key}");
            }
            assert_eq!(log.pack_page(1, "archive/o2", packing).unwrap(), None);
            assert_eq!(read(&log, 0), all);
            let snap = Rc::new(log.snapshot().unwrap().unwrap());
            assert_eq!(snap.line_start(200).unwrap(), line_200);
            assert_eq!(snap.line_at(line_200).unwrap(), 200);
            for key in &p.replaced {
                log.store.blobs.delete(key).unwrap();
            }
            assert_eq!(read(&log, 0), all, "hot blobs are not needed any more");
            let back: Vec<_> = snap
                .clone()
                .lines_before(snap.size())
                .map(Result::unwrap)
                .collect();
            assert_eq!(back.len(), 3 * PAGE_SEGMENTS + 5);
            let whole = log.store.blobs.get("archive/o1").unwrap().unwrap();
            if packing != Packing::Stored {
                assert!(p.stored_bytes < p.bytes);
                let mut text = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::MultiGzDecoder::new(&whole[..]),
                    &mut text,
                )
                .unwrap();
                assert_eq!(
                    text,
                    &all[p.offset as usize..p.end as usize],
                    "a valid .gz of the page"
                );
            }
        }
    }

    #[test]
    fn filters_survive_packing_and_go_with_their_expired_pages() {
        let log = Log::new(Rc::new(Store::memory()), "t");
        for i in 0..(2 * PAGE_SEGMENTS + 3) {
            let lines: String = (0..40)
                .map(|j| format!("line {i} {j} {}\n", "x".repeat(100)))
                .collect();
            log.append(lines.as_bytes(), None).unwrap();
        }
        let page = log.page(0).unwrap();
        let stored = |s: &Segment| {
            let id = s.filter.as_ref().expect("a filter");
            log.store.meta.get(&format!("t/f/{id}")).unwrap().is_some()
        };
        assert!(page.iter().all(stored), "written with the segments");
        log.pack_page(0, "archive/o", Packing::Gzip(1))
            .unwrap()
            .unwrap();
        let packed = log.page(0).unwrap();
        let filters = |p: &[Segment]| p.iter().map(|s| s.filter.clone()).collect::<Vec<_>>();
        assert_eq!(filters(&packed), filters(&page), "packing keeps them");
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let probe = Rc::new(
            crate::store::log::filter::Probe::new([&b"line 5 7 "[..]], Rc::default()).unwrap(),
        );
        let read: Vec<u64> = snap
            .clone()
            .pieces(0, snap.size(), false, Some(probe))
            .map(Result::unwrap)
            .filter(|p| p.bytes.is_some())
            .map(|p| p.at)
            .collect();
        assert!(
            read.contains(&page[5].offset),
            "the packed segment holding it is read"
        );
        assert!(read.len() <= 4, "and few others: {read:?}");
        log.expire_pages(1).unwrap();
        assert!(!page.iter().any(stored), "expired with their page");
        assert!(log.page(1).unwrap().iter().all(stored));
    }

    #[test]
    fn expired_pages_are_unreadable_and_later_positions_unchanged() {
        let (log, all) = filled(3);
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let mark = snap.head().pages[2];
        let line_300 = snap.line_start(300).unwrap();
        let e = log.expire_pages(2).unwrap();
        assert_eq!(e.pages, 2);
        assert_eq!(e.objects.len(), 2 * PAGE_SEGMENTS);
        for key in &e.objects {
            log.store.blobs.delete(key).unwrap();
        }
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        assert_eq!(
            snap.retained(),
            mark.offset,
            "appends end on newlines: a page starts a line"
        );
        assert_eq!(read(&log, 0), &all[mark.offset as usize..]);
        assert_eq!(snap.line_start(0).unwrap(), mark.offset);
        assert_eq!(snap.line_start(300).unwrap(), line_300);
        assert_eq!(snap.line_at(0).unwrap(), mark.line);
        // A page read from the start ends where the log is kept or later,
        // never on an expired segment's start.
        let kept = |limit| snap.segment_line_boundary(0, limit).unwrap();
        assert_eq!(kept(mark.offset - 1), None);
        assert_eq!(kept(mark.offset), None);
        let second = log.page(2).unwrap()[1].offset;
        assert_eq!(kept(second + 1), Some(second));
        let back: Vec<_> = snap
            .clone()
            .lines_before(snap.size())
            .map(Result::unwrap)
            .collect();
        assert_eq!(back.len() as u64, snap.lines() - mark.line);
        assert_eq!(back.last().unwrap().offset, mark.offset);
        // Forward from an expired position: the first kept line, at its
        // own offset (each line's cursor is where the next one starts).
        let forward: Vec<_> = snap
            .clone()
            .lines_in(0, snap.size())
            .map(Result::unwrap)
            .collect();
        assert_eq!(forward.len(), back.len());
        assert_eq!(forward[0].offset, mark.offset);
        assert_eq!(forward[1].offset, forward[0].end());
        assert_eq!(forward.last().unwrap().end(), snap.size());
        assert_eq!(snap.time_range(Some(0), None).unwrap().0, mark.offset);
        assert_eq!(log.expire_pages(1).unwrap(), Expired::default());
        // Appends go on as before.
        log.append(b"after\n", None).unwrap();
        assert!(read(&log, 0).ends_with(b"after\n"));
    }
}
