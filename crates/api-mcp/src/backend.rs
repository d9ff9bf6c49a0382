//! The seam between the MCP tools and the processes they act on: the
//! [`Backend`] trait and the plain data that crosses it. The tools validate
//! their arguments, resolve defaults and the implicit cursor, call a
//! backend, and render what it answers; a backend only does what it is
//! asked. [`Embedded`](crate::Embedded) calls a [`Manager`](agentproc_core::Manager)
//! in this process; the `agentproc` binary's `--server` backend calls a
//! running `agentproc serve` over its HTTP API.

use std::collections::BTreeMap;
use std::time::Duration;

use agentproc_core::manager::WaitResult;
use agentproc_core::{ChatContext, ExitReason, InputKind, ProcessId, Signal, TerminalSize};
use uuid::Uuid;

/// Who is calling: the chat a request acts for (Coder's `Coder-Chat-Id`
/// header on `/mcp`), which scopes what it sees. Stdio callers have none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The chat, when the request named one.
    pub chat: Option<ChatContext>,
}

impl Caller {
    /// The chat id, for visibility checks.
    pub fn chat_id(&self) -> Option<Uuid> {
        self.chat.as_ref().map(|chat| chat.chat_id)
    }
}

/// What to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSpec {
    /// The shell command line.
    pub command: String,
    /// The working directory (`None`: the backend's default).
    pub workdir: Option<String>,
    /// Variables added to the environment.
    pub env: BTreeMap<String, String>,
    /// Started as a background process (reported, nothing more).
    pub background: bool,
    /// The deadline after which the process is stopped.
    pub timeout: Option<Duration>,
    /// Makes the start exactly-once per token.
    pub client_token: Option<String>,
    /// A standard input pipe instead of `/dev/null`.
    pub stdin: bool,
    /// A pseudo-terminal of this size.
    pub tty: Option<TerminalSize>,
}

/// The answer to a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The process (the first one, when attached).
    pub id: ProcessId,
    /// A client token matched an earlier start: nothing new was spawned.
    pub attached: bool,
}

/// What a wait waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// The exit.
    Exit,
    /// Output past this offset.
    Output {
        /// The offset.
        after: u64,
    },
    /// A line from offset `from` on matching `pattern` (a regular
    /// expression the tools have checked).
    Match {
        /// The pattern.
        pattern: String,
        /// Where to start looking.
        from: u64,
    },
    /// No output for `quiet`.
    Idle {
        /// How long.
        quiet: Duration,
    },
    /// The process waits for input (quiet for `settle`, default the
    /// backend's, and blocked reading its terminal or standard input).
    Input {
        /// How long it must have been quiet.
        settle: Option<Duration>,
    },
}

/// A wait: a condition and how long to wait for it at most. A wait never
/// affects the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The condition (the exit always ends a wait too).
    pub until: WaitFor,
    /// The longest to wait.
    pub timeout: Duration,
}

/// A read of a process's output, as the agent view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSpec {
    /// Where the view starts (an absolute byte offset).
    pub cursor: u64,
    /// A wait before reading.
    pub wait: Option<Wait>,
    /// The view's budget in tokens (already checked to be in range).
    pub max_tokens: usize,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitState {
    /// The exit code (`-1` when a signal ended it).
    pub code: i32,
    /// Why it ended, when the backend says.
    pub reason: Option<ExitReason>,
    /// The signal that ended it, e.g. `SIGTERM`.
    pub signal: Option<String>,
    /// From start to exit.
    pub duration: Option<Duration>,
    /// Why it could not be started (`spawn_failed`).
    pub error: Option<String>,
}

/// A process's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    /// The process.
    pub id: ProcessId,
    /// The shell's OS process id.
    pub pid: Option<u32>,
    /// How it ended; `None` while it runs.
    pub exit: Option<ExitState>,
    /// It has stopped and waits for this kind of input.
    pub awaiting_input: Option<InputKind>,
}

impl ProcessState {
    /// Whether it is still running.
    pub fn running(&self) -> bool {
        self.exit.is_none()
    }
}

/// What the agent view describes, beside its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewStats {
    /// Tokens in the text (o200k_base).
    pub tokens: usize,
    /// `log` (the full log) or `buffer` (the head/tail buffer: no log).
    pub source: String,
    /// Lines described.
    pub source_lines: u64,
    /// Bytes described.
    pub source_bytes: u64,
    /// Lines not shown in full.
    pub omitted_lines: u64,
    /// Bytes not shown.
    pub omitted_bytes: u64,
}

/// The answer to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRead {
    /// The process after the wait (read before its output, so an exited
    /// process's output is complete).
    pub state: ProcessState,
    /// Why the wait returned, when there was one.
    pub wait_result: Option<WaitResult>,
    /// The agent view of the output from `cursor` to `next_cursor`.
    pub text: String,
    /// Where the view starts (after bytes that are gone).
    pub cursor: u64,
    /// Where the next read should start.
    pub next_cursor: u64,
    /// Bytes before `cursor` that were asked for but are gone.
    pub gap_bytes: u64,
    /// What the view describes.
    pub stats: ViewStats,
}

