//! Manager tests with the fake executor and the manual clock: every race is
//! staged explicitly, nothing sleeps, nothing depends on speed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::clock::{Clock, unix_seconds};
use crate::exec::{ExitStatus, SpawnError};
use crate::testing::{FakeExecer, FakeProcess, ManualClock, MockExecer, SignalBehavior};

mod limits;
mod output;
mod stops;
mod terminal;
mod tokens;

/// Long enough that only an explicit `advance` could end it.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

struct Harness {
    manager: Manager,
    execer: FakeExecer,
    clock: ManualClock,
}

/// A test's log directory goes with it.
impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(logs) = &self.manager.config().logs {
            let _ = std::fs::remove_dir_all(&logs.config().dir);
        }
    }
}

fn harness() -> Harness {
    harness_with(quiet_config())
}

/// Defaults without what the test process happens to have: no inherited
/// environment, no home directory.
fn quiet_config() -> ManagerConfig {
    ManagerConfig {
        base_env: crate::exec::Env::new(),
        home_dir: None,
        ..ManagerConfig::default()
    }
}

fn harness_with(config: ManagerConfig) -> Harness {
    let execer = FakeExecer::default();
    let clock = ManualClock::default();
    let manager = Manager::new(config, Arc::new(execer.clone()), Arc::new(clock.clone()));
    Harness {
        manager,
        execer,
        clock,
    }
}

impl Harness {
    async fn start(&self, request: StartRequest) -> (ProcessInfo, FakeProcess) {
        let info = self.manager.start(request).await.expect("start").info;
        let child = self.execer.next_spawn().await;
        (info, child)
    }

    async fn start_cmd(&self, command: &str) -> (ProcessInfo, FakeProcess) {
        self.start(StartRequest::new(command)).await
    }

    /// Waits (on the event, not on time) until the process has exited.
    async fn exited(&self, id: ProcessId) -> OutputSnapshot {
        self.manager
            .wait_for_exit(id, None, FOREVER)
            .await
            .expect("process exists")
    }
}

fn chat_request(command: &str, chat: Uuid) -> StartRequest {
    StartRequest {
        chat: Some(ChatContext::new(chat)),
        ..StartRequest::new(command)
    }
}

fn env_value(child: &FakeProcess, name: &str) -> Option<String> {
    child
        .spec()
        .env
        .get(&OsString::from(name))
        .map(|v| v.to_string_lossy().into_owned())
}

// --- start ---------------------------------------------------------------

#[tokio::test]
async fn start_runs_the_command_through_the_shell() {
    let h = harness();
    let (info, child) = h.start_cmd("echo hello").await;
    let spec = child.spec();
    assert_eq!(spec.program, "sh");
    assert_eq!(
        spec.args,
        vec![OsString::from("-c"), OsString::from("echo hello")]
    );
    assert!(info.running());
    assert_eq!(info.exit_code(), None);
    assert_eq!(info.command, "echo hello");
    assert_eq!(unix_seconds(info.started_at), unix_seconds(h.clock.now()));
}

#[tokio::test]
async fn environment_layers_base_hook_request_then_chat_last_wins() {
    let mut base = Env::new();
    base.insert("BASE".into(), "base".into());
    base.insert("SHARED".into(), "base".into());
    base.insert("CODER_CHAT_ID".into(), "from-base".into());
    let hook: EnvHook = Arc::new(|mut env: Env| {
        env.insert("HOOK".into(), "hook".into());
        env.insert("SHARED".into(), "hook".into());
        Ok(env)
    });
    let h = harness_with(ManagerConfig {
        base_env: base,
        env_hook: Some(hook),
        ..ManagerConfig::default()
    });
    let chat = Uuid::new_v4();
    let mut request = chat_request("printenv", chat);
    request.env = BTreeMap::from([
        ("SHARED".to_owned(), "request".to_owned()),
        ("CODER_CHAT_ID".to_owned(), "from-request".to_owned()),
    ]);
    let (_, child) = h.start(request).await;
    assert_eq!(env_value(&child, "BASE").as_deref(), Some("base"));
    assert_eq!(env_value(&child, "HOOK").as_deref(), Some("hook"));
    assert_eq!(env_value(&child, "SHARED").as_deref(), Some("request"));
    assert_eq!(env_value(&child, "CODER_CHAT_ID"), Some(chat.to_string()));
}

