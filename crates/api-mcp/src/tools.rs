//! The tools as the model sees them: names, descriptions (the prompt the
//! model reads), annotations, and the argument types whose JSON schemas are
//! the `inputSchema`s. The names and parameters are the contract.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::results::{
    InputResult, ListResult, ProcessResult, ScreenResult, SearchResult, SignalResult,
};

/// `process_start`.
pub const PROCESS_START: &str = "process_start";
/// `process_output`.
pub const PROCESS_OUTPUT: &str = "process_output";
/// `process_input`.
pub const PROCESS_INPUT: &str = "process_input";
/// `process_signal`.
pub const PROCESS_SIGNAL: &str = "process_signal";
/// `process_list`.
pub const PROCESS_LIST: &str = "process_list";
/// `process_search`.
pub const PROCESS_SEARCH: &str = "process_search";
/// `process_screen`.
pub const PROCESS_SCREEN: &str = "process_screen";

/// Every tool's name, in the order they are listed.
pub const TOOL_NAMES: [&str; 7] = [
    PROCESS_START,
    PROCESS_OUTPUT,
    PROCESS_INPUT,
    PROCESS_SIGNAL,
    PROCESS_LIST,
    PROCESS_SEARCH,
    PROCESS_SCREEN,
];

const START_DESCRIPTION: &str = "\
Run a shell command (`sh -c`, so pipes, `&&` and redirections work) and wait for it to finish, up to `wait_ms` (default 30000 ms). \
The answer starts with a status line (`exit 2 (exited) after 1.4 s · id …`), then the output as an agent view: every error, failure and file:line location kept, repeated noise folded, within `max_tokens` (default 2000); `[… ]` lines mark what was left out and where. \
If the command is still running when `wait_ms` expires, it KEEPS RUNNING (only `timeout_ms` stops a command) and the answer says how to follow it with `process_output`. \
Use `background: true` for anything that does not exit on its own (dev servers, watchers, `tail -f`): the call returns at once; then wait until it is ready with `process_output` `{\"id\": …, \"until\": \"match\", \"pattern\": \"Listening on|ready\"}`. \
For programs that ask questions or keep a session (REPLs, prompts, `sudo`, curses), start them with `stdin: true` (a pipe) or `tty: true` (a real terminal) and type with `process_input`; a foreground start of such a command also returns as soon as the program waits for input. \
After a lost answer, retry with the same `client_token`: it attaches to the first start instead of running the command twice.";

const OUTPUT_DESCRIPTION: &str = "\
Read a process's output. Without `cursor` you get only what is new since your previous read of this process (no bookkeeping needed); pass `cursor: 0` for everything, or an earlier `next_cursor` to read from there. \
Optionally wait first, up to `wait_ms` (default 30000 ms when `until` is given, at most 300000): \
`until: \"exit\"` returns when the process exits; `\"output\"` when it prints anything new; `\"match\"` when a line matching the regex `pattern` appears (the way to wait until a dev server is ready; it looks at the whole output, or from `cursor` when given, so a line printed earlier counts); `\"idle\"` when it has printed nothing for `idle_ms`; `\"input\"` when the program waits for input (quiet, and blocked reading its terminal or stdin, as the kernel shows: a prompt, a REPL). \
An expired wait is not an error (`wait_result: \"timeout\"`) and never stops the process. \
The output is an agent view within `max_tokens` (default 2000): errors and failures kept, noise folded, omissions marked.";

const INPUT_DESCRIPTION: &str = "\
Type into a process started with `tty: true` or `stdin: true`: `text` first, then `keys` in order, then end of input with `eof: true` (Ctrl-D on a terminal; closes stdin for a pipe). \
Keys use tmux names and need a terminal: Enter, Tab, Escape, BSpace, Up, Down, Left, Right, Home, End, PageUp, PageDown, C-c, C-d, C-z, M-x, F1…F12, or any single character. \
`text` is sent as is: to submit a line, add `keys: [\"Enter\"]` on a terminal or end `text` with a newline on a pipe. \
Then read the reply with `process_output` and `until: \"input\"` (returns when the program waits for input again) or `until: \"exit\"`.";

const SIGNAL_DESCRIPTION: &str = "\
Send a signal to a process and its whole process group: `interrupt` (SIGINT, like Ctrl-C), `terminate` (SIGTERM, asks it to stop: the usual way to stop a server), `kill` (SIGKILL, cannot be caught), `hangup` (SIGHUP; many daemons reload on it). \
Returns at once; `process_output` with `until: \"exit\"` shows how it ended.";

const LIST_DESCRIPTION: &str = "\
List the processes this agentproc knows: running ones first, then the most recently started, with their ids, status and command. \
Exited processes are forgotten a few minutes after they exit.";

const SEARCH_DESCRIPTION: &str = "\
Search a process's whole output (everything kept on disk, including what output views folded or left out) for the regular expression `pattern` (Rust syntax; `(?i)` ignores case), line by line. \
Returns the matching lines with their line numbers, and `context` lines (0 to 10, default 0) before and after each, at most `max_matches` (1 to 100, default 20).";

