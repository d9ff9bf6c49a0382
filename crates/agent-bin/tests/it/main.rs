//! Tests of the `agentproc` binary itself: it starts with zero
//! configuration, serves the API on a real socket, refuses bad
//! configuration with a message naming the key, and on SIGTERM stops every
//! process tree and exits 0. Waits are on events (a log line, end of
//! output, process exit), never on time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};

mod agent_view;
mod cli_terminal;
mod hardening;
mod isolation;
mod mcp;
mod terminal;

const BIN: &str = env!("CARGO_BIN_EXE_agentproc");

struct Server {
    child: Child,
    address: SocketAddr,
    /// The rest of the log, kept open so the server never blocks on it.
    log: BufReader<ChildStderr>,
    /// A state directory made for this server, removed with it.
    owned_state: Option<std::path::PathBuf>,
}

/// Starts `agentproc serve` on an ephemeral port and waits for the log line
/// that says where it listens.
fn start_server(env: &[(&str, &str)]) -> Server {
    let state = state_dir();
    let mut server = start_server_in(&state, env);
    server.owned_state = Some(state);
    server
}

/// A fresh state directory, so tests never share a journal.
fn state_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Under the target directory, not /tmp: a test that fails midway
    // leaves nothing in the system's temporary directory.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agentproc-it-state-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start_server_in(state: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", state)
        .envs(env.iter().copied());
    listening(command)
}

/// Spawns `command` (an `agentproc serve` with JSON logs, possibly behind a
/// wrapper that execs it) and waits until it listens.
fn listening(mut command: Command) -> Server {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agentproc");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            log.read_line(&mut line).expect("read log") > 0,
            "server exited before listening"
        );
        let event: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if event["message"] == "agentproc listening" {
            break event["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("socket address");
        }
    };
    Server {
        child,
        address,
        log,
        owned_state: None,
    }
}

impl Server {
    /// One HTTP/1.1 request on a fresh connection; returns (status, body).
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let stream = TcpStream::connect(self.address).expect("connect");
        exchange(stream, method, path, body)
    }

    fn json(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let (status, body) = self.request(method, path, body);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json body")
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        // Drain the log so the server can never block writing it.
        let mut rest = String::new();
        let _ = self.log.read_to_string(&mut rest);
        self.child.wait().expect("wait for agentproc")
    }
}

/// A test that fails midway still stops its server (and so the processes it
/// runs): SIGTERM, as `terminate` does.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGTERM);
            let mut rest = String::new();
            let _ = self.log.read_to_string(&mut rest);
            let _ = self.child.wait();
        }
        if let Some(state) = &self.owned_state {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    #[allow(unsafe_code)]
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill failed");
}

/// Whether `pid` is gone or a zombie (dead, not yet reaped by its parent).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn version_and_help() {
    let output = Command::new(BIN).arg("--version").output().expect("run");
    assert!(output.status.success());
    // The version, then the git revision it was built from.
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let prefix = format!("agentproc {} (", env!("CARGO_PKG_VERSION"));
    assert!(
        version.starts_with(&prefix) && version.ends_with(')'),
        "{version}"
    );
    let revision = &version[prefix.len()..version.len() - 1];
    if let Ok(head) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        && head.status.success()
    {
        assert_eq!(revision, String::from_utf8_lossy(&head.stdout).trim());
    }
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--workdir",
        "--config",
        "--log-format",
        "--insecure-no-auth",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// A FIFO the command under test writes its pids to: opening it for
/// reading blocks until the command has written, which is the event we wait
/// on.
fn fifo(name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agentproc-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let status = Command::new("mkfifo").arg(&path).status().expect("mkfifo");
    assert!(status.success());
    path
}

