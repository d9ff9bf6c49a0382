//! The process manager: starts processes through an [`Execer`], captures
//! their output, tracks their state, answers queries, signals them, enforces
//! deadlines and limits, reaps them after they exit, and shuts everything
//! down on [`Manager::close`].
//!
//! Concurrency model:
//! - one registry lock (a `std` mutex, never held across an `.await`) maps ids
//!   to processes and client tokens to reservations; each process has its own
//!   state lock. Lock order is always registry, then process.
//! - every process has one supervisor task that pumps its output into its
//!   [`HeadTailBuffer`](crate::buffer::HeadTailBuffer), waits for it, and publishes its exit; a process with
//!   a deadline also has a deadline task. A background reaper forgets exited
//!   processes after their retention. All tasks are tracked and awaited by
//!   `close`.
//! - starts and `close` are ordered by a gate: starts hold it shared while
//!   they spawn, `close` takes it exclusively. A start either finishes before
//!   `close` begins (and its process is then stopped by `close`) or sees the
//!   manager closed and spawns nothing.
//! - a start with a client token first reserves the token in the registry,
//!   so concurrent starts with the same token spawn once; the others wait for
//!   the owner and attach to its process.

mod defaults;
mod output;
mod process;
mod reaper;
mod supervisor;
mod terminal;
mod tokens;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OnceCell, RwLock, broadcast};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::clock::{Clock, ClockExt};
use crate::exec::{Env, ExecSpec, Execer, Signal, SignalError, SpawnError};
use crate::log::LogStore;
use crate::process::{
    ChatContext, ExitInfo, ExitReason, OutputSnapshot, ProcessId, ProcessInfo, StartRequest,
    Started,
};

pub use defaults::{EXCLUDED_FROM_COMMANDS, configures_agentproc, home_dir, inherited_env};
pub use output::{
    FeedItem, OutputChunk, OutputError, OutputFeed, StdinError, Until, WaitOutcome, WaitResult,
};
use process::{Process, StopCause};
pub use terminal::{Input, InputError, TerminalError};
pub use tokens::TokenStatus;
use tokens::{Fingerprint, PendingToken, TokenEntry, TokenKey};

