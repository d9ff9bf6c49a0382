//! The tools' structured results (`structuredContent`), whose JSON schemas
//! are the `outputSchema`s. Each is bounded: the output by its token
//! budget, lists, matches and screens by the result budget.

use schemars::JsonSchema;
use serde::Serialize;

/// `process_start` and `process_output`: a process and a view of its
/// output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProcessResult {
    /// The process id: pass it to the other tools.
    pub id: String,
    /// Whether it still runs.
    pub running: bool,
    /// The shell's OS process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The exit code, once exited (-1 when a signal ended it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it ended: exited, signaled, killed, deadline_exceeded,
    /// shutdown, spawn_failed or oom_killed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// The signal that ended it, e.g. SIGTERM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// From start to exit, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Why it could not be started (exit_reason spawn_failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// It has stopped and waits for input.
    pub awaiting_input: bool,
    /// What it waits for: line, password, raw (keys) or pipe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_kind: Option<String>,
    /// process_start only: a client_token matched an earlier start, and
    /// this is that process (nothing new was run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached: Option<bool>,
    /// Why the wait returned, when there was one: exited, output, matched,
    /// idle, input or timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_result: Option<String>,
    /// The output from cursor to next_cursor, as an agent view.
    pub output: String,
    /// Where output starts (a byte offset).
    pub cursor: u64,
    /// Where the next read starts; process_output continues from here by
    /// itself.
    pub next_cursor: u64,
    /// Bytes before cursor that were asked for but are no longer kept.
    pub gap_bytes: u64,
    /// How the output was cut.
    pub view: ViewSummary,
}

/// How the output was cut to its budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ViewSummary {
    /// Tokens in output (o200k_base).
    pub tokens: usize,
    /// The budget.
    pub max_tokens: usize,
    /// log (the full output on disk) or buffer (no log: the first and last
    /// 16 KiB).
    pub source: String,
    /// Lines the view describes.
    pub source_lines: u64,
    /// Bytes the view describes.
    pub source_bytes: u64,
    /// Lines not shown in full (marked by `[… ]` lines).
    pub omitted_lines: u64,
    /// Bytes not shown.
    pub omitted_bytes: u64,
}

/// `process_input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InputResult {
    /// The process id.
    pub id: String,
    /// Bytes written (text, keys and the end-of-file character).
    pub written: usize,
}

/// `process_signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SignalResult {
    /// The process id.
    pub id: String,
    /// The signal as asked: interrupt, terminate, kill or hangup.
    pub signal: String,
    /// Its name, e.g. SIGTERM.
    pub sent: String,
}

/// `process_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListResult {
    /// Running first, then newest.
    pub processes: Vec<ListEntry>,
    /// More processes were known than fit in the answer.
    pub truncated: bool,
}

/// A listed process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListEntry {
    /// The process id.
    pub id: String,
    /// The command line (long ones cut, marked with …).
    pub command: String,
    /// Whether it still runs.
    pub running: bool,
    /// The shell's OS process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// Started in the background.
    pub background: bool,
    /// When it started, in Unix seconds.
    pub started_at_unix: i64,
    /// It has stopped and waits for input.
    pub awaiting_input: bool,
    /// It runs on a terminal.
    pub tty: bool,
}

/// `process_search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SearchResult {
    /// The process id.
    pub id: String,
    /// Matches in output order.
    pub matches: Vec<MatchEntry>,
    /// The search stopped at max_matches: there may be more.
    pub limit_hit: bool,
    /// Matches were left out of this answer to keep it within its budget.
    pub truncated: bool,
}

/// A matching line and its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MatchEntry {
    /// Its line number (1-based, over everything the process wrote).
    pub line: u64,
    /// The line.
    pub text: String,
    /// Lines before it.
    pub before: Vec<LineEntry>,
    /// Lines after it.
    pub after: Vec<LineEntry>,
}

/// A numbered line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LineEntry {
    /// Its line number.
    pub line: u64,
    /// The line.
    pub text: String,
}

/// `process_screen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ScreenResult {
    /// The process id.
    pub id: String,
    /// Whether it still runs (after the exit: the final screen).
    pub running: bool,
    /// The exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// It has stopped and waits for input.
    pub awaiting_input: bool,
    /// Rows of the terminal.
    pub rows: u16,
    /// Columns of the terminal.
    pub cols: u16,
    /// The cursor's row, 0-based from the top.
    pub cursor_row: u16,
    /// The cursor's column, 0-based.
    pub cursor_col: u16,
    /// Whether the cursor is shown.
    pub cursor_visible: bool,
    /// The window title the program set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A full-screen program uses the alternate screen.
    pub alternate_screen: bool,
    /// The rows, top to bottom (trailing blanks trimmed, empty rows at the
    /// bottom left out).
    pub lines: Vec<String>,
    /// Rows or their ends were left out to keep the answer within its
    /// budget.
    pub truncated: bool,
}
