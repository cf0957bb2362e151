//! The web viewer's files: its page, script and styles (public: the page
//! signs in against the API routes itself, where the gate applies).

use super::{Body, Endpoint, Family, Param, Row, Rule, Verb};
use crate::config::vars;

/// Where the viewer is served.
pub const UI: &str = "/ui";

/// The one `ui` route: the file asked for; empty for `/ui/` (the page),
/// `None` for `/ui`, which redirects to `/ui/`. Still raw (percent-encoded).
pub type Ui = Option<String>;

/// The family.
pub static FAMILY: Family<Ui> = Family {
    component: "ui",
    summary: "the web viewer: its page and files",
    spin_routes: &["/ui/..."],
    aliases: &[],
    variables: &[vars::GUARD],
    profile: super::Profile::Small,
    rows: &[Row {
        endpoint: Endpoint::new(
            Verb::Get,
            "/ui/...",
            Rule::PUBLIC,
            "the web viewer (/ui redirects to /ui/): its page and files, ETag/304, gzip",
        )
        .answers(200, Body::media("text/html"))
        .params(&[Param::query(
            "v",
            "the file's hash: the answer may then be cached for good",
        )]),
        make: |p| Ok((p.path != UI).then(|| p.rest.clone().unwrap_or_default())),
    }],
};
