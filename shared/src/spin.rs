//! The Spin side of every component: WASI HTTP in and out, Spin key-value
//! stores, Spin variables. It only runs inside a component (natively the SDK's
//! imports are stubs); everything above it is plain Rust that native tests
//! drive with in-memory stores.

use crate::api::Api;
use crate::config::{BlobBackend, Config, ConfigError};
use crate::env::Env;
use crate::routes::{Lookup, unrouted};
use crate::store::Store;
use crate::store::blob::{BlobStore, KvBlobStore, LazyBlobs};
use crate::store::kv::{Cas, Kv, KvError, KvResult};
use crate::store::s3::{HttpRequest, HttpResponse, S3BlobStore, Transport, TransportError};
use crate::web::message::{Body, Chunk, ChunkStream, Request, Response, respond};
use crate::web::problem::Problem;
use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wkv};

use std::time::Duration;
use wasi::io::poll::Pollable;
use wasi::io::streams::{OutputStream, StreamError};

/// Runs one request through `api`: reads its settings as they are needed,
/// finds its route in the family's table once, passes the auth gate
/// (`crate::auth`) with the route's rule, reads the body within the
/// configured limit, hands the typed route to the handler, and streams the
/// response back. Generic over the family, so a component links only its
/// own family's table and handler.
pub async fn serve<R>(req: IncomingRequest, out: ResponseOutparam, api: &'static Api<R>) {
    let started = crate::util::clock::now_micros();
    let (response, refused) = match prepare(req, api).await {
        Ok((request, lookup, env, gate)) => (
            gate.run(|| {
                respond(match lookup {
                    Lookup::Found(found) => api.answer(found.route, &request, &env),
                    Lookup::Refused(problem, _) => Err(problem),
                    Lookup::Unrouted => Err(unrouted(&request.path)),
                })
            }),
            false,
        ),
        Err(problem) => (Response::from(problem), true),
    };
    let (status, micros) = (
        response.status.as_u16(),
        crate::util::clock::now_micros() - started,
    );
    let rate_limited = refused && status == 429;
    send(crate::web::message::allow_any_origin(response), out).await;
    // Counted once the answer is on its way: the client never waits for
    // its own metric. `index` and `ui` hold no store and are not counted.
    if !crate::routes::Described::opens_store(api.family) {
        return;
    }
    let mut draw = [0u8; 8];
    let draw = getrandom::fill(&mut draw).map_or(0, |()| u64::from_le_bytes(draw));
    let sample = Config::strict(variable).metrics_request_sample();
    let weight = crate::store::metrics::request_weight(status, sample.unwrap_or(0), draw);
    if weight == 0 {
        return;
    }
    crate::store::metrics::request(
        &SpinKv::new("default"),
        api.family.component,
        status,
        micros,
        rate_limited,
        weight,
    );
}

/// Outbound HTTP for the cluster API servers the `clusters` and `collect`
/// components reach
/// (`crate::collect::http`): the same exchange as S3's.
pub fn outbound() -> std::rc::Rc<dyn Transport> {
    std::rc::Rc::new(SpinHttp)
}

type Prepared<R> = (Request, Lookup<R>, Env, crate::auth::Gate);

async fn prepare<R>(req: IncomingRequest, api: &'static Api<R>) -> Result<Prepared<R>, Problem> {
    let config = Config::strict(variable);
    let method = convert_method(&req.method())?;
    let path_and_query = req.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut request = Request::new(method, &path_and_query);
    for (name, value) in req.headers().entries() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(&value),
        ) {
            request.headers.append(n, v);
        }
    }
    let mut stream = req.into_body_stream();
    let admitted = admit(&mut request, api, &config);
    // Read when the first chunk comes: a request without a body (most
    // reads) spares the variable read, a host call.
    let limit = || config.max_body_bytes();
    let (lookup, store, gate) = match admitted {
        Ok(admitted) => admitted,
        Err(problem) => {
            // A refusal still reads what the client sent (up to the body
            // limit): on Spin 4.1 a request whose body the guest never
            // touched stalled its keep-alive connection ~40 ms (a 401 ran
            // at 143 req/s under wrk -c4, GET / at 1,475; the note of
            // issue 29 has the run).
            let mut drained = 0u64;
            while let Some(Ok(chunk)) = stream.next().await {
                drained += chunk.len() as u64;
                if drained > limit().unwrap_or(0) {
                    break;
                }
            }
            return Err(problem);
        }
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request(format!("reading the body: {e:?}")))?;
        let limit = limit()?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Problem::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    request.body = body;
    Ok((request, lookup, Env { store, config }, gate))
}

