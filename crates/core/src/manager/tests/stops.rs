//! Deadlines, escalation, exit reasons and usage.

use super::*;
use crate::exec::{ChildExit, ResourceUsage};
use crate::process::ExitReason;

fn with_timeout(command: &str, timeout: Duration) -> StartRequest {
    StartRequest {
        timeout: Some(timeout),
        ..StartRequest::new(command)
    }
}

async fn reason(h: &Harness, id: ProcessId) -> ExitReason {
    h.exited(id).await.info.exit.expect("exited").reason
}

#[tokio::test]
async fn a_deadline_terminates_the_group_exactly_on_time() {
    let h = harness();
    let (info, child) = h
        .start(with_timeout("sleep 300", Duration::from_secs(10)))
        .await;
    h.clock.wait_for_timers(1).await;
    h.clock
        .advance(Duration::from_secs(10) - Duration::from_millis(1));
    assert!(child.signals().is_empty(), "not a moment early");
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(reason(&h, info.id).await, ExitReason::DeadlineExceeded);
    assert_eq!(child.signals(), vec![Signal::Terminate]);
    let exit = h
        .manager
        .info(info.id, None)
        .expect("exists")
        .exit
        .expect("exit");
    assert_eq!(exit.code, -1);
    assert_eq!(exit.signal, Some(15));
    assert_eq!(exit.duration, Duration::from_secs(10));
}

#[tokio::test]
async fn a_deadline_escalates_to_kill_after_the_grace() {
    let h = harness();
    h.execer.set_signal_behavior(SignalBehavior::ExitOnKillOnly);
    let (info, child) = h
        .start(with_timeout(
            "trap '' TERM; sleep 300",
            Duration::from_secs(1),
        ))
        .await;
    h.clock.wait_for_timers(1).await;
    h.clock.advance(Duration::from_secs(1));
    // SIGTERM sent; the escalation timer is armed.
    h.clock.wait_for_timers(1).await;
    assert_eq!(child.signals(), vec![Signal::Terminate]);
    h.clock
        .advance(DEFAULT_DEADLINE_GRACE - Duration::from_millis(1));
    assert_eq!(child.signals(), vec![Signal::Terminate]);
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(reason(&h, info.id).await, ExitReason::DeadlineExceeded);
    assert_eq!(child.signals(), vec![Signal::Terminate, Signal::Kill]);
}

#[tokio::test]
async fn a_process_that_ends_before_its_deadline_is_left_alone() {
    let h = harness();
    let (info, child) = h.start(with_timeout("true", Duration::from_secs(60))).await;
    h.clock.wait_for_timers(1).await;
    child.exit(ExitStatus::Exited(0));
    assert_eq!(reason(&h, info.id).await, ExitReason::Exited);
    h.clock.advance(Duration::from_secs(120));
    assert!(child.signals().is_empty());
}

#[tokio::test]
async fn a_wait_never_kills() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300").await;
    let waiter = tokio::spawn({
        let manager = h.manager.clone();
        async move {
            manager
                .wait_for_exit(info.id, None, Duration::from_secs(5))
                .await
        }
    });
    h.clock.wait_for_timers(1).await;
    h.clock.advance(Duration::from_secs(5));
    let snapshot = waiter.await.expect("join").expect("exists");
    assert!(snapshot.info.running());
    // A waiter that gives up (drops its future) changes nothing either.
    drop(h.manager.wait_for_exit(info.id, None, FOREVER));
    assert!(child.signals().is_empty());
}

#[tokio::test]
async fn terminate_with_grace_escalates_for_a_process_that_traps_it() {
    let h = harness();
    h.execer.set_signal_behavior(SignalBehavior::ExitOnKillOnly);
    let (info, child) = h.start_cmd("trap '' TERM; sleep 300").await;
    h.manager
        .signal(
            info.id,
            None,
            Signal::Terminate,
            Some(Duration::from_secs(3)),
        )
        .expect("terminate");
    h.clock.wait_for_timers(1).await;
    h.clock.advance(Duration::from_secs(3));
    assert_eq!(reason(&h, info.id).await, ExitReason::Killed);
    assert_eq!(child.signals(), vec![Signal::Terminate, Signal::Kill]);
}

