//! The request and response types every handler speaks, independent of Spin.
//!
//! Handlers take a [`Request`] and return a [`Response`]; the Spin glue
//! converts to and from WASI HTTP, and native tests call the handlers
//! directly. A response body may be a lazy stream of chunks so that reads of
//! large logs never sit in memory whole; a stream may also ask to wait
//! ([`Chunk::Wait`]), so that the glue, not the handler, does the waiting and
//! can notice meanwhile that the client went away.

use super::problem::Problem;
use super::query::Query;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use std::time::Duration;

/// A chunk under this size that follows a bigger one is sent with it: two
/// segments of loopback's 65,483-byte MSS, so that a read's last write
/// always carries a full segment after the previous write's partial one,
/// whose ACK then comes at once (see [`Response::stream`]).
pub const MIN_WRITE: usize = 128 << 10;
/// A big chunk takes the small ones after it until it holds this much.
pub const MAX_JOIN: usize = 1 << 20;

/// An incoming request, body already read (and bounded) by the adapter.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request method, as sent (HEAD included: `api::Api::answer` serves it from GET).
    pub method: Method,
    /// The raw, still percent-encoded path (`spin-path-info` is not trusted for routing:
    /// we match the full path ourselves so a route means the same on every host).
    pub path: String,
    /// The query string, decoded once (the raw text is kept inside).
    pub query: Query,
    /// The request headers, as sent.
    pub headers: HeaderMap,
    /// The whole body, at most the adapter's bound; empty for none.
    pub body: Vec<u8>,
    /// Who is asking, as authentication named them (`user:<uid>` or
    /// `ip:<address>`); `None` before (or without) the auth gate.
    pub caller: Option<String>,
}

