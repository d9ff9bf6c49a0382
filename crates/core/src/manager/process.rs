//! One managed process: what it is, its mutable state under one lock, and
//! the rules for reading, signalling and finishing it.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use uuid::Uuid;

use std::sync::Arc;

use super::lock;
use crate::buffer::HeadTailBuffer;
use crate::exec::{
    ExecChild, InputWriter, ResourceLimits, Signal, SignalError, TerminalControl, TerminalSize,
};
use crate::log::ProcessLog;
use crate::process::{ChatContext, ExitInfo, InputKind, OutputSnapshot, ProcessId, ProcessInfo};
use crate::terminal::Screen;

/// What never changes about a process.
pub(super) struct Identity {
    pub(super) id: ProcessId,
    /// Start order, for a deterministic newest-first sort.
    pub(super) seq: u64,
    pub(super) command: String,
    pub(super) requested_workdir: Option<String>,
    pub(super) workdir: Option<PathBuf>,
    pub(super) background: bool,
    pub(super) chat: Option<ChatContext>,
    pub(super) client_token: Option<String>,
    pub(super) timeout: Option<Duration>,
    pub(super) started_at: SystemTime,
    pub(super) started_mono: Instant,
}

/// Who decided a process should stop (the first decision wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    /// A client asked (kill, terminate, or a signal with escalation).
    Request,
    /// Its deadline passed.
    Deadline,
    /// The manager is closing.
    Shutdown,
}

/// One managed process.
pub(super) struct Process {
    identity: Identity,
    pid: Option<u32>,
    /// The limits the executor enforces for it.
    limits: ResourceLimits,
    /// The isolation the executor applied to it.
    isolation: Option<crate::exec::AppliedIsolation>,
    /// `None` for a start that failed to spawn (kept for its client token).
    pub(super) child: Option<Box<dyn ExecChild>>,
    state: Mutex<ProcessState>,
    /// Turns true once the process has exited and its output is final.
    exited: watch::Sender<bool>,
    /// Every byte of output so far (in the buffer and, if any, the log).
    written: watch::Sender<u64>,
    /// When the first byte of output arrived (manager clock).
    first_output: std::sync::OnceLock<Instant>,
    /// The full output on disk, when logs are enabled.
    pub(super) log: Option<Arc<ProcessLog>>,
    /// The write end of its standard input, when it has one and it is open
    /// (for a terminal process, the terminal's master).
    pub(super) stdin: tokio::sync::Mutex<Option<InputWriter>>,
    /// Its terminal, when it runs on one.
    pub(super) terminal: Option<Terminal>,
    /// When output last arrived, in nanoseconds after `started_mono`, plus
    /// one (0: none yet), for telling a program that waits from one that
    /// prints.
    last_output: std::sync::atomic::AtomicU64,
    /// When input was last written to it, in the same units: a program
    /// still blocked in `read` just after input was sent has not read it
    /// yet, so it is not waiting for more until it has been quiet since.
    last_input: std::sync::atomic::AtomicU64,
}

/// A process's terminal as the manager keeps it: the executor's control,
/// the emulated screen fed with every byte of output, and the answers to
/// the program's terminal queries waiting to be written back.
pub(super) struct Terminal {
    pub(super) control: Arc<dyn TerminalControl>,
    pub(super) screen: Mutex<Screen>,
    pub(super) size: Mutex<TerminalSize>,
    /// Replies to queries (cursor position, device attributes), for the
    /// responder task to write.
    pub(super) replies: Mutex<Vec<u8>>,
    pub(super) reply_ready: tokio::sync::Notify,
}

struct ProcessState {
    exit: Option<ExitInfo>,
    /// Monotonic exit time, for reaping.
    exited_mono: Option<Instant>,
    /// Descendants still held the output pipe when the drain grace ran out.
    lingering: bool,
    stop: Option<StopCause>,
    /// An interrupt or hangup was sent on request (without escalation).
    soft_signaled: bool,
    buffer: HeadTailBuffer,
}

/// Why [`Process::deliver`] did not signal.
pub(super) enum DeliverError {
    NotRunning,
    Os(SignalError),
}

impl Deref for Process {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.identity
    }
}

