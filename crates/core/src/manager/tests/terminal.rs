//! Terminal processes with the fake executor and the manual clock: the
//! spec and environment, the screen fed from output with queries answered,
//! input with named keys, resizing, and knowing when a program waits for
//! input (quiet for the settle time and blocked reading, as the executor
//! reports).

use super::*;
use crate::exec::{TerminalModes, TerminalSize};
use crate::manager::{Input, InputError, TerminalError};
use crate::process::InputKind;

fn tty(command: &str) -> StartRequest {
    StartRequest {
        terminal: Some(TerminalSize::DEFAULT),
        ..StartRequest::new(command)
    }
}

/// A REPL on a terminal that has printed its prompt and sits blocked
/// reading (the settle time not yet passed).
async fn prompting_repl(h: &Harness) -> (crate::process::ProcessId, FakeProcess) {
    let (info, child) = h.start(tty("python3")).await;
    child.write(b">>> ");
    child.wait_output_read().await;
    child.set_blocked_on_input(true);
    (info.id, child)
}

fn input(text: &str, keys: &[&str], eof: bool) -> Input {
    Input {
        text: text.as_bytes().to_vec(),
        keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        eof,
    }
}

#[tokio::test]
async fn a_terminal_start_asks_the_executor_for_one_with_term_set() {
    let h = harness();
    let (info, child) = h.start(tty("python3")).await;
    assert_eq!(child.spec().terminal, Some(TerminalSize::DEFAULT));
    assert_eq!(env_value(&child, "TERM").as_deref(), Some("xterm-256color"));
    assert_eq!(info.terminal, Some(TerminalSize::DEFAULT));

    // The request's own TERM wins.
    let mut request = tty("vi");
    request.env.insert("TERM".into(), "vt100".into());
    let (_, child) = h.start(request).await;
    assert_eq!(env_value(&child, "TERM").as_deref(), Some("vt100"));

    // No terminal, no TERM change and no terminal info.
    let (info, child) = h.start_cmd("true").await;
    assert_eq!(child.spec().terminal, None);
    assert_eq!(env_value(&child, "TERM"), None);
    assert_eq!(info.terminal, None);
    h.manager.close().await;
}

#[tokio::test]
async fn an_executor_without_terminals_refuses_before_spawning() {
    let h = harness();
    h.execer.refuse_terminals();
    let error = h.manager.start(tty("python3")).await.expect_err("refused");
    assert!(
        matches!(
            error,
            StartError::Invalid(InvalidStart::TerminalUnsupported { executor: "fake" })
        ),
        "{error:?}"
    );
    assert!(h.execer.spawned().is_empty());
    h.manager.close().await;
}

