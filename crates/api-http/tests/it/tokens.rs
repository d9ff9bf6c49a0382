//! Exactly-once starts over HTTP: `client_token` and `GET /tokens/{token}`.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::Api;

#[tokio::test]
async fn a_retried_start_attaches_instead_of_running_again() {
    let api = Api::local();
    let body = json!({"command": "echo ran", "client_token": "tool-call-1"}).to_string();
    let first = api.post("/api/v0/processes/start", &body, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json["started"], true);
    assert!(first.json.get("attached").is_none());
    assert_eq!(first.json["client_token"], "tool-call-1");
    let id = first.json["id"].as_str().expect("id").to_owned();
    api.wait(&id, None).await;

    let retry = api.post("/api/v0/processes/start", &body, None).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["id"], id.as_str());
    assert_eq!(retry.json["started"], false);
    assert_eq!(retry.json["attached"], true);
    assert_eq!(retry.json["client_token"], "tool-call-1");
    assert_eq!(retry.json["started_at_unix"], first.json["started_at_unix"]);
    // It ran once.
    assert_eq!(api.output(&id, None).await.json["output"], "ran\n");
    assert_eq!(api.list(None).await.len(), 1);
    api.close().await;
}

#[tokio::test]
async fn a_token_reused_with_other_parameters_is_409() {
    let api = Api::local();
    api.start(json!({"command": "true", "client_token": "t"}), None)
        .await;
    let reply = api
        .post(
            "/api/v0/processes/start",
            &json!({"command": "rm -rf build", "client_token": "t"}).to_string(),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json,
        json!({"message": "Client token was already used to start a process with different parameters."})
    );
    api.close().await;
}

#[tokio::test]
async fn the_probe_finds_tokens_by_escaped_path_within_the_chat() {
    let api = Api::local();
    let chat = Uuid::new_v4();
    let token = "tok/with reserved?bytes";
    let id = api
        .start(
            json!({"command": "true", "client_token": token}),
            Some(chat),
        )
        .await;
    let escaped = "tok%2Fwith%20reserved%3Fbytes";
    let found = api
        .get(&format!("/api/v0/processes/tokens/{escaped}"), Some(chat))
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json["found"], true);
    assert_eq!(found.json["process_id"], id.as_str());
    assert!(found.json.get("pending").is_none());
    assert!(found.json["token_index_age_ms"].is_u64());

    let other_chat = api
        .get(
            &format!("/api/v0/processes/tokens/{escaped}"),
            Some(Uuid::new_v4()),
        )
        .await;
    assert_eq!(other_chat.status, StatusCode::OK);
    assert_eq!(other_chat.json["found"], false);
    assert!(other_chat.json.get("process_id").is_none());

    let unknown = api.get("/api/v0/processes/tokens/never-used", None).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.json["found"], false);
    let invalid = api.get("/api/v0/processes/tokens/%ff", None).await;
    assert_eq!(invalid.status, StatusCode::OK);
    assert_eq!(invalid.json["found"], false);
    api.close().await;
}

#[tokio::test]
async fn a_failed_tokened_start_is_remembered() {
    let api = Api::local();
    let body = json!({"command": "true", "workdir": "/agentproc/missing", "client_token": "t"})
        .to_string();
    let first = api.post("/api/v0/processes/start", &body, None).await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    let retry = api.post("/api/v0/processes/start", &body, None).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["attached"], true);
    let id = retry.json["id"].as_str().expect("id");
    let output = api.output(id, None).await;
    assert_eq!(output.json["running"], false);
    assert_eq!(output.json["exit_code"], -1);
    assert_eq!(output.json["exit_reason"], "spawn_failed");
    assert_eq!(
        output.json["error"],
        "start process: chdir /agentproc/missing: no such file or directory"
    );
    api.close().await;
}