#[tokio::test]
async fn failing_env_hook_falls_back_to_the_base_environment() {
    let mut base = Env::new();
    base.insert("BASE".into(), "base".into());
    let hook: EnvHook = Arc::new(|_env: Env| Err("hook broke".into()));
    let h = harness_with(ManagerConfig {
        base_env: base,
        env_hook: Some(hook),
        ..ManagerConfig::default()
    });
    let (_, child) = h.start_cmd("true").await;
    assert_eq!(env_value(&child, "BASE").as_deref(), Some("base"));
}

#[tokio::test]
async fn workdir_resolution_order() {
    let existing = std::env::temp_dir();
    let home = PathBuf::from("/home/agent");

    // Request value verbatim, even if it does not exist.
    let h = harness_with(ManagerConfig {
        default_workdir: Some(existing.clone()),
        home_dir: Some(home.clone()),
        ..ManagerConfig::default()
    });
    let mut request = StartRequest::new("pwd");
    request.workdir = Some("/does/not/exist".into());
    let (info, child) = h.start(request).await;
    assert_eq!(
        info.workdir.as_deref(),
        Some(std::path::Path::new("/does/not/exist"))
    );
    assert_eq!(child.spec().cwd, info.workdir);

    // Empty request value: the configured default, when it exists.
    let mut request = StartRequest::new("pwd");
    request.workdir = Some(String::new());
    let (info, _) = h.start(request).await;
    assert_eq!(info.workdir, Some(existing));

    // A missing default falls back to home.
    let h = harness_with(ManagerConfig {
        default_workdir: Some("/no/such/default".into()),
        home_dir: Some(home.clone()),
        ..ManagerConfig::default()
    });
    let (info, _) = h.start_cmd("pwd").await;
    assert_eq!(info.workdir, Some(home));

    // Nothing configured: inherit.
    let h = harness();
    let (info, child) = h.start_cmd("pwd").await;
    assert_eq!(info.workdir, None);
    assert_eq!(child.spec().cwd, None);
}

