//! Command-line interface definitions (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// The version, with the git revision it was built from ("unknown" when
/// built outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("AGENTPROC_GIT_REVISION"),
    ")"
);

/// A process manager for AI coding agents: runs shell commands for them over
/// HTTP, wire-compatible with Coder's /api/v0/processes.
#[derive(Debug, Parser)]
#[command(name = "agentproc", version = VERSION, propagate_version = true)]
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
