//! Wire details: encoding, content type, fallbacks, guards.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt;
use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn every_answer_is_go_style_json() {
    let api = Api::local();
    let id = api.start_cmd("printf '<b>&amp;</b>'").await;
    let done = api.wait(&id, None).await;
    assert_eq!(
        done.headers[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert!(done.body.ends_with('\n'));
    assert!(
        done.body
            .contains(r#""output":"\u003cb\u003e\u0026amp;\u003c/b\u003e""#),
        "{}",
        done.body
    );
    assert_eq!(done.json["output"], "<b>&amp;</b>");
    // Errors too.
    let reply = api.post("/api/v0/processes/start", "{}", None).await;
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert_eq!(reply.body, "{\"message\":\"Command is required.\"}\n");
    api.close().await;
}

#[tokio::test]
async fn invalid_utf8_output_becomes_replacement_characters() {
    let api = Api::local();
    let id = api.start_cmd("printf 'ok \\377 done'").await;
    assert_eq!(api.wait(&id, None).await.json["output"], "ok \u{FFFD} done");
    api.close().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let api = Api::local();
    let reply = api.get("/api/v0/processes/nope/nope/nope", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json, json!({"message": "Route not found."}));
    let reply = api.get("/nope", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = api
        .call(Method::GET, "/api/v0/processes/start", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json, json!({"message": "Method not allowed."}));
    let reply = api
        .call(Method::DELETE, "/api/v0/processes/list", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    api.close().await;
}

#[tokio::test]
async fn browsers_cannot_drive_it_from_another_site() {
    let api = Api::local();
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let request = Request::post("/api/v0/processes/start")
            .header(name, value)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(r#"{"command":"touch /tmp/pwned"}"#))
            .expect("request");
        let reply = api.send(request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(reply.message(), "Cross-origin requests are not allowed.");
    }
    assert!(api.list(None).await.is_empty(), "nothing was started");
    api.close().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let api = Api::local();
    let command = "x".repeat(2 * 1024 * 1024);
    let body = json!({ "command": command }).to_string();
    let reply = api.post("/api/v0/processes/start", &body, None).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.message(), "Request body is too large.");
    assert_eq!(reply.json["detail"], "the limit is 1048576 bytes");
    assert!(api.list(None).await.is_empty());
    api.close().await;
}

/// A body that stops arriving gets 408 after `request_read_timeout` (on
/// Tokio's paused clock), and nothing is started.
#[tokio::test(start_paused = true)]
async fn a_body_that_never_finishes_gets_408() {
    use std::sync::Arc;

    use agentproc_api_http::ApiConfig;
    use agentproc_core::ManagerConfig;
    use agentproc_core::clock::SystemClock;
    use agentproc_exec_local::LocalExecer;

    let api = Api::build(
        ManagerConfig::default(),
        Arc::new(LocalExecer::default()),
        Arc::new(SystemClock),
        ApiConfig {
            request_read_timeout: std::time::Duration::from_secs(30),
            ..ApiConfig::default()
        },
    );
    // Half a JSON object, then nothing, forever.
    let stalled = futures_util::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from(
        r#"{"command":"echo "#,
    ))])
    .chain(futures_util::stream::pending());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v0/processes/start")
        .body(Body::from_stream(stalled))
        .expect("request");
    let reply = api.send(request).await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT, "{}", reply.body);
    assert_eq!(reply.message(), "Request body was not received in time.");
    assert_eq!(reply.json["detail"], "the limit is 30000 ms");
    assert!(api.list(None).await.is_empty());
    api.close().await;
}
