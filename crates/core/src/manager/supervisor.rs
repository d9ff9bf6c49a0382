//! The tasks that drive a process: the supervisor (pumps output into the
//! buffer, waits for the child, gives descendants holding the pipe a bounded
//! grace, then publishes the exit), the deadline task, and the escalation
//! from a polite signal to `SIGKILL`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

use super::process::{Process, StopCause};
use super::{Inner, ManagerEvent};
use crate::clock::{Clock, ClockExt};
use crate::exec::{ChildExit, ExitStatus, OutputReader, Signal, WaitError};
use crate::process::{ExitInfo, ExitReason};

/// Size of the per-thread scratch buffer output is read into.
const SCRATCH_BYTES: usize = 64 * 1024;
/// Reads per poll before yielding to other tasks.
const READS_PER_POLL: usize = 16;

thread_local! {
    /// One read buffer per worker thread rather than per process: a process
    /// that prints nothing costs no buffer. It is borrowed only inside a
    /// single synchronous `poll`, never across an `.await`.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

pub(super) async fn supervise(inner: Arc<Inner>, process: Arc<Process>) {
    if process.terminal.is_some() {
        // Answers to the program's terminal queries go back while it runs.
        tokio::join!(run(&inner, &process), answer_queries(&inner, &process));
    } else {
        run(&inner, &process).await;
    }
}

/// Writes the screen's answers to terminal queries (cursor position,
/// device attributes) back to the program, until it exits. A program that
/// asks blocks until it is answered, so this never waits on the request
/// path; an answer the terminal cannot take within the stdin timeout is
/// dropped.
async fn answer_queries(inner: &Inner, process: &Process) {
    let Some(terminal) = &process.terminal else {
        return;
    };
    loop {
        tokio::select! {
            () = terminal.reply_ready.notified() => {}
            () = process.wait_exited() => return,
        }
        let replies = std::mem::take(&mut *super::lock(&terminal.replies));
        if replies.is_empty() {
            continue;
        }
        let mut stdin = process.stdin.lock().await;
        let Some(writer) = stdin.as_mut() else {
            continue;
        };
        let write = async {
            use tokio::io::AsyncWriteExt;
            writer.write_all(&replies).await?;
            writer.flush().await
        };
        tokio::select! {
            result = write => if let Err(error) = result {
                tracing::debug!(process_id = %process.id, %error, "cannot answer a terminal query");
            },
            () = inner.clock.sleep(inner.config.stdin_timeout) => {
                tracing::debug!(process_id = %process.id, "the terminal did not take the answer to a query in time");
            }
        }
    }
}

async fn run(inner: &Arc<Inner>, process: &Arc<Process>) {
    let process = Arc::clone(process);
    let inner = Arc::clone(inner);
    let Some(child) = process.child.as_deref() else {
        return;
    };
    let output = child.take_output();
    let pump = async {
        if let Some(reader) = output {
            pump_output(&process, inner.clock.as_ref(), reader).await;
        }
    };
    tokio::pin!(pump);
    let wait = child.wait();
    tokio::pin!(wait);

    let (result, mut drained) = tokio::select! {
        result = &mut wait => (result, false),
        () = &mut pump => (wait.await, true),
    };
    if !drained {
        // The child exited but descendants may still hold the pipe (Go's
        // `WaitDelay`): read on for a bounded time, then let go.
        tokio::select! {
            () = &mut pump => drained = true,
            () = inner.clock.sleep(inner.config.pipe_drain_grace) => {
                tracing::debug!(
                    process_id = %process.id,
                    "descendants still hold the output pipe after the drain grace; closing it"
                );
            }
        }
    }

    // Readers of the log must find every byte once the exit is published;
    // but a stalled disk must not keep the process "running" forever.
    if let Some(log) = &process.log {
        tokio::select! {
            () = log.flushed() => {}
            () = inner.clock.sleep(LOG_FLUSH_WAIT) => {
                tracing::warn!(process_id = %process.id, "the output log is still being written; reporting the exit anyway");
            }
        }
    }
    let exited_mono = inner.clock.instant();
    let exit = compose_exit(&process, &result, drained, inner.clock.now(), exited_mono);
    let info = process.finish(exit, exited_mono, !drained);
    // Nothing reads input any more: let the pipe's or the terminal's
    // descriptor go now rather than when the process is forgotten.
    process.stdin.lock().await.take();
    inner.exited(&process);
    if let Some(exit) = &info.exit {
        tracing::info!(
            process_id = %process.id,
            chat_id = info.chat_id.map(tracing::field::display),
            exit_code = exit.code,
            reason = exit.reason.as_str(),
            "process exited"
        );
    }
    let (output_bytes, first_output) = process.output_stats();
    // Observers first: a client whose wait returns finds the exit already
    // counted in the metrics and queued for the audit log.
    inner.emit(ManagerEvent::Exited {
        info,
        chat: process.chat.clone(),
        requested_workdir: process.requested_workdir.clone(),
        output_bytes,
        first_output_after: first_output
            .map(|at| at.saturating_duration_since(process.started_mono)),
    });
    process.publish_exit();
}

/// How the process ended, for clients.
///
/// The exit code follows Go: the code for a normal exit; `-1` for a signal,
/// for a failed wait, and for a successful exit whose output pipe was still
/// held open after the drain grace. The reason follows who decided the
/// process should stop, if anyone did.
fn compose_exit(
    process: &Process,
    result: &Result<ChildExit, WaitError>,
    drained: bool,
    exited_at: std::time::SystemTime,
    exited_mono: Instant,
) -> ExitInfo {
    let (status, usage, oom_killed) = match result {
        Ok(exit) => (Some(exit.status), exit.usage, exit.oom_killed),
        Err(error) => {
            tracing::warn!(
                process_id = %process.id,
                %error,
                "process wait returned non-exit error"
            );
            (None, None, false)
        }
    };
    let code = match status {
        Some(ExitStatus::Exited(0)) if !drained => -1,
        Some(ExitStatus::Exited(code)) => code,
        Some(ExitStatus::Signaled { .. }) | None => -1,
    };
    let (signal, core_dumped) = match status {
        Some(ExitStatus::Signaled {
            signal,
            core_dumped,
        }) => (Some(signal), core_dumped),
        _ => (None, false),
    };
    let (stop, soft_signaled) = process.stop_record();
    let reason = match stop {
        // The kernel's verdict explains the end better than any request
        // that was racing it.
        _ if oom_killed => ExitReason::OomKilled,
        Some(StopCause::Deadline) => ExitReason::DeadlineExceeded,
        Some(StopCause::Shutdown) => ExitReason::Shutdown,
        Some(StopCause::Request) => ExitReason::Killed,
        None if signal.is_some() && soft_signaled => ExitReason::Killed,
        None if signal.is_some() => ExitReason::Signaled,
        None => ExitReason::Exited,
    };
    ExitInfo {
        code,
        reason,
        signal,
        core_dumped,
        usage,
        exited_at,
        duration: exited_mono.saturating_duration_since(process.started_mono),
        error: None,
    }
}

/// Stops the process when its deadline passes: `SIGTERM` to the group, then
/// `SIGKILL` after the deadline grace if it is still running. Ends early
/// when the process exits first.
pub(super) async fn enforce_deadline(inner: Arc<Inner>, process: Arc<Process>, timeout: Duration) {
    let Some(deadline) = process.started_mono.checked_add(timeout) else {
        return;
    };
    tokio::select! {
        () = process.wait_exited() => return,
        () = inner.clock.sleep_until(deadline) => {}
    }
    tracing::info!(process_id = %process.id, ?timeout, "deadline exceeded: stopping the process");
    match process.deliver(Signal::Terminate, Some(StopCause::Deadline)) {
        Ok(()) => escalate(Arc::clone(&inner), process, inner.config.deadline_grace).await,
        Err(_) => tracing::debug!(process_id = %process.id, "deadline: process already gone"),
    }
}

/// Sends `SIGKILL` to the group if the process is still running `grace`
/// from now.
pub(super) async fn escalate(inner: Arc<Inner>, process: Arc<Process>, grace: Duration) {
    tokio::select! {
        () = process.wait_exited() => return,
        () = inner.clock.sleep(grace) => {}
    }
    if process.is_running() {
        tracing::info!(process_id = %process.id, ?grace, "still running after the grace: sending SIGKILL");
        process.stop_quietly(Signal::Kill, StopCause::Request);
    }
}

/// The longest an exit waits for its output log to reach the disk.
const LOG_FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Reads `reader` to its end, appending everything to the process buffer.
async fn pump_output(process: &Process, clock: &dyn Clock, mut reader: OutputReader) {
    poll_fn(|cx| {
        SCRATCH.with_borrow_mut(|scratch| {
            for _ in 0..READS_PER_POLL {
                let mut buf = ReadBuf::new(scratch);
                match Pin::new(&mut reader).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                    Poll::Ready(Ok(())) => {
                        process.note_output(clock.instant());
                        process.append_output(buf.filled());
                    }
                    Poll::Ready(Err(error)) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(error)) => {
                        tracing::warn!(process_id = %process.id, %error, "reading output failed");
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            // Plenty more to read: let other tasks run first.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    })
    .await;
}
