//! `agentproc mcp`: MCP on standard input and output, and `/mcp` of
//! `agentproc serve`.
//!
//! Embedded (the default), `agentproc mcp` runs its own manager, built from
//! the same layered configuration as `serve`, with state of its own: a
//! fresh directory under `<state_dir>/mcp/` for its journal and, unless
//! `output_dir` is set (then `<output_dir>/mcp/<instance>`), its output
//! logs; both locked, removed at exit. So several agent sessions can each
//! run one. A session that crashed leaves its directory; the next instance
//! to start stops what it left running and removes it.
//!
//! With `--server`, it is a thin front for a running `agentproc serve`:
//! [`HttpBackend`] calls the HTTP API with the CLI's client, so processes
//! are shared with the API and the CLI and outlive the session.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentproc_api_mcp::http::{HttpConfig, LOOPBACK_HOSTS};
use agentproc_api_mcp::{
    Backend, BackendError, Caller, Embedded, ExitState, Hit, InputSpec, McpConfig, McpServer,
    NumberedLine, ProcessState, ProcessSummary, ReadSpec, ScreenState, SearchHits, SearchSpec,
    StartSpec, Started, ViewRead, ViewStats, Wait, WaitFor,
};
use agentproc_core::manager::WaitResult;
use agentproc_core::{ExitReason, InputKind, Manager, ProcessId, Signal, TerminalSize};
use agentproc_exec_local::Journal;
use agentproc_exec_local::journal::JournalError;
use anyhow::Context as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::cli::{McpArgs, ServeArgs};
use crate::client::{Client, Server, ServerError};
use crate::config::{ListenAddr, LogSettings, Settings};
use crate::serve::{Built, HostEnv, Signals, build_manager};

/// The HTTP API's processes routes.
const PROCESSES: &str = "/api/v0/processes";

/// How long one request of a long wait asks the server to block (within
/// the client's answer timeout); longer waits are several requests.
const WAIT_SLICE: Duration = Duration::from_secs(50);

/// The configuration of an embedded `agentproc mcp`: `serve`'s layers, with
/// `--config` and `--workdir`. It listens nowhere, so `listen` and the
/// token do not matter.
///
/// # Errors
/// A message naming the offending key and where its value came from.
pub fn load_settings(args: &McpArgs, system_file: &Path) -> anyhow::Result<Settings> {
    let serve_args = ServeArgs {
        config: args.config.clone(),
        workdir: args.workdir.clone(),
        // Nothing is served on the network: the refusal to listen
        // publicly without a token is moot.
        insecure_no_auth: true,
        ..ServeArgs::default()
    };
    crate::config::load(&serve_args, system_file)
}

/// Logging for `--server` mode (no configuration is loaded): text on
/// standard error, `info` and up.
pub fn default_log() -> LogSettings {
    LogSettings {
        format: crate::cli::LogFormat::Text,
        filter: tracing_subscriber::filter::Targets::new()
            .with_default(tracing_subscriber::filter::LevelFilter::INFO),
    }
}

/// The tools' settings from the configuration: `list_limit` and `max_wait`
/// (at most MCP's own cap of five minutes) as on HTTP, and the result
/// budget (`mcp_max_result_bytes`).
pub fn mcp_config(settings: &Settings) -> McpConfig {
    McpConfig {
        list_limit: settings.api.list_limit.max(1),
        max_wait: settings.api.max_wait.min(agentproc_api_mcp::MAX_WAIT),
        max_result_bytes: settings.mcp_max_result_bytes,
        ..McpConfig::default()
    }
}

/// `/mcp` for `agentproc serve`, over its manager: the same token and
/// middleware as every route (the caller merges it with `router_with`),
/// `Host` checked against DNS rebinding where the names are known.
pub fn http_router(
    manager: &Manager,
    settings: &Settings,
    shutdown: CancellationToken,
) -> axum::Router {
    let server = McpServer::new(
        Arc::new(Embedded::new(manager.clone())),
        mcp_config(settings),
    );
    agentproc_api_mcp::http::router(
        server,
        HttpConfig {
            allowed_hosts: allowed_hosts(&settings.listen),
            max_body_bytes: settings.api.max_body_bytes,
            shutdown,
        },
    )
}

