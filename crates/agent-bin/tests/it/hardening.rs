//! Regressions of the hardening issue: each test reproduces one defect found
//! under faults and bad input (a crash with detached daemons, a full disk,
//! huge commands, shared or unwritable output directories, `Expect:
//! 100-continue`, the CLI's words) against the real binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{
    BIN, exchange, fifo, is_dead, listening, read_pids, start_server, start_server_in, state_dir,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Defect 1: a daemon that detached with `setsid -f` (re-parented to the
/// subreaper without a `SIGCHLD`), and one whose parent shell was still
/// alive (never re-parented), both survived a crash and a restart.
#[test]
fn a_restart_stops_descendants_that_left_their_group() {
    let state = state_dir();
    let mut server = start_server_in(&state, &[]);
    let detached = fifo("detached");
    let escaped = fifo("escaped");
    let body = format!(
        r#"{{"command":"setsid -f sh -c 'echo $$ > {}; exec sleep 3333'; setsid sh -c 'echo $$ > {}; exec sleep 3335' & exec sleep 3334","background":true}}"#,
        detached.display(),
        escaped.display()
    );
    let started = server.json("POST", "/api/v0/processes/start", &body);
    let leader = u32::try_from(started["pid"].as_u64().expect("pid")).expect("pid");
    let daemons = [read_pids(&detached)[0], read_pids(&escaped)[0]];
    for daemon in daemons {
        let stat = std::fs::read_to_string(format!("/proc/{daemon}/stat")).expect("alive");
        let pgrp: u32 = stat
            .rsplit_once(')')
            .expect("stat")
            .1
            .split_whitespace()
            .nth(2)
            .expect("pgrp")
            .parse()
            .expect("number");
        assert_ne!(pgrp, leader, "{daemon} should have left the group");
    }

    server.child.kill().expect("SIGKILL agentproc");
    server.child.wait().expect("reap agentproc");
    for pid in daemons.iter().chain([&leader]) {
        assert!(!is_dead(*pid), "{pid} should outlive the crash");
    }
    // The restart stops everything before it listens.
    let restarted = start_server_in(&state, &[]);
    for pid in daemons.iter().chain([&leader]) {
        assert!(is_dead(*pid), "{pid} survived the restart");
    }
    assert_eq!(restarted.terminate().code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
}

/// Whether this host lets an unprivileged process create user and mount
/// namespaces (to mount a tiny tmpfs); CI requires it.
fn namespaces_available() -> bool {
    let works = Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_NAMESPACES").is_none(),
            "AGENTPROC_REQUIRE_NAMESPACES is set but `unshare -rm` fails here"
        );
        eprintln!("skipped: this host does not allow `unshare -rm` (user and mount namespaces)");
    }
    works
}

