//! The CLI client commands: `run`, `ps`, `logs`, `kill`, `wait`. Each talks
//! to a running server over the HTTP API; human-readable output by default,
//! the server's JSON with `--json`.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::cli::{AttachArgs, ClientArgs, KillArgs, LogsArgs, RunArgs, WaitArgs};
use crate::client::{Client, Server, ServerError};

pub(crate) const PROCESSES: &str = "/api/v0/processes";

/// Standard output was closed by its reader (`agentproc ps | head`): not a
/// failure to report, but a reason to stop (exit 141, as after SIGPIPE).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes to standard output now (flushed); a closed pipe is
/// [`StdoutClosed`], not a panic.
fn write_out(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(error) => Err(anyhow::Error::new(error).context("writing to standard output")),
    }
}

macro_rules! outp {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// How long one wait request asks the server to block: well within the
/// client's answer timeout.
const WAIT_SLICE: std::time::Duration = std::time::Duration::from_secs(30);

/// The client for `args`.
///
/// # Errors
/// When `--server` is not an address.
pub fn client(args: &ClientArgs) -> anyhow::Result<Client> {
    if let Some(token) = &args.token {
        anyhow::ensure!(
            hyper::header::HeaderValue::from_str(&format!("Bearer {token}")).is_ok(),
            "the token cannot be sent in an HTTP header (it contains a newline or another control character)"
        );
    }
    Ok(Client::new(
        Server::parse(&args.server)?,
        args.token.clone(),
    ))
}

/// The shell command line `run` sends for its `COMMAND` words.
///
/// One word is a command line already (`run -- 'make test && echo ok'`).
/// Several words are an argument vector, as `docker exec` and `kubectl
/// exec` take it: each is quoted so that the remote shell sees exactly
/// those words (`run -- sh -c 'echo hi; exit 3'` runs `sh` with two
/// arguments), never re-split as ssh's joining would.
fn command_line(words: &[String]) -> String {
    match words {
        [line] => line.clone(),
        words => words
            .iter()
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `word` as one POSIX shell word: as is when it holds only characters no
/// shell treats specially, else in single quotes (a `'` inside becomes
/// `'\''`).
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_-+=:,./@%^".contains(&byte));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `agentproc run`: start, stream the output live, exit with the process's
/// code. Ctrl-C is forwarded as `interrupt`; a second Ctrl-C sends `kill`.
///
/// # Errors
/// When the server cannot be reached or refuses the start.
pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let client = client(&args.client)?;
    anyhow::ensure!(
        !args.command.is_empty(),
        "nothing to run: give a command after --"
    );
    let mut env = serde_json::Map::new();
    for pair in &args.env {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair:?} is not NAME=VALUE"))?;
        env.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let mut body = json!({
        "command": command_line(&args.command),
        "env": env,
    });
    if let Some(dir) = &args.workdir {
        // Relative to where the client runs (the server would resolve it
        // against its own default directory).
        let dir = std::path::absolute(dir)
            .with_context(|| format!("cannot make --workdir {dir:?} absolute"))?;
        body["workdir"] = json!(dir.to_string_lossy());
    }
    if args.tty {
        body["tty"] = crate::interactive::local_size().unwrap_or(json!(true));
    }
    if let Some(timeout) = args.timeout {
        // Whole milliseconds, rounded up: 0 would mean no deadline at all.
        let millis = timeout.as_nanos().div_ceil(1_000_000);
        body["timeout_ms"] = json!(u64::try_from(millis).unwrap_or(u64::MAX));
    }
    // Signals are caught from before the start is sent: one that arrives
    // while it is in flight is forwarded once the id is known, instead of
    // killing this client and leaving the command running.
    let mut signals = Forwarded::install()?;
    let mut early = Vec::new();
    let start_path = format!("{PROCESSES}/start");
    let start = client.post(&start_path, &body);
    tokio::pin!(start);
    let started = loop {
        tokio::select! {
            started = &mut start => break started?,
            signal = signals.next() => {
                if signal == "kill" {
                    bail!("interrupted twice before the server answered the start; the command may be running on the server (agentproc ps)");
                }
                early.push(signal);
            }
        }
    };
    let id = started["id"]
        .as_str()
        .context("the server gave no process id")?
        .to_owned();
    if args.client.json {
        // JSON lines on standard output: the start answer, then the
        // stream's output chunks and exit.
        outln!("{started}")?;
    }

    for signal in early {
        // A Ctrl-C before the command had even started is an abort; a
        // shell can miss SIGINT in its first instants, not SIGTERM.
        let signal = if signal == "interrupt" {
            "terminate"
        } else {
            signal
        };
        send_signal(&client, &id, signal).await;
    }
    let forwarding = tokio::spawn(signals.forward(client.clone(), id.clone()));
    if args.tty {
        let ended = {
            let _raw = crate::interactive::RawMode::enter()?;
            crate::interactive::session(&client, &id, 0).await
        };
        forwarding.abort();
        return finish_session(&id, &args.client.server, ended?);
    }
    let shown = if args.agent {
        Shown::Ticker
    } else {
        Shown::of(args.client.json)
    };
    let outcome = follow(&client, &id, shown, true).await;
    forwarding.abort();
    if let Err(error) = &outcome
        && error.is::<StdoutClosed>()
    {
        // As for a local command whose reader went away: stop it.
        send_signal(&client, &id, "terminate").await;
    }
    let last = outcome?;
    if args.agent {
        print_agent_view(&client, &id, args.max_tokens, args.client.json).await?;
    }
    explain_end(&last);
    Ok(exit_code_of(&last))
}

/// The exit code of an interactive session, saying why it ended.
fn finish_session(id: &str, server: &str, ended: crate::interactive::Ended) -> anyhow::Result<u8> {
    match ended {
        crate::interactive::Ended::Exited(last) => {
            explain_end(&last);
            Ok(exit_code_of(&last))
        }
        crate::interactive::Ended::Detached => {
            // The command that joins again, naming the server unless it is
            // the default one.
            let server = if server == "http://127.0.0.1:4242" {
                String::new()
            } else {
                format!(" --server {server}")
            };
            eprintln!("\nagentproc: detached; {id} keeps running (agentproc attach{server} {id})");
            Ok(0)
        }
    }
}

/// `agentproc attach ID`: joins the local terminal to a running terminal
/// process (its current screen first), until it exits or Ctrl-] detaches.
///
/// # Errors
/// When the server cannot be reached, or the process has no terminal.
pub async fn attach(args: AttachArgs) -> anyhow::Result<u8> {
    let client = client(&args.client)?;
    let screen = client
        .get(&format!("{PROCESSES}/{}/screen", args.id))
        .await?;
    if screen["running"] != json!(true) {
        let last = client
            .get(&format!("{PROCESSES}/{}/output", args.id))
            .await?;
        crate::interactive::draw(&screen)?;
        outp!("\n")?;
        explain_end(&last);
        return Ok(exit_code_of(&last));
    }
    let cursor = current_end(&client, &args.id).await?;
    let ended = {
        let _raw = crate::interactive::RawMode::enter()?;
        crate::interactive::draw(&screen)?;
        if let Some(size) = crate::interactive::local_size() {
            // The program redraws for this terminal's size (SIGWINCH).
            let _ = client
                .post(&format!("{PROCESSES}/{}/resize", args.id), &size)
                .await;
        }
        crate::interactive::session(&client, &args.id, cursor).await
    };
    finish_session(&args.id, &args.client.server, ended?)
}

/// Prints the agent view of a process's whole output (its JSON answer with
/// `json`).
async fn print_agent_view(
    client: &Client,
    id: &str,
    max_tokens: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let budget = max_tokens.map_or_else(String::new, |n| format!("&max_tokens={n}"));
    let view = client
        .get(&format!("{PROCESSES}/{id}/output?view=agent{budget}"))
        .await?;
    if json {
        outln!("{view}")?;
    } else {
        outp!("{}", view["output"].as_str().unwrap_or_default())?;
    }
    Ok(())
}

/// The signals `run` passes on to its command: Ctrl-C (SIGINT) as
/// `interrupt`, a second one as `kill`; SIGTERM (`timeout`, a service
/// manager) as `terminate`; SIGHUP (the terminal went away) as `hangup`.
struct Forwarded {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    interrupts: u32,
}

impl Forwarded {
    fn install() -> anyhow::Result<Self> {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        use tokio::signal::unix::{SignalKind, signal};
        // Held back while the handlers are installed (one arriving midway
        // could otherwise be lost), delivered to them right after. The
        // client's runtime has this one thread.
        let mut held = SigSet::empty();
        for held_signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            held.add(held_signal);
        }
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&held), None).context("blocking signals")?;
        let installed = (|| -> anyhow::Result<Self> {
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
                hangup: signal(SignalKind::hangup()).context("catching SIGHUP")?,
                interrupts: 0,
            })
        })();
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&held), None)
            .context("unblocking signals")?;
        installed
    }

    /// The next signal to send (its API name).
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            Some(()) = self.interrupt.recv() => {
                self.interrupts += 1;
                if self.interrupts == 1 { "interrupt" } else { "kill" }
            }
            Some(()) = self.terminate.recv() => "terminate",
            Some(()) = self.hangup.recv() => "hangup",
        }
    }

    async fn forward(mut self, client: Client, id: String) {
        loop {
            let signal = self.next().await;
            send_signal(&client, &id, signal).await;
        }
    }
}

