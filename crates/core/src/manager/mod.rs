//! The process manager: starts processes through an [`Execer`], captures
//! their output, tracks their state, answers queries, signals them, reaps
//! them after they exit, and shuts everything down on [`Manager::close`].
//!
//! Concurrency model:
//! - one registry lock (a `std` mutex, never held across an `.await`) maps ids
//!   to processes; each process has its own state lock. Lock order is always
//!   registry, then process.
//! - every process has one supervisor task that pumps its output into its
//!   [`HeadTailBuffer`], waits for it, and
//!   publishes its exit. A background reaper forgets exited processes after
//!   [`ManagerConfig::reap_after`]. Both kinds of task are tracked and awaited
//!   by `close`.
//! - starts and `close` are ordered by a gate: starts hold it shared while
//!   they spawn, `close` takes it exclusively. A start either finishes before
//!   `close` begins (and its process is then stopped by `close`) or sees the
//!   manager closed and spawns nothing.

mod supervisor;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, OnceCell, RwLock, broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::buffer::HeadTailBuffer;
use crate::clock::{Clock, ClockExt};
use crate::exec::{ChildExit, Env, ExecChild, ExecSpec, Execer, Signal, SignalError, SpawnError};
use crate::process::{ChatContext, OutputSnapshot, ProcessId, ProcessInfo, StartRequest};

