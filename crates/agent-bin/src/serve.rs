//! `agentproc serve`: wires the manager, the executor and the router, serves
//! until shutdown, then stops every process before returning.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentproc_api_http::{ApiState, router_with};
use agentproc_core::clock::SystemClock;
use agentproc_core::exec::{Env, ExecSpec, Execer};
use agentproc_core::log::{LogConfig, LogStore};
use agentproc_core::{Manager, ManagerConfig};
use agentproc_exec_local::{Journal, LocalExecer, Subreaper};
use agentproc_exec_sandbox::{Niceness, OomScoreAdj, SandboxConfig, SandboxExecer};
use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{ENV_PREFIX, ExecutorSettings, ListenAddr, Settings};

/// What the process environment contributes to the manager.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    /// The environment children start from.
    pub vars: Env,
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// The default state directory: `$XDG_STATE_HOME/agentproc`, else
    /// `~/.local/state/agentproc`.
    pub state_dir: Option<PathBuf>,
    /// Coder's priority management (`CODER_PROC_PRIO_MGMT`), when set.
    pub coder_priority: Option<CoderPriority>,
}

/// Coder's `CODER_PROC_PRIO_MGMT` and its two scores (unset or unparseable
/// scores mean the defaults, as in Coder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoderPriority {
    /// `CODER_PROC_NICE_SCORE`.
    pub nice: Option<i32>,
    /// `CODER_PROC_OOM_SCORE`.
    pub oom_score: Option<i32>,
}

/// Coder's priority-management variables: read by agentproc, never passed
/// on to children.
const CODER_PRIORITY_VARS: [&str; 3] = [
    "CODER_PROC_PRIO_MGMT",
    "CODER_PROC_OOM_SCORE",
    "CODER_PROC_NICE_SCORE",
];

impl HostEnv {
    /// Reads this process's environment, leaving out agentproc's own
    /// `AGENTPROC_*` configuration so children do not inherit it.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter(|(name, _)| {
                let name = name.to_string_lossy();
                !name.starts_with(ENV_PREFIX) && !CODER_PRIORITY_VARS.contains(&name.as_ref())
            })
            .collect();
        let score = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.trim().parse().ok())
        };
        let coder_priority = std::env::var_os("CODER_PROC_PRIO_MGMT").map(|_| CoderPriority {
            nice: score("CODER_PROC_NICE_SCORE"),
            oom_score: score("CODER_PROC_OOM_SCORE"),
        });
        let home: Option<PathBuf> = std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(Into::into);
        let state_home = std::env::var_os("XDG_STATE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(".local/state")));
        Self {
            vars,
            state_dir: state_home.map(|dir| dir.join("agentproc")),
            home,
            coder_priority,
        }
    }
}

