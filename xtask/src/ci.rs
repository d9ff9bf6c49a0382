//! `cargo xtask ci`: the ordered list of CI steps and the runner that stops at the first failure.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, tidy};

/// One step of the gate.
enum Step {
    /// `cargo <args>`, with extra environment variables.
    Cargo {
        /// Short name, used in the header and in the failure message.
        name: &'static str,
        /// Arguments after `cargo`.
        args: &'static [&'static str],
        /// Extra environment variables, added to (not replacing) any inherited value.
        env: &'static [(&'static str, &'static str)],
    },
    /// The tidy checks, run in this process.
    Tidy,
    /// Every example of [`EXAMPLES`], run.
    Examples,
}

impl Step {
    /// Short name, used in the header and in the failure message.
    fn name(&self) -> &'static str {
        match self {
            Self::Cargo { name, .. } => name,
            Self::Tidy => "tidy",
            Self::Examples => "examples",
        }
    }
}

/// The gate, in order. `--workspace` everywhere: the root manifest may set `default-members`.
const STEPS: &[Step] = &[
    Step::Cargo {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
    },
    Step::Cargo {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step::Cargo {
        name: "test",
        args: &["test", "--workspace", "--all-features"],
        env: &[],
    },
    Step::Cargo {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step::Cargo {
        name: "doc (no features)",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step::Examples,
    Step::Cargo {
        name: "publish (dry run)",
        // Every library crate and the binary package and build as
        // crates.io would have them; nothing is uploaded.
        args: &[
            "publish",
            "--workspace",
            "--dry-run",
            "--allow-dirty",
            "--exclude",
            "xtask",
        ],
        env: &[],
    },
    Step::Tidy,
];

/// The embedding examples (`crates/agent-bin/examples`, linked from the
/// README), each run to completion: they assert what they show.
const EXAMPLES: &[&str] = &[
    "ten_lines",
    "custom_executor",
    "sandbox_custom",
    "http_under_prefix",
    "manual_clock_test",
];

/// Runs every step of [`STEPS`] from `root`, stopping at the first failure.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    for step in STEPS {
        let step_start = Instant::now();
        if let Err(err) = run_step(root, step) {
            bail!(
                "ci failed at step `{}` after {}: {err:#}",
                step.name(),
                secs(start.elapsed())
            );
        }
        println!("    {} ok ({})", step.name(), secs(step_start.elapsed()));
    }
    println!(
        "==> ci: all {} steps passed in {}",
        STEPS.len(),
        secs(start.elapsed())
    );
    Ok(())
}

/// Runs one step, printing its header first.
fn run_step(root: &Path, step: &Step) -> anyhow::Result<()> {
    match step {
        Step::Cargo { name, args, env } => {
            let shown = env
                .iter()
                .map(|(key, value)| format!("{key}='{value}' "))
                .collect::<String>();
            let command_line = format!("{shown}cargo {}", args.join(" "));
            println!("==> {name}: {command_line}");
            let mut command = Command::new(cargo());
            command.args(*args).current_dir(root);
            for (key, value) in *env {
                let merged = match std::env::var(key) {
                    Ok(existing) if !existing.trim().is_empty() => format!("{existing} {value}"),
                    _ => (*value).to_owned(),
                };
                command.env(key, merged);
            }
            let status = command
                .status()
                .with_context(|| format!("could not start `{command_line}`"))?;
            if !status.success() {
                bail!("`{command_line}` failed ({status})");
            }
            Ok(())
        }
        Step::Tidy => {
            println!("==> tidy (in-process)");
            tidy::run(root)
        }
        Step::Examples => {
            for example in EXAMPLES {
                let command_line = format!("cargo run -q -p agentproc --example {example}");
                println!("==> examples: {command_line}");
                let status = Command::new(cargo())
                    .args(["run", "-q", "-p", "agentproc", "--example", example])
                    .current_dir(root)
                    .status()
                    .with_context(|| format!("could not start `{command_line}`"))?;
                if !status.success() {
                    bail!("`{command_line}` failed ({status})");
                }
            }
            Ok(())
        }
    }
}

/// `Duration` as seconds with one decimal, e.g. `12.3s`.
fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
