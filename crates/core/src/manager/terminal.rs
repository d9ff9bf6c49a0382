//! Driving a process's input and terminal: text, named keys and end-of-file
//! (`send_input`), the window size (`resize`), and the rendered screen
//! (`screen`).

use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::process::Process;
use super::{Manager, NotFound, lock};
use crate::clock::ClockExt;
use crate::exec::TerminalSize;
use crate::process::{ProcessId, ProcessInfo};
use crate::terminal::{ScreenSnapshot, UnknownKey, encode_key};

/// What to send a process: `text` first, then `keys` in order, then, with
/// `eof`, end-of-file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// Bytes to type, as they are.
    pub text: Vec<u8>,
    /// Named keys, in tmux `send-keys` spelling (`Enter`, `C-c`, `Up`,
    /// `F1`, …); they need a terminal.
    pub keys: Vec<String>,
    /// End of input: the terminal's end-of-file character (usually Ctrl-D)
    /// on a terminal; closing the pipe on a standard input pipe.
    pub eof: bool,
}

/// Why input was not (fully) delivered.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No such process is visible to the requester.
    #[error("process not found")]
    NotFound,
    /// The process has exited.
    #[error("process is not running")]
    NotRunning,
    /// It has neither a terminal nor an open standard input pipe.
    #[error("standard input is closed")]
    Closed,
    /// Named keys were sent to a process without a terminal.
    #[error("named keys need a terminal")]
    KeysNeedTerminal,
    /// A key name is not one the terminal knows.
    #[error(transparent)]
    UnknownKey(#[from] UnknownKey),
    /// The process did not read within the timeout; `written` bytes went in.
    #[error("the process did not read its input in time ({written} bytes written)")]
    Timeout {
        /// Bytes written before giving up.
        written: usize,
    },
    /// Writing failed.
    #[error("writing input: {0}")]
    Io(io::Error),
}

/// Why a terminal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// No such process is visible to the requester.
    #[error("process not found")]
    NotFound,
    /// The process does not run on a terminal.
    #[error("process has no terminal")]
    NoTerminal,
    /// The process has exited (its terminal is gone).
    #[error("process is not running")]
    NotRunning,
    /// The terminal refused.
    #[error("terminal: {0}")]
    Io(io::Error),
}

impl From<NotFound> for TerminalError {
    fn from(NotFound: NotFound) -> Self {
        Self::NotFound
    }
}

impl Manager {
    /// Sends `input` to the process: to its terminal (keys encoded for the
    /// terminal's current modes, `eof` as its end-of-file character), or to
    /// its standard input pipe (`text`, then closing it on `eof`; keys are
    /// refused). Waits at most the stdin timeout for the process to read.
    /// Returns the bytes written.
    ///
    /// # Errors
    /// See [`InputError`]. Keys are checked before anything is written.
    pub async fn send_input(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        input: Input,
    ) -> Result<usize, InputError> {
        let process = self
            .inner
            .lookup(id, requester)
            .map_err(|NotFound| InputError::NotFound)?;
        let Some(terminal) = &process.terminal else {
            if !input.keys.is_empty() {
                return Err(InputError::KeysNeedTerminal);
            }
            return self.write_input(&process, &input.text, input.eof).await;
        };
        let modes = lock(&terminal.screen).key_modes();
        let mut bytes = input.text;
        for key in &input.keys {
            bytes.extend_from_slice(&encode_key(key, modes)?);
        }
        if input.eof {
            let eof = terminal.control.modes().map_or(0x04, |modes| modes.eof);
            bytes.push(eof);
        }
        self.write_input(&process, &bytes, false).await
    }

    /// Writes `data` to the process's input (its terminal or its pipe),
    /// then closes the pipe if `close`.
    pub(super) async fn write_input(
        &self,
        process: &Arc<Process>,
        data: &[u8],
        close: bool,
    ) -> Result<usize, InputError> {
        if !process.is_running() {
            return Err(InputError::NotRunning);
        }
        let mut stdin = process.stdin.lock().await;
        let writer = stdin.as_mut().ok_or(InputError::Closed)?;
        let mut written = 0;
        let deadline = self.inner.clock.sleep(self.inner.config.stdin_timeout);
        tokio::pin!(deadline);
        while written < data.len() {
            tokio::select! {
                result = writer.write(&data[written..]) => match result {
                    Ok(0) => return Err(InputError::Closed),
                    Ok(n) => written += n,
                    Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                        *stdin = None;
                        return Err(InputError::Closed);
                    }
                    Err(error) => return Err(InputError::Io(error)),
                },
                () = &mut deadline => return Err(InputError::Timeout { written }),
            }
        }
        if let Err(error) = writer.flush().await
            && error.kind() != io::ErrorKind::BrokenPipe
        {
            return Err(InputError::Io(error));
        }
        // Until it has read this and gone quiet again, it is not waiting
        // for more input (it may still sit in the `read` that will get it).
        process.note_input(self.inner.clock.instant());
        if close && let Some(mut writer) = stdin.take() {
            let _ = writer.shutdown().await;
        }
        Ok(written)
    }

    /// Sets the size of the process's terminal (the program gets
    /// `SIGWINCH`) and of its emulated screen.
    ///
    /// # Errors
    /// See [`TerminalError`].
    pub fn resize(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        size: TerminalSize,
    ) -> Result<ProcessInfo, TerminalError> {
        let process = self.inner.lookup(id, requester)?;
        let terminal = process.terminal.as_ref().ok_or(TerminalError::NoTerminal)?;
        if !process.is_running() {
            return Err(TerminalError::NotRunning);
        }
        // The screen first: output the program draws for the new size must
        // land on a screen of that size.
        lock(&terminal.screen).resize(size);
        *lock(&terminal.size) = size;
        terminal.control.resize(size).map_err(TerminalError::Io)?;
        Ok(self.inner.with_input_state(&process, process.info()))
    }

    /// What a person would see on the process's terminal now (its final
    /// screen once it exited), with up to `scrollback` earlier lines.
    ///
    /// # Errors
    /// When the process is not visible or has no terminal.
    pub fn screen(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        scrollback: usize,
    ) -> Result<(ScreenSnapshot, ProcessInfo), TerminalError> {
        let process = self.inner.lookup(id, requester)?;
        let terminal = process.terminal.as_ref().ok_or(TerminalError::NoTerminal)?;
        // The state first: an exited process's screen is then final.
        let info = self.inner.with_input_state(&process, process.info());
        let screen = lock(&terminal.screen).snapshot(scrollback);
        Ok((screen, info))
    }
}
