//! MCP over Streamable HTTP: [`router`] serves `POST /mcp` statelessly (no
//! sessions; a handler per request, every one sharing the same
//! [`McpServer`]). Meant to be merged into `agentproc serve`'s router,
//! behind its middleware (the bearer token, the cross-origin guard, body
//! limits, the access log); it also checks `Host` against DNS rebinding
//! and refuses any `Origin` itself, as the MCP specification asks.

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::McpServer;

/// Where the MCP endpoint is served.
pub const MCP_PATH: &str = "/mcp";

/// The host names a loopback server answers to: requests naming another
/// host (a DNS rebinding attack makes a browser send its own domain) are
/// refused.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How `/mcp` is served.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The `Host` values accepted (a name or `name:port`; a name without a
    /// port matches any port). Empty: any host (for servers reached by
    /// names nobody can list, such as a Unix socket's).
    pub allowed_hosts: Vec<String>,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Cancelled at shutdown: open answers end.
    pub shutdown: CancellationToken,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: LOOPBACK_HOSTS
                .iter()
                .map(|host| (*host).to_owned())
                .collect(),
            max_body_bytes: 1 << 20,
            shutdown: CancellationToken::new(),
        }
    }
}

/// A router serving `server` at [`MCP_PATH`]: JSON answers (no server-sent
/// events are needed: tools answer once), every protocol revision rmcp
/// knows (the stateless 2026-07-28 and the earlier ones, whose sessions
/// are not kept: ids are the only state), `Origin` refused.
pub fn router(server: McpServer, config: HttpConfig) -> Router {
    let rmcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(config.allowed_hosts)
        .enforce_origin_validation()
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_cancellation_token(config.shutdown);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        rmcp_config,
    );
    Router::new().route_service(MCP_PATH, service)
}