#[tokio::test]
async fn invalid_requests_spawn_nothing() {
    let h = harness();
    let cases = [
        (StartRequest::new(""), InvalidStart::EmptyCommand),
        (StartRequest::new("echo \0"), InvalidStart::NulInCommand),
        (
            StartRequest {
                workdir: Some("/tmp\0".into()),
                ..StartRequest::new("true")
            },
            InvalidStart::NulInWorkdir,
        ),
        (
            StartRequest {
                env: BTreeMap::from([("A=B".to_owned(), "x".to_owned())]),
                ..StartRequest::new("true")
            },
            InvalidStart::EnvName { name: "A=B".into() },
        ),
        (
            StartRequest {
                env: BTreeMap::from([(String::new(), "x".to_owned())]),
                ..StartRequest::new("true")
            },
            InvalidStart::EnvName {
                name: String::new(),
            },
        ),
        (
            StartRequest {
                env: BTreeMap::from([("A".to_owned(), "x\0".to_owned())]),
                ..StartRequest::new("true")
            },
            InvalidStart::NulInEnvValue { name: "A".into() },
        ),
    ];
    for (request, expected) in cases {
        match h.manager.start(request).await {
            Err(StartError::Invalid(invalid)) => assert_eq!(invalid, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    // Whitespace-only commands are accepted, as in Coder.
    h.manager
        .start(StartRequest::new("   "))
        .await
        .expect("whitespace command");
    assert_eq!(h.execer.spawned().len(), 1);
}

#[tokio::test]
async fn spawn_failures_are_reported_and_nothing_is_registered() {
    let h = harness();
    h.execer.fail_next_spawn(SpawnError::ProgramNotFound {
        program: "sh".into(),
    });
    let error = h
        .manager
        .start(StartRequest::new("true"))
        .await
        .expect_err("spawn fails");
    assert_eq!(
        error.to_string(),
        "start process: exec: \"sh\": executable file not found in $PATH"
    );
    assert!(h.manager.list(None, usize::MAX).is_empty());
}

#[tokio::test]
async fn a_mocked_execer_sees_exactly_one_spawn_per_start() {
    let mut execer = MockExecer::new();
    execer.expect_kind().return_const("mock");
    execer.expect_spawn().times(1).returning(|spec| {
        assert_eq!(spec.args[1], "exit 3");
        Err(SpawnError::Workdir {
            path: "/gone".into(),
            source: std::io::Error::from_raw_os_error(2),
        })
    });
    let manager = Manager::new(
        ManagerConfig::default(),
        Arc::new(execer),
        Arc::new(ManualClock::default()),
    );
    let error = manager
        .start(StartRequest::new("exit 3"))
        .await
        .expect_err("fails");
    assert_eq!(
        error.to_string(),
        "start process: chdir /gone: no such file or directory"
    );
    assert_eq!(manager.executor_kind(), "mock");
}

// --- output and exit -----------------------------------------------------

#[tokio::test]
async fn output_is_captured_and_final_once_exited() {
    let h = harness();
    let (info, child) = h.start_cmd("build").await;
    child.write(b"compiling\n");
    child.write(b"done\n");
    child.exit(ExitStatus::Exited(0));
    let snapshot = h.exited(info.id).await;
    assert!(!snapshot.info.running());
    assert_eq!(snapshot.info.exit_code(), Some(0));
    assert_eq!(snapshot.output, "compiling\ndone\n");
    assert_eq!(snapshot.truncation, None);
    assert_eq!(
        snapshot.info.exit.as_ref().map(|e| e.exited_at),
        Some(h.clock.now())
    );
}

#[tokio::test]
async fn running_process_has_no_exit_code() {
    let h = harness();
    let (info, _child) = h.start_cmd("sleep 300").await;
    let snapshot = h.manager.output(info.id, None).expect("exists");
    assert!(snapshot.info.running());
    assert_eq!(snapshot.info.exit_code(), None);
    assert!(snapshot.info.exit.is_none());
}

#[tokio::test]
async fn exit_codes_follow_go() {
    let h = harness();
    let cases = [
        (ExitStatus::Exited(42), 42),
        (
            ExitStatus::Signaled {
                signal: 9,
                core_dumped: false,
            },
            -1,
        ),
        (
            ExitStatus::Signaled {
                signal: 11,
                core_dumped: true,
            },
            -1,
        ),
    ];
    for (status, expected) in cases {
        let (info, child) = h.start_cmd("x").await;
        child.exit(status);
        assert_eq!(h.exited(info.id).await.info.exit_code(), Some(expected));
    }
}

#[tokio::test]
async fn huge_output_stays_bounded() {
    let h = harness();
    let (info, child) = h.start_cmd("yes").await;
    let chunk = vec![b'y'; 64 * 1024];
    for _ in 0..64 {
        child.write(&chunk);
    }
    child.exit(ExitStatus::Exited(0));
    let snapshot = h.exited(info.id).await;
    let truncation = snapshot.truncation.expect("truncated");
    assert_eq!(truncation.original_bytes, 64 * 64 * 1024);
    assert!(snapshot.output.len() < 40 * 1024);
}

// --- the pipe-drain grace (Go's WaitDelay) -------------------------------

#[tokio::test]
async fn output_written_by_descendants_after_the_shell_exits_is_kept() {
    let h = harness();
    let (info, child) = h.start_cmd("sh -c 'sleep 1; echo late' & exit 0").await;
    child.exit_only(ExitStatus::Exited(0));
    h.clock.wait_for_timers(1).await; // the drain grace is armed
    assert!(h.manager.info(info.id, None).expect("exists").running());
    child.write(b"late\n");
    child.close_output();
    let snapshot = h.exited(info.id).await;
    assert_eq!(snapshot.info.exit_code(), Some(0));
    assert_eq!(snapshot.output, "late\n");
}

#[tokio::test]
async fn a_pipe_held_past_the_grace_reports_minus_one_after_exactly_the_grace() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300 & exit 0").await;
    child.exit_only(ExitStatus::Exited(0));
    h.clock.wait_for_timers(1).await;
    assert_eq!(h.clock.next_timer_in(), Some(DEFAULT_PIPE_DRAIN_GRACE));
    h.clock
        .advance(DEFAULT_PIPE_DRAIN_GRACE - Duration::from_millis(1));
    assert_eq!(h.clock.pending_timers(), 1, "the grace has not run out");
    assert!(h.manager.info(info.id, None).expect("exists").running());
    h.clock.advance(Duration::from_millis(1));
    let snapshot = h.exited(info.id).await;
    assert_eq!(snapshot.info.exit_code(), Some(-1));
}

#[tokio::test]
async fn a_failing_exit_code_survives_a_held_pipe() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300 & exit 7").await;
    child.exit_only(ExitStatus::Exited(7));
    h.clock.wait_for_timers(1).await;
    h.clock.advance(DEFAULT_PIPE_DRAIN_GRACE);
    assert_eq!(h.exited(info.id).await.info.exit_code(), Some(7));
}

// --- waits ---------------------------------------------------------------

#[tokio::test]
async fn wait_returns_a_running_snapshot_at_its_deadline() {
    let h = harness();
    let (info, _child) = h.start_cmd("sleep 300").await;
    let manager = h.manager.clone();
    let waiter = tokio::spawn(async move {
        manager
            .wait_for_exit(info.id, None, Duration::from_secs(300))
            .await
    });
    h.clock.wait_for_timers(1).await;
    assert_eq!(h.clock.next_timer_in(), Some(Duration::from_secs(300)));
    h.clock.advance(Duration::from_secs(299));
    assert_eq!(
        h.clock.pending_timers(),
        1,
        "the wait's deadline has not passed"
    );
    assert!(!waiter.is_finished());
    h.clock.advance(Duration::from_secs(1));
    let snapshot = waiter.await.expect("join").expect("exists");
    assert!(snapshot.info.running());
}

#[tokio::test]
async fn new_output_does_not_end_a_wait() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300").await;
    let manager = h.manager.clone();
    let waiter = tokio::spawn(async move { manager.wait_for_exit(info.id, None, FOREVER).await });
    h.clock.wait_for_timers(1).await;
    child.write(b"progress\n");
    // Once the manager has taken the output in, a waiter woken by it would
    // already have run (and dropped its timer).
    child.wait_output_read().await;
    tokio::task::yield_now().await;
    assert_eq!(
        h.manager.output(info.id, None).expect("exists").output,
        "progress\n"
    );
    assert_eq!(h.clock.pending_timers(), 1, "the waiter is still waiting");
    assert!(!waiter.is_finished());
    child.exit(ExitStatus::Exited(0));
    let snapshot = waiter.await.expect("join").expect("exists");
    assert_eq!(snapshot.output, "progress\n");
}

