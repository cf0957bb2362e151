//! The API's front door (spin.toml's catch-all `/...`): what the API is and
//! where its routes are. Every path outside the families is answered here
//! too, by the public 404 ([`super::unrouted`]).

use super::{Endpoint, Family, JSON, Row, Rule, Verb};
use crate::config::vars;

/// An `index` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// `GET /`: the families and their routes.
    Index,
    /// The OpenAPI 3.1 document of every route.
    OpenApi,
}

/// The family.
pub static FAMILY: Family<Index> = Family {
    component: "index",
    summary: "what the API is and its routes; a 404 problem for any other path",
    spin_routes: &["/..."],
    aliases: &[],
    variables: &[vars::GUARD],
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/",
                Rule::PUBLIC,
                "what the API is and its route families",
            )
            .answers(200, JSON),
            make: |_| Ok(Index::Index),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/openapi.json",
                Rule::PUBLIC,
                "the OpenAPI 3.1 document of every route",
            )
            .answers(200, JSON),
            make: |_| Ok(Index::OpenApi),
        },
    ],
};
