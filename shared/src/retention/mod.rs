//! Retention: archive policies, the runs that apply them, and the catalog of
//! archive objects they write (the `retention` component's routes).
//!
//! A run moves sealed pages of hot segments into one compressed object per
//! page (in S3 when the blob store is S3), lists it in the [`catalog`], and
//! later deletes bytes older than the policy keeps. Reads never notice
//! packing (they read through, one ranged GET per segment) and positions never
//! change meaning; an expired range reads as absent, as after `logrotate`.

pub mod catalog;
pub mod policy;
pub mod run;