impl Process {
    pub(super) fn new(
        identity: Identity,
        child: Option<Box<dyn ExecChild>>,
        log: Option<Arc<ProcessLog>>,
        terminal_size: Option<TerminalSize>,
    ) -> Self {
        let stdin = child.as_ref().and_then(|child| child.take_stdin());
        let terminal = match (
            terminal_size,
            child.as_ref().and_then(|child| child.terminal()),
        ) {
            (Some(size), Some(control)) => Some(Terminal {
                control,
                screen: Mutex::new(Screen::new(size, crate::terminal::DEFAULT_SCROLLBACK_LINES)),
                size: Mutex::new(size),
                replies: Mutex::new(Vec::new()),
                reply_ready: tokio::sync::Notify::new(),
            }),
            _ => None,
        };
        Self {
            terminal,
            last_output: std::sync::atomic::AtomicU64::new(0),
            last_input: std::sync::atomic::AtomicU64::new(0),
            identity,
            pid: child.as_ref().and_then(|child| child.pid()),
            limits: child
                .as_ref()
                .map(|child| child.limits())
                .unwrap_or_default(),
            isolation: child.as_ref().and_then(|child| child.isolation()),
            log,
            stdin: tokio::sync::Mutex::new(stdin),
            written: watch::Sender::new(0),
            first_output: std::sync::OnceLock::new(),
            child,
            state: Mutex::new(ProcessState {
                exit: None,
                exited_mono: None,
                lingering: false,
                stop: None,
                soft_signaled: false,
                buffer: HeadTailBuffer::default(),
            }),
            exited: watch::Sender::new(false),
        }
    }

    pub(super) fn chat_id(&self) -> Option<Uuid> {
        self.chat.as_ref().map(|chat| chat.chat_id)
    }

    /// Chat isolation: a requester with a chat cannot see processes of
    /// another chat; processes without a chat are visible to everyone.
    pub(super) fn visible_to(&self, requester: Option<Uuid>) -> bool {
        match (requester, self.chat_id()) {
            (Some(requester), Some(owner)) => requester == owner,
            _ => true,
        }
    }

    pub(super) fn info(&self) -> ProcessInfo {
        let state = lock(&self.state);
        self.info_locked(&state)
    }

    /// `info` (this process's) with `awaiting_input` decided, while it
    /// runs. The state lock is not held while `/proc` is read.
    pub(super) fn with_input_state(
        &self,
        mut info: ProcessInfo,
        settle: Duration,
        now: Instant,
    ) -> ProcessInfo {
        if info.running() {
            info.awaiting_input = self.awaiting_input(settle, now);
        }
        info
    }

    /// What kind of input it waits for, if it is quiet for `settle` at
    /// `now` and blocked reading its terminal or standard input.
    pub(super) fn awaiting_input(&self, settle: Duration, now: Instant) -> Option<InputKind> {
        if self.quiet_for(now) < settle {
            return None;
        }
        let child = self.child.as_deref()?;
        child.blocked_on_input()?;
        match &self.terminal {
            Some(terminal) => terminal.control.modes().ok().map(InputKind::of_terminal),
            None => Some(InputKind::Pipe),
        }
    }

    /// How long neither output has arrived nor input been sent, at `now`.
    pub(super) fn quiet_for(&self, now: Instant) -> Duration {
        let last = self
            .last_output
            .load(std::sync::atomic::Ordering::Acquire)
            .max(self.last_input.load(std::sync::atomic::Ordering::Acquire))
            .saturating_sub(1);
        let since = now.saturating_duration_since(self.started_mono);
        since.saturating_sub(Duration::from_nanos(last))
    }

    fn info_locked(&self, state: &ProcessState) -> ProcessInfo {
        ProcessInfo {
            id: self.id,
            command: self.command.clone(),
            workdir: self.workdir.clone(),
            background: self.background,
            pid: self.pid,
            chat_id: self.chat_id(),
            client_token: self.client_token.clone(),
            timeout: self.timeout,
            limits: self.limits,
            started_at: self.started_at,
            exit: state.exit.clone(),
            terminal: self.terminal.as_ref().map(|terminal| *lock(&terminal.size)),
            isolation: self.isolation.clone(),
            awaiting_input: None,
        }
    }

    /// State and output read together, under one lock: an exited snapshot
    /// has the final output.
    pub(super) fn snapshot(&self) -> OutputSnapshot {
        let (info, buffer) = {
            let state = lock(&self.state);
            (self.info_locked(&state), state.buffer.snapshot())
        };
        let formatted = buffer.format();
        OutputSnapshot {
            info,
            output: formatted.text,
            truncation: formatted.truncation,
        }
    }

    /// State and the raw head/tail buffer, read together under one lock.
    pub(super) fn buffered(&self) -> (ProcessInfo, crate::buffer::BufferSnapshot) {
        let state = lock(&self.state);
        (self.info_locked(&state), state.buffer.snapshot())
    }