async fn send_signal(client: &Client, id: &str, signal: &str) {
    // Not eprintln!: after SIGHUP the terminal may be gone, and a failed
    // write must not end the client.
    let _ = writeln!(std::io::stderr(), "agentproc: sending {signal} to {id}");
    if let Err(error) = client
        .post(
            &format!("{PROCESSES}/{id}/signal"),
            &json!({ "signal": signal }),
        )
        .await
    {
        let _ = writeln!(std::io::stderr(), "agentproc: {error:#}");
    }
}

/// One line on standard error when the command did not simply exit: why it
/// ended (the exit code alone does not say).
fn explain_end(last: &Value) {
    let reason = last["exit_reason"].as_str().unwrap_or("exited");
    let signal = last["signal"].as_str();
    let why = match reason {
        "exited" if last["exit_code"].as_i64() == Some(-1) => {
            "the shell exited, but processes it left in the background kept its output open past the server's pipe_drain_grace (exit code -1, as in Coder)".to_owned()
        }
        "exited" => return,
        "deadline_exceeded" => "its deadline (timeout) passed".to_owned(),
        "shutdown" => "the agentproc server shut down".to_owned(),
        "killed" => "it was signalled on request".to_owned(),
        "oom_killed" => "it ran out of memory (OOM killer)".to_owned(),
        "signaled" => "a signal from outside agentproc".to_owned(),
        "spawn_failed" => format!(
            "it could not be started: {}",
            last["error"].as_str().unwrap_or("unknown error")
        ),
        other => other.to_owned(),
    };
    let _ = match signal {
        Some(signal) => writeln!(std::io::stderr(), "agentproc: ended by {signal}: {why}"),
        None => writeln!(std::io::stderr(), "agentproc: ended: {why}"),
    };
}

