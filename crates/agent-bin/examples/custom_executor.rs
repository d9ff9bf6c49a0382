//! A custom executor that wraps the local one: every command runs under
//! `nice`, with one more environment variable, and each spawn is logged.
//! `MapSpec` forwards everything else (kind, report, terminals, shutdown),
//! so the decorator is only the change it makes.
//!
//! `cargo run -p agentproc --example custom_executor`

use std::sync::Arc;
use std::time::Duration;

use agentproc_core::exec::{Execer, MapSpec};
use agentproc_core::{Manager, ManagerConfig, StartRequest, SystemClock};
use agentproc_exec_local::LocalExecer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gentle: Arc<dyn Execer> =
        Arc::new(MapSpec::new(Arc::new(LocalExecer::default()), |spec| {
            let mut spec = spec.clone();
            eprintln!("spawning {:?} {:?}", spec.program, spec.args);
            // nice -n 10 <program> <args...>
            let mut args = vec!["-n".into(), "10".into(), spec.program.clone()];
            args.append(&mut spec.args);
            spec.program = "nice".into();
            spec.args = args;
            spec.env.insert("BUILT_BY".into(), "my-agent".into());
            spec
        }));
    let manager = Manager::new(ManagerConfig::default(), gentle, Arc::new(SystemClock));
    let started = manager
        .start(StartRequest::new(
            "echo niceness $(nice), built by $BUILT_BY",
        ))
        .await?;
    let done = manager
        .wait_for_exit(started.info.id, None, Duration::MAX)
        .await?;
    print!("{}", done.output);
    assert_eq!(done.output, "niceness 10, built by my-agent\n");
    manager.close().await;
    Ok(())
}
