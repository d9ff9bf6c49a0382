//! Output beyond the snapshot over HTTP, with real processes: cursor reads,
//! SSE streams and resuming them, smarter waits, search, line ranges, view
//! hygiene, standard input.

use std::sync::Arc;
use std::time::Duration;

use agentproc_api_http::{ApiConfig, ApiState, router};
use agentproc_core::ManagerConfig;
use agentproc_core::testing::ManualClock;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::support::{Api, Fifo, log_store};

async fn wait_exit(api: &Api, id: &str) {
    api.wait(id, None).await;
}

#[tokio::test]
async fn cursor_reads_page_through_the_whole_output() {
    let api = Api::local();
    let id = api.start_cmd("seq 1 20000").await;
    wait_exit(&api, &id).await;
    let mut cursor = 0;
    let mut text = String::new();
    loop {
        let reply = api
            .get(
                &format!("/api/v0/processes/{id}/output?cursor={cursor}&limit=10000"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json["cursor"], cursor);
        assert_eq!(reply.json["gap_bytes"], 0);
        text.push_str(reply.json["output"].as_str().expect("output"));
        cursor = reply.json["next_cursor"].as_u64().expect("next");
        if reply.json["eof"] == true {
            break;
        }
    }
    let expected: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert_eq!(text, expected, "nothing lost, nothing repeated");
    // Without a cursor: Coder's snapshot, cut in the middle.
    let snapshot = api.output(&id, None).await;
    assert!(snapshot.json["truncated"].is_object());
    assert!(snapshot.json.get("cursor").is_none());
    api.close().await;
}

#[tokio::test]
async fn a_per_process_cap_shows_up_as_an_exact_gap() {
    let api = Api::local_with(ManagerConfig {
        logs: Some(log_store(64 * 1024)),
        ..ManagerConfig::default()
    });
    let id = api
        .start_cmd("head -c 300000 /dev/zero | tr '\\0' 'x'")
        .await;
    wait_exit(&api, &id).await;
    let reply = api
        .get(
            &format!("/api/v0/processes/{id}/output?cursor=0&limit=1048576"),
            None,
        )
        .await;
    let gap = reply.json["gap_bytes"].as_u64().expect("gap");
    let cursor = reply.json["cursor"].as_u64().expect("cursor");
    let text = reply.json["output"].as_str().expect("output");
    assert!(gap > 0);
    assert_eq!(gap, cursor);
    assert_eq!(cursor + text.len() as u64, 300_000);
    assert_eq!(reply.json["eof"], true);
    api.close().await;
}

/// Reads an SSE body until the `exit` event (or `max` events), returning
/// (event, id, data) triples.
async fn read_events(body: Body, max: usize) -> Vec<(String, Option<String>, Value)> {
    let mut stream = body.into_data_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(frame) = futures_lite_next(&mut stream).await {
        buffer.push_str(std::str::from_utf8(&frame).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::new(), None, Value::Null);
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    event = value.to_owned();
                } else if let Some(value) = line.strip_prefix("id: ") {
                    id = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(value).expect("json data");
                } else if line.starts_with(':') {
                    event = "comment".to_owned();
                }
            }
            let done = event == "exit";
            events.push((event, id, data));
            if done || events.len() >= max {
                return events;
            }
        }
    }
    events
}

async fn futures_lite_next(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
) -> Option<axum::body::Bytes> {
    use futures_util::StreamExt;
    stream.next().await.map(|frame| frame.expect("frame"))
}

async fn open_stream(api: &Api, id: &str, query: &str, last_event_id: Option<&str>) -> Body {
    let mut request = Request::get(format!("/api/v0/processes/{id}/stream{query}"));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last);
    }
    let response = tower::ServiceExt::oneshot(
        api.router.clone(),
        request.body(Body::empty()).expect("request"),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    response.into_body()
}

fn joined(events: &[(String, Option<String>, Value)]) -> String {
    events
        .iter()
        .filter(|(event, _, _)| event == "output")
        .map(|(_, _, data)| data["output"].as_str().expect("output").to_owned())
        .collect()
}

