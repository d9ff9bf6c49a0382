//! Output beyond the snapshot, with the fake executor, the manual clock and
//! real log files in a temporary directory.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::log::{LogConfig, LogStore, SearchOptions, compile_pattern};
use crate::manager::{FeedItem, OutputError, StdinError, Until, WaitOutcome, WaitResult};

fn log_store(per_process: u64) -> Arc<LogStore> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agentproc-manager-logs-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    LogStore::open(LogConfig {
        dir,
        max_bytes_per_process: per_process,
        max_total_bytes: 1 << 30,
    })
    .expect("log store")
}

/// Waits until the log has `total` bytes (the writer thread commits them
/// after the pump reads them).
async fn logged_up_to(h: &Harness, id: ProcessId, total: u64) -> WaitOutcome {
    let outcome = h
        .manager
        .wait_until(
            id,
            None,
            Until::Output {
                after: Some(total - 1),
            },
            FOREVER,
            None,
        )
        .await
        .expect("wait");
    assert_eq!(outcome.result, WaitResult::Output);
    outcome
}

fn logged() -> Harness {
    harness_with(ManagerConfig {
        logs: Some(log_store(1 << 30)),
        ..ManagerConfig::default()
    })
}

#[tokio::test]
async fn cursor_reads_return_exact_ranges_and_eof() {
    let h = logged();
    let (info, child) = h.start_cmd("build").await;
    child.write(b"one\ntwo\n");
    logged_up_to(&h, info.id, 8).await;
    let chunk = h
        .manager
        .read_output(info.id, None, 0, 1024)
        .await
        .expect("read");
    assert_eq!(
        (
            chunk.text.as_str(),
            chunk.cursor,
            chunk.next_cursor,
            chunk.eof
        ),
        ("one\ntwo\n", 0, 8, false)
    );
    let middle = h
        .manager
        .read_output(info.id, None, 4, 2)
        .await
        .expect("read");
    assert_eq!(
        (middle.text.as_str(), middle.cursor, middle.next_cursor),
        ("tw", 4, 6)
    );
    child.write(b"three\n");
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    let rest = h
        .manager
        .read_output(info.id, None, 8, 1024)
        .await
        .expect("read");
    assert_eq!(
        (rest.text.as_str(), rest.next_cursor, rest.eof),
        ("three\n", 14, true)
    );
    let past = h
        .manager
        .read_output(info.id, None, 14, 1024)
        .await
        .expect("read");
    assert!(past.text.is_empty() && past.eof);
}

#[tokio::test]
async fn cursor_reads_across_eviction_report_the_gap_exactly() {
    let h = harness_with(ManagerConfig {
        logs: Some(log_store(400)),
        ..ManagerConfig::default()
    });
    let (info, child) = h.start_cmd("noisy").await;
    let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    for piece in data.chunks(64) {
        child.write(piece);
    }
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    let chunk = h
        .manager
        .read_output(info.id, None, 0, 4096)
        .await
        .expect("read");
    assert!(chunk.gap_bytes > 0);
    assert_eq!(
        chunk.cursor, chunk.gap_bytes,
        "the gap ends where the text starts"
    );
    let kept = usize::try_from(chunk.cursor).expect("fits");
    assert_eq!(chunk.text.as_bytes(), &data[kept..]);
    assert!(chunk.eof);
    // From inside the kept range: no gap.
    let later = h
        .manager
        .read_output(info.id, None, 990, 4096)
        .await
        .expect("read");
    assert_eq!((later.gap_bytes, later.text.as_bytes()), (0, &data[990..]));
}

#[tokio::test]
async fn a_character_cut_by_the_chunk_is_left_for_the_next_read() {
    let h = logged();
    let (info, child) = h.start_cmd("utf8").await;
    child.write("ab€".as_bytes());
    logged_up_to(&h, info.id, 5).await;
    let first = h
        .manager
        .read_output(info.id, None, 0, 3)
        .await
        .expect("read");
    assert_eq!((first.text.as_str(), first.next_cursor), ("ab", 2));
    let second = h
        .manager
        .read_output(info.id, None, 2, 10)
        .await
        .expect("read");
    assert_eq!(second.text, "€");
}

#[tokio::test]
async fn feeds_follow_output_live_and_end_with_the_exit() {
    let h = logged();
    let (info, child) = h.start_cmd("server").await;
    let mut feed = h.manager.output_feed(info.id, None).expect("feed");
    let reader = tokio::spawn(async move {
        let mut cursor = 0;
        let mut text = String::new();
        loop {
            match feed.next(cursor, 1024).await.expect("next") {
                FeedItem::Output(chunk) => {
                    assert_eq!(chunk.cursor, cursor, "no byte lost or repeated");
                    cursor = chunk.next_cursor;
                    text.push_str(&chunk.text);
                }
                FeedItem::Exit(info) => return (text, info.exit_code()),
            }
        }
    });
    child.write(b"starting\n");
    child.wait_output_read().await;
    child.write(b"ready\n");
    child.exit(ExitStatus::Exited(3));
    let (text, code) = reader.await.expect("join");
    assert_eq!(text, "starting\nready\n");
    assert_eq!(code, Some(3));
}