/// The `Host` names `/mcp` accepts. On loopback: the loopback names and
/// the address itself (a DNS rebinding attack names the attacker's domain).
/// On a Unix socket (browsers cannot reach one) or on every interface (no
/// list of names is known; a token is then required), any.
fn allowed_hosts(listen: &ListenAddr) -> Vec<String> {
    match listen {
        ListenAddr::Unix(_) => Vec::new(),
        ListenAddr::Tcp(address) if address.ip().is_unspecified() => Vec::new(),
        ListenAddr::Tcp(address) => {
            let mut hosts: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect();
            let ip = address.ip().to_string();
            if !hosts.contains(&ip) {
                hosts.push(ip);
            }
            hosts
        }
    }
}

/// Runs `agentproc mcp` until standard input closes (or SIGTERM/SIGINT);
/// embedded, it then stops every process it started and removes its state.
///
/// # Errors
/// When the embedded manager cannot be built, or `--server` is not an
/// address.
pub async fn run(args: McpArgs, settings: Option<Settings>, host: HostEnv) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    match (&args.server, settings) {
        (Some(server), _) => {
            let token = args.token.clone().filter(|token| !token.is_empty());
            if let Some(token) = &token {
                anyhow::ensure!(
                    hyper::header::HeaderValue::from_str(&format!("Bearer {token}")).is_ok(),
                    "the token cannot be sent in an HTTP header (it contains a newline or another control character)"
                );
            }
            let client = Client::new(Server::parse(server)?, token);
            if let Err(error) = client.get("/healthz").await {
                tracing::warn!(%error, "the agentproc server does not answer yet; tools will report it until it does");
            }
            let backend = HttpBackend::new(client);
            let server = McpServer::new(Arc::new(backend), McpConfig::default());
            tracing::info!(server = %args.server.as_deref().unwrap_or_default(), "agentproc mcp: serving on standard input and output for a server");
            let mut signals = signals;
            serve_stdio(server, &mut signals).await;
            Ok(())
        }
        (None, Some(settings)) => embedded(settings, host, signals).await,
        (None, None) => anyhow::bail!("no configuration for the embedded manager"),
    }
}

/// Serves until standard input closes or a signal comes.
async fn serve_stdio(server: McpServer, signals: &mut Signals) {
    let serving = agentproc_api_mcp::serve_io(server, tokio::io::stdin(), tokio::io::stdout());
    tokio::select! {
        served = serving => match served {
            Ok(()) => tracing::info!("standard input closed"),
            Err(error) => tracing::warn!(%error, "the MCP session ended"),
        },
        () = signals.next() => {}
    }
}

/// The embedded mode.
async fn embedded(mut settings: Settings, host: HostEnv, signals: Signals) -> anyhow::Result<()> {
    let base = settings
        .state_dir
        .clone()
        .or(host.state_dir.clone())
        .context("no state directory: set state_dir, or HOME or XDG_STATE_HOME")?;
    // Commands run where the agent works unless configured otherwise.
    if settings.workdir.is_none() {
        settings.workdir = std::env::current_dir().ok();
    }
    let mut instance = Instance::create(&base.join("mcp"), settings.output_dir.as_deref())?;
    let Built { manager, journal } =
        build_manager(&settings, host, &instance.state, &instance.output).await?;
    instance.opened();
    let _ = std::thread::Builder::new()
        .name("agentproc-tokenizer".to_owned())
        .spawn(agentproc_view::O200kBase::preload);
    tracing::info!(
        state = %journal.path().display(),
        executor = manager.executor_kind(),
        "agentproc mcp: serving on standard input and output"
    );
    let server = McpServer::new(
        Arc::new(Embedded::new(manager.clone())),
        mcp_config(&settings),
    );
    let mut signals = signals;
    serve_stdio(server, &mut signals).await;
    tracing::info!("stopping every process");
    tokio::select! {
        () = manager.close() => {}
        () = signals.next() => {
            tracing::warn!("second signal: killing every process now");
            manager.kill_all();
            manager.close().await;
        }
    }
    drop(manager);
    drop(journal);
    drop(instance);
    Ok(())
}

/// The state of one embedded instance: its directory (journal) and its
/// output directory, removed when dropped.
struct Instance {
    state: PathBuf,
    output: PathBuf,
    /// The sweep lock, held from the sweep until this instance's journal
    /// is open (then a sweep finds it in use).
    sweep: Option<std::fs::File>,
}

