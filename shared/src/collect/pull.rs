//! What `pods/log` answers, and how a target's cursor moves over it.
//!
//! The API is awkward in four ways, each handled here:
//!
//! - **`sinceTime` has whole-second precision**: the API server forwards it
//!   truncated, and the kubelet keeps lines at or after it, so the boundary
//!   second comes back, earlier lines of it included. The cursor keeps the
//!   exact timestamp of the newest line stored and how many lines were
//!   stored at exactly that timestamp; a pull skips lines before it and the
//!   first that many at it, so lines sharing a timestamp are neither lost
//!   nor doubled (they come back in the same order: one file, appended).
//! - **`limitBytes` cuts mid-line**: a body that reached the limit without
//!   ending in a newline ends in a partial line, which is not stored; the
//!   next pull gets it whole. A second holding more than the limit of lines
//!   already stored would stall, so the limit doubles until the pull moves
//!   (up to [`MAX_LIMIT`]; a single line longer than that is stored cut).
//! - **Restarts**: see `job.rs`, which drains `previous=true` first.
//! - **Errors**: a waiting container or a deleted pod answers a 400 or 404
//!   `Status` (`http::Failure::Api`).

use crate::model::stream::Entry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most one pull asks for when a second is larger than the budget.
pub const MAX_LIMIT: u64 = 8 * 1024 * 1024;

/// Where a target stands.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Timestamp (ns) of the newest line stored; before the first, where to
    /// start (0: the beginning).
    pub ts: u64,
    /// Lines stored at exactly `ts`.
    pub at_ts: u32,
    /// The stream's size after this target's last append: a head of
    /// another size means an append committed that the cursor does not
    /// know of (a step killed between the two), and the cursor is read
    /// back from the stream.
    pub size: u64,
    /// The restart count of the container instance being read.
    pub instance: u32,
}

impl Cursor {
    /// The `sinceTime` to ask for: the cursor's second, or none at the
    /// beginning.
    pub fn since_time(&self) -> Option<String> {
        (self.ts > 0).then(|| whole_second(self.ts))
    }
}

/// `2024-01-02T03:04:05Z`: the second `ns` falls in, as `sinceTime` takes it.
pub fn whole_second(ns: u64) -> String {
    crate::read::format::date_time(i128::from(ns), 'T').map_or_else(String::new, |(s, _)| s + "Z")
}

/// What one response gave.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    /// New entries, in order.
    pub entries: Vec<Entry>,
    /// The cursor after them (`size` untouched: the append sets it).
    pub cursor: Cursor,
    /// The response ended before the limit: this instance has no more now.
    pub drained: bool,
    /// A line after `until` was seen: the range is done.
    pub past_until: bool,
    /// Lines without a timestamp (never from a real kubelet with
    /// `timestamps=true`), skipped.
    pub malformed: u64,
}

/// Parses `<RFC 3339 with nanoseconds> <line>`.
pub fn split_line(line: &[u8]) -> Option<(u64, &[u8])> {
    let space = memchr::memchr(b' ', line)?;
    let ts = std::str::from_utf8(&line[..space]).ok()?;
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    let ns = u64::try_from(t.unix_timestamp_nanos()).ok()?;
    Some((ns, &line[space + 1..]))
}

/// The entries of `body` (a response to a request with `limit` bytes)
/// after `cursor`, up to `until`. `force` stores a cut last line when it is
/// the only one (a line longer than [`MAX_LIMIT`]).
pub fn take(body: &[u8], limit: u64, cursor: &Cursor, until: Option<u64>, force: bool) -> Taken {
    let cut = body.len() as u64 >= limit;
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    // `split` leaves an empty last piece after a final newline; a cut last
    // piece is partial, and waits for the next pull.
    let last = lines.pop().unwrap_or_default();
    if !last.is_empty() && (!cut || (force && lines.is_empty())) {
        lines.push(last);
    }
    let mut out = Taken {
        cursor: cursor.clone(),
        drained: !cut,
        ..Taken::default()
    };
    let mut seen_at_cursor = 0u32;
    for line in lines {
        let Some((ts, text)) = split_line(line) else {
            out.malformed += 1;
            continue;
        };
        if until.is_some_and(|u| ts > u) {
            out.past_until = true;
            break;
        }
        if ts < cursor.ts {
            continue;
        }
        if ts == cursor.ts && seen_at_cursor < cursor.at_ts {
            seen_at_cursor += 1;
            continue;
        }
        if ts == out.cursor.ts {
            out.cursor.at_ts += 1;
        } else {
            out.cursor.ts = ts;
            out.cursor.at_ts = 1;
        }
        out.entries.push(Entry {
            ts,
            line: String::from_utf8_lossy(text.strip_suffix(b"\r").unwrap_or(text)).into_owned(),
            metadata: Vec::new(),
        });
    }
    out
}

/// A query value, percent-encoded.
pub fn query_escape(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `pods/log` for one container.
pub fn log_path(
    ns: &str,
    pod: &str,
    container: &str,
    cursor: &Cursor,
    limit: u64,
    previous: bool,
) -> String {
    let mut p = format!(
        "/api/v1/namespaces/{}/pods/{}/log?container={}&timestamps=true&limitBytes={limit}",
        query_escape(ns),
        query_escape(pod),
        query_escape(container)
    );
    if let Some(since) = cursor.since_time() {
        p.push_str(&format!("&sinceTime={}", query_escape(&since)));
    }
    if previous {
        p.push_str("&previous=true");
    }
    p
}

/// A `PodList`, as much of it as collection reads.
#[derive(Deserialize, Debug, Default)]
pub struct PodList {
    /// This page's pods.
    #[serde(default)]
    pub items: Vec<Pod>,
    /// Where the next page starts.
    #[serde(default)]
    pub metadata: ListMeta,
}

/// A list's paging state.
#[derive(Deserialize, Debug, Default)]
pub struct ListMeta {
    /// `continue`: pass it back for the next page; absent or empty on the
    /// last one.
    #[serde(rename = "continue", default)]
    pub continue_token: Option<String>,
}

/// A pod, as much of it as collection reads.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct Pod {
    /// Its name, namespace, uid, labels and annotations.
    pub metadata: PodMeta,
    /// Its node and containers.
    #[serde(default)]
    pub spec: PodSpec,
    /// Its phase and containers' restart counts.
    #[serde(default)]
    pub status: PodStatus,
}

