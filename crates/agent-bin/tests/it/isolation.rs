//! Per-command isolation through the binary, with real processes in
//! bubblewrap: writes only where allowed, secrets out of reach, networks
//! none, loopback and host, the escape routes an agent's command could try,
//! the environment policy, the operator's floor, and refusals. A host
//! without bubblewrap skips, unless `AGENTPROC_REQUIRE_NAMESPACES` says it
//! must have it (CI).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{BIN, Server, start_server_in, state_dir};

fn bwrap_available() -> bool {
    let works = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-all", "true"])
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_NAMESPACES").is_none(),
            "AGENTPROC_REQUIRE_NAMESPACES is set but bubblewrap does not work here"
        );
        eprintln!("skipped: bubblewrap (bwrap) is missing or does not work here");
    }
    works
}

/// A directory for test files that isolated commands see as they are: not
/// under /tmp, which the sandbox replaces with a private one. The target
/// directory's `tmp` unless the checkout itself lives under /tmp (then
/// /var/tmp).
fn outside_tmp() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if target.starts_with("/tmp") {
        PathBuf::from("/var/tmp")
    } else {
        target
    }
}

/// A test home with a fake SSH key, a workdir inside it, and a server whose
/// `HOME` is that home.
struct World {
    root: PathBuf,
    home: PathBuf,
    work: PathBuf,
    server: Server,
}

impl World {
    fn new(extra: &[(&str, &str)]) -> Self {
        // Not under /tmp: an isolated command gets a private /tmp, where
        // this home would be out of sight.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = outside_tmp().join(format!(
            "agentproc-isolation-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let home = root.join("home");
        let work = home.join("project");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY").expect("write");
        std::fs::write(home.join("notes.txt"), "outside the workdir").expect("write");
        let mut env = vec![
            ("AGENTPROC_EXECUTOR", "sandbox"),
            ("HOME", home.to_str().expect("utf-8")),
        ];
        env.extend_from_slice(extra);
        let server = start_server_in(&root.join("state"), &env);
        Self {
            root,
            home,
            work,
            server,
        }
    }

