//! Domain types of a managed process: its id, what a start asks for, and
//! what clients may read back.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::SystemTime;

use uuid::Uuid;

use crate::buffer::Truncation;

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
    /// Whether it is still running (output may still arrive).
    pub running: bool,
    /// Its exit code once exited: `-1` when a signal ended it or its status
    /// could not be determined.
    pub exit_code: Option<i32>,
    /// When it started (wall clock).
    pub started_at: SystemTime,
    /// When it exited (wall clock).
    pub exited_at: Option<SystemTime>,
    /// The chat that started it.
    pub chat_id: Option<Uuid>,
}

/// A consistent view of a process and its output.
///
/// The state is read before the output, and `running` turns false only after
/// all output has been drained, so `running == false` means the output is
/// final.
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