/// Serves the API on `settings.listen` until the first signal, then closes
/// the manager (SIGTERM, grace, SIGKILL for every process group; a second
/// signal kills at once) and gives in-flight requests the shutdown grace to
/// finish.
///
/// This is `agentproc serve`, for an embedder too. `main.rs` also does
/// three things first, process-wide, which an embedder should do as early
/// as it can (before other threads start): mark inherited descriptors
/// close-on-exec and let commands get the signals a launcher ignored
/// ([`agentproc_exec_local::close_inherited_descriptors_on_exec`] and
/// [`agentproc_exec_local::default_ignored_signals_on_exec`]), and set up
/// logging ([`crate::logging::init`]). What `serve` itself buys:
/// - [`build_manager`]: the crash-recovery journal and the subreaper (a
///   restarted agentproc stops what a crashed one left running, daemons
///   included), the full output logs (cursors, streams, search,
///   `until=match`), the executor the settings name, checked by a test
///   command at startup, and an open-file limit raised for `max_running`;
/// - the audit log, when configured;
/// - the router with the MCP endpoint, metrics, the token check and the
///   cross-origin guard ([`agentproc_api_http::router_with`]);
/// - the accept loop of [`crate::http`]: a header read timeout and idle
///   keep-alive connections closed (what `axum::serve` lacks), TCP_NODELAY;
/// - the tokenizer of the agent view built off the request path;
/// - a graceful shutdown that stops every process.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use agentproc::cli::ServeArgs;
///
/// agentproc_exec_local::close_inherited_descriptors_on_exec()?;
/// agentproc_exec_local::default_ignored_signals_on_exec()?;
/// use agentproc::serve::{HostEnv, Signals, serve};
///
/// let args = ServeArgs {
///     listen: Some("unix:/run/my-agent/agentproc.sock".to_owned()),
///     ..ServeArgs::default()
/// };
/// // The layered configuration: defaults, /etc/agentproc/config.toml,
/// // AGENTPROC_* variables, then `args`.
/// let settings =
///     agentproc::config::load(&args, std::path::Path::new(agentproc::config::SYSTEM_CONFIG))?;
/// serve(settings, HostEnv::from_process(), Signals::install()?).await
/// # }
/// ```
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(settings: Settings, host: HostEnv, signals: Signals) -> anyhow::Result<()> {
    let state_dir = settings
        .state_dir
        .clone()
        .or(host.state_dir.clone())
        .context("no state directory: set state_dir, or HOME or XDG_STATE_HOME")?;
    let output_dir = settings
        .output_dir
        .clone()
        .unwrap_or_else(|| state_dir.join("output"));
    let Built { manager, journal } =
        build_manager(&settings, host, &state_dir, &output_dir).await?;
    let listener =
        bind(&settings.listen).with_context(|| {
            format!(
                "cannot listen on {} (another agentproc there? run a second one with --listen ADDR and its own AGENTPROC_STATE_DIR, and point the CLI at it with --server or AGENTPROC_SERVER)",
                settings.listen
            )
        })?;
    let address = listener
        .address()
        .context("cannot read the bound address")?;
    let audit = match &settings.audit {
        Some(audit) => {
            tracing::info!(path = %audit.path.display(), "audit log");
            Some(crate::audit::start(&manager, audit)?)
        }
        None => None,
    };
    let stopping = CancellationToken::new();
    let mcp = crate::mcp::http_router(&manager, &settings, stopping.child_token());
    let app = router_with(
        ApiState::with_config(manager.clone(), settings.api.clone()),
        mcp,
    );
    // The agent view's BPE takes a moment to build: do it now, off the
    // request path (a view asked for meanwhile waits for it, no longer).
    let _ = std::thread::Builder::new()
        .name("agentproc-tokenizer".to_owned())
        .spawn(|| {
            let started = std::time::Instant::now();
            agentproc_view::O200kBase::preload();
            tracing::info!(
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "agent view tokenizer ready"
            );
        });

    if !settings.listen.is_local() {
        if settings.api.token.is_some() {
            tracing::info!(%address, "listening on a non-loopback address; requests need the token");
        } else {
            tracing::warn!(
                %address,
                "listening on a non-loopback address WITHOUT a token (--insecure-no-auth): anyone who can reach it can run commands as this user"
            );
        }
    }
    let report = manager.executor_report();
    tracing::info!(
        %address,
        state = %journal.path().display(),
        executor = manager.executor_kind(),
        cgroups = report.cgroups.as_deref(),
        enforceable_limits = ?report.enforceable,
        version = env!("CARGO_PKG_VERSION"),
        "agentproc listening"
    );

    let header_timeout = settings.api.request_read_timeout;
    let (mut server, socket_file) = match listener {
        Bound::Tcp(listener) => {
            let listener = Arc::new(listener);
            let accept = move || {
                let listener = Arc::clone(&listener);
                async move {
                    let (stream, _) = listener.accept().await?;
                    // Small answers and stream events go out at once.
                    stream.set_nodelay(true)?;
                    Ok(stream)
                }
            };
            let serving = crate::http::serve(accept, app, stopping.clone(), header_timeout);
            (tokio::spawn(serving), None)
        }
        Bound::Unix(listener, socket_file) => {
            let listener = Arc::new(listener);
            let accept = move || {
                let listener = Arc::clone(&listener);
                async move { listener.accept().await.map(|(stream, _)| stream) }
            };
            let serving = crate::http::serve(accept, app, stopping.clone(), header_timeout);
            (tokio::spawn(serving), Some(socket_file))
        }
    };
    let mut signals = signals;
    tokio::select! {
        () = signals.next() => {}
        served = &mut server => {
            // The server stopped on its own: still stop every process.
            manager.close().await;
            return served.context("the HTTP server task failed");
        }
    }
    tracing::info!("shutting down: stopping every process");
    stopping.cancel();
    // Closing ends every process, which also ends pending waits, so in-flight
    // requests can finish. A second signal skips the grace periods.
    tokio::select! {
        () = manager.close() => {}
        () = signals.next() => {
            tracing::warn!("second signal: killing every process now");
            manager.kill_all();
            manager.close().await;
        }
    }
    // In-flight requests get a bounded time to finish; a client that keeps a
    // request open (a slow or stuck upload) must not keep agentproc alive.
    match tokio::time::timeout(settings.limits.shutdown_grace, &mut server).await {
        Ok(served) => served.context("the HTTP server task failed")?,
        Err(_) => {
            tracing::warn!("requests still open after the shutdown grace: closing them");
            server.abort();
        }
    }
    drop(socket_file);
    if let Some(audit) = audit {
        // Every exit of the shutdown is in the audit log before we exit.
        tokio::task::spawn_blocking(move || audit.flush(std::time::Duration::from_secs(5)))
            .await
            .ok();
    }
    tracing::info!("agentproc stopped");
    Ok(())
}

