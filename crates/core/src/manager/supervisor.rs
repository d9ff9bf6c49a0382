//! The per-process supervisor task: pumps output into the buffer, waits for
//! the child, gives descendants holding the pipe a bounded grace, then
//! publishes the exit.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};

use super::{Inner, ManagerEvent, Process, lock};
use crate::clock::ClockExt;
use crate::exec::{ChildExit, ExitStatus, OutputReader, WaitError};

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
    let output = process.child.take_output();
    let pump = async {
        if let Some(reader) = output {
            pump_output(&process, reader).await;
        }
    };
    tokio::pin!(pump);
    let wait = process.child.wait();
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

    let exit_code = exit_code(&process, &result, drained);
    let info = {
        let mut state = lock(&process.state);
        state.running = false;
        state.exit_code = Some(exit_code);
        state.exited_at = Some(inner.clock.now());
        state.exited_mono = Some(inner.clock.instant());
        state.lingering = !drained;
        state.buffer.finish();
        process.info_locked(&state)
    };
    process.exited.send_replace(true);
    inner.reaper_wake.notify_one();
    tracing::info!(
        process_id = %process.id,
        chat_id = info.chat_id.map(tracing::field::display),
        exit_code,
        "process exited"
    );
    let _ = inner.events.send(ManagerEvent::Exited {
        info,
        chat: process.chat.clone(),
        requested_workdir: process.requested_workdir.clone(),
        exit: result.ok(),
    });
}

/// The exit code clients see, as Go reports it: the code for a normal exit,
/// `-1` for a signal, for a failed wait, and for a successful exit whose
/// output pipe was still held open after the drain grace.
fn exit_code(process: &Process, result: &Result<ChildExit, WaitError>, drained: bool) -> i32 {
    match result {
        Ok(exit) => match exit.status {
            ExitStatus::Exited(0) if !drained => -1,
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled { .. } => -1,
        },
        Err(error) => {
            tracing::warn!(
                process_id = %process.id,
                %error,
                "process wait returned non-exit error"
            );
            -1
        }
    }
}

/// Reads `reader` to its end, appending everything to the process buffer.
async fn pump_output(process: &Process, mut reader: OutputReader) {
    poll_fn(|cx| {
        SCRATCH.with_borrow_mut(|scratch| {
            for _ in 0..READS_PER_POLL {
                let mut buf = ReadBuf::new(scratch);
                match Pin::new(&mut reader).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                    Poll::Ready(Ok(())) => lock(&process.state).buffer.write(buf.filled()),
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
