//! `cargo xtask bench [--quick] [--markdown]`: the micro-benchmarks
//! (criterion, in the crates that own the code), the agent view's corpus
//! report (tokens and must-see recall), and the end-to-end harness
//! (`crates/agent-bin/benches/e2e.rs`), built in release mode. The harness
//! prints a table of ratios against baselines measured in the same run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::cargo;

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Options {
    /// Smaller workloads and shorter measurements: under two minutes once
    /// built.
    pub(crate) quick: bool,
    /// Also print the end-to-end table as Markdown (for BENCHMARKS.md).
    pub(crate) markdown: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self::default();
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--markdown" => options.markdown = true,
                other => bail!("unknown bench option {other:?} (use --quick, --markdown)"),
            }
        }
        Ok(options)
    }
}

pub(crate) fn run(root: &Path, options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("==> building benchmarks (release)");
    step(root, &["bench", "--workspace", "--no-run"], &[])?;

    println!("==> micro-benchmarks (criterion): HeadTailBuffer");
    let mut criterion = vec!["--noplot"];
    if options.quick {
        criterion.extend(["--warm-up-time", "0.5", "--measurement-time", "1"]);
    }
    step(
        root,
        &["bench", "-p", "agentproc-core", "--bench", "buffer", "--"],
        &criterion,
    )?;

    println!("==> micro-benchmarks (criterion): the agent view of a 64 MiB log");
    step(
        root,
        &["bench", "-p", "agentproc-view", "--bench", "view", "--"],
        &criterion,
    )?;

    println!(
        "==> the agent view over the corpus of real outputs: tokens and must-see recall, against Coder's head/tail view"
    );
    step(
        root,
        &["bench", "-p", "agentproc-view", "--bench", "corpus"],
        &[],
    )?;

    println!("==> end-to-end benchmarks");
    let mut e2e = Vec::new();
    if options.quick {
        e2e.push("--quick");
    }
    if options.markdown {
        e2e.push("--markdown");
    }
    step(
        root,
        &["bench", "-p", "agentproc", "--bench", "e2e", "--"],
        &e2e,
    )?;
    println!("==> bench: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn step(root: &Path, args: &[&str], extra: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(cargo())
        .args(args)
        .args(extra)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!(
            "`cargo {} {}` failed ({status})",
            args.join(" "),
            extra.join(" ")
        );
    }
    Ok(())
}
