//! Exactly-once starts: the client-token index.

use super::*;
use crate::process::ExitReason;

fn tokened(command: &str, token: &str) -> StartRequest {
    StartRequest {
        client_token: Some(token.to_owned()),
        ..StartRequest::new(command)
    }
}

#[tokio::test]
async fn the_same_token_attaches_to_the_first_process() {
    let h = harness();
    let first = h
        .manager
        .start(tokened("git push", "t1"))
        .await
        .expect("start");
    assert!(!first.attached);
    let again = h
        .manager
        .start(tokened("git push", "t1"))
        .await
        .expect("retry");
    assert!(again.attached);
    assert_eq!(again.info.id, first.info.id);
    assert_eq!(again.info.started_at, first.info.started_at);
    assert_eq!(again.info.client_token.as_deref(), Some("t1"));
    assert_eq!(h.execer.spawned().len(), 1, "spawned exactly once");
}

#[tokio::test]
async fn a_retry_after_exit_attaches_to_the_exited_process() {
    let h = harness();
    let (info, child) = h.start(tokened("make", "t")).await;
    child.write(b"done\n");
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    let again = h.manager.start(tokened("make", "t")).await.expect("retry");
    assert!(again.attached);
    assert_eq!(again.info.id, info.id);
    assert_eq!(again.info.exit_code(), Some(0));
    assert_eq!(h.execer.spawned().len(), 1);
}

#[tokio::test]
async fn different_parameters_with_one_token_are_refused() {
    let h = harness();
    h.start(tokened("ls", "t")).await;
    let variants = [
        tokened("ls -l", "t"),
        StartRequest {
            env: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
            ..tokened("ls", "t")
        },
        StartRequest {
            background: true,
            ..tokened("ls", "t")
        },
        StartRequest {
            workdir: Some("/tmp".into()),
            ..tokened("ls", "t")
        },
    ];
    for variant in variants {
        let error = h.manager.start(variant).await.expect_err("mismatch");
        assert!(matches!(error, StartError::TokenMismatch), "{error}");
        assert_eq!(
            error.to_string(),
            "client token was already used to start a process with different parameters"
        );
    }
    // The requested workdir is compared, not the resolved one: no workdir
    // and an empty one are the same request.
    let same = StartRequest {
        workdir: Some(String::new()),
        ..tokened("ls", "t")
    };
    assert!(h.manager.start(same).await.expect("attach").attached);
    assert_eq!(h.execer.spawned().len(), 1);
}

#[tokio::test]
async fn tokens_are_scoped_per_chat() {
    let h = harness();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let in_chat = |chat: Option<Uuid>| StartRequest {
        chat: chat.map(ChatContext::new),
        ..tokened("deploy", "shared-token")
    };
    let first = h.manager.start(in_chat(Some(a))).await.expect("a");
    let second = h.manager.start(in_chat(Some(b))).await.expect("b");
    let third = h.manager.start(in_chat(None)).await.expect("no chat");
    assert!(!first.attached && !second.attached && !third.attached);
    assert_eq!(h.execer.spawned().len(), 3);
    assert!(
        h.manager
            .start(in_chat(Some(a)))
            .await
            .expect("again")
            .attached
    );
}

