//! [`McpServer`]: the MCP service. It lists the tools, checks each call's
//! arguments, resolves defaults and the implicit cursor, calls the
//! [`Backend`], and answers in two forms: text for the model and
//! `structuredContent` matching the tool's `outputSchema`. Failures the
//! model should act on are tool results with `isError: true`.
//!
//! Everything a call needs is behind one `Arc`: stateless transports build
//! a handler per request by cloning it.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agentproc_core::log::compile_pattern;
use agentproc_core::{ChatContext, ProcessId, TerminalSize};
use agentproc_view::{DEFAULT_MAX_TOKENS, MAX_MAX_TOKENS, MIN_MAX_TOKENS};
use axum::http::HeaderMap;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::backend::{
    Backend, BackendError, Caller, InputSpec, ReadSpec, SearchSpec, StartSpec, ViewRead, Wait,
    WaitFor,
};
use crate::cursors::Cursors;
use crate::render::{self, clip, error_message, status_line};
use crate::results::{
    InputResult, LineEntry, ListEntry, ListResult, MatchEntry, ProcessResult, ScreenResult,
    SearchResult, SignalResult, ViewSummary,
};
use crate::tools::{
    self, InputArgs, ListArgs, OutputArgs, ScreenArgs, SearchArgs, SignalArgs, StartArgs, UntilArg,
};

/// The header naming the chat a request acts for (as on every HTTP route).
pub const CHAT_ID_HEADER: &str = "Coder-Chat-Id";
/// The header listing the chat's ancestors.
pub const ANCESTOR_CHAT_IDS_HEADER: &str = "Coder-Ancestor-Chat-Ids";

/// The default of [`McpConfig::default_wait`].
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The default (and largest accepted) [`McpConfig::max_wait`].
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// How the tools behave: defaults and budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpConfig {
    /// How long a foreground `process_start`, and a `process_output` with
    /// `until`, wait when the call gives no `wait_ms`.
    pub default_wait: Duration,
    /// The longest any call waits (`wait_ms` above it is capped).
    pub max_wait: Duration,
    /// The most processes `process_list` asks the backend for.
    pub list_limit: usize,
    /// The budget of the text of `process_list`, `process_search` and
    /// `process_screen`, in bytes (about four per token); what does not fit
    /// is left out and the answer says so. Output views are bounded by
    /// their token budget (`max_tokens`) instead.
    pub max_result_bytes: usize,
    /// How many implicit cursors are kept (least recently used forgotten
    /// first).
    pub max_cursors: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            default_wait: DEFAULT_WAIT,
            max_wait: MAX_WAIT,
            list_limit: 50,
            max_result_bytes: 16 * 1024,
            max_cursors: 4096,
        }
    }
}

/// What the server says about itself at initialization.
const INSTRUCTIONS: &str = "\
agentproc runs shell commands and keeps them running on their own: process_start runs one and answers with its exit code and output (cut to a token budget that keeps errors); \
process_output follows a long or background process (only what is new since your last read; until \"match\" waits for a ready line, until \"input\" for a prompt); \
process_input types into prompts and REPLs; process_signal stops a process; process_list, process_search and process_screen look around.";

/// The MCP service: clone it freely (one `Arc` inside).
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
}