type Admitted<R> = (Lookup<R>, std::rc::Rc<Store>, crate::auth::Gate);

/// The checks before a byte of the body is read: the guard's size limits,
/// the route, the declared length, then the gate (authenticated,
/// authorized, counted).
fn admit<R>(
    request: &mut Request,
    api: &'static Api<R>,
    config: &Config,
) -> Result<Admitted<R>, Problem> {
    crate::web::guard::check(request, config)?;
    let lookup = api.family.find(&request.method, &request.path);
    if let Some(len) = request
        .header(http::header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&len| len > 0)
    {
        let limit = config.max_body_bytes()?;
        if len > limit {
            return Err(Problem::too_large(limit));
        }
    }
    let store = std::rc::Rc::new(open_store());
    let subject = match &lookup {
        Lookup::Found(found) => found.subject.as_ref(),
        _ => None,
    };
    let gate = crate::auth::admit(request, &lookup.rule(), subject, config, &store)?;
    Ok((lookup, store, gate))
}

/// A Spin variable: its value, `None` if empty (unset), or an error for a
/// variable spin.toml does not give this component (Spin's `Undefined`):
/// the component's family reads only what it declares, so that is a bug to
/// see, not a default to fall back on.
fn variable(name: &str) -> Result<Option<String>, ConfigError> {
    use spin_sdk::variables::Error;
    match spin_sdk::variables::get(name) {
        Ok(v) => Ok(Some(v)),
        Err(Error::Undefined(why)) => Err(ConfigError(format!(
            "variable {name} is not given to this component ({why}): map it in spin.toml"
        ))),
        Err(e) => Err(ConfigError(format!("variable {name}: {e:?}"))),
    }
}

/// Metadata in the `default` store; log bytes in it too (embedded default,
/// through a second handle) or in S3 over outbound HTTP. Nothing is opened
/// or read here: the blob backend is chosen at the first blob operation.
fn open_store() -> Store {
    let meta = Box::new(SpinKv::new("default"));
    Store::with_blobs(meta, Box::new(LazyBlobs::new(blob_store)))
}

/// The blob backend `blob_store` names.
fn blob_store() -> KvResult<Box<dyn BlobStore>> {
    let config = Config::strict(variable);
    let backend = config
        .blobs()
        .map_err(|e| KvError::misconfigured(e.to_string()))?;
    Ok(match backend {
        BlobBackend::Embedded => Box::new(KvBlobStore::new(Box::new(SpinKv::new("default")))),
        BlobBackend::S3(settings) => Box::new(S3BlobStore::new(settings, Box::new(SpinHttp))?),
    })
}

fn convert_method(m: &spin_sdk::http::Method) -> Result<http::Method, Problem> {
    use spin_sdk::http::Method as M;
    Ok(match m {
        M::Get => http::Method::GET,
        M::Head => http::Method::HEAD,
        M::Post => http::Method::POST,
        M::Put => http::Method::PUT,
        M::Delete => http::Method::DELETE,
        M::Connect => http::Method::CONNECT,
        M::Options => http::Method::OPTIONS,
        M::Trace => http::Method::TRACE,
        M::Patch => http::Method::PATCH,
        M::Other(s) => http::Method::from_bytes(s.as_bytes())
            .map_err(|_| Problem::bad_request("unknown HTTP method"))?,
    })
}

async fn send(response: Response, out: ResponseOutparam) {
    let (outgoing, mut chunks) = outgoing(response);
    let Some(sink) = BodySink::of(&outgoing) else {
        eprintln!("response body not writable");
        return;
    };
    // The first bytes go into the body before the response is handed over
    // (as many as the host takes without waiting), so that the host sends
    // them in the same write as the headers. Handed over first, the headers
    // could leave alone, and the body's first bytes then waited for the
    // client's delayed ACK (Spin sets no TCP_NODELAY): on Spin 4.1 under
    // `wrk -c1`, `GET /` took 12-17 ms on average, 70-170 req/s.
    let first = chunks.next();
    let mut sent = 0;
    if let Some(Ok(Chunk::Data(bytes))) = &first {
        sent = sink.write_now(bytes);
    }
    out.set(outgoing);
    if let Some(Ok(Chunk::Data(bytes))) = &first
        && let Err(e) = sink.write(&bytes[sent..]).await
    {
        eprintln!("client went away: {e:?}");
        return;
    }
    let rest = match first {
        Some(Ok(Chunk::Data(_))) => None,
        other => other,
    };
    pump(&sink, rest.into_iter().chain(chunks)).await;
}

