//! `GET /healthz`: liveness plus what the executor does to processes (the
//! sandbox's cgroup backend, enforceable limits, defaults and maxima,
//! niceness, OOM score, rlimits, warnings). Not chat-scoped: it says nothing
//! about any process.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::ApiState;
use crate::dto::LimitsDto;
use crate::json;

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    revision: &'static str,
    uptime_seconds: u64,
    running: usize,
    retained: usize,
    executor: Executor,
}

#[derive(Debug, Serialize)]
struct Executor {
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroups: Option<String>,
    enforceable_limits: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_limits: Option<LimitsDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_limits: Option<LimitsDto>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    settings: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

pub(crate) async fn healthz(State(state): State<ApiState>) -> Response {
    let report = state.manager.executor_report();
    let (running, retained) = state.manager.counts();
    json::respond(
        StatusCode::OK,
        &Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            revision: crate::REVISION,
            uptime_seconds: state.started.elapsed().as_secs(),
            running,
            retained,
            executor: Executor {
                kind: report.kind,
                cgroups: report.cgroups,
                enforceable_limits: report.enforceable,
                default_limits: LimitsDto::of(report.default_limits),
                max_limits: LimitsDto::of(report.max_limits),
                settings: report.settings.into_iter().collect(),
                warnings: report.warnings,
            },
        },
    )
}
