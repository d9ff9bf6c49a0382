//! Integration tests of `LocalExecer` with real processes. Every wait is on
//! an event (exit, end of output), never on time.

use std::ffi::OsString;
use std::path::PathBuf;

use agentproc_core::exec::{ExecChild, ExecSpec, Execer, ExitStatus, Signal, SpawnError};
use agentproc_exec_local::LocalExecer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

mod journal;
mod subreaper;
mod terminal;

/// Held by tests that leave descendants running after their shell exits:
/// the subreaper test stops every adopted orphan in this process, which
/// must not include theirs.
pub(crate) static ORPHANS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn sh(script: &str) -> ExecSpec {
    let mut spec = ExecSpec::new("sh");
    spec.args = vec!["-c".into(), script.into()];
    spec.env
        .insert("PATH".into(), std::env::var_os("PATH").unwrap_or_default());
    spec
}

fn spawn(spec: &ExecSpec) -> Box<dyn ExecChild> {
    LocalExecer::default().spawn(spec).expect("spawn")
}

async fn read_all(child: &dyn ExecChild) -> String {
    let mut output = child.take_output().expect("output");
    let mut text = String::new();
    output.read_to_string(&mut text).await.expect("read");
    text
}

#[tokio::test]
async fn exit_codes_are_reported_as_data() {
    for (script, code) in [("true", 0), ("exit 42", 42), ("false", 1)] {
        let child = spawn(&sh(script));
        let exit = child.wait().await.expect("wait");
        assert_eq!(exit.status, ExitStatus::Exited(code), "{script}");
    }
}

#[tokio::test]
async fn stdout_and_stderr_share_one_pipe_in_write_order() {
    let child = spawn(&sh("echo a; echo b >&2; echo c; echo d >&2; printf e"));
    let text = read_all(child.as_ref()).await;
    assert_eq!(text, "a\nb\nc\nd\ne");
    assert!(child.wait().await.expect("wait").status.success());
}

