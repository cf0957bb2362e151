//! The S3-compatible blob backend: one blob is one object, `get_range` a
//! ranged GET.
//!
//! For logs that outgrow a key-value store. Requests are signed without I/O
//! ([`super::sigv4`]: pre-signed URLs, which every S3-compatible server
//! accepts) and sent through a [`Transport`], so the whole client runs
//! natively against a scripted transport in unit tests and, in a component,
//! over Spin's outbound HTTP (`crate::spin`). Transient failures (5xx, 429,
//! a connection that fails) are retried with exponential backoff a bounded
//! number of times; anything else is reported as it is, with S3's error code.

use super::blob::BlobStore;
use super::kv::{KvError, KvResult};
use super::sigv4;
use std::time::Duration;

/// How long a signed URL stays valid (seconds): one request, sent at once.
const SIGNATURE_TTL: u64 = 300;
/// Objects above this size go up as a multipart upload of parts this big
/// (S3 wants parts of at least 5 MiB, except the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Attempts per request, the first included.
const ATTEMPTS: u32 = 4;
/// First backoff; each retry waits four times longer (0.1 s, 0.4 s, 1.6 s).
const BACKOFF: Duration = Duration::from_millis(100);

/// Where the bucket is and how to sign for it (Spin variables `s3_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host[:port]`: also the component's `allowed_outbound_hosts` entry.
    pub endpoint: String,
    /// The region the signature names (`us-east-1` for most self-hosted servers).
    pub region: String,
    /// The bucket every object goes to.
    pub bucket: String,
    /// The access key id the signature names.
    pub access_key_id: String,
    /// The secret the signature is made with; never logged or shown.
    pub secret_access_key: String,
    /// Path-style URLs (`endpoint/bucket/key`), as MinIO and most
    /// self-hosted servers want; otherwise virtual-host style.
    pub path_style: bool,
    /// Prepended to every object key, so several apps can share a bucket.
    pub prefix: String,
}

/// `s3_endpoint`: `http(s)://host[:port]`, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether the scheme is `https`.
    pub https: bool,
    /// Lower-cased host name or address, as the `Host` header sends it.
    pub host: String,
    /// `None` for the scheme's own port (which the `Host` header omits).
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parsed by hand: `url::Url` would link the IDNA tables (about 290 KiB
    /// of every component) to split one host from one port.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let s = s.trim().trim_end_matches('/');
        let (https, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("expected http(s)://host[:port]".into());
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err("expected http(s)://host[:port], with no path or user".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port: u16 = port.parse().map_err(|_| format!("port {port:?}"))?;
                (host, Some(port))
            }
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let default = if https { 443 } else { 80 };
        Ok(Endpoint {
            https,
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default),
        })
    }

    /// `host[:port]`: the `Host` header, and what the signature covers.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// One HTTP exchange, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET, PUT, POST (multipart uploads) or DELETE.
    pub method: http::Method,
    /// `https`, or plain `http`.
    pub https: bool,
    /// `host[:port]`.
    pub authority: String,
    /// URI-encoded, signature included.
    pub path_and_query: String,
    /// Headers beyond `Host` (which `authority` gives).
    pub headers: Vec<(String, String)>,
    /// The body; empty for GET and DELETE.
    pub body: Vec<u8>,
}

/// What came back, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its headers, names as sent (compared ignoring case).
    pub headers: Vec<(String, String)>,
    /// Its body: an object's bytes, or S3's XML error.
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// S3's `<Code>` from an error body, or the status.
    fn error(&self, what: &str) -> KvError {
        let text = String::from_utf8_lossy(&self.body);
        let code = text
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map(|(code, _)| code.to_owned())
            .unwrap_or_default();
        KvError::new(format!("object store: {what}: HTTP {} {code}", self.status))
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, for the error message.
    pub message: String,
    /// A failed connection may succeed next time; a request the host refuses
    /// (not in `allowed_outbound_hosts`) never will.
    pub retryable: bool,
}

