//! Whole lifecycles through the API, with real processes.

use std::time::Duration;

use agentproc_core::ManagerConfig;
use agentproc_core::manager::ManagerEvent;
use agentproc_core::testing::ManualClock;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Api, Fifo, read_pids, survivors};

#[tokio::test]
async fn start_wait_check_output() {
    let api = Api::local();
    let id = api.start_cmd("printf 'one\\ntwo\\nthree\\n'").await;
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["output"], "one\ntwo\nthree\n");
    assert_eq!(done.json["exit_code"], 0);
    api.close().await;
}

#[tokio::test]
async fn non_zero_exit_code() {
    let api = Api::local();
    let id = api.start_cmd("exit 42").await;
    assert_eq!(api.wait(&id, None).await.json["exit_code"], 42);
    api.close().await;
}

#[tokio::test]
async fn start_signal_verify_exit() {
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    assert_eq!(api.output(&id, None).await.json["running"], true);
    assert_eq!(api.signal(&id, "kill", None).await.status, StatusCode::OK);
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["running"], false);
    assert!(done.json["exit_code"].is_i64());
    api.close().await;
}

#[tokio::test]
async fn stdout_and_stderr_are_both_captured_in_order() {
    let api = Api::local();
    let id = api.start_cmd("echo out; echo err >&2; echo out2").await;
    assert_eq!(api.wait(&id, None).await.json["output"], "out\nerr\nout2\n");
    api.close().await;
}

#[tokio::test]
async fn a_descendant_holding_the_pipe_yields_minus_one_after_the_grace() {
    let api = Api::local_with(ManagerConfig {
        pipe_drain_grace: Duration::from_millis(200),
        ..ManagerConfig::default()
    });
    let fifo = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "sleep 300 & echo $! > {}; echo started",
            fifo.path()
        ))
        .await;
    let pids = read_pids(&fifo).await;
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["output"], "started\n");
    assert_eq!(done.json["exit_code"], -1, "Go's ErrWaitDelay case");
    // Shutdown still reaches the sleep left in the group.
    api.manager.close().await;
    assert!(
        survivors(pids).await.is_empty(),
        "the sleep survived shutdown"
    );
}

#[tokio::test]
async fn output_written_after_the_shell_exits_is_kept() {
    // The drain grace runs on a manual clock: it cannot run out before the
    // test has the background job write.
    let clock = ManualClock::default();
    let api = Api::manual(&clock);
    let go = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "(cat {} >/dev/null; echo late) & echo early",
            go.path()
        ))
        .await;
    // The shell has exited once the drain grace is armed.
    clock.wait_for_timers(1).await;
    assert_eq!(api.output(&id, None).await.json["running"], true);
    go.write("go").await;
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["output"], "early\nlate\n");
    assert_eq!(done.json["exit_code"], 0);
    api.close().await;
}

#[tokio::test]
async fn a_chat_process_exit_notifies_watchers_without_paths() {
    // Coder's git path store hears about every chat process that exits:
    // with the requested workdir when there was one, a bare notify if not.
    let api = Api::local();
    let mut events = api.manager.subscribe();
    let chat = Uuid::new_v4();
    let id = api.start(json!({"command": "true"}), Some(chat)).await;
    api.wait(&id, Some(chat)).await;
    loop {
        if let ManagerEvent::Exited {
            info,
            chat: exited_chat,
            requested_workdir,
            ..
        } = events.recv().await.expect("event")
        {
            assert_eq!(info.id.to_string(), id);
            assert_eq!(exited_chat.map(|c| c.chat_id), Some(chat));
            assert_eq!(requested_workdir, None);
            break;
        }
    }
    api.close().await;
}

#[tokio::test]
async fn shutdown_stops_running_trees_and_waits() {
    let api = Api::local_with(ManagerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..ManagerConfig::default()
    });
    let fifo = Fifo::new();
    let id = api
        .start_cmd(&format!(
            "sleep 300 & a=$!; sleep 300 & echo $$ $a $! > {}; wait",
            fifo.path()
        ))
        .await;
    let mut pids = read_pids(&fifo).await;
    // Ignoring SIGTERM is inherited by the sleep: only SIGKILL ends these.
    let trapped = api
        .start_cmd(&format!(
            "trap '' TERM; sleep 300 & echo $$ $! > {}; wait",
            fifo.path()
        ))
        .await;
    pids.extend(read_pids(&fifo).await);
    api.manager.close().await;
    assert!(
        survivors(pids).await.is_empty(),
        "a process survived shutdown"
    );
    for id in [&id, &trapped] {
        let reply = api.output(id, None).await;
        assert_eq!(reply.json["running"], false, "{id}");
    }
}
