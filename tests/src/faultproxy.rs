//! An HTTP proxy that misbehaves on purpose, in front of a real server (the
//! S3 one, `s3s-fs`): for each request a plan decides whether to pass it on,
//! answer with an error status of its own (S3's `500 InternalError`, `503
//! SlowDown`), stall before answering, or reset the connection. A fixture
//! for `tests/tests/faults.rs`, nothing more.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Forward it and relay the answer.
    Pass,
    /// Answer this status with an S3 error document naming `code`.
    Status(u16, &'static str),
    /// Wait this long, then forward it.
    Stall(Duration),
    /// Close the connection without an answer.
    Reset,
}

/// The plan: method and path of each request in, what to do out.
pub type Plan = Arc<dyn Fn(&str, &str) -> Act + Send + Sync>;

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`) under `plan`.
    pub fn start(upstream: &str, plan: Plan) -> Result<FaultProxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let upstream: Arc<str> = upstream.into();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (plan, upstream) = (plan.clone(), upstream.clone());
                tokio::spawn(serve(stream, plan, upstream));
            }
        });
        Ok(FaultProxy {
            addr,
            runtime: Some(runtime),
        })
    }

    /// `http://127.0.0.1:<port>`: what the app's `s3_endpoint` points at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, plan: Plan, upstream: Arc<str>) {
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let (plan, upstream) = (plan.clone(), upstream.clone());
        async move { answer(req, &plan, &upstream).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(
    req: http::Request<Incoming>,
    plan: &Plan,
    upstream: &str,
) -> Result<http::Response<Full<Bytes>>> {
    match plan(req.method().as_str(), req.uri().path()) {
        Act::Pass => {}
        Act::Status(status, code) => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the fault proxy</Message></Error>"
            );
            return Ok(http::Response::builder()
                .status(status)
                .header("content-type", "application/xml")
                .body(Full::new(Bytes::from(body)))?);
        }
        Act::Stall(pause) => tokio::time::sleep(pause).await,
        // An error ends the connection without a response.
        Act::Reset => anyhow::bail!("reset by the fault proxy"),
    }
    forward(req, upstream).await
}

async fn forward(
    req: http::Request<Incoming>,
    upstream: &str,
) -> Result<http::Response<Full<Bytes>>> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = path.parse()?;
    let stream = tokio::net::TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to {upstream}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender
        .send_request(http::Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(http::Response::from_parts(parts, Full::new(body)))
}
