//! MCP against the real binary: `agentproc mcp --server`'s backend driven by
//! rmcp's client in process, against a real `agentproc serve` (every tool,
//! long waits in slices, a server without full logs), and `/mcp` of
//! `agentproc serve` behind its token.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use agentproc::client::{Client, Server as Address};
use agentproc::mcp::HttpBackend;
use agentproc_api_mcp::{McpConfig, McpServer, serve_io};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::{Server, fifo, start_server};

/// rmcp's client, connected in process to tools over `server`'s HTTP API.
async fn connect(server: &Server, slice: Duration) -> RunningService<RoleClient, ()> {
    let backend = HttpBackend::new(Client::new(Address::Tcp(server.address.to_string()), None))
        .with_wait_slice(slice);
    let tools = McpServer::new(Arc::new(backend), McpConfig::default());
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_side);
    tokio::spawn(async move {
        let _ = serve_io(tools, read, write).await;
    });
    let (read, write) = tokio::io::split(client_side);
    ().serve((read, write))
        .await
        .expect("the MCP session begins")
}

/// Calls `tool`; returns (text, structured content, is error).
async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
    arguments: Value,
) -> (String, Value, bool) {
    let arguments: JsonObject = match arguments {
        Value::Object(object) => object,
        other => panic!("arguments must be an object, not {other}"),
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await
        .expect("tools/call");
    let text = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    (
        text,
        result.structured_content.unwrap_or(Value::Null),
        result.is_error == Some(true),
    )
}

/// A call that must succeed: its structured content.
async fn ok(
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
    arguments: Value,
) -> Value {
    let (text, structured, is_error) = call(client, tool, arguments).await;
    assert!(!is_error, "{tool}: {text}");
    structured
}

/// A call that must fail: the message.
async fn fails(
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
    arguments: Value,
) -> String {
    let (text, _, is_error) = call(client, tool, arguments).await;
    assert!(is_error, "{tool} should fail: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tool_through_a_running_server() {
    let server = start_server(&[("AGENTPROC_INPUT_SETTLE", "200ms")]);
    let client = connect(&server, Duration::from_secs(50)).await;

    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 7);

    // A command, its exit and output; then nothing new.
    let (text, done, _) = call(
        &client,
        "process_start",
        json!({"command": "echo hi; exit 3"}),
    )
    .await;
    assert!(text.starts_with("exit 3 (exited) after "), "{text}");
    assert_eq!(done["output"], "hi\n");
    assert_eq!(done["exit_reason"], "exited");
    let id = done["id"].as_str().expect("id").to_owned();
    let again = ok(&client, "process_output", json!({"id": id})).await;
    assert_eq!(again["output"], "");
    assert_eq!(again["cursor"], 3);
    // The process is the server's: its API lists it.
    let listed = server.json("GET", "/api/v0/processes/list", "");
    assert_eq!(listed["processes"][0]["id"], id);

    // A background server, followed until its ready line.
    let ready = fifo("mcp-ready");
    let started = ok(
        &client,
        "process_start",
        json!({
            "command": format!("echo compiling; read port < {}; echo \"Listening on $port\"; exec sleep 300", ready.display()),
            "background": true,
        }),
    )
    .await;
    let dev = started["id"].as_str().expect("id").to_owned();
    let writer = std::thread::spawn(move || std::fs::write(&ready, "3000\n"));
    let matched = ok(
        &client,
        "process_output",
        json!({"id": dev, "until": "match", "pattern": "Listening on", "wait_ms": 120_000}),
    )
    .await;
    writer.join().expect("writer").expect("write the fifo");
    assert_eq!(matched["wait_result"], "matched");
    assert!(
        matched["output"]
            .as_str()
            .is_some_and(|output| output.contains("Listening on 3000")),
        "{matched}"
    );

    // Input to cat, only new output each time.
    let cat = ok(
        &client,
        "process_start",
        json!({"command": "cat", "stdin": true, "wait_ms": 120_000}),
    )
    .await;
    assert_eq!(cat["wait_result"], "input");
    assert_eq!(cat["input_kind"], "pipe");
    let cat = cat["id"].as_str().expect("id").to_owned();
    for line in ["one\n", "two\n"] {
        let sent = ok(&client, "process_input", json!({"id": cat, "text": line})).await;
        assert_eq!(sent["written"], 4);
        let read = ok(
            &client,
            "process_output",
            json!({"id": cat, "until": "output", "wait_ms": 120_000}),
        )
        .await;
        assert_eq!(read["output"], line);
    }
    let message = fails(
        &client,
        "process_input",
        json!({"id": cat, "keys": ["Enter"]}),
    )
    .await;
    assert!(message.contains("Named keys need a terminal"), "{message}");
    ok(&client, "process_input", json!({"id": cat, "eof": true})).await;
    let ended = ok(
        &client,
        "process_output",
        json!({"id": cat, "until": "exit", "wait_ms": 120_000}),
    )
    .await;
    assert_eq!(ended["exit_code"], 0);
    let message = fails(&client, "process_input", json!({"id": cat, "text": "x"})).await;
    assert!(message.contains("is not running anymore"), "{message}");

    // Signal the dev server; it ends by the signal.
    let sent = ok(
        &client,
        "process_signal",
        json!({"id": dev, "signal": "terminate"}),
    )
    .await;
    assert_eq!(sent["sent"], "SIGTERM");
    let ended = ok(
        &client,
        "process_output",
        json!({"id": dev, "until": "exit", "wait_ms": 120_000}),
    )
    .await;
    assert_eq!(ended["exit_reason"], "killed");
    assert_eq!(ended["signal"], "SIGTERM");

    // List, search, screen.
    let listed = ok(&client, "process_list", json!({})).await;
    let ids: Vec<&str> = listed["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(
        ids.contains(&dev.as_str()) && ids.contains(&id.as_str()),
        "{listed}"
    );
    let seq = ok(&client, "process_start", json!({"command": "seq 1 30"})).await;
    let found = ok(
        &client,
        "process_search",
        json!({"id": seq["id"], "pattern": "^2", "context": 1, "max_matches": 2}),
    )
    .await;
    assert_eq!(found["matches"][0]["line"], 2);
    assert_eq!(
        found["matches"][0]["before"],
        json!([{"line": 1, "text": "1"}])
    );
    assert_eq!(found["matches"][1]["line"], 20);
    assert_eq!(found["limit_hit"], true);
    let tty = ok(
        &client,
        "process_start",
        json!({"command": "printf 'name? '; read name; echo \"hi $name\"; read x", "tty": true, "wait_ms": 120_000}),
    )
    .await;
    assert_eq!(tty["input_kind"], "line");
    let tty = tty["id"].as_str().expect("id").to_owned();
    ok(
        &client,
        "process_input",
        json!({"id": tty, "text": "ada", "keys": ["Enter"]}),
    )
    .await;
    ok(
        &client,
        "process_output",
        json!({"id": tty, "pattern": "hi ada", "wait_ms": 120_000}),
    )
    .await;
    let screen = ok(&client, "process_screen", json!({"id": tty})).await;
    assert_eq!(screen["lines"][0], "name? ada");
    assert_eq!(screen["lines"][1], "hi ada");
    assert_eq!(screen["rows"], 24);
    let message = fails(&client, "process_screen", json!({"id": id})).await;
    assert!(message.contains("has no terminal"), "{message}");

    // Errors the server reports, as the model should read them.
    let message = fails(
        &client,
        "process_output",
        json!({"id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert!(message.starts_with("No process with id"), "{message}");
    let message = fails(
        &client,
        "process_start",
        json!({"command": "true", "workdir": "/nonexistent/dir"}),
    )
    .await;
    assert!(message.contains("/nonexistent/dir"), "{message}");
    let _ = client.cancel().await;
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_wait_is_asked_for_in_slices() {
    let mut server = start_server(&[]);
    let client = Arc::new(connect(&server, Duration::from_millis(100)).await);
    let release = fifo("mcp-release");
    let started = ok(
        &client,
        "process_start",
        json!({"command": format!("read x < {}; echo released", release.display()), "background": true}),
    )
    .await;
    let id = started["id"].as_str().expect("id").to_owned();
    let waiting = {
        let client = Arc::clone(&client);
        let id = id.clone();
        tokio::spawn(async move {
            ok(
                &client,
                "process_output",
                json!({"id": id, "until": "exit", "wait_ms": 120_000}),
            )
            .await
        })
    };
    // Three slices have ended (the access log says so) before the process
    // may finish.
    tokio::task::block_in_place(|| {
        let mut slices = 0;
        let mut line = String::new();
        while slices < 3 {
            line.clear();
            assert!(server.log.read_line(&mut line).expect("read log") > 0);
            let event: Value = serde_json::from_str(&line).expect("json log line");
            if event["message"] == "request"
                && event["route"] == "/api/v0/processes/{id}/output"
                && event["path"]
                    .as_str()
                    .is_some_and(|path| path.contains(&id))
            {
                slices += 1;
            }
        }
    });
    std::fs::write(&release, "go\n").expect("write the fifo");
    let ended = waiting.await.expect("the wait");
    assert_eq!(ended["wait_result"], "exited");
    assert_eq!(ended["output"], "released\n");
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_full_logs_the_view_comes_from_the_buffer() {
    let server = start_server(&[("AGENTPROC_OUTPUT_MAX_BYTES_PER_PROCESS", "0")]);
    let client = connect(&server, Duration::from_secs(50)).await;
    let done = ok(
        &client,
        "process_start",
        json!({"command": "echo hi; exit 3"}),
    )
    .await;
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["output"], "hi\n");
    assert_eq!(done["view"]["source"], "buffer");
    assert_eq!(done["next_cursor"], 3);
    let message = fails(
        &client,
        "process_search",
        json!({"id": done["id"], "pattern": "hi"}),
    )
    .await;
    assert!(
        message.contains("Full output logs are not enabled"),
        "{message}"
    );
    let _ = client.cancel().await;
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_on_a_unix_socket() {
    let state = crate::state_dir();
    std::fs::create_dir_all(&state).expect("state dir");
    let socket = state.join("api.sock");
    let (mut child, mut log) = crate::serve_on(&format!("unix:{}", socket.display()), &state);
    tokio::task::block_in_place(|| crate::wait_for_log(&mut log, "agentproc listening"));
    let backend = HttpBackend::new(Client::new(Address::Unix(socket), None));
    let tools = McpServer::new(Arc::new(backend), McpConfig::default());
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_side);
    tokio::spawn(async move {
        let _ = serve_io(tools, read, write).await;
    });
    let (read, write) = tokio::io::split(client_side);
    let client = ().serve((read, write)).await.expect("the MCP session begins");
    let done = ok(
        &client,
        "process_start",
        json!({"command": "echo hi; exit 3"}),
    )
    .await;
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["output"], "hi\n");
    let _ = client.cancel().await;
    crate::signal(child.id(), libc::SIGTERM);
    let mut rest = String::new();
    let _ = log.read_to_string(&mut rest);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let _ = std::fs::remove_dir_all(&state);
}

/// One request to `/mcp` with an optional token; (status, body).
fn post_mcp(server: &Server, token: Option<&str>, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server.address).expect("connect");
    let auth = token.map_or_else(String::new, |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        server.address,
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response[9..12].parse().expect("status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_answers_mcp_behind_its_token() {
    let server = start_server(&[("AGENTPROC_TOKEN", "open-sesame")]);
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let (status, _) = post_mcp(&server, None, list);
    assert_eq!(status, 401);
    let (status, _) = post_mcp(&server, Some("wrong"), list);
    assert_eq!(status, 401);
    let (status, body) = post_mcp(&server, Some("open-sesame"), list);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(answer["result"]["tools"].as_array().map(Vec::len), Some(7));
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"process_start","arguments":{"command":"echo over mcp"}}}"#;
    let (status, body) = post_mcp(&server, Some("open-sesame"), call);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(
        answer["result"]["structuredContent"]["output"],
        "over mcp\n"
    );
    assert_eq!(server.terminate().code(), Some(0));
}

/// The fenced blocks (language, body) of the README's MCP section.
fn readme_mcp_blocks() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme.find("\n## Agents: MCP\n").expect("the MCP section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(language) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
            blocks.push((language.to_owned(), body.join("\n")));
        }
    }
    blocks
}

/// `words` (after `agentproc`) parse as `agentproc mcp`; its `--server`.
fn parses_as_mcp(words: &[&str]) -> Option<String> {
    use clap::Parser as _;
    let cli = agentproc::cli::Cli::try_parse_from(
        std::iter::once("agentproc").chain(words.iter().copied()),
    )
    .unwrap_or_else(|error| panic!("{words:?} does not parse: {error}"));
    match cli.command {
        agentproc::cli::Command::Mcp(args) => args.server,
        other => panic!("{words:?} is not `agentproc mcp`: {other:?}"),
    }
}

#[test]
fn readme_mcp_snippets_are_valid() {
    let blocks = readme_mcp_blocks();
    let of = |language: &str| -> Vec<&String> {
        blocks
            .iter()
            .filter(|(lang, _)| lang == language)
            .map(|(_, body)| body)
            .collect()
    };

    // Codex: `[mcp_servers.agentproc]`, a command and arguments, or a URL
    // with the token's variable.
    let tomls = of("toml");
    assert_eq!(tomls.len(), 2, "{blocks:?}");
    let parsed: Vec<Value> = tomls
        .iter()
        .map(|body| {
            figment::Figment::from(
                <figment::providers::Toml as figment::providers::Format>::string(body),
            )
            .extract::<Value>()
            .unwrap_or_else(|error| panic!("not TOML: {error}\n{body}"))
        })
        .collect();
    let stdio = &parsed[0]["mcp_servers"]["agentproc"];
    assert_eq!(stdio["command"], "agentproc");
    let args: Vec<&str> = stdio["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(parses_as_mcp(&args), None);
    assert!(
        stdio["tool_timeout_sec"]
            .as_u64()
            .is_some_and(|secs| secs > 300)
    );
    let http = &parsed[1]["mcp_servers"]["agentproc"];
    assert_eq!(http["url"], "http://127.0.0.1:4242/mcp");
    assert_eq!(http["bearer_token_env_var"], "AGENTPROC_TOKEN");

    // Any host's mcp.json.
    let jsons = of("json");
    assert_eq!(jsons.len(), 1, "{blocks:?}");
    let json: Value = serde_json::from_str(jsons[0]).expect("mcp.json is JSON");
    let server = &json["mcpServers"]["agentproc"];
    assert_eq!(server["command"], "agentproc");
    let args: Vec<&str> = server["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(parses_as_mcp(&args), None);

    // Claude Code: what follows `--` is an `agentproc mcp` command line.
    let commands: Vec<&str> = of("sh")
        .iter()
        .flat_map(|body| body.lines())
        .filter(|line| line.starts_with("claude mcp add "))
        .collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    let mut servers = Vec::new();
    for command in &commands {
        match command.split_once(" -- ") {
            Some((_, program)) => {
                let words: Vec<&str> = program.split_whitespace().collect();
                assert_eq!(words[0], "agentproc", "{command}");
                servers.push(parses_as_mcp(&words[1..]));
            }
            None => {
                assert!(command.contains("--transport http agentproc http://127.0.0.1:4242/mcp"));
                assert!(command.contains("--header \"Authorization: Bearer $AGENTPROC_TOKEN\""));
            }
        }
    }
    assert_eq!(
        servers,
        [None, Some("http://127.0.0.1:4242".to_owned())],
        "{commands:?}"
    );
    // The URL is where `serve` answers MCP by default.
    assert_eq!(agentproc_api_mcp::http::MCP_PATH, "/mcp");
}