fn read_pids(fifo: &std::path::Path) -> Vec<u32> {
    let text = std::fs::read_to_string(fifo).expect("read fifo");
    let _ = std::fs::remove_file(fifo);
    text.split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

#[test]
fn serves_the_api_and_stops_process_trees_on_sigterm() {
    let server = start_server(&[("AGENTPROC_PIPE_DRAIN_GRACE", "100ms")]);

    // A running tree: the shell waits on a background sleep.
    let running = fifo("running");
    let body = format!(
        r#"{{"command":"sleep 300 & echo $$ $! > {}; wait","background":true}}"#,
        running.display()
    );
    let started = server.json("POST", "/api/v0/processes/start", &body);
    assert_eq!(started["started"], true);
    let mut pids = read_pids(&running);

    // A tree whose shell already exited, leaving a sleep in its group that
    // holds the output pipe past the drain grace.
    let lingering = fifo("lingering");
    let body = format!(
        r#"{{"command":"sleep 300 & echo $! > {}"}}"#,
        lingering.display()
    );
    let started = server.json("POST", "/api/v0/processes/start", &body);
    let id = started["id"].as_str().expect("id");
    pids.extend(read_pids(&lingering));
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["running"], false);
    assert_eq!(done["exit_code"], -1);

    let list = server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(list["processes"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["processes"][0]["running"], true);

    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "clean shutdown exits 0");
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(is_dead(pid), "process {pid} survived agentproc's shutdown");
    }
}

#[test]
fn children_do_not_inherit_agentproc_configuration() {
    let server = start_server(&[("AGENTPROC_LIST_LIMIT", "7"), ("AGENTPROC_SOMETHING", "x")]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"env | grep '^AGENTPROC_' | grep -cv '^AGENTPROC_INSTANCE=[0-9a-f]*$' || true"}"#,
    );
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["output"], "0\n");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn a_bad_configuration_exits_2_naming_the_key() {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTPROC_REAP_AFTER", "soon")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("reap_after"), "{message}");
    assert!(message.contains("AGENTPROC_REAP_AFTER"), "{message}");

    let output = Command::new(BIN)
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen"));
}

/// Reads log events until one whose message is `message`.
fn wait_for_log(log: &mut BufReader<ChildStderr>, message: &str) -> serde_json::Value {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            log.read_line(&mut line).expect("read log") > 0,
            "log ended before {message:?}"
        );
        let event: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if event["message"] == message {
            return event;
        }
    }
}

