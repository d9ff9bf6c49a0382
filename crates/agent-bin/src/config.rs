//! Layered configuration: figment merges the layers into a [`RawConfig`],
//! then [`RawConfig::validate`] turns it into typed [`Settings`] for each
//! crate. Library crates never see figment.
//!
//! Layers, lowest first: the embedded `default.toml` < the system file <
//! `--config FILE` < `AGENTPROC_*` environment variables < CLI flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentproc_api_http::{ApiConfig, BearerToken};
use agentproc_core::ResourceLimits;
use agentproc_exec_sandbox::{
    CgroupMode, IsolationConfig, Niceness, OomScoreAdj, Rlimits, SandboxConfig,
};
use anyhow::bail;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer};
use tracing_subscriber::filter::Targets;

use crate::cli::{LogFormat, ServeArgs};

/// The built-in defaults, which also document every key.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// Where the system-wide configuration file lives.
pub const SYSTEM_CONFIG: &str = "/etc/agentproc/config.toml";

/// Prefix of the environment variables that configure agentproc.
pub const ENV_PREFIX: &str = "AGENTPROC_";

/// The configuration keys, as they appear in files (and, upper-cased after
/// [`ENV_PREFIX`], in the environment).
pub const KEYS: &[&str] = &[
    "listen",
    "token",
    "token_file",
    "workdir",
    "shell",
    "log_format",
    "log_level",
    "reap_after",
    "token_reap_after",
    "pipe_drain_grace",
    "shutdown_grace",
    "deadline_grace",
    "max_wait",
    "list_limit",
    "max_body_bytes",
    "max_running",
    "max_running_per_chat",
    "max_retained",
    "state_dir",
    "output_dir",
    "output_max_bytes_per_process",
    "output_max_total_bytes",
    "stream_keepalive",
    "stdin_timeout",
    "input_settle",
    "request_read_timeout",
    "audit_log",
    "audit_log_max_bytes",
    "audit_log_keep",
    "mcp_max_result_bytes",
    "executor",
    "sandbox_cgroups",
    "sandbox_v1_memory",
    "sandbox_niceness",
    "sandbox_oom_score_adj",
    "sandbox_rlimit_nofile",
    "sandbox_rlimit_core",
    "sandbox_rlimit_as",
    "sandbox_rlimit_cpu",
    "sandbox_rlimit_fsize",
    "sandbox_memory_bytes",
    "sandbox_memory_high_bytes",
    "sandbox_cpu_cores",
    "sandbox_pids",
    "sandbox_max_memory_bytes",
    "sandbox_max_memory_high_bytes",
    "sandbox_max_cpu_cores",
    "sandbox_max_pids",
    "isolation_default",
    "isolation_minimum",
    "env_deny",
];

