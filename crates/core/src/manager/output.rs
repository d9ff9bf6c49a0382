//! Output beyond the snapshot: reads by cursor, live feeds, waits for a
//! condition, search and line ranges over the full log, and writes to a
//! process's standard input.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use regex::bytes::Regex;

use tokio::sync::watch;
use uuid::Uuid;

use super::process::Process;
use super::{Manager, NotFound};
use crate::buffer::{incomplete_suffix_len, to_text};
use crate::clock::ClockExt;
use crate::log::{self, LineRange, SearchOptions, SearchResult};
use crate::process::{OutputSnapshot, ProcessId, ProcessInfo};

/// Why output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// No such process is visible to the requester.
    #[error("process not found")]
    NotFound,
    /// The manager keeps no full logs ([`ManagerConfig::logs`](super::ManagerConfig::logs) is
    /// `None`).
    #[error("full output logs are not enabled")]
    LogsDisabled,
    /// Logs are kept, but this process's log could not be created (the
    /// start logged why); only its head/tail view exists.
    #[error("no full output log was kept for this process (creating it failed)")]
    LogMissing,
    /// Reading the log failed.
    #[error("reading the output log: {0}")]
    Io(#[from] io::Error),
}

impl From<NotFound> for OutputError {
    fn from(NotFound: NotFound) -> Self {
        Self::NotFound
    }
}

/// A piece of a process's output, read by offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// The process, read before the output (so an exited process's chunk
    /// is final).
    pub info: ProcessInfo,
    /// The text (invalid UTF-8 bytes become U+FFFD; a character cut by the
    /// end of the chunk is left for the next read).
    pub text: String,
    /// The offset where `text` starts, after any gap.
    pub cursor: u64,
    /// The offset to read from next.
    pub next_cursor: u64,
    /// Bytes between the requested offset and `cursor` that are gone
    /// (dropped by a log cap).
    pub gap_bytes: u64,
    /// The process has exited and everything it wrote has been read.
    pub eof: bool,
}

/// What a wait waits for (besides exit and its timeout).
#[derive(Debug, Clone)]
pub enum Until {
    /// The process exits.
    Exit,
    /// Output beyond `after` (default: beyond what was written when the wait
    /// began).
    Output {
        /// The offset to wait past.
        after: Option<u64>,
    },
    /// A line of output from `from` on matches `pattern` (an unterminated
    /// last line counts too, so prompts can be matched).
    Match {
        /// The pattern.
        pattern: Regex,
        /// Where to start looking.
        from: u64,
    },
    /// No new output for `quiet` (counted from the start of the wait or the
    /// last output during it).
    Idle {
        /// How long.
        quiet: Duration,
    },
    /// The process waits for input: no output for `settle` (default: the
    /// manager's `input_settle`), and blocked reading its terminal or
    /// standard input, as the kernel shows.
    Input {
        /// How long it must have been quiet.
        settle: Option<Duration>,
    },
}

/// Why a wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// The process exited (and its output is final).
    Exited,
    /// New output arrived.
    Output,
    /// The pattern matched.
    Matched,
    /// The process stayed quiet for the requested time.
    Idle,
    /// The process waits for input.
    Input,
    /// The wait's timeout passed first.
    Timeout,
}

impl WaitResult {
    /// Every result, in declaration order (for API descriptions).
    pub const ALL: [Self; 6] = [
        Self::Exited,
        Self::Output,
        Self::Matched,
        Self::Idle,
        Self::Input,
        Self::Timeout,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exited => "exited",
            Self::Output => "output",
            Self::Matched => "matched",
            Self::Idle => "idle",
            Self::Input => "input",
            Self::Timeout => "timeout",
        }
    }
}

/// The answer of a wait: why it returned, and the process's output then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    /// Why the wait returned.
    pub result: WaitResult,
    /// The head/tail snapshot after the wait.
    pub snapshot: OutputSnapshot,
    /// With a read cursor: the output from it.
    pub chunk: Option<OutputChunk>,
}

/// How often a wait for input looks again at a quiet process that is not
/// (yet) blocked on input.
const INPUT_PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// Something a feed yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// New output.
    Output(OutputChunk),
    /// The process exited and everything was read; the feed is done.
    Exit(ProcessInfo),
}

