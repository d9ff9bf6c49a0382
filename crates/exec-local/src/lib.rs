//! `agentproc-exec-local`: the plain [`Execer`]. It runs each spec as a new
//! process group leader, with standard input from `/dev/null` (or a pipe)
//! and standard output and standard error sharing **one pipe**, so the
//! interleaving of the two streams is exactly the order the kernel saw the
//! writes in.
//!
//! A spec with a [terminal](ExecSpec::terminal) runs on a new
//! pseudo-terminal instead: the child leads a new session whose controlling
//! terminal is the slave, which is its standard input, output and error;
//! the output is what the master reads, the input writer writes the master,
//! and [`ExecChild::terminal`] resizes it and reads its modes. Such spawns
//! fork (the child's step onto its terminal is a `pre_exec` hook); the
//! others keep `posix_spawn`.
//!
//! [`ExecChild::blocked_on_input`] tells, from `/proc`, whether a process of
//! the child's is asleep reading its terminal or its stdin pipe (see the
//! `input_wait` module).
//!
//! Waiting uses a pidfd (Linux 5.3+) registered with Tokio, and reaps with
//! `wait4` so the exit carries the child's resource usage. Signals go to the
//! whole process group with `killpg`, and for a terminal child to every
//! process group of its session (a job-control shell runs each job in a
//! group of its own).
//!
//! Optional process-wide services, for a process whose children all come
//! from this executor (the `agentproc` binary):
//! - [`Journal`]: records every spawned group in a state file, so a restart
//!   after a crash stops what the crashed instance left running;
//! - [`Subreaper`]: adopts descendants that daemonize, reaps them, and stops
//!   them at shutdown.
//!
//! What it deliberately does not do:
//! - limits, niceness or containment beyond the process group (that is
//!   `agentproc-exec-sandbox`, which wraps this executor);
//! - wait for descendants that keep the output pipe (or the terminal's
//!   slave) open after the child exits: [`ExecChild::wait`] resolves when the
//!   child itself exits, and the manager decides how long to keep reading
//!   (Go's `WaitDelay`);
//! - answer a terminal program's queries (cursor position, device
//!   attributes): their bytes reach the output like any other, and whoever
//!   models the screen writes the replies to the input writer.

mod exec_size;
mod input_wait;
pub mod journal;
mod procfs;
mod pty;
pub mod subreaper;
mod sys;
mod tracking;

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use agentproc_core::exec::{
    Capability, ChildExit, ExecChild, ExecSpec, Execer, InputWriter, OutputReader, Signal,
    SignalError, SpawnError, TerminalControl, TerminalSize, WaitError,
};
use async_trait::async_trait;
use nix::sys::signal::{Signal as NixSignal, killpg};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

pub use journal::{INSTANCE_VAR, Journal};
pub use subreaper::Subreaper;

/// Spawns processes directly on this host. See the crate documentation.
#[derive(Debug, Default, Clone)]
pub struct LocalExecer {
    journal: Option<Arc<Journal>>,
    subreaper: Option<Arc<Subreaper>>,
}

impl LocalExecer {
    /// Records every spawned process group in `journal`.
    #[must_use]
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Stops the orphans `subreaper` adopted when the manager shuts down.
    #[must_use]
    pub fn with_subreaper(mut self, subreaper: Arc<Subreaper>) -> Self {
        self.subreaper = Some(subreaper);
        self
    }