/// Every key, as merged from the layers, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    listen: String,
    token: String,
    token_file: PathBuf,
    workdir: PathBuf,
    shell: String,
    log_format: LogFormat,
    log_level: String,
    #[serde(deserialize_with = "duration")]
    reap_after: Duration,
    #[serde(deserialize_with = "duration")]
    token_reap_after: Duration,
    #[serde(deserialize_with = "duration")]
    pipe_drain_grace: Duration,
    #[serde(deserialize_with = "duration")]
    shutdown_grace: Duration,
    #[serde(deserialize_with = "duration")]
    deadline_grace: Duration,
    #[serde(deserialize_with = "duration")]
    max_wait: Duration,
    list_limit: usize,
    max_body_bytes: usize,
    max_running: usize,
    max_running_per_chat: usize,
    max_retained: usize,
    state_dir: PathBuf,
    output_dir: PathBuf,
    #[serde(deserialize_with = "size")]
    output_max_bytes_per_process: u64,
    #[serde(deserialize_with = "size")]
    output_max_total_bytes: u64,
    #[serde(deserialize_with = "duration")]
    stream_keepalive: Duration,
    #[serde(deserialize_with = "duration")]
    stdin_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    input_settle: Duration,
    #[serde(deserialize_with = "duration")]
    request_read_timeout: Duration,
    audit_log: PathBuf,
    #[serde(deserialize_with = "size")]
    audit_log_max_bytes: u64,
    audit_log_keep: u32,
    #[serde(deserialize_with = "size")]
    mcp_max_result_bytes: u64,
    executor: String,
    sandbox_cgroups: String,
    sandbox_v1_memory: bool,
    #[serde(deserialize_with = "text_or_number")]
    sandbox_niceness: String,
    #[serde(deserialize_with = "text_or_number")]
    sandbox_oom_score_adj: String,
    #[serde(deserialize_with = "optional_count")]
    sandbox_rlimit_nofile: Option<u64>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_rlimit_core: Option<u64>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_rlimit_as: Option<u64>,
    #[serde(deserialize_with = "optional_duration")]
    sandbox_rlimit_cpu: Option<Duration>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_rlimit_fsize: Option<u64>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_memory_bytes: Option<u64>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_memory_high_bytes: Option<u64>,
    sandbox_cpu_cores: f64,
    sandbox_pids: u64,
    #[serde(deserialize_with = "optional_size")]
    sandbox_max_memory_bytes: Option<u64>,
    #[serde(deserialize_with = "optional_size")]
    sandbox_max_memory_high_bytes: Option<u64>,
    sandbox_max_cpu_cores: f64,
    sandbox_max_pids: u64,
    /// `""`, `"workspace"` or a table (`network`, `write`, `read`, `deny`).
    isolation_default: serde_json::Value,
    /// The same.
    isolation_minimum: serde_json::Value,
    /// Patterns (`*` matches anything) of variables children do not
    /// inherit: a list, or a comma-separated string.
    env_deny: StringList,
}

/// Validated settings, one part per consumer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: ListenAddr,
    /// Default working directory for processes, if configured.
    pub workdir: Option<PathBuf>,
    /// The shell commands run in.
    pub shell: String,
    /// Logging.
    pub log: LogSettings,
    /// The manager's timings and limits (see `default.toml`).
    pub limits: ManagerLimits,
    /// Where the state file lives (`None`: the per-user default).
    pub state_dir: Option<PathBuf>,
    /// Where output logs live (`None`: `output` in the state directory).
    pub output_dir: Option<PathBuf>,
    /// Per-process cap of output kept on disk.
    pub output_max_bytes_per_process: u64,
    /// Total cap of output kept on disk.
    pub output_max_total_bytes: u64,
    /// The HTTP layer.
    pub api: ApiConfig,
    /// Which executor runs commands, and the sandbox's policy.
    pub executor: ExecutorSettings,
    /// The audit log, when one is configured.
    pub audit: Option<crate::audit::AuditSettings>,
    /// Patterns of variables children do not inherit (see `default.toml`).
    pub env_deny: Vec<String>,
    /// The MCP tools' result budget for lists, searches and screens.
    pub mcp_max_result_bytes: usize,
}

/// A list given as a list, or as one comma-separated string (environment
/// variables can only be strings).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum StringList {
    /// `["a", "b"]`.
    List(Vec<String>),
    /// `"a,b"`.
    Text(String),
}

impl Default for StringList {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl StringList {
    fn items(&self) -> Vec<String> {
        match self {
            Self::List(items) => items.clone(),
            Self::Text(text) => text.split(',').map(str::to_owned).collect(),
        }
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (case-sensitive, as variable names are).
pub fn env_pattern_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return name.is_empty(),
    };
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last) && remaining.len() >= last.len()
}

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix domain socket (`unix:/path`), created with mode 0600.
    Unix(PathBuf),
}