#[test]
fn a_restart_stops_what_a_crashed_instance_left_running() {
    let state = state_dir();
    let mut server = start_server_in(&state, &[]);
    let ready = fifo("crash");
    let body = format!(
        r#"{{"command":"sleep 300 & echo $$ $! > {}; wait","background":true}}"#,
        ready.display()
    );
    server.json("POST", "/api/v0/processes/start", &body);
    let pids = read_pids(&ready);
    // Crash: no chance to clean up. The tree keeps running.
    server.child.kill().expect("SIGKILL agentproc");
    server.child.wait().expect("reap agentproc");
    for pid in &pids {
        assert!(!is_dead(*pid), "{pid} should outlive the crash");
    }

    // The next instance finds and stops them before it listens.
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("AGENTPROC_STATE_DIR", &state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("restart");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let event = wait_for_log(
        &mut log,
        "stopped processes a previous agentproc left running",
    );
    assert_eq!(event["id"], pids[0], "{event}");
    for pid in &pids {
        assert!(is_dead(*pid), "{pid} survived the restart");
        assert!(
            event["killed"]
                .as_str()
                .expect("killed")
                .contains(&pid.to_string()),
            "{event}"
        );
    }
    wait_for_log(&mut log, "agentproc listening");
    signal(child.id(), libc::SIGTERM);
    let mut rest = String::new();
    let _ = log.read_to_string(&mut rest);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn daemonized_descendants_are_adopted_and_stopped_at_shutdown() {
    let server = start_server(&[]);
    let ready = fifo("daemon");
    // The daemon leaves the process group (a new session) and its parent
    // exits at once.
    let body = format!(
        r#"{{"command":"setsid sh -c 'echo $$ > {}; exec sleep 300' >/dev/null 2>&1 &"}}"#,
        ready.display()
    );
    let started = server.json("POST", "/api/v0/processes/start", &body);
    let daemon = read_pids(&ready)[0];
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0);
    // Its parent exited: it now belongs to agentproc, not to init.
    let stat = std::fs::read_to_string(format!("/proc/{daemon}/stat")).expect("daemon alive");
    let ppid: u32 = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .nth(1)
        .expect("ppid")
        .parse()
        .expect("number");
    assert_eq!(ppid, server.child.id(), "adopted by the subreaper");

    assert_eq!(server.terminate().code(), Some(0));
    assert!(is_dead(daemon), "the daemon survived agentproc's shutdown");
}

#[test]
fn two_instances_cannot_share_a_state_directory() {
    let state = state_dir();
    let first = start_server_in(&state, &[]);
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTPROC_STATE_DIR", &state)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("another agentproc is already using the state directory"),
        "{message}"
    );
    assert_eq!(first.terminate().code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn exited_processes_hold_no_file_descriptors() {
    let server = start_server(&[]);
    for _ in 0..20 {
        // Output, so each has a log file while it runs.
        let started = server.json(
            "POST",
            "/api/v0/processes/start",
            r#"{"command":"echo hi"}"#,
        );
        let id = started["id"].as_str().expect("id");
        server.json(
            "GET",
            &format!("/api/v0/processes/{id}/output?wait=true"),
            "",
        );
    }
    assert_eq!(
        server.json("GET", "/api/v0/processes/list", "")["processes"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    let pidfds = std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .expect("fd dir")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count();
    assert_eq!(pidfds, 0, "exited processes keep pidfds open");
    let log_files = std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .expect("fd dir")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        // The directory's lock file stays open for the server's life.
        .filter(|target| {
            let target = target.to_string_lossy();
            target.contains("/output/") && !target.ends_with(".agentproc-output.lock")
        })
        .count();
    assert_eq!(log_files, 0, "exited processes keep log files open");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn a_request_path_cannot_change_which_shell_runs() {
    let server = start_server(&[]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo $PATH","env":{"PATH":"/nonexistent"}}"#,
    );
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["output"], "/nonexistent\n");
    assert_eq!(server.terminate().code(), Some(0));
}

/// The full log through the binary: on disk under the state directory by
/// default, read with a cursor and searched, and deleted when the process
/// is forgotten.
#[test]
fn full_output_logs_live_under_the_state_directory() {
    let state = state_dir();
    let server = start_server_in(&state, &[("AGENTPROC_MAX_RETAINED", "1")]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"seq 1 100000"}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true&cursor=0&limit=6"),
        "",
    );
    assert_eq!(done["output"], "1\n2\n3\n");
    assert_eq!(done["next_cursor"], 6);
    let found = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/search?pattern=%5E50000%24"),
        "",
    );
    assert_eq!(found["matches"][0]["line"], 50000, "{found}");
    let log_dir = state.join("output").join(&id);
    assert!(log_dir.is_dir(), "{} missing", log_dir.display());

    // The next start must forget it (at most one is retained); its log is
    // deleted by the log writer thread, which shutdown lets finish. The
    // retained one's log stays: shutdown does not delete logs.
    let next = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo hi"}"#,
    );
    let next = next["id"].as_str().expect("id").to_owned();
    server.json(
        "GET",
        &format!("/api/v0/processes/{next}/output?wait=true"),
        "",
    );
    let (status, _) = server.request("GET", &format!("/api/v0/processes/{id}/output"), "");
    assert_eq!(status, 404);
    assert_eq!(server.terminate().code(), Some(0));
    assert!(!log_dir.exists(), "{} left behind", log_dir.display());
    assert!(state.join("output").join(&next).is_dir());
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn full_output_logs_can_be_turned_off() {
    let state = state_dir();
    let server = start_server_in(&state, &[("AGENTPROC_OUTPUT_MAX_BYTES_PER_PROCESS", "0")]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo hi"}"#,
    );
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["output"], "hi\n");
    for path in [
        format!("/api/v0/processes/{id}/output?cursor=0"),
        format!("/api/v0/processes/{id}/search?pattern=hi"),
        format!("/api/v0/processes/{id}/lines?start=1&end=1"),
        format!("/api/v0/processes/{id}/stream"),
    ] {
        let (status, body) = server.request("GET", &path, "");
        assert_eq!(status, 501, "{path}: {body}");
        assert!(body.contains("not enabled"), "{path}: {body}");
    }
    assert!(!state.join("output").exists());
    assert_eq!(server.terminate().code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
}

/// The `agentproc-<pid>-*` cgroups of process `pid`, in every hierarchy.
fn cgroups_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("agentproc-{pid}-");
    ["unified", "pids", "cpu", "cpuacct", "freezer", "memory"]
        .iter()
        .filter_map(|hierarchy| {
            std::fs::read_dir(std::path::Path::new("/sys/fs/cgroup").join(hierarchy)).ok()
        })
        .flat_map(|entries| entries.flatten())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

/// With `executor = "sandbox"`, limits go through the API: reported by
/// `/healthz`, checked against the maximum, shown on the process, enforced
/// by a cgroup per process that is gone after shutdown.
#[test]
fn the_sandbox_executor_through_the_api() {
    let server = start_server(&[
        ("AGENTPROC_EXECUTOR", "sandbox"),
        ("AGENTPROC_SANDBOX_CPU_CORES", "2"),
        ("AGENTPROC_SANDBOX_MAX_PIDS", "64"),
    ]);
    let health = server.json("GET", "/healthz", "");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["executor"]["kind"], "sandbox");
    let cgroups = health["executor"]["cgroups"]
        .as_str()
        .expect("cgroups")
        .to_owned();
    let usable = cgroups != "none";
    if !usable {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_CGROUPS").is_none(),
            "this host was expected to have usable cgroups: {health}"
        );
        eprintln!("skipped: no usable cgroups here ({health})");
        assert_eq!(server.terminate().code(), Some(0));
        return;
    }
    assert_eq!(health["executor"]["max_limits"]["pids"], 64);
    assert_eq!(health["executor"]["default_limits"]["cpu_cores"], 2.0);
    assert!(health["executor"]["settings"]["niceness"].is_string());

    let (status, body) = server.request(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"true","limits":{"pids":65}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("limits.pids of 65 is above this agentproc's maximum of 64."),
        "{body}"
    );
    let (status, body) = server.request(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"true","limits":{"pdis":6}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("pdis"), "{body}");

    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"grep -c agentproc- /proc/self/cgroup","limits":{"pids":16}}"#,
    );
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_ne!(done["output"], "0\n", "{done}");
    let listed = server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(listed["processes"][0]["limits"]["pids"], 16, "{listed}");
    assert_eq!(
        listed["processes"][0]["limits"]["cpu_cores"], 2.0,
        "{listed}"
    );

    // A daemon that left the process group dies with its tree.
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"setsid sh -c 'echo $$; exec sleep 300' & exec sleep 300"}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    let first = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true&until=match&pattern=%5E%5B0-9%5D%2B%24"),
        "",
    );
    let escapee: u32 = first["output"]
        .as_str()
        .expect("output")
        .trim()
        .parse()
        .expect("a pid");
    server.json(
        "POST",
        &format!("/api/v0/processes/{id}/signal"),
        r#"{"signal":"kill"}"#,
    );
    let killed = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(killed["exit_reason"], "killed", "{killed}");
    assert!(
        agentproc_exec_local::wait_until_dead(&[escapee], std::time::Duration::from_secs(30))
            .is_empty(),
        "the escapee survived"
    );

    let pid = server.child.id();
    assert!(!cgroups_of(pid).is_empty(), "agentproc's cgroups exist");
    assert_eq!(server.terminate().code(), Some(0));
    assert_eq!(cgroups_of(pid), Vec::<std::path::PathBuf>::new());
}

