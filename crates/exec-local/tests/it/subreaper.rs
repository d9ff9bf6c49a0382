//! The subreaper: daemonized descendants are adopted, reaped when they exit,
//! and stopped on request. It is process-wide, so every scenario is in one
//! test, in order.

use std::io::Write;
use std::time::Duration;

use agentproc_core::exec::ExecChild;
use agentproc_exec_local::{Subreaper, spawn};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::sh;

fn stat_field(pid: u32, field: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(field - 3).map(str::to_owned)
}

/// Starts a shell that leaves `daemon` running in a new session and exits
/// at once; returns the daemon's pid once the shell is gone (so the daemon
/// has been re-parented).
async fn leave_a_daemon(daemon: &str) -> u32 {
    let child = spawn(&sh(&format!(
        "setsid sh -c 'echo $$; {daemon}' >&1 2>/dev/null & exit 0"
    )))
    .expect("spawn");
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    let pid = lines
        .next_line()
        .await
        .expect("read")
        .expect("pid")
        .parse()
        .expect("pid");
    assert!(child.wait().await.expect("wait").status.success());
    // Keep reading in the background so the daemon never blocks on the pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    pid
}

#[tokio::test]
async fn daemons_are_adopted_reaped_and_stopped() {
    let _orphans = crate::ORPHANS.lock().await;
    // Made before installing: once this process is a subreaper, a child not
    // spawned by LocalExecer (like this mkfifo) counts as an orphan.
    let fifo =
        std::env::temp_dir().join(format!("agentproc-subreaper-{}.fifo", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );

    let subreaper = Subreaper::install(None).expect("install");
    let me = std::process::id().to_string();

    // A daemon that exits when told to: its `cat` ends when the FIFO's
    // writer closes it.
    let mut reaped = subreaper.subscribe();
    let exits_later = leave_a_daemon(&format!("cat {} >/dev/null", fifo.display())).await;
    assert_eq!(
        stat_field(exits_later, 4).as_deref(),
        Some(me.as_str()),
        "adopted by us"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open fifo")
        .write_all(b"bye\n")
        .expect("write");
    loop {
        if reaped.recv().await.expect("reaped event") == exits_later {
            break;
        }
    }
    assert_eq!(stat_field(exits_later, 3), None, "reaped, not a zombie");
    let _ = std::fs::remove_file(&fifo);

    // A daemon that would run for ever is stopped on request.
    let runs_forever = leave_a_daemon("exec sleep 300").await;
    assert_eq!(stat_field(runs_forever, 4).as_deref(), Some(me.as_str()));
    subreaper.stop_orphans(Duration::from_secs(5)).await;
    assert_eq!(stat_field(runs_forever, 3), None, "stopped and reaped");
}
