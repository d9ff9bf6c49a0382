//! What a [`ManagerConfig`](super::ManagerConfig) starts from when built
//! with defaults: this process's environment (minus agentproc's own
//! configuration) and home directory, as the `agentproc` binary does. The
//! only place core reads its environment; configuration is still the
//! binary's (or the embedder's) to pass in.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::exec::Env;

/// Prefixes and names of variables that configure agentproc itself, which
/// commands never inherit: `AGENTPROC_*` (the binary's configuration and
/// tokens) and Coder's priority-management variables.
pub const EXCLUDED_FROM_COMMANDS: &[&str] = &[
    "AGENTPROC_",
    "CODER_PROC_PRIO_MGMT",
    "CODER_PROC_NICE_SCORE",
    "CODER_PROC_OOM_SCORE",
];

/// Whether a variable of that name configures agentproc (see
/// [`EXCLUDED_FROM_COMMANDS`]; names ending in `_` are prefixes).
pub fn configures_agentproc(name: &str) -> bool {
    EXCLUDED_FROM_COMMANDS.iter().any(|excluded| {
        if excluded.ends_with('_') {
            name.starts_with(excluded)
        } else {
            name == *excluded
        }
    })
}

/// This process's environment without the variables that configure
/// agentproc: what commands inherit by default.
pub fn inherited_env() -> Env {
    std::env::vars_os()
        .filter(|(name, _)| !configures_agentproc(&name.to_string_lossy()))
        .collect()
}

/// `$HOME`, when set and not empty: where commands start by default.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home: OsString| PathBuf::from(home))
}
