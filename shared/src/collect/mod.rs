//! Collection from Kubernetes clusters: registered clusters and their
//! sealed tokens ([`cluster`], [`seal`]), what is collected ([`settings`],
//! which Loki pushes obey too), pulling pods' logs from an API server
//! ([`http`], [`pull`]) in stepped jobs ([`job`]), and what `/metrics`,
//! `/stats` and `/health` report ([`report`]). The routes are
//! [`crate::api::collect`]; docs/collect.md tells an operator what to
//! grant a cluster.

pub mod cluster;
pub mod http;
pub mod job;
pub mod pull;
pub mod report;
pub mod seal;
pub mod settings;
