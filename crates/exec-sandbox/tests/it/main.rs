//! The sandbox with real processes and real cgroups: limits that bite
//! (pids, CPU), niceness, OOM score and rlimits seen from inside the child,
//! a `setsid` escapee killed with its tree, cgroups removed afterwards.
//! Memory limits and OOM attribution run against a fake cgroup tree in a
//! temporary directory (this host's memory hierarchy is not ours to write);
//! a real memory test runs when `AGENTPROC_TEST_MEMORY_CGROUPS=1`.
//!
//! A test that needs something the host lacks says so and returns, unless
//! `AGENTPROC_REQUIRE_CGROUPS=1` (set by CI, whose hosts have what these
//! tests need), which turns that into a failure.

mod fake;

use std::path::Path;
use std::time::Duration;

use agentproc_core::exec::{ExecChild, ExecSpec, ExitStatus, Signal, SpawnError, TerminalSize};
use agentproc_core::{Execer, ResourceLimits};
use agentproc_exec_local::LocalExecer;
use agentproc_exec_sandbox::{
    CgroupKind, CgroupMode, Niceness, OomScoreAdj, Rlimits, SandboxChild, SandboxConfig,
    SandboxExecer,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Whether the host can do `what`; when it cannot, a skip (or, with
/// `AGENTPROC_REQUIRE_CGROUPS` set, a failure).
fn host_can(what: &str, can: bool) -> bool {
    if !can {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_CGROUPS").is_none(),
            "this host was expected to {what} (AGENTPROC_REQUIRE_CGROUPS is set)"
        );
        eprintln!("skipped: this host cannot {what}");
    }
    can
}

fn sh(script: &str) -> ExecSpec {
    ExecSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: [("PATH".into(), "/usr/bin:/bin".into())].into(),
        ..ExecSpec::default()
    }
}

fn sandbox(config: SandboxConfig) -> SandboxExecer {
    SandboxExecer::new(LocalExecer::default(), config).expect("sandbox setup")
}

fn can_limit(sandbox: &SandboxExecer, limit: &str) -> bool {
    sandbox.report().enforceable.contains(&limit)
}

async fn output_of(child: &SandboxChild) -> String {
    let mut output = String::new();
    child
        .take_output()
        .expect("output")
        .read_to_string(&mut output)
        .await
        .expect("read");
    output
}

#[tokio::test]
async fn niceness_oom_score_and_rlimits_are_set_in_the_child() {
    let sandbox = sandbox(SandboxConfig {
        niceness: Niceness::Absolute(7),
        oom_score_adj: OomScoreAdj::Value(600),
        rlimits: Rlimits {
            open_files: Some(200),
            core_bytes: Some(0),
            file_size_bytes: Some(1 << 20),
            ..Rlimits::default()
        },
        cgroups: CgroupMode::Off,
        ..SandboxConfig::default()
    });
    let child = sandbox
        .spawn_sandboxed(&sh(
            "cat /proc/self/oom_score_adj; cut -d' ' -f19 /proc/self/stat; \
             grep -E '^Max (open files|core file size|file size)' /proc/self/limits",
        ))
        .expect("spawn");
    let output = output_of(&child).await;
    assert_eq!(
        child.wait().await.expect("wait").status,
        ExitStatus::Exited(0)
    );
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "600", "{output}");
    assert_eq!(lines[1], "7", "{output}");
    let limit = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {output}"))
            .split_whitespace()
            .collect()
    };
    // "Max open files  200  200  files": soft and hard.
    assert_eq!(limit("Max open files")[3..5], ["200", "200"]);
    assert_eq!(limit("Max core file size")[4..6], ["0", "0"]);
    assert_eq!(limit("Max file size")[3..5], ["1048576", "1048576"]);
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_default_policy_is_agent_execs() {
    let own_nice: i32 = std::fs::read_to_string("/proc/self/stat")
        .expect("stat")
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .nth(16)
        .expect("nice field")
        .parse()
        .expect("number");
    let sandbox = sandbox(SandboxConfig {
        cgroups: CgroupMode::Off,
        ..SandboxConfig::default()
    });
    let child = sandbox
        .spawn_sandboxed(&sh(
            "cat /proc/self/oom_score_adj; cut -d' ' -f19 /proc/self/stat",
        ))
        .expect("spawn");
    let output = output_of(&child).await;
    child.wait().await.expect("wait");
    let own_oom: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .expect("oom")
        .trim()
        .parse()
        .expect("number");
    let expected_oom = if own_oom < 0 {
        0
    } else if own_oom >= 998 {
        1000
    } else {
        998
    };
    assert_eq!(
        output,
        format!("{expected_oom}\n{}\n", (own_nice + 5).min(19))
    );
}