/// Defect 2: with the state directory's filesystem full, starts answered
/// 200 although they were never journaled, so a crash left them running.
/// The state directory here is a 64 KiB tmpfs in a private mount namespace.
#[test]
fn a_start_that_cannot_be_journaled_is_refused_and_nothing_is_left_running() {
    if !namespaces_available() {
        return;
    }
    let state = state_dir();
    let output = state_dir();
    std::fs::create_dir_all(&state).expect("mkdir");
    let mut command = Command::new("unshare");
    command
        .args(["-rm", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=64k agentproc-test "$0" && exec "$1" serve --listen 127.0.0.1:0 --log-format json"#)
        .arg(&state)
        .arg(BIN)
        .env_remove("AGENTPROC_LISTEN")
        .env("AGENTPROC_STATE_DIR", &state)
        .env("AGENTPROC_OUTPUT_DIR", &output)
        // Hundreds of starts: keep the log (which nobody reads until the
        // end) from filling its pipe and blocking the server.
        .env(
            "AGENTPROC_LOG_LEVEL",
            "info,agentproc::access=warn,agentproc_core=warn",
        );
    let server = listening(command);

    // Fill the filesystem (the command runs in agentproc's namespace).
    let fill = server.json(
        "POST",
        "/api/v0/processes/start",
        &format!(
            r#"{{"command":"dd if=/dev/zero of={}/fill bs=4096 2>/dev/null; exit 0"}}"#,
            state.display()
        ),
    );
    let fill = fill["id"].as_str().expect("id").to_owned();
    server.json(
        "GET",
        &format!("/api/v0/processes/{fill}/output?wait=true"),
        "",
    );

    // The journal's last page still has room for some lines; then a start
    // must be refused.
    let mut running = Vec::new();
    let refusal = loop {
        assert!(running.len() < 1000, "no start was refused");
        let (status, body) = server.request(
            "POST",
            "/api/v0/processes/start",
            r#"{"command":"exec sleep 300","background":true}"#,
        );
        match status {
            200 => {
                let started: serde_json::Value = serde_json::from_str(&body).expect("json");
                running.push(started["pid"].as_u64().expect("pid"));
            }
            _ => break (status, body),
        }
    };
    assert_eq!(refusal.0, 503, "{}", refusal.1);
    let refusal: serde_json::Value = serde_json::from_str(&refusal.1).expect("json");
    assert_eq!(refusal["message"], "Failed to start process.");
    let detail = refusal["detail"].as_str().expect("detail");
    assert!(
        detail.contains("crash-recovery journal") && detail.contains("no space left on device"),
        "{detail}"
    );
    assert!(!running.is_empty());

    // Every start that was accepted is in the journal (seen through the
    // server's own mount namespace), and nothing else of this instance
    // runs: the refused start was stopped.
    let journal = std::fs::read_to_string(format!(
        "/proc/{}/root{}/process-groups",
        server.child.id(),
        state.display()
    ))
    .expect("read the journal");
    for pid in &running {
        assert!(
            journal
                .lines()
                .any(|line| line.starts_with(&format!("group {pid} "))),
            "{pid} not journaled:\n{journal}"
        );
    }
    let marker = journal
        .lines()
        .find_map(|line| line.strip_prefix("instance "))
        .expect("instance marker");
    let mut marked: Vec<u64> = marked_processes(marker);
    marked.sort_unstable();
    running.sort_unstable();
    assert_eq!(marked, running);

    assert_eq!(server.terminate().code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&output);
}

/// Live processes whose environment carries `AGENTPROC_INSTANCE=<marker>`.
fn marked_processes(marker: &str) -> Vec<u64> {
    let entry = format!("AGENTPROC_INSTANCE={marker}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|dir| dir.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|byte| *byte == 0)
                    .any(|item| item == entry.as_bytes())
            }) && !is_dead(u32::try_from(*pid).expect("pid"))
        })
        .collect()
}

