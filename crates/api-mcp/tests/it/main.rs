//! Tests of the MCP service driven by rmcp's own client, in process: over a
//! byte stream (as on stdio) and over Streamable HTTP (the router called
//! with `oneshot`), with real processes through the local executor. Waits
//! are on events (an exit, a ready line, a program waiting for input),
//! never on time.

mod http;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use agentproc_api_mcp::{Embedded, McpConfig, McpServer, serve_io};
use agentproc_core::clock::SystemClock;
use agentproc_core::exec::Env;
use agentproc_core::{Manager, ManagerConfig};
use agentproc_exec_local::LocalExecer;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServiceError, ServiceExt};
use serde_json::Value;

/// A fresh log store in a temporary directory.
fn log_store() -> Arc<agentproc_core::log::LogStore> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "agentproc-mcp-logs-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    agentproc_core::log::LogStore::open(agentproc_core::log::LogConfig {
        dir,
        max_bytes_per_process: 64 << 20,
        max_total_bytes: 1 << 30,
    })
    .expect("log store")
}

/// A manager running real processes, with the test's environment (so `sh`
/// finds its tools) and full logs.
fn manager() -> Manager {
    let env: Env = std::env::vars_os().collect();
    Manager::new(
        ManagerConfig {
            base_env: env,
            logs: Some(log_store()),
            input_settle: Duration::from_millis(200),
            ..ManagerConfig::default()
        },
        Arc::new(LocalExecer::default()),
        Arc::new(SystemClock),
    )
}

/// An MCP client connected to a server over an in-memory byte stream.
struct Session {
    client: RunningService<RoleClient, ()>,
    manager: Manager,
}

impl Session {
    async fn embedded() -> Self {
        Self::with_config(McpConfig::default()).await
    }

    async fn with_config(config: McpConfig) -> Self {
        let manager = manager();
        let server = McpServer::new(Arc::new(Embedded::new(manager.clone())), config);
        let client = connect(server).await;
        Self { client, manager }
    }

    /// Calls `tool`; a protocol error fails the test.
    async fn call(&self, tool: &'static str, arguments: Value) -> Answer {
        match self.try_call(tool, arguments).await {
            Ok(answer) => answer,
            Err(error) => panic!("{tool} failed at the protocol level: {error}"),
        }
    }

    async fn try_call(&self, tool: &'static str, arguments: Value) -> Result<Answer, ServiceError> {
        let arguments: JsonObject = match arguments {
            Value::Object(object) => object,
            other => panic!("arguments must be an object, not {other}"),
        };
        let result = self
            .client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
            .await?;
        Ok(Answer::from(result))
    }

    async fn close(self) {
        let _ = self.client.cancel().await;
        self.manager.close().await;
    }
}

/// Connects rmcp's client to `server` through a duplex pipe.
async fn connect(server: McpServer) -> RunningService<RoleClient, ()> {
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_side);
    tokio::spawn(async move {
        let _ = serve_io(server, read, write).await;
    });
    let (read, write) = tokio::io::split(client_side);
    ().serve((read, write))
        .await
        .expect("the MCP session begins")
}

/// A tool's answer.
#[derive(Debug)]
struct Answer {
    text: String,
    structured: Value,
    is_error: bool,
}

impl From<CallToolResult> for Answer {
    fn from(result: CallToolResult) -> Self {
        let text = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            text,
            structured: result.structured_content.unwrap_or(Value::Null),
            is_error: result.is_error == Some(true),
        }
    }
}

impl Answer {
    /// The answer of a call that must succeed.
    fn ok(self) -> Self {
        assert!(!self.is_error, "unexpected tool error: {}", self.text);
        self
    }

    /// The message of a call that must fail.
    fn error(self) -> String {
        assert!(self.is_error, "expected a tool error, got: {}", self.text);
        assert_eq!(self.structured, Value::Null, "errors carry no structure");
        self.text
    }

    fn id(&self) -> String {
        self.structured["id"]
            .as_str()
            .expect("an id in the answer")
            .to_owned()
    }
}
