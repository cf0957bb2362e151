//! The HTTP server: route, add Spin's headers, run a fresh component instance
//! per request, stream its response.
//!
//! Modelled on wasmtime's `serve` command and Spin's `WasiHttpExecutor`: the
//! guest runs in its own task so it can keep writing the body after the
//! response head is sent; the body is forwarded chunk by chunk as the guest
//! writes it. When the client goes away the guest's next write fails and it
//! may clean up, as in `wasmtime serve` and Spin releases before
//! spinframework/spin#3541 (May 2026); with `abort_on_disconnect` the guest
//! task is aborted at once instead, as newer Spin does. Errors answer 500 with
//! an empty body and unrouted paths 404 with an empty body, as Spin does.

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use wasmtime::{Store, StoreLimitsBuilder};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::App;
use crate::instance::InstanceState;
use crate::kv::KvStores;
use crate::manifest::Variables;
use crate::routes::{Router, spin_headers};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Limits a test may impose; all off by default.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    pub request_timeout: Option<Duration>,
    pub max_response_bytes: Option<u64>,
    pub max_memory_bytes: Option<usize>,
    pub abort_on_disconnect: bool,
}

pub(crate) struct Server {
    pub app: &'static App,
    pub router: Router,
    pub kv: Arc<KvStores>,
    pub vars: Arc<Variables>,
    /// Component id -> labels granted by `key_value_stores`.
    pub grants: HashMap<String, Arc<HashSet<String>>>,
    /// Component id -> hosts granted by `allowed_outbound_hosts`.
    pub outbound: HashMap<String, Arc<crate::outbound::AllowedHosts>>,
    /// Where guests' stderr goes when a test reads it.
    pub stderr: Option<wasmtime_wasi::p2::pipe::MemoryOutputPipe>,
    pub limits: Limits,
}

