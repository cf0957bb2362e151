//! `push`: ship a file or stdin to a task's file, as a log shipper does.
//!
//! Lines go in batches (at most `--batch-bytes`, and with `--follow` at
//! least once a second), each sent with an `Idempotency-Key` of this run and
//! its sequence number, so a retried batch (a timeout, a 5xx, a 429) is
//! stored once. Only whole lines are sent: a last line without its newline
//! waits for it (or for the end of the input). `--follow` reads a growing
//! file as `tail -F` does: it polls for growth, and when the file is
//! replaced (another inode) or truncated it finishes the old one and starts
//! the new one from its first byte.

use crate::client::Client;
use crate::credentials::random_hex;
use crate::error::{CliError, CliResult};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const ATTEMPTS: u32 = 8;

pub struct Shipper<'a> {
    client: &'a Client,
    url: String,
    run: String,
    sequence: u64,
    batch_bytes: usize,
    pending: Vec<u8>,
    pub lines: u64,
    pub batches: u64,
}

impl<'a> Shipper<'a> {
    pub fn new(client: &'a Client, url: String, batch_bytes: usize) -> CliResult<Self> {
        Ok(Shipper {
            client,
            url,
            run: random_hex(8)?,
            sequence: 0,
            batch_bytes: batch_bytes.max(1),
            pending: Vec::new(),
            lines: 0,
            batches: 0,
        })
    }

    /// Adds input; sends every full batch of whole lines.
    fn feed(&mut self, bytes: &[u8]) -> CliResult<()> {
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= self.batch_bytes {
            let Some(cut) = whole_lines(&self.pending, self.batch_bytes) else {
                break;
            };
            self.send(cut)?;
        }
        Ok(())
    }

    /// Sends the whole lines waiting; with `all`, the unfinished last line too.
    fn flush(&mut self, all: bool) -> CliResult<()> {
        let cut = if all {
            self.pending.len()
        } else {
            self.pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
        };
        if cut > 0 {
            self.send(cut)?;
        }
        Ok(())
    }

    fn send(&mut self, cut: usize) -> CliResult<()> {
        let batch: Vec<u8> = self.pending.drain(..cut).collect();
        self.sequence += 1;
        let key = format!("push-{}-{}", self.run, self.sequence);
        let mut failures = 0;
        loop {
            let result = self.client.send(
                "POST",
                &self.url,
                "text/plain",
                &batch,
                &[("idempotency-key", key.as_str())],
            );
            match result {
                Ok(_) => break,
                Err(e) if retryable(&e) && failures + 1 < ATTEMPTS => {
                    failures += 1;
                    std::thread::sleep(Duration::from_millis((200u64 << failures).min(10_000)));
                }
                Err(e) => return Err(e),
            }
        }
        self.lines += batch.iter().filter(|b| **b == b'\n').count() as u64
            + u64::from(batch.last().is_some_and(|b| *b != b'\n'));
        self.batches += 1;
        Ok(())
    }
}

fn retryable(e: &CliError) -> bool {
    match e {
        CliError::Network(_) => true,
        CliError::Problem { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// The length of the longest run of whole lines in `buf` within `max`
/// bytes (or the first line, if it alone is longer).
fn whole_lines(buf: &[u8], max: usize) -> Option<usize> {
    let window = &buf[..max.min(buf.len())];
    match window.iter().rposition(|b| *b == b'\n') {
        Some(i) => Some(i + 1),
        None => buf.iter().position(|b| *b == b'\n').map(|i| i + 1),
    }
}

/// Ships all of `input` (stdin or a file that does not grow).
pub fn push_all(shipper: &mut Shipper, input: &mut dyn Read) -> CliResult<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| CliError::local("reading the input", e))?;
        if n == 0 {
            break;
        }
        shipper.feed(&buf[..n])?;
    }
    shipper.flush(true)
}

#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> u64 {
    0
}

/// Ships `path` and whatever is appended to it, across rotations, until
/// the process is stopped (or `until` says so, for tests and scripts).
pub fn push_follow(shipper: &mut Shipper, path: &Path, until: &dyn Fn() -> bool) -> CliResult<()> {
    let open = || -> CliResult<(File, u64)> {
        let f = File::open(path).map_err(|e| CliError::local(path.display(), e))?;
        let id = f
            .metadata()
            .map(|m| identity(&m))
            .map_err(|e| CliError::local(path.display(), e))?;
        Ok((f, id))
    };
    let (mut file, mut id) = open()?;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut last_flush = Instant::now();
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| CliError::local(path.display(), e))?;
        if n > 0 {
            offset += n as u64;
            shipper.feed(&buf[..n])?;
            continue;
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            shipper.flush(false)?;
            last_flush = Instant::now();
        }
        if until() {
            return shipper.flush(true);
        }
        std::thread::sleep(POLL);
        match std::fs::metadata(path) {
            // Replaced: what the old file still had was read above (an
            // open handle reads a renamed file to its end); its unfinished
            // last line is a line of its own.
            Ok(m) if identity(&m) != id => {
                let mut rest = Vec::new();
                file.read_to_end(&mut rest)
                    .map_err(|e| CliError::local(path.display(), e))?;
                shipper.feed(&rest)?;
                shipper.flush(true)?;
                (file, id) = open()?;
                offset = 0;
            }
            // Truncated in place: start again from its first byte.
            Ok(m) if m.len() < offset => {
                shipper.flush(true)?;
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| CliError::local(path.display(), e))?;
                offset = 0;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_end_on_lines() {
        assert_eq!(whole_lines(b"ab\ncd\nef", 7), Some(6));
        assert_eq!(whole_lines(b"ab\ncd\nef", 4), Some(3));
        assert_eq!(
            whole_lines(b"abcdef\ng", 3),
            Some(7),
            "a long line goes whole"
        );
        assert_eq!(whole_lines(b"abcdef", 3), None);
    }
}
