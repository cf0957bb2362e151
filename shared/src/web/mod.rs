//! The HTTP vocabulary every handler speaks, independent of Spin: problems
//! (errors as values), requests and responses, the query string, paths and
//! their parameters, and the bounds every request passes first.

pub mod guard;
pub mod message;
pub mod path;
pub mod problem;
pub mod query;
pub mod time;
