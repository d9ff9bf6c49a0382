//! `cargo xtask ui-check` and `cargo xtask screenshots`: the web page in a
//! real browser.
//!
//! Both build `agentproc`, install pinned Playwright and pytest from PyPI
//! into a virtual environment under `target/ui-check/`, and start real
//! `agentproc serve` processes on free loopback ports, each with its own
//! state directory and its log copied to a file. Playwright drives Debian's
//! Chromium (`/usr/bin/chromium`, installed with apt): `playwright install`
//! is never run (it downloads a browser build, which this kind of machine
//! cannot).
//!
//! `ui-check` runs `crates/api-http/ui/tests` with pytest (extra arguments
//! go to pytest) against two
//! servers, one without a token and one with a random token; it fails when a
//! test fails or a server does not shut down cleanly. `screenshots` runs
//! `screenshots.py` against a fresh server and writes the PNGs to
//! `docs/ui/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::harness::{Server, build_agentproc, pinned_venv, random_token, scratch_dir};

/// The Playwright release installed (pinned: a new release can change how
/// it drives the browser, and CI must not change under us).
const PLAYWRIGHT: &str = "1.65.2";
/// The pytest release installed.
const PYTEST: &str = "9.2.0";
/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The browser tests and the screenshot script, from the workspace root.
const TESTS: &str = "crates/api-http/ui/tests";

/// `cargo xtask ui-check [PYTEST ARGS]`: the arguments go to pytest (say,
/// `-k kill -v`).
pub(crate) fn check(root: &Path, pytest_args: &[String]) -> anyhow::Result<()> {
    let harness = Harness::prepare(root, "ui-check")?;
    let token = random_token()?;
    let mut open = Server::start(&harness.binary, &harness.run_dir.join("open"), &[])?;
    // The guarded server also runs the sandbox executor with isolation on
    // by default (bubblewrap, which .ci/run installs), so the page's
    // isolation lines are tested.
    let mut guarded = Server::start(
        &harness.binary,
        &harness.run_dir.join("guarded"),
        &[
            ("AGENTPROC_TOKEN", &token),
            ("AGENTPROC_EXECUTOR", "sandbox"),
            ("AGENTPROC_SANDBOX_CGROUPS", "off"),
            ("AGENTPROC_ISOLATION_DEFAULT", "workspace"),
        ],
    )?;
    eprintln!(
        "==> ui-check: agentproc on {} (no token) and {} (token)",
        open.address, guarded.address
    );
    let outcome = harness
        .python()
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--durations=5",
            TESTS,
        ])
        .args(pytest_args)
        .env("AGENTPROC_UI_URL", format!("http://{}", open.address))
        .env(
            "AGENTPROC_UI_GUARDED_URL",
            format!("http://{}", guarded.address),
        )
        .env("AGENTPROC_UI_TOKEN", &token)
        .env("AGENTPROC_UI_ARTIFACTS", harness.run_dir.join("failures"))
        .status()
        .context("running pytest");
    let stopped = [open.stop(), guarded.stop()];
    let status = outcome?;
    if !status.success() {
        bail!(
            "the browser tests failed ({status}); the servers' logs are {} and {}, screenshots of failed pages are in {}",
            open.log.display(),
            guarded.log.display(),
            harness.run_dir.join("failures").display()
        );
    }
    for (server, stopped) in [&open, &guarded].into_iter().zip(stopped) {
        let exit = stopped?;
        if !exit.success() {
            bail!(
                "agentproc did not shut down cleanly after the run ({exit}); its log is {}",
                server.log.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&harness.run_dir);
    eprintln!("==> ui-check: passed");
    Ok(())
}

/// `cargo xtask screenshots`.
pub(crate) fn screenshots(root: &Path) -> anyhow::Result<()> {
    let harness = Harness::prepare(root, "screenshots")?;
    let mut server = Server::start(&harness.binary, &harness.run_dir.join("open"), &[])?;
    let out = root.join("docs/ui");
    let outcome = harness
        .python()
        .arg(root.join(TESTS).join("screenshots.py"))
        .arg(&out)
        .arg(harness.run_dir.join("project"))
        .env("AGENTPROC_UI_URL", format!("http://{}", server.address))
        .status()
        .context("running screenshots.py");
    let stopped = server.stop();
    let status = outcome?;
    if !status.success() {
        bail!(
            "taking the screenshots failed ({status}); the server's log is {}",
            server.log.display()
        );
    }
    let exit = stopped?;
    if !exit.success() {
        bail!(
            "agentproc did not shut down cleanly ({exit}); its log is {}",
            server.log.display()
        );
    }
    let _ = std::fs::remove_dir_all(&harness.run_dir);
    eprintln!("==> screenshots: written to {}", out.display());
    Ok(())
}

/// The browser, the virtual environment, the binary and a scratch folder.
struct Harness {
    root: PathBuf,
    venv: PathBuf,
    binary: PathBuf,
    run_dir: PathBuf,
}

impl Harness {
    fn prepare(root: &Path, name: &str) -> anyhow::Result<Self> {
        if !Path::new(CHROMIUM).exists() {
            bail!(
                "{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); \
                 Playwright drives it, and never downloads a browser of its own here"
            );
        }
        let work = root.join("target/ui-check");
        let venv = pinned_venv(
            &work,
            name,
            &[("playwright", PLAYWRIGHT), ("pytest", PYTEST)],
        )?;
        let binary = build_agentproc(root, name)?;
        let run_dir = scratch_dir(&work)?;
        Ok(Self {
            root: root.to_path_buf(),
            venv,
            binary,
            run_dir,
        })
    }

    /// The environment's Python, run from the workspace root, writing no
    /// bytecode into the source tree.
    fn python(&self) -> Command {
        let mut command = Command::new(self.venv.join("bin/python"));
        command
            .current_dir(&self.root)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("AGENTPROC_UI_CHROMIUM", CHROMIUM)
            .stdin(Stdio::null());
        command
    }
}
