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
    state: Mutex<State>,
}

struct State {
    file: Flock<File>,
    live: HashMap<u32, (EntryKind, u64)>,
    lines: usize,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
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
        let reclaimed = reclaim(&live_entries(&previous, &procfs::boot_id()));

        let journal = Arc::new(Self {
            path: path.clone(),
            state: Mutex::new(State {
                file,
                live: HashMap::new(),
                lines: 0,
            }),
        });
        journal.rewrite().map_err(io_error(&path))?;
        Ok((journal, reclaimed))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a spawned process group (led by `pid`).
    pub fn record_group(&self, pid: u32) {
        self.record(EntryKind::Group, pid);
    }

    /// Records an orphan the subreaper adopted.
    pub fn record_orphan(&self, pid: u32) {
        self.record(EntryKind::Orphan, pid);
    }

    fn record(&self, kind: EntryKind, pid: u32) {
        let Ok(Some(stat)) = procfs::stat(pid) else {
            return; // already gone: nothing to reclaim later
        };
        let mut state = self.lock();
        if state.live.insert(pid, (kind, stat.start_time)).is_none() {
            let word = match kind {
                EntryKind::Group => "group",
                EntryKind::Orphan => "orphan",
            };
            self.append(&mut state, &format!("{word} {pid} {}\n", stat.start_time));
        }
    }

    /// Retires the entry for `pid` (its processes are gone).
    pub fn forget(&self, pid: u32) {
        let mut state = self.lock();
        if let Some((_, start_time)) = state.live.remove(&pid) {
            self.append(&mut state, &format!("end {pid} {start_time}\n"));
            // Keep the file small: rewrite it once retired lines dominate.
            if state.lines > 64 + 4 * state.live.len() {
                drop(state);
                if let Err(error) = self.rewrite() {
                    tracing::warn!(path = %self.path.display(), %error, "cannot compact the journal");
                }
            }
        }
    }

    /// Forgets everything (after a clean shutdown stopped every process).
    pub fn clear(&self) {
        self.lock().live.clear();
        if let Err(error) = self.rewrite() {
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

    fn append(&self, state: &mut State, line: &str) {
        // The file is opened without O_APPEND (it is rewritten in place), so
        // seek to the end first. No fsync: the journal must survive a crash
        // of agentproc, not of the kernel, and after a reboot it is void.
        let written = state
            .file
            .seek(SeekFrom::End(0))
            .and_then(|_| state.file.write_all(line.as_bytes()));
        match written {
            Ok(()) => state.lines += 1,
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot write the journal");
            }
        }
    }

    /// Replaces the file's contents with the header and the live entries.
    fn rewrite(&self) -> io::Result<()> {
        let mut state = self.lock();
        let mut text = format!("{HEADER} boot {}\n", procfs::boot_id());
        for (pid, (kind, start_time)) in &state.live {
            let word = match kind {
                EntryKind::Group => "group",
                EntryKind::Orphan => "orphan",
            };
            text.push_str(&format!("{word} {pid} {start_time}\n"));
        }
        state.file.set_len(0)?;
        state.file.seek(SeekFrom::Start(0))?;
        state.file.write_all(text.as_bytes())?;
        state.lines = state.live.len();
        Ok(())
    }
}

/// The entries of a journal's text that were never retired, if it was
/// written during this boot.
fn live_entries(text: &str, boot_id: &str) -> Vec<(EntryKind, u32, u64)> {
    let mut lines = text.lines();
    let written_this_boot = lines
        .next()
        .and_then(|header| header.strip_prefix(HEADER))
        .and_then(|rest| rest.trim().strip_prefix("boot "))
        .is_some_and(|id| !id.is_empty() && id == boot_id);
    if !written_this_boot {
        return Vec::new();
    }
    let mut live: HashMap<u32, (EntryKind, u64)> = HashMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(word), Some(pid), Some(start), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
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
    entries
}

/// Kills what is left of each entry, guarding against pid reuse, and waits
/// (bounded) for the killed processes to die.
fn reclaim(entries: &[(EntryKind, u32, u64)]) -> Vec<Reclaimed> {
    let mut reclaimed = Vec::new();
    let mut all_killed = Vec::new();
    for &(kind, id, start_time) in entries {
        let targets = match kind {
            EntryKind::Group => group_survivors(id, start_time),
            EntryKind::Orphan => match procfs::stat(id) {
                Ok(Some(stat)) if stat.start_time == start_time && !stat.is_dead() => vec![id],
                _ => Vec::new(),
            },
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
                    group 10 100\n\
                    group 11 110\n\
                    orphan 12 120\n\
                    end 11 110\n\
                    end 12 999\n\
                    garbage line here\n\
                    group 13\n";
        assert_eq!(
            live_entries(text, "abc"),
            vec![(EntryKind::Group, 10, 100), (EntryKind::Orphan, 12, 120)]
        );
        assert!(live_entries(text, "other-boot").is_empty());
        assert!(live_entries("", "abc").is_empty());
        assert!(live_entries("not a journal\ngroup 1 1\n", "abc").is_empty());
    }
}