/// Default for [`ManagerConfig::reap_after`]: Coder's `exitedProcessReapAge`.
pub const DEFAULT_REAP_AFTER: Duration = Duration::from_secs(5 * 60);
/// Default for [`ManagerConfig::token_reap_after`]: Coder's
/// `tokenedProcessReapAge`.
pub const DEFAULT_TOKEN_REAP_AFTER: Duration = Duration::from_secs(60 * 60);
/// Default for [`ManagerConfig::pipe_drain_grace`]: Go's `cmd.WaitDelay`.
pub const DEFAULT_PIPE_DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Default for [`ManagerConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Default for [`ManagerConfig::deadline_grace`].
pub const DEFAULT_DEADLINE_GRACE: Duration = Duration::from_secs(5);
/// Default for [`ManagerConfig::max_running`].
pub const DEFAULT_MAX_RUNNING: usize = 256;
/// Default for [`ManagerConfig::max_retained`].
pub const DEFAULT_MAX_RETAINED: usize = 1024;
/// Default for [`ManagerConfig::stdin_timeout`].
pub const DEFAULT_STDIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ManagerConfig::input_settle`].
pub const DEFAULT_INPUT_SETTLE: Duration = Duration::from_millis(500);

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
    /// Default: `$HOME`.
    pub home_dir: Option<PathBuf>,
    /// The environment every process starts from. Default: this process's
    /// own ([`inherited_env`]: without agentproc's configuration
    /// variables), as the `agentproc` binary does; set it to
    /// `Env::new()` to start commands from an empty environment.
    pub base_env: Env,
    /// Optional rewrite of the base environment before each start.
    pub env_hook: Option<EnvHook>,
    /// How long an exited process stays visible before it is forgotten.
    pub reap_after: Duration,
    /// The same for processes started with a client token (their token keeps
    /// attaching retries until then).
    pub token_reap_after: Duration,
    /// After the shell exits, how long to keep reading output that its
    /// descendants still write to the inherited pipe.
    pub pipe_drain_grace: Duration,
    /// On close, how long processes get between `SIGTERM` and `SIGKILL`.
    pub shutdown_grace: Duration,
    /// When a deadline passes, how long the process gets between `SIGTERM`
    /// and `SIGKILL`.
    pub deadline_grace: Duration,
    /// The most processes running at once; more starts are refused.
    pub max_running: usize,
    /// The most processes one chat may run at once (`None`: `max_running`).
    pub max_running_per_chat: Option<usize>,
    /// The most processes kept (running and exited). When full, the oldest
    /// exited process without a client token is forgotten early; when none
    /// can be, starts are refused.
    pub max_retained: usize,
    /// Where full output logs are kept (`None`: only the head/tail view;
    /// cursor reads, streams, search and match waits then answer
    /// [`OutputError::LogsDisabled`]).
    pub logs: Option<Arc<LogStore>>,
    /// How long a write to a process's standard input may wait for the
    /// process to read.
    pub stdin_timeout: Duration,
    /// How long a process must have printed nothing before it counts as
    /// awaiting input (when it is also blocked reading its terminal or
    /// standard input). A wait for input may ask for another time.
    pub input_settle: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            shell: OsString::from("sh"),
            default_workdir: None,
            home_dir: home_dir(),
            base_env: inherited_env(),
            env_hook: None,
            reap_after: DEFAULT_REAP_AFTER,
            token_reap_after: DEFAULT_TOKEN_REAP_AFTER,
            pipe_drain_grace: DEFAULT_PIPE_DRAIN_GRACE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            deadline_grace: DEFAULT_DEADLINE_GRACE,
            max_running: DEFAULT_MAX_RUNNING,
            max_running_per_chat: None,
            max_retained: DEFAULT_MAX_RETAINED,
            logs: None,
            stdin_timeout: DEFAULT_STDIN_TIMEOUT,
            input_settle: DEFAULT_INPUT_SETTLE,
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
            .field("token_reap_after", &self.token_reap_after)
            .field("pipe_drain_grace", &self.pipe_drain_grace)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("deadline_grace", &self.deadline_grace)
            .field("max_running", &self.max_running)
            .field("max_running_per_chat", &self.max_running_per_chat)
            .field("max_retained", &self.max_retained)
            .field(
                "logs",
                &self.logs.as_ref().map(|store| store.config().dir.clone()),
            )
            .field("stdin_timeout", &self.stdin_timeout)
            .field("input_settle", &self.input_settle)
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
        /// The names of the variables the start added (never their values).
        env_keys: Vec<String>,
        /// How long the executor took to spawn it.
        spawn_latency: Duration,
    },
    /// A client had a signal delivered to a process.
    Signaled {
        /// The process.
        id: ProcessId,
        /// The chat the process belongs to.
        chat_id: Option<Uuid>,
        /// The signal.
        signal: Signal,
        /// The escalation asked for (`SIGKILL` after this long).
        escalate_after: Option<Duration>,
    },
    /// A process exited and its output is final.
    Exited {
        /// The process as it exited (see [`ProcessInfo::exit`]).
        info: ProcessInfo,
        /// The chat context of the start, with its ancestors.
        chat: Option<ChatContext>,
        /// The working directory the start asked for (not the resolved one).
        requested_workdir: Option<String>,
        /// Every byte of output it wrote.
        output_bytes: u64,
        /// From the start to its first byte of output (`None`: it wrote
        /// nothing).
        first_output_after: Option<Duration>,
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
    /// The timeout is zero.
    #[error("timeout must be positive")]
    ZeroTimeout,
    /// A terminal was asked for, and the executor cannot give one.
    #[error("the {executor} executor cannot run commands on a terminal")]
    TerminalUnsupported {
        /// The executor's kind.
        executor: &'static str,
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
    /// The client token was used before with different parameters.
    #[error("client token was already used to start a process with different parameters")]
    TokenMismatch,
    /// Another start with the same token was in progress, and this one
    /// stopped waiting for it (the manager is closing). Its outcome is
    /// unknown, not failed: ask again, or probe the token.
    #[error("aborted waiting for the concurrent start: {reason}")]
    TokenWaitAborted {
        /// Why the wait ended.
        reason: &'static str,
    },
    /// Too many processes are running.
    #[error("too many running processes (the limit is {limit})")]
    TooManyRunning {
        /// The limit.
        limit: usize,
    },
    /// Too many processes of this chat are running.
    #[error("too many running processes in this chat (the limit is {limit})")]
    TooManyRunningInChat {
        /// The limit.
        limit: usize,
    },
    /// Too many processes are retained, and none can be forgotten early.
    #[error("too many retained processes (the limit is {limit})")]
    TooManyRetained {
        /// The limit.
        limit: usize,
    },
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
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agentproc_core::{Execer, Manager, ManagerConfig, StartRequest, SystemClock};
///
/// // `execer` is `agentproc_exec_local::LocalExecer::default()` in most
/// // programs, the sandbox executor to confine commands, or a fake in tests.
/// async fn build(execer: Arc<dyn Execer>) -> Result<(), Box<dyn std::error::Error>> {
///     // Defaults: this process's environment, commands start in $HOME.
///     let manager = Manager::new(ManagerConfig::default(), execer, Arc::new(SystemClock));
///     let started = manager.start(StartRequest::new("make test")).await?;
///     let done = manager
///         .wait_for_exit(started.info.id, None, Duration::MAX)
///         .await?;
///     println!("{}exit code {:?}", done.output, done.info.exit_code());
///     manager.close().await;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
    _owner: Arc<DropGuard>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.inner.registry();
        f.debug_struct("Manager")
            .field("executor", &self.inner.execer.kind())
            .field("closed", &registry.closed)
            .field("processes", &registry.processes.len())
            .field("running", &registry.running)
            .finish()
    }
}

