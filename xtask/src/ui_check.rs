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

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cargo;

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
    let mut open = Server::start(&harness.binary, &harness.run_dir.join("open"), None)?;
    let mut guarded = Server::start(
        &harness.binary,
        &harness.run_dir.join("guarded"),
        Some(&token),
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
    let mut server = Server::start(&harness.binary, &harness.run_dir.join("open"), None)?;
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
        let venv = install_packages(&work)?;

        eprintln!("==> {name}: building agentproc");
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
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
            venv,
            binary: crate::target_dir(root).join("debug/agentproc"),
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

/// A virtual environment under `work` with the pinned Playwright and pytest;
/// reused when it already has them.
fn install_packages(work: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('playwright'), m.version('pytest'))",
        ])
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout).trim() == format!("{PLAYWRIGHT} {PYTEST}")
        });
    if installed {
        return Ok(venv);
    }
    eprintln!(
        "==> ui-check: installing playwright {PLAYWRIGHT} and pytest {PYTEST} into {}",
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
            &format!("playwright=={PLAYWRIGHT}"),
            &format!("pytest=={PYTEST}"),
        ])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install playwright=={PLAYWRIGHT} pytest=={PYTEST} failed ({status})");
    }
    Ok(venv)
}

/// 32 hex digits from the kernel's random source.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?,
        &mut bytes,
    )
    .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A server under test, its log copied to a file.
struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Server {
    /// `agentproc serve` on a free loopback port, with `dir` for its state,
    /// working directory and log.
    fn start(binary: &Path, dir: &Path, token: Option<&str>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("workdir"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut command = Command::new(binary);
        // Hermetic: nothing from the caller's AGENTPROC_* settings.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AGENTPROC_") {
                command.env_remove(name);
            }
        }
        if let Some(token) = token {
            // The guarded server also runs the sandbox executor with
            // isolation on by default (bubblewrap, which .ci/run installs),
            // so the page's isolation lines are tested.
            command
                .env("AGENTPROC_TOKEN", token)
                .env("AGENTPROC_EXECUTOR", "sandbox")
                .env("AGENTPROC_SANDBOX_CGROUPS", "off")
                .env("AGENTPROC_ISOLATION_DEFAULT", "workspace");
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("AGENTPROC_STATE_DIR", dir.join("state"))
            .env("AGENTPROC_WORKDIR", dir.join("workdir"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let log = dir.join("agentproc.log");
        let stderr = child.stderr.take().context("the server's stderr")?;
        let (found, address) = mpsc::channel();
        let mut file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        // Copies the log until the server exits, and reports its address.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "agentproc listening"
                    && let Some(address) = event["address"].as_str()
                {
                    let _ = found.send(address.to_owned());
                }
            }
        });
        match address.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => Ok(Self {
                child,
                address,
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "agentproc did not start listening; its log is {}",
                    log.display()
                )
            }
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            let _ = self.child.kill();
        }
        self.child.wait().context("waiting for agentproc")
    }
}

impl Drop for Server {
    /// A run that fails before [`Server::stop`] leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
