//! `download`: a file, a sandbox archive or a job's archive, to disk, with
//! a progress bar, resumable.
//!
//! Bytes land in `<file>.part`, beside a `<file>.part.etag` holding the
//! answer's `ETag`; the `.part` becomes `<file>` only once the body is whole.
//! A later run that finds a `.part` asks for the rest (`Range` from its
//! length, `If-Range` with the saved `ETag`): a 206 is appended, a 200 (the
//! file changed, or a streamed archive that has no ranges) starts over.

use crate::client::Client;
use crate::error::{CliError, CliResult};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What a download did.
#[derive(Debug)]
pub struct Outcome {
    pub file: PathBuf,
    pub bytes: u64,
    /// Bytes already on disk that a `Range` request kept.
    pub resumed_from: u64,
}

impl Outcome {
    /// What a finished download says: a JSON object on stdout with
    /// `--output json`, else a line on stderr (none with `--quiet`), so
    /// stdout stays clean for a script either way.
    pub fn report(&self, json: bool, quiet: bool) -> CliResult<()> {
        if json {
            let v = serde_json::json!({
                "file": self.file,
                "bytes": self.bytes,
                "resumed_from": self.resumed_from,
            });
            return writeln!(std::io::stdout().lock(), "{v}")
                .map_err(|e| CliError::local("writing the output", e));
        }
        if !quiet {
            let resumed = match self.resumed_from {
                0 => String::new(),
                at => format!(" (resumed at {at})"),
            };
            eprintln!(
                "spin-logs: {} bytes in {}{resumed}",
                self.bytes,
                self.file.display()
            );
        }
        Ok(())
    }
}

fn side(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn download(client: &Client, url: &str, to: &Path, progress: bool) -> CliResult<Outcome> {
    let part = side(to, ".part");
    let etag_file = side(to, ".part.etag");
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let etag = std::fs::read_to_string(&etag_file).ok();
    let range = format!("bytes={have}-");
    let mut headers = Vec::new();
    if have > 0
        && let Some(tag) = etag.as_deref()
    {
        headers.push(("range", range.as_str()));
        headers.push(("if-range", tag.trim()));
    }
    let answer = match client.get(url, &headers) {
        // The .part is already the whole file (the last run stopped between
        // the last byte and the rename).
        Err(CliError::Problem { status: 416, .. }) if have > 0 => {
            return finish(&part, &etag_file, to, have, have);
        }
        other => other?,
    };
    let resumed = answer.status() == 206;
    let start = if resumed { have } else { 0 };
    let total = answer
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .map(|l| l + start);
    match answer.header("etag") {
        Some(tag) => std::fs::write(&etag_file, tag),
        None => std::fs::remove_file(&etag_file).or(Ok(())),
    }
    .map_err(|e| CliError::local(etag_file.display(), e))?;

    let mut file = if resumed {
        OpenOptions::new().append(true).open(&part)
    } else {
        File::create(&part)
    }
    .map_err(|e| CliError::local(part.display(), e))?;
    let bar = bar(progress, total, start);
    let mut body = answer.reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut written = start;
    loop {
        let n = body.read(&mut buf).map_err(|e| {
            CliError::Network(format!(
                "download cut at byte {written}: {e}; run the same command again to resume"
            ))
        })?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|e| CliError::local(part.display(), e))?;
        written += n as u64;
        bar.set_position(written);
    }
    file.sync_all()
        .map_err(|e| CliError::local(part.display(), e))?;
    bar.finish_and_clear();
    if let Some(t) = total
        && written != t
    {
        return Err(CliError::Network(format!(
            "download cut at byte {written} of {t}; run the same command again to resume"
        )));
    }
    finish(&part, &etag_file, to, written, start)
}

fn finish(
    part: &Path,
    etag: &Path,
    to: &Path,
    bytes: u64,
    resumed_from: u64,
) -> CliResult<Outcome> {
    std::fs::rename(part, to).map_err(|e| CliError::local(to.display(), e))?;
    let _ = std::fs::remove_file(etag);
    Ok(Outcome {
        file: to.to_owned(),
        bytes,
        resumed_from,
    })
}

fn bar(show: bool, total: Option<u64>, at: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_position(at);
    bar
}