#[tokio::test]
async fn a_stream_replays_then_follows_live_and_resumes_without_loss() {
    let api = Api::local();
    let go = Fifo::new();
    let id = api
        .start_cmd(&format!("seq 1 3; cat {} > /dev/null; seq 4 6", go.path()))
        .await;
    // Read the first events, then hang up.
    let first = read_events(open_stream(&api, &id, "", None).await, 1).await;
    assert_eq!(first[0].0, "output");
    let last_id = first[0].1.clone().expect("an id");
    assert_eq!(first[0].2["next_cursor"].to_string(), last_id);
    // Let the process finish, then resume from the last id.
    go.write("go").await;
    wait_exit(&api, &id).await;
    let rest = read_events(
        open_stream(&api, &id, "?cursor=0", Some(&last_id)).await,
        100,
    )
    .await;
    let all = format!("{}{}", joined(&first), joined(&rest));
    assert_eq!(all, "1\n2\n3\n4\n5\n6\n", "no byte lost or repeated");
    let (event, _, data) = rest.last().expect("events");
    assert_eq!(event, "exit");
    assert_eq!(data["exit_code"], 0);
    assert_eq!(data["exit_reason"], "exited");
    api.close().await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_slows_nobody() {
    let api = Api::local();
    let id = api.start_cmd("sleep 0.1; seq 1 200000").await;
    // One subscriber opens the stream and never reads it.
    let _stalled = open_stream(&api, &id, "", None).await;
    let reader = tokio::spawn({
        let body = open_stream(&api, &id, "", None).await;
        async move { read_events(body, usize::MAX).await }
    });
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["exit_code"], 0);
    let events = reader.await.expect("join");
    let expected: String = (1..=200000).map(|n| format!("{n}\n")).collect();
    assert_eq!(joined(&events), expected);
    api.close().await;
}

#[tokio::test]
async fn quiet_streams_send_keepalive_comments() {
    let manager = agentproc_core::Manager::new(
        ManagerConfig {
            base_env: crate::support::host_env(),
            logs: Some(log_store(1 << 20)),
            ..ManagerConfig::default()
        },
        Arc::new(agentproc_exec_local::LocalExecer::default()),
        Arc::new(agentproc_core::clock::SystemClock),
    );
    let app = router(ApiState::with_config(
        manager.clone(),
        ApiConfig {
            stream_keepalive: Duration::from_millis(20),
            ..ApiConfig::default()
        },
    ));
    let started = manager
        .start(agentproc_core::StartRequest::new("sleep 300"))
        .await
        .expect("start");
    let response = tower::ServiceExt::oneshot(
        app,
        Request::get(format!("/api/v0/processes/{}/stream", started.info.id))
            .body(Body::empty())
            .expect("request"),
    )
    .await
    .expect("response");
    let events = read_events(response.into_body(), 1).await;
    assert_eq!(events[0].0, "comment");
    manager.close().await;
    if let Some(logs) = &manager.config().logs {
        let _ = std::fs::remove_dir_all(&logs.config().dir);
    }
}

#[tokio::test]
async fn waits_for_a_ready_line_return_when_it_appears() {
    let api = Api::local();
    let go = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "echo starting; cat {} > /dev/null; echo 'Listening on http://localhost:3000'; sleep 300",
            go.path()
        ))
        .await;
    let waiting = {
        let router = api.router.clone();
        let path = format!(
            "/api/v0/processes/{id}/output?wait=true&until=match&pattern=Listening%20on%20(http%3A%2F%2F%5CS%2B)&cursor=0"
        );
        tokio::spawn(async move {
            let response = tower::ServiceExt::oneshot(
                router,
                Request::get(path).body(Body::empty()).expect("request"),
            )
            .await
            .expect("response");
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).expect("json")
        })
    };
    go.write("go").await;
    let reply = waiting.await.expect("join");
    assert_eq!(reply["wait_result"], "matched");
    assert_eq!(reply["running"], true, "the server keeps running");
    assert!(
        reply["output"]
            .as_str()
            .expect("output")
            .contains("Listening on http://localhost:3000")
    );
    api.close().await;
}

#[tokio::test]
async fn an_idle_wait_returns_after_the_quiet_period() {
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let id = api.start_cmd("echo prompt; exec sleep 300").await;
    // First wait (on the event itself) until the prompt is out, so the idle
    // period starts after it.
    let printed = api
        .get(
            &format!("/api/v0/processes/{id}/output?until=output&cursor=0"),
            None,
        )
        .await;
    assert_eq!(printed.json["wait_result"], "output", "{}", printed.body);
    let waiting = {
        let router = api.router.clone();
        let path = format!("/api/v0/processes/{id}/output?wait=true&until=idle&idle_ms=1500");
        tokio::spawn(async move {
            let response = tower::ServiceExt::oneshot(
                router,
                Request::get(path).body(Body::empty()).expect("request"),
            )
            .await
            .expect("response");
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).expect("json")
        })
    };
    // The wait's own timeout and the idle timer.
    clock.wait_for_timers(2).await;
    clock.advance(Duration::from_millis(1500));
    let reply = waiting.await.expect("join");
    assert_eq!(reply["wait_result"], "idle");
    api.close().await;
}

