//! The S3-compatible blob backend: one blob is one object, `get_range` a
//! ranged GET.
//!
//! For logs that outgrow a key-value store. Requests are signed without I/O
//! by `rusty-s3` (SigV4 pre-signed URLs, which every S3-compatible server
//! accepts) and sent through a [`Transport`], so the whole client runs
//! natively against a scripted transport in unit tests and, in a component,
//! over Spin's outbound HTTP (`crate::spin`). Transient failures (5xx, 429,
//! a connection that fails) are retried with exponential backoff a bounded
//! number of times; anything else is reported as it is, with S3's error code.

use super::blob::BlobStore;
use super::kv::{KvError, KvResult};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::time::Duration;

/// How long a signed URL stays valid: one request, sent at once.
const SIGNATURE_TTL: Duration = Duration::from_secs(300);
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
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style URLs (`endpoint/bucket/key`), as MinIO and most
    /// self-hosted servers want; otherwise virtual-host style.
    pub path_style: bool,
    /// Prepended to every object key, so several apps can share a bucket.
    pub prefix: String,
}

/// One HTTP exchange, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
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
        KvError(format!("object store: {what}: HTTP {} {code}", self.status))
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub message: String,
    /// A failed connection may succeed next time; a request the host refuses
    /// (not in `allowed_outbound_hosts`) never will.
    pub retryable: bool,
}

impl TransportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

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

pub struct S3BlobStore {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    transport: Box<dyn Transport>,
    part_size: usize,
}

impl S3BlobStore {
    pub fn new(settings: &S3Settings, transport: Box<dyn Transport>) -> Result<Self, KvError> {
        let endpoint = url::Url::parse(&settings.endpoint)
            .map_err(|e| KvError(format!("s3_endpoint {:?}: {e}", settings.endpoint)))?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| KvError(format!("s3 bucket {:?}: {e}", settings.bucket)))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(
                settings.access_key_id.clone(),
                settings.secret_access_key.clone(),
            ),
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
                    KvError(format!(
                        "object store: {} {}: {}",
                        request.method,
                        self.path(&request),
                        e.message
                    ))
                });
            }
            self.transport.sleep(wait);
            wait *= 4;
            attempt += 1;
        }
    }

    /// The request's path without the signature, for error messages.
    fn path(&self, request: &HttpRequest) -> String {
        url::Url::parse(&request.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    fn put_object(&self, key: &str, data: &[u8]) -> KvResult<()> {
        let object = self.object(key);
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &object)
            .sign(SIGNATURE_TTL);
        let response = self.send(request(http::Method::PUT, url, vec![], data.to_vec()))?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(response.error(&format!("PUT {object}"))),
        }
    }

    /// A multipart upload; aborted (best effort) if any part fails, so no
    /// half-object is ever visible and the server frees the parts.
    fn put_multipart(&self, key: &str, data: &[u8]) -> KvResult<()> {
        let object = self.object(key);
        let creds = Some(&self.credentials);
        let url = self
            .bucket
            .create_multipart_upload(creds, &object)
            .sign(SIGNATURE_TTL);
        let created = self.send(request(http::Method::POST, url, vec![], vec![]))?;
        if !(200..=299).contains(&created.status) {
            return Err(created.error(&format!("create multipart upload {object}")));
        }
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&created.body)
            .map_err(|e| KvError(format!("object store: create multipart upload: {e}")))?;
        let upload_id = parsed.upload_id().to_owned();
        let result = self.upload_parts(&object, &upload_id, data);
        if result.is_err() {
            let url = self
                .bucket
                .abort_multipart_upload(creds, &object, &upload_id)
                .sign(SIGNATURE_TTL);
            if let Err(e) = self.send(request(http::Method::DELETE, url, vec![], vec![])) {
                eprintln!("aborting multipart upload of {object}: {e}");
            }
        }
        result
    }

    fn upload_parts(&self, object: &str, upload_id: &str, data: &[u8]) -> KvResult<()> {
        let creds = Some(&self.credentials);
        let mut etags = Vec::new();
        for (i, part) in data.chunks(self.part_size).enumerate() {
            let number = u16::try_from(i + 1)
                .ok()
                .filter(|n| *n <= 10_000)
                .ok_or_else(|| {
                    KvError(format!("object store: {object} needs over 10,000 parts"))
                })?;
            let url = self
                .bucket
                .upload_part(creds, object, number, upload_id)
                .sign(SIGNATURE_TTL);
            let response = self.send(request(http::Method::PUT, url, vec![], part.to_vec()))?;
            if !(200..=299).contains(&response.status) {
                return Err(response.error(&format!("upload part {number} of {object}")));
            }
            let etag = response.header("etag").ok_or_else(|| {
                KvError(format!("object store: part {number} of {object}: no ETag"))
            })?;
            etags.push(etag.to_owned());
        }
        let complete = self.bucket.complete_multipart_upload(
            creds,
            object,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNATURE_TTL);
        let body = complete.body().into_bytes();
        let response = self.send(request(http::Method::POST, url, vec![], body))?;
        // S3 may answer 200 with an error document when completion fails late.
        if !(200..=299).contains(&response.status) || contains(&response.body, b"<Error>") {
            return Err(response.error(&format!("complete multipart upload {object}")));
        }
        Ok(())
    }

    fn get_object(&self, key: &str, range: Option<(u64, u64)>) -> KvResult<Option<Vec<u8>>> {
        let object = self.object(key);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &object)
            .sign(SIGNATURE_TTL);
        let headers = match range {
            Some((start, end)) => vec![("range".to_owned(), format!("bytes={start}-{}", end - 1))],
            None => vec![],
        };
        let response = self.send(request(http::Method::GET, url, headers, vec![]))?;
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
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            action.with_prefix(full.as_str());
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNATURE_TTL);
            let response = self.send(request(http::Method::GET, url, vec![], vec![]))?;
            if response.status != 200 {
                return Err(response.error("list objects"));
            }
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&response.body)
                .map_err(|e| KvError(format!("object store: list objects: {e}")))?;
            for object in page.contents {
                let key = object.key.strip_prefix(&self.prefix).unwrap_or(&object.key);
                out.push((key.to_owned(), object.size));
            }
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

fn request(
    method: http::Method,
    url: url::Url,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> HttpRequest {
    HttpRequest {
        method,
        url: url.into(),
        headers,
        body,
    }
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
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &object)
            .sign(SIGNATURE_TTL);
        let response = self.send(request(http::Method::DELETE, url, vec![], vec![]))?;
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

    fn query(url: &url::Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    impl Transport for Shared {
        fn send(&self, r: &HttpRequest) -> Result<HttpResponse, TransportError> {
            let fake = &self.0;
            let url = url::Url::parse(&r.url).map_err(|e| TransportError::fatal(e.to_string()))?;
            assert!(query(&url, "X-Amz-Signature").is_some(), "unsigned request");
            let key = url.path().trim_start_matches("/bucket/").to_owned();
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
                ("POST", None) if url.query().is_some_and(|q| q.contains("uploads")) => {
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
}
