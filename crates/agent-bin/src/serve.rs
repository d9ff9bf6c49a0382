//! `agentproc serve`: wires the manager, the executor and the router, serves
//! until shutdown, then stops every process before returning.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use agentproc_api_http::{ApiState, router};
use agentproc_core::clock::SystemClock;
use agentproc_core::exec::Env;
use agentproc_core::{Manager, ManagerConfig};
use agentproc_exec_local::{Journal, LocalExecer, Subreaper};
use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{ENV_PREFIX, Settings};

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
}

impl HostEnv {
    /// Reads this process's environment, leaving out agentproc's own
    /// `AGENTPROC_*` configuration so children do not inherit it.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter(|(name, _)| !name.to_string_lossy().starts_with(ENV_PREFIX))
            .collect();
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
        }
    }
}

/// Serves the API on `settings.listen` until `shutdown` resolves, then
/// closes the manager (SIGTERM, grace, SIGKILL for every process group) and
/// waits for in-flight requests.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    settings: Settings,
    host: HostEnv,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state_dir = settings
        .state_dir
        .clone()
        .or(host.state_dir.clone())
        .context("no state directory: set state_dir, or HOME or XDG_STATE_HOME")?;
    let (journal, reclaimed) = Journal::open(&state_dir)?;
    for entry in &reclaimed {
        tracing::warn!(
            kind = ?entry.kind,
            id = entry.id,
            killed = ?entry.killed,
            "stopped processes a previous agentproc left running"
        );
    }
    let subreaper = Subreaper::install(Some(Arc::clone(&journal)))
        .context("cannot become the subreaper of child processes")?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let manager = Manager::new(
        ManagerConfig {
            shell: OsString::from(&settings.shell),
            default_workdir: settings.workdir.clone(),
            home_dir: host.home,
            base_env: host.vars,
            env_hook: None,
            reap_after: settings.limits.reap_after,
            token_reap_after: settings.limits.token_reap_after,
            pipe_drain_grace: settings.limits.pipe_drain_grace,
            shutdown_grace: settings.limits.shutdown_grace,
            deadline_grace: settings.limits.deadline_grace,
            max_running: settings.limits.max_running,
            max_running_per_chat: settings.limits.max_running_per_chat,
            max_retained: settings.limits.max_retained,
        },
        Arc::new(
            LocalExecer::default()
                .with_journal(Arc::clone(&journal))
                .with_subreaper(subreaper),
        ),
        Arc::new(SystemClock),
    );
    let app = router(ApiState {
        manager: manager.clone(),
        config: settings.api.clone(),
    });

    if !address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "listening on a non-loopback address: anyone who can reach it can run commands as this user"
        );
    }
    tracing::info!(
        %address,
        state = %journal.path().display(),
        executor = manager.executor_kind(),
        version = env!("CARGO_PKG_VERSION"),
        "agentproc listening"
    );

    let stopping = CancellationToken::new();
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let stopping = stopping.clone();
        async move { stopping.cancelled().await }
    });
    let on_signal = {
        let stopping = stopping.clone();
        let manager = manager.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: stopping every process");
            stopping.cancel();
            // Closing ends every process, which also ends pending waits, so
            // the server's graceful shutdown can finish.
            manager.close().await;
        }
    };
    let (served, ()) = tokio::join!(async { server.await }, on_signal);
    served.context("the HTTP server failed")?;
    // If the server stopped on its own, still stop the processes.
    manager.close().await;
    tracing::info!("agentproc stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
        }
    })
}