#[tokio::test]
async fn concurrent_waiters_all_wake_on_exit() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300").await;
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let manager = h.manager.clone();
            tokio::spawn(async move { manager.wait_for_exit(info.id, None, FOREVER).await })
        })
        .collect();
    h.clock.wait_for_timers(8).await;
    h.manager
        .signal(info.id, None, Signal::Kill, None)
        .expect("kill");
    for waiter in waiters {
        let snapshot = waiter.await.expect("join").expect("exists");
        assert!(!snapshot.info.running());
        assert_eq!(snapshot.info.exit_code(), Some(-1));
    }
    assert_eq!(child.signals(), vec![Signal::Kill]);
}

#[tokio::test]
async fn waiting_on_an_exited_process_returns_at_once() {
    let h = harness();
    let (info, child) = h.start_cmd("true").await;
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    // No clock movement needed.
    let snapshot = h
        .manager
        .wait_for_exit(info.id, None, Duration::from_secs(300))
        .await
        .expect("exists");
    assert_eq!(snapshot.info.exit_code(), Some(0));
}

#[tokio::test]
async fn reaping_never_takes_the_answer_from_a_waiter() {
    let h = harness();
    let (info, child) = h.start_cmd("true").await;
    let wait = h.manager.wait_for_exit(info.id, None, FOREVER);
    tokio::pin!(wait);
    // Poll the wait once so it has found its process.
    tokio::select! {
        biased;
        _ = &mut wait => panic!("the process is still running"),
        () = std::future::ready(()) => {}
    }
    child.exit(ExitStatus::Exited(5));
    h.exited(info.id).await;
    h.clock
        .advance(DEFAULT_REAP_AFTER + Duration::from_secs(60));
    assert!(h.manager.list(None, usize::MAX).is_empty(), "reaped");
    let snapshot = wait.await.expect("the waiter still gets its answer");
    assert_eq!(snapshot.info.exit_code(), Some(5));
}

// --- signals -------------------------------------------------------------

