//! The journal of process groups: a small append-only state file that lets a
//! restarted agentproc stop what a crashed one left running.
//!
//! Each spawned group is recorded as `group <pgid> <start time>` (the
//! leader's start time in clock ticks since boot, from `/proc`), and each
//! orphan the subreaper adopts as `orphan <pid> <start time>`; `end` lines
//! retire entries. On [`Journal::open`], entries left live by a previous
//! instance are reclaimed: their processes are killed, unless the pid now
//! belongs to a different process (its start time differs), or the journal
//! was written before the last reboot. An exclusive lock on the file keeps
//! two instances from sharing one state directory.
//!
//! Entries cannot name everything: a descendant that leaves its group
//! (`setsid`) is invisible to a group kill, and the kernel tells nobody when
//! such a process is re-parented to the subreaper (a `setsid -f` daemon
//! whose shell lives on sends no `SIGCHLD`), or it is not re-parented at all
//! while its parent lives. So each instance also has a random *instance
//! marker*, written in the journal's second line, which the executor puts in
//! every child's environment as [`INSTANCE_VAR`]; descendants inherit it
//! through `setsid`, forks and `exec`. A journal that still names a marker
//! was not cleared by a clean shutdown, and reclaiming it also kills every
//! process of this boot whose environment carries that marker. Only a
//! descendant that both leaves its group and scrubs its environment
//! (`env -i`) escapes this; the sandbox executor's cgroups catch that one
//! too.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal as NixSignal, kill, killpg};
use nix::unistd::Pid;

use crate::procfs;

/// The file name inside the state directory.
pub const JOURNAL_FILE: &str = "process-groups";
/// The environment variable carrying the instance marker into every child
/// (see the module documentation).
pub const INSTANCE_VAR: &str = "AGENTPROC_INSTANCE";
const HEADER: &str = "agentproc-journal 1";
/// How long reclaiming waits for killed processes to die.
const RECLAIM_WAIT: Duration = Duration::from_secs(5);

/// What an entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A process group agentproc spawned (the id is the group id).
    Group,
    /// A descendant that left its group and was adopted by the subreaper.
    Orphan,
    /// A process found by the previous instance's marker in its
    /// environment (the id is its pid): a descendant that left its group
    /// and was not (yet) recorded as an orphan.
    Marked,
}

/// Processes a previous instance left behind, and what was done about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reclaimed {
    /// The kind of entry.
    pub kind: EntryKind,
    /// The group id or orphan pid recorded.
    pub id: u32,
    /// The pids that were still alive and were killed.
    pub killed: Vec<u32>,
}

/// The open journal. See the module documentation.
pub struct Journal {
    path: PathBuf,
    /// This instance's marker (see [`INSTANCE_VAR`]).
    instance: String,
    state: Mutex<State>,
}

struct State {
    file: Flock<File>,
    live: HashMap<u32, (EntryKind, u64)>,
    lines: usize,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("instance", &self.instance)
            .finish()
    }
}