/// Prints the process's output as it comes until it exits; returns the
/// final state. Uses the stream route, or waits for the snapshot when the
/// server keeps no logs.
async fn follow(
    client: &Client,
    id: &str,
    shown: Shown,
    from_start: bool,
) -> anyhow::Result<Value> {
    let cursor = if from_start {
        0
    } else {
        current_end(client, id).await?
    };
    match client
        .open(&format!("{PROCESSES}/{id}/stream?cursor={cursor}"))
        .await
    {
        Ok(response) => stream(response, shown).await,
        Err(error)
            if error
                .downcast_ref::<ServerError>()
                .is_some_and(|e| e.status == hyper::StatusCode::NOT_IMPLEMENTED) =>
        {
            // No full logs on this server: the head/tail view at the end.
            let last = wait_for_exit(client, id).await?;
            match shown {
                Shown::Json => outln!("{last}")?,
                Shown::Raw => outp!("{}", last["output"].as_str().unwrap_or_default())?,
                Shown::Ticker => {}
            }
            Ok(last)
        }
        Err(error) => Err(error),
    }
}

/// Where the log ends now (to follow only new output).
async fn current_end(client: &Client, id: &str) -> anyhow::Result<u64> {
    let chunk = client
        .get(&format!(
            "{PROCESSES}/{id}/output?cursor=18446744073709551615"
        ))
        .await;
    match chunk {
        Ok(chunk) => Ok(chunk["next_cursor"].as_u64().unwrap_or(0)),
        Err(_) => Ok(0),
    }
}

