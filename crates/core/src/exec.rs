//! The `Execer` seam: how a process is spawned, signalled and waited for.
//!
//! The manager never creates OS processes itself. It describes what to run in
//! an [`ExecSpec`] (plain data) and hands it to an [`Execer`], which returns an
//! [`ExecChild`] handle. `agentproc-exec-local` spawns plainly;
//! `agentproc-exec-sandbox` wraps another executor with limits. Tests use the
//! scripted `testing::FakeExecer` or the mockall mocks.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncRead;

/// A process environment: variable name to value, one value per name.
///
/// A map (rather than a list) makes "the last value wins" explicit and keeps
/// the environment a child sees reproducible (sorted by name).
pub type Env = BTreeMap<OsString, OsString>;

/// The merged stdout+stderr of a child, as the executor hands it out.
pub type OutputReader = Box<dyn AsyncRead + Send + Unpin + 'static>;

/// The write end of a child's standard input.
pub type InputWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin + 'static>;

/// What to run: plain data, built by the manager, interpreted by an executor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// The program to run, looked up in the child's `PATH` when it has no `/`.
    pub program: OsString,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// The working directory; `None` inherits the executor's own.
    pub cwd: Option<PathBuf>,
    /// The complete environment of the child (nothing is inherited).
    pub env: Env,
    /// Give the child a pipe as standard input (else `/dev/null`). Ignored
    /// when [`ExecSpec::terminal`] is set: the terminal is its input.
    pub stdin: bool,
    /// Confine the child's authority (network, filesystem): executors that
    /// cannot refuse the spec ([`SpawnError::Refused`]), never ignore it.
    /// `None`: the executor's default policy, if it has one.
    pub isolation: Option<IsolationRequest>,
    /// Run the child on a new pseudo-terminal of this size: it leads a new
    /// session whose controlling terminal is the terminal's slave, which is
    /// also its standard input, output and error; the output stream is what
    /// the master reads. Only executors whose [`Execer::supports_terminal`]
    /// is true honour it; the manager refuses the start otherwise.
    pub terminal: Option<TerminalSize>,
    /// Resource limits the caller asked for. An executor that cannot enforce
    /// one refuses the spec ([`SpawnError::Refused`]); it never ignores it.
    pub limits: ResourceLimits,
}

/// The size of a terminal in character cells; never 0×0 (programs that
/// draw on the screen break on a zero size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TerminalSize {
    /// Rows, from 1 to [`TerminalSize::MAX`].
    rows: u16,
    /// Columns, from 1 to [`TerminalSize::MAX`].
    cols: u16,
}

impl TerminalSize {
    /// The size of `"tty": true`: 24 rows of 80 columns.
    pub const DEFAULT: Self = Self { rows: 24, cols: 80 };
    /// The most rows or columns.
    pub const MAX: u16 = 1000;

    /// A size of `rows` × `cols`, or `None` unless both are within
    /// `1..=MAX`.
    pub fn new(rows: u16, cols: u16) -> Option<Self> {
        let valid = |n: u16| (1..=Self::MAX).contains(&n);
        (valid(rows) && valid(cols)).then_some(Self { rows, cols })
    }

    /// Rows.
    pub fn rows(self) -> u16 {
        self.rows
    }

    /// Columns.
    pub fn cols(self) -> u16 {
        self.cols
    }
}

impl Default for TerminalSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The line discipline settings of a terminal that tell what kind of input
/// the program on it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalModes {
    /// Canonical mode (`ICANON`): input is edited and delivered by lines.
    pub canonical: bool,
    /// Typed characters are echoed (`ECHO`); off at a password prompt.
    pub echo: bool,
    /// The end-of-file character (`VEOF`, usually Ctrl-D).
    pub eof: u8,
}

/// A child's pseudo-terminal, as the manager controls it: its size and its
/// modes. Writing to it is [`ExecChild::take_stdin`]'s writer.
pub trait TerminalControl: Send + Sync + fmt::Debug {
    /// Sets the window size; the kernel sends `SIGWINCH` to the terminal's
    /// foreground process group.
    ///
    /// # Errors
    /// When the terminal is gone or the kernel refuses.
    fn resize(&self, size: TerminalSize) -> io::Result<()>;

    /// The current modes.
    ///
    /// # Errors
    /// When the terminal is gone.
    fn modes(&self) -> io::Result<TerminalModes>;
}

