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
//! Writing never holds up the reading of a process's output: the read loop
//! only copies each chunk into a queue, and one writer thread per store
//! appends to the files. If the disk falls behind by more than
//! [`MAX_PENDING_BYTES`], further chunks are not logged (a hole, reported as
//! a gap like any other) rather than slowing the process down; the
//! in-memory head/tail view is unaffected. Writes go to the page cache (no
//! fsync): the log exists to be read back while agentproc runs, and is
//! deleted when its process is forgotten.
//!
//! Besides checking the default working directory, this module is the only
//! file I/O in core: the log is the manager's own data, not configuration.

mod scan;
mod search;

use std::collections::VecDeque;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use tokio::sync::watch;

pub use scan::{ScanEvent, scan};
pub use search::{
    LineRange, MAX_RESULT_BYTES, MAX_SCAN_LINE, MAX_SHOWN_LINE, Match, SearchOptions, SearchResult,
    lines, search,
};

/// Default for [`LogConfig::max_bytes_per_process`].
pub const DEFAULT_MAX_BYTES_PER_PROCESS: u64 = 64 << 20;
/// Default for [`LogConfig::max_total_bytes`].
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Bytes queued for the writer thread, across all logs, beyond which new
/// output is not logged (a hole) rather than slowing processes down.
pub const MAX_PENDING_BYTES: u64 = 64 << 20;
/// How many segments a full per-process log is split into.
const SEGMENTS: u64 = 4;
/// The lock file in the log directory: one store per directory.
pub const LOCK_FILE: &str = ".agentproc-output.lock";

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

/// A chunk read back from a log. It never spans a gap: missing bytes are
/// always at its start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogChunk {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The offset of the first byte (after any gap).
    pub start: u64,
    /// Bytes between the requested offset and `start` that are gone.
    pub gap: u64,
    /// Every byte logged so far (the offset just past the last one).
    pub total: u64,
}

