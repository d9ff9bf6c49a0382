//! Every tool over a byte stream, against real processes.

use agentproc_api_mcp::McpConfig;
use agentproc_api_mcp::tools::TOOL_NAMES;
use serde_json::{Value, json};

use crate::Session;

#[tokio::test]
async fn the_tools_are_listed_with_schemas_and_annotations() {
    let session = Session::embedded().await;
    let tools = session.client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, TOOL_NAMES);
    for tool in &tools {
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        let output = tool.output_schema.as_ref().expect("an output schema");
        assert_eq!(output["type"], "object", "{}", tool.name);
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 100),
            "{} needs a real description",
            tool.name
        );
        let schemas = format!("{:?}{:?}", tool.input_schema, tool.output_schema);
        assert!(
            !schemas.contains("\\n"),
            "{}: descriptions are prose, without the doc comments' line breaks",
            tool.name
        );
        let annotations = tool.annotations.as_ref().expect("annotations");
        let read_only = annotations.read_only_hint == Some(true);
        let expected_read_only = matches!(
            tool.name.as_ref(),
            "process_output" | "process_list" | "process_search" | "process_screen"
        );
        assert_eq!(read_only, expected_read_only, "{}", tool.name);
        assert_eq!(
            annotations.destructive_hint == Some(true),
            tool.name == "process_signal",
            "{}",
            tool.name
        );
    }
    let start = &tools[0];
    assert_eq!(start.input_schema["required"], json!(["command"]));
    let properties = start.input_schema["properties"]
        .as_object()
        .expect("properties");
    for name in [
        "command",
        "workdir",
        "env",
        "background",
        "timeout_ms",
        "wait_ms",
        "client_token",
        "tty",
        "stdin",
        "max_tokens",
    ] {
        assert!(properties.contains_key(name), "process_start lacks {name}");
    }
    let output = &tools[1].input_schema["properties"];
    for name in [
        "id",
        "cursor",
        "wait_ms",
        "until",
        "pattern",
        "idle_ms",
        "max_tokens",
    ] {
        assert!(output.get(name).is_some(), "process_output lacks {name}");
    }
    let signal = Value::Object(tools[3].input_schema.as_ref().clone()).to_string();
    for name in ["interrupt", "terminate", "kill", "hangup"] {
        assert!(signal.contains(name), "{signal}");
    }
    session.close().await;
}

#[tokio::test]
async fn a_command_answers_with_its_exit_and_output() {
    let session = Session::embedded().await;
    let answer = session
        .call("process_start", json!({"command": "echo hi; exit 3"}))
        .await
        .ok();
    let id = answer.id();
    let first = answer.text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("exit 3 (exited) after ") && first.ends_with(&format!(" · id {id}")),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("\n\nhi"), "{}", answer.text);
    let structured = &answer.structured;
    assert_eq!(structured["running"], false);
    assert_eq!(structured["exit_code"], 3);
    assert_eq!(structured["exit_reason"], "exited");
    assert_eq!(structured["output"], "hi\n");
    assert_eq!(structured["cursor"], 0);
    assert_eq!(structured["next_cursor"], 3);
    assert_eq!(structured["wait_result"], "exited");
    assert_eq!(structured["view"]["source"], "log");
    assert!(structured["duration_ms"].is_u64());

    // Everything was read: nothing new, and that says so.
    let again = session.call("process_output", json!({"id": id})).await.ok();
    assert!(again.text.ends_with("(no new output)"), "{}", again.text);
    assert_eq!(again.structured["next_cursor"], 3);
    // An explicit cursor reads from there.
    let all = session
        .call("process_output", json!({"id": id, "cursor": 0}))
        .await
        .ok();
    assert_eq!(all.structured["output"], "hi\n");
    session.close().await;
}