/// Reads Server-Sent Events: prints `output` events, returns the `exit`.
async fn stream(
    response: hyper::Response<hyper::body::Incoming>,
    shown: Shown,
) -> anyhow::Result<Value> {
    let mut body = response.into_body();
    let mut ticker = Ticker::new(shown == Shown::Ticker);
    // Bytes, not text, until an event is whole: a frame may end inside a
    // character.
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the stream from the server broke (did the server stop?)")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            let (kind, data) = parse_event(&String::from_utf8_lossy(&event));
            let Some(data) = data else {
                continue;
            };
            let value: Value = serde_json::from_str(&data).context("a stream event is not JSON")?;
            match kind.as_deref() {
                Some("output") => {
                    let text = value["output"].as_str().unwrap_or_default();
                    match shown {
                        Shown::Json => outln!("{value}")?,
                        Shown::Raw => outp!("{text}")?,
                        Shown::Ticker => ticker.show(text),
                    }
                }
                Some("exit") => {
                    if shown == Shown::Json {
                        outln!("{value}")?;
                    }
                    return Ok(value);
                }
                Some("error") => bail!(
                    "the stream failed: {}",
                    value["message"].as_str().unwrap_or("unknown error")
                ),
                _ => {}
            }
        }
    }
    bail!("the stream ended before the process exited (the server stopped?)")
}

/// How followed output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// As the command wrote it, on standard output.
    Raw,
    /// The server's JSON answers, one per line.
    Json,
    /// Only the last line, rewritten in place on standard error when that
    /// is a terminal (nothing otherwise): live progress that leaves no
    /// scrollback, for `--agent`, whose view comes at the end.
    Ticker,
}

impl Shown {
    fn of(json: bool) -> Self {
        if json { Self::Json } else { Self::Raw }
    }
}

/// The one-line live status of [`Shown::Ticker`].
struct Ticker {
    /// Standard error is a terminal.
    on: bool,
    /// A line is shown (and must be cleared).
    shown: bool,
}

