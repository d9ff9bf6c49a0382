//! What the checks against the real binary share (`fuzz-api`, `mcp-check`,
//! `ui-check`, `screenshots`): building `agentproc`, a scratch directory,
//! a virtual environment with pinned PyPI packages, a random token, and
//! `agentproc serve` on a free loopback port with its log copied to a file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cargo;

/// Builds `agentproc` (debug) and returns the binary's path.
pub(crate) fn build_agentproc(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    eprintln!("==> {name}: building agentproc");
    let status = Command::new(cargo())
        .current_dir(root)
        .args(["build", "--quiet", "-p", "agentproc"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p agentproc failed ({status})");
    }
    Ok(crate::target_dir(root).join("debug/agentproc"))
}

/// A fresh scratch directory for this run under `work`.
pub(crate) fn scratch_dir(work: &Path) -> anyhow::Result<PathBuf> {
    let run_dir = work.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    Ok(run_dir)
}

/// A virtual environment at `work/venv` with exactly these `(package,
/// version)` pins; reused when it already has them. Returns the venv.
pub(crate) fn pinned_venv(
    work: &Path,
    name: &str,
    packages: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let names: Vec<String> = packages
        .iter()
        .map(|(package, _)| format!("m.version({package:?})"))
        .collect();
    let wanted: Vec<&str> = packages.iter().map(|(_, version)| *version).collect();
    let installed = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            &format!(
                "import importlib.metadata as m; print({})",
                names.join(", ")
            ),
        ])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == wanted.join(" "));
    if installed {
        return Ok(venv);
    }
    let pins: Vec<String> = packages
        .iter()
        .map(|(package, version)| format!("{package}=={version}"))
        .collect();
    eprintln!(
        "==> {name}: installing {} into {}",
        pins.join(" "),
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
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&pins)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install {} failed ({status})", pins.join(" "));
    }
    Ok(venv)
}

/// 32 hex digits from the kernel's random source.
pub(crate) fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?,
        &mut bytes,
    )
    .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Leaves none of the caller's `AGENTPROC_*` settings in `command`'s
/// environment.
pub(crate) fn hermetic(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENTPROC_") {
            command.env_remove(name);
        }
    }
    command
}

/// A server under test, its log copied to a file.
pub(crate) struct Server {
    child: Child,
    /// Where it listens (`IP:port`).
    pub(crate) address: String,
    /// Its log.
    pub(crate) log: PathBuf,
}

impl Server {
    /// `agentproc serve` on a free loopback port, with `dir` for its state,
    /// working directory and log, and `env` on top of a hermetic
    /// environment.
    pub(crate) fn start(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("workdir"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut child = hermetic(&mut Command::new(binary))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("AGENTPROC_STATE_DIR", dir.join("state"))
            .env("AGENTPROC_WORKDIR", dir.join("workdir"))
            .envs(env.iter().copied())
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
    pub(crate) fn stop(&mut self) -> anyhow::Result<ExitStatus> {
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
