//! Full output logs on disk: every byte a process writes, in segment files,
//! addressable by absolute offset, with bounded disk use.
//!
//! Each process gets a directory of segment files named after the offset
//! they start at. A per-process cap keeps only the newest bytes (whole
//! segments are dropped from the front, so at least three quarters of the
//! cap stays readable); a total cap across processes forgets the logs of
//! the processes that exited first. What was dropped is counted, so a
//! reader learns exactly how many bytes it missed (a "gap").
//!
//! Writes are plain appends to the page cache (no fsync): the log exists to
//! be read back while agentproc runs, and is deleted when its process is
//! forgotten.
//!
//! The manager's only other file access is checking the default working
//! directory; this module is where core does real file I/O, because the log
//! is the manager's own data, not configuration.

mod search;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use search::{
    LineRange, MAX_SCAN_LINE, MAX_SHOWN_LINE, Match, SearchOptions, SearchResult, lines, search,
};

/// Default for [`LogConfig::max_bytes_per_process`].
pub const DEFAULT_MAX_BYTES_PER_PROCESS: u64 = 64 << 20;
/// Default for [`LogConfig::max_total_bytes`].
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1 << 30;
/// How many segments a full per-process log is split into.
const SEGMENTS: u64 = 4;

/// Where logs live and how much they may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The directory holding one subdirectory per process.
    pub dir: PathBuf,
    /// The most bytes kept per process; older bytes are dropped.
    pub max_bytes_per_process: u64,
    /// The most bytes kept across all processes; the logs of processes that
    /// exited first are forgotten.
    pub max_total_bytes: u64,
}

impl LogConfig {
    /// Logs in `dir` with the default caps.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes_per_process: DEFAULT_MAX_BYTES_PER_PROCESS,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
        }
    }
}

/// A chunk read back from a log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogChunk {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The offset of the first byte (after any gap).
    pub start: u64,
    /// Bytes between the requested offset and `start` that are gone.
    pub gap: u64,
    /// Every byte written so far (the offset just past the last one).
    pub total: u64,
}