    /// Spawns `spec` as [`Execer::spawn`] does (recording it in the
    /// journal), letting `customize` adjust the [`Command`] first, and
    /// returns the concrete child. This is how an executor that composes
    /// this one (the sandbox) adds its `pre_exec` steps. It does not check
    /// [`ExecSpec::limits`]: enforcing them is the caller's business.
    ///
    /// # Errors
    /// When nothing could be started; see [`SpawnError`].
    ///
    /// # Panics
    /// Outside a Tokio runtime with I/O enabled.
    pub fn spawn_with(
        &self,
        spec: &ExecSpec,
        customize: impl FnOnce(&mut Command),
    ) -> Result<LocalChild, SpawnError> {
        let Some(journal) = &self.journal else {
            return spawn_with(spec, customize);
        };
        let before = sys::boot_ticks();
        let mut child = spawn_with(spec, |command| {
            // Inherited by every descendant, even one that leaves the group.
            command.env(INSTANCE_VAR, journal.instance());
            customize(command);
        })?;
        let after = sys::boot_ticks();
        if let Err(error) = journal.record_spawned_group(child.pid, (before, after)) {
            // A crash would leave this group running: it must not run as
            // if it were protected. It has had microseconds (the shell has
            // not got to the command yet, in practice).
            child.stop_at_once();
            return Err(SpawnError::Unrecorded {
                record: format!("the crash-recovery journal {}", journal.path().display()),
                error,
            });
        }
        child.journal = Some(Arc::clone(journal));
        Ok(child)
    }
}

/// An executor that spawns with a [`Command`] the caller may customise
/// (`pre_exec` steps), producing a [`LocalChild`]: what an executor that
/// confines processes in the child before `exec` (the sandbox) can wrap.
/// [`LocalExecer`] is one; a decorator of it (changing specs, logging)
/// implements this by delegating, and can then be sandboxed too.
pub trait CommandSpawner: Send + Sync + fmt::Debug + 'static {
    /// Spawns `spec`, letting `customize` adjust the command first.
    ///
    /// # Errors
    /// When nothing could be started; see [`SpawnError`].
    fn spawn_command(
        &self,
        spec: &ExecSpec,
        customize: &mut dyn FnMut(&mut Command),
    ) -> Result<LocalChild, SpawnError>;

    /// Whether [`ExecSpec::terminal`] is honoured.
    fn supports_terminal(&self) -> bool;

    /// What is left to stop at shutdown (see [`Execer::shutdown`]).
    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

impl CommandSpawner for LocalExecer {
    fn spawn_command(
        &self,
        spec: &ExecSpec,
        customize: &mut dyn FnMut(&mut Command),
    ) -> Result<LocalChild, SpawnError> {
        self.spawn_with(spec, customize)
    }

    fn supports_terminal(&self) -> bool {
        true
    }

    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Execer::shutdown(self, grace)
    }
}

impl Execer for LocalExecer {
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError> {
        if !spec.limits.is_empty() {
            return Err(SpawnError::Unsupported {
                executor: self.kind(),
                capability: Capability::Limits,
            });
        }
        if spec.isolation.is_some() {
            return Err(SpawnError::Unsupported {
                executor: self.kind(),
                capability: Capability::Isolation,
            });
        }
        Ok(Box::new(self.spawn_with(spec, |_| {})?))
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    fn supports_terminal(&self) -> bool {
        true
    }

    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let subreaper = self.subreaper.clone();
        let journal = self.journal.clone();
        Box::pin(async move {
            if let Some(subreaper) = subreaper {
                subreaper.stop_orphans(grace).await;
            }
            // Every process group was stopped and waited for by the manager.
            if let Some(journal) = journal {
                journal.clear();
            }
        })
    }
}

/// Spawns `spec` and returns the concrete child (the sandbox executor uses
/// this to reach the pid before boxing).
///
/// # Errors
/// When nothing could be started; see [`SpawnError`].
///
/// # Panics
/// Outside a Tokio runtime with I/O enabled.
pub fn spawn(spec: &ExecSpec) -> Result<LocalChild, SpawnError> {
    spawn_with(spec, |_| {})
}