#[tokio::test]
async fn signals_reach_the_child_and_exited_processes_refuse_them() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300").await;
    h.manager
        .signal(info.id, None, Signal::Terminate, None)
        .expect("terminate");
    assert_eq!(child.signals(), vec![Signal::Terminate]);
    let snapshot = h.exited(info.id).await;
    assert_eq!(snapshot.info.exit_code(), Some(-1));
    assert!(matches!(
        h.manager.signal(info.id, None, Signal::Kill, None),
        Err(SignalProcessError::NotRunning)
    ));
    assert!(matches!(
        h.manager
            .signal(ProcessId::random(), None, Signal::Kill, None),
        Err(SignalProcessError::NotFound)
    ));
}

#[tokio::test]
async fn os_signal_errors_name_the_action() {
    let error = SignalProcessError::Os {
        signal: Signal::Kill,
        source: std::io::Error::from_raw_os_error(1).into(),
    };
    assert_eq!(error.to_string(), "kill process: operation not permitted");
    let error = SignalProcessError::Os {
        signal: Signal::Terminate,
        source: std::io::Error::from_raw_os_error(3).into(),
    };
    assert_eq!(error.to_string(), "terminate process: no such process");
}

// --- chat isolation ------------------------------------------------------

#[tokio::test]
async fn chats_see_their_own_and_unowned_processes() {
    let h = harness();
    let (chat_a, chat_b) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, _) = h.start(chat_request("a", chat_a)).await;
    let (b, _) = h.start(chat_request("b", chat_b)).await;
    let (free, _) = h.start_cmd("free").await;

    // Lists: a chat sees exactly its own; no chat sees everything.
    let ids = |list: Vec<ProcessInfo>| list.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(h.manager.list(Some(chat_a), usize::MAX)), vec![a.id]);
    assert_eq!(ids(h.manager.list(Some(chat_b), usize::MAX)), vec![b.id]);
    assert_eq!(h.manager.list(None, usize::MAX).len(), 3);

    // Reads: another chat's process is "not found"; unowned ones are visible.
    assert_eq!(h.manager.output(a.id, Some(chat_b)).err(), Some(NotFound));
    assert!(h.manager.output(a.id, Some(chat_a)).is_ok());
    assert!(h.manager.output(a.id, None).is_ok());
    assert!(h.manager.output(free.id, Some(chat_b)).is_ok());
    assert!(h.manager.hidden_from(a.id, Some(chat_b)));
    assert!(!h.manager.hidden_from(a.id, Some(chat_a)));
    assert!(!h.manager.hidden_from(ProcessId::random(), Some(chat_a)));

    // Signals obey the same rule.
    assert!(matches!(
        h.manager.signal(a.id, Some(chat_b), Signal::Kill, None),
        Err(SignalProcessError::NotFound)
    ));
    assert_eq!(
        h.manager
            .wait_for_exit(a.id, Some(chat_b), FOREVER)
            .await
            .err(),
        Some(NotFound)
    );
}

// --- list order and reaping ----------------------------------------------

#[tokio::test]
async fn list_puts_running_first_then_newest_even_within_one_second() {
    let h = harness();
    let mut started = Vec::new();
    for i in 0..5 {
        started.push(h.start_cmd(&format!("job {i}")).await);
    }
    // Exit the two oldest; all five started in the same clock second.
    for (info, child) in &started[..2] {
        child.exit(ExitStatus::Exited(0));
        h.exited(info.id).await;
    }
    let order: Vec<String> = h
        .manager
        .list(None, usize::MAX)
        .into_iter()
        .map(|p| p.command)
        .collect();
    assert_eq!(order, ["job 4", "job 3", "job 2", "job 1", "job 0"]);
    let running: Vec<bool> = h
        .manager
        .list(None, usize::MAX)
        .iter()
        .map(|p| p.running())
        .collect();
    assert_eq!(running, [true, true, true, false, false]);
}

#[tokio::test]
async fn list_reaps_exited_processes_strictly_after_the_reap_age() {
    let h = harness();
    let (info, child) = h.start_cmd("true").await;
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    h.clock.advance(DEFAULT_REAP_AFTER - Duration::from_secs(1));
    assert_eq!(
        h.manager.list(None, usize::MAX).len(),
        1,
        "one second early"
    );
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        h.manager.list(None, usize::MAX).len(),
        1,
        "exactly the reap age"
    );
    h.clock.advance(Duration::from_millis(1));
    assert!(
        h.manager.list(None, usize::MAX).is_empty(),
        "past the reap age"
    );
    assert_eq!(h.manager.output(info.id, None).err(), Some(NotFound));
}