/// A manager as `serve` and `mcp` run it, with its crash-recovery journal.
#[derive(Debug)]
pub struct Built {
    /// The manager.
    pub manager: Manager,
    /// Its journal (cleared by a clean `close`).
    pub journal: Arc<Journal>,
}

/// Builds the manager the settings describe: the open-file limit raised,
/// the journal in `state_dir` (stopping what a crashed instance left
/// running), full logs in `output_dir`, the subreaper, the shell resolved
/// with agentproc's own `PATH`, and the executor (the sandbox checked by a
/// test command).
///
/// # Errors
/// When the state or output directory is in use or unusable, the shell is
/// missing, or the executor cannot be set up.
pub async fn build_manager(
    settings: &Settings,
    host: HostEnv,
    state_dir: &Path,
    output_dir: &Path,
) -> anyhow::Result<Built> {
    // Three descriptors per running process (output pipe, pidfd, log
    // segment; stdin when asked), plus connections and cgroup files.
    let wanted = settings.limits.max_running as u64 * 4 + 1024;
    match agentproc_exec_local::raise_open_file_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            wanted,
            "the open file limit is low for max_running; raise the hard limit (ulimit -Hn)"
        ),
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
    let (journal, reclaimed) = Journal::open(state_dir)?;
    for entry in &reclaimed {
        tracing::warn!(
            kind = ?entry.kind,
            id = entry.id,
            killed = ?entry.killed,
            "stopped processes a previous agentproc left running"
        );
    }
    let logs = if settings.output_max_bytes_per_process == 0 {
        tracing::info!("full output logs are off (output_max_bytes_per_process = 0)");
        None
    } else {
        let logs = LogStore::open(LogConfig {
            dir: output_dir.to_path_buf(),
            max_bytes_per_process: settings.output_max_bytes_per_process,
            max_total_bytes: settings.output_max_total_bytes,
        })
        .with_context(|| format!("cannot use the output directory {}", output_dir.display()))?;
        Some(logs)
    };
    let subreaper = Subreaper::install(Some(Arc::clone(&journal)))
        .context("cannot become the subreaper of child processes")?;
    // Resolved once, with agentproc's own PATH (as Go's exec.Command does),
    // so a request's env cannot change which shell runs.
    let shell = find_program(&settings.shell, host.vars.get(&OsString::from("PATH")))
        .with_context(|| format!("the shell {:?} was not found in PATH", settings.shell))?;
    tracing::debug!(shell = %shell.display(), "shell");
    let workdir = match &settings.workdir {
        Some(dir) => Some(
            std::path::absolute(dir)
                .with_context(|| format!("cannot make the workdir {} absolute", dir.display()))?,
        ),
        None => None,
    };
    if let Some(dir) = workdir.as_ref().filter(|dir| !dir.is_dir()) {
        tracing::warn!(
            workdir = %dir.display(),
            "the configured workdir is not a directory: processes start in the home directory until it is"
        );
    }
    let local = LocalExecer::default()
        .with_journal(Arc::clone(&journal))
        .with_subreaper(subreaper);
    let mut executor_settings = settings.executor.clone();
    if let ExecutorSettings::Sandbox(config) = &mut executor_settings {
        // What isolated commands must never reach: agentproc's own state,
        // the logs of other commands, its socket, its audit log.
        let isolation = &mut config.isolation;
        isolation.home = host.home.clone();
        // The SSH agent's socket: "workspace" denies it with the other
        // secrets (a socket needs no network to be reached).
        isolation.secrets = host
            .vars
            .get(&OsString::from("SSH_AUTH_SOCK"))
            .map(PathBuf::from)
            .filter(|socket| socket.is_absolute())
            .into_iter()
            .collect();
        isolation.bwrap = agentproc_exec_sandbox::isolation::find_bwrap(
            host.vars
                .get(&OsString::from("PATH"))
                .map(OsString::as_os_str),
        );
        // The configured state directory too: `agentproc mcp` instances
        // keep theirs (and their logs) inside it.
        let base_state = settings.state_dir.clone().or(host.state_dir.clone());
        isolation.always_deny = [Some(state_dir), Some(output_dir)]
            .into_iter()
            .flatten()
            .map(Path::to_path_buf)
            .chain(base_state)
            .chain(match &settings.listen {
                crate::config::ListenAddr::Unix(path) => Some(path.clone()),
                crate::config::ListenAddr::Tcp(_) => None,
            })
            .chain(settings.audit.as_ref().map(|audit| audit.path.clone()))
            .collect();
        if (isolation.default.is_some() || isolation.minimum.is_some()) && isolation.bwrap.is_none()
        {
            anyhow::bail!(
                "isolation is configured (isolation_default or isolation_minimum), but bubblewrap (bwrap) is not in PATH: install the bubblewrap package"
            );
        }
    }
    let executor = executor(&executor_settings, host.coder_priority, local)?;
    if executor.kind() == "sandbox" {
        self_test(executor.as_ref(), &shell, &host.vars).await?;
    }
    let mut base_env = host.vars;
    if !settings.env_deny.is_empty() {
        base_env.retain(|name, _| {
            let name = name.to_string_lossy();
            !settings
                .env_deny
                .iter()
                .any(|pattern| crate::config::env_pattern_matches(pattern, &name))
        });
    }
    let manager = Manager::new(
        ManagerConfig {
            shell: shell.into_os_string(),
            default_workdir: workdir,
            home_dir: host.home,
            base_env,
            env_hook: None,
            reap_after: settings.limits.reap_after,
            token_reap_after: settings.limits.token_reap_after,
            pipe_drain_grace: settings.limits.pipe_drain_grace,
            shutdown_grace: settings.limits.shutdown_grace,
            deadline_grace: settings.limits.deadline_grace,
            max_running: settings.limits.max_running,
            max_running_per_chat: settings.limits.max_running_per_chat,
            max_retained: settings.limits.max_retained,
            logs,
            stdin_timeout: settings.limits.stdin_timeout,
            input_settle: settings.limits.input_settle,
        },
        executor,
        Arc::new(SystemClock),
    );
    Ok(Built { manager, journal })
}

