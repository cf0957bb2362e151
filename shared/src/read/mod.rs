//! Reading logs out: read parameters, formats, the reader that turns a log
//! snapshot into a response, the follow engine that keeps one open across
//! invocation limits, follower leases, ranged downloads, and the archive
//! machinery (tar.gz, redaction). Shared by every route family that reads.

pub mod download;
pub mod follow;
pub mod format;
pub mod lease;
pub mod params;
pub mod reader;
pub mod redact;
pub mod search;
pub mod sse;
pub mod stream_tail;
pub mod target;
pub mod targz;