#[tokio::test]
async fn the_background_reaper_forgets_without_anyone_listing() {
    let h = harness();
    let mut events = h.manager.subscribe();
    let (info, child) = h.start_cmd("true").await;
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    // The reaper arms a timer for the moment the process becomes too old.
    h.clock.wait_for_timers(1).await;
    assert_eq!(
        h.clock.next_timer_in(),
        Some(DEFAULT_REAP_AFTER + Duration::from_nanos(1))
    );
    h.clock.advance(DEFAULT_REAP_AFTER);
    assert!(
        h.manager.info(info.id, None).is_ok(),
        "not one moment early"
    );
    h.clock.advance(Duration::from_nanos(1));
    loop {
        match events.recv().await.expect("events") {
            ManagerEvent::Reaped { id } => {
                assert_eq!(id, info.id);
                break;
            }
            _ => continue,
        }
    }
    assert_eq!(h.manager.info(info.id, None).err(), Some(NotFound));
}

#[tokio::test]
async fn running_processes_are_never_reaped() {
    let h = harness();
    let (info, _child) = h.start_cmd("sleep infinity").await;
    h.clock.advance(DEFAULT_REAP_AFTER * 10);
    assert_eq!(h.manager.list(None, usize::MAX)[0].id, info.id);
}

// --- events (the hook for Coder's git path store) -----------------------