impl Server {
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, client_addr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("spin-logs-host: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            // Small responses go out at once, not after the client's delayed
            // ACK of the response head (Nagle's algorithm: ~40 ms a read).
            // Spin's server does not set it (crates/trigger-http), yet answers
            // such a read in 4 ms; this host did in 44 ms without it.
            if let Err(e) = stream.set_nodelay(true) {
                eprintln!("spin-logs-host: TCP_NODELAY: {e}");
            }
            let server = self.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req| server.clone().handle(req, client_addr));
                // Connection errors (client hung up, cut bodies) are expected.
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let path = req.uri().path().to_owned();
        if let Some(well_known) = path.strip_prefix("/.well-known/spin/") {
            return Ok(match well_known {
                "health" => simple(StatusCode::OK, "OK"),
                _ => simple(StatusCode::NOT_FOUND, ""),
            });
        }
        let Some(route) = self.router.route(&path) else {
            return Ok(simple(StatusCode::NOT_FOUND, ""));
        };
        let component = route.component.clone();
        let headers = {
            let host = match req.headers().get(HOST).map(|h| h.to_str()) {
                Some(Ok(h)) => h,
                Some(Err(_)) => return Ok(simple(StatusCode::INTERNAL_SERVER_ERROR, "")),
                None => "localhost",
            };
            let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
            spin_headers(&route, host, path_and_query, client_addr)
        };
        match self.execute(req, &component, headers).await {
            Ok(response) => Ok(response),
            Err(e) => {
                eprintln!("spin-logs-host: {component}: error processing request: {e:#}");
                Ok(simple(StatusCode::INTERNAL_SERVER_ERROR, ""))
            }
        }
    }

    async fn execute(
        &self,
        req: Request<Incoming>,
        component: &str,
        spin_headers: Vec<(String, String)>,
    ) -> anyhow::Result<Response<ResponseBody>> {
        let pre = self
            .app
            .components
            .get(component)
            .ok_or_else(|| anyhow::anyhow!("unknown component"))?
            .clone();
        let (mut parts, body) = req.into_parts();

        // As Spin: the URI gets scheme and authority (from `Host`), header
        // values must be UTF-8, and the spin-* headers are appended.
        let authority = match (parts.headers.get(HOST), parts.uri.authority()) {
            (Some(h), _) => h.to_str()?.to_owned(),
            (None, Some(a)) => a.to_string(),
            (None, None) => anyhow::bail!("no 'Host' header present in request"),
        };
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path_and_query)
            .build()?;
        for value in parts.headers.values() {
            // Spin's `prepare_request_headers` requires UTF-8, not ASCII.
            std::str::from_utf8(value.as_bytes())?;
        }
        for (name, value) in spin_headers {
            parts
                .headers
                .append(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
        }
        let req = Request::from_parts(parts, body);

        let mut limits = StoreLimitsBuilder::new();
        if let Some(max) = self.limits.max_memory_bytes {
            limits = limits.memory_size(max);
        }
        let state = InstanceState::new(
            component.into(),
            self.grants.get(component).cloned().unwrap_or_default(),
            self.kv.clone(),
            self.vars.clone(),
            self.outbound.get(component).cloned().unwrap_or_default(),
            self.stderr.clone(),
            limits.build(),
        );
        let mut store = Store::new(&self.app.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_async_yield_and_update(1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;

        let deadline = self
            .limits
            .request_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let task = tokio::spawn(async move {
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            };
            let result = match deadline {
                None => run.await,
                Some(at) => match tokio::time::timeout_at(at, run).await {
                    Ok(result) => result,
                    Err(_) => Err(wasmtime::Error::new(TimedOut)),
                },
            };
            // Dropping the store here ends the instance (and, for a response
            // still streaming, its body).
            drop(store);
            result
        });
        let abort = task.abort_handle();

        match receiver.await {
            Ok(Ok(response)) => {
                let component = component.to_owned();
                tokio::spawn(async move {
                    match task.await {
                        Ok(Err(e)) if e.is::<TimedOut>() => {
                            eprintln!("spin-logs-host: {component}: {TimedOut}; response cut")
                        }
                        Ok(Err(e)) => eprintln!(
                            "spin-logs-host: {component}: error after response started: {e:?}"
                        ),
                        Err(e) if !e.is_cancelled() => {
                            eprintln!("spin-logs-host: {component}: guest task panicked: {e}")
                        }
                        _ => {}
                    }
                });
                Ok(response.map(|inner| {
                    HostBody {
                        inner,
                        abort,
                        abort_on_drop: self.limits.abort_on_disconnect,
                        remaining: self.limits.max_response_bytes,
                        cut: None,
                    }
                    .boxed_unsync()
                }))
            }
            Ok(Err(code)) => anyhow::bail!("guest responded with error {code:?}"),
            Err(_) => {
                let error = match task.await {
                    Ok(Ok(())) => anyhow::anyhow!("guest never set a response"),
                    Ok(Err(e)) if e.is::<TimedOut>() => anyhow::anyhow!("{TimedOut}"),
                    Ok(Err(e)) => anyhow::anyhow!("guest failed before responding: {e:?}"),
                    Err(e) => anyhow::anyhow!("guest task failed: {e}"),
                };
                Err(error)
            }
        }
    }
}

/// The request's time budget (`HostOptions::request_timeout`) ran out.
#[derive(Debug)]
struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request's time budget ran out")
    }
}

impl std::error::Error for TimedOut {}

fn simple(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// The guest's response body on its way to the client. Enforces
/// `max_response_bytes`: the bytes up to the limit are sent, the guest is
/// aborted, then (after a moment, so hyper flushes them) the body fails, so
/// hyper aborts the response and the client sees it incomplete.
struct HostBody {
    inner: HyperOutgoingBody,
    abort: AbortHandle,
    /// Abort the guest when hyper drops the body (client gone).
    abort_on_drop: bool,
    remaining: Option<u64>,
    /// Set once the limit is hit: fail when this fires.
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for HostBody {
    fn drop(&mut self) {
        if self.abort_on_drop {
            self.abort.abort();
        }
    }
}

impl Body for HostBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(cut) = self.cut.as_mut() {
            return match cut.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err("response exceeded max_response_bytes".into())))
                }
                Poll::Pending => Poll::Pending,
            };
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let Some(remaining) = self.remaining else {
            return Poll::Ready(Some(Ok(frame)));
        };
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
        };
        let len = data.len() as u64;
        self.remaining = Some(remaining.saturating_sub(len));
        if len > remaining {
            data.truncate(remaining as usize);
            self.abort.abort();
            self.cut = Some(Box::pin(tokio::time::sleep(CUT_FLUSH_DELAY)));
            if data.is_empty() {
                return self.poll_frame(cx);
            }
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            None => self.inner.size_hint(),
            Some(_) => SizeHint::default(),
        }
    }
}

/// How long a cut body waits before failing, so the bytes before the cut
/// (and the response head) reach the client first.
const CUT_FLUSH_DELAY: Duration = Duration::from_millis(50);