/// Like [`spawn`], letting `customize` adjust the [`Command`] first (the
/// sandbox executor adds its `pre_exec` steps this way).
///
/// For a spec with a [terminal](ExecSpec::terminal), the child's own step
/// (a new session, the slave as its controlling terminal) is added after
/// `customize`'s, so a wrapping executor's confinement applies first; both
/// run. `customize` must then neither replace the child's standard
/// descriptors nor ask for a process group (`setsid` fails for a group
/// leader).
///
/// # Errors
/// When nothing could be started; see [`SpawnError`].
pub fn spawn_with(
    spec: &ExecSpec,
    customize: impl FnOnce(&mut Command),
) -> Result<LocalChild, SpawnError> {
    let program = spec.program.to_string_lossy().into_owned();
    let os_error = |source: io::Error| SpawnError::Os {
        program: program.clone(),
        source,
    };
    if let Some(dir) = &spec.cwd {
        check_workdir(dir)?;
    }
    signal_defaults_once();

    // Looked up here, with the child's PATH (the same rule `execvp` in the
    // child would apply), so std can use posix_spawn: with a relative
    // program and a changed PATH it falls back to fork, which costs far
    // more in a multi-threaded process.
    let resolved = resolve_program(&spec.program, spec.env.get(std::ffi::OsStr::new("PATH")));
    let executable = resolved.as_deref().unwrap_or(spec.program.as_ref());
    exec_size::check(executable.as_os_str(), &spec.args, &spec.env)?;
    let mut command = Command::new(executable);
    command.args(&spec.args).env_clear().envs(&spec.env);
    if let Some(dir) = &spec.cwd {
        command.current_dir(dir);
    }
    let plumbing = match spec.terminal {
        Some(size) => Plumbing::terminal(&mut command, size),
        None => Plumbing::pipes(&mut command, spec.stdin),
    }
    .map_err(os_error)?;
    customize(&mut command);
    if spec.terminal.is_some() {
        sys::acquire_terminal(&mut command);
    }
    let (pid, stdin) = {
        // Tracked before a subreaper's sweep can see it as a child.
        let _spawning = tracking::shared();
        let mut child = command
            .spawn()
            .map_err(|error| spawn_error(spec, &program, error))?;
        tracking::track(child.id());
        (child.id(), child.stdin.take())
        // Dropping a std `Child` neither kills nor waits.
    };
    let stdin = match stdin {
        Some(stdin) => Some(pipe::Sender::from_owned_fd(OwnedFd::from(stdin)).map_err(os_error)?),
        None => None,
    };
    // Dropping the command closes our copies of the pipe's write end (or of
    // the terminal's slave), so the reader sees end-of-file once the child
    // and its descendants close theirs.
    drop(command);
    let (output, stdin, terminal, stdin_pipe): (OutputReader, Option<InputWriter>, _, _) =
        match plumbing {
            Plumbing::Pipes(output) => {
                // What a process of the child's reading its stdin reads.
                let stdin_pipe = stdin.as_ref().and_then(|stdin| {
                    nix::sys::stat::fstat(stdin)
                        .ok()
                        .map(|stat| input_wait::Target::pipe(stat.st_ino))
                });
                let stdin = stdin.map(|stdin| Box::new(stdin) as InputWriter);
                (Box::new(output), stdin, None, stdin_pipe)
            }
            Plumbing::Terminal {
                reader,
                writer,
                control,
            } => (
                Box::new(reader),
                Some(Box::new(writer) as InputWriter),
                Some(control),
                None,
            ),
        };

    let exit_fd = match sys::pidfd_open(pid).and_then(sys::register_readable) {
        Ok(fd) => Some(fd),
        Err(error) => {
            tracing::debug!(pid, %error, "no pidfd; waiting on a blocking thread");
            None
        }
    };
    Ok(LocalChild {
        pid,
        has_pidfd: exit_fd.is_some(),
        exit_fd: Mutex::new(exit_fd),
        output: Mutex::new(Some(output)),
        stdin: Mutex::new(stdin),
        terminal,
        stdin_pipe,
        reaped: AtomicBool::new(false),
        journal: None,
    })
}

/// How a child's standard descriptors are connected, prepared before the
/// spawn (all but a stdin pipe, which std creates) so that little can fail
/// after it.
enum Plumbing {
    /// One pipe for stdout and stderr; stdin from `/dev/null` or a pipe std
    /// creates.
    Pipes(OutputPipe),
    /// A pseudo-terminal; the slave is the child's stdin, stdout and stderr.
    Terminal {
        reader: pty::MasterReader,
        writer: pty::MasterWriter,
        control: Arc<pty::Terminal>,
    },
}