/// Held while instances are swept or created, so a sweep never takes a
/// directory whose journal is not open yet.
const SWEEP_LOCK: &str = ".lock";

impl Instance {
    /// A fresh instance under `root` (`<state_dir>/mcp`), after sweeping
    /// the ones crashed sessions left. Call [`Instance::opened`] once its
    /// journal is open.
    fn create(root: &Path, output_root: Option<&Path>) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let lock_path = root.join(SWEEP_LOCK);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let output_root = output_root.map(|dir| dir.join("mcp"));
        sweep(root, output_root.as_deref());
        let name = instance_name();
        let state = root.join(&name);
        let output = match &output_root {
            Some(dir) => dir.join(&name),
            None => state.join("output"),
        };
        Ok(Self {
            state,
            output,
            sweep: Some(lock),
        })
    }

    /// The journal is open (and locked): other instances may sweep again.
    fn opened(&mut self) {
        self.sweep = None;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.output);
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A name no live instance has: the pid, and random bits for hosts whose
/// pid namespaces share a home directory.
fn instance_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{random:016x}", std::process::id())
}

/// Removes the directories of instances that are gone (their journal is
/// not locked), stopping what they left running first.
fn sweep(root: &Path, output_root: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        match Journal::open(&entry.path()) {
            Ok((journal, reclaimed)) => {
                for left in &reclaimed {
                    tracing::warn!(
                        kind = ?left.kind,
                        id = left.id,
                        killed = ?left.killed,
                        "stopped processes a crashed agentproc mcp left running"
                    );
                }
                journal.clear();
                drop(journal);
                let _ = std::fs::remove_dir_all(entry.path());
                if let Some(output_root) = output_root {
                    let _ = std::fs::remove_dir_all(output_root.join(&name));
                }
            }
            Err(JournalError::InUse { .. }) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot check a stale agentproc mcp state directory");
            }
        }
    }
}

/// The [`Backend`] of `--server` mode: a running `agentproc serve`, through
/// its HTTP API.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    client: Client,
    wait_slice: Duration,
}

impl HttpBackend {
    /// Tools acting on the processes of the server `client` talks to.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            wait_slice: WAIT_SLICE,
        }
    }

    /// The same, asking the server to block at most `slice` per request of
    /// a long wait (50 s by default, within the client's answer timeout).
    pub fn with_wait_slice(mut self, slice: Duration) -> Self {
        self.wait_slice = slice.max(Duration::from_millis(1));
        self
    }

    /// One GET, mapped to a backend error.
    async fn get(&self, id: Option<ProcessId>, path: &str) -> Result<Value, BackendError> {
        self.client
            .get(path)
            .await
            .map_err(|error| backend_error(id, &error))
    }

    async fn post(
        &self,
        id: Option<ProcessId>,
        path: &str,
        body: &Value,
    ) -> Result<Value, BackendError> {
        self.client
            .post(path, body)
            .await
            .map_err(|error| backend_error(id, &error))
    }

    /// Waits on `path_of(slice)` until its condition (or the exit) is met
    /// or `timeout` passes, in slices the client's answer timeout allows;
    /// returns the last answer.
    async fn wait(
        &self,
        id: ProcessId,
        timeout: Duration,
        path_of: impl Fn(Duration) -> String,
    ) -> Result<Value, BackendError> {
        let mut left = timeout;
        loop {
            let slice = left.min(self.wait_slice);
            let answer = self.get(Some(id), &path_of(slice)).await?;
            left = left.saturating_sub(slice);
            if answer["wait_result"] != "timeout" || left.is_zero() {
                return Ok(answer);
            }
        }
    }
}

