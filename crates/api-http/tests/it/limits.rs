//! Limits over HTTP: 429 with a message naming the limit.

use agentproc_core::ManagerConfig;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::Api;

#[tokio::test]
async fn over_the_running_limit_is_429() {
    let api = Api::local_with(ManagerConfig {
        max_running: 2,
        max_running_per_chat: Some(1),
        ..ManagerConfig::default()
    });
    let chat = Uuid::new_v4();
    api.start(json!({"command": "sleep 300"}), Some(chat)).await;
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"sleep 300"}"#,
            Some(chat),
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.message(),
        "Too many running processes in this chat: the limit is 1."
    );
    api.start_cmd("sleep 300").await;
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"sleep 300"}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.json,
        json!({"message": "Too many running processes: the limit is 2."})
    );
    assert_eq!(api.list(None).await.len(), 2, "nothing else was started");
    api.close().await;
}

#[tokio::test]
async fn over_the_retained_limit_with_nothing_to_forget_is_429() {
    let api = Api::local_with(ManagerConfig {
        max_retained: 1,
        ..ManagerConfig::default()
    });
    api.start_cmd("sleep 300").await;
    let reply = api
        .post("/api/v0/processes/start", r#"{"command":"true"}"#, None)
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        reply.message().contains("the limit is 1"),
        "{}",
        reply.message()
    );
    api.close().await;
}