impl ListenAddr {
    /// Whether only this machine can reach it (loopback, or a socket file).
    pub fn is_local(&self) -> bool {
        match self {
            Self::Tcp(address) => address.ip().is_loopback(),
            Self::Unix(_) => true,
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Which executor runs commands.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorSettings {
    /// Plain spawning.
    Local,
    /// The sandbox with this policy.
    Sandbox(Box<SandboxConfig>),
}

/// The manager settings that come from configuration.
#[derive(Debug, Clone)]
pub struct ManagerLimits {
    /// See `default.toml`.
    pub reap_after: Duration,
    /// See `default.toml`.
    pub token_reap_after: Duration,
    /// See `default.toml`.
    pub pipe_drain_grace: Duration,
    /// See `default.toml`.
    pub shutdown_grace: Duration,
    /// See `default.toml`.
    pub deadline_grace: Duration,
    /// See `default.toml`.
    pub max_running: usize,
    /// See `default.toml` (`None`: same as `max_running`).
    pub max_running_per_chat: Option<usize>,
    /// See `default.toml`.
    pub max_retained: usize,
    /// See `default.toml`.
    pub stdin_timeout: Duration,
    /// See `default.toml`.
    pub input_settle: Duration,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Text or JSON.
    pub format: LogFormat,
    /// The parsed filter.
    pub filter: Targets,
}

/// Merges every layer. `system_file` is normally [`SYSTEM_CONFIG`]; it is
/// skipped when it does not exist, while a `--config` file must exist.
///
/// # Errors
/// When the `--config` file is missing.
pub fn figment(args: &ServeArgs, system_file: &Path) -> anyhow::Result<Figment> {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
    if system_file.exists() {
        figment = figment.merge(Toml::file_exact(system_file));
    }
    if let Some(file) = &args.config {
        if !file.is_file() {
            bail!("configuration file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    // An empty AGENTPROC_TOKEN (or _TOKEN_FILE) counts as unset: it must
    // not quietly turn off a token that a file sets.
    let blank: Vec<&str> = ["token", "token_file"]
        .into_iter()
        .filter(|key| {
            std::env::var_os(format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()))
                .is_some_and(|value| value.to_string_lossy().trim().is_empty())
        })
        .collect();
    Ok(figment
        .merge(Env::prefixed(ENV_PREFIX).only(KEYS).ignore(&blank))
        .merge(Serialized::defaults(args)))
}

/// `AGENTPROC_*` variables in `vars` that configure nothing (likely typos).
pub fn unknown_env_vars(vars: impl IntoIterator<Item = String>) -> Vec<String> {
    // Ours, but not the server's: the CLI's server address, and the
    // revision `cargo run` exports from the build script.
    const NOT_SERVER_SETTINGS: &[&str] = &["server", "git_revision"];
    vars.into_iter()
        .filter(|name| {
            name.strip_prefix(ENV_PREFIX).is_some_and(|key| {
                let key = key.to_ascii_lowercase();
                !KEYS.contains(&key.as_str()) && !NOT_SERVER_SETTINGS.contains(&key.as_str())
            })
        })
        .collect()
}

/// Loads and validates the configuration.
///
/// # Errors
/// A message naming the offending key and where its value came from.
pub fn load(args: &ServeArgs, system_file: &Path) -> anyhow::Result<Settings> {
    let figment = figment(args, system_file)?;
    let mut raw: RawConfig = figment.extract().map_err(describe)?;
    // figment reads "+3" from the environment as the number 3, losing the
    // sign that makes a niceness relative: take that value's raw text.
    if figment
        .find_metadata("sandbox_niceness")
        .is_some_and(|meta| meta.name.contains("environment"))
        && let Ok(text) = std::env::var(format!("{ENV_PREFIX}SANDBOX_NICENESS"))
    {
        raw.sandbox_niceness = text;
    }
    let settings = raw.validate(&figment)?;
    if !settings.listen.is_local() && settings.api.token.is_none() && !args.insecure_no_auth {
        bail!(
            "refusing to listen on {} without a token: anyone who can reach it could run commands as this user. Set a token (token, token_file or AGENTPROC_TOKEN), listen on loopback or a unix: socket, or pass --insecure-no-auth",
            settings.listen
        );
    }
    Ok(settings)
}

/// Where the value of `key` came from, as " (in FILE)", " (from environment
/// variable X)", " (from the command line)", or nothing for the defaults.
fn origin(meta: Option<&figment::Metadata>, key: &str) -> String {
    match meta {
        Some(meta) if meta.name.contains("environment") => {
            format!(
                " (from environment variable {ENV_PREFIX}{})",
                key.to_ascii_uppercase()
            )
        }
        // Flags are merged as a serialized `ServeArgs`, named after its type.
        Some(meta) if meta.name.contains("ServeArgs") => " (from the command line)".to_owned(),
        Some(meta) => match &meta.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ => String::new(),
        },
        None => String::new(),
    }
}

/// All of figment's errors, each naming its key and where the value came
/// from (a file, or an environment variable).
fn describe(error: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".").to_ascii_lowercase();
            let origin = origin(error.metadata.as_ref(), &key);
            if key.is_empty() {
                format!("{}{origin}", error.kind)
            } else {
                format!("key \"{key}\"{origin}: {}", error.kind)
            }
        })
        .collect();
    anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
}

/// `isolation_default` or `isolation_minimum`: none (`""`), `"workspace"`,
/// or a table, read as a start's `isolation` is.
fn isolation_setting(
    value: &serde_json::Value,
) -> Result<Option<agentproc_core::exec::IsolationRequest>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) if text.is_empty() || text == "none" => Ok(None),
        value => agentproc_api_http::parse_isolation(Some(value)),
    }
}

