//! `agentproc-api-http`: the HTTP face of agentproc.
//!
//! [`router`] builds an axum [`Router`] with Coder's process API under
//! `/api/v0/processes` (`POST /start`, `GET /list`, `GET /{id}/output`,
//! `POST /{id}/signal`), wire-compatible with Coder's Go client: the same
//! routes, JSON field names, status codes and message strings, JSON encoded
//! as Go's `httpapi.Write` does (HTML-escaped, newline-terminated,
//! `application/json; charset=utf-8`). `docs/API.md` is the reference.
//!
//! Handlers are thin: they parse, call the [`Manager`], and convert. Wire
//! types (DTOs) live only in this crate; the domain types of
//! `agentproc-core` know nothing of JSON.
//!
//! What it deliberately does not do: bind sockets, read configuration, or
//! choose an executor (that is the `agentproc` binary).

mod agent_view;
mod chat;
mod dto;
mod error;
mod extract;
mod health;
mod isolation;
mod json;
mod metrics;
mod middleware;
pub mod openapi;
mod output;
mod processes;
pub mod quote;
mod terminal;
mod ui;

pub use isolation::parse as parse_isolation;

use std::sync::Arc;
use std::time::Duration;

use agentproc_core::Manager;
use axum::Router;

pub use chat::{ANCESTOR_CHAT_IDS_HEADER, CHAT_ID_HEADER};
pub use metrics::{Metrics, REVISION};

/// Default for [`ApiConfig::max_wait`]: Coder's `maxWaitDuration`.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// Default for [`ApiConfig::list_limit`]: Coder's `maxListProcesses`.
pub const DEFAULT_LIST_LIMIT: usize = 10;
/// Default for [`ApiConfig::max_body_bytes`].
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default for [`ApiConfig::stream_keepalive`].
pub const DEFAULT_STREAM_KEEPALIVE: Duration = Duration::from_secs(15);
/// Default for [`ApiConfig::request_read_timeout`].
pub const DEFAULT_REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How the HTTP layer behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The longest a `?wait=true` request blocks before answering with a
    /// snapshot.
    pub max_wait: Duration,
    /// The most processes `GET /list` returns.
    pub list_limit: usize,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// How often a quiet stream sends a keep-alive comment (more than
    /// zero).
    pub stream_keepalive: Duration,
    /// How long a client has to send a request's body once its headers
    /// arrived (408 after). The server loop applies the same limit to
    /// headers.
    pub request_read_timeout: Duration,
    /// When set, every route but `/healthz` needs `Authorization: Bearer
    /// <token>`.
    pub token: Option<BearerToken>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_wait: DEFAULT_MAX_WAIT,
            list_limit: DEFAULT_LIST_LIMIT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            stream_keepalive: DEFAULT_STREAM_KEEPALIVE,
            request_read_timeout: DEFAULT_REQUEST_READ_TIMEOUT,
            token: None,
        }
    }
}

/// A secret clients must present. `Debug` does not show it.
#[derive(Clone)]
pub struct BearerToken(std::sync::Arc<str>);

impl BearerToken {
    /// A token; `None` when `token` is empty.
    pub fn new(token: &str) -> Option<Self> {
        (!token.is_empty()).then(|| Self(token.into()))
    }

    /// Whether `presented` is this token, in time that depends only on
    /// their lengths (not on where they first differ).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if presented.len() != expected.len() {
            return false;
        }
        expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The process manager.
    pub manager: Manager,
    /// The HTTP layer's settings.
    pub config: ApiConfig,
    /// What `GET /metrics` reports.
    pub metrics: Arc<Metrics>,
    /// When the server started (for `/healthz`'s uptime).
    pub started: std::time::Instant,
    /// The web page's login sessions.
    pub(crate) sessions: Arc<ui::Sessions>,
}

impl ApiState {
    /// State with the default [`ApiConfig`].
    pub fn new(manager: Manager) -> Self {
        Self::with_config(manager, ApiConfig::default())
    }

    /// State with `config`; metrics are fed by `manager`'s events from now
    /// on.
    pub fn with_config(manager: Manager, config: ApiConfig) -> Self {
        Self {
            metrics: Metrics::attach(&manager),
            manager,
            config,
            started: std::time::Instant::now(),
            sessions: Arc::default(),
        }
    }
}

/// The complete router: the process API, the JSON 404/405 fallbacks, and
/// the middleware (access log, cross-origin guard, panic guard).
pub fn router(state: ApiState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with `extra` routes (another front end, such as MCP at
/// `/mcp`) served behind the same middleware: the token check, the
/// cross-origin guard, body limits, the access log and metrics.
pub fn router_with(state: ApiState, extra: Router) -> Router {
    let max_body_bytes = state.config.max_body_bytes;
    let request_read_timeout = state.config.request_read_timeout;
    let metrics = Arc::clone(&state.metrics);
    let token_required = state.config.token.is_some();
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route(
            "/api/openapi.json",
            axum::routing::get(openapi::openapi_json),
        )
        .nest("/api/v0/processes", processes::routes())
        .merge(ui::routes())
        .with_state(state.clone())
        .merge(extra)
        .fallback(middleware::route_not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            max_body_bytes,
            middleware::refuse_oversized_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            middleware::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            token_required,
            middleware::refuse_cross_origin,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            request_read_timeout,
            middleware::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            middleware::access_log,
        ))
        .layer(axum::middleware::from_fn(middleware::catch_panic))
}