impl Request {
    /// A request for `method` on `path_and_query` (split at the first `?`),
    /// with no headers, body or caller: what the glue starts from and tests build.
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Self {
            method,
            path: path.to_owned(),
            query: Query::parse(query),
            headers: HeaderMap::new(),
            body: Vec::new(),
            caller: None,
        }
    }

    /// The same, with header `name` set to `value`; a value that is no valid
    /// header value is dropped.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    /// The same, with `body`.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A header as text; a header that is not visible ASCII counts as absent.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether `If-None-Match` names one of `etags` (quoted, as sent in
    /// `ETag`) or `*`; a weak `W/` tag counts, as RFC 9110's weak
    /// comparison for `If-None-Match` says.
    pub fn none_match(&self, etags: &[&str]) -> bool {
        self.header(header::IF_NONE_MATCH).is_some_and(|tags| {
            tags.split(',')
                .map(str::trim)
                .any(|t| t == "*" || etags.contains(&t.strip_prefix("W/").unwrap_or(t)))
        })
    }

    /// The client address Spin reports, without the port. The last value wins:
    /// hosts append theirs after whatever the client sent.
    pub fn client_ip(&self) -> String {
        self.headers
            .get_all("spin-client-addr")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .map(|a| a.rsplit_once(':').map_or(a, |(ip, _)| ip).to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// The body as JSON of type `T`, `what` naming it in problems. The one
    /// Content-Type rule of every JSON body: `application/json` (or any
    /// `application/*+json`), or none at all (a body of no stated type is
    /// taken for what the route reads, as most JSON APIs do); any other
    /// type is a 415 saying so, and a body that is not a `T` is a 400.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, Problem> {
        match self.content_type().as_deref() {
            None | Some("application/json") => {}
            Some(t) if t.starts_with("application/") && t.ends_with("+json") => {}
            Some(other) => {
                return Err(Problem::unsupported_media_type(format!(
                    "{what} is an application/json body, not {other}"
                )));
            }
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Problem::bad_request(format!("invalid {what}: {e}")))
    }

    /// [`Request::json`], or `T::default()` for an empty body (which needs no
    /// Content-Type).
    pub fn json_or_default<T: serde::de::DeserializeOwned + Default>(
        &self,
        what: &str,
    ) -> Result<T, Problem> {
        if self.body.is_empty() {
            return Ok(T::default());
        }
        self.json(what)
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        self.header(header::CONTENT_TYPE).map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// One step of a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes to send now.
    Data(Vec<u8>),
    /// Nothing to send for this long; ask again afterwards. The glue waits
    /// without blocking and ends the stream early if the client is gone.
    Wait(Duration),
}

/// A chunk producer for streamed bodies. An `Err` ends the stream abnormally:
/// headers are gone by then, so the glue can only cut the body short.
pub type ChunkStream = Box<dyn Iterator<Item = Result<Chunk, Problem>>>;

/// A response body.
pub enum Body {
    /// No body (a 204, a HEAD answer, a redirect).
    Empty,
    /// The whole body, in memory; its `Content-Length` is known.
    Bytes(Vec<u8>),
    /// Chunks produced as the glue sends them: large reads and follows.
    Stream(ChunkStream),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// An answer, before the glue turns it into WASI HTTP.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The response headers, as sent.
    pub headers: HeaderMap,
    /// What follows the headers.
    pub body: Body,
}

impl Response {
    /// `status` with no headers and no body.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// A JSON document answer.
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => Self::new(status)
                .header(header::CONTENT_TYPE, "application/json")
                .bytes(bytes),
            Err(e) => Self::from(Problem::internal(e)),
        }
    }

    /// The same, with header `name` set to `value` (replacing it); a non-ASCII
    /// value is dropped and logged, as a bug.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.headers.insert(name, v);
            }
            // Values we build are ASCII; anything else is a bug worth seeing in logs.
            Err(_) => eprintln!("dropped non-ASCII value for header {name}"),
        }
        self
    }

    /// The same, with `body` as its whole body.
    pub fn bytes(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    /// A body of bytes produced lazily (a storage read, a compressor), to
    /// be sent as fast as the client takes it: a chunk under
    /// [`MIN_WRITE`] after a bigger one goes out with it, not alone (up to
    /// [`MAX_JOIN`]).
    ///
    /// Why: every chunk becomes one write on the connection, and Spin sets
    /// no `TCP_NODELAY`. A body that ended with a small write (a log's
    /// pages end on the 700-byte remainder of an append, after 524,200-byte
    /// segments) had its last bytes held by Nagle's algorithm until the
    /// client's delayed ACK of the write before, 40 ms later: on Spin 4.1 a
    /// third of the 8 MiB pages of one keep-alive connection took 50 ms
    /// instead of 9 (`strace -e writev` of `spin trigger http`).
    pub fn stream<E>(self, chunks: impl Iterator<Item = Result<Vec<u8>, E>> + 'static) -> Self
    where
        Problem: From<E>,
    {
        let chunks = chunks.map(|c| c.map_err(Problem::from));
        self.chunks(join_small_chunks(Box::new(chunks)))
    }

    /// A body that may also wait between chunks (a follow).
    pub fn chunks(mut self, chunks: ChunkStream) -> Self {
        self.body = Body::Stream(chunks);
        self
    }

    /// Drains the body into memory, sleeping through waits. For native
    /// tests and small bodies only.
    pub fn into_bytes(self) -> Result<Vec<u8>, Problem> {
        match self.body {
            Body::Empty => Ok(Vec::new()),
            Body::Bytes(b) => Ok(b),
            Body::Stream(chunks) => {
                let mut out = Vec::new();
                for chunk in chunks {
                    match chunk? {
                        Chunk::Data(bytes) => out.extend_from_slice(&bytes),
                        Chunk::Wait(d) => std::thread::sleep(d),
                    }
                }
                Ok(out)
            }
        }
    }
}

impl From<Problem> for Response {
    fn from(p: Problem) -> Self {
        if let Some(why) = &p.internal {
            eprintln!("{} {}: {why}", p.status.as_u16(), p.title);
        }
        let mut r = Response::new(p.status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .header(header::CACHE_CONTROL, "no-cache");
        if let Some(allow) = p.extra.get("allow").and_then(|v| v.as_str()) {
            r = r.header(header::ALLOW, allow);
        }
        if let Some(secs) = p.extra.get("retry_after").and_then(|v| v.as_u64()) {
            r = r.header(header::RETRY_AFTER, &secs.to_string());
        }
        for (name, value) in &p.headers {
            match HeaderValue::from_str(value) {
                Ok(v) => {
                    r.headers.append(name, v);
                }
                Err(_) => eprintln!("dropped non-ASCII value for header {name}"),
            }
        }
        r.bytes(p.to_json())
    }
}

/// Lets any origin read the API from a browser (a log viewer's `EventSource`
/// or `fetch`), following redirects too. No cookies are involved, so `*` is
/// safe; credentials travel in headers or URL tokens.
pub fn allow_any_origin(mut response: Response) -> Response {
    let headers = &mut response.headers;
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "x-next-cursor, x-start-cursor, link, location, etag, content-range, content-disposition, retry-after, idempotent-replayed, \
             www-authenticate, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy",
        ),
    );
    response
}

