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

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::harness::{Server, build_agentproc, pinned_venv, random_token, scratch_dir};

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
    let venv = pinned_venv(&work, "fuzz-api", &[("schemathesis", SCHEMATHESIS)])?;
    let st = venv.join("bin/st");
    let binary = build_agentproc(root, "fuzz-api")?;
    let run_dir = scratch_dir(&work)?;
    let token = random_token()?;
    // `echo` as the shell: generated commands are printed, never run.
    let mut server = Server::start(
        &binary,
        &run_dir,
        &[("AGENTPROC_TOKEN", &token), ("AGENTPROC_SHELL", "echo")],
    )?;
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
