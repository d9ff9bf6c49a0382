//! `POST /{id}/signal`, including Coder's validation order.

use std::time::Duration;

use agentproc_core::ManagerConfig;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Api, Fifo, read_pids, survivors};

#[tokio::test]
async fn kill_ends_a_running_process() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let reply = api.signal(&id, "kill", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json,
        json!({"message": format!("Signal \"kill\" sent to process \"{id}\".")})
    );
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["running"], false);
    assert_eq!(done.json["exit_code"], -1, "Go reports -1 for a signal");
    api.close().await;
}

#[tokio::test]
async fn terminate_ends_a_running_process() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    assert_eq!(
        api.signal(&id, "terminate", None).await.status,
        StatusCode::OK
    );
    assert_eq!(api.wait(&id, None).await.json["exit_code"], -1);
    api.close().await;
}

#[tokio::test]
async fn signals_reach_the_whole_group() {
    // A drain grace longer than the wait cap: the wait can only see the
    // process exit if every holder of the output pipe died.
    let api = Api::local_with(ManagerConfig {
        pipe_drain_grace: Duration::from_secs(3600),
        ..ManagerConfig::default()
    });
    let fifo = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "sleep 300 & a=$!; sleep 300 & echo $a $! > {}; wait",
            fifo.path()
        ))
        .await;
    // The sleeps exist before the signal is sent.
    let pids = read_pids(&fifo).await;
    assert_eq!(
        api.signal(&id, "terminate", None).await.status,
        StatusCode::OK
    );
    let done = api.wait(&id, None).await;
    assert_eq!(
        done.json["running"], false,
        "the grandchildren still hold the pipe"
    );
    assert_eq!(done.json["exit_reason"], "killed");
    assert!(survivors(pids).await.is_empty());
    api.close().await;
}

#[tokio::test]
async fn unknown_process_is_404() {
    let api = Api::local();
    let id = Uuid::new_v4();
    let reply = api.signal(&id.to_string(), "kill", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.message(), format!("Process \"{id}\" not found."));
    api.close().await;
}

#[tokio::test]
async fn exited_process_is_409() {
    let api = Api::local();
    let id = api.start_cmd("true").await;
    api.wait(&id, None).await;
    let reply = api.signal(&id, "kill", None).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json,
        json!({"message": format!("Process \"{id}\" is not running.")})
    );
    api.close().await;
}

#[tokio::test]
async fn empty_and_unsupported_signals_are_400() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let path = format!("/api/v0/processes/{id}/signal");
    let reply = api.post(&path, r#"{"signal":""}"#, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json, json!({"message": "Signal is required."}));
    let reply = api.post(&path, "{}", None).await;
    assert_eq!(reply.message(), "Signal is required.");
    for bad in ["SIGFOO", "SIGKILL", "KILL", "Kill", "9", "int", "usr1"] {
        let reply = api.signal(&id, bad, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            reply.message(),
            format!(
                "Unsupported signal \"{bad}\". Use \"kill\", \"terminate\", \"interrupt\" or \"hangup\"."
            )
        );
    }
    let reply = api.post(&path, "{bad json", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.message(), "Request body must be valid JSON.");
    // None of that touched the process.
    assert_eq!(api.output(&id, None).await.json["running"], true);
    api.close().await;
}

#[tokio::test]
async fn validation_order_follows_coder() {
    let api = Api::local();
    let owner = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    let id = api
        .start(json!({"command": "sleep 300"}), Some(owner))
        .await;
    let path = format!("/api/v0/processes/{id}/signal");

    // 1. Chat isolation first: even a malformed body gets the 404.
    let reply = api.post(&path, "{bad json", Some(stranger)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // 2. Then JSON, 3. empty, 4. unsupported: before the existence check.
    let unknown = format!("/api/v0/processes/{}/signal", Uuid::new_v4());
    assert_eq!(
        api.post(&unknown, "{bad", None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.post(&unknown, r#"{"signal":""}"#, None).await.message(),
        "Signal is required."
    );
    assert_eq!(
        api.post(&unknown, r#"{"signal":"hup"}"#, None).await.status,
        StatusCode::BAD_REQUEST
    );
    // 5. Then unknown → 404.
    assert_eq!(
        api.post(&unknown, r#"{"signal":"kill"}"#, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A garbage id gets the same treatment as an unknown one.
    let garbage = "/api/v0/processes/not-an-id/signal";
    assert_eq!(
        api.post(garbage, "{bad", None).await.status,
        StatusCode::BAD_REQUEST
    );
    let reply = api.post(garbage, r#"{"signal":"kill"}"#, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.message(), "Process \"not-an-id\" not found.");
    // The owner, and a request without chat, may signal.
    assert_eq!(
        api.signal(&id, "kill", Some(owner)).await.status,
        StatusCode::OK
    );
    api.close().await;
}