const SCREEN_DESCRIPTION: &str = "\
What a person would see on the terminal of a process started with `tty: true`, rendered by a terminal emulator: its rows, the cursor and the title. \
Use it for full-screen programs (editors, `top`, menus, progress displays) whose raw output is mostly escape codes.";

/// `process_start` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartArgs {
    /// The shell command line, run as `sh -c <command>`.
    pub(crate) command: String,
    /// The working directory (default: the server's).
    pub(crate) workdir: Option<String>,
    /// Environment variables to set, e.g. {"RUST_LOG": "debug"}.
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// true for a command that does not exit on its own (a dev server, a
    /// watcher): the call then returns at once (wait_ms defaults to 0).
    pub(crate) background: Option<bool>,
    /// A deadline in milliseconds: when it passes, the command is stopped
    /// (SIGTERM, then SIGKILL). Default: none.
    #[schemars(range(min = 1))]
    pub(crate) timeout_ms: Option<u64>,
    /// How long to wait for the exit before answering, in milliseconds
    /// (default 30000, or 0 with background; at most 300000). Reaching it
    /// never stops the command.
    pub(crate) wait_ms: Option<u64>,
    /// An id of your choosing for this start: a repeated start with the
    /// same client_token and parameters returns the first process instead
    /// of running the command again.
    pub(crate) client_token: Option<String>,
    /// Run it on a terminal: true (24 rows, 80 columns) or {"rows": R,
    /// "cols": C}. For programs that need one: prompts, REPLs, curses,
    /// colours. Type with process_input; see it with process_screen.
    #[schemars(with = "Option<TtySchema>")]
    pub(crate) tty: Option<serde_json::Value>,
    /// Give it a standard input pipe (write with process_input) instead of
    /// none.
    pub(crate) stdin: Option<bool>,
    /// The output view's budget in tokens (200 to 32000, default 2000).
    #[schemars(range(min = 200, max = 32000))]
    pub(crate) max_tokens: Option<u64>,
}

/// The shape `tty` accepts (for the schema only; it is checked by hand for
/// clearer errors).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TtySchema {
    /// true: a 24×80 terminal; false: none.
    Enabled(bool),
    /// A terminal of this size.
    Size {
        /// Rows, 1 to 1000 (default 24).
        #[schemars(range(min = 1, max = 1000))]
        rows: Option<u16>,
        /// Columns, 1 to 1000 (default 80).
        #[schemars(range(min = 1, max = 1000))]
        cols: Option<u16>,
    },
}

/// What `process_output` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UntilArg {
    /// The process exits.
    Exit,
    /// It prints anything new (past the cursor).
    Output,
    /// A line matches `pattern`.
    Match,
    /// It prints nothing for `idle_ms`.
    Idle,
    /// It waits for input: quiet, and blocked reading its terminal or stdin.
    Input,
}

/// `process_output` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputArgs {
    /// The process id (from process_start or process_list).
    pub(crate) id: String,
    /// Read from this byte offset: a next_cursor from an earlier answer, or
    /// 0 for all the output. Default: where your previous read of this
    /// process ended.
    pub(crate) cursor: Option<u64>,
    /// Wait up to this long first, in milliseconds (default 30000 when
    /// until is given, else no wait; at most 300000). Reaching it is not an
    /// error and never stops the process.
    pub(crate) wait_ms: Option<u64>,
    /// What to wait for (default "exit" when only wait_ms is given).
    pub(crate) until: Option<UntilArg>,
    /// For until "match": a regular expression matched against each line
    /// (Rust syntax; (?i) ignores case). A pattern alone implies "match".
    pub(crate) pattern: Option<String>,
    /// For until "idle": how long the output must stay quiet, in
    /// milliseconds (required). For "input": how long the program must be
    /// quiet before it counts as waiting (default 500).
    pub(crate) idle_ms: Option<u64>,
    /// The output view's budget in tokens (200 to 32000, default 2000).
    #[schemars(range(min = 200, max = 32000))]
    pub(crate) max_tokens: Option<u64>,
}

/// `process_input` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputArgs {
    /// The process id.
    pub(crate) id: String,
    /// Text to type, sent first, as is (no newline is added).
    pub(crate) text: Option<String>,
    /// Named keys sent after the text, in tmux spelling: Enter, Tab,
    /// Escape, BSpace, Up, C-c, M-x, F1, … (terminal processes only).
    pub(crate) keys: Option<Vec<String>>,
    /// End of input, sent last: Ctrl-D on a terminal, closing stdin for a
    /// pipe.
    pub(crate) eof: Option<bool>,
}

/// The signals `process_signal` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SignalArg {
    /// SIGINT, as Ctrl-C sends.
    Interrupt,
    /// SIGTERM: asks it to exit.
    Terminate,
    /// SIGKILL: cannot be caught.
    Kill,
    /// SIGHUP: the terminal went away (many daemons reload).
    Hangup,
}