/// Follows one process's output as it is written: each call to
/// [`OutputFeed::next`] waits for output past a cursor, reading it from the
/// log. A slow reader only falls behind on disk; it never slows the process
/// or other readers.
#[derive(Debug)]
pub struct OutputFeed {
    process: Arc<Process>,
    written: watch::Receiver<u64>,
    exited: watch::Receiver<bool>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl OutputFeed {
    /// Waits for output at or after `cursor` (at most `limit` bytes), or for
    /// the exit once everything was read.
    ///
    /// # Errors
    /// When the log cannot be read.
    pub async fn next(&mut self, cursor: u64, limit: usize) -> Result<FeedItem, OutputError> {
        loop {
            let exited = *self.exited.borrow_and_update();
            let total = *self.written.borrow_and_update();
            if total > cursor {
                let chunk = read_chunk(&self.process, cursor, limit).await?;
                if !chunk.text.is_empty() || chunk.gap_bytes > 0 || chunk.next_cursor > cursor {
                    return Ok(FeedItem::Output(chunk));
                }
            } else if exited {
                return Ok(FeedItem::Exit(self.process.info()));
            }
            tokio::select! {
                _ = self.written.changed() => {}
                _ = self.exited.changed() => {}
            }
        }
    }
}

/// What a write to standard input can run into.
#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    /// No such process is visible to the requester.
    #[error("process not found")]
    NotFound,
    /// The process has exited.
    #[error("process is not running")]
    NotRunning,
    /// The process was started without a standard input pipe, or it was
    /// closed.
    #[error("standard input is closed")]
    Closed,
    /// The process did not read within the timeout; `written` bytes went in.
    #[error("the process did not read its standard input in time ({written} bytes written)")]
    Timeout {
        /// Bytes written before giving up.
        written: usize,
    },
    /// Writing failed.
    #[error("writing standard input: {0}")]
    Io(io::Error),
}

impl Manager {
    /// Up to `limit` bytes of output from absolute offset `cursor`.
    ///
    /// # Errors
    /// When the process is not visible, or no log is kept.
    pub async fn read_output(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        cursor: u64,
        limit: usize,
    ) -> Result<OutputChunk, OutputError> {
        let process = self.inner.lookup(id, requester)?;
        self.require_log(&process)?;
        let mut chunk = read_chunk(&process, cursor, limit).await?;
        chunk.info = self.inner.with_input_state(&process, chunk.info);
        Ok(chunk)
    }

    /// Why `process` has no log, if it has none.
    fn require_log(&self, process: &Process) -> Result<(), OutputError> {
        match (&process.log, &self.inner.config.logs) {
            // Its directory could not be made with the first bytes (known
            // before the exit is published: the exit waits for the log).
            (Some(log), _) if log.creation_failed() => Err(OutputError::LogMissing),
            (Some(_), _) => Ok(()),
            (None, Some(_)) => Err(OutputError::LogMissing),
            (None, None) => Err(OutputError::LogsDisabled),
        }
    }

    /// A feed of the process's output (see [`OutputFeed`]).
    ///
    /// # Errors
    /// When the process is not visible, or no log is kept.
    pub fn output_feed(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
    ) -> Result<OutputFeed, OutputError> {
        let process = self.inner.lookup(id, requester)?;
        self.require_log(&process)?;
        Ok(OutputFeed {
            written: logged(&process),
            exited: process.watch_exited(),
            process,
        })
    }

    /// Waits until `until` happens, the process exits, or `timeout` passes
    /// (on this manager's clock), whichever is first. With `read`
    /// (`(cursor, limit)`), also returns the output from that cursor. A wait
    /// never affects the process.
    ///
    /// # Errors
    /// When the process is not visible, or a match wait or a read needs a
    /// log that is not kept.
    pub async fn wait_until(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        until: Until,
        timeout: Duration,
        read: Option<(u64, usize)>,
    ) -> Result<WaitOutcome, OutputError> {
        let process = self.inner.lookup(id, requester)?;
        if matches!(until, Until::Match { .. }) || read.is_some() {
            self.require_log(&process)?;
        }
        // The answer's `awaiting_input` uses the wait's own settle time, so
        // `until=input&idle_ms=N` never answers "input" next to "not
        // waiting".
        let settle = match &until {
            Until::Input {
                settle: Some(settle),
            } => *settle,
            _ => self.inner.config.input_settle,
        };
        let with_input_state =
            |info| process.with_input_state(info, settle, self.inner.clock.instant());
        let deadline = self.inner.clock.sleep(timeout);
        tokio::pin!(deadline);
        let result = tokio::select! {
            result = self.wait_for(&process, until) => result?,
            () = &mut deadline => WaitResult::Timeout,
        };
        let chunk = match read {
            Some((cursor, limit)) => {
                let mut chunk = read_chunk(&process, cursor, limit).await?;
                chunk.info = with_input_state(chunk.info);
                Some(chunk)
            }
            None => None,
        };
        let mut snapshot = process.snapshot();
        snapshot.info = with_input_state(snapshot.info);
        Ok(WaitOutcome {
            result,
            snapshot,
            chunk,
        })
    }

