//! The Spin side of every component: WASI HTTP in and out, Spin key-value
//! stores, Spin variables. It only runs inside a component (natively the SDK's
//! imports are stubs); everything above it is plain Rust that native tests
//! drive with in-memory stores.

use crate::api::Handler;
use crate::config::Config;
use crate::env::Env;
use crate::store::Store;
use crate::store::kv::{Cas, Kv, KvError, KvResult};
use crate::web::message::{Body, Chunk, Request, Response, respond};
use crate::web::problem::Problem;
use crate::web::route::Route;
use futures::{SinkExt, StreamExt};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wkv};
use std::time::Duration;

/// Runs `handler` for one request: opens the stores, parses the route once,
/// passes the auth gate (`crate::auth`) with it, reads the body within the
/// configured limit, hands the same route to the handler, and streams the
/// response back.
pub async fn serve(req: IncomingRequest, out: ResponseOutparam, handler: Handler) {
    let response = match prepare(req).await {
        Ok((request, route, env, gate)) => gate.run(|| {
            respond(route.and_then(|route| crate::api::answer(handler, route, &request, &env)))
        }),
        Err(problem) => Response::from(problem),
    };
    send(crate::web::message::allow_any_origin(response), out).await;
}

type Prepared = (Request, Result<Route, Problem>, Env, crate::auth::Gate);

async fn prepare(req: IncomingRequest) -> Result<Prepared, Problem> {
    let config = Config::from_lookup(|name| spin_sdk::variables::get(name).ok())?;
    let store = std::rc::Rc::new(Store::new(
        Box::new(SpinKv::open("default")?),
        Box::new(SpinKv::open("blobs")?),
    ));

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
    crate::web::guard::check(&request, &config)?;
    let route = Route::parse(&request.path);

    let limit = config.max_body_bytes;
    if let Some(len) = request
        .header(http::header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(Problem::too_large(limit));
    }
    // Authenticated, authorized and counted before a byte of the body is read.
    let gate = crate::auth::admit(&mut request, route.as_ref().ok(), &config, &store)?;
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request(format!("reading the body: {e:?}")))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Problem::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    request.body = body;
    Ok((request, route, Env { store, config }, gate))
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
    let mut sink = outgoing.take_body();
    out.set(outgoing);
    match response.body {
        Body::Empty => {}
        Body::Bytes(bytes) => {
            if let Err(e) = sink.send(bytes).await {
                eprintln!("client went away: {e:?}");
            }
        }
        Body::Stream(chunks) => {
            for chunk in chunks {
                match chunk {
                    Ok(Chunk::Data(bytes)) if bytes.is_empty() => {}
                    Ok(Chunk::Data(bytes)) => {
                        if let Err(e) = sink.send(bytes).await {
                            eprintln!("client went away: {e:?}");
                            return;
                        }
                    }
                    Ok(Chunk::Wait(d)) => {
                        sleep(d).await;
                        // A flush fails once the client has gone: stop now
                        // (dropping the stream gives its follower slot back)
                        // rather than at the next write.
                        if let Err(e) = sink.flush().await {
                            eprintln!("client went away: {e:?}");
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
    }
    if let Err(e) = sink.close().await {
        eprintln!("closing the response: {e:?}");
    }
}

/// Waits `d` without blocking the instance: a `wasi:clocks` pollable handed
/// to the SDK's executor, so other futures (the response body) keep moving.
async fn sleep(d: Duration) {
    use wasi::clocks::monotonic_clock;
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let pollable = monotonic_clock::subscribe_duration(nanos);
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
/// `atomics.cas`), the interface Spin 3+ implements for every backend.
pub struct SpinKv {
    bucket: wkv::Bucket,
}

impl SpinKv {
    pub fn open(label: &str) -> KvResult<Self> {
        Ok(Self {
            bucket: wkv::open(label).map_err(|e| err(label, e))?,
        })
    }
}

fn err(what: &str, e: wkv::Error) -> KvError {
    KvError(match e {
        wkv::Error::NoSuchStore => format!("{what}: no such store (is it in key_value_stores?)"),
        wkv::Error::AccessDenied => format!("{what}: access denied"),
        wkv::Error::Other(m) => format!("{what}: {m}"),
    })
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.bucket.get(key).map_err(|e| err(key, e))
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.bucket.set(key, value).map_err(|e| err(key, e))
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.bucket.delete(key).map_err(|e| err(key, e))
    }

    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(|e| err(key, e))?;
        let seen = cas.current().map_err(|e| err(key, e))?;
        Ok(Box::new(SpinCas {
            key: key.to_owned(),
            cas,
            seen,
        }))
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| err(key, e))
    }

    // No `get_many` override: `batch.get-many` is not portable. Spin's Redis
    // backend sends it as `KEYS <key>...` (the keys taken as patterns), which
    // Redis refuses for more than one key; one `get` per key works on every
    // backend, and reads ask for one or two chunks at a time.

    fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        match items {
            [] => Ok(()),
            [(k, v)] => self.set(k, v),
            _ => batch::set_many(&self.bucket, items).map_err(|e| err("set-many", e)),
        }
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(&self.bucket, keys).map_err(|e| err("delete-many", e))
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
