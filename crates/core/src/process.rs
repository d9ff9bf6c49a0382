//! Domain types of a managed process: its id, what a start asks for, and
//! what clients may read back.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::buffer::Truncation;
use crate::exec::{
    AppliedIsolation, IsolationRequest, ResourceLimits, ResourceUsage, TerminalSize,
};

/// A process id: a random (version 4) UUID.
///
/// Its text form is the canonical lower-case hyphenated one; [`FromStr`]
/// accepts only that form, so an id matches exactly when its string does
/// (as with Coder's string-keyed map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(Uuid);

impl ProcessId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for ProcessId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// The text was not a canonical process id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a process id")]
pub struct InvalidProcessId;

impl FromStr for ProcessId {
    type Err = InvalidProcessId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let uuid = Uuid::try_parse(text).map_err(|_| InvalidProcessId)?;
        let id = Self(uuid);
        if id.to_string() == text {
            Ok(id)
        } else {
            Err(InvalidProcessId)
        }
    }
}

/// The chat a request acts for (Coder's `Coder-Chat-Id` header), which
/// scopes what it can see. A convenience scope, not a security boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatContext {
    /// The chat.
    pub chat_id: Uuid,
    /// The chats it descends from, nearest first.
    pub ancestors: Vec<Uuid>,
}

impl ChatContext {
    /// A chat with no ancestors.
    pub fn new(chat_id: Uuid) -> Self {
        Self {
            chat_id,
            ancestors: Vec::new(),
        }
    }
}

/// What to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRequest {
    /// A shell command line, run as `sh -c <command>`.
    pub command: String,
    /// The working directory, used verbatim. Empty or `None` means the
    /// manager's default.
    pub workdir: Option<String>,
    /// Variables added to (and overriding) the base environment.
    pub env: BTreeMap<String, String>,
    /// Whether the client runs it in the background. Stored and reported,
    /// nothing more: a process is never tied to the request that started it.
    pub background: bool,
    /// The chat the start acts for.
    pub chat: Option<ChatContext>,
    /// Makes the start exactly-once: a repeated start with the same token
    /// (in the same chat) and the same parameters attaches to the first
    /// process instead of starting another. Empty means none.
    pub client_token: Option<String>,
    /// A deadline: when it passes, the process group gets `SIGTERM`, then
    /// `SIGKILL` after the deadline grace.
    pub timeout: Option<Duration>,
    /// Give the process a standard input pipe (written with
    /// `Manager::write_stdin`) instead of `/dev/null`.
    pub stdin: bool,
    /// Resource limits for the process tree; the executor completes them
    /// with its defaults, and refuses what it cannot enforce.
    pub limits: ResourceLimits,
    /// Run it on a pseudo-terminal of this size (its input is then the
    /// terminal: `Manager::send_input`, `Manager::write_stdin`).
    pub terminal: Option<TerminalSize>,
    /// Confine its network and filesystem (the executor applies its default
    /// when `None`, and refuses what it cannot enforce or what goes below
    /// its floor).
    pub isolation: Option<IsolationRequest>,
}

impl StartRequest {
    /// A request for `command` with everything else defaulted.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            ..Self::default()
        }
    }
}

/// The result of a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The process (the original one when attached).
    pub info: ProcessInfo,
    /// `true` when a client token matched an earlier start: nothing new was
    /// spawned.
    pub attached: bool,
}

/// Why a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// It exited on its own with an exit code.
    Exited,
    /// A signal nobody asked agentproc to send ended it (a crash, an outside
    /// `kill`).
    Signaled,
    /// It ended after a client asked to signal it.
    Killed,
    /// Its deadline (`timeout`) passed and agentproc stopped it.
    DeadlineExceeded,
    /// agentproc stopped it while shutting down.
    Shutdown,
    /// It never ran: spawning failed (recorded for starts with a client
    /// token, so a retry learns the outcome instead of running it again).
    SpawnFailed,
    /// The kernel's OOM killer ended it inside its memory limit (reported by
    /// executors that can tell, such as the sandbox).
    OomKilled,
}

impl ExitReason {
    /// Every reason, in declaration order (for API descriptions).
    pub const ALL: [Self; 7] = [
        Self::Exited,
        Self::Signaled,
        Self::Killed,
        Self::DeadlineExceeded,
        Self::Shutdown,
        Self::SpawnFailed,
        Self::OomKilled,
    ];