impl LogChunk {
    /// The offset just past these bytes.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// Shared accounting for all logs: the total cap and which logs to forget
/// first.
#[derive(Debug)]
pub struct LogStore {
    config: LogConfig,
    state: Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    /// Bytes on disk across all logs.
    total: u64,
    /// Logs of exited processes, the first to exit first.
    exited: VecDeque<Arc<ProcessLog>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LogStore {
    /// A store writing under `config.dir`, which is created, and emptied of
    /// logs left by an earlier run.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(config: LogConfig) -> io::Result<Arc<Self>> {
        fs::create_dir_all(&config.dir)?;
        for entry in fs::read_dir(&config.dir)?.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(Arc::new(Self {
            config,
            state: Mutex::new(StoreState::default()),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Bytes on disk across all logs.
    pub fn total_bytes(&self) -> u64 {
        lock(&self.state).total
    }

    /// A new, empty log for the process called `name`.
    ///
    /// # Errors
    /// When its directory cannot be created.
    pub fn create(self: &Arc<Self>, name: &str) -> io::Result<Arc<ProcessLog>> {
        let dir = self.config.dir.join(name);
        fs::create_dir_all(&dir)?;
        let segment_bytes = (self.config.max_bytes_per_process / SEGMENTS).max(1);
        Ok(Arc::new(ProcessLog {
            store: Arc::clone(self),
            dir,
            segment_bytes,
            state: Mutex::new(LogState::default()),
        }))
    }

    /// Marks `log` as belonging to an exited process: it may now be
    /// forgotten to keep the total under the cap.
    pub fn exited(&self, log: &Arc<ProcessLog>) {
        lock(&self.state).exited.push_back(Arc::clone(log));
        self.enforce_total(None);
    }

    /// Accounts `bytes` written (negative when dropped) and forgets the
    /// logs of the first-exited processes while over the total cap.
    fn account(&self, added: u64, removed: u64, writer: Option<&ProcessLog>) {
        {
            let mut state = lock(&self.state);
            state.total = state.total.saturating_add(added).saturating_sub(removed);
        }
        if added > 0 {
            self.enforce_total(writer);
        }
    }

    fn enforce_total(&self, writer: Option<&ProcessLog>) {
        loop {
            let victim = {
                let mut state = lock(&self.state);
                if state.total <= self.config.max_total_bytes {
                    return;
                }
                state.exited.pop_front()
            };
            match victim {
                Some(log) => log.evict(),
                // Only running processes: the writer gives up its oldest
                // segment instead.
                None => match writer {
                    Some(writer) if writer.drop_oldest_segment() => {}
                    _ => return,
                },
            }
        }
    }
}

/// One process's log.
#[derive(Debug)]
pub struct ProcessLog {
    store: Arc<LogStore>,
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    segments: VecDeque<Segment>,
    /// Append handle of the last segment.
    current: Option<File>,
    /// Every byte written so far.
    total: u64,
    /// Newlines in the bytes dropped from the front.
    dropped_newlines: u64,
    /// The whole log was forgotten to keep the total under the cap.
    evicted: bool,
    /// Writing failed; the log stays readable up to here.
    failed: bool,
    /// The last byte written was a newline.
    ends_with_newline: bool,
    /// The first kept byte is in the middle of a line (its start was
    /// dropped).
    starts_mid_line: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    start: u64,
    len: u64,
    newlines: u64,
    ends_with_newline: bool,
    path: PathBuf,
}

/// What a reader needs to read a range without holding the lock.
#[derive(Debug, Clone)]
pub(crate) struct LogView {
    segments: Vec<Segment>,
    /// The first readable offset.
    pub(crate) first: u64,
    /// Every byte written so far.
    pub(crate) total: u64,
    /// The line number (1-based) of the line `first` is in.
    pub(crate) first_line: u64,
    /// The last byte written was a newline.
    pub(crate) ends_with_newline: bool,
    /// The first readable byte is in the middle of line `first_line`.
    pub(crate) starts_mid_line: bool,
}

impl ProcessLog {
    /// Appends `bytes`. A write error is logged once; the log then stops
    /// growing (the in-memory view is unaffected).
    pub fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut added = 0;
        let mut removed = 0;
        {
            let mut state = lock(&self.state);
            state.ends_with_newline = bytes.last() == Some(&b'\n');
            if state.evicted || state.failed {
                state.total += bytes.len() as u64;
                return;
            }
            let mut rest = bytes;
            while !rest.is_empty() {
                let room = match state.segments.back() {
                    Some(last) if last.len < self.segment_bytes => self.segment_bytes - last.len,
                    _ => {
                        // Start a new segment, dropping the oldest if full.
                        if state.segments.len() as u64 >= SEGMENTS {
                            removed += self.drop_front(&mut state);
                        }
                        if let Err(error) = self.start_segment(&mut state) {
                            tracing::warn!(dir = %self.dir.display(), %error, "cannot write the output log");
                            state.failed = true;
                            state.total += rest.len() as u64;
                            break;
                        }
                        self.segment_bytes
                    }
                };
                let take = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                let (now, later) = rest.split_at(take);
                let written = state.current.as_mut().map(|file| file.write_all(now));
                if let Some(Err(error)) = written {
                    tracing::warn!(dir = %self.dir.display(), %error, "cannot write the output log");
                    state.failed = true;
                    state.total += rest.len() as u64;
                    break;
                }
                let newlines = count_newlines(now);
                if let Some(last) = state.segments.back_mut() {
                    last.len += now.len() as u64;
                    last.newlines += newlines;
                    last.ends_with_newline = now.last() == Some(&b'\n');
                }
                state.total += now.len() as u64;
                added += now.len() as u64;
                rest = later;
            }
        }
        self.store.account(added, removed, Some(self));
    }

    fn start_segment(&self, state: &mut LogState) -> io::Result<()> {
        let path = self.dir.join(format!("{:016x}.log", state.total));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        state.current = Some(file);
        state.segments.push_back(Segment {
            start: state.total,
            len: 0,
            newlines: 0,
            ends_with_newline: false,
            path,
        });
        Ok(())
    }

    /// Drops the oldest segment; returns its size.
    fn drop_front(&self, state: &mut LogState) -> u64 {
        let Some(oldest) = state.segments.pop_front() else {
            return 0;
        };
        if state.segments.is_empty() {
            state.current = None;
        }
        let _ = fs::remove_file(&oldest.path);
        state.dropped_newlines += oldest.newlines;
        state.starts_mid_line = !oldest.ends_with_newline;
        oldest.len
    }

    /// Gives up the oldest segment to keep the total cap (only when another
    /// segment remains to write into). Returns whether it did.
    fn drop_oldest_segment(&self) -> bool {
        let removed = {
            let mut state = lock(&self.state);
            if state.segments.len() < 2 {
                return false;
            }
            self.drop_front(&mut state)
        };
        self.store.account(0, removed, None);
        true
    }

    /// Forgets the whole log (total cap).
    fn evict(&self) {
        let removed = {
            let mut state = lock(&self.state);
            state.evicted = true;
            state.current = None;
            let removed = state.segments.iter().map(|s| s.len).sum();
            state.dropped_newlines += state.segments.iter().map(|s| s.newlines).sum::<u64>();
            state.segments.clear();
            removed
        };
        let _ = fs::remove_dir_all(&self.dir);
        self.store.account(0, removed, None);
    }

    /// Deletes the log (its process was forgotten).
    pub fn remove(&self) {
        let removed = {
            let mut state = lock(&self.state);
            state.current = None;
            let removed = state.segments.iter().map(|s| s.len).sum();
            state.segments.clear();
            state.evicted = true;
            removed
        };
        let _ = fs::remove_dir_all(&self.dir);
        {
            let mut store = lock(&self.store.state);
            store
                .exited
                .retain(|log| !std::ptr::eq(Arc::as_ptr(log), self));
        }
        self.store.account(0, removed, None);
    }

    /// Every byte written so far.
    pub fn total(&self) -> u64 {
        lock(&self.state).total
    }

    pub(crate) fn view(&self) -> LogView {
        let state = lock(&self.state);
        let segments: Vec<Segment> = state.segments.iter().cloned().collect();
        let first = segments.first().map_or(state.total, |s| s.start);
        LogView {
            segments,
            first,
            total: state.total,
            first_line: state.dropped_newlines + 1,
            ends_with_newline: state.ends_with_newline,
            starts_mid_line: state.starts_mid_line && !state.segments.is_empty(),
        }
    }

    /// Reads up to `limit` bytes from absolute offset `from`. Bytes before
    /// the first readable offset are reported as a gap.
    ///
    /// # Errors
    /// When a segment cannot be read.
    pub fn read(&self, from: u64, limit: usize) -> io::Result<LogChunk> {
        self.view().read(from, limit)
    }

    /// The directory of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LogView {
    /// Reads up to `limit` bytes from `from`; see [`ProcessLog::read`].
    pub(crate) fn read(&self, from: u64, limit: usize) -> io::Result<LogChunk> {
        let start = from.clamp(self.first, self.total);
        let gap = start.saturating_sub(from.min(self.total));
        let end = start.saturating_add(limit as u64).min(self.total);
        let mut bytes = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        self.read_into(start, end, &mut bytes)?;
        // A segment deleted since the view was taken reads short: whatever
        // is missing at the front is a gap too.
        Ok(LogChunk {
            start: end - bytes.len() as u64,
            gap: gap + (end - start - bytes.len() as u64),
            total: self.total,
            bytes,
        })
    }

    fn read_into(&self, start: u64, end: u64, out: &mut Vec<u8>) -> io::Result<()> {
        for segment in &self.segments {
            let seg_end = segment.start + segment.len;
            if seg_end <= start || segment.start >= end {
                continue;
            }
            let from = start.max(segment.start);
            let to = end.min(seg_end);
            match File::open(&segment.path) {
                Ok(mut file) => {
                    file.seek(SeekFrom::Start(from - segment.start))?;
                    file.take(to - from).read_to_end(out)?;
                }
                // Dropped since the view was taken. Segments are dropped
                // from the front only, so nothing read before it remains
                // valid either: what is missing becomes part of the gap.
                Err(error) if error.kind() == io::ErrorKind::NotFound => out.clear(),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Segments in order, for streaming readers.
    pub(crate) fn segments(&self) -> impl Iterator<Item = (u64, u64, u64, &Path)> {
        self.segments
            .iter()
            .map(|s| (s.start, s.len, s.newlines, s.path.as_path()))
    }
}

/// Compiles a pattern for search and match waits, with the regex engine's
/// compiled size bounded (so a pathological pattern is refused instead of
/// eating memory). Matching is linear in the input.
///
/// # Errors
/// When the pattern is invalid or too big; the error says why.
pub fn compile_pattern(
    pattern: &str,
    ignore_case: bool,
) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .size_limit(1 << 20)
        .dfa_size_limit(4 << 20)
        .build()
}

/// Number of `\n` bytes in `bytes`.
pub fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|byte| **byte == b'\n').count() as u64
}

#[cfg(test)]
mod tests;