    /// Appends output: to the log first (outside the state lock), then to
    /// the in-memory view, then announces the new total.
    /// Notes that input was written to it at `now`.
    pub(super) fn note_input(&self, now: Instant) {
        self.last_input.store(
            Self::stamp(self.started_mono, now),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// `now` as stored in `last_output` and `last_input`: nanoseconds after
    /// `started`, plus one (so that 0 keeps meaning "never").
    fn stamp(started: Instant, now: Instant) -> u64 {
        let since = now.saturating_duration_since(started);
        u64::try_from(since.as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Notes when output arrived (the first time, and the last).
    pub(super) fn note_output(&self, now: Instant) {
        if self.first_output.get().is_none() {
            let _ = self.first_output.set(now);
        }
        self.last_output.store(
            Self::stamp(self.started_mono, now),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// Every byte written so far, and when the first arrived.
    pub(super) fn output_stats(&self) -> (u64, Option<Instant>) {
        (*self.written.borrow(), self.first_output.get().copied())
    }

    pub(super) fn append_output(&self, bytes: &[u8]) {
        // The snapshot first: a wait that wakes on the log (`until=match`,
        // `until=output`) must find the bytes in the snapshot it answers with.
        let total = {
            let mut state = lock(&self.state);
            state.buffer.write(bytes);
            state.buffer.total_written()
        };
        if let Some(log) = &self.log {
            log.append(bytes);
        }
        if let Some(terminal) = &self.terminal {
            let replies = lock(&terminal.screen).process(bytes);
            if !replies.is_empty() {
                lock(&terminal.replies).extend_from_slice(&replies);
                terminal.reply_ready.notify_one();
            }
        }
        self.written.send_replace(total);
    }

    /// Follows the output total.
    pub(super) fn watch_written(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Follows the exit.
    pub(super) fn watch_exited(&self) -> watch::Receiver<bool> {
        self.exited.subscribe()
    }

    pub(super) async fn wait_exited(&self) {
        let mut exited = self.exited.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = exited.wait_for(|exited| *exited).await;
    }

    pub(super) fn is_running(&self) -> bool {
        lock(&self.state).exit.is_none()
    }

    /// Running, or exited leaving descendants that held its output pipe.
    pub(super) fn needs_stopping(&self) -> bool {
        let state = lock(&self.state);
        state.exit.is_none() || state.lingering
    }

    /// When this exited process may be forgotten: its exit plus `retention`.
    pub(super) fn exited_mono(&self) -> Option<Instant> {
        lock(&self.state).exited_mono
    }

    /// Sends `signal` to a running process's group, recording `cause`.
    ///
    /// The state lock is held while signalling, so a process reported
    /// exited is never signalled.
    pub(super) fn deliver(
        &self,
        signal: Signal,
        cause: Option<StopCause>,
    ) -> Result<(), DeliverError> {
        let mut state = lock(&self.state);
        let child = match (&state.exit, &self.child) {
            (None, Some(child)) => child,
            _ => return Err(DeliverError::NotRunning),
        };
        child.signal(signal).map_err(DeliverError::Os)?;
        match cause {
            Some(cause) => {
                state.stop.get_or_insert(cause);
            }
            None => state.soft_signaled = true,
        }
        Ok(())
    }

    /// Sends `signal` to the group of a process that is running or left
    /// descendants behind, recording `cause`; failures are only logged.
    pub(super) fn stop_quietly(&self, signal: Signal, cause: StopCause) {
        let mut state = lock(&self.state);
        if state.exit.is_none() {
            state.stop.get_or_insert(cause);
        } else if !state.lingering {
            return;
        }
        if let Some(child) = &self.child
            && let Err(error) = child.signal(signal)
        {
            tracing::debug!(process_id = %self.id, %signal, %error, "signal not delivered");
        }
    }

    /// Who decided it should stop, and whether a soft signal was requested.
    pub(super) fn stop_record(&self) -> (Option<StopCause>, bool) {
        let state = lock(&self.state);
        (state.stop, state.soft_signaled)
    }

    /// Records the exit: from now on the process is not running and its
    /// output is final. Waiters wake at [`Self::publish_exit`].
    pub(super) fn finish(
        &self,
        exit: ExitInfo,
        exited_mono: Instant,
        lingering: bool,
    ) -> ProcessInfo {
        let mut state = lock(&self.state);
        state.exit = Some(exit);
        state.exited_mono = Some(exited_mono);
        state.lingering = lingering;
        state.buffer.finish();
        self.info_locked(&state)
    }

    /// Wakes everyone waiting for the exit (after [`Self::finish`], once
    /// observers have seen it).
    pub(super) fn publish_exit(&self) {
        self.exited.send_replace(true);
    }
}
