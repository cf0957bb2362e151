//! The JSON Schemas of the bodies the route tables name
//! (`routes::Body::json`), for the OpenAPI document `tools/gen` writes.
//! Compiled only with the `schema` feature: no component carries it. A test
//! of `tools/gen` fails when a table names a schema that is not here.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// Each named body schema, and every schema they refer to, as
/// `components/schemas` of an OpenAPI 3.1 document.
pub fn components() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let named = [
        (
            "TaskSpec",
            generator.subschema_for::<crate::model::sandbox::TaskSpec>(),
        ),
        (
            "Task",
            generator.subschema_for::<crate::model::sandbox::Task>(),
        ),
        (
            "FileList",
            generator.subschema_for::<Vec<super::browse::Entry>>(),
        ),
        (
            "JobRequest",
            generator.subschema_for::<crate::jobs::model::JobRequest>(),
        ),
        (
            "SearchBody",
            generator.subschema_for::<super::query::SearchBody>(),
        ),
        (
            "LogqlBody",
            generator.subschema_for::<super::query::LogqlBody>(),
        ),
        (
            "TokenRequest",
            generator.subschema_for::<super::token::MintRequest>(),
        ),
        (
            "PolicySpec",
            generator.subschema_for::<crate::retention::policy::PolicySpec>(),
        ),
    ];
    // Named types are definitions (the named schema is a `$ref` to one);
    // the rest (a list, another name) are schemas of their own.
    let mut out = generator.take_definitions(true);
    for (name, schema) in named {
        out.entry(name).or_insert_with(|| schema.to_value());
    }
    out
}