    /// The wire name, e.g. `deadline_exceeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exited => "exited",
            Self::Signaled => "signaled",
            Self::Killed => "killed",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Shutdown => "shutdown",
            Self::SpawnFailed => "spawn_failed",
            Self::OomKilled => "oom_killed",
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How and when a process ended, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code clients see: the process's own for a normal exit; `-1`
    /// when a signal ended it, when its status could not be determined, or
    /// when it exited 0 but descendants held its output open past the drain
    /// grace (as Coder reports these).
    pub code: i32,
    /// Why it ended.
    pub reason: ExitReason,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Whether that signal produced a core dump.
    pub core_dumped: bool,
    /// What it consumed, when the executor can tell.
    pub usage: Option<ResourceUsage>,
    /// When it exited (wall clock).
    pub exited_at: SystemTime,
    /// From start to exit (monotonic).
    pub duration: Duration,
    /// For [`ExitReason::SpawnFailed`]: why it could not start.
    pub error: Option<String>,
}

/// What a client can know about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its id.
    pub id: ProcessId,
    /// The command line as requested.
    pub command: String,
    /// The resolved working directory (`None`: inherited from agentproc).
    pub workdir: Option<PathBuf>,
    /// Whether it was started in the background.
    pub background: bool,
    /// The OS process id of the shell (also its process group id).
    pub pid: Option<u32>,
    /// The chat that started it.
    pub chat_id: Option<Uuid>,
    /// The client token it was started with.
    pub client_token: Option<String>,
    /// Its deadline, relative to the start.
    pub timeout: Option<Duration>,
    /// The resource limits in force (empty when none are enforced).
    pub limits: ResourceLimits,
    /// When it started (wall clock).
    pub started_at: SystemTime,
    /// How it ended; `None` while it runs (or its output is still being
    /// drained).
    pub exit: Option<ExitInfo>,
    /// Its terminal's current size, when it runs on one.
    pub terminal: Option<TerminalSize>,
    /// The isolation applied to it, when the executor isolates it.
    pub isolation: Option<AppliedIsolation>,
    /// It has stopped and waits for input: quiet for the settle time and
    /// blocked reading its terminal or standard input (as the kernel
    /// shows). Only ever set while it runs.
    pub awaiting_input: Option<InputKind>,
}

/// What kind of input a process waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A line: the terminal is in canonical mode with echo (a shell prompt,
    /// `input()`, `read`).
    Line,
    /// A secret: echo is off (`getpass`, `sudo`, `ssh` passwords).
    Password,
    /// Keys one by one: canonical mode is off (full-screen programs,
    /// editors, REPLs with their own line editing).
    Raw,
    /// Its standard input pipe (no terminal).
    Pipe,
}

impl InputKind {
    /// The kind a terminal in `modes` expects.
    pub fn of_terminal(modes: crate::exec::TerminalModes) -> Self {
        if !modes.canonical {
            Self::Raw
        } else if !modes.echo {
            Self::Password
        } else {
            Self::Line
        }
    }

    /// The wire name: `line`, `password`, `raw` or `pipe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Password => "password",
            Self::Raw => "raw",
            Self::Pipe => "pipe",
        }
    }
}

impl ProcessInfo {
    /// Whether it is still running (output may still arrive).
    pub fn running(&self) -> bool {
        self.exit.is_none()
    }

    /// The exit code, once exited.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit.as_ref().map(|exit| exit.code)
    }
}

/// A consistent view of a process and its output.
///
/// The state is read together with the output, and a process counts as
/// exited only after all its output has been drained, so an exited snapshot
/// has the final output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSnapshot {
    /// The process.
    pub info: ProcessInfo,
    /// The formatted head/tail view of its output.
    pub output: String,
    /// Present when the output was cut in the middle.
    pub truncation: Option<Truncation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ids_round_trip_only_in_canonical_form() {
        let id = ProcessId::random();
        let text = id.to_string();
        assert_eq!(text.parse::<ProcessId>(), Ok(id));
        assert_eq!(text.len(), 36);
        let upper = "6F1C2E3A-9B4D-4C5E-8F60-7A1B2C3D4E5F";
        assert!(upper.parse::<ProcessId>().is_err());
        assert!(upper.to_lowercase().parse::<ProcessId>().is_ok());
        assert!(text.replace('-', "").parse::<ProcessId>().is_err());
        assert!("nope".parse::<ProcessId>().is_err());
        assert!("".parse::<ProcessId>().is_err());
    }
}
