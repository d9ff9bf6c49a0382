//! `cargo xtask`: command-line entry point of the workspace's own automation,
//! plus the helpers every command shares (workspace root, which `cargo`).
//!
//! Commands:
//! - `cargo xtask ci`: the full local gate (fmt, clippy, test, doc, tidy), see [`ci`];
//! - `cargo xtask tidy`: only the repository invariants, see [`tidy`];
//! - `cargo xtask bench [--quick] [--markdown]`: the benchmarks, see [`bench`](mod@bench);
//! - `cargo xtask fuzz-api [--max-examples N]`: schemathesis against a real
//!   server, see [`fuzz_api`];
//! - `cargo xtask mcp-check`: the official MCP Python SDK against the real
//!   binary, see [`mcp_check`];
//! - `cargo xtask ui-check` and `cargo xtask screenshots`: the web page in a
//!   real browser (Playwright and Debian's Chromium), see [`ui_check`].

mod bench;
mod ci;
mod fuzz_api;
mod harness;
mod mcp_check;
mod tidy;
mod ui_check;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `cargo xtask help` prints.
const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      run the full local CI gate, stopping at the first failure:
          fmt, clippy, test, doc (all with --workspace), then tidy
  tidy    run only the repository invariant checks (crate graph, no
          processes/env/clock outside their owners, doc headers,
          no ignored or should-panic tests, no sleeping tests)
  bench   build in release mode and run the benchmarks: criterion
          micro-benchmarks, then the end-to-end harness, which prints
          ratios against baselines measured in the same run
          options: --quick (smaller, under two minutes once built),
                   --markdown (the table as Markdown, for BENCHMARKS.md)
  fuzz-api
          fuzz a real `agentproc serve` with schemathesis (installed
          from PyPI into target/fuzz-api/venv) against its own OpenAPI
          document: no undocumented status, no server error, every
          response as the document describes it
          options: --max-examples N (per operation and phase; default 100)
  mcp-check
          drive the real binary with the official MCP Python SDK
          (installed from PyPI into target/mcp-check/venv): agentproc mcp
          over stdio (embedded, two at once, --server) and /mcp of
          agentproc serve over Streamable HTTP
  ui-check
          test the web page (/ui) in a real browser: pytest and Playwright
          (pinned, from PyPI, in target/ui-check/venv) drive Debian's
          Chromium (/usr/bin/chromium) against real `agentproc serve`s,
          with and without a token
          options: anything else goes to pytest (e.g. -k kill -v)
  screenshots
          the web page's main views, light and dark, 1280 and 420 px wide,
          as PNGs in docs/ui/ (same harness as ui-check)
  help    print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("ci") if args.len() == 1 => ci::run(&workspace_root()),
        Some("tidy") if args.len() == 1 => tidy::run(&workspace_root()),
        Some("bench") => match bench::Options::parse(&args[1..]) {
            Ok(options) => bench::run(&workspace_root(), options),
            Err(error) => Err(error),
        },
        Some("fuzz-api") => match fuzz_api::Options::parse(&args[1..]) {
            Ok(options) => fuzz_api::run(&workspace_root(), options),
            Err(error) => Err(error),
        },
        Some("mcp-check") if args.len() == 1 => mcp_check::run(&workspace_root()),
        Some("ui-check") => ui_check::check(&workspace_root(), &args[1..]),
        Some("screenshots") if args.len() == 1 => ui_check::screenshots(&workspace_root()),
        Some(_) => {
            eprintln!("xtask: unknown command or arguments: {}\n", args.join(" "));
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's folder (`xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` (relative to the
/// workspace root when relative), else `target/` in the root.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The `cargo` to run: `$CARGO` (set by cargo for `cargo run` and `cargo test`) or `cargo` from `PATH`.
pub(crate) fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}