/// Coder's priority variables select the sandbox with their scores, and
/// children never see them.
#[test]
fn coder_priority_management_is_honoured() {
    let server = start_server(&[
        ("CODER_PROC_PRIO_MGMT", "1"),
        ("CODER_PROC_NICE_SCORE", "12"),
        ("CODER_PROC_OOM_SCORE", "700"),
        ("AGENTPROC_SANDBOX_CGROUPS", "off"),
    ]);
    let health = server.json("GET", "/healthz", "");
    assert_eq!(health["executor"]["kind"], "sandbox", "{health}");
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"env | grep -c '^CODER_PROC_' ; cut -d' ' -f19 /proc/self/stat; cat /proc/self/oom_score_adj"}"#,
    );
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["output"], "0\n12\n700\n", "{done}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// A sandbox policy the host refuses fails at startup, saying why.
#[test]
fn a_sandbox_the_host_refuses_fails_at_startup() {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTPROC_STATE_DIR", state_dir())
        .env("AGENTPROC_EXECUTOR", "sandbox")
        .env("AGENTPROC_SANDBOX_CGROUPS", "off")
        .env("AGENTPROC_SANDBOX_MEMORY_BYTES", "1GiB")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("cannot set up the sandbox executor")
            && message.contains("limits.memory_bytes cannot be enforced"),
        "{message}"
    );
}

