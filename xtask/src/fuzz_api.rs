//! `cargo xtask fuzz-api`: schemathesis (from PyPI) against a real
//! `agentproc serve`, driven by the server's own `/api/openapi.json`.
//!
//! The run fails when any response is a server error, has a status, content
//! type, header or body the document does not describe, when a documented
//! required header or the token is ignored, or when the server does not shut
//! down cleanly afterwards. Two of schemathesis's checks are left out on
//! purpose, because the API is Go-compatible rather than schema-strict:
//! `negative_data_rejection` (Go's decoder accepts `null` for any field,
//! `?wait=1` is simply "not true") and `positive_data_acceptance` (a
//! schema-valid request can still name a missing workdir or an invalid
//! regular expression, which are 400s).
//!
//! Safety: the fuzzer invents commands, so the server runs them with `echo`
//! as its shell (`echo -c <command>` prints and exits: every route still
//! sees real processes, output and exits, and nothing the fuzzer writes is
//! executed), in a scratch directory under `target/`, with a random token.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cargo;

/// The schemathesis release the run installs (pinned: a new release can add
/// checks, and CI must not change under us).
const SCHEMATHESIS: &str = "4.32.5";

/// The checks schemathesis skips (see the module documentation).
const EXCLUDED_CHECKS: &str = "negative_data_rejection,positive_data_acceptance";

/// `cargo xtask fuzz-api` options.
#[derive(Debug)]
pub(crate) struct Options {
    /// Examples per operation and phase.
    max_examples: u32,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { max_examples: 100 };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--max-examples" => {
                    let value = args.next().context("--max-examples needs a number")?;
                    options.max_examples =
                        value.parse().ok().filter(|n| *n > 0).with_context(|| {
                            format!("--max-examples {value:?} is not a positive number")
                        })?;
                }
                other => bail!("unknown fuzz-api option {other:?}"),
            }
        }
        Ok(options)
    }
}

pub(crate) fn run(root: &Path, options: Options) -> anyhow::Result<()> {
    let work = root.join("target/fuzz-api");
    let st = install_schemathesis(&work)?;

    eprintln!("==> fuzz-api: building agentproc");
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
    std::fs::create_dir_all(run_dir.join("workdir"))
        .with_context(|| format!("creating {}", run_dir.display()))?;
    let token = random_token()?;
    let binary = crate::target_dir(root).join("debug/agentproc");
    let mut server = Server::start(&binary, &run_dir, &token)?;
    eprintln!("==> fuzz-api: agentproc listening on {}", server.address);

    let outcome = Command::new(&st)
        .current_dir(&run_dir)
        .args([
            "run",
            &format!("http://{}/api/openapi.json", server.address),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--max-examples",
            &options.max_examples.to_string(),
            "--max-failures",
            "20",
        ])
        .status()
        .context("running schemathesis");
    let shutdown = server.stop();
    let status = outcome?;
    let exit = shutdown?;
    if !status.success() {
        bail!(
            "schemathesis found problems ({status}); the server's log is {}",
            server.log.display()
        );
    }
    if !exit.success() {
        bail!(
            "agentproc did not shut down cleanly after the run ({exit}); its log is {}",
            server.log.display()
        );
    }
    let _ = std::fs::remove_dir_all(&run_dir);
    eprintln!("==> fuzz-api: passed");
    Ok(())
}

/// A virtual environment under `work` with the pinned schemathesis; reused
/// when it already has it.
fn install_schemathesis(work: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let st = venv.join("bin/st");
    let installed = Command::new(&st)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(SCHEMATHESIS));
    if installed {
        return Ok(st);
    }
    eprintln!(
        "==> fuzz-api: installing schemathesis {SCHEMATHESIS} into {}",
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
            &format!("schemathesis=={SCHEMATHESIS}"),
        ])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install schemathesis=={SCHEMATHESIS} failed ({status})");
    }
    Ok(st)
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

/// The server under test, its log copied to a file.
struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Server {
    fn start(binary: &Path, run_dir: &Path, token: &str) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        // Hermetic: nothing from the caller's AGENTPROC_* settings.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AGENTPROC_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("AGENTPROC_TOKEN", token)
            .env("AGENTPROC_SHELL", "echo")
            .env("AGENTPROC_STATE_DIR", run_dir.join("state"))
            .env("AGENTPROC_WORKDIR", run_dir.join("workdir"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let log = run_dir.join("agentproc.log");
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
    fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .context("running kill")?;
        if !status.success() {
            let _ = self.child.kill();
        }
        self.child.wait().context("waiting for agentproc")
    }
}