impl RawConfig {
    /// The executor and, for the sandbox, its policy.
    fn executor_settings(
        &self,
        invalid: &dyn Fn(&str, String) -> anyhow::Error,
    ) -> anyhow::Result<ExecutorSettings> {
        let cgroups = match self.sandbox_cgroups.as_str() {
            "auto" => CgroupMode::Auto,
            "v2" => CgroupMode::V2,
            "v1" => CgroupMode::V1,
            "hybrid" => CgroupMode::Hybrid,
            "off" => CgroupMode::Off,
            other => {
                return Err(invalid(
                    "sandbox_cgroups",
                    format!(
                        "{other:?} is not one of \"auto\", \"v2\", \"v1\", \"hybrid\", \"off\""
                    ),
                ));
            }
        };
        let niceness = parse_niceness(&self.sandbox_niceness)
            .map_err(|problem| invalid("sandbox_niceness", problem))?;
        let oom_score_adj = parse_oom_score(&self.sandbox_oom_score_adj)
            .map_err(|problem| invalid("sandbox_oom_score_adj", problem))?;
        let cores = |key: &str, cores: f64| -> anyhow::Result<Option<u64>> {
            if cores == 0.0 {
                Ok(None)
            } else if cores.is_finite() && (0.01..=1_000_000.0).contains(&cores) {
                Ok(Some((cores * 1000.0).round() as u64))
            } else {
                Err(invalid(
                    key,
                    format!("{cores} is not a number of cores (0 for none, or 0.01 and up)"),
                ))
            }
        };
        let pids = |key: &str, pids: u64| -> anyhow::Result<Option<u64>> {
            if pids > PID_MAX_LIMIT {
                Err(invalid(
                    key,
                    format!("{pids} is above the kernel's limit of {PID_MAX_LIMIT}"),
                ))
            } else {
                Ok(Some(pids).filter(|pids| *pids > 0))
            }
        };
        let config = SandboxConfig {
            niceness,
            oom_score_adj,
            rlimits: Rlimits {
                open_files: self.sandbox_rlimit_nofile,
                core_bytes: self.sandbox_rlimit_core,
                address_space_bytes: self.sandbox_rlimit_as,
                // Whole seconds, rounded up.
                cpu_seconds: self
                    .sandbox_rlimit_cpu
                    .map(|limit| limit.as_secs_f64().ceil().max(1.0) as u64),
                file_size_bytes: self.sandbox_rlimit_fsize,
            },
            cgroups,
            v1_memory: self.sandbox_v1_memory,
            default_limits: ResourceLimits {
                memory_bytes: self.sandbox_memory_bytes,
                memory_high_bytes: self.sandbox_memory_high_bytes,
                cpu_millicores: cores("sandbox_cpu_cores", self.sandbox_cpu_cores)?,
                pids: pids("sandbox_pids", self.sandbox_pids)?,
            },
            max_limits: ResourceLimits {
                memory_bytes: self.sandbox_max_memory_bytes,
                memory_high_bytes: self.sandbox_max_memory_high_bytes,
                cpu_millicores: cores("sandbox_max_cpu_cores", self.sandbox_max_cpu_cores)?,
                pids: pids("sandbox_max_pids", self.sandbox_max_pids)?,
            },
            isolation: IsolationConfig {
                default: isolation_setting(&self.isolation_default)
                    .map_err(|problem| invalid("isolation_default", problem))?,
                minimum: isolation_setting(&self.isolation_minimum)
                    .map_err(|problem| invalid("isolation_minimum", problem))?,
                ..IsolationConfig::default()
            },
        };
        if (config.isolation.default.is_some() || config.isolation.minimum.is_some())
            && self.executor != "sandbox"
        {
            return Err(invalid(
                if config.isolation.default.is_some() {
                    "isolation_default"
                } else {
                    "isolation_minimum"
                },
                "isolation needs the sandbox executor (executor = \"sandbox\")".to_owned(),
            ));
        }
        for (key, default, max) in [
            (
                "sandbox_memory_bytes",
                config.default_limits.memory_bytes,
                config.max_limits.memory_bytes,
            ),
            (
                "sandbox_memory_high_bytes",
                config.default_limits.memory_high_bytes,
                config.max_limits.memory_high_bytes,
            ),
            (
                "sandbox_cpu_cores",
                config.default_limits.cpu_millicores,
                config.max_limits.cpu_millicores,
            ),
            (
                "sandbox_pids",
                config.default_limits.pids,
                config.max_limits.pids,
            ),
        ] {
            if let (Some(default), Some(max)) = (default, max)
                && default > max
            {
                return Err(invalid(
                    key,
                    format!(
                        "the default is above its maximum (sandbox_max_{})",
                        &key[8..]
                    ),
                ));
            }
        }
        match self.executor.as_str() {
            "local" => Ok(ExecutorSettings::Local),
            "sandbox" => Ok(ExecutorSettings::Sandbox(Box::new(config))),
            other => Err(invalid(
                "executor",
                format!("{other:?} is not \"local\" or \"sandbox\""),
            )),
        }
    }