/// One HTTP/1.1 request over a Unix socket; returns (status, body).
fn unix_request(path: &std::path::Path, method: &str, target: &str, body: &str) -> (u16, String) {
    let stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
    exchange(stream, method, target, body)
}

/// One HTTP/1.1 request on `stream` (closed after the answer); returns
/// (status, body).
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: agentproc\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response[9..12].parse().expect("status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `agentproc serve --listen <listen>` with JSON logs; the child and its
/// log.
fn serve_on(listen: &str, state: &std::path::Path) -> (Child, BufReader<ChildStderr>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", listen, "--log-format", "json"])
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agentproc");
    let log = BufReader::new(child.stderr.take().expect("stderr"));
    (child, log)
}

#[test]
fn a_unix_socket_is_private_and_a_stale_one_is_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let state = state_dir();
    std::fs::create_dir_all(&state).expect("state dir");
    let socket = state.join("api.sock");
    // A socket file left by a crash: bound, then its listener gone.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let listen = format!("unix:{}", socket.display());
    let (mut child, mut log) = serve_on(&listen, &state);
    let listening = wait_for_log(&mut log, "agentproc listening");
    assert_eq!(listening["address"], listen.as_str());
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let (status, body) = unix_request(
        &socket,
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo over a socket"}"#,
    );
    assert_eq!(status, 200, "{body}");

    // A live socket is not taken over by a second server.
    let second = Command::new(BIN)
        .args(["serve", "--listen", &listen])
        .env("AGENTPROC_STATE_DIR", state.join("second"))
        .output()
        .expect("run");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("is in use"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    signal(child.id(), libc::SIGTERM);
    let mut rest = String::new();
    let _ = log.read_to_string(&mut rest);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(!socket.exists(), "the socket file is removed at shutdown");
    let _ = std::fs::remove_dir_all(&state);
}

/// Shutdown removes its socket file only if it is still the one it bound:
/// one moved away and replaced by another server's is left alone.
#[test]
fn shutdown_leaves_another_servers_socket_alone() {
    let state = state_dir();
    std::fs::create_dir_all(&state).expect("state dir");
    let socket = state.join("api.sock");
    let listen = format!("unix:{}", socket.display());
    let (mut child, mut log) = serve_on(&listen, &state);
    wait_for_log(&mut log, "agentproc listening");
    std::fs::rename(&socket, state.join("moved.sock")).expect("move it away");
    let other = std::os::unix::net::UnixListener::bind(&socket).expect("another server");
    signal(child.id(), libc::SIGTERM);
    let mut rest = String::new();
    let _ = log.read_to_string(&mut rest);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(socket.exists(), "the other server's socket was removed");
    drop(other);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_token_guards_every_route_but_healthz() {
    let server = start_server(&[("AGENTPROC_TOKEN", "open-sesame")]);
    let (status, body) = server.request("GET", "/api/v0/processes/list", "");
    assert_eq!(status, 401, "{body}");
    let (status, _) = server.request("GET", "/healthz", "");
    assert_eq!(status, 200);
    let mut stream = TcpStream::connect(server.address).expect("connect");
    write!(
        stream,
        "GET /api/v0/processes/list HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer open-sesame\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("AGENTPROC_STATE_DIR", state_dir())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{message}"
    );
}

/// The audit log records start (variable names, never values), signal and
/// exit, and shutdown waits for the last line; `/metrics` counts the same.
#[test]
fn audit_log_and_metrics() {
    let state = state_dir();
    std::fs::create_dir_all(&state).expect("state dir");
    let audit = state.join("audit/audit.jsonl");
    let audit_env = audit.to_string_lossy().into_owned();
    let server = start_server_in(&state, &[("AGENTPROC_AUDIT_LOG", audit_env.as_str())]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo hi; sleep 300","env":{"API_KEY":"hunter2"}}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true&until=output&cursor=0"),
        "",
    );
    server.json(
        "POST",
        &format!("/api/v0/processes/{id}/signal"),
        r#"{"signal":"kill"}"#,
    );
    server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    let (status, metrics) = server.request("GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("agentproc_processes_exited_total{reason=\"killed\"} 1"),
        "{metrics}"
    );
    assert_eq!(server.terminate().code(), Some(0));

    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        !text.contains("hunter2"),
        "a variable's value leaked:\n{text}"
    );
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().expect("event"))
        .collect();
    assert_eq!(events, ["start", "signal", "exit"], "{text}");
    assert_eq!(records[0]["process_id"], id.as_str());
    assert_eq!(records[0]["command"], "echo hi; sleep 300");
    assert_eq!(records[0]["env_keys"], serde_json::json!(["API_KEY"]));
    assert_eq!(records[1]["signal"], "SIGKILL");
    assert_eq!(records[2]["reason"], "killed");
    assert_eq!(records[2]["output_bytes"], 3);
    assert!(records[2]["time_unix_ms"].as_u64().is_some());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&audit)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&state);
}