impl TransportError {
    /// A failure a retry may cure (a connection that failed).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry cures (the host refused to send it).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Sends requests; the Spin glue implements it with `wasi:http`.
pub trait Transport {
    /// The response, whatever its status; `Err` only when none came back.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
    /// Waits before a retry.
    fn sleep(&self, duration: Duration);
}

/// The blob store over an S3-compatible bucket: one blob is one object
/// under the settings' `prefix`.
pub struct S3BlobStore {
    https: bool,
    /// `host[:port]`, or `bucket.host[:port]` in virtual-host style.
    authority: String,
    /// `/bucket/` in path style, `/` in virtual-host style.
    base_path: String,
    access_key_id: String,
    secret_access_key: String,
    region: String,
    prefix: String,
    transport: Box<dyn Transport>,
    part_size: usize,
}

impl S3BlobStore {
    /// A client of the bucket `settings` name, sending through `transport`; an
    /// endpoint that is no URL is a misconfiguration.
    pub fn new(settings: &S3Settings, transport: Box<dyn Transport>) -> Result<Self, KvError> {
        let endpoint = Endpoint::parse(&settings.endpoint).map_err(|why| {
            KvError::misconfigured(format!("s3_endpoint {:?}: {why}", settings.endpoint))
        })?;
        let bucket = sigv4::encode(&settings.bucket);
        let (authority, base_path) = if settings.path_style {
            (endpoint.authority(), format!("/{bucket}/"))
        } else {
            (format!("{bucket}.{}", endpoint.authority()), "/".to_owned())
        };
        Ok(Self {
            https: endpoint.https,
            authority,
            base_path,
            access_key_id: settings.access_key_id.clone(),
            secret_access_key: settings.secret_access_key.clone(),
            region: settings.region.clone(),
            prefix: settings.prefix.clone(),
            transport,
            part_size: PART_SIZE,
        })
    }

    /// Small parts let tests exercise multipart uploads with little data.
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(1);
        self
    }