/// Defect 3: a command or variable of 128 KiB or more got a 500 (`argument
/// list too long`), though the body was well under its limit.
#[test]
fn commands_and_variables_larger_than_the_kernel_accepts_are_a_400() {
    let server = start_server(&[]);
    // The largest single argument the kernel takes runs.
    let fits = format!(r#"{{"command":": {}"}}"#, "x".repeat(131_069));
    let started = server.json("POST", "/api/v0/processes/start", &fits);
    let id = started["id"].as_str().expect("id");
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");

    let too_long = format!(r#"{{"command":": {}"}}"#, "x".repeat(200_000));
    let (status, body) = server.request("POST", "/api/v0/processes/start", &too_long);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("200002 bytes") && body.contains("MAX_ARG_STRLEN"),
        "{body}"
    );

    let big_variable = format!(
        r#"{{"command":"true","env":{{"BIG":"{}"}}}}"#,
        "x".repeat(140_000)
    );
    let (status, body) = server.request("POST", "/api/v0/processes/start", &big_variable);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(r#"\"BIG\""#) && body.contains("MAX_ARG_STRLEN"),
        "{body}"
    );

    // Many variables, each fine, together above ARG_MAX (2 MiB by default;
    // a body limit of 4 MiB lets the request through).
    drop(server);
    let server = start_server(&[("AGENTPROC_MAX_BODY_BYTES", "4194304")]);
    let variables: Vec<String> = (0..30)
        .map(|n| format!(r#""V{n}":"{}""#, "x".repeat(100_000)))
        .collect();
    let many = format!(r#"{{"command":"true","env":{{{}}}}}"#, variables.join(","));
    let (status, body) = server.request("POST", "/api/v0/processes/start", &many);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ARG_MAX"), "{body}");
}

/// Defect 4: with a custom `output_dir`, logs were created 0644 in 0755
/// directories, readable by every local user.
#[test]
fn logs_in_a_custom_output_dir_are_private() {
    let output = state_dir().with_extension("output");
    let fresh = output.join("fresh");
    let server = start_server(&[("AGENTPROC_OUTPUT_DIR", fresh.to_str().expect("utf-8"))]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo a secret"}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(mode(&fresh), 0o700);
    let log_dir = fresh.join(&id);
    assert_eq!(mode(&log_dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&log_dir)
        .expect("list")
        .flatten()
        .collect();
    assert!(!files.is_empty());
    for file in files {
        assert_eq!(mode(&file.path()), 0o600, "{}", file.path().display());
    }
    drop(server);

    // An existing shared directory keeps its mode; what goes in it is private.
    let shared = output.join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = start_server(&[("AGENTPROC_OUTPUT_DIR", shared.to_str().expect("utf-8"))]);
    let started = server.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo a secret"}"#,
    );
    let id = started["id"].as_str().expect("id");
    // The directory is made with the first bytes: wait for them.
    server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(mode(&shared.join(id)), 0o700);
    drop(server);
    let _ = std::fs::remove_dir_all(&output);
}

/// Defect 5: an output directory that cannot be written made `serve` start
/// without a word, and every stream then answered an undocumented 500.
#[test]
fn an_unwritable_output_dir_stops_serve_and_a_missing_log_is_a_documented_500() {
    let base = state_dir().with_extension("unwritable");
    std::fs::create_dir_all(&base).expect("mkdir");
    let file = base.join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let message = refused_at_startup(
        Command::new(BIN)
            .env("AGENTPROC_STATE_DIR", base.join("state"))
            .env("AGENTPROC_OUTPUT_DIR", file.join("output")),
    );
    assert!(
        message.contains("cannot use the output directory"),
        "{message}"
    );
    // An existing directory on a read-only filesystem (a read-only tmpfs in
    // a private mount namespace): it used to start without a word.
    if namespaces_available() {
        let read_only = base.join("read-only");
        std::fs::create_dir_all(&read_only).expect("mkdir");
        let message = refused_at_startup(
            Command::new("unshare")
                .args(["-rm", "--propagation", "private", "sh", "-c"])
                .arg(r#"mount -t tmpfs -o ro agentproc-test "$0" && exec "$@""#)
                .arg(&read_only)
                .arg(BIN)
                .env("AGENTPROC_STATE_DIR", base.join("state"))
                .env("AGENTPROC_OUTPUT_DIR", &read_only),
        );
        assert!(
            message.contains("cannot use the output directory")
                && message.contains("Read-only file system"),
            "{message}"
        );
    }

    // A log that cannot be created later (the directory replaced by a
    // file): the stream route answers the 500 its documents list.
    let logs = base.join("logs");
    let server = start_server(&[("AGENTPROC_OUTPUT_DIR", logs.to_str().expect("utf-8"))]);
    std::fs::rename(&logs, base.join("moved")).expect("move the directory away");
    std::fs::write(&logs, "now a file").expect("write");
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
    assert_eq!(done["output"], "hi\n", "the head/tail view still works");
    let (status, body) = server.request("GET", &format!("/api/v0/processes/{id}/stream"), "");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Failed to read the output log."), "{body}");
    assert!(body.contains("no full output log was kept"), "{body}");
    let openapi: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("openapi.json"),
    )
    .expect("json");
    assert!(
        openapi["paths"]["/api/v0/processes/{id}/stream"]["get"]["responses"]["500"].is_object(),
        "the stream's 500 is documented"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&base);
}

/// Runs `command` with `serve --listen 127.0.0.1:0` appended and expects it
/// to refuse to start (exit 1); returns what it said. Fails, instead of
/// hanging, if it listens.
fn refused_at_startup(command: &mut Command) -> String {
    use std::io::BufRead;
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("AGENTPROC_LISTEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agentproc");
    let mut said = String::new();
    let mut log = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while log.read_line(&mut line).expect("read the log") > 0 {
        if line.contains("agentproc listening") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("it started: {said}{line}");
        }
        said.push_str(&line);
        line.clear();
    }
    assert_eq!(child.wait().expect("wait").code(), Some(1), "{said}");
    said
}

/// Defect 6: a second agentproc with its own state directory but the same
/// `output_dir` deleted the first one's live logs at startup.
#[test]
fn a_second_server_on_the_same_output_dir_is_refused_and_deletes_nothing() {
    let output = state_dir().with_extension("shared-output");
    let first = start_server(&[("AGENTPROC_OUTPUT_DIR", output.to_str().expect("utf-8"))]);
    let started = first.json(
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"echo kept"}"#,
    );
    let id = started["id"].as_str().expect("id").to_owned();
    first.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    let second_state = state_dir();
    let message = refused_at_startup(
        Command::new(BIN)
            .env("AGENTPROC_STATE_DIR", &second_state)
            .env("AGENTPROC_OUTPUT_DIR", &output),
    );
    assert!(
        message.contains("another agentproc is already using this output directory"),
        "{message}"
    );
    let read = first.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?cursor=0"),
        "",
    );
    assert_eq!(read["output"], "kept\n");
    drop(first);
    let _ = std::fs::remove_dir_all(&output);
    let _ = std::fs::remove_dir_all(&second_state);
}

/// Also: a body announced above the limit with `Expect: 100-continue` got
/// `100 Continue` (an invitation to send it) before the 413.
#[test]
fn an_oversized_body_is_refused_before_it_is_invited() {
    let server = start_server(&[]);
    let mut stream = TcpStream::connect(server.address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("hang guard");
    write!(
        stream,
        "POST /api/v0/processes/start HTTP/1.1\r\nHost: agentproc\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !response.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).expect("receive");
        assert!(read > 0, "closed without an answer");
        response.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    // A body within the limit is still invited and read.
    let (status, body) = exchange(
        TcpStream::connect(server.address).expect("connect"),
        "POST",
        "/api/v0/processes/start",
        r#"{"command":"true"}"#,
    );
    assert_eq!(status, 200, "{body}");
}

/// Also: `agentproc run -- sh -c "echo hi; exit 3"` joined the words like
/// ssh, so the server's shell ran `sh -c echo hi; exit 3` and printed an
/// empty line.
#[test]
fn the_cli_passes_several_words_as_arguments_and_one_word_as_a_command_line() {
    let server = start_server(&[]);
    let address = format!("http://{}", server.address);
    let words = Command::new(BIN)
        .args([
            "run",
            "--server",
            &address,
            "--",
            "sh",
            "-c",
            "echo hi; exit 3",
        ])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&words.stdout), "hi\n");
    assert_eq!(words.status.code(), Some(3));

    let line = Command::new(BIN)
        .args([
            "run",
            "--server",
            &address,
            "--",
            "echo one && echo two; exit 4",
        ])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&line.stdout), "one\ntwo\n");
    assert_eq!(line.status.code(), Some(4));

    let tricky = Command::new(BIN)
        .args([
            "run", "--server", &address, "--", "printf", "[%s]\\n", "it's", "$HOME", "a b",
        ])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&tricky.stdout),
        "[it's]\n[$HOME]\n[a b]\n"
    );
}