/// `agentproc run` against a real server: output streams live (a line
/// arrives while the command still waits), the exit code comes back, and
/// Ctrl-C reaches the command as SIGINT.
#[test]
fn the_cli_runs_streams_and_forwards_ctrl_c() {
    let server = start_server(&[]);
    let address = format!("http://{}", server.address);
    let gate = fifo("cli-gate");
    let mut run = Command::new(BIN)
        .args(["run", "--server", &address, "--env", "WORD=second", "--"])
        .arg(format!(
            "echo first; read _ < {}; echo $WORD; exit 3",
            gate.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agentproc run");
    let mut stdout = BufReader::new(run.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    // Printed while the command is still blocked on the FIFO: live.
    assert_eq!(line, "first\n");
    std::fs::write(&gate, "go\n").expect("open the gate");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read");
    assert_eq!(rest, "second\n");
    assert_eq!(run.wait().expect("wait").code(), Some(3));

    // Ctrl-C: the command traps SIGINT and says so (its foreground `sleep`
    // gets the SIGINT too, so the trap runs at once).
    let mut run = Command::new(BIN)
        .args(["run", "--server", &address, "--"])
        .arg("trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 1; done")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("agentproc run");
    let mut stdout = BufReader::new(run.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    assert_eq!(line, "ready\n");
    signal(run.id(), libc::SIGINT);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read");
    assert_eq!(rest, "got INT\n");
    assert_eq!(run.wait().expect("wait").code(), Some(7));

    // ps, logs, kill and wait on the same server.
    let ps = Command::new(BIN)
        .args(["ps", "--server", &address])
        .output()
        .expect("ps");
    let table = String::from_utf8_lossy(&ps.stdout);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("exited 3"), "{table}");
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo logged; sleep 300"}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true&until=output&cursor=0"),
        "",
    );
    let logs = Command::new(BIN)
        .args(["logs", "--server", &address, &id])
        .output()
        .expect("logs");
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "logged\n");
    let kill = Command::new(BIN)
        .args(["kill", "--server", &address, "--signal", "kill", &id])
        .output()
        .expect("kill");
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let wait = Command::new(BIN)
        .args(["wait", "--server", &address, &id])
        .output()
        .expect("wait");
    assert_eq!(wait.status.code(), Some(128 + 9));
    let missing = Command::new(BIN)
        .args(["wait", "--server", &address, "nope"])
        .output()
        .expect("wait");
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "agentproc: Process \"nope\" not found.\n"
    );

    // --json: JSON lines on stdout: the start answer, the output chunks,
    // the exit; non-ASCII output intact.
    let json = Command::new(BIN)
        .args(["run", "--server", &address, "--json", "--", "echo héllo ✓"])
        .output()
        .expect("run --json");
    assert_eq!(json.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    assert_eq!(lines[0]["started"], true, "{lines:?}");
    let output: String = lines[1..lines.len() - 1]
        .iter()
        .map(|chunk| chunk["output"].as_str().expect("output"))
        .collect();
    assert_eq!(output, "héllo ✓\n");
    assert_eq!(lines[lines.len() - 1]["exit_reason"], "exited");
    assert_eq!(server.terminate().code(), Some(0));
}

