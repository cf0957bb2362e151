//! Failures as values, each with the exit code a script can branch on.
//!
//! The codes are part of the interface (docs/cli.md):
//! `1` the server answered with a problem, `2` the command line was wrong
//! (clap's own code), `3` the server could not be reached, `4` a local file
//! could not be read or written.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug)]
pub enum CliError {
    /// An `application/problem+json` answer (or any status >= 400).
    Problem {
        status: u16,
        title: String,
        detail: Option<String>,
    },
    /// Something the server did that is not a problem answer, such as a
    /// job that ended `FAILED`; exits like a problem.
    Failed(String),
    Usage(String),
    Network(String),
    Local(String),
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Problem { .. } | CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Network(_) => 3,
            CliError::Local(_) => 4,
        })
    }

    /// A problem from a status and its body: RFC 9457 `title`/`detail` when
    /// the body is one, else the status alone.
    pub fn from_answer(status: u16, body: &[u8]) -> CliError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let title = field("title").unwrap_or_else(|| format!("HTTP {status}"));
        let detail = field("detail").or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            (parsed.is_none() && !text.is_empty()).then(|| text.chars().take(300).collect())
        });
        CliError::Problem {
            status,
            title,
            detail,
        }
    }

    pub fn local(what: impl fmt::Display, e: impl fmt::Display) -> CliError {
        CliError::Local(format!("{what}: {e}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Problem {
                status,
                title,
                detail,
            } => {
                write!(f, "{status} {title}")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            CliError::Failed(m) | CliError::Usage(m) => write!(f, "{m}"),
            CliError::Network(m) => write!(f, "cannot reach the server: {m}"),
            CliError::Local(m) => write!(f, "{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_shows_its_title_and_detail() {
        let body =
            br#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no task t"}"#;
        let e = CliError::from_answer(404, body);
        assert_eq!(e.to_string(), "404 Not Found: no task t");
        assert_eq!(e.exit_code(), ExitCode::from(1));
        let plain = CliError::from_answer(502, b"bad gateway\n");
        assert_eq!(plain.to_string(), "502 HTTP 502: bad gateway");
        assert_eq!(CliError::from_answer(500, b"").to_string(), "500 HTTP 500");
    }
}