impl Plumbing {
    /// The output pipe, the stdin choice, and a process group of the
    /// child's own.
    fn pipes(command: &mut Command, stdin: bool) -> io::Result<Self> {
        // One pipe for both streams. std creates it close-on-exec, so
        // children spawned concurrently by other threads do not inherit it.
        let (reader, writer) = io::pipe()?;
        let enlarged = PipeBudget::enlarge(&writer);
        let stderr = writer.try_clone()?;
        let output = OutputPipe {
            receiver: pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?,
            _budget: enlarged,
        };
        command
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(writer)
            .stderr(stderr)
            .process_group(0);
        Ok(Self::Pipes(output))
    }

    /// A new pseudo-terminal of `size` whose slave the child gets as its
    /// three standard descriptors. No process group is asked for: the
    /// child's `setsid` makes one (see [`sys::acquire_terminal`]).
    fn terminal(command: &mut Command, size: TerminalSize) -> io::Result<Self> {
        let opened = pty::open(size).map_err(|error| {
            // "fork/exec sh: open a pseudo-terminal: no space left on
            // device" when the system's pseudo-terminals are all in use.
            io::Error::new(
                error.kind(),
                format!(
                    "open a pseudo-terminal: {}",
                    agentproc_core::exec::describe_io_error(&error)
                ),
            )
        })?;
        // Duplicates share the master's open file, so they are
        // non-blocking too; std's `try_clone` makes them close-on-exec.
        let writer = pty::MasterWriter::new(opened.master.try_clone()?)?;
        let control = Arc::new(pty::Terminal::new(
            opened.master.try_clone()?,
            opened.target,
        ));
        let reader = pty::MasterReader::new(opened.master)?;
        command
            .stdin(opened.slave.try_clone()?)
            .stdout(opened.slave.try_clone()?)
            .stderr(opened.slave);
        Ok(Self::Terminal {
            reader,
            writer,
            control,
        })
    }
}

/// A pipe capacity that lets a fast writer run ahead of the reader (the
/// default is 64 KiB): capturing a gigabyte costs fewer wake-ups and keeps
/// up with `| cat`.
const LARGE_PIPE_BYTES: i32 = 1 << 20;
/// How many pipes may be enlarged at once. The kernel counts pipe pages per
/// user, and once an unprivileged user passes `pipe-user-pages-soft` (16384
/// pages by default) every new pipe of that user gets two pages; 16 pipes of
/// 256 pages stay at a quarter of that.
const MAX_LARGE_PIPES: usize = 16;
static LARGE_PIPES: AtomicUsize = AtomicUsize::new(0);

/// A slot in the budget of enlarged pipes, given back when the pipe closes.
struct PipeBudget;

impl PipeBudget {
    fn enlarge(pipe: &io::PipeWriter) -> Option<Self> {
        if LARGE_PIPES.fetch_add(1, Ordering::AcqRel) >= MAX_LARGE_PIPES {
            LARGE_PIPES.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        match nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(LARGE_PIPE_BYTES)) {
            Ok(_) => Some(Self),
            Err(_) => {
                LARGE_PIPES.fetch_sub(1, Ordering::AcqRel);
                None
            }
        }
    }
}

impl Drop for PipeBudget {
    fn drop(&mut self) {
        LARGE_PIPES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The read end of a child's output pipe.
struct OutputPipe {
    receiver: pipe::Receiver,
    _budget: Option<PipeBudget>,
}

impl tokio::io::AsyncRead for OutputPipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.receiver).poll_read(cx, buf)
    }
}