/// How much network a confined command gets, from the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetworkAccess {
    /// None at all: no interface, and no sockets but Unix ones.
    None,
    /// A loopback interface of its own: servers it starts are reachable
    /// from inside, nothing outside is.
    Loopback,
    /// The host's network.
    Host,
}

impl NetworkAccess {
    /// The wire name: `none`, `loopback` or `host`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Loopback => "loopback",
            Self::Host => "host",
        }
    }
}

/// What a confined command may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadAccess {
    /// Everything not denied.
    All,
    /// Only these roots (plus the system directories every program needs,
    /// which the executor documents), and the writable roots.
    Only(Vec<PathBuf>),
}

/// A per-command isolation policy. Paths as a request gives them may be
/// relative (to the working directory) or start with `~` (the home
/// directory); an executor resolves them, and reports absolute ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Isolation {
    /// The network it gets.
    pub network: NetworkAccess,
    /// Roots it may write (everything else is read-only); a private `/tmp`
    /// is always writable.
    pub write: Vec<PathBuf>,
    /// What it may read.
    pub read: ReadAccess,
    /// Paths it may neither read nor write (nor list, where the mechanism
    /// allows), even inside readable or writable roots.
    pub deny: Vec<PathBuf>,
}

/// The isolation a start asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IsolationRequest {
    /// `"workspace"`: no network, write the working directory and a private
    /// `/tmp`, read everything else, and deny the usual secret locations
    /// (`~/.ssh`, `~/.aws`, …; the executor documents the list).
    Workspace,
    /// An explicit policy.
    Policy(Isolation),
}

/// The isolation an executor applied to a child: the policy with every path
/// resolved, and the mechanisms that enforce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedIsolation {
    /// What enforces it, e.g. `bubblewrap`, `user-namespace`,
    /// `mount-namespace`, `network-namespace`, `pid-namespace`, `seccomp`,
    /// `no_new_privs`.
    pub mechanisms: Vec<&'static str>,
    /// The effective policy, paths absolute.
    pub policy: Isolation,
}

/// Per-process resource limits, enforced by executors that can (the sandbox
/// executor, with a cgroup per process). Every field is optional; `None`
/// leaves the executor's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResourceLimits {
    /// The most memory the process tree may use (cgroup `memory.max`); past
    /// it, the kernel's OOM killer ends a process in the tree.
    pub memory_bytes: Option<u64>,
    /// Memory above which the tree is throttled and reclaimed hard (cgroup
    /// v2 `memory.high`).
    pub memory_high_bytes: Option<u64>,
    /// CPU time per wall-clock time, in thousandths of a core (1500 is one
    /// and a half cores).
    pub cpu_millicores: Option<u64>,
    /// The most processes and threads the tree may have at once.
    pub pids: Option<u64>,
}

impl ResourceLimits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Each limit of `self`, or of `defaults` where `self` has none.
    #[must_use]
    pub fn or(self, defaults: Self) -> Self {
        Self {
            memory_bytes: self.memory_bytes.or(defaults.memory_bytes),
            memory_high_bytes: self.memory_high_bytes.or(defaults.memory_high_bytes),
            cpu_millicores: self.cpu_millicores.or(defaults.cpu_millicores),
            pids: self.pids.or(defaults.pids),
        }
    }
}

impl ExecSpec {
    /// A spec for `program` with no arguments, no working directory and an
    /// empty environment.
    pub fn new(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
            ..Self::default()
        }
    }
}

/// Signals the manager can deliver to a process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `SIGKILL`: cannot be caught.
    Kill,
    /// `SIGTERM`: asks the process to exit.
    Terminate,
    /// `SIGINT`: what Ctrl-C sends.
    Interrupt,
    /// `SIGHUP`: the terminal went away.
    Hangup,
}

impl Signal {
    /// The conventional signal name, e.g. `SIGKILL`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL",
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
            Self::Hangup => "SIGHUP",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a child ended. A non-zero exit is data, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process called `exit` with this code.
    Exited(i32),
    /// The process was ended by a signal.
    Signaled {
        /// The signal number (platform-specific).
        signal: i32,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Whether the process exited with code 0.
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }
}