/// Default for [`ManagerConfig::reap_after`]: Coder's `exitedProcessReapAge`.
pub const DEFAULT_REAP_AFTER: Duration = Duration::from_secs(5 * 60);
/// Default for [`ManagerConfig::pipe_drain_grace`]: Go's `cmd.WaitDelay`.
pub const DEFAULT_PIPE_DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Default for [`ManagerConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The error type an environment hook may return.
pub type EnvHookError = Box<dyn std::error::Error + Send + Sync>;

/// Rewrites the base environment before each start (Go's `updateEnv`).
///
/// On error the manager logs a warning and uses the base environment.
pub type EnvHook = Arc<dyn Fn(Env) -> Result<Env, EnvHookError> + Send + Sync>;

/// How a [`Manager`] behaves. Plain values: the binary builds it from its
/// configuration, embedders build it in code.
#[derive(Clone)]
pub struct ManagerConfig {
    /// The shell that runs each command as `<shell> -c <command>`.
    pub shell: OsString,
    /// Working directory for requests that give none, used when it exists.
    pub default_workdir: Option<PathBuf>,
    /// The fallback working directory when the default is unset or missing.
    pub home_dir: Option<PathBuf>,
    /// The environment every process starts from.
    pub base_env: Env,
    /// Optional rewrite of the base environment before each start.
    pub env_hook: Option<EnvHook>,
    /// How long an exited process stays visible before it is forgotten.
    pub reap_after: Duration,
    /// After the shell exits, how long to keep reading output that its
    /// descendants still write to the inherited pipe.
    pub pipe_drain_grace: Duration,
    /// On close, how long processes get between `SIGTERM` and `SIGKILL`.
    pub shutdown_grace: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            shell: OsString::from("sh"),
            default_workdir: None,
            home_dir: None,
            base_env: Env::new(),
            env_hook: None,
            reap_after: DEFAULT_REAP_AFTER,
            pipe_drain_grace: DEFAULT_PIPE_DRAIN_GRACE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("shell", &self.shell)
            .field("default_workdir", &self.default_workdir)
            .field("home_dir", &self.home_dir)
            .field(
                "base_env",
                &format_args!("[{} variables]", self.base_env.len()),
            )
            .field("env_hook", &self.env_hook.as_ref().map(|_| "<fn>"))
            .field("reap_after", &self.reap_after)
            .field("pipe_drain_grace", &self.pipe_drain_grace)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Something that happened to a process, for observers (metrics, audit
/// logs, git watchers) that subscribe with [`Manager::subscribe`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ManagerEvent {
    /// A process was spawned.
    Started {
        /// The process as it started.
        info: ProcessInfo,
    },
    /// A process exited and its output is final.
    Exited {
        /// The process as it exited.
        info: ProcessInfo,
        /// The chat context of the start, with its ancestors.
        chat: Option<ChatContext>,
        /// The working directory the start asked for (not the resolved one).
        requested_workdir: Option<String>,
        /// The raw exit description from the executor, when wait succeeded.
        exit: Option<ChildExit>,
    },
    /// An exited process was forgotten.
    Reaped {
        /// Its id.
        id: ProcessId,
    },
}

/// A start request that cannot be run as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStart {
    /// The command is empty.
    #[error("command is required")]
    EmptyCommand,
    /// The command contains a NUL byte, which no OS can pass to a program.
    #[error("command contains a NUL byte")]
    NulInCommand,
    /// The working directory contains a NUL byte.
    #[error("workdir contains a NUL byte")]
    NulInWorkdir,
    /// An environment variable name is empty or contains `=` or NUL.
    #[error("environment variable name {name:?} is invalid")]
    EnvName {
        /// The name.
        name: String,
    },
    /// An environment variable value contains a NUL byte.
    #[error("environment variable {name:?} has a NUL byte in its value")]
    NulInEnvValue {
        /// The name of the variable.
        name: String,
    },
}

/// Why a start failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manager is closed (or closing): nothing was spawned.
    #[error("manager is closed")]
    Closed,
    /// The request is invalid: nothing was spawned.
    #[error(transparent)]
    Invalid(#[from] InvalidStart),
    /// The executor could not spawn the process.
    #[error("start process: {0}")]
    Spawn(#[source] SpawnError),
}

/// No process with that id is visible to the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("process not found")]
pub struct NotFound;

/// Why a signal was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SignalProcessError {
    /// No such process is visible to the requester.
    #[error("process not found")]
    NotFound,
    /// The process has already exited.
    #[error("process is not running")]
    NotRunning,
    /// The operating system refused the signal.
    #[error("{} process: {source}", verb(*signal))]
    Os {
        /// The signal that was sent.
        signal: Signal,
        /// The OS error.
        #[source]
        source: SignalError,
    },
}

fn verb(signal: Signal) -> &'static str {
    match signal {
        Signal::Kill => "kill",
        Signal::Terminate => "terminate",
        Signal::Interrupt => "interrupt",
        Signal::Hangup => "hangup",
    }
}

/// Manages processes. Cheap to clone: clones share one manager.
///
/// Must be created inside a Tokio runtime. Call [`Manager::close`] to stop
/// every process and task; dropping the last handle without closing stops
/// the background reaper but leaves running processes alone (as dropping a
/// `std::process::Child` does).
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
    _owner: Arc<DropGuard>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("executor", &self.inner.execer.kind())
            .field("closed", &self.inner.registry().closed)
            .field("processes", &self.inner.registry().processes.len())
            .finish()
    }
}

struct Inner {
    config: ManagerConfig,
    execer: Arc<dyn Execer>,
    clock: Arc<dyn Clock>,
    /// Starts hold it shared while spawning; `close` takes it exclusively.
    gate: RwLock<()>,
    registry: Mutex<Registry>,
    tasks: TaskTracker,
    /// Cancelled by `close` or when the last handle is dropped.
    shutdown: CancellationToken,
    /// Wakes the reaper when a process exits.
    reaper_wake: Arc<Notify>,
    events: broadcast::Sender<ManagerEvent>,
    closed_once: OnceCell<()>,
}

#[derive(Default)]
struct Registry {
    closed: bool,
    processes: HashMap<ProcessId, Arc<Process>>,
    next_seq: u64,
}

/// One managed process.
struct Process {
    id: ProcessId,
    /// Start order, for a deterministic newest-first sort.
    seq: u64,
    command: String,
    requested_workdir: Option<String>,
    workdir: Option<PathBuf>,
    background: bool,
    chat: Option<ChatContext>,
    started_at: SystemTime,
    child: Box<dyn ExecChild>,
    state: Mutex<ProcessState>,
    /// Turns true once the process has exited and its output is final.
    exited: watch::Sender<bool>,
}

struct ProcessState {
    running: bool,
    exit_code: Option<i32>,
    exited_at: Option<SystemTime>,
    /// Monotonic exit time, for reaping.
    exited_mono: Option<Instant>,
    /// Descendants still held the output pipe when the drain grace ran out.
    lingering: bool,
    buffer: HeadTailBuffer,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every
    // critical section is a few assignments), so poisoning is ignored.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Manager {
    /// A manager that spawns through `execer` and tells time with `clock`.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn new(config: ManagerConfig, execer: Arc<dyn Execer>, clock: Arc<dyn Clock>) -> Self {
        let shutdown = CancellationToken::new();
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            config,
            execer,
            clock,
            gate: RwLock::new(()),
            registry: Mutex::new(Registry::default()),
            tasks: TaskTracker::new(),
            shutdown: shutdown.clone(),
            reaper_wake: Arc::new(Notify::new()),
            events,
            closed_once: OnceCell::new(),
        });
        inner.tasks.spawn(reap_loop(
            Arc::downgrade(&inner),
            Arc::clone(&inner.clock),
            Arc::clone(&inner.reaper_wake),
            shutdown.clone(),
        ));
        Self {
            inner,
            _owner: Arc::new(shutdown.drop_guard()),
        }
    }

    /// The configuration this manager was built with.
    pub fn config(&self) -> &ManagerConfig {
        &self.inner.config
    }

    /// The kind of executor processes are spawned with.
    pub fn executor_kind(&self) -> &'static str {
        self.inner.execer.kind()
    }

    /// Receives every [`ManagerEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ManagerEvent> {
        self.inner.events.subscribe()
    }

    /// Starts `request.command` as `sh -c <command>`.
    ///
    /// Returns as soon as the process has spawned; it then runs on its own,
    /// whatever happens to the caller.
    pub async fn start(&self, request: StartRequest) -> Result<ProcessInfo, StartError> {
        validate(&request)?;
        let inner = &self.inner;
        let _shared = inner.gate.read().await;
        if inner.registry().closed {
            return Err(StartError::Closed);
        }
        let workdir = self.resolve_workdir(request.workdir.as_deref());
        let spec = ExecSpec {
            program: inner.config.shell.clone(),
            args: vec![OsString::from("-c"), OsString::from(&request.command)],
            cwd: workdir.clone(),
            env: self.build_env(&request),
        };
        let child = inner.execer.spawn(&spec).map_err(StartError::Spawn)?;
        let process = {
            let mut registry = inner.registry();
            registry.next_seq += 1;
            let process = Arc::new(Process {
                id: ProcessId::random(),
                seq: registry.next_seq,
                command: request.command,
                requested_workdir: request.workdir,
                workdir,
                background: request.background,
                chat: request.chat,
                started_at: inner.clock.now(),
                child,
                state: Mutex::new(ProcessState {
                    running: true,
                    exit_code: None,
                    exited_at: None,
                    exited_mono: None,
                    lingering: false,
                    buffer: HeadTailBuffer::default(),
                }),
                exited: watch::Sender::new(false),
            });
            registry.processes.insert(process.id, Arc::clone(&process));
            process
        };
        let info = process.info();
        tracing::info!(
            process_id = %info.id,
            chat_id = info.chat_id.map(tracing::field::display),
            pid = process.child.pid(),
            "process started"
        );
        inner
            .tasks
            .spawn(supervisor::supervise(Arc::clone(inner), process));
        let _ = inner
            .events
            .send(ManagerEvent::Started { info: info.clone() });
        Ok(info)
    }

    /// The current state of a process.
    pub fn info(&self, id: ProcessId, requester: Option<Uuid>) -> Result<ProcessInfo, NotFound> {
        Ok(self.inner.lookup(id, requester)?.info())
    }

    /// Whether the process exists but belongs to a chat other than
    /// `requester`'s (so the requester must be told it does not exist).
    pub fn hidden_from(&self, id: ProcessId, requester: Option<Uuid>) -> bool {
        let process = self.inner.registry().processes.get(&id).cloned();
        process.is_some_and(|p| !p.visible_to(requester))
    }

    /// A snapshot of a process and its formatted output.
    pub fn output(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
    ) -> Result<OutputSnapshot, NotFound> {
        Ok(self.inner.lookup(id, requester)?.snapshot())
    }

    /// Waits until the process exits or `timeout` passes (on this manager's
    /// clock), then returns a snapshot. A wait never affects the process;
    /// dropping the future simply stops waiting.
    pub async fn wait_for_exit(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        timeout: Duration,
    ) -> Result<OutputSnapshot, NotFound> {
        let process = self.inner.lookup(id, requester)?;
        let deadline = self.inner.clock.sleep(timeout);
        tokio::select! {
            () = process.wait_exited() => {}
            () = deadline => {}
        }
        Ok(process.snapshot())
    }

    /// Processes visible to `requester`, running first, then newest first.
    ///
    /// With a chat, only that chat's processes are listed; without one, all
    /// are. Exited processes older than the reap age are forgotten first.
    pub fn list(&self, requester: Option<Uuid>) -> Vec<ProcessInfo> {
        self.inner.reap_expired();
        let mut processes: Vec<Arc<Process>> = self
            .inner
            .registry()
            .processes
            .values()
            .filter(|p| match requester {
                Some(chat) => p.chat_id() == Some(chat),
                None => true,
            })
            .cloned()
            .collect();
        let mut infos: Vec<(u64, ProcessInfo)> =
            processes.drain(..).map(|p| (p.seq, p.info())).collect();
        infos.sort_by(|(a_seq, a), (b_seq, b)| b.running.cmp(&a.running).then(b_seq.cmp(a_seq)));
        infos.into_iter().map(|(_, info)| info).collect()
    }

    /// Sends `signal` to the process's whole group.
    pub fn signal(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        signal: Signal,
    ) -> Result<(), SignalProcessError> {
        let process = self
            .inner
            .lookup(id, requester)
            .map_err(|NotFound| SignalProcessError::NotFound)?;
        // The state lock is held while signalling, so `running` cannot change
        // underneath: a process reported exited is never signalled.
        let state = lock(&process.state);
        if !state.running {
            return Err(SignalProcessError::NotRunning);
        }
        process
            .child
            .signal(signal)
            .map_err(|source| SignalProcessError::Os { signal, source })?;
        drop(state);
        tracing::info!(process_id = %id, signal = signal.name(), "signal sent");
        Ok(())
    }

    /// Whether [`Manager::close`] has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.registry().closed
    }

    /// Stops everything: refuses new starts, sends `SIGTERM` to every
    /// process group, `SIGKILL` to those still alive after the shutdown
    /// grace, waits until every process has exited and every task has
    /// finished. Idempotent; concurrent calls all return when it is done.
    pub async fn close(&self) {
        let inner = Arc::clone(&self.inner);
        self.inner
            .closed_once
            .get_or_init(|| async move { inner.close().await })
            .await;
    }

    fn resolve_workdir(&self, requested: Option<&str>) -> Option<PathBuf> {
        if let Some(requested) = requested.filter(|dir| !dir.is_empty()) {
            return Some(PathBuf::from(requested));
        }
        let config = &self.inner.config;
        if let Some(dir) = &config.default_workdir {
            // The manager's only filesystem access: is the default there?
            if dir.is_dir() {
                return Some(dir.clone());
            }
        }
        config.home_dir.clone()
    }

    fn build_env(&self, request: &StartRequest) -> Env {
        let config = &self.inner.config;
        let mut env = match &config.env_hook {
            Some(hook) => match hook(config.base_env.clone()) {
                Ok(env) => env,
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        "failed to update command environment, falling back to os env"
                    );
                    config.base_env.clone()
                }
            },
            None => config.base_env.clone(),
        };
        for (name, value) in &request.env {
            env.insert(name.into(), value.into());
        }
        if let Some(chat) = &request.chat {
            env.insert("CODER_CHAT_ID".into(), chat.chat_id.to_string().into());
        }
        env
    }
}

