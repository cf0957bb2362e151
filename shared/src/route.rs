//! Reading paths: percent-decoded segments, validated names, and the DC/OS
//! agent-route shape shared by the dump, browse and archive components.
//!
//! Routing itself is Spin's job (spin.toml); each component re-parses the full
//! path so it never depends on host-specific `spin-*` headers, and so every id
//! it uses has been decoded and validated exactly once, here.

use crate::problem::Problem;
use percent_encoding::{CONTROLS, percent_decode_str, utf8_percent_encode};

/// The longest id or file name accepted (a common file-system limit).
pub const MAX_NAME_BYTES: usize = 255;

/// Splits `path` after `prefix` into percent-decoded segments. `None` if the
/// path does not start with `prefix` on a segment boundary.
pub fn segments_after(path: &str, prefix: &str) -> Option<Result<Vec<String>, Problem>> {
    let rest = path.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| Problem::bad_request("a path segment is not valid UTF-8"))
            })
            .collect(),
    )
}

/// Checks a task id, file name or similar for use as one path component:
/// not empty, at most 255 bytes, no `/`, `\`, NUL or other control
/// characters, and not `.` or `..`.
pub fn validate_name(what: &str, name: &str) -> Result<(), Problem> {
    let bad = |why: &str| Problem::bad_param(what, format!("invalid {what} {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Problem::bad_param(
            what,
            format!("invalid {what}: longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name == "." || name == ".." {
        return Err(bad("relative path components are not names"));
    }
    if name.contains(['/', '\\']) {
        return Err(bad("it contains a path separator"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(())
}

/// A request's path or query as it may be echoed in a `Location` or `Link`
/// header: hosts pass raw UTF-8 in URIs through, but header values are
/// ASCII, so non-ASCII (and control) bytes are percent-encoded. Decoding
/// gives the same text back, so the target is unchanged.
pub fn header_safe(raw: &str) -> String {
    utf8_percent_encode(raw, CONTROLS).to_string()
}

/// `/system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}[/tasks/{task}]/{rest...}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPath {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    /// Present for pod tasks.
    pub task_id: Option<String>,
    /// What follows: `[filename]`, `[filename, "download"]`, `["files", "browse"]`.
    pub rest: Vec<String>,
}

impl AgentPath {
    pub fn parse(path: &str) -> Result<Self, Problem> {
        let segs = segments_after(path, "/system/v1/agent")
            .ok_or_else(|| Problem::not_found("not an agent route"))??;
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let (agent, fw, ex, container, rest) = match s.as_slice() {
            [
                agent,
                "logs",
                "v2",
                "task",
                "frameworks",
                fw,
                "executors",
                ex,
                "runs",
                c,
                rest @ ..,
            ] => (*agent, *fw, *ex, *c, rest),
            _ => return Err(Problem::not_found("not an agent task route")),
        };
        let (task_id, rest) = match rest {
            ["tasks", task, rest @ ..] if !rest.is_empty() => (Some(task.to_string()), rest),
            _ => (None, rest),
        };
        for (what, v) in [
            ("agent_id", agent),
            ("framework_id", fw),
            ("executor_id", ex),
            ("container_id", container),
        ] {
            validate_name(what, v)?;
        }
        if let Some(t) = &task_id {
            validate_name("task_id", t)?;
        }
        for r in rest {
            validate_name("filename", r)?;
        }
        Ok(Self {
            agent_id: agent.into(),
            framework_id: fw.into(),
            executor_id: ex.into(),
            container_id: container.into(),
            task_id,
            rest: rest.iter().map(|s| s.to_string()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments_and_respects_boundaries() {
        let segs = segments_after("/a/b/x%20y/z", "/a/b").unwrap().unwrap();
        assert_eq!(segs, vec!["x y", "z"]);
        assert!(segments_after("/a/bc", "/a/b").is_none());
        assert!(segments_after("/a/b/%ff", "/a/b").unwrap().is_err());
    }

    #[test]
    fn echoed_uris_are_ascii() {
        assert_eq!(header_safe("/a/é?x=ü&y=%20"), "/a/%C3%A9?x=%C3%BC&y=%20");
        assert_eq!(header_safe("/plain?q=1"), "/plain?q=1");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(256)] {
            assert!(validate_name("file", bad).is_err(), "{bad:?}");
        }
        validate_name("file", "stdout.log-1").unwrap();
        validate_name("file", &"x".repeat(255)).unwrap();
    }

    #[test]
    fn parses_standalone_and_pod_agent_paths() {
        let base = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
        let p = AgentPath::parse(&format!("{base}/stdout")).unwrap();
        assert_eq!((p.task_id, p.rest), (None, vec!["stdout".to_string()]));
        let p = AgentPath::parse(&format!("{base}/tasks/T/stderr/download")).unwrap();
        assert_eq!(p.task_id.as_deref(), Some("T"));
        assert_eq!(p.rest, vec!["stderr", "download"]);
        let p = AgentPath::parse(&format!("{base}/tasks/download")).unwrap();
        assert_eq!((p.task_id, p.rest.len()), (None, 2));
        assert!(AgentPath::parse(&format!("{base}/%2e%2e/stdout")).is_err());
    }
}