/// `program` if it contains a `/`; else the first executable file of that
/// name in `path`; `None` when there is none (the spawn then reports it).
fn resolve_program(
    program: &std::ffi::OsStr,
    path: Option<&std::ffi::OsString>,
) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if program.as_bytes().contains(&b'/') {
        return None;
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

fn check_workdir(dir: &std::path::Path) -> Result<(), SpawnError> {
    let workdir_error = |source| SpawnError::Workdir {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(workdir_error(io::Error::from_raw_os_error(libc::ENOTDIR))),
        Err(error) => Err(workdir_error(error)),
    }
}

fn spawn_error(spec: &ExecSpec, program: &str, error: io::Error) -> SpawnError {
    if error.raw_os_error() == Some(libc::E2BIG) {
        // What the check before spawning could not foresee (variables a
        // wrapping executor added): still the request's size.
        return SpawnError::Refused {
            reason: exec_size::too_big_for_the_kernel(),
        };
    }
    if error.kind() == io::ErrorKind::NotFound {
        // The directory may have vanished since it was checked.
        if let Some(dir) = &spec.cwd
            && let Err(workdir) = check_workdir(dir)
        {
            return workdir;
        }
        if !program.contains('/') {
            return SpawnError::ProgramNotFound {
                program: program.to_owned(),
            };
        }
    }
    SpawnError::Os {
        program: program.to_owned(),
        source: error,
    }
}

/// A child started by [`LocalExecer`].
pub struct LocalChild {
    pid: u32,
    /// Readable once the child has exited; `None` on kernels without pidfd.
    /// The pidfd, held only until the child is reaped (so exited children
    /// cost no file descriptor). Taken by the waiting future while it waits.
    exit_fd: Mutex<Option<AsyncFd<OwnedFd>>>,
    /// Whether a pidfd was opened (otherwise a blocking thread waits).
    has_pidfd: bool,
    output: Mutex<Option<OutputReader>>,
    stdin: Mutex<Option<InputWriter>>,
    /// The child's pseudo-terminal, when it was spawned on one.
    terminal: Option<Arc<pty::Terminal>>,
    /// The child's stdin pipe, when it has one, as its processes see it.
    stdin_pipe: Option<input_wait::Target>,
    reaped: AtomicBool,
    /// Where the group is recorded, to retire it once it is gone.
    journal: Option<Arc<Journal>>,
}

impl Drop for LocalChild {
    fn drop(&mut self) {
        if !self.reaped.load(Ordering::Acquire) {
            // Nobody will wait for it now: let a subreaper reap it as an
            // orphan rather than leave a zombie.
            tracking::untrack(self.pid);
            return;
        }
        if let Some(journal) = &self.journal
            && !self.group_alive()
        {
            journal.forget(self.pid);
        }
    }
}

impl fmt::Debug for LocalChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalChild")
            .field("pid", &self.pid)
            .field("pidfd", &self.has_pidfd)
            .field("terminal", &self.terminal.is_some())
            .field("reaped", &self.reaped.load(Ordering::Relaxed))
            .finish()
    }
}

impl LocalChild {
    /// The process id, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Kills the whole group and reaps the leader, for a child that must
    /// not run after all.
    fn stop_at_once(&self) {
        let _ = self.deliver(NixSignal::SIGKILL);
        if sys::wait4(self.pid, false).is_ok() {
            self.mark_reaped();
        }
    }

    fn mark_reaped(&self) {
        self.reaped.store(true, Ordering::Release);
        tracking::untrack(self.pid);
        if let Some(terminal) = &self.terminal {
            terminal.release();
        }
    }

    /// Sends `signal` to the child's process group, and for a terminal
    /// child to every process group of its session.
    fn deliver(&self, signal: NixSignal) -> io::Result<()> {
        let leader = i32::try_from(self.pid).map_err(io::Error::other)?;
        // The group id is the leader's pid. While any member is alive the
        // kernel keeps that number reserved, so this reaches our group. Once
        // every member is gone (the leader reaped, the rest exited) the
        // number is free, and in theory a new group could reuse it before
        // the manager stops signalling; the manager only signals processes
        // it considers running or lingering, which keeps that window to
        // the output-drain grace.
        let leaders_group = killpg(Pid::from_raw(leader), signal);
        if self.terminal.is_none() {
            return leaders_group.map_err(|errno| io::Error::from_raw_os_error(errno as i32));
        }
        // A job-control shell (`bash -i`) runs each job in a group of its
        // own, in the session the child leads: its id is the child's pid,
        // kept reserved by the kernel, like a group id, while any member
        // of the session lives, so the members listed here are ours, and
        // so are their groups as listed. A group could empty between the
        // listing and its signal and its id be taken by a new group (the
        // pid counter would have to come round to that number in those
        // microseconds), and once the whole session is gone a new session
        // could take its id; the manager's rule above bounds that as it
        // does for the group.
        let mut delivered = leaders_group.is_ok();
        let mut groups: Vec<u32> = procfs::session_members(self.pid)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, stat)| stat.pgrp)
            .filter(|pgrp| *pgrp != self.pid)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        for pgrp in groups {
            if let Ok(pgrp) = i32::try_from(pgrp) {
                delivered |= killpg(Pid::from_raw(pgrp), signal).is_ok();
            }
        }
        match leaders_group {
            Err(errno) if !delivered => Err(io::Error::from_raw_os_error(errno as i32)),
            _ => Ok(()),
        }
    }

    /// Whether any member of the process group is still alive.
    fn group_alive(&self) -> bool {
        i32::try_from(self.pid).is_ok_and(|pgid| killpg(Pid::from_raw(pgid), None).is_ok())
    }
}