    /// Checks values that the types alone do not.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(self, figment: &Figment) -> anyhow::Result<Settings> {
        let invalid = |key: &str, problem: String| {
            anyhow::anyhow!(
                "invalid configuration: key \"{key}\"{}: {problem}",
                origin(figment.find_metadata(key), key)
            )
        };
        if !(1024..=(1 << 20)).contains(&self.mcp_max_result_bytes) {
            return Err(invalid(
                "mcp_max_result_bytes",
                format!(
                    "{} is out of range: from 1KiB to 1MiB",
                    self.mcp_max_result_bytes
                ),
            ));
        }
        if self.audit_log_keep == 0 {
            return Err(invalid(
                "audit_log_keep",
                "must be at least 1 (set audit_log_max_bytes to 0 to never rotate)".to_owned(),
            ));
        }
        for (key, value) in [
            ("stream_keepalive", self.stream_keepalive),
            ("stdin_timeout", self.stdin_timeout),
            ("input_settle", self.input_settle),
            ("request_read_timeout", self.request_read_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be more than zero".to_owned()));
            }
        }
        let listen = match self.listen.strip_prefix("unix:") {
            Some("") => {
                return Err(invalid(
                    "listen",
                    "\"unix:\" needs a socket path, like unix:/run/agentproc.sock".to_owned(),
                ));
            }
            Some(path) => ListenAddr::Unix(std::path::absolute(path).map_err(|error| {
                invalid("listen", format!("cannot make {path:?} absolute: {error}"))
            })?),
            None => ListenAddr::Tcp(self.listen.parse().map_err(|_| {
                invalid(
                    "listen",
                    format!(
                        "{:?} is not an address like 127.0.0.1:4242 or unix:/path/to.sock",
                        self.listen
                    ),
                )
            })?),
        };
        let token =
            match (
                self.token.is_empty(),
                self.token_file.as_os_str().is_empty(),
            ) {
                (true, true) => None,
                (false, true) => Some(BearerToken::new(self.token.trim()).ok_or_else(|| {
                    invalid(
                        "token",
                        "is only whitespace; leave it empty for no token".to_owned(),
                    )
                })?),
                (true, false) => {
                    let text = std::fs::read_to_string(&self.token_file).map_err(|error| {
                        invalid(
                            "token_file",
                            format!("cannot read {}: {error}", self.token_file.display()),
                        )
                    })?;
                    Some(BearerToken::new(text.trim()).ok_or_else(|| {
                        invalid("token_file", "the token file is empty".to_owned())
                    })?)
                }
                (false, false) => {
                    return Err(invalid(
                        "token",
                        "set either token or token_file, not both".to_owned(),
                    ));
                }
            };
        let filter: Targets = parse_log_filter(&self.log_level).map_err(|error| {
            invalid(
                "log_level",
                format!(
                    "{:?} is not a level (error, warn, info, debug, trace) or filter: {error}",
                    self.log_level
                ),
            )
        })?;
        if self.shell.is_empty() {
            return Err(invalid("shell", "must not be empty".to_owned()));
        }
        for (key, value) in [
            ("list_limit", self.list_limit),
            ("max_running", self.max_running),
            ("max_retained", self.max_retained),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".to_owned()));
            }
        }
        if (1..64 << 10).contains(&self.output_max_bytes_per_process) {
            return Err(invalid(
                "output_max_bytes_per_process",
                "must be 0 (full logs off) or at least 64KiB".to_owned(),
            ));
        }
        if self.output_max_total_bytes == 0 {
            return Err(invalid(
                "output_max_total_bytes",
                "must be at least 1 (to turn full output logs off, set output_max_bytes_per_process to 0)"
                    .to_owned(),
            ));
        }
        let executor = self.executor_settings(&invalid)?;
        let audit = if self.audit_log.as_os_str().is_empty() {
            None
        } else {
            Some(crate::audit::AuditSettings {
                path: std::path::absolute(&self.audit_log).map_err(|error| {
                    invalid("audit_log", format!("cannot make it absolute: {error}"))
                })?,
                max_bytes: self.audit_log_max_bytes,
                keep: self.audit_log_keep,
            })
        };
        Ok(Settings {
            mcp_max_result_bytes: usize::try_from(self.mcp_max_result_bytes).unwrap_or(usize::MAX),
            audit,
            env_deny: self.env_deny.items(),
            executor,
            listen,
            workdir: Some(self.workdir).filter(|dir| !dir.as_os_str().is_empty()),
            shell: self.shell,
            log: LogSettings {
                format: self.log_format,
                filter,
            },
            limits: ManagerLimits {
                reap_after: self.reap_after,
                token_reap_after: self.token_reap_after,
                pipe_drain_grace: self.pipe_drain_grace,
                shutdown_grace: self.shutdown_grace,
                deadline_grace: self.deadline_grace,
                max_running: self.max_running,
                max_running_per_chat: Some(self.max_running_per_chat).filter(|n| *n > 0),
                max_retained: self.max_retained,
                stdin_timeout: self.stdin_timeout,
                input_settle: self.input_settle,
            },
            state_dir: Some(self.state_dir).filter(|dir| !dir.as_os_str().is_empty()),
            output_dir: Some(self.output_dir).filter(|dir| !dir.as_os_str().is_empty()),
            output_max_bytes_per_process: self.output_max_bytes_per_process,
            output_max_total_bytes: self.output_max_total_bytes,
            api: ApiConfig {
                max_wait: self.max_wait,
                list_limit: self.list_limit,
                max_body_bytes: self.max_body_bytes,
                stream_keepalive: self.stream_keepalive,
                request_read_timeout: self.request_read_timeout,
                token,
            },
        })
    }
}