struct Shared {
    backend: Arc<dyn Backend>,
    config: McpConfig,
    cursors: Mutex<Cursors>,
    tools: Vec<Tool>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A failure the model reads: a tool result with `isError: true`.
#[derive(Debug)]
struct ToolError(String);

impl From<BackendError> for ToolError {
    fn from(error: BackendError) -> Self {
        Self(error_message(&error))
    }
}

type ToolResult = Result<CallToolResult, ToolError>;

impl McpServer {
    /// The tools over `backend`.
    pub fn new(backend: Arc<dyn Backend>, config: McpConfig) -> Self {
        let cursors = Mutex::new(Cursors::new(config.max_cursors));
        Self {
            shared: Arc::new(Shared {
                backend,
                config,
                cursors,
                tools: tools::definitions(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &McpConfig {
        &self.shared.config
    }

    /// Calls tool `name` with `arguments` for `caller`: the result, or a
    /// protocol error for a tool that does not exist.
    ///
    /// # Errors
    /// An unknown tool (`-32602`, invalid params).
    pub async fn call(
        &self,
        caller: &Caller,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, ErrorData> {
        let result = match name {
            tools::PROCESS_START => match parse::<StartArgs>(name, arguments) {
                Ok(args) => self.start(caller, args).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_OUTPUT => match parse::<OutputArgs>(name, arguments) {
                Ok(args) => self.output(caller, args).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_INPUT => match parse::<InputArgs>(name, arguments) {
                Ok(args) => self.input(caller, args).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_SIGNAL => match parse::<SignalArgs>(name, arguments) {
                Ok(args) => self.signal(caller, args).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_LIST => match parse::<ListArgs>(name, arguments) {
                Ok(ListArgs {}) => self.list(caller).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_SEARCH => match parse::<SearchArgs>(name, arguments) {
                Ok(args) => self.search(caller, args).await,
                Err(error) => Err(error),
            },
            tools::PROCESS_SCREEN => match parse::<ScreenArgs>(name, arguments) {
                Ok(args) => self.screen(caller, args).await,
                Err(error) => Err(error),
            },
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "Unknown tool {other:?}: the tools are {}.",
                        tools::TOOL_NAMES.join(", ")
                    ),
                    None,
                ));
            }
        };
        Ok(result.unwrap_or_else(|ToolError(message)| {
            CallToolResult::error(vec![ContentBlock::text(message)])
        }))
    }

    fn backend(&self) -> &dyn Backend {
        self.shared.backend.as_ref()
    }

    fn cursors(&self) -> MutexGuard<'_, Cursors> {
        self.shared
            .cursors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `wait_ms`, or `default`, capped at the longest wait.
    fn wait_of(&self, wait_ms: Option<u64>, default: Duration) -> Duration {
        wait_ms
            .map_or(default, Duration::from_millis)
            .min(self.shared.config.max_wait)
    }

    /// Forgets the cursors of a process the backend no longer knows.
    fn forget_if_gone<T>(&self, id: ProcessId, result: &Result<T, BackendError>) {
        if matches!(result, Err(BackendError::NotFound { .. })) {
            self.cursors().forget(id);
        }
    }

    async fn start(&self, caller: &Caller, args: StartArgs) -> ToolResult {
        if args.command.trim().is_empty() {
            return Err(ToolError(
                "command is empty: give the shell command line to run, e.g. \"make test\"."
                    .to_owned(),
            ));
        }
        let max_tokens = max_tokens(args.max_tokens)?;
        let tty = terminal(args.tty.as_ref())?;
        if args.timeout_ms == Some(0) {
            return Err(ToolError(
                "timeout_ms must be at least 1; leave it out for no deadline.".to_owned(),
            ));
        }
        let background = args.background.unwrap_or(false);
        let default_wait = if background {
            Duration::ZERO
        } else {
            self.shared.config.default_wait
        };
        let wait = self.wait_of(args.wait_ms, default_wait);
        let interactive = args.stdin.unwrap_or(false) || tty.is_some();
        let spec = StartSpec {
            command: args.command,
            workdir: args.workdir.filter(|dir| !dir.is_empty()),
            env: args.env.unwrap_or_default(),
            background,
            timeout: args.timeout_ms.map(Duration::from_millis),
            client_token: args.client_token.filter(|token| !token.is_empty()),
            stdin: args.stdin.unwrap_or(false),
            tty,
        };
        let started = self.backend().start(caller, spec).await?;
        // A program that may prompt returns as soon as it waits for input.
        let until = if interactive {
            WaitFor::Input { settle: None }
        } else {
            WaitFor::Exit
        };
        let read = self
            .backend()
            .read(
                caller,
                started.id,
                ReadSpec {
                    cursor: 0,
                    wait: (!wait.is_zero()).then_some(Wait {
                        until,
                        timeout: wait,
                    }),
                    max_tokens,
                },
            )
            .await
            .map_err(|error| {
                ToolError(format!(
                    "Process {} started, but reading its output failed: {}",
                    started.id,
                    error_message(&error)
                ))
            })?;
        self.cursors()
            .set(caller.chat_id(), started.id, read.next_cursor);
        let mut notes = Vec::new();
        if started.attached {
            notes.push(
                "A start with this client_token ran before: this is that process; the command was not run again."
                    .to_owned(),
            );
        }
        Ok(process_answer(
            read,
            Answer {
                attached: Some(started.attached),
                notes,
                waited: wait,
                max_tokens,
                started: true,
            },
        ))
    }

    async fn output(&self, caller: &Caller, args: OutputArgs) -> ToolResult {
        let id = process_id(&args.id)?;
        let max_tokens = max_tokens(args.max_tokens)?;
        let until = match (args.until, &args.pattern) {
            (Some(until), _) => Some(until),
            (None, Some(_)) => Some(UntilArg::Match),
            (None, None) => args.wait_ms.map(|_| UntilArg::Exit),
        };
        let cursor = match args.cursor {
            Some(cursor) => cursor,
            None => self.cursors().get(caller.chat_id(), id).unwrap_or(0),
        };
        let wait = match until {
            Some(until) => {
                let condition = wait_condition(until, &args, cursor)?;
                let timeout = self.wait_of(args.wait_ms, self.shared.config.default_wait);
                (!timeout.is_zero()).then_some(Wait {
                    until: condition,
                    timeout,
                })
            }
            None => {
                if args.idle_ms.is_some() {
                    return Err(ToolError(
                        "idle_ms applies to until \"idle\" or \"input\": add \"until\".".to_owned(),
                    ));
                }
                None
            }
        };
        let waited = wait.as_ref().map_or(Duration::ZERO, |wait| wait.timeout);
        let read = self
            .backend()
            .read(
                caller,
                id,
                ReadSpec {
                    cursor,
                    wait,
                    max_tokens,
                },
            )
            .await;
        self.forget_if_gone(id, &read);
        let read = read?;
        self.cursors().set(caller.chat_id(), id, read.next_cursor);
        Ok(process_answer(
            read,
            Answer {
                attached: None,
                notes: Vec::new(),
                waited,
                max_tokens,
                started: false,
            },
        ))
    }

    async fn input(&self, caller: &Caller, args: InputArgs) -> ToolResult {
        let id = process_id(&args.id)?;
        let spec = InputSpec {
            text: args.text.unwrap_or_default(),
            keys: args.keys.unwrap_or_default(),
            eof: args.eof.unwrap_or(false),
        };
        if spec.text.is_empty() && spec.keys.is_empty() && !spec.eof {
            return Err(ToolError(
                "Nothing to send: give \"text\", \"keys\" or \"eof\": true.".to_owned(),
            ));
        }
        let written = self.backend().input(caller, id, spec).await;
        self.forget_if_gone(id, &written);
        let written = written?;
        let text = format!(
            "Sent {written} bytes to process {id}. Read the reply with process_output {{\"id\": \"{id}\", \"until\": \"input\"}} (returns when it waits for input again), or \"until\": \"exit\"."
        );
        Ok(success(
            text,
            &InputResult {
                id: id.to_string(),
                written,
            },
        ))
    }

    async fn signal(&self, caller: &Caller, args: SignalArgs) -> ToolResult {
        let id = process_id(&args.id)?;
        let signal = args.signal.signal();
        let sent = self.backend().signal(caller, id, signal).await;
        self.forget_if_gone(id, &sent);
        sent?;
        let text = format!(
            "Sent {} ({}) to process {id} and its process group. process_output {{\"id\": \"{id}\", \"until\": \"exit\"}} waits for it to end and shows how.",
            signal.name(),
            args.signal.as_str()
        );
        Ok(success(
            text,
            &SignalResult {
                id: id.to_string(),
                signal: args.signal.as_str().to_owned(),
                sent: signal.name().to_owned(),
            },
        ))
    }

    async fn list(&self, caller: &Caller) -> ToolResult {
        let processes = self
            .backend()
            .list(caller, self.shared.config.list_limit)
            .await?;
        let budget = self.shared.config.max_result_bytes;
        let mut text = String::new();
        let mut entries = Vec::new();
        let total = processes.len();
        for process in &processes {
            let command = clip(&process.command, 200);
            let mut line = status_line(&process.state);
            if process.background {
                line.push_str(" · background");
            }
            if process.tty.is_some() {
                line.push_str(" · tty");
            }
            let _ = write!(line, " · {}", command.replace('\n', " "));
            if text.len() + line.len() + 1 > budget && !entries.is_empty() {
                break;
            }
            text.push_str(&line);
            text.push('\n');
            entries.push(ListEntry {
                id: process.state.id.to_string(),
                command,
                running: process.state.running(),
                pid: process.state.pid,
                exit_code: process.state.exit.as_ref().map(|exit| exit.code),
                exit_reason: process
                    .state
                    .exit
                    .as_ref()
                    .and_then(|exit| exit.reason)
                    .map(|reason| reason.as_str().to_owned()),
                background: process.background,
                started_at_unix: process.started_at_unix,
                awaiting_input: process.state.awaiting_input.is_some(),
                tty: process.tty.is_some(),
            });
        }
        let truncated = entries.len() < total;
        let header = match total {
            0 => "No processes: start one with process_start.".to_owned(),
            _ => format!(
                "{} process{} (running first, then newest):",
                entries.len(),
                if entries.len() == 1 { "" } else { "es" }
            ),
        };
        let mut answer = header;
        if !text.is_empty() {
            answer.push('\n');
            answer.push_str(text.trim_end());
        }
        if truncated {
            let _ = write!(
                answer,
                "\n… {} more not shown (the answer's budget).",
                total - entries.len()
            );
        }
        Ok(success(
            answer,
            &ListResult {
                processes: entries,
                truncated,
            },
        ))
    }

    async fn search(&self, caller: &Caller, args: SearchArgs) -> ToolResult {
        let id = process_id(&args.id)?;
        if args.pattern.is_empty() {
            return Err(ToolError(
                "pattern is empty: give a regular expression to look for.".to_owned(),
            ));
        }
        check_pattern(&args.pattern)?;
        let context = match args.context {
            None => 0,
            Some(context @ 0..=10) => context,
            Some(_) => {
                return Err(ToolError("context must be from 0 to 10 lines.".to_owned()));
            }
        };
        let max_matches = match args.max_matches {
            None => 20,
            Some(max @ 1..=100) => max,
            Some(_) => {
                return Err(ToolError("max_matches must be from 1 to 100.".to_owned()));
            }
        };
        let spec = SearchSpec {
            pattern: args.pattern.clone(),
            // Both at most 100.
            context: usize::try_from(context).unwrap_or(10),
            max_matches: usize::try_from(max_matches).unwrap_or(100),
        };
        let hits = self.backend().search(caller, id, spec).await;
        self.forget_if_gone(id, &hits);
        let hits = hits?;
        let budget = self.shared.config.max_result_bytes;
        let mut body = String::new();
        let mut matches = Vec::new();
        for hit in &hits.matches {
            let mut group = String::new();
            let line_of = |line: &crate::backend::NumberedLine| LineEntry {
                line: line.line,
                text: clip(&line.text, 500),
            };
            let before: Vec<LineEntry> = hit.before.iter().map(line_of).collect();
            let after: Vec<LineEntry> = hit.after.iter().map(line_of).collect();
            let text = clip(&hit.line.text, 500);
            for line in &before {
                let _ = writeln!(group, "{}-{}", line.line, line.text);
            }
            let _ = writeln!(group, "{}:{}", hit.line.line, text);
            for line in &after {
                let _ = writeln!(group, "{}-{}", line.line, line.text);
            }
            if context > 0 {
                group.push_str("--\n");
            }
            if body.len() + group.len() > budget && !matches.is_empty() {
                break;
            }
            body.push_str(&group);
            matches.push(MatchEntry {
                line: hit.line.line,
                text,
                before,
                after,
            });
        }
        let truncated = matches.len() < hits.matches.len();
        let mut answer = match hits.matches.len() {
            0 => format!(
                "No line of process {id}'s output matches {:?}.",
                args.pattern
            ),
            n => format!(
                "{n} matching line{} in process {id}'s output (line number: text{}):",
                if n == 1 { "" } else { "s" },
                if context > 0 {
                    "; context lines: number-text"
                } else {
                    ""
                }
            ),
        };
        if !body.is_empty() {
            answer.push('\n');
            answer.push_str(body.trim_end_matches(['\n', '-']).trim_end());
        }
        if truncated {
            let _ = write!(
                answer,
                "\n… {} more matches not shown (the answer's budget): narrow the pattern or lower context.",
                hits.matches.len() - matches.len()
            );
        }
        if hits.limit_hit {
            let _ = write!(
                answer,
                "\nThe search stopped at max_matches ({max_matches}): there may be more."
            );
        }
        Ok(success(
            answer,
            &SearchResult {
                id: id.to_string(),
                matches,
                limit_hit: hits.limit_hit,
                truncated,
            },
        ))
    }

    async fn screen(&self, caller: &Caller, args: ScreenArgs) -> ToolResult {
        let id = process_id(&args.id)?;
        let screen = self.backend().screen(caller, id).await;
        self.forget_if_gone(id, &screen);
        let screen = screen?;
        let budget = self.shared.config.max_result_bytes;
        let mut header = status_line(&screen.state);
        let _ = write!(
            header,
            "\nscreen {} rows × {} cols, cursor at row {} col {}{}",
            screen.rows,
            screen.cols,
            screen.cursor_row,
            screen.cursor_col,
            if screen.cursor_visible {
                ""
            } else {
                " (hidden)"
            }
        );
        if screen.alternate_screen {
            header.push_str(", a full-screen program is up");
        }
        if let Some(title) = &screen.title {
            let _ = write!(header, ", title {:?}", clip(title, 200));
        }
        // Blank rows at the bottom say nothing.
        let used = screen
            .lines
            .iter()
            .rposition(|line| !line.is_empty())
            .map_or(0, |last| last + 1);
        let mut lines = Vec::new();
        let mut size = header.len();
        let mut truncated = false;
        for line in &screen.lines[..used] {
            let shown = clip(line, 1000);
            truncated |= shown.len() != line.len();
            if size + shown.len() + 1 > budget {
                truncated = true;
                break;
            }
            size += shown.len() + 1;
            lines.push(shown);
        }
        let mut answer = header;
        answer.push_str("\n---\n");
        answer.push_str(&lines.join("\n"));
        if truncated {
            answer.push_str("\n… the rest of the screen is not shown (the answer's budget).");
        }
        Ok(success(
            answer,
            &ScreenResult {
                id: id.to_string(),
                running: screen.state.running(),
                exit_code: screen.state.exit.as_ref().map(|exit| exit.code),
                awaiting_input: screen.state.awaiting_input.is_some(),
                rows: screen.rows,
                cols: screen.cols,
                cursor_row: screen.cursor_row,
                cursor_col: screen.cursor_col,
                cursor_visible: screen.cursor_visible,
                title: screen.title,
                alternate_screen: screen.alternate_screen,
                lines,
                truncated,
            },
        ))
    }
}

/// How an answer about a process's output came about.
struct Answer {
    attached: Option<bool>,
    notes: Vec<String>,
    waited: Duration,
    max_tokens: usize,
    /// The answer of `process_start` (else `process_output`).
    started: bool,
}

/// The text and structured answer of `process_start` and `process_output`.
fn process_answer(read: ViewRead, answer: Answer) -> CallToolResult {
    let state = &read.state;
    let id = state.id.to_string();
    let mut lines = vec![status_line(state)];
    if let Some(error) = state.exit.as_ref().and_then(|exit| exit.error.as_ref()) {
        lines.push(format!("It could not be started: {error}"));
    }
    lines.extend(answer.notes);
    if let Some(line) = read
        .wait_result
        .and_then(|result| render::wait_line(result, answer.waited))
    {
        lines.push(line);
    }
    let timed_out = read.wait_result == Some(agentproc_core::manager::WaitResult::Timeout);
    if state.running() && (answer.started || timed_out || state.awaiting_input.is_some()) {
        lines.push(render::follow_hint(state, &id, answer.started));
    }
    if read.gap_bytes > 0 {
        lines.push(format!(
            "{} bytes before this point are no longer kept.",
            read.gap_bytes
        ));
    }
    let mut text = lines.join("\n");
    text.push_str("\n\n");
    text.push_str(&render::output_block(&read.text, read.cursor == 0));
    let exit = state.exit.as_ref();
    let structured = ProcessResult {
        id,
        running: state.running(),
        pid: state.pid,
        exit_code: exit.map(|exit| exit.code),
        exit_reason: exit
            .and_then(|exit| exit.reason)
            .map(|reason| reason.as_str().to_owned()),
        signal: exit.and_then(|exit| exit.signal.clone()),
        duration_ms: exit
            .and_then(|exit| exit.duration)
            .map(|duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        error: exit.and_then(|exit| exit.error.clone()),
        awaiting_input: state.awaiting_input.is_some(),
        input_kind: state.awaiting_input.map(|kind| kind.as_str().to_owned()),
        attached: answer.attached,
        wait_result: read.wait_result.map(|result| result.as_str().to_owned()),
        output: read.text,
        cursor: read.cursor,
        next_cursor: read.next_cursor,
        gap_bytes: read.gap_bytes,
        view: ViewSummary {
            tokens: read.stats.tokens,
            max_tokens: answer.max_tokens,
            source: read.stats.source,
            source_lines: read.stats.source_lines,
            source_bytes: read.stats.source_bytes,
            omitted_lines: read.stats.omitted_lines,
            omitted_bytes: read.stats.omitted_bytes,
        },
    };
    success(text, &structured)
}

/// A successful result: `text` for the model, `structured` as
/// `structuredContent`.
fn success<T: Serialize>(text: String, structured: &T) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(structured).ok();
    result
}

/// The arguments of tool `tool`, or a message naming what is wrong.
fn parse<T: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(
        |error: serde_path_to_error::Error<serde_json::Error>| {
            let path = error.path().to_string();
            let inner = plain_types(&error.inner().to_string());
            ToolError(if path == "." {
                format!("Invalid arguments for {tool}: {inner}.")
            } else {
                format!("Invalid arguments for {tool}: {path}: {inner}.")
            })
        },
    )
}

/// serde's type names in words a model knows.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number (0 or more)")
        .replace("expected u16", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
}

fn process_id(text: &str) -> Result<ProcessId, ToolError> {
    text.trim().parse().map_err(|_| {
        ToolError(format!(
            "{text:?} is not a process id: ids look like \"3f2a9c1e-8d4b-4c5e-9f60-7a1b2c3d4e5f\" (process_start answers with one; process_list shows them)."
        ))
    })
}

fn max_tokens(value: Option<u64>) -> Result<usize, ToolError> {
    match value {
        None => Ok(DEFAULT_MAX_TOKENS),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (MIN_MAX_TOKENS..=MAX_MAX_TOKENS).contains(n))
            .ok_or_else(|| {
                ToolError(format!(
                    "max_tokens must be from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS} (default {DEFAULT_MAX_TOKENS})."
                ))
            }),
    }
}

fn check_pattern(pattern: &str) -> Result<(), ToolError> {
    compile_pattern(pattern, false)
        .map(drop)
        .map_err(|error| ToolError(format!("Invalid pattern {pattern:?}: {error}")))
}

/// `tty`: `true`, `false`, or `{"rows", "cols"}`.
fn terminal(value: Option<&serde_json::Value>) -> Result<Option<TerminalSize>, ToolError> {
    const SHAPE: &str = "tty must be true, false or {\"rows\": R, \"cols\": C}";
    let object = match value {
        None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => return Ok(None),
        Some(serde_json::Value::Bool(true)) => return Ok(Some(TerminalSize::DEFAULT)),
        Some(serde_json::Value::Object(object)) => object,
        Some(other) => return Err(ToolError(format!("{SHAPE}, not {other}."))),
    };
    if let Some(key) = object.keys().find(|key| *key != "rows" && *key != "cols") {
        return Err(ToolError(format!("{SHAPE}: unknown key {key:?}.")));
    }
    let dimension = |name: &str, default: u16| match object.get(name) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| (1..=TerminalSize::MAX).contains(n))
            .ok_or_else(|| {
                ToolError(format!(
                    "tty.{name} must be a whole number from 1 to {}.",
                    TerminalSize::MAX
                ))
            }),
    };
    let rows = dimension("rows", TerminalSize::DEFAULT.rows())?;
    let cols = dimension("cols", TerminalSize::DEFAULT.cols())?;
    TerminalSize::new(rows, cols)
        .map(Some)
        .ok_or_else(|| ToolError(format!("{SHAPE}.")))
}

/// The condition of a `process_output` wait.
fn wait_condition(until: UntilArg, args: &OutputArgs, cursor: u64) -> Result<WaitFor, ToolError> {
    if args.pattern.is_some() && until != UntilArg::Match {
        return Err(ToolError(
            "pattern is for until \"match\": drop one of them.".to_owned(),
        ));
    }
    if args.idle_ms.is_some() && !matches!(until, UntilArg::Idle | UntilArg::Input) {
        return Err(ToolError(
            "idle_ms applies to until \"idle\" or \"input\" only.".to_owned(),
        ));
    }
    Ok(match until {
        UntilArg::Exit => WaitFor::Exit,
        UntilArg::Output => WaitFor::Output { after: cursor },
        UntilArg::Match => {
            let pattern = args
                .pattern
                .clone()
                .filter(|pattern| !pattern.is_empty())
                .ok_or_else(|| {
                    ToolError(
                        "until \"match\" needs a pattern: a regular expression for the line to wait for, e.g. \"Listening on|ready\"."
                            .to_owned(),
                    )
                })?;
            check_pattern(&pattern)?;
            // A line printed before the previous read counts too (a server
            // may have been ready before anyone asked), unless a cursor
            // says where to look from.
            WaitFor::Match {
                pattern,
                from: args.cursor.unwrap_or(0),
            }
        }
        UntilArg::Idle => match args.idle_ms {
            Some(ms) if ms > 0 => WaitFor::Idle {
                quiet: Duration::from_millis(ms),
            },
            _ => {
                return Err(ToolError(
                    "until \"idle\" needs idle_ms: how long the output must stay quiet, in milliseconds (more than 0)."
                        .to_owned(),
                ));
            }
        },
        UntilArg::Input => WaitFor::Input {
            settle: args.idle_ms.map(Duration::from_millis),
        },
    })
}

/// The caller of a request: on `/mcp`, the chat its headers name.
fn caller_of(context: &RequestContext<RoleServer>) -> Caller {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .map(|parts| Caller {
            chat: chat_of(&parts.headers),
        })
        .unwrap_or_default()
}

/// The chat context of request headers (as on every HTTP route): a
/// `Coder-Chat-Id` that parses as a UUID, and the ancestors of
/// `Coder-Ancestor-Chat-Ids` that do.
pub(crate) fn chat_of(headers: &HeaderMap) -> Option<ChatContext> {
    let chat_id = headers
        .get(CHAT_ID_HEADER)?
        .to_str()
        .ok()
        .and_then(|value| Uuid::try_parse(value.trim()).ok())?;
    let ancestors = headers
        .get(ANCESTOR_CHAT_IDS_HEADER)
        .and_then(|raw| serde_json::from_slice::<Vec<serde_json::Value>>(raw.as_bytes()).ok())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry.as_str().and_then(|s| Uuid::try_parse(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    Some(ChatContext { chat_id, ancestors })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agentproc", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.shared.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared
            .tools
            .iter()
            .find(|tool| tool.name == name)
            .cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller_of(&context);
        let arguments = request.arguments.unwrap_or_default();
        self.call(&caller, &request.name, arguments)
            .await
            .map(CallToolResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn chat_headers_give_a_caller() {
        let chat = Uuid::new_v4();
        let ancestor = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        headers.insert(
            CHAT_ID_HEADER,
            HeaderValue::from_str(&chat.to_string().to_uppercase()).expect("header"),
        );
        headers.insert(
            ANCESTOR_CHAT_IDS_HEADER,
            HeaderValue::from_str(&format!(r#"["{ancestor}", "junk"]"#)).expect("header"),
        );
        assert_eq!(
            chat_of(&headers),
            Some(ChatContext {
                chat_id: chat,
                ancestors: vec![ancestor]
            })
        );
        headers.insert(CHAT_ID_HEADER, HeaderValue::from_static("not-a-uuid"));
        assert_eq!(chat_of(&headers), None);
    }

    #[test]
    fn argument_errors_name_the_field() {
        let arguments = |json: serde_json::Value| match json {
            serde_json::Value::Object(object) => object,
            _ => JsonObject::new(),
        };
        let message = |json| match parse::<StartArgs>("process_start", arguments(json)) {
            Err(ToolError(message)) => message,
            Ok(_) => String::new(),
        };
        assert_eq!(
            message(serde_json::json!({})),
            "Invalid arguments for process_start: missing field `command`."
        );
        assert_eq!(
            message(serde_json::json!({"command": "x", "wait_ms": "5"})),
            "Invalid arguments for process_start: wait_ms: invalid type: string \"5\", expected a whole number (0 or more)."
        );
        assert!(
            message(serde_json::json!({"command": "x", "timeout": 5}))
                .contains("unknown field `timeout`, expected one of")
        );
        let signal = match parse::<SignalArgs>(
            "process_signal",
            arguments(serde_json::json!({"id": "x", "signal": "stop"})),
        ) {
            Err(ToolError(message)) => message,
            Ok(_) => String::new(),
        };
        assert_eq!(
            signal,
            "Invalid arguments for process_signal: signal: unknown variant `stop`, expected one of `interrupt`, `terminate`, `kill`, `hangup`."
        );
    }

    #[test]
    fn tty_takes_a_flag_or_a_size() {
        let size = |json: serde_json::Value| terminal(Some(&json)).map_err(|ToolError(m)| m);
        assert_eq!(
            size(serde_json::json!(true)).ok(),
            Some(Some(TerminalSize::DEFAULT))
        );
        assert_eq!(size(serde_json::json!(false)).ok(), Some(None));
        assert_eq!(
            size(serde_json::json!({"rows": 40})).ok(),
            Some(TerminalSize::new(40, 80))
        );
        assert!(size(serde_json::json!({"rows": 0})).is_err());
        assert!(size(serde_json::json!({"lines": 3})).is_err());
        assert!(size(serde_json::json!("yes")).is_err());
    }

    #[test]
    fn max_tokens_is_checked() {
        assert_eq!(max_tokens(None).ok(), Some(DEFAULT_MAX_TOKENS));
        assert_eq!(max_tokens(Some(200)).ok(), Some(200));
        assert!(max_tokens(Some(199)).is_err());
        assert!(max_tokens(Some(32_001)).is_err());
    }
}