#[tokio::test]
async fn a_background_server_is_followed_until_its_ready_line() {
    let session = Session::embedded().await;
    let fifo = fifo("ready");
    let command = format!(
        "echo compiling; read port < {}; echo \"Listening on port $port\"; exec sleep 300",
        fifo.display()
    );
    let started = session
        .call(
            "process_start",
            json!({"command": command, "background": true}),
        )
        .await
        .ok();
    let id = started.id();
    // Background: the answer comes at once, and says how to follow it.
    assert_eq!(started.structured["running"], true);
    assert!(started.structured.get("wait_result").is_none());
    assert!(
        started.text.contains("\"until\": \"match\""),
        "{}",
        started.text
    );

    // The server becomes ready once the test writes its port.
    let writer = std::thread::spawn(move || std::fs::write(&fifo, "3000\n"));
    let ready = session
        .call(
            "process_output",
            json!({"id": id, "until": "match", "pattern": "Listening on", "wait_ms": 120000}),
        )
        .await
        .ok();
    writer.join().expect("writer").expect("write the fifo");
    assert_eq!(ready.structured["wait_result"], "matched");
    assert!(
        ready.structured["output"]
            .as_str()
            .is_some_and(|output| output.contains("Listening on port 3000")),
        "{}",
        ready.text
    );
    assert!(
        ready.text.contains("The pattern matched."),
        "{}",
        ready.text
    );

    // A line printed before the wait matches at once.
    let again = session
        .call(
            "process_output",
            json!({"id": id, "pattern": "compiling", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(again.structured["wait_result"], "matched");
    assert_eq!(again.structured["output"], "");

    let listed = session.call("process_list", json!({})).await.ok();
    assert_eq!(listed.structured["processes"][0]["id"], id);
    assert_eq!(listed.structured["processes"][0]["running"], true);
    assert_eq!(listed.structured["processes"][0]["background"], true);
    assert!(listed.text.contains(&id), "{}", listed.text);

    let signaled = session
        .call("process_signal", json!({"id": id, "signal": "terminate"}))
        .await
        .ok();
    assert_eq!(signaled.structured["sent"], "SIGTERM");
    let ended = session
        .call(
            "process_output",
            json!({"id": id, "until": "exit", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(ended.structured["running"], false);
    assert_eq!(ended.structured["exit_reason"], "killed");
    assert_eq!(ended.structured["signal"], "SIGTERM");
    assert!(
        ended.text.starts_with("exit -1 (killed, SIGTERM)"),
        "{}",
        ended.text
    );
    // Signalling it again is an error the model can act on.
    let message = session
        .call("process_signal", json!({"id": id, "signal": "kill"}))
        .await
        .error();
    assert!(message.contains("is not running anymore"), "{message}");
    session.close().await;
}

#[tokio::test]
async fn input_to_a_pipe_and_only_new_output() {
    let session = Session::embedded().await;
    // A foreground start of a program that reads returns once it waits.
    let started = session
        .call(
            "process_start",
            json!({"command": "cat", "stdin": true, "wait_ms": 120000}),
        )
        .await
        .ok();
    let id = started.id();
    assert_eq!(started.structured["wait_result"], "input");
    assert_eq!(started.structured["awaiting_input"], true);
    assert_eq!(started.structured["input_kind"], "pipe");
    assert!(started.text.contains("process_input"), "{}", started.text);

    let sent = session
        .call("process_input", json!({"id": id, "text": "one\n"}))
        .await
        .ok();
    assert_eq!(sent.structured["written"], 4);
    let first = session
        .call(
            "process_output",
            json!({"id": id, "until": "output", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(first.structured["output"], "one\n");

    session
        .call("process_input", json!({"id": id, "text": "two\n"}))
        .await
        .ok();
    // Without a cursor: only what is new since the previous read.
    let second = session
        .call(
            "process_output",
            json!({"id": id, "until": "output", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(second.structured["output"], "two\n");
    assert_eq!(second.structured["cursor"], 4);

    let message = session
        .call("process_input", json!({"id": id, "keys": ["Enter"]}))
        .await
        .error();
    assert!(message.contains("Named keys need a terminal"), "{message}");
    let message = session
        .call("process_input", json!({"id": id}))
        .await
        .error();
    assert!(message.contains("Nothing to send"), "{message}");

    session
        .call("process_input", json!({"id": id, "eof": true}))
        .await
        .ok();
    let ended = session
        .call(
            "process_output",
            json!({"id": id, "until": "exit", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(ended.structured["exit_code"], 0);
    let message = session
        .call("process_input", json!({"id": id, "text": "late"}))
        .await
        .error();
    assert!(message.contains("is not running anymore"), "{message}");
    session.close().await;
}

#[tokio::test]
async fn a_terminal_program_is_typed_into_and_its_screen_read() {
    let session = Session::embedded().await;
    let started = session
        .call(
            "process_start",
            json!({
                "command": "printf 'name? '; read name; printf '\\033]0;greeter\\007'; echo \"hello $name\"; read done",
                "tty": {"rows": 10, "cols": 40},
                "wait_ms": 120000,
            }),
        )
        .await
        .ok();
    let id = started.id();
    assert_eq!(started.structured["wait_result"], "input");
    assert_eq!(started.structured["input_kind"], "line");
    assert!(
        started.text.contains("waiting for input (line)"),
        "{}",
        started.text
    );

    session
        .call(
            "process_input",
            json!({"id": id, "text": "ada", "keys": ["Enter"]}),
        )
        .await
        .ok();
    let greeted = session
        .call(
            "process_output",
            json!({"id": id, "until": "match", "pattern": "hello ada", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(greeted.structured["wait_result"], "matched");

    let screen = session.call("process_screen", json!({"id": id})).await.ok();
    assert_eq!(screen.structured["rows"], 10);
    assert_eq!(screen.structured["cols"], 40);
    assert_eq!(screen.structured["title"], "greeter");
    let lines = screen.structured["lines"].as_array().expect("lines");
    assert_eq!(lines[0], "name? ada");
    assert_eq!(lines[1], "hello ada");
    assert!(screen.text.contains("hello ada"), "{}", screen.text);

    let message = session
        .call("process_input", json!({"id": id, "keys": ["Nope"]}))
        .await
        .error();
    assert!(message.contains("Unknown key \"Nope\""), "{message}");
    session
        .call("process_input", json!({"id": id, "keys": ["C-c"]}))
        .await
        .ok();
    let ended = session
        .call(
            "process_output",
            json!({"id": id, "until": "exit", "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(ended.structured["running"], false);

    // A process without a terminal has no screen.
    let plain = session
        .call("process_start", json!({"command": "true"}))
        .await
        .ok();
    let message = session
        .call("process_screen", json!({"id": plain.id()}))
        .await
        .error();
    assert!(message.contains("has no terminal"), "{message}");
    session.close().await;
}

#[tokio::test]
async fn search_finds_lines_with_context_within_the_budget() {
    let session = Session::embedded().await;
    let started = session
        .call("process_start", json!({"command": "seq 1 100"}))
        .await
        .ok();
    let id = started.id();
    let found = session
        .call(
            "process_search",
            json!({"id": id, "pattern": "^5", "context": 1, "max_matches": 3}),
        )
        .await
        .ok();
    let matches = found.structured["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 3);
    assert_eq!(matches[0]["line"], 5);
    assert_eq!(matches[0]["text"], "5");
    assert_eq!(matches[0]["before"], json!([{"line": 4, "text": "4"}]));
    assert_eq!(matches[1]["line"], 50);
    assert_eq!(found.structured["limit_hit"], true);
    assert!(found.text.contains("5:5\n6-6"), "{}", found.text);
    assert!(
        found.text.contains("stopped at max_matches (3)"),
        "{}",
        found.text
    );

    let message = session
        .call("process_search", json!({"id": id, "pattern": "("}))
        .await
        .error();
    assert!(message.starts_with("Invalid pattern \"(\""), "{message}");
    let message = session
        .call(
            "process_search",
            json!({"id": id, "pattern": "x", "context": 11}),
        )
        .await
        .error();
    assert!(
        message.contains("context must be from 0 to 10"),
        "{message}"
    );
    let message = session
        .call(
            "process_search",
            json!({"id": id, "pattern": "x", "max_matches": 0}),
        )
        .await
        .error();
    assert!(
        message.contains("max_matches must be from 1 to 100"),
        "{message}"
    );
    let none = session
        .call("process_search", json!({"id": id, "pattern": "nothing"}))
        .await
        .ok();
    assert!(none.text.starts_with("No line"), "{}", none.text);
    session.close().await;
}

#[tokio::test]
async fn results_stay_within_their_budgets() {
    let session = Session::with_config(McpConfig {
        max_result_bytes: 600,
        ..McpConfig::default()
    })
    .await;
    // A large output is cut to the token budget, errors kept.
    let started = session
        .call(
            "process_start",
            json!({
                "command": "seq 1 20000; echo 'error: the build failed'; seq 1 20000",
                "max_tokens": 300,
            }),
        )
        .await
        .ok();
    let view = &started.structured["view"];
    assert!(view["tokens"].as_u64().is_some_and(|t| t <= 300), "{view}");
    assert_eq!(view["max_tokens"], 300);
    assert!(view["omitted_lines"].as_u64().is_some_and(|n| n > 30_000));
    let output = started.structured["output"].as_str().expect("output");
    assert!(output.contains("error: the build failed"), "{output}");
    assert!(output.contains("[… "), "{output}");
    assert!(output.len() < 4000, "{}", output.len());

    // A search with many matches stops at the byte budget, and says so.
    let id = started.id();
    let found = session
        .call(
            "process_search",
            json!({"id": id, "pattern": "1", "max_matches": 100}),
        )
        .await
        .ok();
    assert_eq!(found.structured["truncated"], true);
    assert!(found.text.len() < 900, "{}", found.text.len());
    assert!(
        found.text.contains("more matches not shown"),
        "{}",
        found.text
    );

    // So does a list of many processes.
    for n in 0..12 {
        session
            .call(
                "process_start",
                json!({"command": format!("echo {n}; : {}", "x".repeat(100))}),
            )
            .await
            .ok();
    }
    let listed = session.call("process_list", json!({})).await.ok();
    assert_eq!(listed.structured["truncated"], true);
    assert!(listed.text.contains("more not shown"), "{}", listed.text);
    assert!(listed.text.len() < 1200, "{}", listed.text.len());
    session.close().await;
}

#[tokio::test]
async fn a_client_token_attaches_instead_of_running_twice() {
    let session = Session::embedded().await;
    let arguments = json!({"command": "echo once", "client_token": "call-42"});
    let first = session.call("process_start", arguments.clone()).await.ok();
    let second = session.call("process_start", arguments).await.ok();
    assert_eq!(first.id(), second.id());
    assert_eq!(first.structured["attached"], false);
    assert_eq!(second.structured["attached"], true);
    assert!(second.text.contains("was not run again"), "{}", second.text);
    let other = session
        .call(
            "process_start",
            json!({"command": "echo twice", "client_token": "call-42"}),
        )
        .await
        .error();
    assert!(other.contains("different parameters"), "{other}");
    session.close().await;
}

#[tokio::test]
async fn a_wait_that_expires_leaves_the_command_running() {
    let session = Session::embedded().await;
    let fifo = fifo("release");
    let started = session
        .call(
            "process_start",
            json!({
                "command": format!("echo started; read x < {}; echo done", fifo.display()),
                "wait_ms": 1,
            }),
        )
        .await
        .ok();
    let id = started.id();
    assert_eq!(started.structured["running"], true);
    assert_eq!(started.structured["wait_result"], "timeout");
    assert!(
        started.text.contains("the process was not stopped"),
        "{}",
        started.text
    );
    assert!(
        started.text.contains("It keeps running."),
        "{}",
        started.text
    );
    let writer = std::thread::spawn(move || std::fs::write(&fifo, "go\n"));
    let ended = session
        .call(
            "process_output",
            json!({"id": id, "until": "exit", "wait_ms": 120000}),
        )
        .await
        .ok();
    writer.join().expect("writer").expect("write the fifo");
    assert_eq!(ended.structured["exit_code"], 0);
    assert!(
        ended.structured["output"]
            .as_str()
            .is_some_and(|output| output.ends_with("done\n")),
        "{}",
        ended.text
    );
    session.close().await;
}

#[tokio::test]
async fn bad_arguments_get_clear_errors() {
    let session = Session::embedded().await;
    let cases: &[(&str, Value, &str)] = &[
        (
            "process_start",
            json!({}),
            "Invalid arguments for process_start: missing field `command`.",
        ),
        (
            "process_start",
            json!({"command": "true", "wait_ms": "soon"}),
            "Invalid arguments for process_start: wait_ms: invalid type: string \"soon\", expected a whole number (0 or more).",
        ),
        (
            "process_start",
            json!({"command": "true", "background": "yes"}),
            "Invalid arguments for process_start: background: invalid type: string \"yes\", expected true or false.",
        ),
        (
            "process_start",
            json!({"command": "   "}),
            "command is empty: give the shell command line to run, e.g. \"make test\".",
        ),
        (
            "process_start",
            json!({"command": "true", "max_tokens": 10}),
            "max_tokens must be from 200 to 32000 (default 2000).",
        ),
        (
            "process_start",
            json!({"command": "true", "tty": "yes"}),
            "tty must be true, false or {\"rows\": R, \"cols\": C}, not \"yes\".",
        ),
        (
            "process_signal",
            json!({"id": "00000000-0000-4000-8000-000000000000", "signal": "stop"}),
            "Invalid arguments for process_signal: signal: unknown variant `stop`, expected one of `interrupt`, `terminate`, `kill`, `hangup`.",
        ),
        (
            "process_output",
            json!({"id": "00000000-0000-4000-8000-000000000000", "until": "soon"}),
            "Invalid arguments for process_output: until: unknown variant `soon`, expected one of `exit`, `output`, `match`, `idle`, `input`.",
        ),
        (
            "process_output",
            json!({"id": "00000000-0000-4000-8000-000000000000", "until": "match"}),
            "until \"match\" needs a pattern: a regular expression for the line to wait for, e.g. \"Listening on|ready\".",
        ),
        (
            "process_output",
            json!({"id": "00000000-0000-4000-8000-000000000000", "until": "idle"}),
            "until \"idle\" needs idle_ms: how long the output must stay quiet, in milliseconds (more than 0).",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let message = session.call(tool, arguments.clone()).await.error();
        assert_eq!(&message, expected, "{tool} {arguments}");
    }
    let message = session
        .call("process_output", json!({"id": "nope"}))
        .await
        .error();
    assert!(
        message.starts_with("\"nope\" is not a process id"),
        "{message}"
    );
    let message = session
        .call(
            "process_output",
            json!({"id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await
        .error();
    assert!(message.starts_with("No process with id"), "{message}");
    assert!(message.contains("process_list"), "{message}");
    let message = session
        .call("process_start", json!({"command": "true", "timeout": 5}))
        .await
        .error();
    assert!(message.contains("unknown field `timeout`"), "{message}");
    // An unknown tool is a protocol error.
    let error = session
        .try_call("process_frobnicate", json!({}))
        .await
        .expect_err("an unknown tool");
    assert!(error.to_string().contains("Unknown tool"), "{error}");
    session.close().await;
}

#[tokio::test]
async fn a_deadline_stops_the_command_and_says_so() {
    let session = Session::embedded().await;
    let ended = session
        .call(
            "process_start",
            json!({"command": "echo slow; exec sleep 300", "timeout_ms": 300, "wait_ms": 120000}),
        )
        .await
        .ok();
    assert_eq!(ended.structured["exit_reason"], "deadline_exceeded");
    assert!(
        ended
            .text
            .starts_with("exit -1 (deadline_exceeded, SIGTERM)"),
        "{}",
        ended.text
    );
    session.close().await;
}

/// A FIFO the test writes to when the command may go on: opening it for
/// writing blocks until the command opened it for reading.
fn fifo(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "agentproc-mcp-{}-{name}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    path
}

#[test]
fn docs_list_every_tool_and_argument() {
    let api = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md"))
        .expect("docs/API.md");
    let section = &api[api.find("\n## MCP\n").expect("an MCP section")..];
    for tool in agentproc_api_mcp::tools::definitions() {
        let heading = format!("\n### `{}`\n", tool.name);
        let start = section
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/API.md has no {heading:?}"));
        let body = &section[start + heading.len()..];
        let body = &body[..body.find("\n### ").unwrap_or(body.len())];
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for name in properties.keys() {
            assert!(
                body.contains(&format!("| `{name}` |")),
                "docs/API.md does not describe {}'s {name}",
                tool.name
            );
        }
    }
}