/// Opening the journal failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another live agentproc holds the journal.
    #[error("another agentproc is already using the state directory {}", dir.display())]
    InUse {
        /// The state directory.
        dir: PathBuf,
    },
    /// The state directory or file could not be used.
    #[error("cannot use the state file {}: {source}", path.display())]
    Io {
        /// The file (or directory).
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

impl Journal {
    /// Opens (creating) the journal in `dir`, reclaims what a previous
    /// instance left live, and starts a fresh journal.
    ///
    /// # Errors
    /// When another instance holds the journal, or the directory cannot be
    /// created or written.
    pub fn open(dir: &Path) -> Result<(Arc<Self>, Vec<Reclaimed>), JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(JournalError::InUse {
                    dir: dir.to_path_buf(),
                });
            }
            Err((_, errno)) => return Err(io_error(&path)(io::Error::from(errno))),
        };
        let mut previous = String::new();
        file.read_to_string(&mut previous)
            .map_err(io_error(&path))?;
        let left = Leftovers::parse(&previous, &procfs::boot_id());
        let reclaimed = reclaim(&left);

        let journal = Arc::new(Self {
            path: path.clone(),
            instance: new_instance_marker().map_err(io_error(&path))?,
            state: Mutex::new(State {
                file,
                live: HashMap::new(),
                lines: 0,
            }),
        });
        journal.rewrite(Marker::Keep).map_err(io_error(&path))?;
        Ok((journal, reclaimed))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This instance's marker, the value of [`INSTANCE_VAR`] in every child
    /// the executor spawns.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Records a spawned process group (led by `pid`).
    ///
    /// # Errors
    /// When the journal file cannot be written (a full disk, say): a
    /// restart after a crash would then not stop this group, so the caller
    /// must not run it as if it were protected.
    pub fn record_group(&self, pid: u32) -> io::Result<()> {
        self.record(EntryKind::Group, pid, None)
    }

    /// [`Journal::record_group`] for a process spawned between two readings
    /// of [`sys::boot_ticks`](crate::sys::boot_ticks): when they agree, that
    /// tick is its start time, and `/proc` is not read (reading a new
    /// process's `stat` was a sixth of the server's own CPU per start).
    ///
    /// # Errors
    /// As [`Journal::record_group`].
    pub(crate) fn record_spawned_group(
        &self,
        pid: u32,
        window: (Option<u64>, Option<u64>),
    ) -> io::Result<()> {
        let known = match window {
            (Some(before), Some(after)) if before == after => Some(before),
            _ => None,
        };
        self.record(EntryKind::Group, pid, known)
    }

    /// Records an orphan the subreaper adopted. A failure is logged: the
    /// orphan still carries the instance marker.
    pub fn record_orphan(&self, pid: u32) {
        if let Err(error) = self.record(EntryKind::Orphan, pid, None) {
            tracing::warn!(path = %self.path.display(), pid, %error, "cannot record an adopted orphan in the journal");
        }
    }

    /// Records `pid` with its start time: `start_time` when the caller
    /// knows it, else read from `/proc`.
    fn record(&self, kind: EntryKind, pid: u32, start_time: Option<u64>) -> io::Result<()> {
        let start_time = match start_time {
            Some(known) => known,
            None => match procfs::stat(pid) {
                Ok(Some(stat)) => stat.start_time,
                _ => return Ok(()), // already gone: nothing to reclaim later
            },
        };
        let mut state = self.lock();
        if state.live.contains_key(&pid) {
            return Ok(());
        }
        self.append(&mut state, &format!("{} {pid} {start_time}\n", kind.word()))?;
        state.live.insert(pid, (kind, start_time));
        Ok(())
    }

    /// Retires the entry for `pid` (its processes are gone).
    pub fn forget(&self, pid: u32) {
        let mut state = self.lock();
        if let Some((_, start_time)) = state.live.remove(&pid) {
            // A lost `end` line only means a restart checks a group that is
            // gone (the start time guards against pid reuse).
            if let Err(error) = self.append(&mut state, &format!("end {pid} {start_time}\n")) {
                tracing::warn!(path = %self.path.display(), %error, "cannot write the journal");
            }
            // Keep the file small: rewrite it once retired lines dominate.
            if state.lines > 64 + 4 * state.live.len() {
                drop(state);
                if let Err(error) = self.rewrite(Marker::Keep) {
                    tracing::warn!(path = %self.path.display(), %error, "cannot compact the journal");
                }
            }
        }
    }

    /// Forgets everything, the instance marker included (after a clean
    /// shutdown stopped every process): the next instance has nothing to
    /// reclaim.
    pub fn clear(&self) {
        self.lock().live.clear();
        if let Err(error) = self.rewrite(Marker::Drop) {
            tracing::warn!(path = %self.path.display(), %error, "cannot clear the journal");
        }
    }

    /// How many entries are live.
    pub fn live_entries(&self) -> usize {
        self.lock().live.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `line`; on failure the file is cut back to where it was, so
    /// a partial line never garbles the next one.
    fn append(&self, state: &mut State, line: &str) -> io::Result<()> {
        // The file is opened without O_APPEND (it is rewritten in place), so
        // seek to the end first. No fsync: the journal must survive a crash
        // of agentproc, not of the kernel, and after a reboot it is void.
        let end = state.file.seek(SeekFrom::End(0))?;
        if let Err(error) = state.file.write_all(line.as_bytes()) {
            let _ = state.file.set_len(end);
            return Err(error);
        }
        state.lines += 1;
        Ok(())
    }

    /// Replaces the file's contents with the header, the instance marker
    /// (unless dropped) and the live entries.
    ///
    /// The new text is written over the old before the file is cut to its
    /// length, never after emptying it: compaction only shrinks the file,
    /// so on a full disk the overwrite needs no new blocks, and the live
    /// entries are never lost to a failed write.
    fn rewrite(&self, marker: Marker) -> io::Result<()> {
        let mut state = self.lock();
        let mut text = format!("{HEADER} boot {}\n", procfs::boot_id());
        if marker == Marker::Keep {
            text.push_str(&format!("instance {}\n", self.instance));
        }
        let mut live: Vec<_> = state.live.iter().collect();
        live.sort_unstable_by_key(|(pid, _)| **pid);
        for (pid, (kind, start_time)) in live {
            text.push_str(&format!("{} {pid} {start_time}\n", kind.word()));
        }
        state.file.seek(SeekFrom::Start(0))?;
        state.file.write_all(text.as_bytes())?;
        state.file.set_len(text.len() as u64)?;
        state.lines = state.live.len();
        Ok(())
    }
}