/// A bound listener.
enum Bound {
    Tcp(TcpListener),
    Unix(tokio::net::UnixListener, SocketFile),
}

impl Bound {
    /// How the address is shown in logs: `IP:port` or `unix:/path`.
    fn address(&self) -> std::io::Result<String> {
        match self {
            Self::Tcp(listener) => Ok(listener.local_addr()?.to_string()),
            Self::Unix(_, socket) => Ok(format!("unix:{}", socket.path.display())),
        }
    }
}

/// Removes the socket file when agentproc stops.
struct SocketFile {
    path: PathBuf,
    /// Device and inode of the socket we bound, when known.
    identity: Option<(u64, u64)>,
}

impl SocketFile {
    fn new(path: PathBuf) -> Self {
        let identity = file_identity(&path);
        Self { path, identity }
    }
}

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

impl Drop for SocketFile {
    /// Removes the socket file, unless it is no longer ours (moved away and
    /// replaced by another server's, say).
    fn drop(&mut self) {
        if self.identity.is_some() && file_identity(&self.path) == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn bind(address: &ListenAddr) -> anyhow::Result<Bound> {
    match address {
        ListenAddr::Tcp(address) => Ok(Bound::Tcp(listen(*address)?)),
        ListenAddr::Unix(path) => {
            let listener = listen_unix(path)?;
            // Identified right after binding, before anyone could swap it.
            Ok(Bound::Unix(listener, SocketFile::new(path.clone())))
        }
    }
}

/// A Unix domain socket at `path`, mode 0600. A socket file left by a
/// crashed agentproc (nobody accepts on it) is replaced; a live one is not
/// taken over, and anything that is not a socket is left alone.
pub fn listen_unix(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => anyhow::bail!(
                    "{} is in use: another server accepts connections on it",
                    path.display()
                ),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "replacing a stale socket file");
                    std::fs::remove_file(path)
                        .with_context(|| format!("cannot remove {}", path.display()))?;
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot check {}", path.display()));
                }
            }
        }
        Ok(_) => anyhow::bail!("{} exists and is not a socket", path.display()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot check {}", path.display()));
        }
    }
    // Created without group or other access from the start (no window in
    // which another user could connect), then made exactly 0600.
    let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(previous);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::UnixListener::from_std(listener)?)
}