struct Inner {
    config: ManagerConfig,
    execer: Arc<dyn Execer>,
    clock: Arc<dyn Clock>,
    /// When the manager (and so its token index) was created.
    created: Instant,
    /// Starts hold it shared while spawning; `close` takes it exclusively.
    gate: RwLock<()>,
    registry: Mutex<Registry>,
    tasks: TaskTracker,
    /// Cancelled when `close` begins: wakes starts waiting on a token.
    closing: CancellationToken,
    /// Cancelled when `close` has stopped every process, or when the last
    /// handle is dropped: stops the reaper.
    shutdown: CancellationToken,
    /// Wakes the reaper when a process exits.
    reaper_wake: Arc<Notify>,
    events: broadcast::Sender<ManagerEvent>,
    /// Called with every event, in order, before it is broadcast.
    observers: std::sync::RwLock<Vec<Observer>>,
    closed_once: OnceCell<()>,
}

/// A synchronous event callback (see [`Manager::observe`]).
pub type Observer = Arc<dyn Fn(&ManagerEvent) + Send + Sync>;

#[derive(Default)]
struct Registry {
    closed: bool,
    processes: HashMap<ProcessId, Arc<Process>>,
    next_seq: u64,
    tokens: HashMap<TokenKey, TokenEntry>,
    /// Running processes plus starts that reserved a slot.
    running: usize,
    /// The same, per chat.
    running_by_chat: HashMap<Uuid, usize>,
    /// Starts between reservation and registration.
    starting: usize,
    /// Exited processes by the first instant they may be forgotten (then
    /// start order), so reaping and eviction never scan every process.
    expiries: std::collections::BTreeMap<(Instant, u64), ProcessId>,
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
            created: clock.instant(),
            config,
            execer,
            clock,
            gate: RwLock::new(()),
            registry: Mutex::new(Registry::default()),
            tasks: TaskTracker::new(),
            closing: CancellationToken::new(),
            shutdown: shutdown.clone(),
            reaper_wake: Arc::new(Notify::new()),
            events,
            observers: std::sync::RwLock::default(),
            closed_once: OnceCell::new(),
        });
        inner.tasks.spawn(reaper::reap_loop(
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

    /// What the executor applies to processes (see [`Execer::report`]).
    pub fn executor_report(&self) -> crate::exec::ExecutorReport {
        self.inner.execer.report()
    }

    /// How many processes run now, and how many are kept in all.
    pub fn counts(&self) -> (usize, usize) {
        let registry = self.inner.registry();
        let running = registry
            .processes
            .values()
            .filter(|process| process.is_running())
            .count();
        (running, registry.processes.len())
    }

    /// Calls `observer` with every [`ManagerEvent`] from now on, in order,
    /// on the thread that produced it and before it is broadcast. Unlike
    /// [`Manager::subscribe`], nothing is ever missed; in exchange the
    /// observer must be quick and must not block (metrics counters, handing
    /// off to a writer thread).
    pub fn observe(&self, observer: impl Fn(&ManagerEvent) + Send + Sync + 'static) {
        self.inner
            .observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(observer));
    }

    /// Receives every [`ManagerEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ManagerEvent> {
        self.inner.events.subscribe()
    }

    /// Starts `request.command` as `sh -c <command>`.
    ///
    /// Returns as soon as the process has spawned; it then runs on its own,
    /// whatever happens to the caller. With a client token, a repeated start
    /// with the same parameters returns the original process (`attached`).
    pub async fn start(&self, request: StartRequest) -> Result<Started, StartError> {
        validate(&request)?;
        if request.terminal.is_some() && !self.inner.execer.supports_terminal() {
            return Err(InvalidStart::TerminalUnsupported {
                executor: self.inner.execer.kind(),
            }
            .into());
        }
        let mut token = None;
        if let Some(key) = TokenKey::of(&request) {
            match self.claim_token(key, Fingerprint::of(&request)).await? {
                Claim::Owner(pending) => token = Some(pending),
                Claim::Attached(info) => {
                    return Ok(Started {
                        info: *info,
                        attached: true,
                    });
                }
            }
        }
        let inner = &self.inner;
        let _shared = inner.gate.read().await;
        let chat_id = request.chat.as_ref().map(|chat| chat.chat_id);
        let reservation = inner.reserve_slot(chat_id)?;

        let workdir = self.resolve_workdir(request.workdir.as_deref());
        let spec = ExecSpec {
            program: inner.config.shell.clone(),
            args: vec![OsString::from("-c"), OsString::from(&request.command)],
            cwd: workdir.clone(),
            env: self.build_env(&request),
            stdin: request.stdin,
            limits: request.limits,
            terminal: request.terminal,
            isolation: request.isolation.clone(),
        };
        let spawning = inner.clock.instant();
        let spawned = inner.execer.spawn(&spec);
        let started_at = inner.clock.now();
        let started_mono = inner.clock.instant();
        let spawn_latency = started_mono.saturating_duration_since(spawning);
        let started_env: Vec<String> = request.env.keys().cloned().collect();
        let (child, failure) = match spawned {
            Ok(child) => (Some(child), None),
            // Without a token, a failed spawn leaves no trace (as in Coder);
            // nor does a refused one (the request itself must change).
            Err(error)
                if token.is_none()
                    || matches!(
                        error,
                        SpawnError::Refused { .. } | SpawnError::Unsupported { .. }
                    ) =>
            {
                return Err(StartError::Spawn(error));
            }
            Err(error) => (None, Some(error)),
        };
        let id = ProcessId::random();
        // A recorded spawn failure gets an (empty) log too, so reading it
        // answers as for any process that wrote nothing.
        let log = match &inner.config.logs {
            Some(store) => match store.create(&id.to_string()) {
                Ok(log) => Some(log),
                Err(error) => {
                    tracing::warn!(process_id = %id, %error, "cannot create the output log; keeping only the head/tail view");
                    None
                }
            },
            None => None,
        };
        let process = {
            let mut registry = inner.registry();
            registry.next_seq += 1;
            let process = Arc::new(Process::new(
                process::Identity {
                    id,
                    seq: registry.next_seq,
                    command: request.command,
                    requested_workdir: request.workdir,
                    workdir,
                    background: request.background,
                    chat: request.chat,
                    client_token: request.client_token.filter(|t| !t.is_empty()),
                    timeout: request.timeout,
                    started_at,
                    started_mono,
                },
                child,
                log,
                request.terminal,
            ));
            registry.processes.insert(process.id, Arc::clone(&process));
            if let Some(pending) = token.take() {
                pending.bind(&mut registry, process.id);
            }
            match &failure {
                Some(_) => reservation.release(&mut registry),
                None => reservation.commit(&mut registry),
            }
            process
        };
        if let Some(error) = failure {
            // Recorded so a retry with the same token learns the outcome
            // instead of running the command again.
            let exit = ExitInfo {
                code: -1,
                reason: ExitReason::SpawnFailed,
                signal: None,
                core_dumped: false,
                usage: None,
                exited_at: started_at,
                duration: Duration::ZERO,
                error: Some(format!("start process: {error}")),
            };
            process.finish(exit, started_mono, false);
            inner.schedule_expiry(&mut inner.registry(), &process);
            inner.reaper_wake.notify_one();
            // Observers (metrics, audit) see the recorded failure as an
            // exit with reason `spawn_failed`; there was no start.
            inner.emit(ManagerEvent::Exited {
                info: process.info(),
                chat: process.chat.clone(),
                requested_workdir: process.requested_workdir.clone(),
                output_bytes: 0,
                first_output_after: None,
            });
            process.publish_exit();
            return Err(StartError::Spawn(error));
        }
        let info = process.info();
        tracing::info!(
            process_id = %info.id,
            chat_id = info.chat_id.map(tracing::field::display),
            pid = info.pid,
            "process started"
        );
        inner.tasks.spawn(supervisor::supervise(
            Arc::clone(inner),
            Arc::clone(&process),
        ));
        if let Some(timeout) = process.timeout {
            inner.tasks.spawn(supervisor::enforce_deadline(
                Arc::clone(inner),
                process,
                timeout,
            ));
        }
        inner.emit(ManagerEvent::Started {
            info: info.clone(),
            env_keys: started_env,
            spawn_latency,
        });
        Ok(Started {
            info,
            attached: false,
        })
    }

    /// Claims `key` for this start: either this start owns it and must spawn,
    /// or an earlier start with the same token and parameters owns it, and
    /// this one attaches (waiting first if that start is still spawning).
    async fn claim_token(
        &self,
        key: TokenKey,
        fingerprint: Fingerprint,
    ) -> Result<Claim, StartError> {
        loop {
            let (decision, reaped) = {
                let mut registry = self.inner.registry();
                let reaped = self.inner.reap_locked(&mut registry);
                let decision = tokens::decide(&self.inner, &mut registry, &key, &fingerprint);
                (decision, reaped)
            };
            self.inner.announce_reaped(reaped);
            match decision? {
                Decision::Own(pending) => return Ok(Claim::Owner(pending)),
                Decision::Attach(info) => return Ok(Claim::Attached(info)),
                Decision::Wait(mut owner_done) => {
                    tokio::select! {
                        // The owner finished (bound or released the token):
                        // look again.
                        _ = owner_done.changed() => {}
                        () = self.inner.closing.cancelled() => {
                            return Err(StartError::TokenWaitAborted {
                                reason: "manager is closed",
                            });
                        }
                    }
                }
            }
        }
    }

    /// The current state of a process.
    pub fn info(&self, id: ProcessId, requester: Option<Uuid>) -> Result<ProcessInfo, NotFound> {
        let process = self.inner.lookup(id, requester)?;
        Ok(self.inner.with_input_state(&process, process.info()))
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
        let process = self.inner.lookup(id, requester)?;
        let mut snapshot = process.snapshot();
        snapshot.info = self.inner.with_input_state(&process, snapshot.info);
        Ok(snapshot)
    }

    /// The process's state with its raw head/tail buffer, read together (an
    /// exited process's buffer is final): for views of the output other
    /// than Coder's formatted one when no full log is kept.
    ///
    /// # Errors
    /// When the process is not visible to `requester`.
    pub fn buffered_output(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
    ) -> Result<(ProcessInfo, crate::buffer::BufferSnapshot), NotFound> {
        Ok(self.inner.lookup(id, requester)?.buffered())
    }

    /// Waits until the process exits or `timeout` passes (on this manager's
    /// clock), then returns a snapshot. A wait never affects the process;
    /// dropping the future simply stops waiting. `Duration::MAX` waits with
    /// no timeout.
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
        let mut snapshot = process.snapshot();
        snapshot.info = self.inner.with_input_state(&process, snapshot.info);
        Ok(snapshot)
    }

    /// At most `limit` processes visible to `requester`, running first, then
    /// newest first.
    ///
    /// With a chat, only that chat's processes are listed; without one, all
    /// are. Exited processes past their retention are forgotten first.
    pub fn list(&self, requester: Option<Uuid>, limit: usize) -> Vec<ProcessInfo> {
        let processes: Vec<Arc<Process>> = {
            let mut registry = self.inner.registry();
            let reaped = self.inner.reap_locked(&mut registry);
            let visible = registry
                .processes
                .values()
                .filter(|p| match requester {
                    Some(chat) => p.chat_id() == Some(chat),
                    None => true,
                })
                .cloned()
                .collect();
            drop(registry);
            self.inner.announce_reaped(reaped);
            visible
        };
        // Order on cheap keys; build the (cloning) infos only for the ones
        // returned.
        let mut keyed: Vec<(bool, u64, &Arc<Process>)> = processes
            .iter()
            .map(|p| (p.is_running(), p.seq, p))
            .collect();
        keyed.sort_unstable_by(|(a_running, a_seq, _), (b_running, b_seq, _)| {
            b_running.cmp(a_running).then(b_seq.cmp(a_seq))
        });
        keyed
            .into_iter()
            .take(limit)
            .map(|(_, _, process)| self.inner.with_input_state(process, process.info()))
            .collect()
    }

    /// What the token index knows about `token` in the requester's chat.
    /// Exited processes past their retention are forgotten first, so a token
    /// reported found will attach.
    pub fn token_status(&self, token: &str, requester: Option<Uuid>) -> TokenStatus {
        let key = TokenKey {
            chat: requester,
            token: token.to_owned(),
        };
        let status = {
            let mut registry = self.inner.registry();
            let reaped = self.inner.reap_locked(&mut registry);
            let status = match registry.tokens.get(&key) {
                Some(TokenEntry::Bound { id, .. }) => TokenStatus {
                    found: true,
                    pending: false,
                    process_id: Some(*id),
                    index_age: Duration::ZERO,
                },
                Some(TokenEntry::Pending { .. }) => TokenStatus {
                    found: false,
                    pending: true,
                    process_id: None,
                    index_age: Duration::ZERO,
                },
                None => TokenStatus {
                    found: false,
                    pending: false,
                    process_id: None,
                    index_age: Duration::ZERO,
                },
            };
            drop(registry);
            self.inner.announce_reaped(reaped);
            status
        };
        TokenStatus {
            index_age: self
                .inner
                .clock
                .instant()
                .saturating_duration_since(self.inner.created),
            ..status
        }
    }

    /// Sends `signal` to the process's whole group. With `escalate_after`,
    /// `SIGKILL` follows if the process is still running that much later.
    pub fn signal(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        signal: Signal,
        escalate_after: Option<Duration>,
    ) -> Result<(), SignalProcessError> {
        let process = self
            .inner
            .lookup(id, requester)
            .map_err(|NotFound| SignalProcessError::NotFound)?;
        // Kill and terminate are requests to stop; so is any signal with an
        // escalation. Interrupt and hangup alone may mean something else to
        // the program (reload, cancel one job), so they count only if a
        // signal then ends it.
        let cause = match (signal, escalate_after) {
            (Signal::Kill | Signal::Terminate, _) | (_, Some(_)) => Some(StopCause::Request),
            _ => None,
        };
        process
            .deliver(signal, cause)
            .map_err(|error| match error {
                process::DeliverError::NotRunning => SignalProcessError::NotRunning,
                process::DeliverError::Os(source) => SignalProcessError::Os { signal, source },
            })?;
        tracing::info!(
            process_id = %id,
            chat_id = process.chat_id().map(tracing::field::display),
            signal = signal.name(),
            "signal sent"
        );
        self.inner.emit(ManagerEvent::Signaled {
            id,
            chat_id: process.chat_id(),
            signal,
            escalate_after,
        });
        if let Some(grace) = escalate_after {
            self.inner.tasks.spawn(supervisor::escalate(
                Arc::clone(&self.inner),
                process,
                grace,
            ));
        }
        Ok(())
    }

    /// Sends `SIGKILL` to every process group that is running (or left
    /// descendants holding its output), at once and without waiting. For
    /// emergencies — a second Ctrl-C, a test harness cleaning up after a
    /// failure; [`Manager::close`] is the graceful way. New starts are still
    /// accepted.
    pub fn kill_all(&self) {
        let targets: Vec<Arc<Process>> =
            self.inner.registry().processes.values().cloned().collect();
        for process in targets {
            if process.needs_stopping() {
                process.stop_quietly(Signal::Kill, StopCause::Shutdown);
            }
        }
    }

    /// Whether [`Manager::close`] has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.registry().closed
    }

    /// Stops everything: refuses new starts, sends `SIGTERM` to every
    /// process group, `SIGKILL` to those still alive after the shutdown
    /// grace, waits until every process has exited and every task has
    /// finished, then lets the executor clean up. Idempotent; concurrent
    /// calls all return when it is done.
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
        if request.terminal.is_some() && !request.env.contains_key("TERM") {
            // What the emulator behind the terminal understands; agentproc's
            // own TERM describes a different terminal, if any.
            env.insert("TERM".into(), "xterm-256color".into());
        }
        if let Some(chat) = &request.chat {
            env.insert("CODER_CHAT_ID".into(), chat.chat_id.to_string().into());
        }
        env
    }
}