/// A client that sends half its headers, or stays idle on a keep-alive
/// connection, is disconnected after `request_read_timeout`; others are
/// served meanwhile.
#[test]
fn slow_and_idle_connections_are_closed() {
    let server = start_server(&[("AGENTPROC_REQUEST_READ_TIMEOUT", "300ms")]);
    let mut slow = TcpStream::connect(server.address).expect("connect");
    write!(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("half the headers");
    let mut idle = TcpStream::connect(server.address).expect("connect");
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("a request");

    // Meanwhile another client is served.
    let (status, _) = server.request("GET", "/healthz", "");
    assert_eq!(status, 200);

    // The server closes both: reading reaches the end of the stream (a
    // server that never closes them fails the reads after a minute).
    for stream in [&slow, &idle] {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("read timeout");
    }
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).expect("read");
    assert!(
        rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    let mut answered = Vec::new();
    idle.read_to_end(&mut answered).expect("read");
    assert!(String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200"));
    assert_eq!(server.terminate().code(), Some(0));
}

/// Ctrl-C while the start request is in flight is not lost: the client
/// holds it until it knows the process id, then forwards it (it used to
/// die and leave the command running). A scripted server holds the start's
/// answer until the signal is sent.
#[test]
fn a_ctrl_c_during_the_start_is_forwarded() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let mut run = Command::new(BIN)
        .args(["run", "--server", &address, "--", "sleep 300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agentproc run");

    let (mut start, _) = listener.accept().expect("the start");
    let (head, _) = read_request(&mut start);
    assert!(head.starts_with("POST /api/v0/processes/start "), "{head}");
    // The start is in flight: Ctrl-C now.
    signal(run.id(), libc::SIGINT);
    respond(
        &mut start,
        "application/json",
        r#"{"id":"p1","started":true}"#,
    );

    // Next: the forwarded signal and the output stream, in either order
    // (the signal may be caught just before or just after the answer).
    let mut signal_seen = false;
    let mut stream = None;
    for _ in 0..2 {
        let mut connection = accept_while_running(&listener, &mut run);
        let (head, body) = read_request(&mut connection);
        if head.starts_with("POST /api/v0/processes/p1/signal ") {
            // `terminate` when the Ctrl-C was caught before the start's
            // answer (an abort), `interrupt` when just after.
            assert!(
                body == r#"{"signal":"terminate"}"# || body == r#"{"signal":"interrupt"}"#,
                "{body}"
            );
            respond(&mut connection, "application/json", r#"{"message":"sent"}"#);
            signal_seen = true;
        } else {
            assert!(
                head.starts_with("GET /api/v0/processes/p1/stream"),
                "{head}"
            );
            stream = Some(connection);
        }
    }
    assert!(signal_seen, "the interrupt was not forwarded");
    respond(
        &mut stream.expect("the stream"),
        "text/event-stream",
        "event: exit\ndata: {\"running\":false,\"exit_code\":-1,\"exit_reason\":\"killed\",\"signal\":\"SIGINT\"}\n\n",
    );
    assert_eq!(run.wait().expect("wait").code(), Some(130));
}

/// The client's next connection; fails if the client exits instead.
fn accept_while_running(listener: &std::net::TcpListener, client: &mut Child) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                return stream;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = client.try_wait().expect("try_wait") {
                    panic!("the client exited ({status}) instead of connecting");
                }
                std::thread::yield_now();
            }
            Err(error) => panic!("accept: {error}"),
        }
    }
}