    /// Runs `command` isolated by `isolation` in the workdir; its exit.
    fn run(&self, command: &str, isolation: Value) -> Value {
        let body = serde_json::json!({
            "command": command,
            "workdir": self.work,
            "isolation": isolation,
        });
        let started = self
            .server
            .json("POST", "/api/v0/processes/start", &body.to_string());
        let id = started["id"].as_str().expect("id");
        self.server.json(
            "GET",
            &format!("/api/v0/processes/{id}/output?wait=true"),
            "",
        )
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn output(done: &Value) -> &str {
    done["output"].as_str().expect("output")
}

#[test]
fn writes_go_only_where_allowed_and_secrets_stay_hidden() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[]);
    let done = world.run(
        "echo inside > made-here && echo wrote-workdir; \
         echo x > ../escape.txt || echo no-home-write; \
         cat ~/.ssh/id_ed25519 || echo no-key; \
         ls -A ~/.ssh | wc -l; \
         cat ~/notes.txt; \
         echo private > /tmp/scratch && cat /tmp/scratch",
        Value::from("workspace"),
    );
    let text = output(&done);
    assert!(text.contains("wrote-workdir"), "{text}");
    assert!(text.contains("no-home-write"), "{text}");
    assert!(text.contains("no-key"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(
        text.contains("outside the workdir"),
        "reading is allowed: {text}"
    );
    assert!(text.contains("private"), "a private /tmp: {text}");
    assert_eq!(
        std::fs::read_to_string(world.work.join("made-here")).expect("written"),
        "inside\n"
    );
    assert!(!world.home.join("escape.txt").exists());

    // The start answer and the process info say what was applied.
    let listed = world.server.json("GET", "/api/v0/processes/list", "");
    let applied = &listed["processes"][0]["isolation"];
    assert_eq!(applied["network"], "none", "{applied}");
    assert!(
        applied["mechanisms"]
            .as_array()
            .expect("mechanisms")
            .iter()
            .any(|m| m == "bubblewrap")
    );
    let ssh = world.home.join(".ssh").display().to_string();
    assert!(
        applied["deny"]
            .as_array()
            .expect("deny")
            .iter()
            .any(|path| path == ssh.as_str()),
        "{applied}"
    );
    let health = world.server.json("GET", "/healthz", "");
    assert!(
        health["executor"]["isolation"]["mechanisms"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{health}"
    );
}

/// The SSH agent's socket (`$SSH_AUTH_SOCK`) is one of the secrets
/// `"workspace"` denies: a command could otherwise have the user's keys
/// sign for it, network or not (a Unix socket needs none).
#[test]
fn the_ssh_agent_socket_is_out_of_reach() {
    if !bwrap_available() {
        return;
    }
    // Outside /tmp, as under /run/user/<uid>: a private /tmp would hide it
    // anyway.
    let socket = outside_tmp().join(format!("ssh-agent-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let world = World::new(&[("SSH_AUTH_SOCK", socket.to_str().expect("utf-8"))]);
    let probe = "python3 -c \"import os,socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(os.environ['SSH_AUTH_SOCK']); print('agent-reached')\nexcept OSError as e:\n    print('agent-blocked', e.__class__.__name__)\"";
    // Not isolated, the command reaches the agent: the probe is real.
    let open = world.run(probe, Value::Null);
    assert!(output(&open).contains("agent-reached"), "{open}");
    let isolated = world.run(probe, Value::from("workspace"));
    assert!(output(&isolated).contains("agent-blocked"), "{isolated}");
    let listed = world.server.json("GET", "/api/v0/processes/list", "");
    let denied = listed["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find_map(|process| process["isolation"]["deny"].as_array())
        .expect("an isolated process");
    assert!(
        denied
            .iter()
            .any(|path| path == socket.to_str().expect("utf-8")),
        "{denied:?}"
    );
    let _ = std::fs::remove_file(&socket);
}

/// Regression (review of issue 15): with a working directory under /tmp,
/// bound back into the sandbox's private /tmp, a denied file in it was
/// readable (denials under /tmp were skipped as hidden).
#[test]
fn denials_hold_in_a_workdir_under_tmp() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[]);
    let work = std::env::temp_dir().join(format!("agentproc-it-tmp-work-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(work.join(".env"), "API_KEY=hunter2\n").expect("write");
    let body = serde_json::json!({
        "command": "cat .env || echo env-denied; echo x > made && echo wrote",
        "workdir": work,
        "isolation": {"network": "none", "deny": [".env"]},
        "wait_ms": 30000,
    });
    let done = world
        .server
        .json("POST", "/api/v0/processes/start", &body.to_string());
    let _ = std::fs::remove_dir_all(&work);
    let text = output(&done);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("env-denied"), "{text}");
    assert!(text.contains("wrote"), "{text}");
}

/// A TCP server of the test's own on loopback, answering one line.
fn test_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handle = std::thread::spawn(move || {
        // Serve whoever connects until the test ends (the listener is
        // dropped with the thread when the process exits).
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(b"hello from outside\n");
        }
    });
    (port, handle)
}

const CONNECT: &str = "python3 -c \"import socket,sys\ntry:\n    s=socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5); print('connected:', s.recv(100).decode().strip())\nexcept OSError as e:\n    print('refused:', e.__class__.__name__)\"";

#[test]
fn networks_none_loopback_and_host() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[]);
    let (port, _server) = test_server();
    let policy = |network: &str| serde_json::json!({"network": network});

    let none = world.run(&format!("{CONNECT} {port}"), policy("none"));
    assert!(output(&none).contains("refused"), "{none}");
    let host = world.run(&format!("{CONNECT} {port}"), policy("host"));
    assert!(
        output(&host).contains("connected: hello from outside"),
        "{host}"
    );
    // Loopback: its own servers are reachable, the test's is not.
    let own = "python3 -c \"import socket,threading\nl=socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(); p=l.getsockname()[1]\nthreading.Thread(target=lambda: l.accept()[0].sendall(b'inner'), daemon=True).start()\nprint('own:', socket.create_connection(('127.0.0.1', p)).recv(10).decode())\"";
    let loopback = world.run(&format!("{own}; {CONNECT} {port}"), policy("loopback"));
    let text = output(&loopback);
    assert!(text.contains("own: inner"), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("hello from outside"), "{text}");
}

#[test]
fn escape_routes_are_closed() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[]);
    let agentproc = world.server.child.id();
    let address = world.server.address;
    // Each attempt in a subshell of its own, so a failed redirection does
    // not end the script.
    let script = format!(
        "(cat $(ln -s {home}/.ssh/id_ed25519 key-link && echo key-link)) 2>/dev/null || echo symlink-blocked; \
         (ln -s {home} home-link && echo x > home-link/planted) 2>/dev/null || echo symlink-write-blocked; \
         (ln {home}/.ssh/id_ed25519 hard-link) 2>/dev/null || echo hardlink-blocked; \
         (cat /proc/self/root{home}/.ssh/id_ed25519) 2>/dev/null || echo proc-root-blocked; \
         (ls /proc/{agentproc}/root) >/dev/null 2>&1 || echo agentproc-proc-hidden; \
         (kill -0 {agentproc}) 2>/dev/null || echo kill-blocked; \
         (python3 -c \"import socket; socket.create_connection(('{ip}', {port}), timeout=5)\") 2>/dev/null || echo port-blocked; \
         (exec 3>>{home}/notes.txt) 2>/dev/null || echo open-for-write-blocked; \
         python3 -c \"import ctypes; libc=ctypes.CDLL(None, use_errno=True); r=libc.ptrace(0, 0, 0, 0); print('ptrace-blocked' if r == -1 and ctypes.get_errno() == 1 else 'ptrace-allowed')\"; \
         python3 -c \"import ctypes; libc=ctypes.CDLL(None, use_errno=True); p=ctypes.create_string_buffer(120); r=libc.syscall(425, 1, p); print('io-uring-blocked' if r == -1 and ctypes.get_errno() == 1 else 'io-uring-allowed')\"; \
         ls /proc/self/fd | tr '\\n' ' '; echo; \
         setsid python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('daemon.sock'); open('daemon.ready', 'w').close(); s.recv(1); open('daemon.txt', 'w').write('escaped')\" >/dev/null 2>&1 & \
         while [ ! -e daemon.ready ]; do :; done",
        home = world.home.display(),
        ip = address.ip(),
        port = address.port(),
    );
    // The daemon below connects to this socket and keeps the connection
    // until it dies.
    let daemon = std::os::unix::net::UnixListener::bind(world.work.join("daemon.sock"))
        .expect("bind the daemon's socket");
    let done = world.run(&script, Value::from("workspace"));
    let text = output(&done);
    for blocked in [
        "symlink-blocked",
        "symlink-write-blocked",
        "hardlink-blocked",
        "proc-root-blocked",
        "agentproc-proc-hidden",
        "kill-blocked",
        "port-blocked",
        "open-for-write-blocked",
        // The seccomp filter: PTRACE_TRACEME and io_uring_setup (425)
        // succeed outside it on this kind of host, and fail with EPERM in it.
        "ptrace-blocked",
        "io-uring-blocked",
    ] {
        assert!(text.contains(blocked), "{blocked} missing:\n{text}");
    }
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(
        text.contains("0 1 2 3 \n"),
        "only stdio (and ls's own): {text}"
    );
    assert!(!world.home.join("planted").exists());
    // The daemon that left its session dies with the sandbox (its PID
    // namespace ends with the command; bubblewrap reports the command's
    // exit just before that, so this waits for the event): its connection
    // reaches end of file. A daemon that escaped would hold it open, and
    // the read would time out.
    assert!(world.work.join("daemon.ready").exists(), "{text}");
    daemon.set_nonblocking(true).expect("nonblocking");
    let (mut connection, _) = daemon.accept().expect("the daemon connected");
    connection.set_nonblocking(false).expect("blocking");
    connection
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let mut byte = [0_u8; 1];
    match connection.read(&mut byte) {
        Ok(0) => {}
        other => panic!("the daemon outlived its sandbox: {other:?}"),
    }
    assert!(!world.work.join("daemon.txt").exists());
}