/// How a start holds its client token.
enum Claim {
    /// This start owns the token and must spawn.
    Owner(PendingToken),
    /// An earlier start owns it: this is its process.
    Attached(Box<ProcessInfo>),
}

/// What the token index says a start should do.
enum Decision {
    Own(PendingToken),
    Attach(Box<ProcessInfo>),
    Wait(tokio::sync::watch::Receiver<()>),
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
    if request.timeout == Some(Duration::ZERO) {
        return Err(InvalidStart::ZeroTimeout);
    }
    Ok(())
}

/// A running slot held by a start between its checks and its registration.
#[must_use]
struct Reservation {
    chat: Option<Uuid>,
}

impl Reservation {
    /// The process is registered and running: the slot is now its.
    fn commit(self, registry: &mut Registry) {
        registry.starting -= 1;
    }

    /// Nothing runs: give the slot back.
    fn release(self, registry: &mut Registry) {
        registry.starting -= 1;
        registry.release_running(self.chat);
    }
}

impl Registry {
    fn release_running(&mut self, chat: Option<Uuid>) {
        self.running -= 1;
        if let Some(chat) = chat
            && let Some(count) = self.running_by_chat.get_mut(&chat)
        {
            *count -= 1;
            if *count == 0 {
                self.running_by_chat.remove(&chat);
            }
        }
    }
}