/// One HTTP/1.1 request: its head and its body (by Content-Length).
fn read_request(stream: &mut TcpStream) -> (String, String) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).expect("read") > 0, "{head}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (head, String::from_utf8(body).expect("utf-8"))
}

fn respond(stream: &mut TcpStream, content_type: &str, body: &str) {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("respond");
}

/// `agentproc run … | head`: when the reader goes away the client stops
/// the command (as SIGPIPE would stop a local one) and exits 141, without a
/// panic.
#[test]
fn a_closed_output_pipe_stops_the_command() {
    let server = start_server(&[]);
    let address = format!("http://{}", server.address);
    let mut run = Command::new(BIN)
        .args(["run", "--server", &address, "--", "seq 1 100000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agentproc run");
    let mut stdout = BufReader::new(run.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    assert_eq!(line, "1\n");
    drop(stdout);
    let output = run.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(141));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sending terminate"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let listed = server.json("GET", "/api/v0/processes/list", "");
    let id = listed["processes"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_reason"], "killed", "{done}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// Started behind `nohup`-style ignored signals (a shell's `trap ''`, kept
/// across `exec`), agentproc still shrugs off SIGHUP itself, and its
/// commands still get `hangup`, `interrupt` and `SIGQUIT`.
#[test]
fn signals_the_launcher_ignored_still_reach_commands() {
    let state = state_dir();
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "trap '' HUP INT QUIT; exec \"$0\" serve --listen 127.0.0.1:0 --log-format json",
            BIN,
        ])
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", &state);
    let mut server = listening(command);
    server.owned_state = Some(state);
    // agentproc itself keeps ignoring SIGHUP.
    signal(server.child.id(), libc::SIGHUP);
    for (request, name) in [("hangup", "SIGHUP"), ("interrupt", "SIGINT")] {
        let started = server.json(
            "POST",
            "/api/v0/processes/start",
            r#"{"command":"exec sleep 300"}"#,
        );
        let id = started["id"].as_str().expect("id");
        server.json(
            "POST",
            &format!("/api/v0/processes/{id}/signal"),
            &format!(r#"{{"signal":"{request}"}}"#),
        );
        let done = server.json(
            "GET",
            &format!("/api/v0/processes/{id}/output?wait=true"),
            "",
        );
        assert_eq!(done["signal"], name, "{done}");
        assert_eq!(done["running"], false);
    }
    // The shell sees default dispositions too.
    let done = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"grep -E '^Sig(Ign|Cgt)' /proc/self/status","wait_ms":60000}"#,
    );
    let output = done["output"].as_str().expect("output");
    let ignored = output
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).expect("hex mask"))
        .expect("SigIgn line");
    for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        assert_eq!(
            ignored & (1 << (signal - 1)),
            0,
            "{signal} ignored: {output}"
        );
    }
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "SIGHUP left it running"
    );
}
