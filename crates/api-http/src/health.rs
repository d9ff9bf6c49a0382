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

/// `GET /healthz` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: &'static str,
    /// agentproc's version.
    version: &'static str,
    /// The git revision it was built from (`unknown` outside a checkout).
    revision: &'static str,
    /// Seconds since the server started.
    uptime_seconds: u64,
    /// Processes running now.
    running: usize,
    /// Processes known (running and exited, not yet forgotten).
    retained: usize,
    /// What the executor does to processes.
    executor: Executor,
}

/// The executor's report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExecutorReport)]
struct Executor {
    /// `local` or `sandbox`.
    kind: String,
    /// The sandbox's cgroup backend: `v2`, `v1`, `hybrid` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroups: Option<String>,
    /// The `limits` a start may ask for here.
    enforceable_limits: Vec<&'static str>,
    /// Limits applied when a start asks for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    default_limits: Option<LimitsDto>,
    /// The most a start may ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_limits: Option<LimitsDto>,
    /// Niceness, OOM score, rlimits and the like, as text.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    settings: BTreeMap<String, String>,
    /// Problems found at startup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// Per-command isolation, for executors that offer it.
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation: Option<IsolationReport>,
}

/// What the executor can do to isolate commands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct IsolationReport {
    /// The mechanisms a policy is enforced with (empty when isolation is
    /// unavailable here).
    mechanisms: Vec<&'static str>,
    /// Why isolation is unavailable here, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
    /// The policy of starts that name none (`"workspace"` or a policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    default: Option<serde_json::Value>,
    /// The floor no start may go below.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    minimum: Option<serde_json::Value>,
}

/// Liveness and version.
///
/// Also what the executor does to processes (cgroup backend, limits,
/// niceness, warnings). Open even when a token is configured.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "agentproc is up.", body = Health))
)]
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
                isolation: report.isolation.map(|isolation| IsolationReport {
                    mechanisms: isolation.mechanisms,
                    unavailable: isolation.unavailable,
                    default: isolation
                        .default
                        .as_ref()
                        .map(crate::isolation::request_value),
                    minimum: isolation
                        .minimum
                        .as_ref()
                        .map(crate::isolation::request_value),
                }),
            },
        },
    )
}