#[async_trait]
impl ExecChild for LocalChild {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn take_output(&self) -> Option<OutputReader> {
        lock(&self.output).take()
    }

    /// The stdin pipe's write end; for a terminal child, a writer onto the
    /// terminal's master (whatever [`ExecSpec::stdin`] says), whose bytes
    /// are typed input: dropping it does not end the child's input, the
    /// end-of-file character (Ctrl-D, 0x04, at the start of a line) does.
    fn take_stdin(&self) -> Option<InputWriter> {
        lock(&self.stdin).take()
    }

    /// Sends `signal` to the child's process group; for a terminal child,
    /// to every process group of the session it leads (the jobs of a
    /// job-control shell).
    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        Ok(self.deliver(to_nix(signal))?)
    }

    fn terminal(&self) -> Option<Arc<dyn TerminalControl>> {
        self.terminal
            .clone()
            .map(|terminal| terminal as Arc<dyn TerminalControl>)
    }

    /// For a terminal child, the members of the terminal's foreground
    /// process group; for a child with a stdin pipe, the members of its
    /// process group. Members are found among the child's descendants (all
    /// of `/proc` when the kernel cannot list children, or the child has
    /// been reaped); the first one asleep reading (or polling) the terminal
    /// or the pipe is returned. A few small `/proc` reads per member; it
    /// never blocks.
    fn blocked_on_input(&self) -> Option<u32> {
        let (pgrp, target) = match (&self.terminal, &self.stdin_pipe) {
            (Some(terminal), _) => (terminal.foreground_group()?, terminal.target()),
            (None, Some(pipe)) => (self.pid, pipe),
            (None, None) => return None,
        };
        let tree = if self.reaped.load(Ordering::Acquire) {
            None
        } else {
            procfs::descendants(self.pid)
        };
        let members: Vec<_> = match tree {
            Some(tree) => tree
                .into_iter()
                .filter(|(_, stat)| stat.pgrp == pgrp)
                .collect(),
            None => procfs::group_members(pgrp).unwrap_or_default(),
        };
        input_wait::first_waiting(&members, target)
    }

    async fn wait(&self) -> Result<ChildExit, WaitError> {
        if self.reaped.load(Ordering::Acquire) {
            return Err(WaitError::AlreadyWaited);
        }
        let exit = if self.has_pidfd {
            let mut lease = Lease {
                slot: &self.exit_fd,
                fd: lock(&self.exit_fd).take(),
            };
            let exit = match &lease.fd {
                Some(exit_fd) => loop {
                    let mut ready = exit_fd.readable().await.map_err(os_wait_error)?;
                    match sys::wait4(self.pid, true).map_err(os_wait_error)? {
                        Some(exit) => break exit,
                        None => ready.clear_ready(),
                    }
                },
                // Another wait holds the pidfd.
                None => return Err(WaitError::AlreadyWaited),
            };
            // Reaped: close the pidfd now rather than when the child is
            // dropped.
            lease.fd = None;
            exit
        } else {
            let pid = self.pid;
            tokio::task::spawn_blocking(move || sys::wait4(pid, false))
                .await
                .map_err(|join| os_wait_error(io::Error::other(join)))?
                .map_err(os_wait_error)?
                .ok_or_else(|| os_wait_error(io::Error::other("wait4 returned no child")))?
        };
        self.mark_reaped();
        Ok(exit)
    }
}