#[tokio::test]
async fn stdin_is_the_null_device() {
    let child = spawn(&sh("cat; echo \"status=$?\""));
    assert_eq!(read_all(child.as_ref()).await, "status=0\n");
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn the_environment_is_exactly_the_spec() {
    let mut spec = sh("env | sort");
    spec.env.insert("AGENTPROC_TEST".into(), "yes".into());
    let child = spawn(&spec);
    let text = read_all(child.as_ref()).await;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| !["PWD", "SHLVL", "_", "OLDPWD"].contains(name))
        .collect();
    assert_eq!(names, ["AGENTPROC_TEST", "PATH"]);
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn the_working_directory_is_applied() {
    let dir = std::env::temp_dir().canonicalize().expect("temp dir");
    let mut spec = sh("pwd -P");
    spec.cwd = Some(dir.clone());
    let child = spawn(&spec);
    assert_eq!(
        read_all(child.as_ref()).await.trim_end(),
        dir.to_str().expect("utf-8")
    );
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn the_child_leads_its_own_process_group() {
    let child = spawn(&sh("cut -d' ' -f5 /proc/$$/stat"));
    let pgid: u32 = read_all(child.as_ref()).await.trim().parse().expect("pgid");
    assert_eq!(Some(pgid), child.pid());
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn signals_end_the_child_and_are_reported() {
    for (signal, number) in [
        (Signal::Terminate, 15),
        (Signal::Kill, 9),
        (Signal::Interrupt, 2),
        (Signal::Hangup, 1),
    ] {
        // `exec` so the signal's target is the sleep itself.
        let child = spawn(&sh("exec sleep 300"));
        child.signal(signal).expect("signal");
        let exit = child.wait().await.expect("wait");
        assert_eq!(
            exit.status,
            ExitStatus::Signaled {
                signal: number,
                core_dumped: false
            },
            "{signal}"
        );
    }
}

#[tokio::test]
async fn a_group_kill_reaches_a_backgrounded_grandchild() {
    let child = spawn(&sh("sleep 300 & echo $!; wait"));
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    let grandchild = lines.next_line().await.expect("read").expect("a pid line");
    assert!(grandchild.parse::<u32>().is_ok());
    child.signal(Signal::Kill).expect("kill");
    // End of output means every holder of the pipe, the grandchild
    // included, has exited. (The timeout only guards against a hang if the
    // grandchild survived; the sleep would hold the pipe for 300 s.)
    let end = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("the grandchild survived the group kill");
    assert_eq!(end.expect("read"), None);
    assert!(matches!(
        child.wait().await.expect("wait").status,
        ExitStatus::Signaled { signal: 9, .. }
    ));
}

#[tokio::test]
async fn wait_does_not_depend_on_descendants_holding_the_pipe() {
    let _orphans = ORPHANS.lock().await;
    let child = spawn(&sh("sleep 300 & echo started"));
    let mut output = BufReader::new(child.take_output().expect("output"));
    let mut first = String::new();
    output.read_line(&mut first).await.expect("read");
    assert_eq!(first, "started\n");
    // The shell exits at once; the sleep keeps the pipe open.
    assert!(child.wait().await.expect("wait").status.success());
    // A signal after the wait still reaches what is left of the group.
    child
        .signal(Signal::Kill)
        .expect("the sleep is still in the group");
    let mut rest = String::new();
    output.read_to_string(&mut rest).await.expect("read to end");
    assert_eq!(rest, "");
}

#[tokio::test]
async fn wait_resolves_once_and_reports_usage() {
    let child = spawn(&sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"));
    let exit = child.wait().await.expect("wait");
    let usage = exit.usage.expect("wait4 reports usage");
    assert!(!(usage.user_cpu + usage.system_cpu).is_zero(), "{usage:?}");
    assert!(child.wait().await.is_err(), "second wait");
}

/// The peak memory of a command is its own, never the spawning process's
/// (which the kernel folds into a child's peak until `exec`).
#[tokio::test]
async fn peak_memory_is_the_commands_own() {
    // dd touches its whole 256 MiB buffer.
    let big = spawn(&sh(
        "dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null",
    ));
    let usage = big.wait().await.expect("wait").usage.expect("usage");
    let peak = usage.max_rss_bytes.expect("above agentproc's own peak");
    assert!((256 << 20..400 << 20).contains(&peak), "{peak}");
    // A tiny command's peak cannot be told from this test process's.
    let small = spawn(&sh("true"));
    let usage = small.wait().await.expect("wait").usage.expect("usage");
    assert_eq!(usage.max_rss_bytes, None);
}

#[tokio::test]
async fn output_can_be_taken_once() {
    let child = spawn(&sh("true"));
    assert!(child.take_output().is_some());
    assert!(child.take_output().is_none());
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn a_missing_program_reads_like_go() {
    let mut spec = ExecSpec::new("agentproc-no-such-program");
    spec.env
        .insert("PATH".into(), OsString::from("/usr/bin:/bin"));
    let error = LocalExecer::default()
        .spawn(&spec)
        .expect_err("missing program");
    assert!(matches!(error, SpawnError::ProgramNotFound { .. }));
    assert_eq!(
        error.to_string(),
        "exec: \"agentproc-no-such-program\": executable file not found in $PATH"
    );
}

#[tokio::test]
async fn a_missing_workdir_reads_like_go() {
    let mut spec = sh("true");
    spec.cwd = Some(PathBuf::from("/agentproc/no/such/dir"));
    let error = LocalExecer::default()
        .spawn(&spec)
        .expect_err("missing dir");
    assert_eq!(
        error.to_string(),
        "chdir /agentproc/no/such/dir: no such file or directory"
    );

    let file = std::env::current_exe().expect("test binary path");
    spec.cwd = Some(file.clone());
    let error = LocalExecer::default().spawn(&spec).expect_err("not a dir");
    assert_eq!(
        error.to_string(),
        format!("chdir {}: not a directory", file.display())
    );
}

#[tokio::test]
async fn signal_names_come_from_the_platform() {
    assert_eq!(agentproc_exec_local::signal_name(9), Some("SIGKILL"));
    assert_eq!(agentproc_exec_local::signal_name(15), Some("SIGTERM"));
    assert_eq!(agentproc_exec_local::signal_name(4242), None);
}