impl LogChunk {
    /// The offset just past these bytes.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared accounting for all logs (the total cap, which logs to forget
/// first) and the writer thread.
#[derive(Debug)]
pub struct LogStore {
    config: LogConfig,
    /// Held (locked) for the store's life, so that a second store on the
    /// same directory refuses to start instead of deleting live logs.
    _lock: File,
    state: Mutex<StoreState>,
    queue: Mutex<mpsc::Sender<Job>>,
    /// Bytes queued and not yet written.
    pending: AtomicU64,
}

#[derive(Debug, Default)]
struct StoreState {
    /// Bytes on disk across all logs.
    total: u64,
    /// Logs of exited processes, the first to exit first.
    exited: VecDeque<Arc<ProcessLog>>,
}

/// Work for the writer thread, in order: every disk write and deletion
/// happens there, never on the caller's (async) thread.
#[derive(Debug)]
enum Job {
    Write(Item),
    /// A forgotten log's directory.
    Delete(PathBuf),
    /// Signalled once every earlier job is done.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// A piece of one log.
#[derive(Debug)]
struct Item {
    log: Arc<ProcessLog>,
    offset: u64,
    newlines: u64,
    ends_with_newline: bool,
    /// `None`: the bytes were not queued (the writer was too far behind);
    /// `len` bytes are a hole.
    bytes: Option<Vec<u8>>,
    len: u64,
}

impl LogStore {
    /// A store writing under `config.dir`, which is created (mode 0700)
    /// and emptied of logs left by an earlier run, with its writer thread.
    ///
    /// Logs hold whatever commands print, secrets included, so each
    /// process's directory is created 0700 and its files 0600 wherever the
    /// directory is; an existing `config.dir` keeps its own mode. The store
    /// locks the directory (a lock file in it) for its life.
    ///
    /// # Errors
    /// When the directory cannot be created or written (a read-only
    /// filesystem, say), when another store holds it
    /// ([`io::ErrorKind::ResourceBusy`]), or when the thread cannot start.
    pub fn open(config: LogConfig) -> io::Result<Arc<Self>> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.dir)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(config.dir.join(LOCK_FILE))?;
        if let Err(error) = lock.try_lock() {
            return Err(match error {
                fs::TryLockError::WouldBlock => io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    "another agentproc is already using this output directory",
                ),
                fs::TryLockError::Error(error) => error,
            });
        }
        for entry in fs::read_dir(&config.dir)?.flatten() {
            // Only what looks like a log of ours: a directory holding
            // nothing but segment files. A misconfigured directory keeps
            // everything else.
            if entry.file_type().is_ok_and(|kind| kind.is_dir())
                && holds_only_segments(&entry.path())
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let (queue, work) = mpsc::channel::<Job>();
        let store = Arc::new(Self {
            config,
            _lock: lock,
            state: Mutex::new(StoreState::default()),
            queue: Mutex::new(queue),
            pending: AtomicU64::new(0),
        });
        // The thread ends when every sender is gone, i.e. with the store.
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("agentproc-log-writer".to_owned())
            .spawn(move || {
                for job in work {
                    let item = match job {
                        Job::Write(item) => item,
                        Job::Delete(dir) => {
                            let _ = fs::remove_dir_all(&dir);
                            continue;
                        }
                        Job::Barrier(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let queued = item.bytes.as_ref().map_or(0, |bytes| bytes.len() as u64);
                    let log = Arc::clone(&item.log);
                    log.commit(item);
                    match weak.upgrade() {
                        Some(store) => {
                            store.pending.fetch_sub(queued, Ordering::AcqRel);
                        }
                        None => return,
                    }
                }
            })?;
        Ok(store)
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
    /// Its directory (mode 0700) is made by the writer thread with the
    /// first bytes, so a process that prints nothing costs no directory
    /// (`mkdir` and the later removal are most of a silent process's log
    /// cost) and starting one touches no disk. A directory that cannot be
    /// made then is a write failure like any other: the log stays readable
    /// up to there, and the head/tail view keeps everything.
    ///
    /// # Errors
    /// None today; the signature keeps room for stores that must prepare
    /// something up front.
    pub fn create(self: &Arc<Self>, name: &str) -> io::Result<Arc<ProcessLog>> {
        let dir = self.config.dir.join(name);
        let segment_bytes = (self.config.max_bytes_per_process / SEGMENTS).max(1);
        Ok(Arc::new(ProcessLog {
            store: Arc::downgrade(self),
            dir,
            segment_bytes,
            offered: AtomicU64::new(0),
            state: Mutex::new(LogState::default()),
            committed: watch::Sender::new(0),
        }))
    }

    /// Marks `log` as belonging to an exited process: it may now be
    /// forgotten to keep the total under the cap.
    pub fn exited(&self, log: &Arc<ProcessLog>) {
        // Nothing more will be appended: an exited process holds no file
        // descriptor.
        lock(&log.state).current = None;
        lock(&self.state).exited.push_back(Arc::clone(log));
        self.enforce_total(None);
    }

    /// Waits until the writer thread has done everything queued so far
    /// (writes and deletions).
    pub async fn settled(&self) {
        let (done, settled) = tokio::sync::oneshot::channel();
        if lock(&self.queue).send(Job::Barrier(done)).is_ok() {
            let _ = settled.await;
        }
    }

    /// Queues the deletion of a forgotten log's directory.
    fn delete(&self, dir: &Path) {
        if lock(&self.queue)
            .send(Job::Delete(dir.to_path_buf()))
            .is_err()
        {
            let _ = fs::remove_dir_all(dir);
        }
    }

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
    store: std::sync::Weak<LogStore>,
    dir: PathBuf,
    segment_bytes: u64,
    /// Bytes handed to [`ProcessLog::append`] so far (the reader's side).
    offered: AtomicU64,
    /// The writer's side.
    state: Mutex<LogState>,
    /// Bytes logged (or known lost) so far: readers wait on it.
    committed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct LogState {
    segments: VecDeque<Segment>,
    /// Append handle of the last segment.
    current: Option<File>,
    /// Every byte committed so far (written, dropped or lost).
    total: u64,
    /// Newlines in everything committed so far.
    newlines: u64,
    /// The last committed byte was a newline.
    ends_with_newline: bool,
    /// The whole log was forgotten (total cap, or its process was).
    evicted: bool,
    /// Writing failed; the log stays readable up to here.
    failed: bool,
    /// The log's directory exists (made with the first segment).
    dir_made: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) start: u64,
    pub(crate) len: u64,
    pub(crate) newlines: u64,
    /// Newlines before `start` (so line numbers stay absolute across gaps).
    pub(crate) lines_before: u64,
    /// The byte before `start` was not a newline: the first line is a
    /// fragment.
    pub(crate) starts_mid_line: bool,
    ends_with_newline: bool,
    pub(crate) path: PathBuf,
}

impl Segment {
    pub(crate) fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// What a reader needs to read a range without holding the lock.
#[derive(Debug, Clone)]
pub(crate) struct LogView {
    segments: Vec<Segment>,
    /// Every byte committed so far.
    pub(crate) total: u64,
    /// Newlines in everything committed so far.
    pub(crate) newlines: u64,
    /// The last committed byte was a newline.
    pub(crate) ends_with_newline: bool,
}

impl ProcessLog {
    /// Queues `bytes` for the writer thread. Never blocks: if the writer is
    /// too far behind, the bytes become a hole in the log.
    pub fn append(self: &Arc<Self>, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len() as u64;
        let offset = self.offered.fetch_add(len, Ordering::AcqRel);
        let Some(store) = self.store.upgrade() else {
            return;
        };
        let newlines = count_newlines(bytes);
        let ends_with_newline = bytes.last() == Some(&b'\n');
        let queued = store.pending.fetch_add(len, Ordering::AcqRel) + len <= MAX_PENDING_BYTES;
        let payload = if queued {
            Some(bytes.to_vec())
        } else {
            store.pending.fetch_sub(len, Ordering::AcqRel);
            None
        };
        let item = Item {
            log: Arc::clone(self),
            offset,
            newlines,
            ends_with_newline,
            bytes: payload,
            len,
        };
        let _ = lock(&store.queue).send(Job::Write(item));
    }

    /// Bytes handed to [`ProcessLog::append`] so far.
    pub fn offered(&self) -> u64 {
        self.offered.load(Ordering::Acquire)
    }

    /// Waits until everything appended so far is committed (written or
    /// known lost).
    pub async fn flushed(&self) {
        let target = self.offered();
        let mut committed = self.committed.subscribe();
        let _ = committed.wait_for(|committed| *committed >= target).await;
    }

    /// Follows the committed total.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// The writer thread's side of an [`Item`].
    fn commit(&self, item: Item) {
        let end = item.offset + item.len;
        let (added, removed) = {
            let mut state = lock(&self.state);
            let mut counts = (0, 0);
            match (&item.bytes, state.evicted || state.failed) {
                (Some(bytes), false) => match self.write(&mut state, item.offset, bytes) {
                    Ok(written) => counts = written,
                    Err(error) => {
                        tracing::warn!(dir = %self.dir.display(), %error, "cannot write the output log");
                        state.failed = true;
                        state.current = None;
                    }
                },
                (None, false) => {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        bytes = item.len,
                        "output came faster than the disk took it; not logged (a gap)"
                    );
                    // The next write starts a new segment after the hole.
                    state.current = None;
                }
                (_, true) => {}
            }
            state.total = end;
            state.newlines += item.newlines;
            state.ends_with_newline = item.ends_with_newline;
            counts
        };
        // Account (and enforce the total cap) before telling readers, so a
        // reader that waited for these bytes sees the store settled.
        if let Some(store) = self.store.upgrade() {
            store.account(added, removed, Some(self));
        }
        self.committed.send_replace(end);
    }

    /// Appends to the last segment, starting new ones when it is full or
    /// after a hole. Returns (bytes added, bytes dropped from the front).
    fn write(&self, state: &mut LogState, offset: u64, bytes: &[u8]) -> io::Result<(u64, u64)> {
        let mut removed = 0;
        let mut at = offset;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = match state.segments.back() {
                Some(last)
                    if state.current.is_some()
                        && last.end() == at
                        && last.len < self.segment_bytes =>
                {
                    self.segment_bytes - last.len
                }
                _ => {
                    if state.segments.len() as u64 >= SEGMENTS {
                        removed += self.drop_front(state);
                    }
                    if !state.dir_made {
                        DirBuilder::new()
                            .recursive(true)
                            .mode(0o700)
                            .create(&self.dir)?;
                        state.dir_made = true;
                    }
                    let path = self.dir.join(format!("{at:016x}.log"));
                    state.current = Some(
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .mode(0o600)
                            .open(&path)?,
                    );
                    // Newlines before `at`: everything committed, plus this
                    // item's bytes already placed in earlier segments.
                    let placed = &bytes[..bytes.len() - rest.len()];
                    let lines_before = state.newlines + count_newlines(placed);
                    let previous_newline = match placed.last() {
                        Some(byte) => *byte == b'\n',
                        None => state.ends_with_newline,
                    };
                    state.segments.push_back(Segment {
                        start: at,
                        len: 0,
                        newlines: 0,
                        lines_before,
                        starts_mid_line: at > 0 && !previous_newline,
                        ends_with_newline: false,
                        path,
                    });
                    self.segment_bytes
                }
            };
            let take = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            let (piece, later) = rest.split_at(take);
            if let Some(file) = state.current.as_mut() {
                file.write_all(piece)?;
            }
            if let Some(last) = state.segments.back_mut() {
                last.len += piece.len() as u64;
                last.newlines += count_newlines(piece);
                last.ends_with_newline = piece.last() == Some(&b'\n');
            }
            at += piece.len() as u64;
            rest = later;
        }
        Ok((bytes.len() as u64, removed))
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
        if let Some(store) = self.store.upgrade() {
            store.account(0, removed, None);
        }
        true
    }

    /// Forgets every segment; returns the bytes freed and whether the
    /// directory was made. Nothing is written after this (the writer checks
    /// `evicted` under the same lock), so no directory appears later.
    fn clear(&self) -> (u64, bool) {
        let mut state = lock(&self.state);
        state.evicted = true;
        state.current = None;
        let removed = state.segments.iter().map(|s| s.len).sum();
        state.segments.clear();
        (removed, state.dir_made)
    }

    /// Forgets the whole log (total cap).
    fn evict(&self) {
        let (removed, dir_made) = self.clear();
        if let Some(store) = self.store.upgrade() {
            if dir_made {
                store.delete(&self.dir);
            }
            store.account(0, removed, None);
        }
    }

    /// Forgets the log (its process was forgotten); the writer thread
    /// deletes its files.
    pub fn remove(&self) {
        let (removed, dir_made) = self.clear();
        match self.store.upgrade() {
            Some(store) => {
                if dir_made {
                    store.delete(&self.dir);
                }
                lock(&store.state)
                    .exited
                    .retain(|log| !std::ptr::eq(Arc::as_ptr(log), self));
                store.account(0, removed, None);
            }
            None => {
                if dir_made {
                    let _ = fs::remove_dir_all(&self.dir);
                }
            }
        }
    }

    /// Whether the log could not even be created: its directory could not
    /// be made with the first bytes, so nothing of it is on disk. Readers
    /// then answer as for a process without a log.
    pub fn creation_failed(&self) -> bool {
        let state = lock(&self.state);
        state.failed && !state.dir_made
    }

    /// Every byte committed so far.
    pub fn total(&self) -> u64 {
        lock(&self.state).total
    }

    pub(crate) fn view(&self) -> LogView {
        let state = lock(&self.state);
        LogView {
            segments: state.segments.iter().cloned().collect(),
            total: state.total,
            newlines: state.newlines,
            ends_with_newline: state.ends_with_newline,
        }
    }

    /// Reads up to `limit` bytes from absolute offset `from`. Missing bytes
    /// (dropped, or a hole) are reported as a gap at the chunk's start.
    ///
    /// # Errors
    /// When a segment cannot be read.
    pub fn read(&self, from: u64, limit: usize) -> io::Result<LogChunk> {
        self.view().read(from, limit)
    }

    /// The directory of this log (made with its first bytes: it does not
    /// exist while nothing was written).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LogView {
    /// Reads up to `limit` bytes from `from`; see [`ProcessLog::read`].
    pub(crate) fn read(&self, from: u64, limit: usize) -> io::Result<LogChunk> {
        let from = from.min(self.total);
        // The first segment with bytes at or after `from`.
        let Some(first) = self.segments.iter().position(|s| s.end() > from) else {
            // Nothing readable from here on: the rest is gone.
            return Ok(LogChunk {
                bytes: Vec::new(),
                start: self.total,
                gap: self.total - from,
                total: self.total,
            });
        };
        let start = from.max(self.segments[first].start);
        let end = start.saturating_add(limit as u64).min(self.total);
        let mut bytes = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let mut at = start;
        for segment in &self.segments[first..] {
            if segment.start > at || at >= end {
                break; // a hole follows: the next read reports it
            }
            let to = end.min(segment.end());
            match File::open(&segment.path) {
                Ok(mut file) => {
                    file.seek(SeekFrom::Start(at - segment.start))?;
                    file.take(to - at).read_to_end(&mut bytes)?;
                }
                // Dropped since the view was taken (always from the front):
                // everything so far is gone too.
                Err(error) if error.kind() == io::ErrorKind::NotFound => bytes.clear(),
                Err(error) => return Err(error),
            }
            at = to;
        }
        let chunk_start = at - bytes.len() as u64;
        Ok(LogChunk {
            gap: chunk_start - from,
            start: chunk_start,
            total: self.total,
            bytes,
        })
    }

    /// Segments in order, for streaming readers.
    pub(crate) fn segment_list(&self) -> &[Segment] {
        &self.segments
    }

    /// The first readable offset.
    pub(crate) fn first(&self) -> u64 {
        self.segments.first().map_or(self.total, |s| s.start)
    }
}

/// Number of `\n` bytes in `bytes`: eight bytes at a time (this runs on
/// every byte a process writes).
pub fn count_newlines(bytes: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let (words, rest) = bytes.as_chunks::<8>();
    let mut count = 0u64;
    for word in words {
        // Bytes equal to '\n' become zero; then set the high bit of each
        // byte that is zero, exactly (no borrow between bytes).
        let x = u64::from_ne_bytes(*word) ^ NEWLINES;
        let zero_high = !(((x & LOW7) + LOW7) | x | LOW7);
        count += u64::from(zero_high.count_ones());
    }
    count + rest.iter().filter(|byte| **byte == b'\n').count() as u64
}

/// Compiles a pattern for search and match waits, with the regex engine's
/// compiled size bounded (so a pathological pattern is refused instead of
/// eating memory). Matching is linear in the input.
///
/// `ignore_case` becomes an inline flag, so the compiled pattern's text
/// says everything it means (what [`search`] needs).
///
/// # Errors
/// When the pattern is invalid or too big; the error says why (quoting
/// `pattern` as given).
pub fn compile_pattern(
    pattern: &str,
    ignore_case: bool,
) -> Result<regex::bytes::Regex, regex::Error> {
    let build = |source: &str| {
        regex::bytes::RegexBuilder::new(source)
            .size_limit(8 << 20)
            .dfa_size_limit(8 << 20)
            .build()
    };
    let compiled = build(pattern)?;
    if ignore_case {
        build(&format!("(?i:{pattern})"))
    } else {
        Ok(compiled)
    }
}

/// Whether `dir` holds nothing but segment files (`<16 hex digits>.log`).
fn holds_only_segments(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|entry| {
            entry.file_type().is_ok_and(|kind| kind.is_file())
                && entry.file_name().to_str().is_some_and(|name| {
                    name.strip_suffix(".log").is_some_and(|stem| {
                        stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_hexdigit())
                    })
                })
        })
    })
}

#[cfg(test)]
mod tests;
