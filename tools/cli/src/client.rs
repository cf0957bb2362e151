//! The one HTTP client every command uses: the server, the credential, and
//! the rules every answer goes through (a status >= 400 becomes a
//! [`CliError::Problem`], a transport failure a [`CliError::Network`]).
//!
//! Redirects are followed with the credential kept on the same host only:
//! the API's discovery routes answer 303 to the agent route and reads asked
//! for as a stream answer 307 to the tail, both on the same server.

use crate::error::{CliError, CliResult};
use std::io::Read;
use std::time::Duration;
use ureq::http::Response;
use ureq::{Agent, Body, ResponseExt};

/// Bodies read whole (JSON answers, problems) are capped at this.
const SMALL_BODY: u64 = 16 << 20;

pub struct Client {
    base: url::Url,
    token: Option<String>,
    agent: Agent,
}

/// An answer with status < 400, and where it came from after redirects.
pub struct Answer {
    pub response: Response<Body>,
    pub url: String,
}

impl Answer {
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    pub fn json(mut self) -> CliResult<serde_json::Value> {
        let bytes = self
            .response
            .body_mut()
            .with_config()
            .limit(SMALL_BODY)
            .read_to_vec()
            .map_err(|e| CliError::Network(format!("reading the answer: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Network(format!("the answer is not JSON: {e}")))
    }

    pub fn reader(self) -> impl Read {
        self.response.into_body().into_reader()
    }
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> CliResult<Client> {
        let mut base = url::Url::parse(server)
            .map_err(|e| CliError::Usage(format!("--server {server:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(CliError::Usage(format!(
                "--server {server:?}: not an http(s) URL"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("spin-logs-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client { base, token, agent })
    }

    /// `path_and_query` (starting with `/`) under the server's base URL.
    pub fn url(&self, path_and_query: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path_and_query}")
    }

    /// The URL of `segments` (each percent-encoded) under the base, with
    /// `query` (form-encoded).
    pub fn url_of(&self, segments: &[String], query: &[(&str, String)]) -> String {
        let mut u = self.base.clone();
        if let Ok(mut path) = u.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u.to_string()
    }

    /// How the credential travels: a URL token (`u1.`) in the query, as
    /// the server reads those; an API key (`slk_`) as `ApiKey`; anything
    /// else (a JWT) as `Bearer`.
    fn authorize(&self, url: &str) -> (String, Option<String>) {
        match self.token.as_deref() {
            None => (url.to_owned(), None),
            Some(t) if t.starts_with("u1.") => match url::Url::parse(url) {
                Ok(mut u) if !u.query_pairs().any(|(k, _)| k == "token") => {
                    u.query_pairs_mut().append_pair("token", t);
                    (u.to_string(), None)
                }
                _ => (url.to_owned(), None),
            },
            Some(t) if t.starts_with("slk_") => (url.to_owned(), Some(format!("ApiKey {t}"))),
            Some(t) => (url.to_owned(), Some(format!("Bearer {t}"))),
        }
    }

    /// A GET of `url` (absolute, from [`Client::url`] or an earlier answer).
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> CliResult<Answer> {
        let (url, auth) = self.authorize(url);
        let mut req = self.agent.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        Self::check(&url, req.call())
    }

    /// A request with a body.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> CliResult<Answer> {
        let (url, auth) = self.authorize(url);
        let url = url.as_str();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", content_type);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let req = req
            .body(body.to_vec())
            .map_err(|e| CliError::Usage(format!("{url}: {e}")))?;
        Self::check(url, self.agent.run(req))
    }

    /// A POST of a JSON body whose answer is JSON (jobs, searches, tokens).
    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> CliResult<serde_json::Value> {
        self.send(
            "POST",
            url,
            "application/json",
            body.to_string().as_bytes(),
            &[],
        )?
        .json()
    }

    fn check(url: &str, result: Result<Response<Body>, ureq::Error>) -> CliResult<Answer> {
        let mut response = result.map_err(|e| CliError::Network(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let body = response
                .body_mut()
                .with_config()
                .limit(SMALL_BODY)
                .read_to_vec()
                .unwrap_or_default();
            return Err(CliError::from_answer(status, &body));
        }
        let url = response.get_uri().to_string();
        Ok(Answer { response, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_base_once() {
        let c = Client::new("http://h:3000", None).unwrap();
        assert_eq!(c.url("/a?b=1"), "http://h:3000/a?b=1");
        let c = Client::new("https://h/prefix", None).unwrap();
        assert_eq!(c.url("/a"), "https://h/prefix/a");
        assert!(matches!(
            Client::new("ftp://h", None),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(Client::new("nope", None), Err(CliError::Usage(_))));
        let segs = vec!["a b".to_owned(), "c".to_owned()];
        assert_eq!(
            c.url_of(&segs, &[("q", "{x=\"y\"}".into())]),
            "https://h/prefix/a%20b/c?q=%7Bx%3D%22y%22%7D"
        );
    }
}