#[tokio::test]
async fn waits_return_on_match_output_idle_exit_or_timeout() {
    let h = logged();
    let (info, child) = h.start_cmd("dev-server").await;
    let manager = h.manager.clone();
    let id = info.id;
    let matcher = tokio::spawn(async move {
        let until = Until::Match {
            pattern: compile_pattern("listening on port \\d+", false).expect("regex"),
            from: 0,
        };
        manager.wait_until(id, None, until, FOREVER, None).await
    });
    child.write(b"compiling...\n");
    child.wait_output_read().await;
    assert!(!matcher.is_finished());
    child.write(b"listening on port 3000\n");
    let outcome = matcher.await.expect("join").expect("wait");
    assert_eq!(outcome.result, WaitResult::Matched);
    assert!(outcome.snapshot.output.contains("listening on port 3000"));

    // A prompt without a newline matches too.
    child.write(b"Proceed? [y/N] ");
    let outcome = h
        .manager
        .wait_until(
            id,
            None,
            Until::Match {
                pattern: compile_pattern(r"\[y/N\]", false).expect("regex"),
                from: 0,
            },
            FOREVER,
            None,
        )
        .await
        .expect("wait");
    assert_eq!(outcome.result, WaitResult::Matched);

    // Output: returns at the next write, with the new text from the cursor.
    let total = h
        .manager
        .read_output(id, None, 0, 1 << 20)
        .await
        .expect("read")
        .next_cursor;
    let manager = h.manager.clone();
    let output = tokio::spawn(async move {
        manager
            .wait_until(
                id,
                None,
                Until::Output { after: Some(total) },
                FOREVER,
                Some((total, 1024)),
            )
            .await
    });
    h.clock.wait_for_timers(1).await;
    child.write(b"more\n");
    let outcome = output.await.expect("join").expect("wait");
    assert_eq!(outcome.result, WaitResult::Output);
    assert_eq!(outcome.chunk.expect("chunk").text, "more\n");

    // Idle: quiet for exactly the asked time (timers: the wait's and idle's).
    let manager = h.manager.clone();
    let idle = tokio::spawn(async move {
        manager
            .wait_until(
                id,
                None,
                Until::Idle {
                    quiet: Duration::from_secs(2),
                },
                FOREVER,
                None,
            )
            .await
    });
    h.clock.wait_for_timers(2).await;
    h.clock.advance(Duration::from_millis(1999));
    assert_eq!(h.clock.pending_timers(), 2, "not idle yet");
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(
        idle.await.expect("join").expect("wait").result,
        WaitResult::Idle
    );

    // Timeout.
    let manager = h.manager.clone();
    let timed = tokio::spawn(async move {
        manager
            .wait_until(
                id,
                None,
                Until::Output { after: None },
                Duration::from_secs(5),
                None,
            )
            .await
    });
    h.clock.wait_for_timers(1).await;
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(
        timed.await.expect("join").expect("wait").result,
        WaitResult::Timeout
    );

    // Exit ends any wait; the process was never touched.
    let manager = h.manager.clone();
    let until_match = tokio::spawn(async move {
        let until = Until::Match {
            pattern: compile_pattern("never printed", false).expect("regex"),
            from: 0,
        };
        manager.wait_until(id, None, until, FOREVER, None).await
    });
    h.clock.wait_for_timers(1).await;
    child.exit(ExitStatus::Exited(0));
    assert_eq!(
        until_match.await.expect("join").expect("wait").result,
        WaitResult::Exited
    );
    assert!(child.signals().is_empty());
}

#[tokio::test]
async fn search_and_lines_cover_the_whole_log() {
    let h = logged();
    let (info, child) = h.start_cmd("long build").await;
    for n in 1..=5000 {
        child.write(format!("step {n}\n").as_bytes());
    }
    child.exit(ExitStatus::Exited(0));
    let snapshot = h.exited(info.id).await;
    assert!(
        !snapshot.output.contains("step 2500\n"),
        "the middle is not in the view"
    );
    let result = h
        .manager
        .search(
            info.id,
            None,
            SearchOptions {
                pattern: compile_pattern("^step 2500$", false).expect("regex"),
                context: 1,
                max_matches: 10,
            },
        )
        .await
        .expect("search");
    assert_eq!(result.matches.len(), 1);
    assert_eq!(result.matches[0].line, 2500);
    let range = h
        .manager
        .lines(info.id, None, 2499, 2501, 100, 1 << 20)
        .await
        .expect("lines");
    let texts: Vec<&[u8]> = range
        .lines
        .iter()
        .map(|(_, text)| text.as_slice())
        .collect();
    assert_eq!(texts, [&b"step 2499"[..], b"step 2500", b"step 2501"]);
    assert_eq!(range.total_lines, 5000);
}