#[tokio::test]
async fn a_failed_setup_step_is_named_and_nothing_runs() {
    // Lowering the OOM score below agentproc's own needs CAP_SYS_RESOURCE,
    // which root on this host lacks (elsewhere the step may succeed, and
    // there is nothing to check).
    let own_oom: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .expect("oom")
        .trim()
        .parse()
        .expect("number");
    let sandbox = sandbox(SandboxConfig {
        oom_score_adj: OomScoreAdj::Value(own_oom - 1),
        cgroups: CgroupMode::Off,
        ..SandboxConfig::default()
    });
    match sandbox.spawn_sandboxed(&sh("true")) {
        Err(SpawnError::Sandbox { step, error }) => {
            assert_eq!(
                step,
                format!(
                    "set oom_score_adj to {} (a score below agentproc's own, {own_oom}, needs CAP_SYS_RESOURCE)",
                    own_oom - 1
                )
            );
            assert_eq!(error.raw_os_error(), Some(libc::EACCES), "{error}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(child) => {
            child.wait().await.expect("wait");
        }
    }
}

#[tokio::test]
async fn limits_the_host_cannot_enforce_are_refused_never_ignored() {
    let sandbox = sandbox(SandboxConfig {
        cgroups: CgroupMode::Off,
        ..SandboxConfig::default()
    });
    let mut spec = sh("true");
    spec.limits.pids = Some(10);
    match sandbox.spawn_sandboxed(&spec) {
        Err(SpawnError::Refused { reason }) => assert_eq!(
            reason,
            "limits.pids cannot be enforced on this host: cgroups are turned off in the sandbox configuration."
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A configured default that cannot be enforced fails the setup.
    let error = SandboxExecer::new(
        LocalExecer::default(),
        SandboxConfig {
            cgroups: CgroupMode::Off,
            default_limits: ResourceLimits {
                memory_bytes: Some(1 << 30),
                ..ResourceLimits::default()
            },
            ..SandboxConfig::default()
        },
    )
    .expect_err("setup must fail");
    assert!(
        error
            .to_string()
            .starts_with("the default limits.memory_bytes cannot be enforced"),
        "{error}"
    );
}

#[tokio::test]
async fn requests_above_the_maximum_are_refused() {
    let tree = fake::Tree::v2();
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig {
            max_limits: ResourceLimits {
                pids: Some(64),
                ..ResourceLimits::default()
            },
            ..SandboxConfig::default()
        },
        &tree.hierarchies(),
    )
    .expect("setup");
    let mut spec = sh("true");
    spec.limits.pids = Some(65);
    match sandbox.spawn_sandboxed(&spec) {
        Err(SpawnError::Refused { reason }) => assert_eq!(
            reason,
            "limits.pids of 65 is above this agentproc's maximum of 64."
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pids_limit_caps_a_fork_loop_and_the_exit_reports_it() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("limit pids", can_limit(&sandbox, "pids")) {
        return;
    }
    // Up to 30 forks; the shell and at most 7 sleeps fit in 8. dash gives
    // up at the first fork the kernel refuses.
    let mut spec = sh("i=0; while [ $i -lt 30 ]; do i=$((i+1)); sleep 300 & done; echo looped");
    spec.limits.pids = Some(8);
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let exit = child.wait().await.expect("wait");
    assert_ne!(exit.status, ExitStatus::Exited(0));
    let usage = exit.usage.expect("usage");
    assert!(
        usage.forks_refused.is_some_and(|refused| refused >= 1),
        "{usage:?}"
    );
    // The sleeps that did start are all that is left in the cgroup.
    let members: usize = child
        .cgroup_dirs()
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .map(|procs| procs.lines().count())
        .max()
        .expect("members");
    assert!(
        (1..=7).contains(&members),
        "{members} sleeps under pids.max=8"
    );
    child.signal(Signal::Kill).expect("kill the sleeps");
    let output = output_of(&child).await;
    assert!(output.contains("Cannot fork"), "{output}");
    assert!(!output.contains("looped"), "{output}");
    assert_eq!(child.limits().pids, Some(8));
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_cpu_quota_throttles_a_busy_loop() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("limit CPU", can_limit(&sandbox, "cpu_cores")) {
        return;
    }
    let mut spec = sh("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
    spec.limits.cpu_millicores = Some(100);
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let exit = child.wait().await.expect("wait");
    assert_eq!(exit.status, ExitStatus::Exited(0));
    // The kernel's own counter, not wall time.
    let usage = exit.usage.expect("usage");
    assert!(
        usage
            .cpu_throttled
            .is_some_and(|throttled| !throttled.is_zero()),
        "{usage:?}"
    );
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn usage_counts_the_whole_tree() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        return;
    }
    // The busy work is done by a grandchild the shell never waits for
    // (wait4's usage would miss it); the shell waits on a FIFO instead.
    let dir = tempdir("tree-usage");
    let fifo = dir.join("done");
    mkfifo(&fifo);
    let child = sandbox
        .spawn_sandboxed(&sh(&format!(
            "(sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo > {0}' &); read _ < {0}",
            fifo.display()
        )))
        .expect("spawn");
    let exit = child.wait().await.expect("wait");
    let usage = exit.usage.expect("usage");
    assert!(
        usage.user_cpu + usage.system_cpu >= Duration::from_millis(20),
        "{usage:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn kill_reaches_a_setsid_escapee() {
    let sandbox = sandbox(SandboxConfig::default());
    let report = sandbox.report();
    if !host_can(
        "kill a whole tree through its cgroup",
        report.cgroups.as_deref().is_some_and(|kind| kind != "none")
            && !report.warnings.iter().any(|w| w.contains("cgroup.kill")),
    ) {
        return;
    }
    let child = sandbox
        .spawn_sandboxed(&sh(
            "setsid sh -c 'echo $$; exec sleep 300' & exec sleep 300",
        ))
        .expect("spawn");
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    let escapee: u32 = lines
        .next_line()
        .await
        .expect("read")
        .expect("a pid")
        .parse()
        .expect("pid");
    // It left the process group: killpg alone would miss it.
    assert_ne!(session_of(escapee), session_of(child.pid().expect("pid")));
    child.signal(Signal::Kill).expect("kill");
    let exit = child.wait().await.expect("wait");
    assert!(matches!(
        exit.status,
        ExitStatus::Signaled { signal: 9, .. }
    ));
    let alive = agentproc_exec_local::wait_until_dead(&[escapee], Duration::from_secs(30));
    assert!(alive.is_empty(), "the escapee survived");
    assert_eq!(sandbox.collect_garbage(), 0);
    for dir in child.cgroup_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_terminate_reaches_every_member_of_the_tree() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        return;
    }
    let child = sandbox
        .spawn_sandboxed(&sh(
            "setsid sh -c 'trap \"echo escapee got TERM; exit 0\" TERM; echo ready; while :; do sleep 1; done' & \
             trap 'wait; exit 3' TERM; read _; wait",
        ))
        .expect("spawn");
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    assert_eq!(
        lines.next_line().await.expect("read").as_deref(),
        Some("ready")
    );
    child.signal(Signal::Terminate).expect("terminate");
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read") {
        rest.push(line);
    }
    assert!(rest.contains(&"escapee got TERM".to_owned()), "{rest:?}");
    let exit = child.wait().await.expect("wait");
    assert_ne!(exit.status, ExitStatus::Exited(0));
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn cgroups_are_removed_after_exit_and_kept_while_descendants_run() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        return;
    }
    let quick = sandbox.spawn_sandboxed(&sh("true")).expect("spawn");
    let dirs = quick.cgroup_dirs();
    assert!(!dirs.is_empty());
    assert!(dirs.iter().all(|dir| dir.is_dir()));
    quick.wait().await.expect("wait");
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    // A daemon outlives its shell: the cgroup stays until it is gone.
    let parent = sandbox
        .spawn_sandboxed(&sh("setsid sleep 300 >/dev/null 2>&1 & echo $!"))
        .expect("spawn");
    let daemon: u32 = output_of(&parent).await.trim().parse().expect("pid");
    parent.wait().await.expect("wait");
    assert_eq!(sandbox.collect_garbage(), 1);
    assert!(parent.cgroup_dirs().iter().all(|dir| dir.is_dir()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    assert!(agentproc_exec_local::wait_until_dead(&[daemon], Duration::from_secs(30)).is_empty());
    // The daemon is dead; its parent (init) reaps it, after which the
    // cgroup is empty. Wait on the kernel's own notion of emptiness.
    wait_until_empty(&parent.cgroup_dirs());
    assert_eq!(sandbox.collect_garbage(), 0);
    for dir in parent.cgroup_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_stops_what_is_left_and_removes_every_cgroup() {
    let sandbox = sandbox(SandboxConfig::default());
    if !host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        return;
    }
    let parent = sandbox
        .spawn_sandboxed(&sh("setsid sleep 300 >/dev/null 2>&1 & echo $!"))
        .expect("spawn");
    let daemon: u32 = output_of(&parent).await.trim().parse().expect("pid");
    parent.wait().await.expect("wait");
    let process_dirs = parent.cgroup_dirs();
    let parents: Vec<_> = process_dirs
        .iter()
        .map(|dir| dir.parent().expect("parent").to_path_buf())
        .collect();
    sandbox.shutdown(Duration::from_secs(10)).await;
    assert!(agentproc_exec_local::wait_until_dead(&[daemon], Duration::from_secs(30)).is_empty());
    for dir in process_dirs.iter().chain(&parents) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[tokio::test]
async fn a_real_memory_limit_reports_the_oom_kill() {
    // Opt-in: this host's memory hierarchy belongs to the host.
    if std::env::var_os("AGENTPROC_TEST_MEMORY_CGROUPS").is_none() {
        eprintln!("skipped: set AGENTPROC_TEST_MEMORY_CGROUPS=1 to run");
        return;
    }
    let sandbox = sandbox(SandboxConfig {
        v1_memory: true,
        ..SandboxConfig::default()
    });
    assert!(
        can_limit(&sandbox, "memory_bytes"),
        "{:?}",
        sandbox.report()
    );
    let mut spec = sh("x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived");
    spec.limits.memory_bytes = Some(64 << 20);
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let output = output_of(&child).await;
    let exit = child.wait().await.expect("wait");
    assert!(exit.oom_killed, "{exit:?} {output}");
    sandbox.shutdown(Duration::from_secs(5)).await;
}

/// A terminal child gets the same confinement: its cgroups, niceness; its
/// terminal, input and input-wait detection come through the sandbox.
#[tokio::test]
async fn a_terminal_child_is_confined_like_any_other() {
    let sandbox = sandbox(SandboxConfig {
        niceness: Niceness::Absolute(7),
        ..SandboxConfig::default()
    });
    assert!(sandbox.supports_terminal());
    let mut spec = sh("stty size; cut -d' ' -f19 /proc/$$/stat; read x; echo \"got $x\"");
    spec.terminal = Some(TerminalSize::new(31, 97).expect("size"));
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let pid = child.pid().expect("pid");
    // The shell reads once it has printed the rest: a wait on the kernel's
    // state, polled (the deadline only guards against a hang).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.blocked_on_input() != Some(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell never waited for input"
        );
        tokio::task::yield_now().await;
    }
    let modes = child
        .terminal()
        .expect("a terminal")
        .modes()
        .expect("modes");
    assert!(modes.canonical && modes.echo, "{modes:?}");
    if host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        let dirs = child.cgroup_dirs();
        assert!(!dirs.is_empty());
        for dir in &dirs {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("procs");
            assert!(
                procs.lines().any(|line| line == pid.to_string()),
                "{pid} not in {}: {procs}",
                dir.display()
            );
        }
    }
    let mut input = child.take_stdin().expect("the terminal's input");
    input.write_all(b"go\n").await.expect("type");
    // On a terminal, lines end in \r\n and input is echoed.
    assert_eq!(output_of(&child).await, "31 97\r\n7\r\ngo\r\ngot go\r\n");
    assert_eq!(
        child.wait().await.expect("wait").status,
        ExitStatus::Exited(0)
    );
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_report_says_what_is_enforced() {
    let sandbox = sandbox(SandboxConfig {
        niceness: Niceness::Absolute(3),
        oom_score_adj: OomScoreAdj::Value(700),
        rlimits: Rlimits {
            core_bytes: Some(0),
            ..Rlimits::default()
        },
        cgroups: CgroupMode::Off,
        ..SandboxConfig::default()
    });
    let report = sandbox.report();
    assert_eq!(report.kind, "sandbox");
    assert_eq!(report.cgroups.as_deref(), Some("none"));
    assert!(report.enforceable.is_empty());
    assert_eq!(
        report.settings,
        vec![
            ("niceness".to_owned(), "3".to_owned()),
            ("oom_score_adj".to_owned(), "700".to_owned()),
            ("rlimit_core".to_owned(), "0".to_owned()),
        ]
    );
}

fn session_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    stat.rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .nth(3)
        .expect("session")
        .parse()
        .expect("number")
}

/// Blocks until none of `dirs` lists a process (on the exit events
/// themselves: pidfds of the members).
fn wait_until_empty(dirs: &[std::path::PathBuf]) {
    for _ in 0..100 {
        let members: Vec<u32> = dirs
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .flat_map(|procs| {
                procs
                    .split_whitespace()
                    .filter_map(|pid| pid.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        if members.is_empty() {
            return;
        }
        agentproc_exec_local::wait_until_dead(&members, Duration::from_secs(30));
    }
    panic!("{dirs:?} never emptied");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("agentproc-sandbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// Blocks the child on a FIFO until [`Gate::open`], so the test can set the
/// fake counters of its cgroup while it runs.
struct Gate {
    dir: std::path::PathBuf,
}

impl Gate {
    fn new(name: &str) -> Self {
        let dir = tempdir(name);
        mkfifo(&dir.join("gate"));
        Self { dir }
    }

    fn script(&self) -> String {
        format!("read _ < {}", self.dir.join("gate").display())
    }

    fn open(&self) {
        std::fs::write(self.dir.join("gate"), "go\n").expect("open the gate");
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn v2_memory_limits_oom_attribution_and_usage_on_a_fake_tree() {
    let tree = fake::Tree::v2();
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig {
            default_limits: ResourceLimits {
                pids: Some(100),
                ..ResourceLimits::default()
            },
            ..SandboxConfig::default()
        },
        &tree.hierarchies(),
    )
    .expect("setup");
    assert_eq!(sandbox.cgroup_kind(), CgroupKind::V2);
    assert_eq!(
        sandbox.report().enforceable,
        ["memory_bytes", "memory_high_bytes", "cpu_cores", "pids"]
    );
    let gate = Gate::new("fake-v2");
    let mut spec = sh(&gate.script());
    spec.limits = ResourceLimits {
        memory_bytes: Some(512 << 20),
        memory_high_bytes: Some(384 << 20),
        cpu_millicores: Some(1500),
        pids: None,
    };
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let dirs = child.cgroup_dirs();
    assert_eq!(dirs.len(), 1);
    let dir = &dirs[0];
    assert_eq!(fake::get(dir, "memory.max"), "536870912");
    assert_eq!(fake::get(dir, "memory.high"), "402653184");
    assert_eq!(fake::get(dir, "cpu.max"), "150000 100000");
    // The default fills in what the start did not ask for.
    assert_eq!(fake::get(dir, "pids.max"), "100");
    // The child wrote itself into its cgroup before running.
    assert_eq!(fake::get(dir, "cgroup.procs"), "0");
    assert_eq!(
        child.limits(),
        ResourceLimits {
            pids: Some(100),
            ..spec.limits
        }
    );

    // What the kernel would report: an OOM kill, peak memory, CPU time.
    fake::set(
        dir,
        "memory.events",
        "low 0\nhigh 3\nmax 7\noom 1\noom_kill 1\n",
    );
    fake::set(dir, "memory.peak", "536870912\n");
    fake::set(
        dir,
        "cpu.stat",
        "usage_usec 3500\nuser_usec 2500\nsystem_usec 1000\nthrottled_usec 700\n",
    );
    fake::set(dir, "pids.events", "max 0\n");
    gate.open();
    let exit = child.wait().await.expect("wait");
    assert!(exit.oom_killed);
    let usage = exit.usage.expect("usage");
    assert_eq!(usage.max_rss_bytes, Some(512 << 20));
    assert_eq!(usage.user_cpu, Duration::from_micros(2500));
    assert_eq!(usage.system_cpu, Duration::from_micros(1000));
    assert_eq!(usage.cpu_throttled, Some(Duration::from_micros(700)));
    assert_eq!(usage.forks_refused, Some(0));
    assert!(!dir.exists(), "the process cgroup is removed");
    sandbox.shutdown(Duration::from_secs(5)).await;
    assert!(
        !dir.parent().expect("parent").exists(),
        "agentproc's cgroup is removed"
    );
}

#[tokio::test]
async fn without_an_oom_kill_the_exit_is_not_blamed_on_memory() {
    let tree = fake::Tree::v2();
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig::default(),
        &tree.hierarchies(),
    )
    .expect("setup");
    let gate = Gate::new("fake-v2-no-oom");
    let mut spec = sh(&gate.script());
    spec.limits.memory_bytes = Some(1 << 30);
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    fake::set(
        &child.cgroup_dirs()[0],
        "memory.events",
        "oom 0\noom_kill 0\n",
    );
    gate.open();
    let exit = child.wait().await.expect("wait");
    assert!(!exit.oom_killed);
    assert_eq!(exit.status, ExitStatus::Exited(0));
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn v1_memory_limits_and_oom_attribution_on_a_fake_tree() {
    let tree = fake::Tree::v1_memory();
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig {
            cgroups: CgroupMode::V1,
            v1_memory: true,
            ..SandboxConfig::default()
        },
        &tree.hierarchies(),
    )
    .expect("setup");
    assert_eq!(sandbox.cgroup_kind(), CgroupKind::V1);
    // memory.high is a v2 feature.
    let mut high = sh("true");
    high.limits.memory_high_bytes = Some(1 << 20);
    assert!(matches!(
        sandbox.spawn_sandboxed(&high),
        Err(SpawnError::Refused { reason }) if reason == "limits.memory_high_bytes cannot be enforced on this host: it needs the cgroup v2 memory controller, which is not usable here."
    ));

    let gate = Gate::new("fake-v1");
    let mut spec = sh(&gate.script());
    spec.limits.memory_bytes = Some(256 << 20);
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let dirs = child.cgroup_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    assert_eq!(fake::get(dir, "memory.limit_in_bytes"), "268435456");
    fake::set(
        dir,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    fake::set(dir, "memory.max_usage_in_bytes", "268435456\n");
    gate.open();
    let exit = child.wait().await.expect("wait");
    assert!(exit.oom_killed);
    assert_eq!(exit.usage.expect("usage").max_rss_bytes, Some(256 << 20));
    sandbox.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_v1_memory_hierarchy_is_used_only_when_allowed() {
    let tree = fake::Tree::v1_memory();
    // Only a v1 memory hierarchy, not allowed: nothing usable.
    let error = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig {
            cgroups: CgroupMode::V1,
            ..SandboxConfig::default()
        },
        &tree.hierarchies(),
    )
    .expect_err("nothing usable");
    assert!(
        error.to_string().contains("cgroup v1 is required"),
        "{error}"
    );
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig::default(),
        &tree.hierarchies(),
    )
    .expect("auto degrades");
    let mut spec = sh("true");
    spec.limits.memory_bytes = Some(1 << 30);
    match sandbox.spawn_sandboxed(&spec) {
        Err(SpawnError::Refused { reason }) => {
            assert!(
                reason.starts_with("limits.memory_bytes cannot be enforced"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_explicit_cgroup_version_the_host_lacks_fails_the_setup() {
    let tree = fake::Tree::v1_memory();
    let error = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig {
            cgroups: CgroupMode::V2,
            ..SandboxConfig::default()
        },
        &tree.hierarchies(),
    )
    .expect_err("no v2 here");
    assert_eq!(
        error.to_string(),
        "cgroups: cgroup v2 is required by the configuration, but no cgroup2 filesystem is mounted"
    );
}

/// Cgroups an agentproc that is no longer running left behind (a crash)
/// are removed when the next sandbox is set up; those of live processes
/// (another running agentproc) are left alone.
#[tokio::test]
async fn cgroups_of_a_dead_agentproc_are_swept() {
    let tree = fake::Tree::v2();
    let base = tree.hierarchies().v2.expect("v2");
    // No process has pid u32::MAX - 1 (pid_max is far lower).
    let dead = base.join(format!("agentproc-{}-0", u32::MAX - 1));
    std::fs::create_dir_all(dead.join("3")).expect("stale");
    fake::set(&dead.join("3"), "cgroup.procs", "");
    let alive = base.join(format!("agentproc-{}-99", std::process::id()));
    std::fs::create_dir_all(&alive).expect("live");
    // Our pid but another start time: an earlier process that had our pid
    // (a restarted container's PID 1), so dead.
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let start_time: u64 = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .nth(19)
        .expect("start time")
        .parse()
        .expect("number");
    let reused = base.join(format!(
        "agentproc-{}-{}-0",
        std::process::id(),
        start_time.saturating_sub(1)
    ));
    std::fs::create_dir_all(reused.join("1/nested")).expect("reused");
    let unrelated = base.join("user.slice");
    std::fs::create_dir_all(&unrelated).expect("other");
    let sandbox = SandboxExecer::with_hierarchies(
        LocalExecer::default(),
        SandboxConfig::default(),
        &tree.hierarchies(),
    )
    .expect("setup");
    assert!(!dead.exists(), "the dead agentproc's cgroups are gone");
    assert!(!reused.exists(), "a reused pid's cgroups are gone");
    assert!(alive.exists(), "a live agentproc's cgroups stay");
    assert!(unrelated.exists(), "cgroups not named like ours stay");
    sandbox.shutdown(Duration::from_secs(5)).await;
}

/// A command may make cgroups of its own below its cgroup (a test suite, a
/// container runtime): signals still reach every member, and cleanup removes
/// them too.
#[tokio::test]
async fn members_in_sub_cgroups_are_signalled_and_cleaned_up() {
    let sandbox = sandbox(SandboxConfig::default());
    let Some(v2) = agentproc_exec_sandbox::Hierarchies::of_this_process()
        .ok()
        .and_then(|found| found.v2)
    else {
        assert!(host_can("use cgroup v2", false));
        return;
    };
    if !host_can("use cgroups", sandbox.cgroup_kind() != CgroupKind::None) {
        return;
    }
    // The command finds its own v2 cgroup, makes `sub`, and moves a child
    // there.
    let mut spec = sh(
        "d=\"$V2$(sed -n 's/^0:://p' /proc/self/cgroup)\"; mkdir \"$d/sub\"; \
         sh -c 'echo $$ > \"$1/sub/cgroup.procs\"; echo $$; exec sleep 300' moved \"$d\" & wait",
    );
    spec.env.insert("V2".into(), v2.into_os_string());
    let child = sandbox.spawn_sandboxed(&spec).expect("spawn");
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    let moved: u32 = lines
        .next_line()
        .await
        .expect("read")
        .expect("a pid")
        .parse()
        .expect("pid");
    let dirs = child.cgroup_dirs();
    assert!(dirs.iter().any(|dir| dir.join("sub").is_dir()), "{dirs:?}");
    child.signal(Signal::Terminate).expect("terminate");
    child.wait().await.expect("wait");
    assert!(
        agentproc_exec_local::wait_until_dead(&[moved], Duration::from_secs(30)).is_empty(),
        "the member of the sub-cgroup survived"
    );
    wait_until_empty(&dirs);
    assert_eq!(sandbox.collect_garbage(), 0);
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    sandbox.shutdown(Duration::from_secs(5)).await;
}

/// A bubblewrap that cannot build its sandbox (as on a host that forbids
/// unprivileged user namespaces) makes isolation unavailable, with what it
/// said: the report carries the reason, an isolated start is refused with
/// it, and a configured default or floor stops the setup. A working
/// bubblewrap, where the host has one, passes the same probe.
#[tokio::test]
async fn a_bubblewrap_that_cannot_work_here_makes_isolation_unavailable() {
    use agentproc_core::exec::IsolationRequest;
    use agentproc_exec_sandbox::IsolationConfig;
    use std::os::unix::fs::PermissionsExt;

    let dir = tempdir("broken-bwrap");
    let broken = dir.join("bwrap");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n",
    )
    .expect("write the fake bwrap");
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = |default: Option<IsolationRequest>| SandboxConfig {
        cgroups: CgroupMode::Off,
        isolation: IsolationConfig {
            bwrap: Some(broken.clone()),
            default,
            ..IsolationConfig::default()
        },
        ..SandboxConfig::default()
    };

    let sandbox = sandbox(config(None));
    let report = sandbox.report().isolation.expect("an isolation report");
    let reason = report.unavailable.expect("unavailable");
    assert!(
        reason.contains("No permissions to create new namespace"),
        "{reason}"
    );
    assert!(report.mechanisms.is_empty());
    let mut spec = sh("echo ran");
    spec.isolation = Some(IsolationRequest::Workspace);
    match sandbox.spawn_sandboxed(&spec) {
        Err(SpawnError::Refused { reason }) => {
            assert!(
                reason.contains(
                    "Isolation is unavailable: bubblewrap cannot build its sandbox here (bwrap: No permissions"
                ),
                "{reason}"
            );
            assert!(!reason.contains(".."), "{reason}");
            assert!(
                reason.contains("non-privileged user namespaces"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Starts without isolation are unaffected.
    let child = sandbox.spawn_sandboxed(&sh("echo ran")).expect("spawn");
    assert_eq!(output_of(&child).await, "ran\n");
    child.wait().await.expect("wait");
    sandbox.shutdown(Duration::from_secs(5)).await;

    let error = SandboxExecer::new(
        LocalExecer::default(),
        config(Some(IsolationRequest::Workspace)),
    )
    .expect_err("a configured default cannot be enforced");
    assert!(
        error.to_string().contains("isolation is configured"),
        "{error}"
    );

    if let Some(real) =
        agentproc_exec_sandbox::isolation::find_bwrap(std::env::var_os("PATH").as_deref())
    {
        let probed = agentproc_exec_sandbox::isolation::probe_bwrap(&real);
        assert!(
            probed.is_ok() || std::env::var_os("AGENTPROC_REQUIRE_NAMESPACES").is_none(),
            "bubblewrap is required here but does not work: {probed:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bubblewrap that hangs cannot hold up startup: the check gives up
/// after its time limit, kills it, and says so.
#[test]
fn a_bubblewrap_that_hangs_is_given_up_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("hanging-bwrap");
    let hanging = dir.join("bwrap");
    let pid_file = dir.join("pid");
    std::fs::write(
        &hanging,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 1000\n",
            pid_file.display()
        ),
    )
    .expect("write the fake bwrap");
    std::fs::set_permissions(&hanging, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let error =
        agentproc_exec_sandbox::isolation::probe_bwrap_within(&hanging, Duration::from_millis(300))
            .expect_err("a hanging bubblewrap");
    assert!(error.contains("did not finish a test command"), "{error}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the fake ran")
        .trim()
        .parse()
        .expect("pid");
    assert!(
        agentproc_exec_local::wait_until_dead(&[pid], Duration::from_secs(30)).is_empty(),
        "the hanging bubblewrap was left running"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
