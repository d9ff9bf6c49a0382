//! `cargo xtask mcp-check`: the official MCP Python SDK (PyPI `mcp`, pinned)
//! drives the real `agentproc` binary, as an agent's host would: `agentproc
//! mcp` over stdio (embedded, two at once, end of input, `--server`), and
//! `/mcp` of `agentproc serve` over Streamable HTTP (401 without the token,
//! the tools with it). The checks are `crates/api-mcp/tests/python/test_mcp.py`.
//!
//! Everything runs in a scratch directory under `target/` with hermetic
//! environments (the servers see none of the caller's `AGENTPROC_*`
//! settings), and the run fails on the first failed check.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::cargo;

/// The SDK release the run installs (pinned: a new release can change the
/// client's behaviour, and CI must not change under us).
const MCP_SDK: &str = "2.3.0";

/// The checks, relative to the workspace root.
const SCRIPT: &str = "crates/api-mcp/tests/python/test_mcp.py";

pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let work = root.join("target/mcp-check");
    let python = install_sdk(&work)?;

    eprintln!("==> mcp-check: building agentproc");
    let status = Command::new(cargo())
        .current_dir(root)
        .args(["build", "--quiet", "-p", "agentproc"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p agentproc failed ({status})");
    }

    let run_dir = work.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let binary = crate::target_dir(root).join("debug/agentproc");
    let mut command = Command::new(&python);
    // Hermetic: nothing from the caller's AGENTPROC_* settings reaches the
    // script (it gives each server its own environment anyway).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENTPROC_") {
            command.env_remove(name);
        }
    }
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

/// A virtual environment under `work` with the pinned SDK; reused when it
/// already has it. Returns its Python.
fn install_sdk(work: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp'))",
        ])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == MCP_SDK);
    if installed {
        return Ok(python);
    }
    eprintln!(
        "==> mcp-check: installing the MCP Python SDK {MCP_SDK} into {}",
        venv.display()
    );
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .context("running python3 -m venv (is Python 3 installed?)")?;
    if !status.success() {
        bail!("python3 -m venv failed ({status})");
    }
    let status = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("mcp=={MCP_SDK}"),
        ])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install mcp=={MCP_SDK} failed ({status})");
    }
    Ok(python)
}
