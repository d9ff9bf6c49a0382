//! The sandbox wrapping a custom executor: any [`CommandSpawner`] (here, a
//! decorator of the local executor that adds a variable and counts spawns)
//! gets the sandbox's confinement (cgroups where the host has them, an OOM
//! score, niceness, rlimits, isolation).
//!
//! `cargo run -p agentproc --example sandbox_custom`

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentproc_core::exec::{ExecSpec, SpawnError};
use agentproc_core::{Manager, ManagerConfig, StartRequest, SystemClock};
use agentproc_exec_local::{CommandSpawner, LocalChild, LocalExecer};
use agentproc_exec_sandbox::{CgroupMode, Niceness, SandboxConfig, SandboxExecer};

/// The local executor, counting spawns and marking every command.
#[derive(Debug, Default)]
struct Counting {
    local: LocalExecer,
    spawns: AtomicUsize,
}

impl CommandSpawner for Counting {
    fn spawn_command(
        &self,
        spec: &ExecSpec,
        customize: &mut dyn FnMut(&mut Command),
    ) -> Result<LocalChild, SpawnError> {
        let number = self.spawns.fetch_add(1, Ordering::Relaxed) + 1;
        self.local.spawn_command(spec, &mut |command| {
            command.env("SPAWN_NUMBER", number.to_string());
            customize(command);
        })
    }

    fn supports_terminal(&self) -> bool {
        self.local.supports_terminal()
    }

    fn shutdown(
        &self,
        grace: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        CommandSpawner::shutdown(&self.local, grace)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = SandboxExecer::new(
        Counting::default(),
        SandboxConfig {
            niceness: Niceness::Absolute(12),
            // Runs anywhere: no cgroup limits asked for here.
            cgroups: CgroupMode::Off,
            ..SandboxConfig::default()
        },
    )?;
    let manager = Manager::new(
        ManagerConfig::default(),
        Arc::new(sandbox),
        Arc::new(SystemClock),
    );
    let started = manager
        .start(StartRequest::new(
            "echo spawn $SPAWN_NUMBER at niceness $(nice)",
        ))
        .await?;
    let done = manager
        .wait_for_exit(started.info.id, None, Duration::MAX)
        .await?;
    print!("{}", done.output);
    assert_eq!(done.output, "spawn 1 at niceness 12\n");
    manager.close().await;
    Ok(())
}