impl Ticker {
    fn new(wanted: bool) -> Self {
        use std::io::IsTerminal;
        Self {
            on: wanted && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn show(&mut self, text: &str) {
        if !self.on {
            return;
        }
        let Some(line) = text.lines().rev().find(|line| !line.trim().is_empty()) else {
            return;
        };
        // The part after the last carriage return is what a terminal shows.
        let line = line.rsplit('\r').next().unwrap_or(line);
        eprint!("\r\x1b[2K{}", table_text(line, 100));
        self.shown = true;
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The `event:` and joined `data:` lines of one Server-Sent Event.
pub(crate) fn parse_event(event: &str) -> (Option<String>, Option<String>) {
    let mut kind = None;
    let mut data: Option<String> = None;
    for line in event.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            kind = Some(value.trim_start().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    (kind, data)
}

/// Waits (in 5-minute server waits) until the process has exited.
async fn wait_for_exit(client: &Client, id: &str) -> anyhow::Result<Value> {
    loop {
        let state = client
            .get(&format!(
                "{PROCESSES}/{id}/output?wait=true&timeout_ms={}",
                WAIT_SLICE.as_millis()
            ))
            .await?;
        if state["running"] == json!(false) {
            return Ok(state);
        }
    }
}

/// The shell convention: the exit code, or 128 + the signal's number.
fn exit_code_of(state: &Value) -> u8 {
    if let Some(signal) = state["signal"].as_str()
        && let Some(number) = signal_number(signal)
    {
        return 128u8.saturating_add(number);
    }
    match state["exit_code"].as_i64() {
        Some(code @ 0..=255) => u8::try_from(code).unwrap_or(1),
        _ => 1,
    }
}

fn signal_number(name: &str) -> Option<u8> {
    (1..=31).find(|number| agentproc_core::exec::signal_name(i32::from(*number)) == Some(name))
}

/// `agentproc ps`.
///
/// # Errors
/// When the server cannot be reached or answers an error.
pub async fn ps(args: ClientArgs) -> anyhow::Result<u8> {
    let client = client(&args)?;
    let list = client.get(&format!("{PROCESSES}/list")).await?;
    if args.json {
        outln!("{list}")?;
        return Ok(0);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let rows: Vec<[String; 5]> = list["processes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|process| {
            let status = if process["running"] == json!(true) {
                "running".to_owned()
            } else {
                match (
                    process["exit_reason"].as_str(),
                    process["exit_code"].as_i64(),
                ) {
                    (Some("exited") | None, Some(code)) => format!("exited {code}"),
                    (Some(reason), _) => match process["signal"].as_str() {
                        Some(signal) => format!("{} {signal}", reason.replace('_', " ")),
                        None => reason.replace('_', " "),
                    },
                    _ => "exited".to_owned(),
                }
            };
            let started = process["started_at_unix"].as_u64().unwrap_or(now);
            [
                process["id"].as_str().unwrap_or_default().to_owned(),
                process["pid"]
                    .as_u64()
                    .map(|pid| pid.to_string())
                    .unwrap_or_default(),
                status,
                human_age(now.saturating_sub(started)),
                table_text(process["command"].as_str().unwrap_or_default(), 100),
            ]
        })
        .collect();
    print_table(&["ID", "PID", "STATUS", "STARTED", "COMMAND"], &rows)?;
    Ok(0)
}

/// `text` for one table cell: control characters (newlines, escape
/// sequences a command line could use to redraw the terminal) shown as
/// spaces or `?`, and at most `max` characters, `…` marking a cut.
fn table_text(text: &str, max: usize) -> String {
    let mut shown: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => ' ',
            // Bidirectional overrides could reorder what the table shows.
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                '?'
            }
            c => c,
        })
        .take(max + 1)
        .collect();
    if shown.chars().count() > max {
        shown = shown.chars().take(max - 1).collect();
        shown.push('…');
    }
    shown
}

fn human_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86400),
    }
}

