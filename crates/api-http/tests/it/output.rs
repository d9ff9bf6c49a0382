//! `GET /{id}/output`.

use std::sync::Arc;
use std::time::Duration;

use agentproc_core::testing::ManualClock;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Api, OUTPUT_FIELDS, coder_fields};

#[tokio::test]
async fn exited_process_output_and_exit_code() {
    let api = Api::local();
    let id = api.start_cmd("echo hello; echo world").await;
    api.wait(&id, None).await;
    let reply = api.output(&id, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        coder_fields(&reply.json, OUTPUT_FIELDS),
        json!({"output": "hello\nworld\n", "running": false, "exit_code": 0})
    );
    assert_eq!(reply.json["exit_reason"], "exited");
    assert!(reply.json["pid"].is_u64());
    api.close().await;
}

#[tokio::test]
async fn running_process_has_no_exit_code() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let reply = api.output(&id, None).await;
    assert_eq!(
        coder_fields(&reply.json, OUTPUT_FIELDS),
        json!({"output": "", "running": true})
    );
    assert!(reply.json["pid"].is_u64());
    assert!(reply.json.get("exit_reason").is_none());
    api.close().await;
}

#[tokio::test]
async fn unknown_processes_are_404_with_the_id_quoted() {
    let api = Api::local();
    let id = Uuid::new_v4();
    let reply = api.output(&id.to_string(), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json,
        json!({"message": format!("Process \"{id}\" not found.")})
    );
    for garbage in ["nope", "%22quoted%22", "%ff%fe", "UPPER-0000", "..", "%2F"] {
        let reply = api.output(garbage, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{garbage}");
        assert!(reply.message().ends_with(" not found."), "{garbage}");
    }
    let reply = api.output("%22quoted%22", None).await;
    assert_eq!(reply.message(), r#"Process "\"quoted\"" not found."#);
    let reply = api.output("%ff", None).await;
    assert_eq!(reply.message(), r#"Process "\xff" not found."#);
    api.close().await;
}

#[tokio::test]
async fn another_chat_gets_the_same_404() {
    let api = Api::local();
    let owner = Uuid::new_v4();
    let id = api
        .start(json!({"command": "echo mine"}), Some(owner))
        .await;
    api.wait(&id, Some(owner)).await;
    let other = api.output(&id, Some(Uuid::new_v4())).await;
    let missing = api.output(&Uuid::new_v4().to_string(), None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.message(), format!("Process \"{id}\" not found."));
    assert_eq!(missing.status, other.status);
    // The owner and requests without a chat can read it.
    assert_eq!(api.output(&id, Some(owner)).await.status, StatusCode::OK);
    assert_eq!(api.output(&id, None).await.status, StatusCode::OK);
    // A waiting read from another chat is refused too.
    let reply = api
        .get(
            &format!("/api/v0/processes/{id}/output?wait=true"),
            Some(Uuid::new_v4()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    api.close().await;
}

#[tokio::test]
async fn processes_without_a_chat_are_readable_from_any_chat() {
    let api = Api::local();
    let id = api.start_cmd("echo shared").await;
    api.wait(&id, None).await;
    assert_eq!(
        api.output(&id, Some(Uuid::new_v4())).await.json["output"],
        "shared\n"
    );
    api.close().await;
}

#[tokio::test]
async fn wait_returns_after_exit_with_all_output() {
    let api = Api::local();
    let id = api.start_cmd("echo before; sleep 0.2; echo after").await;
    let reply = api.wait(&id, None).await;
    assert_eq!(
        coder_fields(&reply.json, OUTPUT_FIELDS),
        json!({"output": "before\nafter\n", "running": false, "exit_code": 0})
    );
    api.close().await;
}

#[tokio::test]
async fn wait_on_an_exited_process_returns_at_once() {
    let api = Api::local();
    let id = api.start_cmd("exit 4").await;
    api.wait(&id, None).await;
    assert_eq!(api.wait(&id, None).await.json["exit_code"], 4);
    api.close().await;
}

#[tokio::test]
async fn only_the_exact_string_true_waits() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    for query in ["wait=TRUE", "wait=1", "wait=yes", "wait", "wait=true%20"] {
        let reply = api
            .get(&format!("/api/v0/processes/{id}/output?{query}"), None)
            .await;
        assert_eq!(reply.json["running"], true, "{query} must not block");
    }
    api.close().await;
}

#[tokio::test]
async fn wait_gives_up_at_the_cap_with_a_running_snapshot() {
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let id = api.start_cmd("echo partial; exec sleep 300").await;
    let waiting = {
        let router = api.router.clone();
        let path = format!("/api/v0/processes/{id}/output?wait=true");
        tokio::spawn(async move {
            let request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("request");
            tower::ServiceExt::oneshot(router, request).await
        })
    };
    clock.wait_for_timers(1).await;
    assert_eq!(clock.next_timer_in(), Some(Duration::from_secs(300)));
    clock.advance(Duration::from_secs(300));
    let response = waiting.await.expect("join").expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["running"], true);
    assert!(json.get("exit_code").is_none());
    api.close().await;
}

#[tokio::test]
async fn concurrent_waiters_all_wake_on_kill() {
    // On a manual clock each waiting request arms a timer, so the test knows
    // all of them are waiting before it kills the process.
    let clock = ManualClock::default();
    let api = Arc::new(Api::manual(&clock));
    let id = api.start_cmd("sleep 300").await;
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let api = Arc::clone(&api);
            let id = id.clone();
            tokio::spawn(async move { api.wait(&id, None).await.json })
        })
        .collect();
    clock.wait_for_timers(4).await;
    assert_eq!(api.signal(&id, "kill", None).await.status, StatusCode::OK);
    for waiter in waiters {
        let json = waiter.await.expect("join");
        assert_eq!(json["running"], false);
        assert_eq!(json["exit_code"], -1);
    }
    Arc::try_unwrap(api).ok().expect("sole owner").close().await;
}

#[tokio::test]
async fn large_output_is_truncated_head_and_tail() {
    let api = Api::local();
    let id = api
        .start_cmd(
            "i=0; while [ $i -lt 4000 ]; do echo \"line $i of the output\"; i=$((i+1)); done",
        )
        .await;
    let reply = api.wait(&id, None).await;
    let output = reply.json["output"].as_str().expect("output");
    let truncated = &reply.json["truncated"];
    assert_eq!(truncated["strategy"], "head_tail");
    assert!(truncated["omitted_bytes"].as_u64().expect("omitted") > 0);
    assert!(
        truncated["original_bytes"].as_u64().expect("original")
            > truncated["retained_bytes"].as_u64().expect("retained")
    );
    assert_eq!(
        truncated["retained_bytes"].as_u64(),
        Some(output.len() as u64)
    );
    assert!(output.starts_with("line 0 of the output\n"));
    assert!(output.contains("... [omitted "));
    assert!(output.ends_with("line 3999 of the output\n"));
    api.close().await;
}
