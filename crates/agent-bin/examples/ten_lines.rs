//! The ten-line agent: a manager with the defaults (the process's own
//! environment, starting in `$HOME`), a command started, its exit awaited,
//! its output printed.
//!
//! `cargo run -p agentproc --example ten_lines`

use std::sync::Arc;
use std::time::Duration;

use agentproc_core::{Manager, ManagerConfig, StartRequest, SystemClock};
use agentproc_exec_local::LocalExecer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::new(
        ManagerConfig::default(),
        Arc::new(LocalExecer::default()),
        Arc::new(SystemClock),
    );
    let started = manager
        .start(StartRequest::new(
            "echo hello from $(basename $SHELL 2>/dev/null || echo sh); exit 3",
        ))
        .await?;
    let done = manager
        .wait_for_exit(started.info.id, None, Duration::MAX)
        .await?;
    print!("{}", done.output);
    println!("exit code {:?}", done.info.exit_code());
    manager.close().await;
    Ok(())
}