fn print_table(header: &[&str], rows: &[[String; 5]]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == last {
                    (*cell).to_owned()
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    outln!("{}", line(header.to_vec()))?;
    for row in rows {
        outln!("{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// `agentproc logs ID [-f]`.
///
/// # Errors
/// When the server cannot be reached or answers an error.
pub async fn logs(args: LogsArgs) -> anyhow::Result<u8> {
    let client = client(&args.client)?;
    if args.agent {
        let last = if args.follow {
            Some(follow(&client, &args.id, Shown::Ticker, true).await?)
        } else {
            None
        };
        print_agent_view(&client, &args.id, args.max_tokens, args.client.json).await?;
        return Ok(last.map_or(0, |last| {
            explain_end(&last);
            exit_code_of(&last)
        }));
    }
    if args.follow {
        let last = follow(&client, &args.id, Shown::of(args.client.json), true).await?;
        explain_end(&last);
        return Ok(exit_code_of(&last));
    }
    let mut cursor = 0u64;
    loop {
        let chunk = match client
            .get(&format!(
                "{PROCESSES}/{}/output?cursor={cursor}&limit=1048576",
                args.id
            ))
            .await
        {
            Ok(chunk) => chunk,
            Err(error)
                if cursor == 0
                    && error
                        .downcast_ref::<ServerError>()
                        .is_some_and(|e| e.status == hyper::StatusCode::NOT_IMPLEMENTED) =>
            {
                // No full logs: the head/tail view.
                client
                    .get(&format!("{PROCESSES}/{}/output", args.id))
                    .await?
            }
            Err(error) => return Err(error),
        };
        if args.client.json {
            outln!("{chunk}")?;
        } else {
            if chunk["gap_bytes"].as_u64().is_some_and(|gap| gap > 0) {
                eprintln!(
                    "agentproc: {} bytes of output are no longer kept",
                    chunk["gap_bytes"]
                );
            }
            outp!("{}", chunk["output"].as_str().unwrap_or_default())?;
        }
        let Some(next) = chunk["next_cursor"].as_u64() else {
            return Ok(0);
        };
        if next == cursor || chunk["eof"] == json!(true) {
            return Ok(0);
        }
        cursor = next;
    }
}

/// `agentproc kill ID [--signal S]`.
///
/// # Errors
/// When the server cannot be reached or answers an error.
pub async fn kill(args: KillArgs) -> anyhow::Result<u8> {
    let client = client(&args.client)?;
    let reply = client
        .post(
            &format!("{PROCESSES}/{}/signal", args.id),
            &json!({ "signal": args.signal }),
        )
        .await?;
    if args.client.json {
        outln!("{reply}")?;
    } else if let Some(message) = reply["message"].as_str() {
        outln!("{message}")?;
    }
    Ok(0)
}

/// `agentproc wait ID`: blocks until the process exits and exits with its
/// code.
///
/// # Errors
/// When the server cannot be reached or answers an error.
pub async fn wait(args: WaitArgs) -> anyhow::Result<u8> {
    let client = client(&args.client)?;
    let last = wait_for_exit(&client, &args.id).await?;
    if args.client.json {
        outln!("{last}")?;
    }
    explain_end(&last);
    Ok(exit_code_of(&last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code_of(&json!({"exit_code": 0})), 0);
        assert_eq!(exit_code_of(&json!({"exit_code": 3})), 3);
        assert_eq!(
            exit_code_of(&json!({"exit_code": -1, "signal": "SIGKILL"})),
            137
        );
        assert_eq!(
            exit_code_of(&json!({"exit_code": -1, "signal": "SIGINT"})),
            130
        );
        assert_eq!(exit_code_of(&json!({"exit_code": -1})), 1);
    }

    #[test]
    fn server_sent_events_are_parsed() {
        let (kind, data) = parse_event("id: 7\nevent: output\ndata: {\"a\":1}\n\n");
        assert_eq!(kind.as_deref(), Some("output"));
        assert_eq!(data.as_deref(), Some("{\"a\":1}"));
        let (kind, data) = parse_event(": keepalive\n\n");
        assert_eq!((kind, data), (None, None));
    }

    /// Regression (hardening issue, CLI arguments): `run -- sh -c "echo hi;
    /// exit 3"` joined the words like ssh, so the shell ran `sh -c echo hi`.
    #[test]
    fn several_words_reach_the_shell_exactly_and_one_word_is_a_command_line() {
        let words: Vec<String> = [
            "printf",
            "[%s]\\n",
            "echo hi; exit 3",
            "it's",
            "",
            "$HOME",
            "a\\b",
            "*",
            "tab\there",
            "new\nline",
            "--flag=x",
            "ünï",
            "\"q\"",
            "~",
        ]
        .map(str::to_owned)
        .to_vec();
        let line = command_line(&words);
        let output = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .expect("run sh");
        let expected: String = words[2..]
            .iter()
            .map(|word| format!("[{word}]\n"))
            .collect();
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected, "{line}");

        let one = vec!["make test && echo ok".to_owned()];
        assert_eq!(command_line(&one), "make test && echo ok");
        assert_eq!(
            command_line(&["sh", "-c", "echo hi; exit 3"].map(str::to_owned)),
            "sh -c 'echo hi; exit 3'"
        );
    }

    #[test]
    fn table_cells_are_one_safe_line() {
        assert_eq!(table_text("echo one\necho two", 100), "echo one echo two");
        assert_eq!(table_text("red \u{1b}[31mtext", 100), "red ?[31mtext");
        assert_eq!(table_text("abcdef", 4), "abc…");
        assert_eq!(table_text("abcd", 4), "abcd");
        assert_eq!(table_text("héllo", 5), "héllo");
        assert_eq!(table_text("a\u{202e}b", 5), "a?b");
    }
}