/// The query of a wait: `until=…` and its parameters.
fn until_query(until: &WaitFor) -> String {
    match until {
        WaitFor::Exit => "until=exit".to_owned(),
        WaitFor::Output { .. } => "until=output".to_owned(),
        WaitFor::Match { pattern, .. } => format!("until=match&pattern={}", encode(pattern)),
        WaitFor::Idle { quiet } => format!("until=idle&idle_ms={}", quiet.as_millis().max(1)),
        WaitFor::Input { settle: None } => "until=input".to_owned(),
        WaitFor::Input {
            settle: Some(settle),
        } => format!("until=input&idle_ms={}", settle.as_millis()),
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// A server error as a backend error.
fn backend_error(id: Option<ProcessId>, error: &anyhow::Error) -> BackendError {
    let name = || id.map(|id| id.to_string()).unwrap_or_default();
    let Some(server) = error.downcast_ref::<ServerError>() else {
        return BackendError::Failed {
            message: format!("{error:#}."),
        };
    };
    let message = server.message.clone();
    match server.status.as_u16() {
        404 => BackendError::NotFound { id: name() },
        409 if message.contains("is not running") => BackendError::NotRunning { id: name() },
        409 if message.contains("has no terminal") => BackendError::NoTerminal { id: name() },
        409 if message.contains("takes no input") => BackendError::TakesNoInput { id: name() },
        400 if message.starts_with("Named keys need a terminal") => {
            BackendError::KeysNeedTerminal { id: name() }
        }
        400..=499 => BackendError::Refused { message },
        _ => BackendError::Failed { message },
    }
}

fn exit_reason(text: &str) -> Option<ExitReason> {
    ExitReason::ALL
        .into_iter()
        .find(|reason| reason.as_str() == text)
}

fn input_kind(text: &str) -> Option<InputKind> {
    [
        InputKind::Line,
        InputKind::Password,
        InputKind::Raw,
        InputKind::Pipe,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == text)
}

fn wait_result(text: &str) -> Option<WaitResult> {
    WaitResult::ALL
        .into_iter()
        .find(|result| result.as_str() == text)
}

/// The state of a process as the HTTP API describes it (info, list item,
/// output answer or screen).
fn state_of(id: ProcessId, json: &Value) -> ProcessState {
    let exit = (json["running"] == false).then(|| ExitState {
        code: json["exit_code"]
            .as_i64()
            .and_then(|code| i32::try_from(code).ok())
            .unwrap_or(-1),
        reason: json["exit_reason"].as_str().and_then(exit_reason),
        signal: json["signal"].as_str().map(str::to_owned),
        duration: json["duration_ms"].as_u64().map(Duration::from_millis),
        error: json["error"].as_str().map(str::to_owned),
    });
    ProcessState {
        id,
        pid: json["pid"].as_u64().and_then(|pid| u32::try_from(pid).ok()),
        awaiting_input: (exit.is_none() && json["awaiting_input"] == true)
            .then(|| json["input_kind"].as_str().and_then(input_kind))
            .flatten(),
        exit,
    }
}

/// The agent view's text without the HTTP API's fetch hints (`: GET
/// /api/v0/processes/…/lines?…`), which an MCP client cannot follow; the
/// markers still say which lines were left out.
fn without_fetch_hints(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let marker = line.starts_with("[… ") && line.trim_end_matches('\n').ends_with(']');
        match line.find(": GET /api/v0/processes/") {
            Some(at) if marker => {
                cleaned.push_str(&line[..at]);
                cleaned.push(']');
                if line.ends_with('\n') {
                    cleaned.push('\n');
                }
            }
            _ => cleaned.push_str(line),
        }
    }
    cleaned
}

fn lines_of(json: &Value) -> Vec<NumberedLine> {
    json.as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| NumberedLine {
                    line: line["line"].as_u64().unwrap_or(0),
                    text: line["text"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Backend for HttpBackend {
    async fn start(&self, _caller: &Caller, spec: StartSpec) -> Result<Started, BackendError> {
        let mut body = json!({
            "command": spec.command,
            "background": spec.background,
            "stdin": spec.stdin,
        });
        if let Some(workdir) = spec.workdir {
            body["workdir"] = json!(workdir);
        }
        if !spec.env.is_empty() {
            body["env"] = json!(spec.env);
        }
        if let Some(timeout) = spec.timeout {
            body["timeout_ms"] = json!(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        }
        if let Some(token) = spec.client_token {
            body["client_token"] = json!(token);
        }
        if let Some(size) = spec.tty {
            body["tty"] = json!({"rows": size.rows(), "cols": size.cols()});
        }
        let answer = self
            .post(None, &format!("{PROCESSES}/start"), &body)
            .await?;
        let id = answer["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| BackendError::Failed {
                message: "The server's answer to the start has no process id.".to_owned(),
            })?;
        Ok(Started {
            id,
            attached: answer["attached"] == true,
        })
    }

    async fn read(
        &self,
        _caller: &Caller,
        id: ProcessId,
        spec: ReadSpec,
    ) -> Result<ViewRead, BackendError> {
        let base = format!("{PROCESSES}/{id}/output");
        let view_query = format!("view=agent&max_tokens={}", spec.max_tokens);
        let mut waited = None;
        let mut answer = None;
        if let Some(Wait { until, timeout }) = &spec.wait {
            let until_part = until_query(until);
            match until {
                // A match looks from its own offset: wait first with a tiny
                // raw read, then view from the cursor.
                WaitFor::Match { from, .. } if *from != spec.cursor => {
                    let last = self
                        .wait(id, *timeout, |slice| {
                            format!(
                                "{base}?{until_part}&cursor={from}&limit=1&timeout_ms={}",
                                slice.as_millis()
                            )
                        })
                        .await?;
                    waited = last["wait_result"].as_str().and_then(wait_result);
                }
                _ => {
                    let cursor = spec.cursor;
                    let last = self
                        .wait(id, *timeout, |slice| {
                            format!(
                                "{base}?{view_query}&cursor={cursor}&{until_part}&timeout_ms={}",
                                slice.as_millis()
                            )
                        })
                        .await;
                    match last {
                        Ok(last) => {
                            waited = last["wait_result"].as_str().and_then(wait_result);
                            answer = Some(last);
                        }
                        // No full logs: wait on the snapshot, then view it.
                        Err(BackendError::Refused { .. } | BackendError::Failed { .. })
                            if !matches!(until, WaitFor::Match { .. }) =>
                        {
                            let last = self
                                .wait(id, *timeout, |slice| {
                                    format!("{base}?{until_part}&timeout_ms={}", slice.as_millis())
                                })
                                .await?;
                            waited = last["wait_result"].as_str().and_then(wait_result);
                        }
                        Err(error) => return Err(error),
                    }
                }
            }
        }
        let answer = match answer {
            Some(answer) => answer,
            None => {
                let cursor_read = self
                    .get(
                        Some(id),
                        &format!("{base}?{view_query}&cursor={}", spec.cursor),
                    )
                    .await;
                match cursor_read {
                    Ok(answer) => answer,
                    // Full logs are off on the server: the whole output from
                    // its head/tail buffer.
                    Err(BackendError::Failed { .. } | BackendError::Refused { .. }) => {
                        self.get(Some(id), &format!("{base}?{view_query}")).await?
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        let view = &answer["view"];
        let source_bytes = view["source_bytes"].as_u64().unwrap_or(0);
        let cursor = answer["cursor"].as_u64().unwrap_or(0);
        Ok(ViewRead {
            state: state_of(id, &answer),
            wait_result: waited,
            text: without_fetch_hints(answer["output"].as_str().unwrap_or_default()),
            cursor,
            next_cursor: answer["next_cursor"]
                .as_u64()
                .unwrap_or(cursor + source_bytes),
            gap_bytes: answer["gap_bytes"].as_u64().unwrap_or(0),
            stats: ViewStats {
                tokens: view["tokens"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                source: view["source"].as_str().unwrap_or("log").to_owned(),
                source_lines: view["source_lines"].as_u64().unwrap_or(0),
                source_bytes,
                omitted_lines: view["omitted_lines"].as_u64().unwrap_or(0),
                omitted_bytes: view["omitted_bytes"].as_u64().unwrap_or(0),
            },
        })
    }

    async fn input(
        &self,
        _caller: &Caller,
        id: ProcessId,
        spec: InputSpec,
    ) -> Result<usize, BackendError> {
        let body = json!({"text": spec.text, "keys": spec.keys, "eof": spec.eof});
        let answer = self
            .post(Some(id), &format!("{PROCESSES}/{id}/input"), &body)
            .await?;
        Ok(answer["written"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0))
    }

    async fn signal(
        &self,
        _caller: &Caller,
        id: ProcessId,
        signal: Signal,
    ) -> Result<(), BackendError> {
        let name = match signal {
            Signal::Kill => "kill",
            Signal::Terminate => "terminate",
            Signal::Interrupt => "interrupt",
            Signal::Hangup => "hangup",
        };
        self.post(
            Some(id),
            &format!("{PROCESSES}/{id}/signal"),
            &json!({"signal": name}),
        )
        .await?;
        Ok(())
    }

    async fn list(
        &self,
        _caller: &Caller,
        limit: usize,
    ) -> Result<Vec<ProcessSummary>, BackendError> {
        let answer = self.get(None, &format!("{PROCESSES}/list")).await?;
        let processes = answer["processes"].as_array().cloned().unwrap_or_default();
        Ok(processes
            .iter()
            .filter_map(|process| {
                let id: ProcessId = process["id"].as_str()?.parse().ok()?;
                let dimension = |name: &str| {
                    process["tty"][name]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                };
                let tty = dimension("rows")
                    .zip(dimension("cols"))
                    .and_then(|(rows, cols)| TerminalSize::new(rows, cols));
                Some(ProcessSummary {
                    state: state_of(id, process),
                    command: process["command"].as_str().unwrap_or_default().to_owned(),
                    background: process["background"] == true,
                    started_at_unix: process["started_at_unix"].as_i64().unwrap_or(0),
                    tty,
                })
            })
            .take(limit)
            .collect())
    }

    async fn search(
        &self,
        _caller: &Caller,
        id: ProcessId,
        spec: SearchSpec,
    ) -> Result<SearchHits, BackendError> {
        let answer = self
            .get(
                Some(id),
                &format!(
                    "{PROCESSES}/{id}/search?pattern={}&context={}&max_matches={}",
                    encode(&spec.pattern),
                    spec.context,
                    spec.max_matches
                ),
            )
            .await?;
        let matches = answer["matches"].as_array().cloned().unwrap_or_default();
        Ok(SearchHits {
            matches: matches
                .iter()
                .map(|found| Hit {
                    line: NumberedLine {
                        line: found["line"].as_u64().unwrap_or(0),
                        text: found["text"].as_str().unwrap_or_default().to_owned(),
                    },
                    before: lines_of(&found["before"]),
                    after: lines_of(&found["after"]),
                })
                .collect(),
            limit_hit: answer["limit_hit"] == true,
        })
    }

    async fn screen(&self, _caller: &Caller, id: ProcessId) -> Result<ScreenState, BackendError> {
        let answer = self
            .get(Some(id), &format!("{PROCESSES}/{id}/screen"))
            .await?;
        let number = |value: &Value| {
            value
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(0)
        };
        Ok(ScreenState {
            state: state_of(id, &answer),
            rows: number(&answer["rows"]),
            cols: number(&answer["cols"]),
            cursor_row: number(&answer["cursor"]["row"]),
            cursor_col: number(&answer["cursor"]["col"]),
            cursor_visible: answer["cursor"]["visible"] != false,
            title: answer["title"].as_str().map(str::to_owned),
            alternate_screen: answer["alternate_screen"] == true,
            lines: answer["lines"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .map(|line| line.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_hints_are_cut_from_markers_only() {
        let text = "a\n[… lines 2-9 omitted (8 lines, 80 B): GET /api/v0/processes/x/lines?start=2&end=9]\nsee: GET /api/v0/processes/ in a line\n[… 5.0 KB no longer in the log]";
        assert_eq!(
            without_fetch_hints(text),
            "a\n[… lines 2-9 omitted (8 lines, 80 B)]\nsee: GET /api/v0/processes/ in a line\n[… 5.0 KB no longer in the log]"
        );
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(encode("Listening on|ready"), "Listening%20on%7Cready");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(
            until_query(&WaitFor::Idle {
                quiet: Duration::from_millis(250)
            }),
            "until=idle&idle_ms=250"
        );
    }

    #[test]
    fn hosts_follow_the_listen_address() {
        let tcp = |text: &str| ListenAddr::Tcp(text.parse().expect("address"));
        assert_eq!(
            allowed_hosts(&tcp("127.0.0.1:4242")),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(
            allowed_hosts(&tcp("10.1.2.3:4242")),
            ["localhost", "127.0.0.1", "::1", "10.1.2.3"]
        );
        assert!(allowed_hosts(&tcp("0.0.0.0:4242")).is_empty());
        assert!(allowed_hosts(&ListenAddr::Unix("/tmp/a.sock".into())).is_empty());
    }
}