/// The pidfd, borrowed by a waiting future; put back if the future is
/// dropped before the child is reaped.
struct Lease<'a> {
    slot: &'a Mutex<Option<AsyncFd<OwnedFd>>>,
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            *lock(self.slot) = Some(fd);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn os_wait_error(source: io::Error) -> WaitError {
    WaitError::Os { source }
}

fn to_nix(signal: Signal) -> NixSignal {
    match signal {
        Signal::Kill => NixSignal::SIGKILL,
        Signal::Terminate => NixSignal::SIGTERM,
        Signal::Interrupt => NixSignal::SIGINT,
        Signal::Hangup => NixSignal::SIGHUP,
    }
}

/// Blocks until every process in `pids` has exited (or is already gone), or
/// `timeout` passes; returns the ones still alive. Exited-but-unreaped
/// processes (zombies) count as exited. Uses pidfds, so it wakes on the
/// exits themselves.
pub fn wait_until_dead(pids: &[u32], timeout: Duration) -> Vec<u32> {
    sys::wait_until_dead(pids, timeout);
    pids.iter()
        .copied()
        .filter(|pid| matches!(procfs::stat(*pid), Ok(Some(stat)) if !stat.is_dead()))
        .collect()
}

/// Raises this process's soft limit on open files to at least `wanted`
/// (capped at the hard limit), and returns the limit now in force. Each
/// running process holds two descriptors (its output pipe and its pidfd).
///
/// Children inherit the raised limit: restoring theirs would need a
/// `pre_exec` step, which makes every spawn fork instead of `posix_spawn`.
///
/// # Errors
/// When the limits cannot be read or set.
pub fn raise_open_file_limit(wanted: u64) -> io::Result<u64> {
    sys::raise_open_file_limit(wanted)
}

/// Marks every descriptor this process inherited beyond standard input,
/// output and error close-on-exec, so none reaches a command it starts (a
/// shell or service manager may start agentproc with stray descriptors
/// open). Call it first thing in `main`, before opening anything that must
/// be inherited (nothing of agentproc's is: its own descriptors are all
/// close-on-exec already).
///
/// # Errors
/// When the descriptors cannot be listed or changed.
pub fn close_inherited_descriptors_on_exec() -> io::Result<()> {
    sys::cloexec_from(3)
}

/// Lets the commands this process starts receive every signal: a signal
/// ignored here (`nohup` ignores `SIGHUP`; a non-interactive shell's `&`
/// ignores `SIGINT` and `SIGQUIT`; some launchers ignore `SIGCHLD`) would
/// otherwise stay ignored in every command, so `interrupt` or `hangup`
/// requests would do nothing. Each ignored signal gets a handler that does
/// nothing instead: this process still shrugs it off, and `exec` resets
/// handled signals to their default in the commands. The local executor
/// does this itself before its first spawn; call it first thing in `main`
/// to have it done before anything else runs. Returns the signal numbers
/// changed.
///
/// # Errors
/// When a disposition cannot be changed.
pub fn default_ignored_signals_on_exec() -> io::Result<Vec<i32>> {
    sys::default_ignored_signals_on_exec()
}

/// [`default_ignored_signals_on_exec`] before the first spawn, so a
/// library user gets signals delivered whatever its launcher ignored.
fn signal_defaults_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| match sys::default_ignored_signals_on_exec() {
        Ok(changed) if !changed.is_empty() => tracing::info!(
            signals = ?changed.iter().filter_map(|n| signal_name(*n)).collect::<Vec<_>>(),
            "signals this process ignored will reach the commands it starts"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot reset ignored signals for commands"),
    });
}

/// The conventional name of a signal number on this platform, e.g.
/// `SIGKILL` for 9.
pub fn signal_name(number: i32) -> Option<&'static str> {
    NixSignal::try_from(number).ok().map(NixSignal::as_str)
}
