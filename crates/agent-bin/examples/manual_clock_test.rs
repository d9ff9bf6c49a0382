//! Testing with the seams: a deadline and reaping staged with
//! `ManualClock` and `FakeExecer` (nothing sleeps, nothing depends on
//! speed), and a refused spawn with the mockall mocks. Written as a
//! program so that it runs in CI; in a crate of your own these are
//! `#[tokio::test]`s, with `agentproc-core = { features = ["test-support"] }`
//! as a dev-dependency.
//!
//! `cargo run -p agentproc --example manual_clock_test`

use std::sync::Arc;
use std::time::Duration;

use agentproc_core::exec::{Env, SpawnError};
use agentproc_core::manager::StartError;
use agentproc_core::testing::{FakeExecer, ManualClock, mock_execer};
use agentproc_core::{ExitReason, Manager, ManagerConfig, Signal, StartRequest};

async fn a_deadline_stops_the_command_and_reaping_forgets_it() {
    let execer = FakeExecer::default();
    let clock = ManualClock::default();
    let manager = Manager::new(
        ManagerConfig {
            base_env: Env::new(),
            reap_after: Duration::from_secs(60),
            ..ManagerConfig::default()
        },
        Arc::new(execer.clone()),
        Arc::new(clock.clone()),
    );
    let started = manager
        .start(StartRequest {
            timeout: Some(Duration::from_secs(5)),
            ..StartRequest::new("sleep 100")
        })
        .await
        .expect("start");
    let child = execer.next_spawn().await;

    // The deadline: wait for its 5 s timer (no guessing how many timers the
    // manager keeps), then jump to it.
    clock.wait_for_timer_within(Duration::from_secs(5)).await;
    clock.advance(Duration::from_secs(5));
    let exited = manager
        .wait_for_exit(started.info.id, None, Duration::from_secs(3600))
        .await
        .expect("exists");
    assert_eq!(child.signals(), vec![Signal::Terminate]);
    let exit = exited.info.exit.expect("exited");
    assert_eq!(exit.reason, ExitReason::DeadlineExceeded);

    // Reaping: a minute after the exit it is forgotten.
    clock.wait_for_timer_within(Duration::from_secs(61)).await;
    clock.advance(Duration::from_secs(61));
    let mut tries = 0;
    while manager.info(started.info.id, None).is_ok() {
        // The reaper runs on the next turn of the runtime.
        tokio::task::yield_now().await;
        tries += 1;
        assert!(tries < 10_000, "not reaped");
    }
    manager.close().await;
    println!("deadline and reaping: ok");
}

async fn a_refused_spawn_with_the_mocks() {
    let mut execer = mock_execer();
    execer.expect_spawn().times(1).returning(|_| {
        Err(SpawnError::Refused {
            reason: "not today".into(),
        })
    });
    let manager = Manager::new(
        ManagerConfig::default(),
        Arc::new(execer),
        Arc::new(agentproc_core::SystemClock),
    );
    let error = manager
        .start(StartRequest::new("true"))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, StartError::Spawn(SpawnError::Refused { .. })),
        "{error:?}"
    );
    // `mock_execer` answers the lifecycle calls `close` makes.
    manager.close().await;
    println!("mocked executor: ok");
}

#[tokio::main]
async fn main() {
    a_deadline_stops_the_command_and_reaping_forgets_it().await;
    a_refused_spawn_with_the_mocks().await;
}