/// A log filter: comma-separated `level` or `target=level` directives.
/// (A bare word that is not a level is refused rather than read as a target
/// name, which would silently log everything for that target only.)
fn parse_log_filter(text: &str) -> anyhow::Result<Targets> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            bail!("{level:?} is not a level");
        }
    }
    Ok(text.parse()?)
}

/// A size in bytes: a number, or a string like "64MiB", "1GiB", "500KB".
fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Bytes(u64),
        Human(String),
    }
    match Text::deserialize(deserializer) {
        Ok(Text::Bytes(bytes)) => Ok(bytes),
        Ok(Text::Human(text)) => agentproc_core::text::parse_size(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a size like \"64MiB\" or a number of bytes"
            ))
        }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a size like \"64MiB\" or a number of bytes",
        )),
    }
}

/// The most processes Linux allows at all (`PID_MAX_LIMIT` on 64-bit).
const PID_MAX_LIMIT: u64 = 4_194_304;

/// Parses a niceness: `"+N"` or `"-N"` relative to agentproc's own, `"N"`
/// absolute (0 to 19), or `"inherit"`.
pub fn parse_niceness(text: &str) -> Result<Niceness, String> {
    let text = text.trim();
    let problem = || {
        format!(
            "{text:?} is not a niceness: \"+5\" or \"-2\" (relative to agentproc's own), \"10\" (absolute, 0 to 19) or \"inherit\""
        )
    };
    if text == "inherit" {
        return Ok(Niceness::Inherit);
    }
    if text.starts_with(['+', '-']) {
        let delta: i32 = text.parse().map_err(|_| problem())?;
        return if (-39..=39).contains(&delta) {
            Ok(Niceness::Relative(delta))
        } else {
            Err(problem())
        };
    }
    match text.parse::<i32>() {
        Ok(value) if (0..=19).contains(&value) => Ok(Niceness::Absolute(value)),
        _ => Err(problem()),
    }
}

