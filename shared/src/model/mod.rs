//! The data model: tasks and the files of their sandboxes, journal entries,
//! and the positions clients are handed to resume from. Built on the store;
//! knows nothing of routes or formats.

pub mod derive;
pub mod journal;
pub mod otlp;
pub mod position;
pub mod push;
pub mod sandbox;
pub mod stream;
