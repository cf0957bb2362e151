//! What a command reads: a task's file, an app, a component's journal, or a
//! LogQL selector, spelled on the command line as
//!
//! ```text
//! web.1            task web.1, its stdout        (task:web.1 too)
//! web.1/stderr     task web.1, its stderr
//! app:shop         the app's containers (Scalingo's /apps/{app}/logs)
//! component:dcos-mesos-master
//! {app="shop"}     a LogQL stream selector (tail -f only)
//! ```
//! and the API route each one maps to. Task routes go through discovery
//! (`/system/v1/logs/v2/task/{task}/...`), which redirects to the agent
//! route, so the CLI needs no agent, framework or container id.

use crate::error::{CliError, CliResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Task { task: String, file: String },
    App(String),
    Component(String),
    Selector(String),
}

impl Target {
    pub fn parse(spec: &str) -> CliResult<Target> {
        let bad = |why: &str| CliError::Usage(format!("target {spec:?}: {why}"));
        let non_empty = |s: &str, what: &str| {
            if s.is_empty() {
                Err(bad(&format!("no {what}")))
            } else {
                Ok(s.to_owned())
            }
        };
        if spec.starts_with('{') {
            return Ok(Target::Selector(spec.to_owned()));
        }
        if let Some(app) = spec.strip_prefix("app:") {
            return Ok(Target::App(non_empty(app, "app name")?));
        }
        if let Some(unit) = spec.strip_prefix("component:") {
            return Ok(Target::Component(non_empty(unit, "component name")?));
        }
        let task = spec.strip_prefix("task:").unwrap_or(spec);
        let (task, file) = match task.split_once('/') {
            Some((t, f)) => (t, non_empty(f, "file name")?),
            None => (task, "stdout".to_owned()),
        };
        if file.contains('/') {
            return Err(bad("a file name has no '/'"));
        }
        Ok(Target::Task {
            task: non_empty(task, "task id")?,
            file,
        })
    }

    /// The read route's path segments (each encoded by the client).
    pub fn read_path(&self) -> CliResult<Vec<String>> {
        let segs = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        Ok(match self {
            Target::Task { task, file } => {
                segs(&["system", "v1", "logs", "v2", "task", task, "file", file])
            }
            Target::App(app) => segs(&["apps", app, "logs"]),
            Target::Component(unit) => segs(&["system", "v1", "logs", "v2", "component", unit]),
            Target::Selector(_) => {
                return Err(CliError::Usage(
                    "a LogQL selector is read with `tail -f` or `search`".into(),
                ));
            }
        })
    }

    /// The download route: the file itself as an attachment.
    pub fn download_path(&self) -> CliResult<Vec<String>> {
        match self {
            Target::Task { .. } => {
                let mut p = self.read_path()?;
                p.push("download".into());
                Ok(p)
            }
            _ => Err(CliError::Usage(
                "only a task's file downloads; use --archive for the sandbox".into(),
            )),
        }
    }

    /// The sandbox archive of a task.
    pub fn archive_path(&self) -> CliResult<Vec<String>> {
        match self {
            Target::Task { task, .. } => {
                Ok(["system", "v1", "logs", "v2", "task", task, "archive"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect())
            }
            _ => Err(CliError::Usage("only a task has a sandbox archive".into())),
        }
    }

    /// A name for the file a download is saved to by default.
    pub fn file_name(&self, archive: bool) -> String {
        match self {
            Target::Task { task, .. } if archive => format!("{task}.tar.gz"),
            Target::Task { task, file } => format!("{task}-{file}"),
            Target::App(a) => format!("{a}.log"),
            Target::Component(c) => format!("{c}.log"),
            Target::Selector(_) => "logs.log".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(t: &str, f: &str) -> Target {
        Target::Task {
            task: t.into(),
            file: f.into(),
        }
    }

    #[test]
    fn every_spelling_parses() {
        assert_eq!(Target::parse("web.1").unwrap(), task("web.1", "stdout"));
        assert_eq!(
            Target::parse("task:web.1/stderr").unwrap(),
            task("web.1", "stderr")
        );
        assert_eq!(
            Target::parse("app:shop").unwrap(),
            Target::App("shop".into())
        );
        assert_eq!(
            Target::parse("component:mesos").unwrap(),
            Target::Component("mesos".into())
        );
        assert_eq!(
            Target::parse(r#"{app="shop"}"#).unwrap(),
            Target::Selector(r#"{app="shop"}"#.into())
        );
        for bad in ["", "app:", "component:", "t/", "/f", "t/a/b"] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes_are_the_apis() {
        let t = task("web.1", "stderr");
        assert_eq!(
            t.read_path().unwrap().join("/"),
            "system/v1/logs/v2/task/web.1/file/stderr"
        );
        assert_eq!(
            t.download_path().unwrap().last().map(String::as_str),
            Some("download")
        );
        assert_eq!(
            t.archive_path().unwrap().join("/"),
            "system/v1/logs/v2/task/web.1/archive"
        );
        assert!(Target::App("a".into()).archive_path().is_err());
        assert!(Target::Selector("{}".into()).read_path().is_err());
    }
}
