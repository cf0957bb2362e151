//! `/loki/api/v1/drilldown-limits`: what Logs Drilldown reads before its
//! first screen, in Loki 3's shape (`{limits, pattern_ingester_enabled,
//! version}`), filled with what this API does: the entries a query may
//! return, patterns served, volume from the index, and Loki's default
//! discovery lists for `service_name` and `detected_level`.

use crate::env::Env;
use crate::model::derive::{LEVEL_FIELDS, SERVICE_NAME_SOURCES};
use crate::web::message::Response;
use crate::web::problem::Problem;
use http::StatusCode;
use serde_json::json;

/// `drilldown-limits`.
pub(super) fn drilldown(env: &Env) -> Result<Response, Problem> {
    let budget_s = env.config.query_budget_ms()? / 1000;
    let limits = json!({
        "discover_log_levels": true,
        "discover_service_name": SERVICE_NAME_SOURCES,
        "log_level_fields": LEVEL_FIELDS,
        "max_entries_limit_per_query": 5000,
        "max_line_size_truncate": false,
        "max_query_bytes_read": "0B",
        "max_query_length": "30d1h",
        "max_query_lookback": "0s",
        "max_query_range": "0s",
        "max_query_series": 500,
        "metric_aggregation_enabled": false,
        "otlp_config": {"resource_attributes": {"attributes_config": []}},
        "pattern_persistence_enabled": false,
        "query_timeout": format!("{}s", budget_s.max(1)),
        "retention_period": "0s",
        "volume_enabled": true,
        "volume_max_series": 1000,
    });
    let body = json!({
        "limits": limits,
        "pattern_ingester_enabled": true,
        "version": format!("{}-spin-logs", env!("CARGO_PKG_VERSION")),
    });
    Ok(Response::json(StatusCode::OK, &body))
}