impl Inner {
    /// `info` with `awaiting_input` decided at the configured settle time.
    fn with_input_state(&self, process: &Process, info: ProcessInfo) -> ProcessInfo {
        process.with_input_state(info, self.config.input_settle, self.clock.instant())
    }

    /// Tells the observers, then the subscribers.
    fn emit(&self, event: ManagerEvent) {
        for observer in self
            .observers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            observer(&event);
        }
        let _ = self.events.send(event);
    }

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

    /// Checks the limits and reserves a running slot (and a retained one,
    /// forgetting the oldest exited process without a token if need be).
    /// The caller holds the gate, so the manager cannot close meanwhile.
    fn reserve_slot(&self, chat: Option<Uuid>) -> Result<Reservation, StartError> {
        let mut registry = self.registry();
        if registry.closed {
            return Err(StartError::Closed);
        }
        let limit = self.config.max_running;
        if registry.running >= limit {
            return Err(StartError::TooManyRunning { limit });
        }
        if let Some(chat) = chat {
            let limit = self.config.max_running_per_chat.unwrap_or(limit);
            if registry.running_by_chat.get(&chat).copied().unwrap_or(0) >= limit {
                return Err(StartError::TooManyRunningInChat { limit });
            }
        }
        let limit = self.config.max_retained;
        let mut evicted = None;
        if registry.processes.len() + registry.starting >= limit {
            evicted = reaper::evict_oldest(&mut registry);
            if evicted.is_none() {
                return Err(StartError::TooManyRetained { limit });
            }
        }
        registry.running += 1;
        registry.starting += 1;
        if let Some(chat) = chat {
            *registry.running_by_chat.entry(chat).or_default() += 1;
        }
        drop(registry);
        self.announce_reaped(evicted.into_iter().collect());
        Ok(Reservation { chat })
    }

    /// A process stopped running: free its slot, schedule when it will be
    /// forgotten, and wake the reaper.
    fn exited(&self, process: &Process) {
        let mut registry = self.registry();
        registry.release_running(process.chat_id());
        self.schedule_expiry(&mut registry, process);
        drop(registry);
        if let (Some(store), Some(log)) = (&self.config.logs, &process.log) {
            store.exited(log);
        }
        self.reaper_wake.notify_one();
    }

    async fn close(&self) {
        self.closing.cancel();
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
            process.stop_quietly(Signal::Terminate, StopCause::Shutdown);
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
                process.stop_quietly(Signal::Kill, StopCause::Shutdown);
            }
        }
        for process in &targets {
            process.wait_exited().await;
        }
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.execer.shutdown(self.config.shutdown_grace).await;
        if let Some(logs) = &self.config.logs {
            // Every log complete on disk, every forgotten one deleted.
            logs.settled().await;
        }
        tracing::info!("closed");
    }
}

#[cfg(test)]
mod tests;