/// The WASI response for `response`'s status and headers, and its body as
/// chunks. A body in memory says its length, as a known-length stream
/// already does (`read::reader`, `read::download`): the host then frames it
/// by length, not as chunks with a final empty one.
fn outgoing(mut response: Response) -> (OutgoingResponse, ChunkStream) {
    let bodiless = matches!(
        response.status,
        http::StatusCode::NO_CONTENT | http::StatusCode::NOT_MODIFIED
    );
    if let Body::Bytes(bytes) = &response.body
        && !bodiless
    {
        response
            .headers
            .entry(http::header::CONTENT_LENGTH)
            .or_insert_with(|| http::HeaderValue::from(bytes.len()));
    }
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let fields = match Fields::from_list(&headers) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("invalid response headers: {e:?}");
            Fields::new()
        }
    };
    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(response.status.as_u16()).is_err() {
        eprintln!("invalid status {}", response.status);
    }
    let chunks: ChunkStream = match response.body {
        Body::Empty => Box::new(std::iter::empty()),
        Body::Bytes(bytes) => Box::new(std::iter::once(Ok(Chunk::Data(bytes)))),
        Body::Stream(chunks) => chunks,
    };
    (outgoing, chunks)
}

/// Writes `chunks` to the body as they come, waiting where they say; stops
/// when the client has gone or the stream fails (the headers are gone by
/// then, so the body is cut short).
async fn pump(sink: &BodySink, chunks: impl Iterator<Item = Result<Chunk, Problem>>) {
    for chunk in chunks {
        match chunk {
            Ok(Chunk::Data(bytes)) => {
                if let Err(e) = sink.write(&bytes).await {
                    eprintln!("client went away: {e:?}");
                    return;
                }
            }
            Ok(Chunk::Wait(d)) => {
                sleep(d).await;
                // Stop as soon as the client has gone (dropping the stream
                // gives its follower slot back), not at the next write,
                // which for an idle follow is the next keepalive.
                if sink.gone() {
                    eprintln!("client went away");
                    return;
                }
            }
            Err(problem) => {
                eprintln!("stream cut short: {problem}");
                return;
            }
        }
    }
}

/// The response body, written on its WASI output stream directly. The SDK's
/// `Sink` cannot tell that a client has gone without writing bytes: its flush
/// of nothing never reaches the host, and an empty write to a closed stream
/// succeeds. The stream's own `check-write` says so at once.
struct BodySink {
    stream: Option<OutputStream>,
    body: Option<OutgoingBody>,
}

impl BodySink {
    fn of(response: &OutgoingResponse) -> Option<Self> {
        let body = response.body().ok()?;
        let stream = body.write().ok()?;
        Some(BodySink {
            stream: Some(stream),
            body: Some(body),
        })
    }

    /// Writes all of `bytes` as fast as the host takes them (it says how
    /// much at a time with `check-write`), waiting while it has no room.
    async fn write(&self, mut bytes: &[u8]) -> Result<(), StreamError> {
        let Some(stream) = &self.stream else {
            return Err(StreamError::Closed);
        };
        while !bytes.is_empty() {
            let room = stream.check_write()?;
            if room == 0 {
                ready(stream.subscribe()).await;
                continue;
            }
            let n = usize::try_from(room).map_or(bytes.len(), |r| r.min(bytes.len()));
            stream.write(&bytes[..n])?;
            bytes = &bytes[n..];
        }
        // Hands what was written on now: a live follow's line must not wait
        // in a buffer for the next one.
        stream.flush()
    }

    /// Writes as much of `bytes` as the host takes at once, without waiting:
    /// how many.
    fn write_now(&self, bytes: &[u8]) -> usize {
        let Some(stream) = &self.stream else {
            return 0;
        };
        let room = stream.check_write().unwrap_or(0);
        let n = usize::try_from(room).map_or(bytes.len(), |r| r.min(bytes.len()));
        if n == 0 || stream.write(&bytes[..n]).is_err() {
            return 0;
        }
        n
    }

