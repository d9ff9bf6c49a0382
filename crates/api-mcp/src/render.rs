//! Text for the model: a status line, then the output; and the messages of
//! failures the model should act on. Written once for every backend.

use std::fmt::Write as _;
use std::time::Duration;

use agentproc_core::manager::WaitResult;

use crate::backend::{BackendError, ProcessState};

/// How long something took, the way a person says it: `12 ms`, `1.4 s`,
/// `2 min 5 s`.
pub(crate) fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        let secs = duration.as_secs();
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// The first line of an answer about a process: `exit 2 (exited) after
/// 1.4 s · id …` or `running (pid 4242) · id …`.
pub(crate) fn status_line(state: &ProcessState) -> String {
    let mut line = match &state.exit {
        Some(exit) => {
            let mut line = format!("exit {}", exit.code);
            let why: Vec<&str> = exit
                .reason
                .map(|reason| reason.as_str())
                .into_iter()
                .chain(exit.signal.as_deref())
                .collect();
            if !why.is_empty() {
                let _ = write!(line, " ({})", why.join(", "));
            }
            if let Some(duration) = exit.duration {
                let _ = write!(line, " after {}", human(duration));
            }
            line
        }
        None => {
            let mut line = "running".to_owned();
            if let Some(pid) = state.pid {
                let _ = write!(line, " (pid {pid})");
            }
            if let Some(kind) = state.awaiting_input {
                let _ = write!(line, ", waiting for input ({})", kind.as_str());
            }
            line
        }
    };
    let _ = write!(line, " · id {}", state.id);
    line
}

/// What a wait's result means, when it is worth a line.
pub(crate) fn wait_line(result: WaitResult, waited: Duration) -> Option<String> {
    match result {
        WaitResult::Timeout => Some(format!(
            "The wait ended after {} without its condition (wait_ms); the process was not stopped.",
            human(waited)
        )),
        WaitResult::Matched => Some("The pattern matched.".to_owned()),
        WaitResult::Idle => Some("The output went quiet.".to_owned()),
        // The status line and the hint to type say it.
        WaitResult::Input | WaitResult::Exited | WaitResult::Output => None,
    }
}

/// The lines after the status line of a process that still runs.
pub(crate) fn follow_hint(state: &ProcessState, id: &str, from_start: bool) -> String {
    if state.awaiting_input.is_some() {
        return format!(
            "It waits for input: type with process_input {{\"id\": \"{id}\", \"text\": \"…\"}} (on a terminal add \"keys\": [\"Enter\"]; on a pipe end the text with \\n)."
        );
    }
    if from_start {
        format!(
            "It keeps running. Follow it with process_output {{\"id\": \"{id}\"}}: add \"until\": \"exit\" to wait for the exit, \"until\": \"match\" with a \"pattern\" to wait for a line such as a server's ready message, or \"until\": \"input\" if it may prompt."
        )
    } else {
        format!("It keeps running; process_output {{\"id\": \"{id}\"}} continues from here.")
    }
}

/// The output part of an answer.
pub(crate) fn output_block(text: &str, from_start: bool) -> String {
    if text.is_empty() {
        if from_start {
            "(no output yet)".to_owned()
        } else {
            "(no new output)".to_owned()
        }
    } else {
        text.to_owned()
    }
}

/// What the model reads when a backend refused or failed.
pub(crate) fn error_message(error: &BackendError) -> String {
    match error {
        BackendError::NotFound { id } => format!(
            "No process with id \"{id}\" is known here: it was never started, was forgotten a few minutes after it exited, or belongs to another chat. process_list shows the processes that are known."
        ),
        BackendError::NotRunning { id } => format!(
            "Process {id} is not running anymore; process_output {{\"id\": \"{id}\", \"cursor\": 0}} shows its output and how it ended."
        ),
        BackendError::NoTerminal { id } => format!(
            "Process {id} has no terminal, so it has no screen: its output is in process_output. Start a command with \"tty\": true to run it on a terminal."
        ),
        BackendError::TakesNoInput { id } => format!(
            "Process {id} takes no input: it was started without \"stdin\": true or \"tty\": true, or its input was closed (eof). Start the command again with \"stdin\": true (or \"tty\": true for programs that need a terminal)."
        ),
        BackendError::KeysNeedTerminal { id } => format!(
            "Named keys need a terminal, and process {id} was started without \"tty\": send \"text\" instead (end it with \\n to submit a line), or start the command with \"tty\": true. Nothing was sent."
        ),
        BackendError::UnknownKey { key } => format!(
            "Unknown key \"{key}\": use tmux names such as Enter, Tab, Escape, BSpace, Up, Down, C-c, C-d, M-x, F1, PageDown, or a single character. Nothing was sent."
        ),
        BackendError::InputTimeout { id, written } => format!(
            "Process {id} did not read its input in time ({written} bytes were written): it may be busy or not reading. Check it with process_output {{\"id\": \"{id}\"}}."
        ),
        BackendError::Refused { message } | BackendError::Failed { message } => message.clone(),
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…`
/// when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ExitState;
    use agentproc_core::{ExitReason, InputKind, ProcessId};

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(human(Duration::from_millis(12)), "12 ms");
        assert_eq!(human(Duration::from_millis(1400)), "1.4 s");
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn status_lines_say_how_it_stands() {
        let id = ProcessId::random();
        let exited = ProcessState {
            id,
            pid: Some(7),
            exit: Some(ExitState {
                code: 2,
                reason: Some(ExitReason::Exited),
                signal: None,
                duration: Some(Duration::from_millis(1400)),
                error: None,
            }),
            awaiting_input: None,
        };
        assert_eq!(
            status_line(&exited),
            format!("exit 2 (exited) after 1.4 s · id {id}")
        );
        let killed = ProcessState {
            exit: Some(ExitState {
                code: -1,
                reason: Some(ExitReason::Killed),
                signal: Some("SIGTERM".to_owned()),
                duration: None,
                error: None,
            }),
            ..exited.clone()
        };
        assert_eq!(
            status_line(&killed),
            format!("exit -1 (killed, SIGTERM) · id {id}")
        );
        let waiting = ProcessState {
            exit: None,
            awaiting_input: Some(InputKind::Line),
            ..exited
        };
        assert_eq!(
            status_line(&waiting),
            format!("running (pid 7), waiting for input (line) · id {id}")
        );
    }

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("héllo", 2), "h…");
        assert_eq!(clip("hello", 5), "hello");
    }
}