#[tokio::test]
async fn terminate_with_grace_does_nothing_more_when_the_process_obeys() {
    let h = harness();
    let (info, child) = h.start_cmd("sleep 300").await;
    h.manager
        .signal(
            info.id,
            None,
            Signal::Terminate,
            Some(Duration::from_secs(3)),
        )
        .expect("terminate");
    assert_eq!(reason(&h, info.id).await, ExitReason::Killed);
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(child.signals(), vec![Signal::Terminate]);
}

#[tokio::test]
async fn exit_reasons_for_every_path() {
    let h = harness();

    let (info, child) = h.start_cmd("exit 3").await;
    child.exit(ExitStatus::Exited(3));
    assert_eq!(reason(&h, info.id).await, ExitReason::Exited);

    // A crash (a signal nobody requested).
    let (info, child) = h.start_cmd("./segfaults").await;
    child.exit(ExitStatus::Signaled {
        signal: 11,
        core_dumped: true,
    });
    let exit = h.exited(info.id).await.info.exit.expect("exit");
    assert_eq!(
        (exit.reason, exit.signal, exit.core_dumped),
        (ExitReason::Signaled, Some(11), true)
    );

    let (info, _) = h.start_cmd("sleep 300").await;
    h.manager
        .signal(info.id, None, Signal::Kill, None)
        .expect("kill");
    assert_eq!(reason(&h, info.id).await, ExitReason::Killed);

    // An interrupt that ends the process counts as a request...
    let (info, _) = h.start_cmd("sleep 300").await;
    h.manager
        .signal(info.id, None, Signal::Interrupt, None)
        .expect("interrupt");
    assert_eq!(reason(&h, info.id).await, ExitReason::Killed);

    // ...but a hangup the program handles (say, to reload) does not make its
    // later, normal exit a kill.
    h.execer.set_signal_behavior(SignalBehavior::Ignore);
    let (info, child) = h.start_cmd("nginx").await;
    h.manager
        .signal(info.id, None, Signal::Hangup, None)
        .expect("hangup");
    child.exit(ExitStatus::Exited(0));
    assert_eq!(reason(&h, info.id).await, ExitReason::Exited);
    h.execer.set_signal_behavior(SignalBehavior::ExitOnAny);

    let (info, _) = h.start_cmd("sleep 300").await;
    h.manager.close().await;
    assert_eq!(reason(&h, info.id).await, ExitReason::Shutdown);
}

#[tokio::test]
async fn usage_duration_and_pid_are_reported() {
    let h = harness();
    let (info, child) = h.start_cmd("cargo build").await;
    assert_eq!(info.pid, Some(child.pid()));
    h.clock.advance(Duration::from_millis(2500));
    let usage = ResourceUsage {
        user_cpu: Duration::from_millis(1200),
        system_cpu: Duration::from_millis(300),
        max_rss_bytes: Some(64 << 20),
        forks_refused: Some(3),
        cpu_throttled: Some(Duration::from_millis(40)),
    };
    child.exit_with(ChildExit {
        status: ExitStatus::Exited(0),
        usage: Some(usage),
        oom_killed: false,
    });
    let exit = h.exited(info.id).await.info.exit.expect("exit");
    assert_eq!(exit.usage, Some(usage));
    assert_eq!(exit.duration, Duration::from_millis(2500));
    assert_eq!(exit.reason, ExitReason::Exited);
}

#[tokio::test]
async fn an_oom_kill_reported_by_the_executor_is_the_exit_reason() {
    let h = harness();
    h.execer.set_signal_behavior(SignalBehavior::Ignore);
    let (info, child) = h.start_cmd("cargo build").await;
    // Even when a deadline or a request was stopping it at the same time.
    h.manager
        .signal(info.id, None, Signal::Terminate, None)
        .expect("signal");
    child.exit_with(ChildExit {
        status: ExitStatus::Signaled {
            signal: 9,
            core_dumped: false,
        },
        usage: None,
        oom_killed: true,
    });
    let exit = h.exited(info.id).await.info.exit.expect("exit");
    assert_eq!(exit.reason, ExitReason::OomKilled);
    assert_eq!(exit.signal, Some(9));
}

#[tokio::test]
async fn a_zero_timeout_is_invalid() {
    let h = harness();
    let error = h
        .manager
        .start(with_timeout("x", Duration::ZERO))
        .await
        .expect_err("invalid");
    assert!(matches!(
        error,
        StartError::Invalid(InvalidStart::ZeroTimeout)
    ));
    assert!(h.execer.spawned().is_empty());
}
