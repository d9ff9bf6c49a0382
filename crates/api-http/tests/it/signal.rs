//! `POST /{id}/signal`, including Coder's validation order.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::Api;

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
    let api = Api::local();
    // The shell waits on two background sleeps; both hold the output pipe.
    let id = api.start_cmd("sleep 300 & sleep 300 & wait").await;
    assert_eq!(
        api.signal(&id, "terminate", None).await.status,
        StatusCode::OK
    );
    // `running` turns false only once every pipe holder is gone, so this
    // returns only if the grandchildren died too (well before the 5 s drain
    // grace would have reported -1 regardless).
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["running"], false);
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