/// Whether a rewrite keeps the instance marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Keep,
    Drop,
}

impl EntryKind {
    fn word(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Orphan => "orphan",
            Self::Marked => "marked",
        }
    }
}

/// A fresh random marker: 128 bits from the kernel, in hex.
fn new_instance_marker() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// What a previous instance's journal says is left to reclaim.
#[derive(Debug, Default, PartialEq, Eq)]
struct Leftovers {
    /// Entries never retired: (kind, id, start time), by id.
    entries: Vec<(EntryKind, u32, u64)>,
    /// The previous instance's marker, if it did not shut down cleanly.
    marker: Option<String>,
}

impl Leftovers {
    /// Reads a journal's text; nothing is left if it was written before
    /// the last reboot (pids and start times then mean nothing).
    fn parse(text: &str, boot_id: &str) -> Self {
        let mut lines = text.lines();
        let written_this_boot = lines
            .next()
            .and_then(|header| header.strip_prefix(HEADER))
            .and_then(|rest| rest.trim().strip_prefix("boot "))
            .is_some_and(|id| !id.is_empty() && id == boot_id);
        if !written_this_boot {
            return Self::default();
        }
        let mut marker = None;
        let mut live: HashMap<u32, (EntryKind, u64)> = HashMap::new();
        for line in lines {
            let mut words = line.split_whitespace();
            let (Some(word), Some(first), second, None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                continue;
            };
            if word == "instance" && second.is_none() {
                // Only a well-formed marker: an empty or odd one must never
                // match an environment by accident.
                if first.len() == 32 && first.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                    marker = Some(first.to_owned());
                }
                continue;
            }
            let (Ok(pid), Some(Ok(start))) = (first.parse::<u32>(), second.map(str::parse::<u64>))
            else {
                continue;
            };
            match word {
                "group" => {
                    live.insert(pid, (EntryKind::Group, start));
                }
                "orphan" => {
                    live.insert(pid, (EntryKind::Orphan, start));
                }
                "end"
                    if live
                        .get(&pid)
                        .is_some_and(|(_, recorded)| *recorded == start) =>
                {
                    live.remove(&pid);
                }
                _ => {}
            }
        }
        let mut entries: Vec<_> = live
            .into_iter()
            .map(|(pid, (kind, start))| (kind, pid, start))
            .collect();
        entries.sort_unstable_by_key(|(_, pid, _)| *pid);
        Self { entries, marker }
    }
}

