//! `FakeExecer`: a scripted executor whose children the test drives by hand.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

use crate::exec::{
    ChildExit, ExecChild, ExecSpec, Execer, ExitStatus, InputWriter, OutputReader, Signal,
    SignalError, SpawnError, TerminalControl, TerminalModes, TerminalSize, WaitError,
};

/// What a fake child does when it receives a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignalBehavior {
    /// Any signal ends it (and closes its output), as for `sleep`.
    #[default]
    ExitOnAny,
    /// Only `SIGKILL` ends it, as for a program that traps `SIGTERM`.
    ExitOnKillOnly,
    /// Signals are recorded and nothing else happens.
    Ignore,
}

/// An executor that spawns nothing. Each spawn creates a [`FakeProcess`] the
/// test can inspect (what was asked for) and drive (write output, exit).
#[derive(Debug, Clone, Default)]
pub struct FakeExecer {
    shared: Arc<ExecerShared>,
}

#[derive(Debug, Default)]
struct ExecerShared {
    state: Mutex<ExecerState>,
    spawned: watch::Sender<usize>,
    /// While true, spawns block (on the calling thread) until released.
    held: Mutex<bool>,
    release: Condvar,
    /// How many spawns are blocked right now.
    blocked: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct ExecerState {
    failures: VecDeque<SpawnError>,
    children: Vec<FakeProcess>,
    claimed: usize,
    behavior: SignalBehavior,
    /// Terminals are refused ([`FakeExecer::refuse_terminals`]).
    no_terminals: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeExecer {
    /// Makes the next spawn fail with `error` (failures queue up in order).
    pub fn fail_next_spawn(&self, error: SpawnError) {
        lock(&self.shared.state).failures.push_back(error);
    }

    /// Makes this executor one that cannot run commands on a terminal (it
    /// can by default).
    pub fn refuse_terminals(&self) {
        lock(&self.shared.state).no_terminals = true;
    }

    /// How children spawned from now on react to signals.
    pub fn set_signal_behavior(&self, behavior: SignalBehavior) {
        lock(&self.shared.state).behavior = behavior;
    }

    /// Makes spawns block their calling thread until
    /// [`FakeExecer::release_spawns`], to stage races around a spawn in
    /// progress (use a multi-threaded runtime).
    pub fn hold_spawns(&self) {
        *lock(&self.shared.held) = true;
    }

    /// Lets held spawns (and later ones) proceed.
    pub fn release_spawns(&self) {
        *lock(&self.shared.held) = false;
        self.shared.release.notify_all();
    }

    /// Waits until `count` spawns are blocked by [`FakeExecer::hold_spawns`].
    pub async fn wait_for_held_spawns(&self, count: usize) {
        let mut blocked = self.shared.blocked.subscribe();
        // The sender lives in `self.shared`, which outlives this call.
        let _ = blocked.wait_for(|blocked| *blocked >= count).await;
    }

    /// Waits for the next spawn not yet returned by this method, in spawn
    /// order.
    pub async fn next_spawn(&self) -> FakeProcess {
        let index = {
            let mut state = lock(&self.shared.state);
            state.claimed += 1;
            state.claimed - 1
        };
        let mut spawned = self.shared.spawned.subscribe();
        // The sender lives in `self.shared`, which outlives this call.
        let _ = spawned.wait_for(|count| *count > index).await;
        lock(&self.shared.state).children[index].clone()
    }

    /// Every child spawned so far, in order.
    pub fn spawned(&self) -> Vec<FakeProcess> {
        lock(&self.shared.state).children.clone()
    }
}

impl Execer for FakeExecer {
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError> {
        {
            let mut held = lock(&self.shared.held);
            if *held {
                self.shared.blocked.send_modify(|blocked| *blocked += 1);
                while *held {
                    held = self
                        .shared
                        .release
                        .wait(held)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                self.shared.blocked.send_modify(|blocked| *blocked -= 1);
            }
        }
        let mut state = lock(&self.shared.state);
        if let Some(error) = state.failures.pop_front() {
            return Err(error);
        }
        let pid = 10_000 + state.children.len() as u32;
        let process = FakeProcess {
            shared: Arc::new(ChildShared {
                spec: spec.clone(),
                pid,
                behavior: state.behavior,
                state: Mutex::new(ChildState::default()),
                exit: watch::Sender::new(None),
                unread: watch::Sender::new(0),
                terminal: spec.terminal.map(|size| {
                    Arc::new(FakeTerminal {
                        state: Mutex::new(FakeTerminalState {
                            sizes: vec![size],
                            modes: TerminalModes {
                                canonical: true,
                                echo: true,
                                eof: 0x04,
                            },
                        }),
                    })
                }),
            }),
        };
        state.children.push(process.clone());
        self.shared.spawned.send_replace(state.children.len());
        Ok(Box::new(FakeChild {
            process,
            output_taken: Mutex::new(false),
            stdin_taken: Mutex::new(false),
            waited: Mutex::new(false),
        }))
    }

    fn kind(&self) -> &'static str {
        "fake"
    }

    fn supports_terminal(&self) -> bool {
        !lock(&self.shared.state).no_terminals
    }
}

/// The test's handle on one fake child.
#[derive(Debug, Clone)]
pub struct FakeProcess {
    shared: Arc<ChildShared>,
}

#[derive(Debug)]
struct ChildShared {
    spec: ExecSpec,
    pid: u32,
    behavior: SignalBehavior,
    state: Mutex<ChildState>,
    exit: watch::Sender<Option<ChildExit>>,
    /// Bytes written but not yet read by the manager.
    unread: watch::Sender<usize>,
    /// Its terminal, when the spec asked for one.
    terminal: Option<Arc<FakeTerminal>>,
}

/// A fake child's terminal: it records sizes and reports scripted modes.
#[derive(Debug)]
struct FakeTerminal {
    state: Mutex<FakeTerminalState>,
}

#[derive(Debug)]
struct FakeTerminalState {
    /// Every size it had, the first one at spawn.
    sizes: Vec<TerminalSize>,
    modes: TerminalModes,
}

impl TerminalControl for FakeTerminal {
    fn resize(&self, size: TerminalSize) -> io::Result<()> {
        lock(&self.state).sizes.push(size);
        Ok(())
    }

    fn modes(&self) -> io::Result<TerminalModes> {
        Ok(lock(&self.state).modes)
    }
}

#[derive(Debug, Default)]
struct ChildState {
    output: VecDeque<u8>,
    output_closed: bool,
    reader: Option<Waker>,
    signals: Vec<Signal>,
    /// What the manager wrote to standard input.
    input: Vec<u8>,
    /// The manager closed standard input.
    input_closed: bool,
    /// The test says it is blocked reading its input.
    blocked_on_input: bool,
}

impl FakeProcess {
    /// What the manager asked to run.
    pub fn spec(&self) -> &ExecSpec {
        &self.shared.spec
    }

    /// The fake pid.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// Makes the child "print" `bytes`.
    pub fn write(&self, bytes: &[u8]) {
        let waker = {
            let mut state = lock(&self.shared.state);
            state.output.extend(bytes);
            self.shared.unread.send_replace(state.output.len());
            state.reader.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits until the manager has read everything written so far (it
    /// appends what it reads to the buffer in the same step).
    pub async fn wait_output_read(&self) {
        let mut unread = self.shared.unread.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = unread.wait_for(|unread| *unread == 0).await;
    }

    /// Closes the output pipe (every holder is gone).
    pub fn close_output(&self) {
        let waker = {
            let mut state = lock(&self.shared.state);
            state.output_closed = true;
            state.reader.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ends the child itself with `status`, leaving the output open (as when
    /// a background descendant still holds the pipe).
    pub fn exit_only(&self, status: ExitStatus) {
        self.exit_with_only(ChildExit::new(status));
    }

    fn exit_with_only(&self, exit: ChildExit) {
        self.shared.exit.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(exit);
                true
            } else {
                false
            }
        });
    }

    /// Ends the child with `exit` (a status and resource usage) and closes
    /// its output.
    pub fn exit_with(&self, exit: ChildExit) {
        self.close_output();
        self.exit_with_only(exit);
    }

    /// Ends the child with `status` and closes its output, as a process
    /// without descendants does.
    pub fn exit(&self, status: ExitStatus) {
        self.close_output();
        self.exit_only(status);
    }

    /// Whether the child has exited.
    pub fn has_exited(&self) -> bool {
        self.shared.exit.borrow().is_some()
    }

    /// Signals received so far, in order.
    pub fn signals(&self) -> Vec<Signal> {
        lock(&self.shared.state).signals.clone()
    }

    /// Every size its terminal had, in order (the spawn size first); empty
    /// without a terminal.
    pub fn terminal_sizes(&self) -> Vec<TerminalSize> {
        self.shared
            .terminal
            .as_ref()
            .map(|terminal| lock(&terminal.state).sizes.clone())
            .unwrap_or_default()
    }

    /// Sets the modes its terminal reports (canonical with echo at first).
    pub fn set_terminal_modes(&self, modes: TerminalModes) {
        if let Some(terminal) = &self.shared.terminal {
            lock(&terminal.state).modes = modes;
        }
    }

    /// Says whether the child is blocked reading its input (its terminal, or
    /// its standard input pipe), as the kernel would show.
    pub fn set_blocked_on_input(&self, blocked: bool) {
        lock(&self.shared.state).blocked_on_input = blocked;
    }

    /// What was written to the child's standard input, and whether it was
    /// closed.
    pub fn input(&self) -> (Vec<u8>, bool) {
        let state = lock(&self.shared.state);
        (state.input.clone(), state.input_closed)
    }
}

/// Linux signal numbers, so fake exits look like real ones.
fn signal_number(signal: Signal) -> i32 {
    match signal {
        Signal::Hangup => 1,
        Signal::Interrupt => 2,
        Signal::Kill => 9,
        Signal::Terminate => 15,
    }
}

/// The manager's side of a fake child.
#[derive(Debug)]
struct FakeChild {
    process: FakeProcess,
    output_taken: Mutex<bool>,
    stdin_taken: Mutex<bool>,
    waited: Mutex<bool>,
}

#[async_trait]
impl ExecChild for FakeChild {
    fn pid(&self) -> Option<u32> {
        Some(self.process.shared.pid)
    }

    fn take_output(&self) -> Option<OutputReader> {
        let mut taken = lock(&self.output_taken);
        if *taken {
            return None;
        }
        *taken = true;
        Some(Box::new(FakeOutput {
            process: self.process.clone(),
        }))
    }

    fn take_stdin(&self) -> Option<InputWriter> {
        let mut taken = lock(&self.stdin_taken);
        let spec = &self.process.shared.spec;
        if *taken || !(spec.stdin || spec.terminal.is_some()) {
            return None;
        }
        *taken = true;
        Some(Box::new(FakeInput {
            process: self.process.clone(),
        }))
    }

    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        let shared = &self.process.shared;
        {
            let mut state = lock(&shared.state);
            // Nothing left of the group: like kill(2) on a dead group.
            if shared.exit.borrow().is_some() && state.output_closed {
                return Err(io::Error::from_raw_os_error(3).into());
            }
            state.signals.push(signal);
        }
        let exits = match shared.behavior {
            SignalBehavior::ExitOnAny => true,
            SignalBehavior::ExitOnKillOnly => signal == Signal::Kill,
            SignalBehavior::Ignore => false,
        };
        if exits {
            self.process.exit(ExitStatus::Signaled {
                signal: signal_number(signal),
                core_dumped: false,
            });
        }
        Ok(())
    }

    fn terminal(&self) -> Option<Arc<dyn TerminalControl>> {
        self.process
            .shared
            .terminal
            .clone()
            .map(|terminal| terminal as Arc<dyn TerminalControl>)
    }

    fn blocked_on_input(&self) -> Option<u32> {
        lock(&self.process.shared.state)
            .blocked_on_input
            .then_some(self.process.shared.pid)
    }

    async fn wait(&self) -> Result<ChildExit, WaitError> {
        {
            let mut waited = lock(&self.waited);
            if *waited {
                return Err(WaitError::AlreadyWaited);
            }
            *waited = true;
        }
        let mut exit = self.process.shared.exit.subscribe();
        let outcome = match exit.wait_for(Option::is_some).await {
            Ok(outcome) => *outcome,
            Err(_) => None,
        };
        match outcome {
            Some(outcome) => Ok(outcome),
            None => Err(WaitError::Os {
                source: io::Error::other("fake child vanished"),
            }),
        }
    }
}

/// The write end of a fake child's standard input: it takes everything.
struct FakeInput {
    process: FakeProcess,
}

impl tokio::io::AsyncWrite for FakeInput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.process.shared.state);
        if state.input_closed || self.process.shared.exit.borrow().is_some() {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
        }
        state.input.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.process.shared.state).input_closed = true;
        Poll::Ready(Ok(()))
    }
}

/// The read end of a fake child's output pipe.
struct FakeOutput {
    process: FakeProcess,
}

impl AsyncRead for FakeOutput {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = lock(&self.process.shared.state);
        if state.output.is_empty() {
            if state.output_closed {
                return Poll::Ready(Ok(()));
            }
            state.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.remaining().min(state.output.len());
        let bytes: Vec<u8> = state.output.drain(..n).collect();
        buf.put_slice(&bytes);
        // Announced after this poll returns: the manager appends the bytes
        // before it polls again, and the test task runs only after that.
        self.process.shared.unread.send_replace(state.output.len());
        Poll::Ready(Ok(()))
    }
}