/// Parses an OOM score: `"auto"`, `"inherit"` or -1000 to 1000.
pub fn parse_oom_score(text: &str) -> Result<OomScoreAdj, String> {
    match text.trim() {
        "auto" => Ok(OomScoreAdj::Auto),
        "inherit" => Ok(OomScoreAdj::Inherit),
        number => match number.parse::<i32>() {
            Ok(value) if (-1000..=1000).contains(&value) => Ok(OomScoreAdj::Value(value)),
            _ => Err(format!(
                "{number:?} is not \"auto\", \"inherit\" or a score from -1000 to 1000"
            )),
        },
    }
}

/// A string, or a number taken as its decimal text (so `niceness = 10` and
/// `niceness = "10"` mean the same).
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(i64),
        Text(String),
    }
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.to_string(),
        Value::Text(text) => text,
    })
}

/// An optional size: `""` for none, else as [`size`].
fn optional_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Bytes(u64),
        Text(String),
    }
    match Value::deserialize(deserializer) {
        Ok(Value::Bytes(bytes)) => Ok(Some(bytes)),
        Ok(Value::Text(text)) if text.trim().is_empty() => Ok(None),
        Ok(Value::Text(text)) => agentproc_core::text::parse_size(&text)
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a size like \"512MiB\", a number, or \"\" for none"
                ))
            }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a size like \"512MiB\", a number, or \"\" for none",
        )),
    }
}

/// An optional count: `""` for none, else a whole number.
fn optional_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(u64),
        Text(String),
    }
    match Value::deserialize(deserializer) {
        Ok(Value::Number(number)) => Ok(Some(number)),
        Ok(Value::Text(text)) if text.trim().is_empty() => Ok(None),
        Ok(Value::Text(text)) => text.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is not a whole number, or \"\" for none"))
        }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a whole number, or \"\" for none",
        )),
    }
}

/// An optional duration: `""` for none, else as [`duration`].
fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Seconds(u64),
        Text(String),
    }
    match Value::deserialize(deserializer) {
        Ok(Value::Seconds(secs)) => Ok(Some(Duration::from_secs(secs))),
        Ok(Value::Text(text)) if text.trim().is_empty() => Ok(None),
        Ok(Value::Text(text)) => humantime::parse_duration(&text).map(Some).map_err(|error| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like \"10m\" or \"\" for none ({error})"
            ))
        }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a duration like \"10m\", a number of seconds, or \"\" for none",
        )),
    }
}

/// A duration: a humantime string ("5s", "1h 30m") or a number of seconds.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Seconds(u64),
        Human(String),
    }
    match Text::deserialize(deserializer) {
        Ok(Text::Seconds(secs)) => Ok(Duration::from_secs(secs)),
        Ok(Text::Human(text)) => humantime::parse_duration(&text).map_err(|error| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like \"5s\" or \"5m\" ({error})"
            ))
        }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a duration like \"5s\" or \"5m\", or a number of seconds",
        )),
    }
}

#[cfg(test)]
mod tests;