impl SignalArg {
    /// The name as given.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Interrupt => "interrupt",
            Self::Terminate => "terminate",
            Self::Kill => "kill",
            Self::Hangup => "hangup",
        }
    }

    /// The signal.
    pub(crate) fn signal(self) -> agentproc_core::Signal {
        match self {
            Self::Interrupt => agentproc_core::Signal::Interrupt,
            Self::Terminate => agentproc_core::Signal::Terminate,
            Self::Kill => agentproc_core::Signal::Kill,
            Self::Hangup => agentproc_core::Signal::Hangup,
        }
    }
}

/// `process_signal` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalArgs {
    /// The process id.
    pub(crate) id: String,
    /// interrupt, terminate, kill or hangup.
    pub(crate) signal: SignalArg,
}

/// `process_list` arguments: none.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListArgs {}

/// `process_search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchArgs {
    /// The process id.
    pub(crate) id: String,
    /// A regular expression matched against each line (Rust syntax; (?i)
    /// ignores case).
    pub(crate) pattern: String,
    /// Lines of context before and after each match (0 to 10, default 0).
    #[schemars(range(max = 10))]
    pub(crate) context: Option<u64>,
    /// The most matches to return (1 to 100, default 20).
    #[schemars(range(min = 1, max = 100))]
    pub(crate) max_matches: Option<u64>,
}

/// `process_screen` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScreenArgs {
    /// The process id (started with tty).
    pub(crate) id: String,
}

/// How a tool behaves, for the annotations clients show users.
#[derive(Clone, Copy)]
enum Kind {
    /// Reads, and the same call gives the same answer (for the same state).
    Query,
    /// Reads, but each call moves the implicit cursor.
    Read,
    /// Acts on a process without destroying anything.
    Act,
    /// May end a process.
    Destructive,
}

fn annotations(title: &str, kind: Kind, open_world: bool) -> ToolAnnotations {
    let annotations = ToolAnnotations::with_title(title).open_world(open_world);
    match kind {
        Kind::Query => annotations.read_only(true).idempotent(true),
        Kind::Read => annotations.read_only(true).idempotent(false),
        Kind::Act => annotations
            .read_only(false)
            .destructive(false)
            .idempotent(false),
        Kind::Destructive => annotations
            .read_only(false)
            .destructive(true)
            .idempotent(false),
    }
}

fn tool<I, O>(name: &'static str, description: &'static str, annotations: ToolAnnotations) -> Tool
where
    I: JsonSchema + 'static,
    O: JsonSchema + 'static,
{
    let input: Arc<JsonObject> = match schema_for_input::<I>() {
        Ok(schema) => schema,
        // Every argument type is a struct, so this cannot happen; an
        // object schema that accepts anything is the safe fallback.
        Err(_) => Arc::new(JsonObject::from_iter([(
            "type".to_owned(),
            serde_json::Value::from("object"),
        )])),
    };
    Tool::new(name, description, unwrapped(&input))
        .with_raw_output_schema(unwrapped(&schema_for_output::<O>()))
        .with_annotations(annotations)
}

/// `schema` with the line breaks of doc comments taken out of its
/// descriptions (a paragraph break stays): the model reads them as prose.
fn unwrapped(schema: &JsonObject) -> Arc<JsonObject> {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                for (key, value) in object.iter_mut() {
                    match value {
                        serde_json::Value::String(text) if key == "description" => {
                            *text = text
                                .split("\n\n")
                                .map(|paragraph| paragraph.replace('\n', " "))
                                .collect::<Vec<_>>()
                                .join("\n\n");
                        }
                        other => walk(other),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::Value::Object(schema.clone());
    walk(&mut value);
    match value {
        serde_json::Value::Object(object) => Arc::new(object),
        _ => Arc::new(schema.clone()),
    }
}

/// Every tool, as `tools/list` answers.
pub fn definitions() -> Vec<Tool> {
    vec![
        tool::<StartArgs, ProcessResult>(
            PROCESS_START,
            START_DESCRIPTION,
            annotations("Run a command", Kind::Act, true),
        ),
        tool::<OutputArgs, ProcessResult>(
            PROCESS_OUTPUT,
            OUTPUT_DESCRIPTION,
            annotations("Read a process's output", Kind::Read, false),
        ),
        tool::<InputArgs, InputResult>(
            PROCESS_INPUT,
            INPUT_DESCRIPTION,
            annotations("Type into a process", Kind::Act, false),
        ),
        tool::<SignalArgs, SignalResult>(
            PROCESS_SIGNAL,
            SIGNAL_DESCRIPTION,
            annotations("Signal a process", Kind::Destructive, false),
        ),
        tool::<ListArgs, ListResult>(
            PROCESS_LIST,
            LIST_DESCRIPTION,
            annotations("List processes", Kind::Query, false),
        ),
        tool::<SearchArgs, SearchResult>(
            PROCESS_SEARCH,
            SEARCH_DESCRIPTION,
            annotations("Search a process's output", Kind::Query, false),
        ),
        tool::<ScreenArgs, ScreenResult>(
            PROCESS_SCREEN,
            SCREEN_DESCRIPTION,
            annotations("Read a terminal's screen", Kind::Query, false),
        ),
    ]
}
