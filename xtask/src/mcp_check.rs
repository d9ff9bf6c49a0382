//! `cargo xtask mcp-check`: the official MCP Python SDK (PyPI `mcp`, pinned)
//! drives the real `agentproc` binary, as an agent's host would: `agentproc
//! mcp` over stdio (embedded, two at once, end of input, `--server`), and
//! `/mcp` of `agentproc serve` over Streamable HTTP (401 without the token,
//! the tools with it). The checks are `crates/api-mcp/tests/python/test_mcp.py`.
//!
//! Everything runs in a scratch directory under `target/` with hermetic
//! environments (the servers see none of the caller's `AGENTPROC_*`
//! settings), and the run fails on the first failed check.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::harness::{build_agentproc, hermetic, pinned_venv, scratch_dir};

/// The SDK release the run installs (pinned: a new release can change the
/// client's behaviour, and CI must not change under us).
const MCP_SDK: &str = "2.3.0";

/// The checks, relative to the workspace root.
const SCRIPT: &str = "crates/api-mcp/tests/python/test_mcp.py";

pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let work = root.join("target/mcp-check");
    let python = pinned_venv(&work, "mcp-check", &[("mcp", MCP_SDK)])?.join("bin/python");
    let binary = build_agentproc(root, "mcp-check")?;
    let run_dir = scratch_dir(&work)?;
    let mut command = Command::new(&python);
    // Hermetic: nothing from the caller's AGENTPROC_* settings reaches the
    // script (it gives each server its own environment anyway).
    hermetic(&mut command);
    let status = command
        .current_dir(root)
        .arg(root.join(SCRIPT))
        .arg("--binary")
        .arg(&binary)
        .arg("--work")
        .arg(&run_dir)
        .status()
        .context("running the MCP checks")?;
    if !status.success() {
        bail!(
            "the MCP checks failed ({status}); their scratch directory (with agentproc serve's log) is {}",
            run_dir.display()
        );
    }
    let _ = std::fs::remove_dir_all(&run_dir);
    eprintln!("==> mcp-check: passed");
    Ok(())
}