#[tokio::test]
async fn an_empty_token_is_no_token() {
    let h = harness();
    h.manager.start(tokened("x", "")).await.expect("one");
    let second = h.manager.start(tokened("x", "")).await.expect("two");
    assert!(!second.attached);
    assert_eq!(second.info.client_token, None);
    assert_eq!(h.execer.spawned().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_with_one_token_spawn_once() {
    let h = harness();
    h.execer.hold_spawns();
    let start = |manager: Manager| async move { manager.start(tokened("git push", "race")).await };
    let owner = tokio::spawn(start(h.manager.clone()));
    h.execer.wait_for_held_spawns(1).await;
    // The owner is inside the spawn: the token is reserved, not yet bound.
    let status = h.manager.token_status("race", None);
    assert!(status.pending && !status.found);
    let others: Vec<_> = (0..7)
        .map(|_| tokio::spawn(start(h.manager.clone())))
        .collect();
    h.execer.release_spawns();

    let owner = owner.await.expect("join").expect("owner starts");
    assert!(!owner.attached);
    for other in others {
        let other = other.await.expect("join").expect("attaches");
        assert!(other.attached);
        assert_eq!(other.info.id, owner.info.id);
    }
    assert_eq!(h.execer.spawned().len(), 1, "8 starts, 1 spawn");
    let status = h.manager.token_status("race", None);
    assert_eq!(status.process_id, Some(owner.info.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_aborts_starts_waiting_on_a_token() {
    let h = harness();
    h.execer.hold_spawns();
    let owner = tokio::spawn({
        let manager = h.manager.clone();
        async move { manager.start(tokened("slow", "t")).await }
    });
    h.execer.wait_for_held_spawns(1).await;
    let waiter = tokio::spawn({
        let manager = h.manager.clone();
        async move { manager.start(tokened("slow", "t")).await }
    });
    let closing = tokio::spawn({
        let manager = h.manager.clone();
        async move { manager.close().await }
    });
    let error = waiter.await.expect("join").expect_err("aborted");
    assert!(
        matches!(error, StartError::TokenWaitAborted { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("aborted waiting for the concurrent start")
    );
    h.execer.release_spawns();
    // The owner got in before close, so its process exists and was stopped.
    let owner = owner.await.expect("join").expect("owner started");
    closing.await.expect("close");
    assert!(
        !h.manager
            .info(owner.info.id, None)
            .expect("listed")
            .running()
    );
}

#[tokio::test]
async fn an_owner_that_gives_up_releases_the_token() {
    let h = harness();
    // Hold the gate shut by closing the manager after the owner reserved the
    // token: the owner fails with Closed, and the token is not left pending.
    h.manager.close().await;
    let error = h
        .manager
        .start(tokened("x", "t"))
        .await
        .expect_err("closed");
    assert!(matches!(error, StartError::Closed));
    let status = h.manager.token_status("t", None);
    assert!(!status.pending && !status.found);
    assert!(h.execer.spawned().is_empty());
}

#[tokio::test]
async fn a_dropped_owner_releases_the_token() {
    let h = harness();
    // Block the owner at the gate: an exclusive holder (a close in progress
    // would do the same) keeps it waiting after it reserved the token.
    let gate = h.manager.inner.gate.write().await;
    let mut owner = Box::pin(h.manager.start(tokened("x", "t")));
    tokio::select! {
        biased;
        _ = &mut owner => panic!("the gate is held"),
        () = std::future::ready(()) => {}
    }
    assert!(h.manager.token_status("t", None).pending);
    drop(owner);
    drop(gate);
    assert!(!h.manager.token_status("t", None).pending);
    let fresh = h.manager.start(tokened("x", "t")).await.expect("start");
    assert!(!fresh.attached);
}

#[tokio::test]
async fn a_failed_tokened_spawn_is_recorded_and_retries_attach_to_it() {
    let h = harness();
    let mut events = h.manager.subscribe();
    h.execer.fail_next_spawn(SpawnError::Workdir {
        path: "/gone".into(),
        source: std::io::Error::from_raw_os_error(2),
    });
    let error = h
        .manager
        .start(tokened("build", "t"))
        .await
        .expect_err("fails");
    assert!(matches!(error, StartError::Spawn(_)));
    let retry = h
        .manager
        .start(tokened("build", "t"))
        .await
        .expect("attaches");
    assert!(retry.attached);
    let exit = retry.info.exit.expect("exited");
    assert_eq!(exit.reason, ExitReason::SpawnFailed);
    assert_eq!(exit.code, -1);
    assert_eq!(
        exit.error.as_deref(),
        Some("start process: chdir /gone: no such file or directory")
    );
    assert!(h.execer.spawned().is_empty(), "nothing ever ran");
    // Observers see it as an exit (metrics, audit), with no start before.
    match events.try_recv().expect("an event") {
        ManagerEvent::Exited { info, .. } => {
            assert_eq!(info.exit.expect("exit").reason, ExitReason::SpawnFailed);
        }
        other => panic!("expected the exit, got {other:?}"),
    }
    // An untokened failure leaves no trace.
    h.execer.fail_next_spawn(SpawnError::ProgramNotFound {
        program: "sh".into(),
    });
    h.manager
        .start(StartRequest::new("x"))
        .await
        .expect_err("fails");
    assert_eq!(h.manager.list(None, usize::MAX).len(), 1);
}

#[tokio::test]
async fn tokened_processes_are_kept_for_the_token_retention() {
    let h = harness();
    let (info, child) = h.start(tokened("once", "t")).await;
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    h.clock.advance(DEFAULT_REAP_AFTER + Duration::from_secs(1));
    assert_eq!(
        h.manager.list(None, usize::MAX).len(),
        1,
        "past the plain reap age"
    );
    assert!(h.manager.token_status("t", None).found);
    h.clock
        .advance(DEFAULT_TOKEN_REAP_AFTER - DEFAULT_REAP_AFTER);
    // The probe reaps first, so it never reports a token that would not attach.
    let status = h.manager.token_status("t", None);
    assert!(!status.found, "past the token retention");
    let fresh = h.manager.start(tokened("once", "t")).await.expect("fresh");
    assert!(!fresh.attached);
    assert_ne!(fresh.info.id, info.id);
}

#[tokio::test]
async fn the_probe_respects_chats_and_reports_the_index_age() {
    let h = harness();
    let chat = Uuid::new_v4();
    let request = StartRequest {
        chat: Some(ChatContext::new(chat)),
        ..tokened("x", "tok/with reserved?bytes")
    };
    let (info, _) = h.start(request).await;
    let mine = h
        .manager
        .token_status("tok/with reserved?bytes", Some(chat));
    assert!(mine.found);
    assert_eq!(mine.process_id, Some(info.id));
    let other = h
        .manager
        .token_status("tok/with reserved?bytes", Some(Uuid::new_v4()));
    assert!(!other.found && !other.pending && other.process_id.is_none());
    let unknown = h.manager.token_status("nope", None);
    assert!(!unknown.found);
    assert_eq!(unknown.index_age, Duration::ZERO);
    h.clock.advance(Duration::from_millis(1500));
    assert_eq!(
        h.manager.token_status("nope", None).index_age,
        Duration::from_millis(1500)
    );
}
