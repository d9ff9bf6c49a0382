//! The running and retained limits.

use super::*;

fn limited(max_running: usize, per_chat: Option<usize>, max_retained: usize) -> Harness {
    harness_with(ManagerConfig {
        max_running,
        max_running_per_chat: per_chat,
        max_retained,
        ..ManagerConfig::default()
    })
}

#[tokio::test]
async fn starts_beyond_the_running_limit_are_refused_until_one_exits() {
    let h = limited(2, None, 100);
    let (first, child) = h.start_cmd("a").await;
    h.start_cmd("b").await;
    let error = h
        .manager
        .start(StartRequest::new("c"))
        .await
        .expect_err("full");
    assert!(
        matches!(error, StartError::TooManyRunning { limit: 2 }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "too many running processes (the limit is 2)"
    );
    assert_eq!(
        h.execer.spawned().len(),
        2,
        "nothing spawned for the refused start"
    );
    child.exit(ExitStatus::Exited(0));
    h.exited(first.id).await;
    h.start_cmd("c").await;
}

#[tokio::test]
async fn each_chat_has_its_own_running_limit() {
    let h = limited(10, Some(1), 100);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    h.start(chat_request("a1", a)).await;
    let error = h
        .manager
        .start(chat_request("a2", a))
        .await
        .expect_err("chat full");
    assert!(
        matches!(error, StartError::TooManyRunningInChat { limit: 1 }),
        "{error}"
    );
    h.start(chat_request("b1", b)).await;
    h.start_cmd("no chat").await;
}

#[tokio::test]
async fn a_full_retained_set_forgets_the_oldest_exited_process() {
    let h = limited(10, None, 2);
    let mut events = h.manager.subscribe();
    let (old, child) = h.start_cmd("old").await;
    child.exit(ExitStatus::Exited(0));
    h.exited(old.id).await;
    let (newer, child) = h.start_cmd("newer").await;
    child.exit(ExitStatus::Exited(0));
    h.exited(newer.id).await;
    h.start_cmd("third").await;
    assert_eq!(h.manager.info(old.id, None).err(), Some(NotFound));
    assert!(h.manager.info(newer.id, None).is_ok());
    loop {
        if let ManagerEvent::Reaped { id } = events.recv().await.expect("event") {
            assert_eq!(id, old.id);
            break;
        }
    }
}

#[tokio::test]
async fn a_retained_set_of_running_or_tokened_processes_refuses_starts() {
    let h = limited(10, None, 2);
    let tokened = StartRequest {
        client_token: Some("t".into()),
        ..StartRequest::new("once")
    };
    let (info, child) = h.start(tokened).await;
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    h.start_cmd("running").await;
    let error = h
        .manager
        .start(StartRequest::new("x"))
        .await
        .expect_err("full");
    assert!(
        matches!(error, StartError::TooManyRetained { limit: 2 }),
        "{error}"
    );
    assert!(
        h.manager.info(info.id, None).is_ok(),
        "the tokened process is kept"
    );
}
