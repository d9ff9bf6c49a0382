//! Terminal requests over HTTP against executors that cannot give one, and
//! the wire shape of terminal fields (with the fake executor, in process).

use std::sync::Arc;

use agentproc_api_http::ApiConfig;
use agentproc_core::ManagerConfig;
use agentproc_core::clock::SystemClock;
use agentproc_core::testing::FakeExecer;
use axum::http::StatusCode;

use crate::support::Api;

#[tokio::test]
async fn a_terminal_on_an_executor_without_terminals_is_a_400() {
    let execer = FakeExecer::default();
    execer.refuse_terminals();
    let api = Api::build(
        ManagerConfig::default(),
        Arc::new(execer.clone()),
        Arc::new(SystemClock),
        ApiConfig::default(),
    );
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"python3","tty":true}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        reply.message(),
        "This agentproc's fake executor cannot run commands on a terminal (\"tty\")."
    );
    assert!(execer.spawned().is_empty(), "nothing ran");
    // `"tty": false` is no terminal at all.
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"true","tty":false}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    api.close().await;
}

#[tokio::test]
async fn a_terminal_process_reports_its_size_and_input_state() {
    let execer = FakeExecer::default();
    let api = Api::build(
        ManagerConfig::default(),
        Arc::new(execer.clone()),
        Arc::new(SystemClock),
        ApiConfig::default(),
    );
    let id = api
        .start(
            serde_json::json!({"command": "python3", "tty": {"rows": 10, "cols": 20}}),
            None,
        )
        .await;
    let child = execer.next_spawn().await;
    child.write(b">>> ");
    child.wait_output_read().await;
    let listed = api.get("/api/v0/processes/list", None).await;
    let process = &listed.json["processes"][0];
    assert_eq!(process["tty"], serde_json::json!({"rows": 10, "cols": 20}));
    assert_eq!(process["awaiting_input"], false);
    assert!(process.get("input_kind").is_none());
    let screen = api
        .get(&format!("/api/v0/processes/{id}/screen?scrollback=5"), None)
        .await;
    assert_eq!(screen.status, StatusCode::OK, "{}", screen.body);
    assert_eq!(screen.json["lines"][0], ">>>");
    assert_eq!(screen.json["scrollback"], serde_json::json!([]));
    let bad = api
        .get(&format!("/api/v0/processes/{id}/screen?scrollback=x"), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unsupported = api
        .get(&format!("/api/v0/processes/{id}/output?until=typing"), None)
        .await;
    assert_eq!(
        unsupported.message(),
        "Unsupported until \"typing\". Use \"exit\", \"output\", \"match\", \"idle\" or \"input\"."
    );
    api.close().await;
}