    /// Whether the client has gone (the host closed the stream).
    fn gone(&self) -> bool {
        self.stream
            .as_ref()
            .is_none_or(|s| matches!(s.check_write(), Err(StreamError::Closed)))
    }
}

impl Drop for BodySink {
    /// Ends the body: the stream first, as WASI requires, then `finish`.
    fn drop(&mut self) {
        drop(self.stream.take());
        if let Some(body) = self.body.take()
            && let Err(e) = OutgoingBody::finish(body, None)
        {
            eprintln!("closing the response: {e:?}");
        }
    }
}

/// Waits `d` without blocking the instance.
async fn sleep(d: Duration) {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    ready(wasi::clocks::monotonic_clock::subscribe_duration(nanos)).await;
}

/// Waits for `pollable` through the SDK's executor, which polls every
/// pending pollable of the instance in one host call.
async fn ready(pollable: Pollable) {
    let mut pending = Some(pollable);
    std::future::poll_fn(move |cx| match pending.take() {
        Some(p) if !p.ready() => {
            spin_executor::push_waker(p, cx.waker().clone());
            std::task::Poll::Pending
        }
        _ => std::task::Poll::Ready(()),
    })
    .await;
}

/// A Spin key-value store reached through WASI key-value (`store`, `batch` and
/// `atomics.cas`), the interface Spin 3+ implements for every backend. It is
/// opened at its first use, not up front: a 401, a preflight or a read that
/// touches no log bytes then opens one store or none (each open is a host
/// call, and on some backends a connection).
pub struct SpinKv {
    label: &'static str,
    bucket: std::cell::OnceCell<std::rc::Rc<wkv::Bucket>>,
}

thread_local! {
    /// The stores opened so far by this instance, which serves one request:
    /// every [`SpinKv`] of a label shares one handle, so the gate, the
    /// embedded blobs and the metrics open `default` once, not three times
    /// (each open is a host call, and Spin's SQLite store runs each one in
    /// `block_in_place`, handing its runtime thread's work elsewhere).
    static OPENED: std::cell::RefCell<Vec<(&'static str, std::rc::Rc<wkv::Bucket>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl SpinKv {
    /// The store the component is granted under `label` in spin.toml
    /// (`default`); nothing is opened yet, so a missing grant fails the
    /// first call, not this one.
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            bucket: std::cell::OnceCell::new(),
        }
    }

    fn bucket(&self) -> KvResult<&wkv::Bucket> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let label = self.label;
        let opened =
            OPENED.with_borrow(|o| o.iter().find(|(l, _)| *l == label).map(|(_, b)| b.clone()));
        let bucket = match opened {
            Some(bucket) => bucket,
            None => {
                let bucket = std::rc::Rc::new(wkv::open(label).map_err(|e| err(label, e))?);
                OPENED.with_borrow_mut(|o| o.push((label, bucket.clone())));
                bucket
            }
        };
        Ok(self.bucket.get_or_init(|| bucket))
    }
}

fn err(what: &str, e: wkv::Error) -> KvError {
    match e {
        wkv::Error::NoSuchStore => KvError::misconfigured(format!(
            "{what}: no such store (is it in key_value_stores?)"
        )),
        wkv::Error::AccessDenied => KvError::misconfigured(format!("{what}: access denied")),
        wkv::Error::Other(m) => KvError::new(format!("{what}: {m}")),
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.bucket()?.get(key).map_err(|e| err(key, e))
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.bucket()?.set(key, value).map_err(|e| err(key, e))
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.bucket()?.delete(key).map_err(|e| err(key, e))
    }

    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(|e| err(key, e))?;
        let seen = cas.current().map_err(|e| err(key, e))?;
        Ok(Box::new(SpinCas {
            key: key.to_owned(),
            cas,
            seen,
        }))
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        atomics::increment(self.bucket()?, key, delta).map_err(|e| err(key, e))
    }

    // No `get_many` override: `batch.get-many` is not portable. Spin's Redis
    // backend sends it as `KEYS <key>...` (the keys taken as patterns), which
    // Redis refuses for more than one key; one `get` per key works on every
    // backend, and reads ask for one or two chunks at a time.

    fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        match items {
            [] => Ok(()),
            [(k, v)] => self.set(k, v),
            _ => batch::set_many(self.bucket()?, items).map_err(|e| err("set-many", e)),
        }
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(self.bucket()?, keys).map_err(|e| err("delete-many", e))
    }
}