/// The TCP listening socket, with a deeper accept queue than the default
/// (128): an agent firing a burst of requests must not see connections
/// dropped and retried a second later.
///
/// # Errors
/// When the address cannot be bound.
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The accept queue length asked for (the kernel caps it at somaxconn).
pub const LISTEN_BACKLOG: u32 = 4096;

/// The path of `program`: itself if it contains a `/`, else the first
/// executable file of that name in `path` (a `PATH` value).
pub fn find_program(program: &str, path: Option<&OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |candidate: &Path| {
        candidate
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let candidate = PathBuf::from(program);
        return executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// SIGTERM and SIGINT, as a stream.
#[derive(Debug)]
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening for SIGTERM and SIGINT.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("received SIGTERM"),
            _ = self.interrupt.recv() => tracing::info!("received SIGINT"),
        }
    }
}

/// The executor the settings ask for. Coder's `CODER_PROC_PRIO_MGMT` selects
/// the sandbox, with its scores as niceness and OOM score.
fn executor(
    settings: &ExecutorSettings,
    coder: Option<CoderPriority>,
    local: LocalExecer,
) -> anyhow::Result<Arc<dyn Execer>> {
    let config = match (settings, coder) {
        (ExecutorSettings::Local, None) => return Ok(Arc::new(local)),
        (ExecutorSettings::Sandbox(config), None) => (**config).clone(),
        (settings, Some(coder)) => {
            let mut config = match settings {
                ExecutorSettings::Sandbox(config) => (**config).clone(),
                ExecutorSettings::Local => SandboxConfig::default(),
            };
            if let Some(nice) = coder.nice {
                config.niceness = Niceness::Absolute(nice);
            }
            if let Some(score) = coder.oom_score {
                config.oom_score_adj = OomScoreAdj::Value(score);
            }
            tracing::info!(
                nice = coder.nice,
                oom_score = coder.oom_score,
                "CODER_PROC_PRIO_MGMT is set: commands run in the sandbox with Coder's priority settings"
            );
            config
        }
    };
    let sandbox =
        SandboxExecer::new(local, config).context("cannot set up the sandbox executor")?;
    Ok(Arc::new(sandbox))
}

/// Runs `shell -c true` through the sandbox once, so a policy the host
/// refuses (an OOM score below agentproc's own without CAP_SYS_RESOURCE, a
/// cgroup that cannot be joined) fails at startup with the reason, not on
/// every start.
async fn self_test(executor: &dyn Execer, shell: &Path, vars: &Env) -> anyhow::Result<()> {
    let spec = ExecSpec {
        program: shell.as_os_str().to_owned(),
        args: vec!["-c".into(), "exit 0".into()],
        env: vars.clone(),
        ..ExecSpec::default()
    };
    let child = executor
        .spawn(&spec)
        .context("the sandbox cannot start commands")?;
    let exit = child
        .wait()
        .await
        .context("the sandbox's test command could not be waited for")?;
    anyhow::ensure!(
        exit.status.success(),
        "the sandbox's test command ({} -c 'exit 0') ended with {:?}",
        shell.display(),
        exit.status
    );
    Ok(())
}
