//! `agentproc`: parse the command line, load the configuration, start
//! logging, run the command, and turn the outcome into an exit code.

use std::path::Path;
use std::process::ExitCode;

use agentproc::cli::{Cli, Command};
use agentproc::config::{self, SYSTEM_CONFIG};
use agentproc::serve::{HostEnv, Signals, serve};
use clap::Parser;

/// mimalloc instead of glibc's malloc: per-thread heaps without arena
/// contention. Measured under 200 concurrent starts, glibc's allocator was
/// about 15% of the server's own CPU per start (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Descriptors a launcher left open must not reach the commands we run.
    if let Err(error) = agentproc_exec_local::close_inherited_descriptors_on_exec() {
        eprintln!("agentproc: cannot protect inherited descriptors: {error}");
    }
    // Signals a launcher ignored (`nohup`, a shell's `&`) must still reach
    // the commands we run; agentproc itself keeps ignoring them.
    if let Err(error) = agentproc_exec_local::default_ignored_signals_on_exec() {
        eprintln!("agentproc: cannot reset ignored signals for commands: {error}");
    }
    let cli = Cli::parse();
    let client_command = |command: std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<u8>>>,
    >| {
        let Some(runtime) = runtime(tokio::runtime::Builder::new_current_thread()) else {
            return ExitCode::FAILURE;
        };
        let outcome = runtime.block_on(command);
        // A keyboard read (run -t, attach) may still wait on a blocking
        // thread: do not wait for it.
        runtime.shutdown_background();
        match outcome {
            Ok(code) => ExitCode::from(code),
            // The reader of our output went away (`| head`): quietly,
            // with the status a SIGPIPE death would give.
            Err(error) if error.is::<agentproc::commands::StdoutClosed>() => ExitCode::from(141),
            Err(error) => {
                eprintln!("agentproc: {error:#}");
                ExitCode::FAILURE
            }
        }
    };
    match cli.command {
        Command::Run(args) => client_command(Box::pin(agentproc::commands::run(args))),
        Command::Ps(args) => client_command(Box::pin(agentproc::commands::ps(args))),
        Command::Logs(args) => client_command(Box::pin(agentproc::commands::logs(args))),
        Command::Kill(args) => client_command(Box::pin(agentproc::commands::kill(args))),
        Command::Wait(args) => client_command(Box::pin(agentproc::commands::wait(args))),
        Command::Attach(args) => client_command(Box::pin(agentproc::commands::attach(args))),
        Command::Mcp(args) => mcp(args),
        Command::Openapi => {
            print!("{}", agentproc_api_http::openapi::document_json());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            let settings = match config::load(&args, Path::new(SYSTEM_CONFIG)) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("agentproc: {error:#}");
                    return ExitCode::from(2);
                }
            };
            if let Err(error) = agentproc::logging::init(&settings.log) {
                eprintln!("agentproc: {error:#}");
                return ExitCode::FAILURE;
            }
            for name in config::unknown_env_vars(
                std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()),
            ) {
                tracing::warn!(variable = %name, "ignoring an AGENTPROC_ variable that configures nothing");
            }
            let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
                return ExitCode::FAILURE;
            };
            let outcome = runtime.block_on(async {
                let signals = Signals::install()?;
                serve(settings, HostEnv::from_process(), signals).await
            });
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("agentproc: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `agentproc mcp`: logs on standard error only (standard output is the
/// protocol's).
fn mcp(args: agentproc::cli::McpArgs) -> ExitCode {
    let loaded = agentproc::mcp::load_settings(&args, Path::new(SYSTEM_CONFIG));
    // With --server only the log settings matter, and a configuration
    // meant for servers must not stop a client.
    let log = loaded.as_ref().map_or_else(
        |_| agentproc::mcp::default_log(),
        |settings| settings.log.clone(),
    );
    let settings = match (args.server.is_some(), loaded) {
        (true, _) => None,
        (false, Ok(settings)) => Some(settings),
        (false, Err(error)) => {
            eprintln!("agentproc: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = agentproc::logging::init(&log) {
        eprintln!("agentproc: {error:#}");
        return ExitCode::FAILURE;
    }
    let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    let outcome = runtime.block_on(agentproc::mcp::run(args, settings, HostEnv::from_process()));
    // A read of standard input may still wait on a blocking thread (after
    // a signal): do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agentproc: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime `builder` makes, or `None` after saying why there is none.
fn runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    match builder.enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("agentproc: cannot start the async runtime: {error}");
            None
        }
    }
}