/// Resources a child and the descendants it waited for consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceUsage {
    /// CPU time spent in user mode.
    pub user_cpu: Duration,
    /// CPU time spent in the kernel on the process's behalf.
    pub system_cpu: Duration,
    /// Peak resident set size, in bytes: the largest of the process and the
    /// descendants it waited for (the sandbox with a memory cgroup reports
    /// the whole tree's peak instead). `None` when it cannot be told: the
    /// kernel counts the memory of the spawning process (agentproc) into a
    /// child's peak until the child calls `exec`, so a peak not above
    /// agentproc's own could be agentproc's.
    pub max_rss_bytes: Option<u64>,
    /// Forks refused because the tree hit its pids limit (sandbox only).
    pub forks_refused: Option<u64>,
    /// Time the tree was held back by its CPU limit (sandbox only).
    pub cpu_throttled: Option<Duration>,
}

/// What [`ExecChild::wait`] reports once the child has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    /// How the process ended.
    pub status: ExitStatus,
    /// What it consumed, when the executor can tell.
    pub usage: Option<ResourceUsage>,
    /// The kernel's OOM killer killed a process of its tree (executors that
    /// can tell: the sandbox, from its cgroup's counters).
    pub oom_killed: bool,
}

impl ChildExit {
    /// An exit with no usage information.
    pub fn new(status: ExitStatus) -> Self {
        Self {
            status,
            usage: None,
            oom_killed: false,
        }
    }
}

/// The process could not be started: nothing ran.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program was not found in the child's `PATH`.
    #[error("exec: \"{program}\": executable file not found in $PATH")]
    ProgramNotFound {
        /// The program that was looked up.
        program: String,
    },
    /// The working directory could not be entered.
    #[error("chdir {}: {}", path.display(), describe_io_error(source))]
    Workdir {
        /// The directory.
        path: PathBuf,
        /// Why it could not be used.
        source: io::Error,
    },
    /// The operating system refused to create the process.
    #[error("fork/exec {program}: {}", describe_io_error(source))]
    Os {
        /// The program being started.
        program: String,
        /// The error the OS reported.
        source: io::Error,
    },
    /// The executor refuses the spec as asked (a limit above the configured
    /// maximum, or one it cannot enforce on this host): the client's
    /// request must change. Nothing ran.
    #[error("{reason}")]
    Refused {
        /// A sentence a person understands, naming the limit.
        reason: String,
    },
    /// The executor cannot do what the spec asks: the request must change,
    /// or the embedder's choice of executor. Nothing ran.
    #[error("the {executor} executor cannot {capability}")]
    Unsupported {
        /// The executor's kind.
        executor: &'static str,
        /// What it cannot do.
        capability: Capability,
    },
    /// The process could not be recorded where a restart after a crash
    /// would find it (the crash-recovery journal), so it was stopped at
    /// once instead of running unprotected.
    #[error(
        "record the process in {record}: {}; it was stopped",
        describe_io_error(error)
    )]
    Unrecorded {
        /// Where it should have been recorded, e.g. `the crash-recovery
        /// journal /var/lib/agentproc/process-groups`.
        record: String,
        /// The error the OS reported.
        error: io::Error,
    },
    /// The executor could not prepare the process's confinement (a cgroup,
    /// a limit, niceness); nothing ran.
    #[error("{step}: {}", describe_io_error(error))]
    Sandbox {
        /// What was being done, e.g. `create cgroup /sys/fs/cgroup/pids/...`.
        step: String,
        /// The error the OS reported (part of the message, so not a
        /// `source`: error chains would print it twice).
        error: io::Error,
    },
}

/// Something a spec may ask that not every executor can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Enforce [`ResourceLimits`].
    Limits,
    /// Apply an isolation policy ([`ExecSpec::isolation`]).
    Isolation,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Limits => "enforce resource limits",
            Self::Isolation => "isolate commands",
        })
    }
}

/// A signal could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_io_error(source))]
pub struct SignalError {
    /// The error the OS reported.
    #[source]
    pub source: io::Error,
}

impl From<io::Error> for SignalError {
    fn from(source: io::Error) -> Self {
        Self { source }
    }
}

/// Waiting for the child failed: its exit status is unknown.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// `wait` was called a second time; it resolves only once.
    #[error("the child was already waited for")]
    AlreadyWaited,
    /// The operating system reported an error while waiting.
    #[error("wait: {}", describe_io_error(source))]
    Os {
        /// The error the OS reported.
        source: io::Error,
    },
}

