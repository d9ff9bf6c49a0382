//! `agentproc-api-mcp`: the MCP face of agentproc. AI agents' hosts (Claude
//! Code, Codex, any MCP client) get seven tools to run and follow shell
//! commands: `process_start`, `process_output`, `process_input`,
//! `process_signal`, `process_list`, `process_search` and `process_screen`
//! (see [`tools`] and `docs/API.md`, section "MCP").
//!
//! [`McpServer`] is the service (built on `rmcp`, the official Rust SDK):
//! it checks arguments, keeps each process's implicit read cursor, and
//! answers every call twice, as text for the model (a status line, then
//! the output as an agent view within a token budget) and as
//! `structuredContent` matching the tool's `outputSchema`. It acts through
//! a [`Backend`]: [`Embedded`] calls a [`Manager`](agentproc_core::Manager)
//! in this process; the `agentproc` binary adds one that calls a running
//! `agentproc serve` over HTTP. Transports: [`serve_io`] (stdio, or any
//! byte stream) and [`http::router`] (Streamable HTTP at `/mcp`).
//!
//! What it deliberately does not do: read configuration, environment
//! variables or files, bind sockets, spawn processes, or share handler
//! code with the HTTP API (only the agent view's helper in
//! `agentproc-view`).

mod backend;
mod cursors;
mod embedded;
pub mod http;
mod render;
pub mod results;
mod server;
pub mod tools;

pub use backend::{
    Backend, BackendError, Caller, ExitState, Hit, InputSpec, NumberedLine, ProcessState,
    ProcessSummary, ReadSpec, ScreenState, SearchHits, SearchSpec, StartSpec, Started, ViewRead,
    ViewStats, Wait, WaitFor,
};
pub use embedded::Embedded;
pub use server::{
    ANCESTOR_CHAT_IDS_HEADER, CHAT_ID_HEADER, DEFAULT_WAIT, MAX_WAIT, McpConfig, McpServer,
};

/// Why serving over a byte stream ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The client spoke, but not MCP (or the transport failed) before the
    /// session began.
    #[error("the MCP session could not begin: {0}")]
    Begin(#[source] Box<rmcp::service::ServerInitializeError>),
    /// The service task failed.
    #[error("the MCP service failed: {0}")]
    Service(#[source] tokio::task::JoinError),
}

/// Serves `server` over `read` and `write` (newline-delimited JSON-RPC, as
/// on stdio) until the client closes its side. A client that closes
/// before saying anything is a clean end too.
///
/// # Errors
/// When the client sends something other than MCP first, or the service
/// fails.
pub async fn serve_io<R, W>(server: McpServer, read: R, write: W) -> Result<(), ServeError>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use rmcp::ServiceExt as _;
    let running = match server.serve((read, write)).await {
        Ok(running) => running,
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(error) => return Err(ServeError::Begin(Box::new(error))),
    };
    running.waiting().await.map_err(ServeError::Service)?;
    Ok(())
}