struct SpinCas {
    key: String,
    cas: atomics::Cas,
    seen: Option<Vec<u8>>,
}

impl Cas for SpinCas {
    fn current(&self) -> Option<&[u8]> {
        self.seen.as_deref()
    }

    fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool> {
        match atomics::swap(self.cas, value) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(err(&self.key, e)),
        }
    }
}

/// Outbound HTTP for the S3 backend, through `wasi:http/outgoing-handler`
/// directly and blocking: the blob-store trait is synchronous, and a request
/// handler does one storage call at a time anyway. Spin allows only the
/// hosts in the component's `allowed_outbound_hosts` (`{{ s3_endpoint }}`).
struct SpinHttp;

impl Transport for SpinHttp {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        send_blocking(request).map_err(|(message, code)| {
            use wasi::http::types::ErrorCode as E;
            let fatal = matches!(
                code,
                Some(E::HttpRequestDenied | E::HttpRequestUriInvalid | E::HttpRequestMethodInvalid)
            );
            TransportError {
                message,
                retryable: !fatal,
            }
        })
    }

    fn sleep(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
    }
}

/// How long an S3 exchange may take to connect, to answer, and between two
/// pieces of its answer: a stalled endpoint is a retryable error (then a
/// 503), not a request that hangs. Three attempts of the S3 client stay well
/// inside the hosts' ~30 s request limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(5);

fn timeouts() -> wasi::http::types::RequestOptions {
    let options = wasi::http::types::RequestOptions::new();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // A host that does not support a timeout refuses to set it; the
    // exchange then simply has none, as before.
    let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
    let _ = options.set_first_byte_timeout(Some(nanos(FIRST_BYTE_TIMEOUT)));
    let _ = options.set_between_bytes_timeout(Some(nanos(BETWEEN_BYTES_TIMEOUT)));
    options
}

/// One exchange; on failure the message and, if the host gave one, its error code.
type SendError = (String, Option<wasi::http::types::ErrorCode>);

fn send_blocking(request: &HttpRequest) -> Result<HttpResponse, SendError> {
    use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;
    let plain = |m: String| (m, None);
    let headers = Fields::new();
    for (name, value) in &request.headers {
        headers
            .append(name, &value.as_bytes().to_vec())
            .map_err(|e| plain(format!("header {name}: {e:?}")))?;
    }
    if !request.body.is_empty() || request.method == http::Method::PUT {
        let len = request.body.len().to_string();
        // The wasi-http bindings take owned buffers by reference.
        headers
            .append(&"content-length".to_owned(), &len.into_bytes())
            .map_err(|e| plain(format!("content-length: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_owned()),
    };
    let scheme = if request.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let (authority, path) = (&request.authority, &request.path_and_query);
    let set = outgoing
        .set_method(&method)
        .and(outgoing.set_scheme(Some(&scheme)))
        .and(outgoing.set_authority(Some(authority)))
        .and(outgoing.set_path_with_query(Some(path)));
    set.map_err(|()| plain("invalid request line".to_owned()))?;
    let body = outgoing
        .body()
        .map_err(|()| plain("request body taken".to_owned()))?;
    // Sent before the body is written: the host streams the body to the
    // server as it comes, so a large body never waits on a full buffer.
    let future = wasi::http::outgoing_handler::handle(outgoing, Some(timeouts()))
        .map_err(|e| plain(format!("{e:?}")))?;
    {
        let stream = body
            .write()
            .map_err(|()| plain("request body stream".to_owned()))?;
        for piece in request.body.chunks(4096) {
            stream
                .blocking_write_and_flush(piece)
                .map_err(|e| plain(format!("sending the body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| (format!("{e:?}"), Some(e)))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(code))) => return Err((format!("{code:?}"), Some(code))),
        Some(Err(())) | None => return Err(plain("no response".to_owned())),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| plain("response body taken".to_owned()))?;
    let mut out = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| plain("response body stream".to_owned()))?;
        loop {
            match stream.blocking_read(1 << 20) {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(plain(format!("reading the response: {e:?}"))),
            }
        }
    }
    let _trailers = IncomingBody::finish(incoming);
    Ok(HttpResponse {
        status,
        headers,
        body: out,
    })
}