    async fn wait_for(
        &self,
        process: &Arc<Process>,
        until: Until,
    ) -> Result<WaitResult, OutputError> {
        // What readers can see: output waits and match scans must not wake
        // before the bytes are readable from the log.
        let mut written = logged(process);
        let mut exited = process.watch_exited();
        match until {
            Until::Exit => {
                process.wait_exited().await;
                Ok(WaitResult::Exited)
            }
            Until::Output { after } => {
                let after = after.unwrap_or(*written.borrow());
                loop {
                    if *written.borrow_and_update() > after {
                        return Ok(WaitResult::Output);
                    }
                    if *exited.borrow_and_update() {
                        return Ok(WaitResult::Exited);
                    }
                    tokio::select! {
                        _ = written.changed() => {}
                        _ = exited.changed() => {}
                    }
                }
            }
            Until::Idle { quiet } => {
                // Idleness is about the process, not the disk.
                let mut output = process.watch_written();
                loop {
                    if *exited.borrow_and_update() {
                        return Ok(WaitResult::Exited);
                    }
                    output.borrow_and_update();
                    tokio::select! {
                        _ = output.changed() => {}
                        _ = exited.changed() => {}
                        () = self.inner.clock.sleep(quiet) => return Ok(WaitResult::Idle),
                    }
                }
            }
            Until::Input { settle } => {
                let settle = settle.unwrap_or(self.inner.config.input_settle);
                let mut output = process.watch_written();
                loop {
                    if *exited.borrow_and_update() {
                        return Ok(WaitResult::Exited);
                    }
                    output.borrow_and_update();
                    let quiet = process.quiet_for(self.inner.clock.instant());
                    // The kernel says nothing when a process starts to
                    // read, so once quiet long enough, look every so often.
                    let next = if quiet >= settle {
                        if process
                            .awaiting_input(settle, self.inner.clock.instant())
                            .is_some()
                        {
                            return Ok(WaitResult::Input);
                        }
                        INPUT_PROBE_INTERVAL
                    } else {
                        settle - quiet
                    };
                    tokio::select! {
                        _ = output.changed() => {}
                        _ = exited.changed() => {}
                        () = self.inner.clock.sleep(next) => {}
                    }
                }
            }
            Until::Match { pattern, from } => {
                let mut scanner = LineScanner::new(from);
                loop {
                    let done = *exited.borrow_and_update();
                    let total = *written.borrow_and_update();
                    while scanner.at < total {
                        if scanner.advance(process, &pattern).await? {
                            return Ok(WaitResult::Matched);
                        }
                    }
                    if done {
                        return Ok(WaitResult::Exited);
                    }
                    tokio::select! {
                        _ = written.changed() => {}
                        _ = exited.changed() => {}
                    }
                }
            }
        }
    }

    /// Searches the process's whole log (see [`log::search`]).
    ///
    /// # Errors
    /// When the process is not visible, no log is kept, or reading fails.
    pub async fn search(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        options: SearchOptions,
    ) -> Result<SearchResult, OutputError> {
        let log = self.log_of(id, requester)?;
        blocking(move || log::search(&log, &options)).await
    }

