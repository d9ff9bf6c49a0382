//! Terminals through the binary, with real programs: sizes and resizing,
//! input with named keys, the rendered screen (a Python REPL, a curses
//! program), Ctrl-C in an interactive shell, waiting until a program waits
//! for input, terminal queries answered, and bad requests refused. Waits
//! are the server's own (`until=input`, `until=match`), never sleeps.

use serde_json::Value;

use super::{Server, start_server};

fn start(server: &Server, body: &str) -> String {
    let started = server.json("POST", "/api/v0/processes/start", body);
    started["id"].as_str().expect("id").to_owned()
}

/// Waits (on the server) until the process waits for input.
fn until_input(server: &Server, id: &str) -> Value {
    let reply = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?until=input&timeout_ms=30000"),
        "",
    );
    assert_eq!(reply["wait_result"], "input", "{reply}");
    reply
}

/// Waits (on the server) until a line of output matches `pattern`.
fn until_match(server: &Server, id: &str, pattern: &str) -> Value {
    let pattern: String = form_urlencoded(pattern);
    let reply = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?until=match&pattern={pattern}&timeout_ms=30000"),
        "",
    );
    assert_eq!(reply["wait_result"], "matched", "{reply}");
    reply
}

fn form_urlencoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn input(server: &Server, id: &str, body: &str) {
    let (status, reply) = server.request("POST", &format!("/api/v0/processes/{id}/input"), body);
    assert_eq!(status, 200, "{reply}");
}

fn screen(server: &Server, id: &str) -> Value {
    server.json("GET", &format!("/api/v0/processes/{id}/screen"), "")
}

