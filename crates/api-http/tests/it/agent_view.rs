//! `view=agent` over HTTP with real processes: the error in the middle of a
//! long output is kept within the budget, omissions are mapped to line
//! ranges that `/lines` returns, cursors give only what is new, waits
//! combine with it, and bad parameters are a 400 naming the limits.

use agentproc_core::ManagerConfig;
use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{Api, Fifo};

/// 3000 progress lines, a compiler error with its location, then 3000
/// more, then a failing summary: the error sits in the middle.
const BUILD: &str = "i=0; while [ $i -lt 3000 ]; do echo \"   Compiling dep$i v1.2.$i\"; i=$((i+1)); done; \
    echo 'error[E0308]: mismatched types'; echo '  --> src/lib.rs:42:7'; \
    i=0; while [ $i -lt 3000 ]; do echo \"   Compiling late$i v0.$i.1\"; i=$((i+1)); done; \
    echo 'error: could not compile `demo` (lib) due to 1 previous error'; exit 101";

fn text(reply: &Value) -> &str {
    reply["output"].as_str().expect("output")
}

#[tokio::test]
async fn the_error_in_the_middle_is_kept_and_every_omission_is_mapped() {
    let api = Api::local();
    let id = api.start_cmd(BUILD).await;
    let reply = api
        .get(
            &format!("/api/v0/processes/{id}/output?wait=true&view=agent"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.json;
    assert_eq!(body["running"], false);
    assert_eq!(body["exit_code"], 101);
    assert_eq!(body["wait_result"], "exited");
    let output = text(body);
    for must in [
        "error[E0308]: mismatched types",
        "--> src/lib.rs:42:7",
        "error: could not compile `demo`",
        "Compiling dep0 v1.2.0",
    ] {
        assert!(output.contains(must), "{must:?} missing from:\n{output}");
    }
    let view = &body["view"];
    assert_eq!(view["strategy"], "agent");
    assert_eq!(view["tokenizer"], "o200k_base");
    assert_eq!(view["source"], "log");
    assert_eq!(view["max_tokens"], 2000);
    assert!(view["tokens"].as_u64().expect("tokens") <= 2000);
    assert_eq!(view["source_lines"], 6003);
    assert_eq!(view["exact_line_numbers"], true);
    assert!(body.get("truncated").is_none());

    // Each omission says where it is; /lines returns exactly those lines.
    let spans = view["spans"].as_array().expect("spans");
    assert!(!spans.is_empty());
    let omitted: u64 = spans
        .iter()
        .map(|span| span["lines"].as_u64().expect("lines"))
        .sum();
    assert_eq!(view["omitted_lines"], omitted);
    let span = spans
        .iter()
        .find(|span| span["kind"] == "omitted" || span["kind"] == "progress")
        .expect("an omission");
    let (start, end) = (
        span["start_line"].as_u64().expect("start"),
        span["end_line"].as_u64().expect("end"),
    );
    assert!(
        output.contains(&format!("/lines?start={start}&end={end}")),
        "the marker names its range:\n{output}"
    );
    let lines = api
        .get(
            &format!("/api/v0/processes/{id}/lines?start={start}&end={end}"),
            None,
        )
        .await;
    let got = lines.json["lines"].as_array().expect("lines");
    assert_eq!(got.len() as u64, end - start + 1);
    for line in got {
        let text = line["text"].as_str().expect("text");
        assert!(
            !output.lines().any(|shown| shown == text),
            "line {} ({text:?}) is both shown and omitted",
            line["line"]
        );
    }

    // Smaller and larger budgets hold too.
    for budget in [200, 1000, 4000] {
        let reply = api
            .get(
                &format!("/api/v0/processes/{id}/output?view=agent&max_tokens={budget}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.json["view"]["tokens"].as_u64().expect("tokens") <= budget);
        assert!(
            text(&reply.json).contains("error[E0308]"),
            "budget {budget}"
        );
    }
    api.close().await;
}

#[tokio::test]
async fn with_a_cursor_the_view_covers_only_what_is_new() {
    let api = Api::local();
    let gate = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "echo first part; echo 'warning: old news'; read _ < {}; echo 'error: fresh failure'; echo done",
            gate.path()
        ))
        .await;
    let first = api
        .get(
            &format!(
                "/api/v0/processes/{id}/output?until=match&pattern=old%20news&cursor=0&view=agent"
            ),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json["wait_result"], "matched");
    assert_eq!(first.json["cursor"], 0);
    assert!(text(&first.json).contains("warning: old news"));
    let next = first.json["next_cursor"].as_u64().expect("next");
    assert_eq!(next, "first part\nwarning: old news\n".len() as u64);

    gate.write("go\n").await;
    api.wait(&id, None).await;
    let second = api
        .get(
            &format!("/api/v0/processes/{id}/output?cursor={next}&view=agent"),
            None,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(text(&second.json), "error: fresh failure\ndone\n");
    assert_eq!(second.json["cursor"], next);
    assert_eq!(second.json["eof"], true);
    assert_eq!(second.json["view"]["source_lines"], 2);
    api.close().await;
}

#[tokio::test]
async fn without_full_logs_the_view_comes_from_the_head_tail_buffer() {
    // No log store: `Api::local_with` would add one.
    let api = Api::build(
        ManagerConfig {
            base_env: crate::support::host_env(),
            ..ManagerConfig::default()
        },
        std::sync::Arc::new(agentproc_exec_local::LocalExecer::default()),
        std::sync::Arc::new(agentproc_core::clock::SystemClock),
        agentproc_api_http::ApiConfig::default(),
    );
    let id = api
        .start_cmd("echo 'error: at the start'; seq 1 20000; echo 'FAILED at the end'")
        .await;
    api.wait(&id, None).await;
    let reply = api
        .get(&format!("/api/v0/processes/{id}/output?view=agent"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view = &reply.json["view"];
    assert_eq!(view["source"], "buffer");
    assert_eq!(view["exact_line_numbers"], false);
    let output = text(&reply.json);
    assert!(output.contains("error: at the start"), "{output}");
    assert!(output.contains("FAILED at the end"), "{output}");
    assert!(
        view["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .any(|span| span["kind"] == "lost"),
        "the dropped middle is reported: {view}"
    );
    // A cursor needs the log, as for raw reads.
    let cursor = api
        .get(
            &format!("/api/v0/processes/{id}/output?view=agent&cursor=0"),
            None,
        )
        .await;
    assert_eq!(
        cursor.status,
        StatusCode::NOT_IMPLEMENTED,
        "{}",
        cursor.body
    );
    api.close().await;
}

#[tokio::test]
async fn bad_view_parameters_are_a_400_naming_the_limits() {
    let api = Api::local();
    let id = api.start_cmd("echo hi").await;
    api.wait(&id, None).await;
    for (query, message) in [
        (
            "view=agent&max_tokens=199",
            "max_tokens must be a whole number from 200 to 32000.",
        ),
        (
            "view=agent&max_tokens=32001",
            "max_tokens must be a whole number from 200 to 32000.",
        ),
        (
            "view=agent&max_tokens=-5",
            "max_tokens must be a whole number from 200 to 32000.",
        ),
        (
            "view=agent&max_tokens=lots",
            "max_tokens must be a whole number from 200 to 32000.",
        ),
        ("max_tokens=500", "max_tokens needs view=agent."),
        (
            "view=summary",
            "Unsupported view \"summary\". Use \"agent\" or \"head_tail\".",
        ),
    ] {
        let reply = api
            .get(&format!("/api/v0/processes/{id}/output?{query}"), None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.message(), message, "{query}");
    }
    // The edges are accepted, and a small output comes back verbatim.
    for budget in [200, 32000] {
        let reply = api
            .get(
                &format!("/api/v0/processes/{id}/output?view=agent&max_tokens={budget}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(text(&reply.json), "hi\n");
        assert_eq!(reply.json["view"]["spans"], serde_json::json!([]));
    }
    let unknown = api
        .get(
            "/api/v0/processes/00000000-0000-4000-8000-000000000000/output?view=agent",
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    api.close().await;
}
