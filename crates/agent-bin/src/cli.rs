//! Command-line interface definitions (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// The version, with the git revision it was built from ("unknown" when
/// built outside a git checkout; the HTTP crate's build script finds it).
pub static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        agentproc_api_http::REVISION
    )
});

/// A process manager for AI coding agents: runs shell commands for them over
/// HTTP, wire-compatible with Coder's /api/v0/processes.
#[derive(Debug, Parser)]
#[command(name = "agentproc", version = VERSION.as_str(), propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API server (until SIGTERM or Ctrl-C).
    Serve(ServeArgs),
    /// Run a command on a server, stream its output live, and exit with its
    /// exit code (128+N when a signal ended it). Ctrl-C sends it
    /// `interrupt`; a second Ctrl-C sends `kill`.
    Run(RunArgs),
    /// List processes (running first, then newest).
    Ps(ClientArgs),
    /// Print a process's output (all of it that is kept).
    Logs(LogsArgs),
    /// Send a signal to a process's whole process tree.
    Kill(KillArgs),
    /// Wait until a process exits, and exit with its exit code.
    Wait(WaitArgs),
    /// Join a running terminal process (started with `run -t` or
    /// `"tty": true`) from this terminal: its screen, then live; Ctrl-]
    /// detaches and leaves it running.
    Attach(WaitArgs),
    /// Print the OpenAPI 3.1 document of the HTTP API (the one served at
    /// /api/openapi.json).
    Openapi,
    /// Serve MCP (the Model Context Protocol) on standard input and output,
    /// for an agent's host (Claude Code, Codex, …): tools to run and follow
    /// commands, over a process manager of its own (stopped when standard
    /// input closes), or with --server over a running `agentproc serve`.
    Mcp(McpArgs),
}

/// `agentproc mcp`.
#[derive(Debug, Clone, Default, Args)]
pub struct McpArgs {
    /// Act for a running `agentproc serve` instead of running processes
    /// here: http://HOST:PORT or unix:/path. Processes are then shared with
    /// the HTTP API and the CLI, and outlive this session.
    #[arg(long, env = "AGENTPROC_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// The bearer token of that server, when it requires one.
    #[arg(long, env = "AGENTPROC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Without --server: read configuration from this TOML file (over the
    /// built-in defaults and /etc/agentproc/config.toml), as `serve` does.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Without --server: the working directory of commands that name none
    /// [default: the configured workdir, else the directory agentproc mcp
    /// starts in].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// How the client commands reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server: http://HOST:PORT or unix:/path/to.sock.
    #[arg(
        long,
        env = "AGENTPROC_SERVER",
        default_value = "http://127.0.0.1:4242"
    )]
    pub server: String,

    /// The bearer token, when the server requires one.
    #[arg(long, env = "AGENTPROC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Print the server's JSON instead of human-readable text.
    #[arg(long)]
    pub json: bool,
}

/// A `--timeout`: a number of seconds or a duration like `30s`; more than
/// zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => std::time::Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).map_err(|error| error.to_string())?,
    };
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

/// `agentproc run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// Working directory of the command; a relative one is taken from where
    /// this client runs [default: the server's].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// An environment variable for the command (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Stop the command after this long (SIGTERM, then SIGKILL): 30s, 5m,
    /// 1h 30m, or a number of seconds.
    #[arg(long, value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,

    /// Run it on a terminal, like `docker run -it`: this terminal goes into
    /// raw mode, keystrokes and window size changes are forwarded, and the
    /// output is shown live. Ctrl-] detaches and leaves it running
    /// (`agentproc attach ID` joins again).
    #[arg(short = 't', long, conflicts_with = "agent")]
    pub tty: bool,

    /// Instead of the raw output, print the agent view at the end: every
    /// error and failure kept, noise folded, within --max-tokens (live, only
    /// the last line is shown on standard error, when it is a terminal).
    #[arg(long)]
    pub agent: bool,

    /// The agent view's budget in tokens (200 to 32000; default 2000).
    #[arg(long, value_name = "N", requires = "agent", value_parser = clap::value_parser!(u32).range(200..=32000))]
    pub max_tokens: Option<u32>,

    /// The command. One word is a shell command line
    /// (`run -- 'make test && echo ok'`); several words are the program and
    /// its arguments, quoted so the server's shell sees exactly them
    /// (`run -- sh -c 'echo hi; exit 3'`), as `docker exec` takes them.
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `agentproc logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// Keep printing output as it comes, until the process exits (then exit
    /// with its code).
    #[arg(short, long)]
    pub follow: bool,

    /// Print the agent view instead of the raw output: every error and
    /// failure kept, noise folded, within --max-tokens (with -f, after the
    /// exit).
    #[arg(long)]
    pub agent: bool,

    /// The agent view's budget in tokens (200 to 32000; default 2000).
    #[arg(long, value_name = "N", requires = "agent", value_parser = clap::value_parser!(u32).range(200..=32000))]
    pub max_tokens: Option<u32>,

    /// The process id.
    pub id: String,
}

/// `agentproc kill`.
#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// terminate, kill, interrupt or hangup.
    #[arg(long, short, default_value = "terminate")]
    pub signal: String,

    /// The process id.
    pub id: String,
}

/// `agentproc wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// The process id.
    pub id: String,
}

/// Flags of `agentproc serve`. Each overrides the configuration key of the
/// same name.
#[derive(Debug, Clone, Default, Args, Serialize)]
pub struct ServeArgs {
    /// Read configuration from this TOML file (over the built-in defaults
    /// and /etc/agentproc/config.toml).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on: IP:port, or unix:/path/to.sock [default:
    /// 127.0.0.1:4242].
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,

    /// Allow listening on a non-loopback address without a token (anyone
    /// who can reach it can run commands as this user).
    #[arg(long)]
    #[serde(skip)]
    pub insecure_no_auth: bool,

    /// Default working directory for processes [default: $HOME].
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,

    /// Log format [default: text].
    #[arg(long, value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `agentproc attach`: like `wait`, a server and a process id.
pub type AttachArgs = WaitArgs;