/// A process as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Its state.
    pub state: ProcessState,
    /// The command line.
    pub command: String,
    /// Started in the background.
    pub background: bool,
    /// When it started, in Unix seconds.
    pub started_at_unix: i64,
    /// Its terminal's size, when it has one.
    pub tty: Option<TerminalSize>,
}

/// What to type into a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSpec {
    /// Text, first.
    pub text: String,
    /// Named keys (tmux spelling), then.
    pub keys: Vec<String>,
    /// End of input, last.
    pub eof: bool,
}

/// A search of a process's full output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSpec {
    /// The regular expression (checked by the tools).
    pub pattern: String,
    /// Lines of context before and after each match.
    pub context: usize,
    /// The most matches.
    pub max_matches: usize,
}

/// A line of output with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedLine {
    /// 1-based, over everything the process wrote.
    pub line: u64,
    /// The text (cut to 2048 bytes by the log).
    pub text: String,
}

/// A matching line with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The matching line.
    pub line: NumberedLine,
    /// Lines before it.
    pub before: Vec<NumberedLine>,
    /// Lines after it.
    pub after: Vec<NumberedLine>,
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHits {
    /// Matches in output order.
    pub matches: Vec<Hit>,
    /// The search stopped at `max_matches` (or its size limit).
    pub limit_hit: bool,
}

/// A rendered terminal screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenState {
    /// The process.
    pub state: ProcessState,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// The cursor's row, 0-based.
    pub cursor_row: u16,
    /// The cursor's column, 0-based.
    pub cursor_col: u16,
    /// Whether the cursor is shown.
    pub cursor_visible: bool,
    /// The window title, when the program set one.
    pub title: Option<String>,
    /// A full-screen program uses the alternate screen.
    pub alternate_screen: bool,
    /// The rows, top to bottom, trailing blanks trimmed.
    pub lines: Vec<String>,
}

/// Why a backend could not do what it was asked. The tools turn each into a
/// message the model can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No such process is visible (never started, forgotten after its
    /// exit, or another chat's).
    #[error("process {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The process has exited.
    #[error("process {id} is not running")]
    NotRunning {
        /// The process.
        id: String,
    },
    /// The process runs without a terminal.
    #[error("process {id} has no terminal")]
    NoTerminal {
        /// The process.
        id: String,
    },
    /// The process has neither a terminal nor an open standard input.
    #[error("process {id} takes no input")]
    TakesNoInput {
        /// The process.
        id: String,
    },
    /// Named keys were sent to a process without a terminal.
    #[error("named keys need a terminal (process {id})")]
    KeysNeedTerminal {
        /// The process.
        id: String,
    },
    /// A key name is not known.
    #[error("unknown key {key:?}")]
    UnknownKey {
        /// The name.
        key: String,
    },
    /// The process did not read its input in time.
    #[error("process {id} did not read its input in time ({written} bytes written)")]
    InputTimeout {
        /// The process.
        id: String,
        /// Bytes that went in.
        written: usize,
    },
    /// The request was refused as given; the message says why.
    #[error("refused: {message}")]
    Refused {
        /// A sentence saying why.
        message: String,
    },
    /// Something failed that is not the caller's doing (an unreachable
    /// server, a log that cannot be read).
    #[error("failed: {message}")]
    Failed {
        /// A sentence saying what.
        message: String,
    },
}

/// The processes the tools act on. Object-safe, so the tools hold an
/// `Arc<dyn Backend>`; every method answers plain data, so the tools render
/// text and structured results once for every backend.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Starts a process; returns once it has spawned.
    async fn start(&self, caller: &Caller, spec: StartSpec) -> Result<Started, BackendError>;

    /// Waits if asked, then reads the agent view of the output from the
    /// cursor. Without a full log, a backend describes the whole output
    /// from the head/tail buffer instead (`stats.source` is `buffer`).
    async fn read(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: ReadSpec,
    ) -> Result<ViewRead, BackendError>;

    /// Writes text, keys and end-of-file to the process's terminal or
    /// standard input; returns the bytes written.
    async fn input(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: InputSpec,
    ) -> Result<usize, BackendError>;

    /// Sends `signal` to the process's whole group.
    async fn signal(
        &self,
        caller: &Caller,
        id: ProcessId,
        signal: Signal,
    ) -> Result<(), BackendError>;

    /// At most `limit` processes, running first, then newest.
    async fn list(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<ProcessSummary>, BackendError>;

    /// Searches the process's full output.
    async fn search(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: SearchSpec,
    ) -> Result<SearchHits, BackendError>;

    /// The process's terminal screen.
    async fn screen(&self, caller: &Caller, id: ProcessId) -> Result<ScreenState, BackendError>;
}