/// Spawns processes. Object-safe; held as `Arc<dyn Execer>`.
///
/// Contract:
/// - `spawn` returns `Err` only when nothing ran (bad program, bad working
///   directory, resource exhaustion). A program that starts and then fails is
///   an `Ok` child whose exit status says so.
/// - The child leads a new process group (or stronger container), so that
///   [`ExecChild::signal`] reaches every process it started.
/// - Standard input is the null device unless [`ExecSpec::stdin`] asks for a
///   pipe; standard output and standard error share one pipe, so their
///   interleaving is kept as the child wrote it.
#[cfg_attr(any(test, feature = "test-support"), mockall::automock)]
pub trait Execer: Send + Sync + fmt::Debug + 'static {
    /// Starts `spec`, returning its handle.
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError>;

    /// A short name for this executor kind (for logs and health reports).
    fn kind(&self) -> &'static str;

    /// What this executor does to the processes it starts, for health and
    /// info reports. The default reports only [`Execer::kind`].
    fn report(&self) -> ExecutorReport {
        ExecutorReport::new(self.kind())
    }

    /// Whether [`Execer::spawn`] honours [`ExecSpec::terminal`]. The
    /// default is `false`: the manager then refuses terminal starts with a
    /// clear error instead of running the command without one.
    fn supports_terminal(&self) -> bool {
        false
    }

    /// Called once by the manager's `close`, after every process it started
    /// has been stopped and waited for. An executor with process-wide state
    /// (reaping orphaned descendants, a journal of process groups) stops
    /// what is left, using `grace` between `SIGTERM` and `SIGKILL`. The
    /// default does nothing.
    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let _ = grace;
        Box::pin(std::future::ready(()))
    }
}

/// An executor that changes each spec, then hands it to another one;
/// everything else (kind, report, terminals, shutdown) is the inner
/// executor's. A decorator is then only the change it makes:
///
/// ```
/// use std::sync::Arc;
/// use agentproc_core::exec::{Execer, MapSpec};
/// # fn wrap(local: Arc<dyn Execer>) -> Arc<dyn Execer> {
/// // Every command at lower priority, with one more variable, logged.
/// Arc::new(MapSpec::new(local, |spec| {
///     let mut spec = spec.clone();
///     spec.args.splice(0..0, ["-n".into(), "10".into(), spec.program.clone()]);
///     spec.program = "nice".into();
///     spec.env.insert("BUILD_MODE".into(), "agent".into());
///     eprintln!("spawning {:?}", spec.args);
///     spec
/// }))
/// # }
/// ```
pub struct MapSpec<F> {
    inner: std::sync::Arc<dyn Execer>,
    map: F,
}

impl<F> MapSpec<F>
where
    F: Fn(&ExecSpec) -> ExecSpec + Send + Sync + 'static,
{
    /// Spawns through `inner` with each spec changed by `map`.
    pub fn new(inner: std::sync::Arc<dyn Execer>, map: F) -> Self {
        Self { inner, map }
    }
}

impl<F> fmt::Debug for MapSpec<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapSpec")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F> Execer for MapSpec<F>
where
    F: Fn(&ExecSpec) -> ExecSpec + Send + Sync + 'static,
{
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError> {
        self.inner.spawn(&(self.map)(spec))
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn report(&self) -> ExecutorReport {
        self.inner.report()
    }

    fn supports_terminal(&self) -> bool {
        self.inner.supports_terminal()
    }

    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.shutdown(grace)
    }
}

/// What an executor applies to the processes it starts (see
/// [`Execer::report`]). Plain data, rendered by the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutorReport {
    /// [`Execer::kind`].
    pub kind: String,
    /// The cgroup setup in use (`v2`, `v1`, `hybrid`, `none`), for executors
    /// that use cgroups.
    pub cgroups: Option<String>,
    /// Which limits of [`ResourceLimits`] can be enforced here, by their
    /// wire names (`memory_bytes`, `cpu_cores`, ...).
    pub enforceable: Vec<&'static str>,
    /// Limits applied when a start asks for none.
    pub default_limits: ResourceLimits,
    /// The most a start may ask for.
    pub max_limits: ResourceLimits,
    /// Settings applied to every process, as `(name, value)` pairs
    /// (`niceness`, `oom_score_adj`, `rlimit_nofile`, ...).
    pub settings: Vec<(String, String)>,
    /// Things an operator should know (for example, limits are off because
    /// the cgroup filesystem is read-only).
    pub warnings: Vec<String>,
    /// Per-command isolation, for executors that offer it.
    pub isolation: Option<IsolationReport>,
}

