//! Deadlines, escalation, exit reasons and usage, with real processes.

use std::time::Duration;

use agentproc_core::manager::DEFAULT_DEADLINE_GRACE;
use agentproc_core::testing::ManualClock;
use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Api, Fifo, read_pids, survivors};

#[tokio::test]
async fn a_deadline_stops_the_whole_tree() {
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let fifo = Fifo::new();
    let command = format!(
        "sleep 300 & echo $$ $! > {}; sleep 300; echo never",
        fifo.path()
    );
    let id = api
        .start(json!({"command": command, "timeout_ms": 300}), None)
        .await;
    let pids = read_pids(&fifo).await;
    clock.wait_for_timers(1).await;
    assert_eq!(clock.next_timer_in(), Some(Duration::from_millis(300)));
    clock.advance(Duration::from_millis(300));
    // The grandchild holds the output pipe: `running` turns false only once
    // it is gone too.
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["running"], false);
    assert_eq!(done.json["exit_code"], -1);
    assert_eq!(done.json["exit_reason"], "deadline_exceeded");
    assert_eq!(done.json["signal"], "SIGTERM");
    assert_eq!(done.json["output"], "");
    assert!(survivors(pids).await.is_empty());
    let listed = &api.list(None).await[0];
    assert_eq!(listed["timeout_ms"], 300);
    assert_eq!(listed["exit_reason"], "deadline_exceeded");
    api.close().await;
}

#[tokio::test]
async fn a_deadline_escalates_for_a_tree_that_ignores_sigterm() {
    // A manual clock decides when the deadline passes: only after the shell
    // has installed its trap.
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let ready = Fifo::new();
    let command = format!("trap '' TERM; echo > {}; sleep 300 & wait", ready.path());
    let id = api
        .start(json!({"command": command, "timeout_ms": 1000}), None)
        .await;
    ready.read().await;
    clock.wait_for_timers(1).await;
    clock.advance(Duration::from_secs(1));
    // SIGTERM was ignored; the escalation is armed.
    clock.wait_for_timers(1).await;
    assert_eq!(api.output(&id, None).await.json["running"], true);
    clock.advance(DEFAULT_DEADLINE_GRACE);
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["exit_reason"], "deadline_exceeded");
    assert_eq!(done.json["signal"], "SIGKILL");
    api.close().await;
}

#[tokio::test]
async fn terminate_with_grace_escalates_to_kill() {
    let api = Api::local();
    let ready = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "trap '' TERM; echo > {}; sleep 300 & wait",
            ready.path()
        ))
        .await;
    ready.read().await;
    let reply = api
        .post(
            &format!("/api/v0/processes/{id}/signal"),
            r#"{"signal":"terminate","grace_ms":200}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["exit_reason"], "killed");
    assert_eq!(done.json["signal"], "SIGKILL");
    api.close().await;
}

#[tokio::test]
async fn grace_ms_with_kill_is_400() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let reply = api
        .post(
            &format!("/api/v0/processes/{id}/signal"),
            r#"{"signal":"kill","grace_ms":100}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .message()
            .starts_with("grace_ms does not apply to \"kill\"")
    );
    assert_eq!(api.output(&id, None).await.json["running"], true);
    api.close().await;
}

#[tokio::test]
async fn interrupt_and_hangup_are_delivered() {
    let api = Api::local();
    for (signal, name) in [("interrupt", "SIGINT"), ("hangup", "SIGHUP")] {
        let id = api.start_cmd("exec sleep 300").await;
        let reply = api.signal(&id, signal, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.message(),
            format!("Signal \"{signal}\" sent to process \"{id}\".")
        );
        let done = api.wait(&id, None).await;
        assert_eq!(done.json["signal"], name);
        assert_eq!(done.json["exit_reason"], "killed");
    }
    api.close().await;
}

#[tokio::test]
async fn exit_reasons_of_real_processes() {
    let api = Api::local();
    let id = api.start_cmd("exit 7").await;
    let done = api.wait(&id, None).await;
    assert_eq!(
        (
            done.json["exit_reason"].clone(),
            done.json["exit_code"].clone()
        ),
        (json!("exited"), json!(7))
    );
    assert!(done.json.get("signal").is_none());

    // Killed by a signal nobody asked agentproc to send.
    let id = api.start_cmd("kill -SEGV $$").await;
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["exit_reason"], "signaled");
    assert_eq!(done.json["signal"], "SIGSEGV");

    let id = api.start_cmd("sleep 300").await;
    api.signal(&id, "kill", None).await;
    assert_eq!(api.wait(&id, None).await.json["exit_reason"], "killed");

    let id = api.start_cmd("sleep 300").await;
    api.manager.close().await;
    let done = api.output(&id, None).await;
    assert_eq!(done.json["exit_reason"], "shutdown");
}

#[tokio::test]
async fn usage_and_duration_are_plausible() {
    let api = Api::local();
    // Burn some CPU in the shell itself, and grow a little memory.
    let id = api
        .start_cmd("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null")
        .await;
    let done = api.wait(&id, None).await;
    let usage = &done.json["usage"];
    let cpu = usage["user_cpu_ms"].as_u64().expect("user")
        + usage["system_cpu_ms"].as_u64().expect("system");
    assert!(cpu > 0, "a busy loop uses CPU: {usage}");
    // dd's 256 MiB buffer, not this test process's memory.
    let rss = usage["max_rss_bytes"].as_u64().expect("rss");
    assert!((256 << 20..400 << 20).contains(&rss), "{usage}");
    assert!(done.json["duration_ms"].as_u64().expect("duration") > 0);
    api.close().await;
}
