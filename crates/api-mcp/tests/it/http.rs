//! `/mcp` over Streamable HTTP, called in process: plain JSON-RPC posts,
//! as a client of an earlier protocol revision sends them (no session),
//! with the chat headers, and the DNS-rebinding guards.

use std::sync::Arc;

use agentproc_api_mcp::http::{HttpConfig, router};
use agentproc_api_mcp::{CHAT_ID_HEADER, Embedded, McpConfig, McpServer};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Endpoint {
    router: Router,
    manager: agentproc_core::Manager,
}

impl Endpoint {
    fn new() -> Self {
        let manager = crate::manager();
        let server = McpServer::new(
            Arc::new(Embedded::new(manager.clone())),
            McpConfig::default(),
        );
        Self {
            router: router(server, HttpConfig::default()),
            manager,
        }
    }

    /// Posts one JSON-RPC message; returns the status and the JSON body.
    async fn post(&self, headers: &[(&str, &str)], message: Value) -> (StatusCode, Value) {
        let mut request = Request::post("/mcp")
            .header("host", "127.0.0.1:4242")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Body::from(message.to_string()))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// Calls `tool` as `chat`; returns the result object.
    async fn call(&self, chat: Option<Uuid>, tool: &str, arguments: Value) -> Value {
        let chat = chat.map(|chat| chat.to_string());
        let headers: Vec<(&str, &str)> = chat
            .as_deref()
            .map(|chat| (CHAT_ID_HEADER, chat))
            .into_iter()
            .collect();
        let (status, body) = self
            .post(
                &headers,
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"].clone()
    }
}

#[tokio::test]
async fn initialize_list_and_call_without_a_session() {
    let endpoint = Endpoint::new();
    let (status, body) = endpoint
        .post(
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(body["result"]["serverInfo"]["name"], "agentproc");
    assert!(body["result"]["capabilities"]["tools"].is_object());

    let (status, body) = endpoint
        .post(
            &[],
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["tools"].as_array().map(Vec::len), Some(7));

    let result = endpoint
        .call(None, "process_start", json!({"command": "echo hi; exit 3"}))
        .await;
    assert_eq!(result["isError"], false);
    assert_eq!(result["structuredContent"]["exit_code"], 3);
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("exit 3 (exited)"), "{text}");

    // The implicit cursor lives in the shared server, not the per-request
    // handler: the next read has nothing new.
    let id = result["structuredContent"]["id"].clone();
    let again = endpoint
        .call(None, "process_output", json!({"id": id}))
        .await;
    assert_eq!(again["structuredContent"]["output"], "");
    assert_eq!(again["structuredContent"]["cursor"], 3);
    endpoint.manager.close().await;
}

#[tokio::test]
async fn the_chat_header_scopes_what_a_call_sees() {
    let endpoint = Endpoint::new();
    let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
    let started = endpoint
        .call(
            Some(mine),
            "process_start",
            json!({"command": "echo $CODER_CHAT_ID"}),
        )
        .await;
    let id = started["structuredContent"]["id"].clone();
    assert_eq!(started["structuredContent"]["output"], format!("{mine}\n"));
    let listed = endpoint.call(Some(mine), "process_list", json!({})).await;
    assert_eq!(listed["structuredContent"]["processes"][0]["id"], id);
    let listed = endpoint.call(Some(other), "process_list", json!({})).await;
    assert_eq!(listed["structuredContent"]["processes"], json!([]));
    let hidden = endpoint
        .call(Some(other), "process_output", json!({"id": id}))
        .await;
    assert_eq!(hidden["isError"], true);
    let text = hidden["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("No process with id"), "{text}");
    endpoint.manager.close().await;
}

#[tokio::test]
async fn rebinding_and_cross_origin_requests_are_refused() {
    let endpoint = Endpoint::new();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let request = |host: &str, origin: Option<&str>| {
        let mut request = Request::post("/mcp")
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.body(Body::from(list.to_string())).expect("request")
    };
    for (host, origin) in [
        ("evil.example:4242", None),
        ("127.0.0.1:4242", Some("http://evil.example")),
        ("localhost:4242", Some("http://localhost:4242")),
    ] {
        let response = endpoint
            .router
            .clone()
            .oneshot(request(host, origin))
            .await
            .expect("infallible");
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "host {host}, origin {origin:?}"
        );
    }
    let response = endpoint
        .router
        .clone()
        .oneshot(request("localhost:4242", None))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    endpoint.manager.close().await;
}