/// What an executor can do to isolate commands (see
/// [`ExecutorReport::isolation`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IsolationReport {
    /// The mechanisms it uses when a policy applies (empty when it cannot
    /// isolate on this host).
    pub mechanisms: Vec<&'static str>,
    /// Why it cannot isolate here, when it cannot.
    pub unavailable: Option<String>,
    /// The policy applied to starts that name none.
    pub default: Option<IsolationRequest>,
    /// The floor no start may go below.
    pub minimum: Option<IsolationRequest>,
}

impl ExecutorReport {
    /// A report that says only which kind of executor this is.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            ..Self::default()
        }
    }
}

/// A running (or exited) child started by an [`Execer`].
///
/// All methods take `&self` so the manager can signal a child while another
/// task waits for it.
#[cfg_attr(any(test, feature = "test-support"), mockall::automock)]
#[async_trait]
pub trait ExecChild: Send + Sync + fmt::Debug + 'static {
    /// The OS process id, if there is one.
    fn pid(&self) -> Option<u32>;

    /// The merged output stream. Returns `Some` once; later calls get `None`.
    ///
    /// The stream ends when every process holding the write end (the child and
    /// any descendants that inherited it) has closed it.
    fn take_output(&self) -> Option<OutputReader>;

    /// The write end of the child's standard input, when the spec asked for
    /// a pipe. Returns `Some` once; later calls get `None`. Dropping it
    /// closes the child's standard input.
    fn take_stdin(&self) -> Option<InputWriter>;

    /// Sends `signal` to the child's whole process group.
    ///
    /// It may be called after [`ExecChild::wait`] resolved: it then reaches
    /// whatever is left of the group, and fails if nothing is.
    fn signal(&self, signal: Signal) -> Result<(), SignalError>;

    /// The limits in force for this child (the request's, completed with the
    /// executor's defaults); empty when the executor enforces none.
    fn limits(&self) -> ResourceLimits {
        ResourceLimits::default()
    }

    /// The isolation applied to this child, if any.
    fn isolation(&self) -> Option<AppliedIsolation> {
        None
    }

    /// The child's terminal, when it was spawned with one
    /// ([`ExecSpec::terminal`]).
    fn terminal(&self) -> Option<std::sync::Arc<dyn TerminalControl>> {
        None
    }

    /// A process of the child's that is blocked reading its input, if any:
    /// for a terminal child, a member of the terminal's foreground process
    /// group reading (or polling) the terminal; otherwise a member of the
    /// child's group reading its standard input pipe. Decided from what the
    /// kernel shows (the system call a process sleeps in and its
    /// descriptors), never from the output. Executors that cannot tell
    /// return `None`, as does the default.
    fn blocked_on_input(&self) -> Option<u32> {
        None
    }

    /// Waits until the child itself (not its descendants) exits.
    ///
    /// Resolves once; a second call returns [`WaitError::AlreadyWaited`].
    /// Dropping the future before it resolves is allowed and loses nothing.
    async fn wait(&self) -> Result<ChildExit, WaitError>;
}

/// The Linux name of a signal number, e.g. `SIGKILL` for 9.
pub fn signal_name(number: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = usize::try_from(number).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

/// Describes an I/O error the way Go does: the lower-case OS message without
/// the `(os error N)` suffix, e.g. `no such file or directory`.
pub fn describe_io_error(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(cut) if error.raw_os_error().is_some() => &text[..cut],
        _ => &text[..],
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_described_like_go() {
        let error = io::Error::from_raw_os_error(2);
        assert_eq!(describe_io_error(&error), "no such file or directory");
        let custom = io::Error::other("Custom thing");
        assert_eq!(describe_io_error(&custom), "custom thing");
    }

    #[test]
    fn spawn_errors_read_like_go() {
        let missing = SpawnError::ProgramNotFound {
            program: "sh".into(),
        };
        assert_eq!(
            missing.to_string(),
            "exec: \"sh\": executable file not found in $PATH"
        );
        let workdir = SpawnError::Workdir {
            path: "/nope".into(),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            workdir.to_string(),
            "chdir /nope: no such file or directory"
        );
    }
}
