//! URL tokens: signed links that read one task, app or job archive for a few
//! minutes, for clients that cannot send a header (`EventSource`, a link).

use super::{BASE, Body, Class, Endpoint, Family, JSON, Row, Rule, SYSTEM_LOGS, Verb};
use crate::config::vars;

/// Where URL tokens are minted.
pub const PATH: &str = "/system/v1/logs/v2/tokens";

/// A `token` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Mint a URL token for a task or an app.
    Mint,
    /// Scalingo's "Application#logs": the app's logs URL with a fresh token.
    AppLogsUrl {
        /// The app the token reads: the tasks labelled `app=<app>`.
        app: String,
    },
}

/// Both mint a URL token: what minting one takes.
const MINT: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard);

/// The family.
pub static FAMILY: Family<Token> = Family {
    component: "token",
    summary: "URL tokens that read one task or app for a few minutes",
    spin_routes: &[PATH, "/v1/apps/:app/logs"],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::TOKENS],
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                PATH,
                MINT,
                "mint a URL token that reads one task or app ({\"task\"} or {\"app\"}, ttl)",
            )
            .takes(Body::json("TokenRequest"))
            .answers(201, JSON)
            .errors(&[501]),
            make: |_| Ok(Token::Mint),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/v1/apps/:app/logs",
                MINT,
                "Scalingo's Application#logs: {\"app\", \"logs_url\"} with a fresh URL token",
            )
            .answers(200, JSON),
            make: |p| Ok(Token::AppLogsUrl { app: p.get("app")? }),
        },
    ],
};
