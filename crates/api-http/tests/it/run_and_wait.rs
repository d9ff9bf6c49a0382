//! `POST /start` with `wait_ms`: run and wait in one round trip.

use std::time::Duration;

use agentproc_core::testing::ManualClock;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::Api;

const START: &str = "/api/v0/processes/start";

async fn start(api: &Api, body: Value, chat: Option<Uuid>) -> crate::support::Reply {
    api.post(START, &body.to_string(), chat).await
}

/// Every field of `expected` is in `actual` with the same value.
fn assert_contains(actual: &Value, expected: &Value) {
    for (key, value) in expected.as_object().expect("object") {
        assert_eq!(actual.get(key), Some(value), "field {key} of {actual}");
    }
}

#[tokio::test]
async fn an_exit_within_the_wait_comes_back_with_the_start() {
    let api = Api::local();
    let reply = start(
        &api,
        json!({"command": "echo hi; echo oops >&2; exit 3", "wait_ms": 60_000}),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let answer = &reply.json;
    assert_eq!(answer["started"], true);
    assert_eq!(answer["running"], false);
    assert_eq!(answer["exit_code"], 3);
    assert_eq!(answer["exit_reason"], "exited");
    assert_eq!(answer["wait_result"], "exited");
    assert_eq!(answer["output"], "hi\noops\n");
    // One `pid`, not two (the start's and the output's are the same).
    assert_eq!(reply.body.matches("\"pid\"").count(), 1, "{}", reply.body);
    // Exactly what the waiting read answers, plus the start's own fields.
    let id = answer["id"].as_str().expect("id");
    let read = api.wait(id, None).await;
    assert_contains(answer, &read.json);
    for field in ["id", "started", "started_at_unix"] {
        assert!(answer.get(field).is_some(), "{field} in {answer}");
    }
    api.close().await;
}

#[tokio::test]
async fn without_wait_ms_the_answer_is_unchanged() {
    let api = Api::local();
    for body in [
        json!({"command": "true"}),
        json!({"command": "true", "wait_ms": 0}),
        json!({"command": "true", "wait_ms": null}),
    ] {
        let reply = start(&api, body, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let mut keys: Vec<&str> = reply
            .json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "pid", "started", "started_at_unix"]);
    }
    api.close().await;
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_running_and_leaves_the_process_alone() {
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let waiting = {
        let router = api.router.clone();
        tokio::spawn(async move {
            let request = axum::http::Request::post(START)
                .body(axum::body::Body::from(
                    json!({"command": "echo partial; exec sleep 300", "wait_ms": 2000}).to_string(),
                ))
                .expect("request");
            tower::ServiceExt::oneshot(router, request).await
        })
    };
    clock.wait_for_timers(1).await;
    assert_eq!(clock.next_timer_in(), Some(Duration::from_secs(2)));
    clock.advance(Duration::from_secs(2));
    let response = waiting.await.expect("join").expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let answer: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(answer["started"], true);
    assert_eq!(answer["running"], true);
    assert_eq!(answer["wait_result"], "timeout");
    assert!(answer.get("exit_code").is_none(), "{answer}");
    assert!(answer.get("output").is_none(), "{answer}");
    assert!(answer["pid"].is_u64());
    let id = answer["id"].as_str().expect("id");
    let info = api.output(id, None).await;
    assert_eq!(info.json["running"], true, "the wait never stops it");
    api.close().await;
}

#[tokio::test]
async fn the_wait_is_capped_at_max_wait() {
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let waiting = {
        let router = api.router.clone();
        tokio::spawn(async move {
            let request = axum::http::Request::post(START)
                .body(axum::body::Body::from(
                    json!({"command": "exec sleep 300", "wait_ms": 86_400_000u64}).to_string(),
                ))
                .expect("request");
            tower::ServiceExt::oneshot(router, request).await
        })
    };
    clock.wait_for_timers(1).await;
    assert_eq!(clock.next_timer_in(), Some(Duration::from_secs(300)));
    clock.advance(Duration::from_secs(300));
    let response = waiting.await.expect("join").expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    api.close().await;
}

#[tokio::test]
async fn the_agent_view_comes_with_the_exit() {
    let api = Api::local();
    let reply = start(
        &api,
        json!({
            "command": "seq 1 20000; echo 'error: the build failed' >&2; exit 1",
            "wait_ms": 60_000,
            "view": "agent",
            "max_tokens": 400,
        }),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let answer = &reply.json;
    assert_eq!(answer["exit_code"], 1);
    assert_eq!(answer["view"]["max_tokens"], 400);
    assert!(answer["view"]["tokens"].as_u64().expect("tokens") <= 400);
    let output = answer["output"].as_str().expect("output");
    assert!(output.contains("error: the build failed"), "{output}");
    assert!(
        output.contains("GET /api/v0/processes/"),
        "a marker: {output}"
    );
    let id = answer["id"].as_str().expect("id");
    let read = api
        .get(
            &format!("/api/v0/processes/{id}/output?wait=true&view=agent&max_tokens=400"),
            None,
        )
        .await;
    assert_contains(answer, &read.json);
    api.close().await;
}

#[tokio::test]
async fn bad_wait_options_are_refused_before_anything_starts() {
    let api = Api::local();
    let marker = std::env::temp_dir().join(format!("agentproc-wait-ms-{}", Uuid::new_v4()));
    let command = format!("touch {}", marker.display());
    for (extra, message) in [
        (
            json!({"wait_ms": "soon"}),
            "Request body must be valid JSON.",
        ),
        (json!({"wait_ms": -1}), "Request body must be valid JSON."),
        (json!({"wait_ms": 1.5}), "Request body must be valid JSON."),
        (
            json!({"wait_ms": 1000, "view": "pretty"}),
            "Unsupported view \"pretty\". Use \"agent\" or \"head_tail\".",
        ),
        (
            json!({"wait_ms": 1000, "view": "agent", "max_tokens": 5}),
            "max_tokens must be a whole number from 200 to 32000.",
        ),
        (
            json!({"wait_ms": 1000, "max_tokens": 500}),
            "max_tokens needs \"view\": \"agent\".",
        ),
        (
            json!({"view": "agent"}),
            "view and max_tokens apply to the output of a start that waits: add wait_ms.",
        ),
    ] {
        let mut body = extra.clone();
        body["command"] = json!(command);
        let reply = start(&api, body, None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{extra}: {}",
            reply.body
        );
        assert!(reply.message().contains(message), "{extra}: {}", reply.body);
    }
    assert!(api.list(None).await.is_empty(), "nothing started");
    assert!(!marker.exists());
    api.close().await;
}

#[tokio::test]
async fn a_retry_with_the_same_client_token_attaches_and_carries_the_exit() {
    let api = Api::local();
    let chat = Some(Uuid::new_v4());
    let body = json!({"command": "echo once", "client_token": "run-1", "wait_ms": 60_000});
    let first = start(&api, body.clone(), chat).await;
    assert_eq!(first.json["started"], true, "{}", first.body);
    assert_eq!(first.json["output"], "once\n");
    let second = start(&api, body, chat).await;
    assert_eq!(second.json["attached"], true, "{}", second.body);
    assert_eq!(second.json["id"], first.json["id"]);
    assert_eq!(second.json["output"], "once\n");
    assert_eq!(second.json["exit_code"], 0);
    assert_eq!(api.list(chat).await.len(), 1, "it ran once");
    api.close().await;
}