#[tokio::test]
async fn standard_input_is_written_then_closed() {
    let h = logged();
    let request = StartRequest {
        stdin: true,
        ..StartRequest::new("cat")
    };
    let (info, child) = h.start(request).await;
    assert!(child.spec().stdin);
    let written = h
        .manager
        .write_stdin(info.id, None, b"hello\n", false)
        .await
        .expect("write");
    assert_eq!(written, 6);
    h.manager
        .write_stdin(info.id, None, b"bye", true)
        .await
        .expect("write and close");
    assert_eq!(child.input(), (b"hello\nbye".to_vec(), true));
    assert!(matches!(
        h.manager.write_stdin(info.id, None, b"more", false).await,
        Err(StdinError::Closed)
    ));
    // Without a pipe there is nothing to write to.
    let (plain, _) = h.start_cmd("true").await;
    assert!(matches!(
        h.manager.write_stdin(plain.id, None, b"x", false).await,
        Err(StdinError::Closed)
    ));
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    assert!(matches!(
        h.manager.write_stdin(info.id, None, b"x", false).await,
        Err(StdinError::NotRunning)
    ));
}

#[tokio::test]
async fn without_logs_the_new_reads_say_so() {
    let h = harness();
    let (info, _child) = h.start_cmd("x").await;
    assert!(matches!(
        h.manager.read_output(info.id, None, 0, 10).await,
        Err(OutputError::LogsDisabled)
    ));
    assert!(matches!(
        h.manager.output_feed(info.id, None),
        Err(OutputError::LogsDisabled)
    ));
}

#[tokio::test]
async fn a_reaped_process_takes_its_log_with_it() {
    let store = log_store(1 << 30);
    let h = harness_with(ManagerConfig {
        logs: Some(Arc::clone(&store)),
        ..ManagerConfig::default()
    });
    let (info, child) = h.start_cmd("x").await;
    child.write(&[b'x'; 1000]);
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    assert_eq!(store.total_bytes(), 1000);
    h.clock.advance(DEFAULT_REAP_AFTER + Duration::from_secs(1));
    assert!(h.manager.list(None, usize::MAX).is_empty());
    assert_eq!(store.total_bytes(), 0);
    store.settled().await;
    assert!(!store.config().dir.join(info.id.to_string()).exists());
}

/// A wait woken by the log answers with a snapshot that already holds the
/// bytes it woke on (the snapshot is written before the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_wait_sees_its_bytes_in_the_snapshot() {
    let h = logged();
    let (info, child) = h.start_cmd("chatty").await;
    let mut total = 0;
    for round in 0..2000 {
        let line = format!("line {round}\n");
        total += line.len() as u64;
        child.write(line.as_bytes());
        let outcome = logged_up_to(&h, info.id, total).await;
        assert!(
            // Coder's format puts a newline where the head meets the tail.
            outcome
                .snapshot
                .output
                .replace('\n', "")
                .ends_with(line.trim_end()),
            "round {round}: the snapshot lags the log"
        );
    }
}

/// A recorded spawn failure (a tokened start) reads like any process that
/// wrote nothing: an empty final log, not "logs are not enabled".
#[tokio::test]
async fn a_recorded_spawn_failure_has_an_empty_final_log() {
    let h = logged();
    h.execer.fail_next_spawn(SpawnError::Workdir {
        path: "/gone".into(),
        source: std::io::Error::from_raw_os_error(2),
    });
    let mut request = StartRequest::new("build");
    request.client_token = Some("t".to_owned());
    h.manager.start(request.clone()).await.expect_err("fails");
    let id = h.manager.start(request).await.expect("attaches").info.id;
    let chunk = h
        .manager
        .read_output(id, None, 0, 1024)
        .await
        .expect("read");
    assert_eq!((chunk.text.as_str(), chunk.next_cursor), ("", 0));
    assert!(chunk.eof);
    let lines = h
        .manager
        .lines(id, None, 1, 10, 100, 1 << 20)
        .await
        .expect("lines");
    assert_eq!(lines.total_lines, 0);
    let mut feed = h.manager.output_feed(id, None).expect("feed");
    assert!(matches!(feed.next(0, 1024).await, Ok(FeedItem::Exit(_))));
}

/// Without a log store, reads say logs are off.
#[tokio::test]
async fn without_a_store_reads_say_logs_are_off() {
    let h = harness();
    let (info, _child) = h.start_cmd("build").await;
    let error = h
        .manager
        .read_output(info.id, None, 0, 1024)
        .await
        .expect_err("no logs");
    assert!(matches!(error, OutputError::LogsDisabled), "{error:?}");
}
