//! `jobs`: log collection jobs, after MongoDB's API.
//!
//! The server has no scheduler: each GET of a job advances it by one step,
//! so `wait` is what moves a job along (docs/mongodb-jobs.md, "No
//! scheduler").

use crate::client::Client;
use crate::download;
use crate::error::{CliError, CliResult};
use clap::Subcommand;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Start a job; prints its id
    Create {
        #[command(flatten)]
        group: Group,
        /// A task id (repeatable)
        #[arg(long = "task")]
        tasks: Vec<String>,
        /// Tasks with this label, KEY=VALUE (repeatable)
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// A component (journal unit; repeatable)
        #[arg(long = "component")]
        components: Vec<String>,
        /// RFC 3339: only lines from then on
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339: only lines until then
        #[arg(long)]
        until: Option<String>,
        /// Mask secrets in the collected lines
        #[arg(long)]
        redacted: bool,
    },
    /// The group's jobs
    List {
        #[command(flatten)]
        group: Group,
    },
    /// Advance a job until it is done; exits 1 if it failed
    Wait {
        #[command(flatten)]
        group: Group,
        id: String,
    },
    /// Save a finished job's .tar.gz (resumes an interrupted download)
    Download {
        #[command(flatten)]
        group: Group,
        id: String,
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// No progress bar, no summary (errors still show)
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(clap::Args)]
pub struct Group {
    /// The project (24 hex digits)
    #[arg(long, env = "SPIN_LOGS_GROUP")]
    group: String,
}

impl Group {
    fn path(&self, rest: &[&str]) -> Vec<String> {
        let mut p: Vec<String> = [
            "api",
            "public",
            "v1.0",
            "groups",
            self.group.as_str(),
            "logCollectionJobs",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        p.extend(rest.iter().map(|s| (*s).to_owned()));
        p
    }
}

fn out(line: impl std::fmt::Display) -> CliResult<()> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(|e| CliError::local("output", e))
}

pub fn run(client: &Client, command: &JobsCommand, json: bool) -> CliResult<()> {
    match command {
        JobsCommand::Create {
            group,
            tasks,
            labels,
            components,
            since,
            until,
            redacted,
        } => {
            let mut label_map = serde_json::Map::new();
            for l in labels {
                let (k, v) = l
                    .split_once('=')
                    .ok_or_else(|| CliError::Usage(format!("--label {l:?}: KEY=VALUE")))?;
                label_map.insert(k.to_owned(), v.into());
            }
            let mut body = serde_json::json!({
                "tasks": tasks, "labels": label_map, "components": components,
                "redacted": redacted,
            });
            if let Some(s) = since {
                body["since"] = s.as_str().into();
            }
            if let Some(u) = until {
                body["until"] = u.as_str().into();
            }
            let url = client.url_of(&group.path(&[]), &[]);
            let job = client.post_json(&url, &body)?;
            if json {
                out(job)
            } else {
                out(job["id"].as_str().unwrap_or_default())
            }
        }
        JobsCommand::List { group } => {
            let v = client
                .get(&client.url_of(&group.path(&[]), &[]), &[])?
                .json()?;
            if json {
                return out(v);
            }
            for job in v["results"].as_array().into_iter().flatten() {
                out(format!(
                    "{}\t{}\t{}",
                    job["id"].as_str().unwrap_or("?"),
                    job["status"].as_str().unwrap_or("?"),
                    job["creationDate"].as_str().unwrap_or("")
                ))?;
            }
            Ok(())
        }
        JobsCommand::Wait { group, id } => {
            let url = client.url_of(&group.path(&[id]), &[]);
            let spinner = if !json && std::io::stderr().is_terminal() {
                indicatif::ProgressBar::new_spinner()
            } else {
                indicatif::ProgressBar::hidden()
            };
            loop {
                let job = client.get(&url, &[])?.json()?;
                let status = job["status"].as_str().unwrap_or("?").to_owned();
                let files = job["childJobs"].as_array().map_or(0, Vec::len);
                let done = job["childJobs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["status"] != "IN_PROGRESS")
                    .count();
                spinner.set_message(format!("{status}: {done}/{files} files"));
                spinner.tick();
                if status != "IN_PROGRESS" {
                    spinner.finish_and_clear();
                    if json {
                        out(&job)?;
                    } else {
                        out(&status)?;
                    }
                    return match status.as_str() {
                        "SUCCESS" => Ok(()),
                        _ => Err(CliError::Failed(format!("job {id} is {status}"))),
                    };
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        JobsCommand::Download {
            group,
            id,
            out: to,
            quiet,
        } => {
            let url = client.url_of(&group.path(&[id, "download"]), &[]);
            let to = to
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{id}.tar.gz")));
            let progress = !quiet && !json && std::io::stderr().is_terminal();
            download::download(client, &url, &to, progress)?.report(json, *quiet)
        }
    }
}