fn screen_text(screen: &Value) -> String {
    screen["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line.as_str().expect("text"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sizes_resizes_and_the_terminal_device() {
    let server = start_server(&[]);
    let id = start(
        &server,
        r#"{"command":"trap 'echo got WINCH; stty size' WINCH; stty size; tty; echo ready; while :; do read -r line && eval \"$line\"; done","tty":{"rows":30,"cols":100}}"#,
    );
    let ready = until_match(&server, &id, "^ready");
    let output = ready["output"].as_str().expect("output");
    assert!(output.contains("30 100"), "{output}");
    assert!(output.contains("/dev/pts/"), "{output}");
    let info = server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(
        info["processes"][0]["tty"],
        serde_json::json!({"rows": 30, "cols": 100})
    );

    let (status, body) = server.request(
        "POST",
        &format!("/api/v0/processes/{id}/resize"),
        r#"{"rows":40,"cols":120}"#,
    );
    assert_eq!(status, 200, "{body}");
    let after = until_match(&server, &id, "^40 120");
    assert!(
        after["output"]
            .as_str()
            .expect("output")
            .contains("got WINCH")
    );
    let screen = screen(&server, &id);
    assert_eq!(
        (screen["rows"].as_u64(), screen["cols"].as_u64()),
        (Some(40), Some(120))
    );

    // Bad sizes are refused; nothing changes.
    for body in [
        r#"{"rows":0,"cols":80}"#,
        r#"{"rows":24,"cols":1001}"#,
        r#"{"rows":24}"#,
        r#"{"rows":"x","cols":3}"#,
    ] {
        let (status, reply) =
            server.request("POST", &format!("/api/v0/processes/{id}/resize"), body);
        assert_eq!(status, 400, "{body}: {reply}");
    }
    for body in [
        r#"{"command":"true","tty":{"rows":0,"cols":80}}"#,
        r#"{"command":"true","tty":{"rows":24,"cols":1001}}"#,
        r#"{"command":"true","tty":"yes"}"#,
        r#"{"command":"true","tty":{"rows":24,"depth":3}}"#,
    ] {
        let (status, reply) = server.request("POST", "/api/v0/processes/start", body);
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(reply.contains("tty"), "{reply}");
    }
}

#[test]
fn a_python_repl_is_driven_through_input_and_read_from_the_screen() {
    let server = start_server(&[]);
    let id = start(&server, r#"{"command":"python3 -q","tty":true}"#);
    until_input(&server, &id);
    input(&server, &id, r#"{"text":"1+1","keys":["Enter"]}"#);
    let waiting = until_input(&server, &id);
    assert_eq!(waiting["awaiting_input"], true);
    let screen = screen(&server, &id);
    let text = screen_text(&screen);
    assert!(text.contains(">>> 1+1\n2\n>>>"), "{text}");
    assert_eq!(screen["awaiting_input"], true);
    assert_eq!(screen["alternate_screen"], false);

    // End of input (Ctrl-D) ends the REPL; the final screen stays readable.
    input(&server, &id, r#"{"eof":true}"#);
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    let last = self::screen(&server, &id);
    assert_eq!(last["running"], false);
    assert!(screen_text(&last).contains("2"));
    assert_eq!(last["awaiting_input"], false);
}

#[test]
fn ctrl_c_interrupts_a_sleep_and_the_interactive_shell_survives() {
    let server = start_server(&[]);
    let id = start(
        &server,
        r#"{"command":"bash --norc --noprofile -i","tty":true}"#,
    );
    until_input(&server, &id);
    // The arithmetic keeps the echo of the typed line from matching.
    input(
        &server,
        &id,
        r#"{"text":"echo sleep-$((1+1))ing; sleep 300; echo slept","keys":["Enter"]}"#,
    );
    let _ = until_match(&server, &id, "sleep-2ing");
    input(&server, &id, r#"{"keys":["C-c"]}"#);
    until_input(&server, &id);
    input(
        &server,
        &id,
        r#"{"text":"echo survived-$((6*7))","keys":["Enter"]}"#,
    );
    let survived = until_match(&server, &id, "survived-42");
    assert_eq!(survived["running"], true);
    assert!(
        !survived["output"]
            .as_str()
            .expect("output")
            .contains("\nslept")
    );
    input(&server, &id, r#"{"text":"exit 3","keys":["Enter"]}"#);
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 3, "{done}");
}

/// A Python program in a file of its own (the test removes it).
struct Script(std::path::PathBuf);

impl Script {
    fn new(name: &str, source: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("agentproc-it-{}-{name}.py", std::process::id()));
        std::fs::write(&path, source).expect("write script");
        Self(path)
    }

    fn command(&self, tty: &str) -> String {
        format!(
            r#"{{"command":"python3 {}","tty":{tty}}}"#,
            self.0.display()
        )
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_curses_program_uses_the_alternate_screen_and_its_drawing_is_readable() {
    let server = start_server(&[]);
    let script = Script::new(
        "curses",
        "import curses\n\
         def main(screen):\n\
         \x20   screen.addstr(3, 5, 'CURSES PANEL')\n\
         \x20   screen.addstr(5, 5, 'press q')\n\
         \x20   screen.refresh()\n\
         \x20   while screen.getch() != ord('q'):\n\
         \x20       pass\n\
         curses.wrapper(main)\n\
         print('back on the main screen')\n",
    );
    let id = start(&server, &script.command("true"));
    let waiting = until_input(&server, &id);
    assert_eq!(waiting["input_kind"], "raw", "{waiting}");
    let screen = screen(&server, &id);
    assert_eq!(screen["alternate_screen"], true, "{screen}");
    let lines = screen["lines"].as_array().expect("lines");
    assert_eq!(lines[3].as_str().map(str::trim), Some("CURSES PANEL"));
    input(&server, &id, r#"{"keys":["q"]}"#);
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    let after = self::screen(&server, &id);
    assert_eq!(after["alternate_screen"], false);
    assert!(screen_text(&after).contains("back on the main screen"));
}

#[test]
fn waiting_for_input_knows_lines_passwords_and_sleeps() {
    let server = start_server(&[]);
    let shell = start(&server, r#"{"command":"read x; echo got $x","tty":true}"#);
    let waiting = until_input(&server, &shell);
    assert_eq!(waiting["input_kind"], "line");

    let python = start(
        &server,
        r#"{"command":"python3 -c \"input('name? ')\"","tty":true}"#,
    );
    let waiting = until_input(&server, &python);
    assert!(
        waiting["output"]
            .as_str()
            .expect("output")
            .contains("name? ")
    );
    assert_eq!(waiting["input_kind"], "line");

    let secret = start(
        &server,
        r#"{"command":"python3 -c \"import getpass; getpass.getpass('Password: ')\"","tty":true}"#,
    );
    let waiting = until_input(&server, &secret);
    assert_eq!(waiting["input_kind"], "password", "{waiting}");

    // A pipe reader, without a terminal.
    let piped = start(&server, r#"{"command":"read x; echo got $x","stdin":true}"#);
    let waiting = until_input(&server, &piped);
    assert_eq!(waiting["input_kind"], "pipe");
    // Text and eof work on a pipe; keys need a terminal.
    let (status, body) = server.request(
        "POST",
        &format!("/api/v0/processes/{piped}/input"),
        r#"{"keys":["Enter"]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("need a terminal"), "{body}");
    input(&server, &piped, r#"{"text":"hello\n","eof":true}"#);
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{piped}/output?wait=true"),
        "",
    );
    assert_eq!(done["output"], "got hello\n");

    // Sleeping is not waiting for input: the wait times out.
    let sleeper = start(
        &server,
        r#"{"command":"echo sleeping; exec sleep 5","tty":true}"#,
    );
    let _ = until_match(&server, &sleeper, "^sleeping");
    let slept = server.json(
        "GET",
        &format!("/api/v0/processes/{sleeper}/output?until=input&idle_ms=200&timeout_ms=1500"),
        "",
    );
    assert_eq!(slept["wait_result"], "timeout", "{slept}");
    assert_eq!(slept["awaiting_input"], false);
}

#[test]
fn a_program_that_asks_where_the_cursor_is_gets_an_answer() {
    let server = start_server(&[]);
    // Raw mode, then the query; it blocks until the terminal answers.
    let script = Script::new(
        "cursor",
        "import os, termios, tty\n\
         saved = termios.tcgetattr(0)\n\
         tty.setraw(0)\n\
         os.write(1, b'abc\\x1b[6n')\n\
         reply = b''\n\
         while not reply.endswith(b'R'):\n\
         \x20   reply += os.read(0, 1)\n\
         termios.tcsetattr(0, termios.TCSADRAIN, saved)\n\
         print('\\nanswered', reply[2:-1].decode())\n",
    );
    let id = start(&server, &script.command("true"));
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true&timeout_ms=30000"),
        "",
    );
    assert_eq!(done["wait_result"], "exited", "{done}");
    assert!(
        done["output"]
            .as_str()
            .expect("output")
            .contains("answered 1;4"),
        "{done}"
    );
}

#[test]
fn terminal_routes_refuse_what_they_cannot_do() {
    let server = start_server(&[]);
    let plain = start(&server, r#"{"command":"sleep 300","background":true}"#);
    for (method, path, body) in [
        (
            "POST",
            format!("/api/v0/processes/{plain}/resize"),
            r#"{"rows":10,"cols":10}"#,
        ),
        ("GET", format!("/api/v0/processes/{plain}/screen"), ""),
        (
            "POST",
            format!("/api/v0/processes/{plain}/input"),
            r#"{"text":"x"}"#,
        ),
    ] {
        let (status, reply) = server.request(method, &path, body);
        assert_eq!(status, 409, "{path}: {reply}");
    }
    let tty = start(&server, r#"{"command":"cat","tty":true}"#);
    let (status, reply) = server.request(
        "POST",
        &format!("/api/v0/processes/{tty}/input"),
        r#"{"text":"abc","keys":["Enter","NoSuchKey"]}"#,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("Unknown key \\\"NoSuchKey\\\""), "{reply}");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, _) = server.request("GET", &format!("/api/v0/processes/{unknown}/screen"), "");
    assert_eq!(status, 404);
}

/// A terminal composes with the sandbox executor: the size is right, and
/// the cgroup, pids limit and niceness apply to the terminal's program.
#[test]
fn a_terminal_with_the_sandbox_executor() {
    let server = start_server(&[("AGENTPROC_EXECUTOR", "sandbox")]);
    let health = server.json("GET", "/healthz", "");
    if health["executor"]["cgroups"] == "none" {
        assert!(
            std::env::var_os("AGENTPROC_REQUIRE_CGROUPS").is_none(),
            "this host was expected to have usable cgroups: {health}"
        );
        eprintln!("skipped: no usable cgroups here ({health})");
        return;
    }
    let id = start(
        &server,
        r#"{"command":"stty size; tty; echo nice=$(nice); grep -c agentproc- /proc/self/cgroup","tty":{"rows":12,"cols":34},"limits":{"pids":32}}"#,
    );
    let done = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?wait=true"),
        "",
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    let output = done["output"].as_str().expect("output");
    assert!(output.starts_with("12 34\r\n/dev/pts/"), "{output}");
    assert!(output.contains("nice=5"), "{output}");
    let cgroups = output.lines().last().expect("count").trim();
    assert_ne!(cgroups, "0", "{output}");
    let listed = server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(listed["processes"][0]["limits"]["pids"], 32, "{listed}");
}