#[tokio::test]
async fn the_screen_follows_the_output_and_queries_are_answered() {
    let h = harness();
    let (info, child) = h.start(tty("app")).await;
    child.write(b"hello\r\nworld\x1b]0;my title\x07");
    child.wait_output_read().await;
    let (screen, _) = h.manager.screen(info.id, None, 0).expect("screen");
    assert_eq!((screen.rows, screen.cols), (24, 80));
    assert_eq!(screen.lines[0], "hello");
    assert_eq!(screen.lines[1], "world");
    assert_eq!(screen.title.as_deref(), Some("my title"));
    assert_eq!((screen.cursor.row, screen.cursor.col), (1, 5));

    // A program asking where the cursor is gets an answer (1-based).
    child.write(b"\x1b[6n");
    child.wait_output_read().await;
    let answered = loop {
        let (written, _) = child.input();
        if !written.is_empty() {
            break written;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(answered, b"\x1b[2;6R");

    // After the exit, the final screen stays readable.
    child.write(b"\r\nbye");
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    let (screen, info) = h.manager.screen(info.id, None, 0).expect("screen");
    assert_eq!(screen.lines[2], "bye");
    assert!(!info.running());
    h.manager.close().await;
}

#[tokio::test]
async fn input_writes_text_then_keys_then_the_eof_character() {
    let h = harness();
    let (info, child) = h.start(tty("python3")).await;
    let written = h
        .manager
        .send_input(info.id, None, input("1+1", &["Enter", "C-c", "Up"], true))
        .await
        .expect("input");
    assert_eq!(written, 3 + 1 + 1 + 3 + 1);
    assert_eq!(child.input().0, b"1+1\r\x03\x1b[A\x04");

    // Arrows follow the application cursor mode the program turned on.
    child.write(b"\x1b[?1h");
    child.wait_output_read().await;
    h.manager
        .send_input(info.id, None, input("", &["Up"], false))
        .await
        .expect("input");
    assert!(child.input().0.ends_with(b"\x1bOA"));

    // The end-of-file character is the terminal's.
    child.set_terminal_modes(TerminalModes {
        canonical: true,
        echo: true,
        eof: 0x1a,
    });
    h.manager
        .send_input(info.id, None, input("", &[], true))
        .await
        .expect("input");
    assert!(child.input().0.ends_with(b"\x1a"));

    // An unknown key is refused before anything is written.
    let before = child.input().0.len();
    let error = h
        .manager
        .send_input(info.id, None, input("text", &["Enter", "Hyper-Q"], false))
        .await
        .expect_err("unknown key");
    assert!(matches!(error, InputError::UnknownKey(_)), "{error:?}");
    assert_eq!(child.input().0.len(), before);
    h.manager.close().await;
}

#[tokio::test]
async fn input_to_a_pipe_takes_text_and_eof_but_no_keys() {
    let h = harness();
    let (info, child) = h
        .start(StartRequest {
            stdin: true,
            ..StartRequest::new("cat")
        })
        .await;
    let error = h
        .manager
        .send_input(info.id, None, input("x", &["Enter"], false))
        .await
        .expect_err("keys");
    assert!(matches!(error, InputError::KeysNeedTerminal));
    h.manager
        .send_input(info.id, None, input("line\n", &[], true))
        .await
        .expect("input");
    assert_eq!(child.input(), (b"line\n".to_vec(), true));

    // Neither a terminal nor a pipe: closed.
    let (plain, _) = h.start_cmd("true").await;
    let error = h
        .manager
        .send_input(plain.id, None, input("x", &[], false))
        .await
        .expect_err("no input");
    assert!(matches!(error, InputError::Closed));
    h.manager.close().await;
}

#[tokio::test]
async fn resizing_reaches_the_terminal_and_the_screen() {
    let h = harness();
    let (info, child) = h.start(tty("top")).await;
    let size = TerminalSize::new(40, 120).expect("size");
    let info = h.manager.resize(info.id, None, size).expect("resize");
    assert_eq!(info.terminal, Some(size));
    assert_eq!(child.terminal_sizes(), vec![TerminalSize::DEFAULT, size]);
    let (screen, _) = h.manager.screen(info.id, None, 0).expect("screen");
    assert_eq!((screen.rows, screen.cols), (40, 120));
    assert_eq!(screen.lines.len(), 40);

    // Without a terminal: refused.
    let (plain, _) = h.start_cmd("true").await;
    assert!(matches!(
        h.manager.resize(plain.id, None, size),
        Err(TerminalError::NoTerminal)
    ));
    assert!(matches!(
        h.manager.screen(plain.id, None, 0),
        Err(TerminalError::NoTerminal)
    ));

    // After the exit: not running.
    child.exit(ExitStatus::Exited(0));
    h.exited(info.id).await;
    assert!(matches!(
        h.manager.resize(info.id, None, size),
        Err(TerminalError::NotRunning)
    ));
    h.manager.close().await;
}

#[tokio::test]
async fn awaiting_input_needs_quiet_and_a_blocked_read_and_tells_the_kind() {
    let h = harness();
    let (info, child) = h.start(tty("python3")).await;
    let id = info.id;
    child.write(b">>> ");
    child.wait_output_read().await;
    let awaiting = |h: &Harness| h.manager.info(id, None).expect("info").awaiting_input;

    // Blocked, but output just arrived: not yet.
    child.set_blocked_on_input(true);
    assert_eq!(awaiting(&h), None);
    h.clock.advance(Duration::from_millis(499));
    assert_eq!(awaiting(&h), None);
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(awaiting(&h), Some(InputKind::Line));

    child.set_terminal_modes(TerminalModes {
        canonical: true,
        echo: false,
        eof: 4,
    });
    assert_eq!(awaiting(&h), Some(InputKind::Password));
    child.set_terminal_modes(TerminalModes {
        canonical: false,
        echo: false,
        eof: 4,
    });
    assert_eq!(awaiting(&h), Some(InputKind::Raw));
    assert_eq!(
        h.manager.list(None, 10)[0].awaiting_input,
        Some(InputKind::Raw)
    );

    // Quiet but not reading (sleeping, computing): no.
    child.set_blocked_on_input(false);
    assert_eq!(awaiting(&h), None);

    // A pipe reader counts too.
    let (piped, piped_child) = h
        .start(StartRequest {
            stdin: true,
            ..StartRequest::new("read x")
        })
        .await;
    piped_child.set_blocked_on_input(true);
    h.clock.advance(Duration::from_millis(500));
    assert_eq!(
        h.manager.info(piped.id, None).expect("info").awaiting_input,
        Some(InputKind::Pipe)
    );
    h.manager.close().await;
}

/// Just after input is sent, a program may still sit in the `read` that
/// will receive it (under load it has not run yet): it is not waiting for
/// more input until it has been quiet for the settle time since.
#[tokio::test]
async fn input_just_sent_is_not_yet_read() {
    let h = harness();
    let (id, _child) = prompting_repl(&h).await;
    h.clock.advance(Duration::from_millis(500));
    let awaiting = |h: &Harness| h.manager.info(id, None).expect("info").awaiting_input;
    assert_eq!(awaiting(&h), Some(InputKind::Line));

    h.manager
        .send_input(id, None, input("1+1", &["Enter"], false))
        .await
        .expect("input");
    // Still blocked in read as far as the kernel shows, but input is
    // pending: not waiting.
    assert_eq!(awaiting(&h), None);
    h.clock.advance(Duration::from_millis(499));
    assert_eq!(awaiting(&h), None);
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(awaiting(&h), Some(InputKind::Line));
    h.manager.close().await;
}

/// A wait with its own settle time answers `awaiting_input` by that same
/// time: never "input" next to "not waiting".
#[tokio::test]
async fn a_wait_s_own_settle_time_decides_its_answer() {
    let h = harness();
    let (id, _child) = prompting_repl(&h).await;
    h.manager
        .send_input(id, None, input("x", &["Enter"], false))
        .await
        .expect("input");
    let outcome = h
        .manager
        .wait_until(
            id,
            None,
            Until::Input {
                settle: Some(Duration::ZERO),
            },
            FOREVER,
            None,
        )
        .await
        .expect("wait");
    assert_eq!(outcome.result, WaitResult::Input);
    assert_eq!(outcome.snapshot.info.awaiting_input, Some(InputKind::Line));
    h.manager.close().await;
}

#[tokio::test]
async fn a_wait_for_input_returns_once_the_program_reads() {
    let h = harness();
    let (info, child) = h.start(tty("python3")).await;
    let id = info.id;
    let manager = h.manager.clone();
    let waiting = tokio::spawn(async move {
        manager
            .wait_until(id, None, Until::Input { settle: None }, FOREVER, None)
            .await
    });
    // Quiet for the settle time, but not reading yet: it keeps looking.
    h.clock.wait_for_timers(2).await;
    h.clock.advance(Duration::from_millis(500));
    h.clock.wait_for_timers(2).await;
    assert!(!waiting.is_finished());
    child.set_blocked_on_input(true);
    h.clock.advance(Duration::from_millis(50));
    let outcome = waiting.await.expect("join").expect("wait");
    assert_eq!(outcome.result, WaitResult::Input);
    assert_eq!(outcome.snapshot.info.awaiting_input, Some(InputKind::Line));

    // A program that keeps printing is not waiting, even while reading.
    let manager = h.manager.clone();
    let waiting = tokio::spawn(async move {
        manager
            .wait_until(
                id,
                None,
                Until::Input {
                    settle: Some(Duration::from_secs(1)),
                },
                Duration::from_millis(2500),
                None,
            )
            .await
    });
    h.clock.wait_for_timers(2).await;
    for _ in 0..2 {
        child.write(b"tick\r\n");
        child.wait_output_read().await;
        h.clock.wait_for_timers(2).await;
        h.clock.advance(Duration::from_millis(999));
    }
    child.write(b"tick\r\n");
    child.wait_output_read().await;
    h.clock.wait_for_timers(2).await;
    // 2.5 s after the start, only 502 ms after the last tick.
    h.clock.advance(Duration::from_millis(502));
    let outcome = waiting.await.expect("join").expect("wait");
    assert_eq!(outcome.result, WaitResult::Timeout);
    h.manager.close().await;
}