/// Lets handlers use `?` on `Result<Response, Problem>` and still return a `Response`.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(Response::from)
}

/// [`Response::stream`]'s chunks with each small one after a big one
/// joined to it. Not generic: one copy of it in a component, however many
/// kinds of stream it sends (the generic form cost `archive` ~500 B).
fn join_small_chunks(chunks: Box<dyn Iterator<Item = Result<Vec<u8>, Problem>>>) -> ChunkStream {
    let mut chunks = chunks.peekable();
    Box::new(std::iter::from_fn(move || {
        let mut chunk = chunks.next()?;
        if let Ok(bytes) = &mut chunk
            && bytes.len() >= MIN_WRITE
        {
            // Only after a big chunk: a stream of small ones (a
            // compressor's) goes out as it comes, each as soon as it is
            // made (joining them cost the streamed archive a fifth).
            while let Some(Ok(next)) = chunks.peek()
                && next.len() < MIN_WRITE
                && bytes.len() < MAX_JOIN
            {
                bytes.extend_from_slice(next);
                chunks.next();
            }
        }
        Some(chunk.map(Chunk::Data))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks a streamed body hands the glue, errors as their status.
    fn sent(chunks: Vec<Result<Vec<u8>, Problem>>) -> Vec<Result<usize, StatusCode>> {
        let Body::Stream(out) = Response::new(StatusCode::OK)
            .stream(chunks.into_iter())
            .body
        else {
            panic!("a stream");
        };
        out.map(|c| match c {
            Ok(Chunk::Data(bytes)) => Ok(bytes.len()),
            Ok(Chunk::Wait(_)) => panic!("a bounded body never waits"),
            Err(p) => Err(p.status),
        })
        .collect()
    }

    #[test]
    fn a_small_chunk_goes_out_with_the_one_before_it() {
        let segment = 524_200;
        let chunks = vec![
            Ok(vec![b'a'; segment]),
            Ok(vec![b'b'; segment]),
            Ok(vec![b'c'; 700]),
            Ok(vec![b'd'; 100]),
        ];
        assert_eq!(sent(chunks), [Ok(segment), Ok(segment + 800)]);
    }

    #[test]
    fn small_chunks_go_out_as_they_come_and_a_big_one_takes_them_up_to_a_bound() {
        let small = || Ok(vec![b'z'; 50_000]);
        let chunks = vec![small(), small(), Ok(vec![b'a'; MIN_WRITE])];
        assert_eq!(sent(chunks), [Ok(50_000), Ok(50_000), Ok(MIN_WRITE)]);
        let chunks = std::iter::once(Ok(vec![b'a'; MIN_WRITE]))
            .chain((0..100).map(|_| small()))
            .collect();
        let sent: Vec<usize> = sent(chunks).into_iter().map(|c| c.unwrap_or(0)).collect();
        assert_eq!(sent.iter().sum::<usize>(), MIN_WRITE + 5_000_000);
        assert_eq!(sent[0], MIN_WRITE + 19 * 50_000, "{sent:?}");
        assert!(sent[1..].iter().all(|&n| n == 50_000), "{sent:?}");
    }

    #[test]
    fn a_small_first_chunk_and_an_error_go_out_as_they_are() {
        let chunks = vec![
            Ok(vec![b'a'; 10]),
            Ok(vec![b'b'; MIN_WRITE]),
            Err(Problem::internal("storage")),
            Ok(vec![b'c'; 10]),
        ];
        assert_eq!(
            sent(chunks),
            [
                Ok(10),
                Ok(MIN_WRITE),
                Err(StatusCode::INTERNAL_SERVER_ERROR),
                Ok(10)
            ]
        );
    }
}