    /// Delivers the process's log from offset `from` to its end (as
    /// committed when the scan begins), in one pass on a blocking thread
    /// (see [`log::scan`]); returns `visit` and that end offset. For views
    /// computed over the whole output, such as the agent view.
    ///
    /// # Errors
    /// When the process is not visible, no log is kept, or reading fails.
    pub async fn scan_output<V>(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        from: u64,
        mut visit: V,
    ) -> Result<(V, u64), OutputError>
    where
        V: FnMut(log::ScanEvent<'_>) + Send + 'static,
    {
        let log = self.log_of(id, requester)?;
        blocking(move || {
            let end = log::scan(&log, from, &mut visit)?;
            Ok((visit, end))
        })
        .await
    }

    /// Lines `start..=end` of the process's log (see [`log::lines`]).
    ///
    /// # Errors
    /// When the process is not visible, no log is kept, or reading fails.
    pub async fn lines(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        start: u64,
        end: u64,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<LineRange, OutputError> {
        let log = self.log_of(id, requester)?;
        blocking(move || log::lines(&log, start, end, max_lines, max_bytes)).await
    }

    fn log_of(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
    ) -> Result<Arc<log::ProcessLog>, OutputError> {
        let process = self.inner.lookup(id, requester)?;
        self.require_log(&process)?;
        process.log.clone().ok_or(OutputError::LogsDisabled)
    }

    /// Writes `data` to the process's standard input, then closes it if
    /// `eof`. Waits at most the configured stdin timeout for the process to
    /// read. Returns the bytes written.
    ///
    /// # Errors
    /// See [`StdinError`].
    pub async fn write_stdin(
        &self,
        id: ProcessId,
        requester: Option<Uuid>,
        data: &[u8],
        eof: bool,
    ) -> Result<usize, StdinError> {
        let process = self
            .inner
            .lookup(id, requester)
            .map_err(|NotFound| StdinError::NotFound)?;
        let written = if process.terminal.is_some() {
            // On a terminal, end of input is its end-of-file character.
            let input = super::terminal::Input {
                text: data.to_vec(),
                keys: Vec::new(),
                eof,
            };
            self.send_input(id, requester, input).await
        } else {
            self.write_input(&process, data, eof).await
        };
        written.map_err(|error| match error {
            super::terminal::InputError::NotFound => StdinError::NotFound,
            super::terminal::InputError::NotRunning => StdinError::NotRunning,
            super::terminal::InputError::Timeout { written } => StdinError::Timeout { written },
            super::terminal::InputError::Io(error) => StdinError::Io(error),
            super::terminal::InputError::Closed
            | super::terminal::InputError::KeysNeedTerminal
            | super::terminal::InputError::UnknownKey(_) => StdinError::Closed,
        })
    }
}

/// The total that readers can see: committed to the log, when there is one.
fn logged(process: &Process) -> watch::Receiver<u64> {
    match &process.log {
        Some(log) => log.watch(),
        None => process.watch_written(),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, OutputError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(OutputError::Io),
        Err(join) => Err(OutputError::Io(io::Error::other(join))),
    }
}

/// Reads a chunk by cursor, keeping characters whole unless the output is
/// final.
async fn read_chunk(
    process: &Arc<Process>,
    cursor: u64,
    limit: usize,
) -> Result<OutputChunk, OutputError> {
    let log = process.log.clone().ok_or(OutputError::LogsDisabled)?;
    // State first: if it says exited, the log is already complete.
    let info = process.info();
    let chunk = blocking(move || log.read(cursor, limit)).await?;
    let at_end = chunk.end() == chunk.total;
    let mut bytes = chunk.bytes;
    if !(info.exit.is_some() && at_end) {
        let pending = incomplete_suffix_len(&bytes);
        // Never hold back everything: a limit smaller than one character
        // must still make progress.
        if pending < bytes.len() {
            bytes.truncate(bytes.len() - pending);
        }
    }
    let next_cursor = chunk.start + bytes.len() as u64;
    Ok(OutputChunk {
        eof: info.exit.is_some() && next_cursor == chunk.total,
        info,
        text: to_text(&bytes),
        cursor: chunk.start,
        next_cursor,
        gap_bytes: chunk.gap,
    })
}

/// Scans a log line by line from an offset, for match waits.
struct LineScanner {
    /// The next offset to read.
    at: u64,
    /// The start of a line not yet terminated (capped).
    carry: Vec<u8>,
}

impl LineScanner {
    fn new(from: u64) -> Self {
        Self {
            at: from,
            carry: Vec::new(),
        }
    }

    /// Reads the next piece and reports whether a line matched.
    async fn advance(
        &mut self,
        process: &Arc<Process>,
        pattern: &Regex,
    ) -> Result<bool, OutputError> {
        let Some(log) = process.log.clone() else {
            return Err(OutputError::LogsDisabled);
        };
        let at = self.at;
        let chunk = blocking(move || log.read(at, 1 << 20)).await?;
        if chunk.gap > 0 {
            self.carry.clear();
        }
        self.at = chunk.end().max(self.at + chunk.gap);
        let mut rest = chunk.bytes.as_slice();
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            append_capped(&mut self.carry, &rest[..newline]);
            if pattern.is_match(&self.carry) {
                return Ok(true);
            }
            self.carry.clear();
            rest = &rest[newline + 1..];
        }
        append_capped(&mut self.carry, rest);
        // An unterminated line can match too (a prompt waiting for input).
        Ok(!self.carry.is_empty() && pattern.is_match(&self.carry))
    }
}

fn append_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = log::MAX_SCAN_LINE.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