#[tokio::test]
async fn exit_events_carry_the_chat_and_the_requested_workdir() {
    let h = harness();
    let mut events = h.manager.subscribe();
    let chat = ChatContext {
        chat_id: Uuid::new_v4(),
        ancestors: vec![Uuid::new_v4()],
    };
    let request = StartRequest {
        chat: Some(chat.clone()),
        ..StartRequest::new("git commit")
    };
    let (info, child) = h.start(request).await;
    child.exit(ExitStatus::Exited(0));
    loop {
        match events.recv().await.expect("events") {
            ManagerEvent::Exited {
                info: exited,
                chat: exited_chat,
                requested_workdir,
                ..
            } => {
                assert_eq!(exited.id, info.id);
                assert_eq!(exited_chat, Some(chat));
                // No workdir requested: a watcher should notify, not add paths.
                assert_eq!(requested_workdir, None);
                assert_eq!(exited.exit_code(), Some(0));
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn observers_see_every_event_in_order_with_their_measurements() {
    let h = harness();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    h.manager.observe(move |event| {
        let line = match event {
            ManagerEvent::Started {
                env_keys,
                spawn_latency,
                ..
            } => format!("started {env_keys:?} {spawn_latency:?}"),
            ManagerEvent::Signaled { signal, .. } => format!("signaled {signal}"),
            ManagerEvent::Exited {
                output_bytes,
                first_output_after,
                ..
            } => format!("exited {output_bytes} {first_output_after:?}"),
            ManagerEvent::Reaped { .. } => "reaped".to_owned(),
        };
        lock(&record).push(line);
    });
    h.execer.set_signal_behavior(SignalBehavior::Ignore);
    let request = StartRequest {
        env: [("SECRET".to_owned(), "value".to_owned())].into(),
        ..StartRequest::new("build")
    };
    let (info, child) = h.start(request).await;
    h.clock.advance(Duration::from_millis(250));
    child.write(b"hello");
    child.wait_output_read().await;
    h.manager
        .signal(info.id, None, Signal::Interrupt, None)
        .expect("signal");
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    h.clock.advance(DEFAULT_REAP_AFTER + Duration::from_secs(1));
    assert!(h.manager.list(None, usize::MAX).is_empty());
    assert_eq!(
        *lock(&seen),
        vec![
            // The fake spawns at once (on the manual clock: zero latency);
            // variable names only, never values.
            "started [\"SECRET\"] 0ns".to_owned(),
            "signaled SIGINT".to_owned(),
            "exited 5 Some(250ms)".to_owned(),
            "reaped".to_owned(),
        ]
    );
}

// --- close ---------------------------------------------------------------

#[tokio::test]
async fn close_terminates_then_kills_after_the_grace_and_waits() {
    let h = harness();
    h.execer.set_signal_behavior(SignalBehavior::ExitOnKillOnly);
    let (stubborn, stubborn_child) = h.start_cmd("trap '' TERM; sleep 300").await;
    h.execer.set_signal_behavior(SignalBehavior::ExitOnAny);
    let (polite, polite_child) = h.start_cmd("sleep 300").await;

    let manager = h.manager.clone();
    let closing = tokio::spawn(async move { manager.close().await });
    // Close has sent SIGTERM and armed its grace timer (the other timer is
    // the reaper's, armed when the polite process exited).
    h.exited(polite.id).await;
    h.clock.wait_for_timers(2).await;
    assert_eq!(polite_child.signals(), vec![Signal::Terminate]);
    assert_eq!(stubborn_child.signals(), vec![Signal::Terminate]);
    assert!(!closing.is_finished());

    h.clock.advance(DEFAULT_SHUTDOWN_GRACE);
    closing.await.expect("close");
    assert_eq!(
        stubborn_child.signals(),
        vec![Signal::Terminate, Signal::Kill]
    );
    let info = h.manager.info(stubborn.id, None).expect("still listed");
    assert!(!info.running());
    assert_eq!(info.exit_code(), Some(-1));
    assert!(h.manager.is_closed());
}

#[tokio::test]
async fn debug_formatting_does_not_deadlock() {
    // It used to take the registry lock twice in one expression.
    let h = harness();
    h.start_cmd("x").await;
    let text = format!("{:?}", h.manager);
    assert!(text.contains("processes: 1"), "{text}");
}

#[tokio::test]
async fn kill_all_kills_at_once() {
    let h = harness();
    h.execer.set_signal_behavior(SignalBehavior::ExitOnKillOnly);
    let (info, child) = h.start_cmd("trap '' TERM; sleep 300").await;
    h.manager.kill_all();
    assert_eq!(child.signals(), vec![Signal::Kill]);
    let exit = h.exited(info.id).await.info.exit.expect("exit");
    assert_eq!(exit.reason, crate::process::ExitReason::Shutdown);
}

#[tokio::test]
async fn close_is_idempotent_and_refuses_new_starts() {
    let h = harness();
    let (_, child) = h.start_cmd("sleep 300").await;
    let (a, b) = tokio::join!(h.manager.close(), h.manager.close());
    let ((), ()) = (a, b);
    h.manager.close().await;
    assert!(child.has_exited());
    assert!(matches!(
        h.manager.start(StartRequest::new("true")).await,
        Err(StartError::Closed)
    ));
    assert_eq!(h.execer.spawned().len(), 1);
}

#[tokio::test]
async fn close_kills_descendants_left_holding_the_pipe() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300 & exit 0").await;
    child.exit_only(ExitStatus::Exited(0));
    h.clock.wait_for_timers(1).await;
    h.clock.advance(DEFAULT_PIPE_DRAIN_GRACE);
    assert_eq!(h.exited(info.id).await.info.exit_code(), Some(-1));
    // The group still had members when the grace ran out: close signals it.
    let manager = h.manager.clone();
    let closing = tokio::spawn(async move { manager.close().await });
    h.clock.wait_for_timers(1).await;
    h.clock.advance(DEFAULT_SHUTDOWN_GRACE);
    closing.await.expect("close");
    assert_eq!(child.signals(), vec![Signal::Terminate]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_racing_starts_never_leaves_a_process_behind() {
    for _ in 0..20 {
        let h = harness();
        let starts: Vec<_> = (0..16)
            .map(|i| {
                let manager = h.manager.clone();
                tokio::spawn(
                    async move { manager.start(StartRequest::new(format!("job {i}"))).await },
                )
            })
            .collect();
        let manager = h.manager.clone();
        let closing = tokio::spawn(async move { manager.close().await });
        let mut succeeded = 0;
        for start in starts {
            match start.await.expect("join") {
                Ok(_) => succeeded += 1,
                Err(StartError::Closed) => {}
                Err(other) => panic!("unexpected {other}"),
            }
        }
        closing.await.expect("close");
        let spawned = h.execer.spawned();
        // Exactly the successful starts spawned, and close stopped them all.
        assert_eq!(spawned.len(), succeeded);
        for child in spawned {
            assert!(child.has_exited());
            assert_eq!(child.signals(), vec![Signal::Terminate]);
        }
    }
}