/// Kills what is left of each entry, guarding against pid reuse, and waits
/// (bounded) for the killed processes to die.
fn reclaim(left: &Leftovers) -> Vec<Reclaimed> {
    let mut reclaimed = Vec::new();
    let mut all_killed = Vec::new();
    for &(kind, id, start_time) in &left.entries {
        let targets = match kind {
            EntryKind::Group => group_survivors(id, start_time),
            EntryKind::Orphan => match procfs::stat(id) {
                Ok(Some(stat)) if stat.start_time == start_time && !stat.is_dead() => vec![id],
                _ => Vec::new(),
            },
            EntryKind::Marked => Vec::new(),
        };
        if targets.is_empty() {
            continue;
        }
        for &pid in &targets {
            let _ = kill(Pid::from_raw(pid as i32), NixSignal::SIGKILL);
        }
        // Members of the group that appeared since the scan go too.
        if kind == EntryKind::Group || targets.iter().any(|pid| is_group_leader(*pid)) {
            let _ = killpg(Pid::from_raw(id as i32), NixSignal::SIGKILL);
        }
        all_killed.extend_from_slice(&targets);
        reclaimed.push(Reclaimed {
            kind,
            id,
            killed: targets,
        });
    }
    // Then every descendant that left its group without being recorded:
    // it still carries the marker in its environment.
    if let Some(marker) = &left.marker {
        let me = std::process::id();
        let variable = format!("{INSTANCE_VAR}={marker}");
        for pid in procfs::with_environment_entry(variable.as_bytes()) {
            if pid == me || all_killed.contains(&pid) {
                continue;
            }
            let _ = kill(Pid::from_raw(pid as i32), NixSignal::SIGKILL);
            all_killed.push(pid);
            reclaimed.push(Reclaimed {
                kind: EntryKind::Marked,
                id: pid,
                killed: vec![pid],
            });
        }
    }
    crate::sys::wait_until_dead(&all_killed, RECLAIM_WAIT);
    reclaimed
}

/// The live members of the recorded group `pgid`, if it is still ours.
///
/// A process group id stays reserved while any member lives. So: if a
/// process with pid `pgid` exists, it is the group's leader, and the group is
/// ours only if its start time matches the recorded one. If the leader is
/// gone, surviving members of group `pgid` were started after our leader
/// (members cannot predate their group), and are ours.
fn group_survivors(pgid: u32, start_time: u64) -> Vec<u32> {
    if let Ok(Some(leader)) = procfs::stat(pgid)
        && leader.start_time != start_time
    {
        return Vec::new(); // the pid was reused
    }
    procfs::group_members(pgid)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, stat)| !stat.is_dead() && stat.start_time >= start_time)
        .map(|(pid, _)| pid)
        .collect()
}

fn is_group_leader(pid: u32) -> bool {
    matches!(procfs::stat(pid), Ok(Some(stat)) if stat.pgrp == pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unretired_entries_of_this_boot_are_live() {
        let text = "agentproc-journal 1 boot abc\n\
                    instance 0123456789abcdef0123456789abcdef\n\
                    group 10 100\n\
                    group 11 110\n\
                    orphan 12 120\n\
                    end 11 110\n\
                    end 12 999\n\
                    garbage line here\n\
                    group 13\n";
        assert_eq!(
            Leftovers::parse(text, "abc"),
            Leftovers {
                entries: vec![(EntryKind::Group, 10, 100), (EntryKind::Orphan, 12, 120)],
                marker: Some("0123456789abcdef0123456789abcdef".to_owned()),
            }
        );
        assert_eq!(Leftovers::parse(text, "other-boot"), Leftovers::default());
        assert_eq!(Leftovers::parse("", "abc"), Leftovers::default());
        assert_eq!(
            Leftovers::parse("not a journal\ngroup 1 1\n", "abc"),
            Leftovers::default()
        );
    }

    /// The start time taken from the boot clock around a spawn is the one
    /// `/proc` reports (what reclaim compares against), whenever the two
    /// readings agree; otherwise the journal reads `/proc` as before.
    #[test]
    fn a_start_time_from_the_boot_clock_is_the_kernels() {
        let mut compared = 0;
        for _ in 0..50 {
            let before = crate::sys::boot_ticks();
            let mut child = std::process::Command::new("true")
                .spawn()
                .expect("spawn true");
            let after = crate::sys::boot_ticks();
            // A zombie until waited for: its stat stays readable.
            let stat = procfs::stat(child.id())
                .expect("read stat")
                .expect("the child");
            if let (Some(before), Some(after)) = (before, after)
                && before == after
            {
                assert_eq!(before, stat.start_time);
                compared += 1;
            } else {
                assert!(before <= Some(stat.start_time) && Some(stat.start_time) <= after);
            }
            child.wait().expect("wait");
        }
        assert!(compared > 0, "no spawn fit in one clock tick");
    }

    #[test]
    fn only_a_well_formed_marker_counts() {
        for line in [
            "instance ",
            "instance abc",
            "instance 0123456789abcdef0123456789abcdeg",
            "instance 0123456789abcdef0123456789abcdef extra",
        ] {
            let text = format!("agentproc-journal 1 boot abc\n{line}\n");
            assert_eq!(Leftovers::parse(&text, "abc").marker, None, "{line}");
        }
    }
}