/// A pod's `metadata`.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct PodMeta {
    /// Unique within the namespace, not over time: see `uid`.
    pub name: String,
    /// Empty if the server left it out.
    #[serde(default)]
    pub namespace: String,
    /// Unique per pod ever created (a recreated pod of the same name has a
    /// new one).
    #[serde(default)]
    pub uid: String,
    /// The pod's labels, copied onto its streams (names made Loki-safe).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations, one of which can opt it out of collection.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A pod's `spec`.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct PodSpec {
    /// `nodeName`: where it is scheduled; `None` while pending.
    #[serde(rename = "nodeName", default)]
    pub node_name: Option<String>,
    /// Its (regular) containers, whose logs are pulled one by one.
    #[serde(default)]
    pub containers: Vec<Named>,
}

/// Anything of which only the name is read (here, a container).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct Named {
    /// The container's name, as `?container=` takes it.
    pub name: String,
}

/// A pod's `status`.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`; may be
    /// empty (see [`Pod::phase`]).
    #[serde(default)]
    pub phase: String,
    /// `containerStatuses`: one per started container.
    #[serde(rename = "containerStatuses", default)]
    pub container_statuses: Vec<ContainerStatus>,
}

/// One container's entry in `containerStatuses`.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct ContainerStatus {
    /// The container it describes.
    pub name: String,
    /// `restartCount`: a restart leaves the previous run's log under
    /// `?previous=true`.
    #[serde(rename = "restartCount", default)]
    pub restart_count: u32,
}

impl Pod {
    /// Its phase, `Unknown` when the server gave none.
    pub fn phase(&self) -> &str {
        if self.status.phase.is_empty() {
            "Unknown"
        } else {
            &self.status.phase
        }
    }

    /// The restart count of `container` (0 before it has a status).
    pub fn restarts(&self, container: &str) -> u32 {
        self.status
            .container_statuses
            .iter()
            .find(|c| c.name == container)
            .map_or(0, |c| c.restart_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_704_164_645_000_000_000; // 2024-01-02T03:04:05Z

    fn body(lines: &[(u64, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (ns, text) in lines {
            let ts = format!(
                "{}.{:09}Z",
                whole_second(*ns).trim_end_matches('Z'),
                ns % 1_000_000_000
            );
            out.extend_from_slice(format!("{ts} {text}\n").as_bytes());
        }
        out
    }

    #[test]
    fn the_boundary_second_is_neither_lost_nor_doubled() {
        let all = body(&[
            (S, "a"),
            (S + 5, "b"),
            (S + 5, "c"),
            (S + 5, "d"),
            (S + 9, "e"),
        ]);
        let first = take(
            &all[..all.len() - 30],
            1 << 20,
            &Cursor::default(),
            None,
            false,
        );
        // Not cut (under the limit): everything but what was withheld.
        let stored: Vec<&str> = first.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(stored, ["a", "b", "c", "d"]);
        assert_eq!((first.cursor.ts, first.cursor.at_ts), (S + 5, 3));
        // Pulled again from the same second: only what is new.
        let again = take(&all, 1 << 20, &first.cursor, None, false);
        let stored: Vec<&str> = again.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(stored, ["e"]);
        assert_eq!(
            Cursor {
                ts: S + 5,
                ..Cursor::default()
            }
            .since_time()
            .unwrap(),
            "2024-01-02T03:04:05Z"
        );
    }

    #[test]
    fn a_limit_cut_leaves_the_partial_line_for_later() {
        let all = body(&[(S, "first"), (S + 1, "second line")]);
        let limit = all.len() as u64 - 4;
        let t = take(
            &all[..limit as usize],
            limit,
            &Cursor::default(),
            None,
            false,
        );
        assert_eq!(t.entries.len(), 1);
        assert!(!t.drained);
        let rest = take(&all, all.len() as u64 + 1, &t.cursor, None, false);
        assert_eq!(rest.entries[0].line, "second line");
        assert!(rest.drained);
        // A lone line longer than the largest limit is stored cut when forced.
        // (30 bytes of timestamp, a space, then "fir" of "first".)
        let one = &all[..34];
        assert!(
            take(one, 34, &Cursor::default(), None, false)
                .entries
                .is_empty()
        );
        let forced = take(one, 34, &Cursor::default(), None, true);
        assert_eq!(forced.entries[0].line, "fir");
    }

    #[test]
    fn until_ends_the_range_and_paths_carry_every_parameter() {
        let all = body(&[(S, "in"), (S + 2_000_000_000, "out")]);
        let t = take(&all, 1 << 20, &Cursor::default(), Some(S + 1), false);
        assert_eq!((t.entries.len(), t.past_until), (1, true));
        let c = Cursor {
            ts: S + 7,
            ..Cursor::default()
        };
        assert_eq!(
            log_path("shop", "web-1", "app", &c, 4096, true),
            "/api/v1/namespaces/shop/pods/web%2D1/log?container=app&timestamps=true&limitBytes=4096&sinceTime=2024%2D01%2D02T03%3A04%3A05Z&previous=true"
        );
    }
}