fn validate(request: &StartRequest) -> Result<(), InvalidStart> {
    if request.command.is_empty() {
        return Err(InvalidStart::EmptyCommand);
    }
    if request.command.contains('\0') {
        return Err(InvalidStart::NulInCommand);
    }
    if request
        .workdir
        .as_deref()
        .is_some_and(|dir| dir.contains('\0'))
    {
        return Err(InvalidStart::NulInWorkdir);
    }
    for (name, value) in &request.env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(InvalidStart::EnvName { name: name.clone() });
        }
        if value.contains('\0') {
            return Err(InvalidStart::NulInEnvValue { name: name.clone() });
        }
    }
    Ok(())
}

impl Inner {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    fn lookup(&self, id: ProcessId, requester: Option<Uuid>) -> Result<Arc<Process>, NotFound> {
        let process = self
            .registry()
            .processes
            .get(&id)
            .cloned()
            .ok_or(NotFound)?;
        if process.visible_to(requester) {
            Ok(process)
        } else {
            Err(NotFound)
        }
    }

    /// Forgets exited processes older than the reap age (strictly), and
    /// returns when the next one will be old enough.
    fn reap_expired(&self) -> Option<Instant> {
        let now = self.clock.instant();
        let reap_after = self.config.reap_after;
        let mut reaped = Vec::new();
        let mut next: Option<Instant> = None;
        self.registry().processes.retain(|id, process| {
            let Some(exited) = lock(&process.state).exited_mono else {
                return true;
            };
            if now.saturating_duration_since(exited) > reap_after {
                reaped.push(*id);
                return false;
            }
            // The first instant at which the age is strictly greater.
            if let Some(due) =
                exited.checked_add(reap_after.saturating_add(Duration::from_nanos(1)))
            {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
            true
        });
        for id in reaped {
            tracing::debug!(process_id = %id, "exited process reaped");
            let _ = self.events.send(ManagerEvent::Reaped { id });
        }
        next
    }

    async fn close(&self) {
        {
            // Wait for in-flight starts, then refuse new ones.
            let _exclusive = self.gate.write().await;
            self.registry().closed = true;
        }
        let targets: Vec<Arc<Process>> = self
            .registry()
            .processes
            .values()
            .filter(|p| p.needs_stopping())
            .cloned()
            .collect();
        tracing::info!(processes = targets.len(), "closing: stopping processes");
        for process in &targets {
            process.signal_quietly(Signal::Terminate);
        }
        let all_exited = async {
            for process in &targets {
                process.wait_exited().await;
            }
        };
        tokio::select! {
            () = all_exited => {}
            () = self.clock.sleep(self.config.shutdown_grace) => {}
        }
        for process in &targets {
            if process.needs_stopping() {
                process.signal_quietly(Signal::Kill);
            }
        }
        for process in &targets {
            process.wait_exited().await;
        }
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        tracing::info!("closed");
    }
}

impl Process {
    fn chat_id(&self) -> Option<Uuid> {
        self.chat.as_ref().map(|chat| chat.chat_id)
    }