#[tokio::test]
async fn wait_parameters_are_validated() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let cases = [
        ("until=match", "until=match needs a pattern."),
        ("until=idle", "until=idle needs a positive idle_ms."),
        (
            "until=soon",
            "Unsupported until \"soon\". Use \"exit\", \"output\", \"match\", \"idle\" or \"input\".",
        ),
        ("until=match&pattern=(", "Invalid pattern."),
        ("cursor=-1", "cursor must be a non-negative integer."),
        (
            "wait=true&timeout_ms=abc",
            "timeout_ms must be a non-negative integer.",
        ),
    ];
    for (query, message) in cases {
        let reply = api
            .get(&format!("/api/v0/processes/{id}/output?{query}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.message(), message, "{query}");
    }
    let reply = api
        .get(
            &format!("/api/v0/processes/{id}/output?wait=true&timeout_ms=1"),
            None,
        )
        .await;
    assert_eq!(reply.json["wait_result"], "timeout");
    api.close().await;
}

#[tokio::test]
async fn search_finds_a_line_in_the_omitted_middle_of_a_big_log() {
    let api = Api::local();
    // About 50 MB of numbered lines.
    let id = api
        .start_cmd("seq -f 'line %09.0f of the build' 1 2200000")
        .await;
    wait_exit(&api, &id).await;
    let snapshot = api.output(&id, None).await;
    assert!(
        !snapshot.json["output"]
            .as_str()
            .expect("output")
            .contains("line 001100000 of")
    );
    assert!(
        snapshot.json["truncated"]["omitted_bytes"]
            .as_u64()
            .expect("omitted")
            > 40_000_000
    );
    let reply = api
        .get(
            &format!(
                "/api/v0/processes/{id}/search?pattern=LINE%20001100000&ignore_case=true&context=1"
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let matches = reply.json["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0]["line"], 1_100_000);
    assert_eq!(matches[0]["text"], "line 001100000 of the build");
    assert_eq!(matches[0]["before"][0]["line"], 1_099_999);
    assert_eq!(
        matches[0]["after"][0]["text"],
        "line 001100001 of the build"
    );
    let lines = api
        .get(
            &format!("/api/v0/processes/{id}/lines?start=2199999&end=2200005"),
            None,
        )
        .await;
    assert_eq!(lines.json["total_lines"], 2_200_000);
    assert_eq!(
        lines.json["lines"],
        json!([
            {"line": 2199999, "text": "line 002199999 of the build"},
            {"line": 2200000, "text": "line 002200000 of the build"}
        ])
    );
    let bad = api
        .get(&format!("/api/v0/processes/{id}/search?pattern=%5B"), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.message(), "Invalid pattern.");
    assert!(
        bad.json["detail"]
            .as_str()
            .expect("detail")
            .contains("unclosed")
    );
    api.close().await;
}

#[tokio::test]
async fn hygiene_strips_escapes_and_collapses_progress_lines() {
    let api = Api::local();
    let id = api
        .start_cmd("printf '\\033[32mok\\033[0m\\n10%%\\r50%%\\r100%%\\ndone\\n'")
        .await;
    wait_exit(&api, &id).await;
    let raw = api.output(&id, None).await;
    assert_eq!(
        raw.json["output"],
        "\u{1b}[32mok\u{1b}[0m\n10%\r50%\r100%\ndone\n"
    );
    let clean = api
        .get(
            &format!("/api/v0/processes/{id}/output?strip_ansi=true&collapse_cr=true"),
            None,
        )
        .await;
    assert_eq!(clean.json["output"], "ok\n100%\ndone\n");
    let chunk = api
        .get(
            &format!("/api/v0/processes/{id}/output?cursor=0&strip_ansi=true"),
            None,
        )
        .await;
    assert_eq!(chunk.json["output"], "ok\n10%\r50%\r100%\ndone\n");
    let lines = api
        .get(
            &format!("/api/v0/processes/{id}/lines?start=1&end=2&collapse_cr=true&strip_ansi=true"),
            None,
        )
        .await;
    assert_eq!(
        lines.json["lines"],
        json!([{"line": 1, "text": "ok"}, {"line": 2, "text": "100%"}])
    );
    api.close().await;
}

#[tokio::test]
async fn standard_input_round_trips_through_cat() {
    let api = Api::local();
    let id = api
        .start(json!({"command": "cat", "stdin": true}), None)
        .await;
    let path = format!("/api/v0/processes/{id}/stdin");
    let reply = api.post(&path, r#"{"data":"hello\n"}"#, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json, json!({"written": 6, "closed": false}));
    let reply = api
        .post(&path, r#"{"data":"world\n","eof":true}"#, None)
        .await;
    assert_eq!(reply.json, json!({"written": 6, "closed": true}));
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["output"], "hello\nworld\n");
    assert_eq!(done.json["exit_code"], 0);
    let reply = api.post(&path, r#"{"data":"late"}"#, None).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.message(), format!("Process \"{id}\" is not running."));
    // Default: stdin is /dev/null and cannot be written.
    let other = api.start_cmd("sleep 300").await;
    let reply = api
        .post(
            &format!("/api/v0/processes/{other}/stdin"),
            r#"{"data":"x"}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.message(),
        format!("Standard input of process \"{other}\" is closed.")
    );
    api.close().await;
}