/// Isolation composes with a terminal, the sandbox's cgroup limits and
/// its niceness: the command sees its terminal (as `/dev/console`, in
/// bubblewrap's private `/dev`) and its size, cannot read the
/// secret, runs niced, and sits in its own cgroup (seen from outside:
/// inside, its cgroup namespace hides the name).
#[test]
fn isolation_composes_with_a_terminal_and_limits() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[]);
    let health = world.server.json("GET", "/healthz", "");
    if health["executor"]["cgroups"] == "none" {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_CGROUPS").is_none(),
            "this host was expected to have usable cgroups: {health}"
        );
        eprintln!("skipped: no usable cgroups here ({health})");
        return;
    }
    let body = serde_json::json!({
        "command": "stty size; tty; echo nice=$(nice); cat ~/.ssh/id_ed25519 || echo no-key; echo ready; read x; echo got-$x",
        "workdir": world.work,
        "isolation": "workspace",
        "tty": {"rows": 12, "cols": 34},
        "limits": {"pids": 32},
    });
    let started = world
        .server
        .json("POST", "/api/v0/processes/start", &body.to_string());
    let id = started["id"].as_str().expect("id").to_owned();
    assert_eq!(started["isolation"]["network"], "none", "{started}");
    let ready = world.server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?until=match&pattern=%5Eready&timeout_ms=30000"),
        "",
    );
    assert_eq!(ready["running"], true, "{ready}");
    let pid = ready["pid"].as_u64().expect("pid");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert!(cgroup.contains("agentproc-"), "{cgroup}");
    let (status, reply) = world.server.request(
        "POST",
        &format!("/api/v0/processes/{id}/input"),
        r#"{"text":"go\r"}"#,
    );
    assert_eq!(status, 200, "{reply}");
    let done = world.server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    let text = output(&done);
    // bubblewrap's own /dev shows the terminal as /dev/console.
    assert!(text.starts_with("12 34\r\n/dev/console\r\n"), "{text}");
    assert!(text.contains("nice=5"), "{text}");
    assert!(text.contains("no-key"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(text.contains("got-go"), "{text}");
    let listed = world.server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(listed["processes"][0]["limits"]["pids"], 32, "{listed}");
}

#[test]
fn environment_floor_and_refusals() {
    if !bwrap_available() {
        return;
    }
    let world = World::new(&[
        ("AGENTPROC_ENV_DENY", "*_TOKEN,AWS_*"),
        ("GITHUB_TOKEN", "ghp_secret"),
        ("AWS_SECRET_ACCESS_KEY", "aws_secret"),
        ("KEEP_ME", "visible"),
        ("AGENTPROC_ISOLATION_MINIMUM", "workspace"),
    ]);
    let done = world.run(
        "echo token=${GITHUB_TOKEN:-unset} aws=${AWS_SECRET_ACCESS_KEY:-unset} keep=$KEEP_ME own=$OWN_TOKEN",
        Value::Null,
    );
    assert!(
        output(&done).contains("token=unset aws=unset keep=visible"),
        "{done}"
    );
    // The floor applies to a start that names none.
    let listed = world.server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(listed["processes"][0]["isolation"]["network"], "none");

    // A looser request is refused, naming the rule; nothing runs.
    let body = serde_json::json!({
        "command": "true",
        "workdir": world.work,
        "isolation": {"network": "host"},
    });
    let (status, reply) =
        world
            .server
            .request("POST", "/api/v0/processes/start", &body.to_string());
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("isolation.network \\\"host\\\" is looser than this agentproc's minimum"),
        "{reply}"
    );
    // A policy that cannot be enforced (a writable root that does not
    // exist) is refused with the reason.
    let body = serde_json::json!({
        "command": "true",
        "workdir": world.work,
        "isolation": {"network": "none", "write": ["./does-not-exist"]},
    });
    let (status, reply) =
        world
            .server
            .request("POST", "/api/v0/processes/start", &body.to_string());
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("does not exist"), "{reply}");
    // A start's own env still applies.
    let body = serde_json::json!({
        "command": "echo own=$OWN_TOKEN",
        "workdir": world.work,
        "env": {"OWN_TOKEN": "mine"},
    });
    let started = world
        .server
        .json("POST", "/api/v0/processes/start", &body.to_string());
    let id = started["id"].as_str().expect("id");
    let done = world.server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["output"], "own=mine\n");
}

#[test]
fn isolation_without_the_means_is_refused() {
    // With the local executor: a 400, nothing runs.
    let server = super::start_server(&[]);
    let (status, reply) = server.request(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"true","isolation":"workspace"}"#,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("Isolation needs the sandbox executor"),
        "{reply}"
    );
    drop(server);

    // Configured, but bubblewrap cannot be found (a PATH with a shell and
    // nothing else): agentproc refuses to start, saying why.
    let state = state_dir();
    let bin = state.with_extension("path");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).expect("symlink");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", &state)
        .env("AGENTPROC_EXECUTOR", "sandbox")
        .env("AGENTPROC_ISOLATION_DEFAULT", "workspace")
        .env("PATH", &bin)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut said = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut said)
        .expect("read");
    let status = child.wait().expect("wait");
    assert_ne!(status.code(), Some(0), "{said}");
    assert!(said.contains("bubblewrap"), "{said}");
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&bin);

    // Isolation asked of a local-executor configuration is a config error.
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", state_dir())
        .env("AGENTPROC_ISOLATION_DEFAULT", "workspace")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("isolation_default"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