    /// Chat isolation: a requester with a chat cannot see processes of
    /// another chat; processes without a chat are visible to everyone.
    fn visible_to(&self, requester: Option<Uuid>) -> bool {
        match (requester, self.chat_id()) {
            (Some(requester), Some(owner)) => requester == owner,
            _ => true,
        }
    }

    fn info(&self) -> ProcessInfo {
        let state = lock(&self.state);
        self.info_locked(&state)
    }

    fn info_locked(&self, state: &ProcessState) -> ProcessInfo {
        ProcessInfo {
            id: self.id,
            command: self.command.clone(),
            workdir: self.workdir.clone(),
            background: self.background,
            running: state.running,
            exit_code: state.exit_code,
            started_at: self.started_at,
            exited_at: state.exited_at,
            chat_id: self.chat_id(),
        }
    }

    /// State and output read together, under one lock: `running == false`
    /// implies the output is complete.
    fn snapshot(&self) -> OutputSnapshot {
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

    async fn wait_exited(&self) {
        let mut exited = self.exited.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = exited.wait_for(|exited| *exited).await;
    }

    /// Running, or exited leaving descendants that held its output pipe.
    fn needs_stopping(&self) -> bool {
        let state = lock(&self.state);
        state.running || state.lingering
    }

    fn signal_quietly(&self, signal: Signal) {
        if let Err(error) = self.child.signal(signal) {
            tracing::debug!(process_id = %self.id, %signal, %error, "signal not delivered");
        }
    }
}

/// The background reaper: forgets exited processes once they are older than
/// the reap age, without waiting for someone to list.
async fn reap_loop(
    inner: Weak<Inner>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => inner.reap_expired(),
            None => return,
        };
        let sleep = async {
            match next {
                Some(deadline) => clock.sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests;