    fn object(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A signed request for `object` (`None`: the bucket) with `query`.
    fn signed(
        &self,
        method: http::Method,
        object: Option<&str>,
        query: &[(&str, &str)],
    ) -> KvResult<HttpRequest> {
        let mut path = self.base_path.clone();
        if let Some(object) = object {
            let segments: Vec<String> = object.split('/').map(sigv4::encode).collect();
            path.push_str(&segments.join("/"));
        }
        let creds = sigv4::Credentials {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            region: &self.region,
        };
        let now = (crate::util::clock::now_micros() / 1_000_000) as i64;
        let signed = sigv4::presign(
            method.as_str(),
            &self.authority,
            &path,
            query,
            &creds,
            now,
            SIGNATURE_TTL,
        );
        Ok(HttpRequest {
            method,
            https: self.https,
            authority: self.authority.clone(),
            path_and_query: signed
                .map_err(|e| KvError::new(format!("object store: signing: {e}")))?,
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    /// Sends `request`, retrying what a retry may cure.
    fn send(&self, request: HttpRequest) -> KvResult<HttpResponse> {
        let mut wait = BACKOFF;
        let mut attempt = 1;
        loop {
            let outcome = self.transport.send(&request);
            let transient = match &outcome {
                Err(e) => e.retryable,
                Ok(r) => r.status >= 500 || r.status == 429,
            };
            if !transient || attempt == ATTEMPTS {
                return outcome.map_err(|e| {
                    let message = format!(
                        "object store: {} {}: {}",
                        request.method,
                        self.path(&request),
                        e.message
                    );
                    // A refusal no retry cures is the host's: the endpoint
                    // is not an allowed outbound host, or no URL.
                    if e.retryable {
                        KvError::new(message)
                    } else {
                        KvError::misconfigured(message)
                    }
                });
            }
            self.transport.sleep(wait);
            wait *= 4;
            attempt += 1;
        }
    }

    /// The request's path without the signature, for error messages.
    fn path(&self, request: &HttpRequest) -> String {
        let pq = &request.path_and_query;
        pq.split_once('?')
            .map_or(pq.as_str(), |(p, _)| p)
            .to_owned()
    }

    fn put_object(&self, key: &str, data: &[u8]) -> KvResult<()> {
        let object = self.object(key);
        let mut request = self.signed(http::Method::PUT, Some(&object), &[])?;
        request.body = data.to_vec();
        let response = self.send(request)?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(response.error(&format!("PUT {object}"))),
        }
    }

    /// A multipart upload; aborted (best effort) if any part fails, so no
    /// half-object is ever visible and the server frees the parts.
    fn put_multipart(&self, key: &str, data: &[u8]) -> KvResult<()> {
        let object = self.object(key);
        let create = self.signed(http::Method::POST, Some(&object), &[("uploads", "")])?;
        let created = self.send(create)?;
        if !(200..=299).contains(&created.status) {
            return Err(created.error(&format!("create multipart upload {object}")));
        }
        let text = String::from_utf8_lossy(&created.body);
        let upload_id = xml_text(&text, "UploadId").ok_or_else(|| {
            KvError::new(format!(
                "object store: create multipart upload {object}: no UploadId"
            ))
        })?;
        let result = self.upload_parts(&object, &upload_id, data);
        if result.is_err() {
            let abort = self.signed(
                http::Method::DELETE,
                Some(&object),
                &[("uploadId", &upload_id)],
            )?;
            if let Err(e) = self.send(abort) {
                eprintln!("aborting multipart upload of {object}: {e}");
            }
        }
        result
    }

    fn upload_parts(&self, object: &str, upload_id: &str, data: &[u8]) -> KvResult<()> {
        let mut etags = Vec::new();
        for (i, part) in data.chunks(self.part_size).enumerate() {
            let number = u16::try_from(i + 1)
                .ok()
                .filter(|n| *n <= 10_000)
                .ok_or_else(|| {
                    KvError::new(format!("object store: {object} needs over 10,000 parts"))
                })?;
            let n = number.to_string();
            let query = [("partNumber", n.as_str()), ("uploadId", upload_id)];
            let mut request = self.signed(http::Method::PUT, Some(object), &query)?;
            request.body = part.to_vec();
            let response = self.send(request)?;
            if !(200..=299).contains(&response.status) {
                return Err(response.error(&format!("upload part {number} of {object}")));
            }
            let etag = response.header("etag").ok_or_else(|| {
                KvError::new(format!("object store: part {number} of {object}: no ETag"))
            })?;
            etags.push(etag.to_owned());
        }
        let mut body = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                xml_escape(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let mut request =
            self.signed(http::Method::POST, Some(object), &[("uploadId", upload_id)])?;
        request.body = body.into_bytes();
        let response = self.send(request)?;
        // S3 may answer 200 with an error document when completion fails late.
        if !(200..=299).contains(&response.status) || contains(&response.body, b"<Error>") {
            return Err(response.error(&format!("complete multipart upload {object}")));
        }
        Ok(())
    }

    fn get_object(&self, key: &str, range: Option<(u64, u64)>) -> KvResult<Option<Vec<u8>>> {
        let object = self.object(key);
        let mut request = self.signed(http::Method::GET, Some(&object), &[])?;
        if let Some((start, end)) = range {
            request
                .headers
                .push(("range".to_owned(), format!("bytes={start}-{}", end - 1)));
        }
        let response = self.send(request)?;
        match response.status {
            200 | 206 => Ok(Some(response.body)),
            // The range starts at or past the end of a present object.
            416 => Ok(Some(Vec::new())),
            404 => Ok(None),
            _ => Err(response.error(&format!("GET {object}"))),
        }
    }

    /// Keys (without the prefix) and sizes of the objects under `prefix`,
    /// page by page: for storage statistics, never on a request's hot path.
    pub fn list(&self, prefix: &str) -> KvResult<Vec<(String, u64)>> {
        let full = self.object(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", full.as_str())];
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let response = self.send(self.signed(http::Method::GET, None, &query)?)?;
            if response.status != 200 {
                return Err(response.error("list objects"));
            }
            let text = String::from_utf8_lossy(&response.body);
            for contents in xml_all(&text, "Contents") {
                let (Some(key), Some(size)) =
                    (xml_text(contents, "Key"), xml_text(contents, "Size"))
                else {
                    return Err(KvError::new(
                        "object store: list objects: a malformed entry",
                    ));
                };
                let size = size.parse().map_err(|_| {
                    KvError::new(format!("object store: list objects: size {size:?}"))
                })?;
                let key = key.strip_prefix(&self.prefix).unwrap_or(&key).to_owned();
                out.push((key, size));
            }
            match xml_text(&text, "NextContinuationToken") {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

/// The text of the first `<name>` element in `xml`, entities decoded. S3's
/// answers are flat documents of a few known elements; a parser would be
/// most of this module's size in wasm.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    xml_all(xml, name).next().map(xml_unescape)
}

/// The contents of every `<name>...</name>` element, in order.
fn xml_all<'a>(xml: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let inner = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(inner)
    })
}

fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

impl BlobStore for S3BlobStore {
    fn put(&self, key: &str, data: &[u8]) -> KvResult<()> {
        if data.len() > self.part_size {
            self.put_multipart(key, data)
        } else {
            self.put_object(key, data)
        }
    }

    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.get_object(key, None)
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> KvResult<Option<Vec<u8>>> {
        if start >= end {
            // No bytes wanted: S3 has no empty range; ask whether it exists.
            return Ok(self.get_object(key, Some((0, 1)))?.map(|_| Vec::new()));
        }
        self.get_object(key, Some((start, end)))
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        let object = self.object(key);
        let response = self.send(self.signed(http::Method::DELETE, Some(&object), &[])?)?;
        match response.status {
            200..=299 | 404 => Ok(()),
            _ => Err(response.error(&format!("DELETE {object}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, VecDeque};
    use std::rc::Rc;

    /// A tiny S3 in memory, with scripted failures in front of it.
    #[derive(Default)]
    struct Fake {
        objects: RefCell<BTreeMap<String, Vec<u8>>>,
        uploads: RefCell<BTreeMap<String, BTreeMap<u16, Vec<u8>>>>,
        /// Statuses answered (without acting) before the next real answer;
        /// 0 is a failed connection, 1 a request the host refuses.
        failures: RefCell<VecDeque<u16>>,
        log: RefCell<Vec<String>>,
        slept: RefCell<Vec<Duration>>,
        /// A part number refused with 403.
        fail_part: std::cell::Cell<Option<u16>>,
    }

    struct Shared(Rc<Fake>);

    struct Target {
        path: String,
        query: String,
    }

    fn query(url: &Target, name: &str) -> Option<String> {
        form_urlencoded::parse(url.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    impl Transport for Shared {
        fn send(&self, r: &HttpRequest) -> Result<HttpResponse, TransportError> {
            let fake = &self.0;
            assert_eq!((r.https, r.authority.as_str()), (false, "127.0.0.1:9000"));
            let (path, q) = r
                .path_and_query
                .split_once('?')
                .unwrap_or((&r.path_and_query, ""));
            let url = Target {
                path: path.to_owned(),
                query: q.to_owned(),
            };
            assert!(query(&url, "X-Amz-Signature").is_some(), "unsigned request");
            let key = url.path.trim_start_matches("/bucket/").to_owned();
            fake.log.borrow_mut().push(format!("{} {key}", r.method));
            if let Some(status) = fake.failures.borrow_mut().pop_front() {
                return if status == 0 {
                    Err(TransportError::retryable("connection refused"))
                } else if status == 1 {
                    Err(TransportError::fatal("HttpRequestDenied"))
                } else {
                    Ok(HttpResponse {
                        status,
                        body: b"<Error><Code>SlowDown</Code></Error>".to_vec(),
                        ..Default::default()
                    })
                };
            }
            let ok = |status, body: Vec<u8>, headers| {
                Ok(HttpResponse {
                    status,
                    headers,
                    body,
                })
            };
            let mut objects = fake.objects.borrow_mut();
            let mut uploads = fake.uploads.borrow_mut();
            match (r.method.as_str(), query(&url, "uploadId")) {
                ("POST", None) if url.query.contains("uploads") => {
                    let id = format!("up{}", uploads.len());
                    uploads.insert(id.clone(), BTreeMap::new());
                    let body = format!(
                        "<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>{key}</Key>\
                         <UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
                    );
                    ok(200, body.into_bytes(), vec![])
                }
                ("PUT", Some(id)) => {
                    let n: u16 = query(&url, "partNumber").unwrap().parse().unwrap();
                    if fake.fail_part.get() == Some(n) {
                        return ok(
                            403,
                            b"<Error><Code>AccessDenied</Code></Error>".to_vec(),
                            vec![],
                        );
                    }
                    uploads.get_mut(&id).unwrap().insert(n, r.body.clone());
                    ok(200, vec![], vec![("ETag".into(), format!("\"e{n}\""))])
                }
                ("POST", Some(id)) => {
                    let parts = uploads.remove(&id).unwrap();
                    objects.insert(key, parts.into_values().flatten().collect());
                    ok(200, b"<CompleteMultipartUploadResult/>".to_vec(), vec![])
                }
                ("DELETE", Some(id)) => {
                    uploads.remove(&id);
                    ok(204, vec![], vec![])
                }
                ("PUT", None) => {
                    objects.insert(key, r.body.clone());
                    ok(200, vec![], vec![])
                }
                ("DELETE", None) => {
                    objects.remove(&key);
                    ok(204, vec![], vec![])
                }
                ("GET", None) => {
                    let Some(data) = objects.get(&key) else {
                        return ok(
                            404,
                            b"<Error><Code>NoSuchKey</Code></Error>".to_vec(),
                            vec![],
                        );
                    };
                    let range = r.headers.iter().find(|(n, _)| n == "range");
                    match range {
                        None => ok(200, data.clone(), vec![]),
                        Some((_, v)) => {
                            let (a, b) = v.trim_start_matches("bytes=").split_once('-').unwrap();
                            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                            if a >= data.len() {
                                return ok(416, vec![], vec![]);
                            }
                            ok(206, data[a..=b.min(data.len() - 1)].to_vec(), vec![])
                        }
                    }
                }
                other => panic!("unexpected request {other:?}"),
            }
        }

        fn sleep(&self, duration: Duration) {
            self.0.slept.borrow_mut().push(duration);
        }
    }

    fn store(part_size: usize) -> (S3BlobStore, Rc<Fake>) {
        let fake = Rc::new(Fake::default());
        let settings = S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            bucket: "bucket".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            path_style: true,
            prefix: "app/".into(),
        };
        let store = S3BlobStore::new(&settings, Box::new(Shared(fake.clone())))
            .unwrap()
            .with_part_size(part_size);
        (store, fake)
    }

    #[test]
    fn objects_round_trip_with_ranges() {
        let (s, fake) = store(1024);
        s.put("seg/1", b"0123456789").unwrap();
        assert_eq!(s.get("seg/1").unwrap().unwrap(), b"0123456789");
        assert_eq!(s.get_range("seg/1", 3, 7).unwrap().unwrap(), b"3456");
        assert_eq!(s.get_range("seg/1", 8, 99).unwrap().unwrap(), b"89");
        assert_eq!(s.get_range("seg/1", 10, 20).unwrap().unwrap(), b"");
        assert_eq!(s.get_range("seg/1", 5, 5).unwrap().unwrap(), b"");
        assert_eq!(s.get("nope").unwrap(), None);
        assert_eq!(s.get_range("nope", 5, 5).unwrap(), None);
        assert!(fake.objects.borrow().contains_key("app/seg/1"), "prefixed");
        s.delete("seg/1").unwrap();
        s.delete("seg/1").unwrap();
        assert_eq!(s.get("seg/1").unwrap(), None);
    }

    #[test]
    fn large_objects_go_up_in_parts() {
        let (s, fake) = store(4);
        s.put("big", b"abcdefghij").unwrap();
        assert_eq!(s.get("big").unwrap().unwrap(), b"abcdefghij");
        let log = fake.log.borrow();
        let parts = log.iter().filter(|l| l.starts_with("PUT")).count();
        assert_eq!(parts, 3, "{log:?}");
        assert!(fake.uploads.borrow().is_empty(), "completed");
    }

    #[test]
    fn transient_failures_are_retried_with_backoff() {
        let (s, fake) = store(1024);
        fake.failures.borrow_mut().extend([503, 0, 500]);
        s.put("k", b"v").unwrap();
        assert_eq!(s.get("k").unwrap().unwrap(), b"v");
        assert_eq!(
            *fake.slept.borrow(),
            [100, 400, 1600].map(Duration::from_millis)
        );
    }

    #[test]
    fn persistent_failures_are_reported_with_the_s3_code() {
        let (s, fake) = store(1024);
        fake.failures.borrow_mut().extend([503; 4]);
        let err = s.put("k", b"v").unwrap_err();
        assert!(err.0.contains("503 SlowDown"), "{err}");
        assert_eq!(fake.objects.borrow().len(), 0);
        // A client error is not retried, nor is a request the host refuses.
        fake.failures.borrow_mut().push_back(403);
        let err = s.get("k").unwrap_err();
        assert!(err.0.contains("HTTP 403"), "{err}");
        fake.failures.borrow_mut().push_back(1);
        let err = s.get("k").unwrap_err();
        assert!(err.0.contains("HttpRequestDenied"), "{err}");
        assert_eq!(fake.slept.borrow().len(), 3, "only the 503s waited");
    }

    #[test]
    fn a_failed_part_aborts_the_upload() {
        let (s, fake) = store(4);
        fake.fail_part.set(Some(2));
        let err = s.put("big", b"abcdefghij").unwrap_err();
        assert!(err.0.contains("HTTP 403"), "{err}");
        assert!(fake.uploads.borrow().is_empty(), "aborted");
        assert!(!fake.objects.borrow().contains_key("app/big"));
        assert_eq!(fake.log.borrow().last().unwrap(), "DELETE app/big");
    }

    #[test]
    fn endpoints_are_scheme_host_and_port_only() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!((e.https, e.authority().as_str()), (false, "127.0.0.1:9000"));
        let e = Endpoint::parse("https://S3.eu-west-1.amazonaws.com:443").unwrap();
        assert_eq!(
            (e.https, e.authority().as_str()),
            (true, "s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:9000").unwrap().authority(),
            "[::1]:9000"
        );
        assert_eq!(
            Endpoint::parse("http://[::1]").unwrap().authority(),
            "[::1]"
        );
        for bad in [
            "127.0.0.1:9000",
            "ftp://h",
            "http://",
            "http://h/b",
            "http://u@h",
            "http://h:x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
