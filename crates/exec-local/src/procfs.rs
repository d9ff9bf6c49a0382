//! Reading process facts from `/proc`: a process's state, group, session
//! and start time (which, with the pid, identifies a process across pid
//! reuse), this process's children, a process's descendants, and the boot
//! id.

use std::fs;
use std::io;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// One-letter state (`R`, `S`, `Z`, ...).
    pub(crate) state: char,
    /// Parent pid.
    pub(crate) ppid: u32,
    /// Process group id.
    pub(crate) pgrp: u32,
    /// Session id.
    pub(crate) session: u32,
    /// The controlling terminal's device number, as the kernel encodes it
    /// here (minor bits 0–7 and 20–31, major bits 8–19); 0 for none.
    pub(crate) tty_nr: u64,
    /// How many threads it has.
    pub(crate) threads: u32,
    /// When it started, in clock ticks since boot.
    pub(crate) start_time: u64,
}

impl Stat {
    /// Whether it has exited (a zombie or being torn down).
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads `/proc/<pid>/stat`; `Ok(None)` when there is no such process.
pub(crate) fn stat(pid: u32) -> io::Result<Option<Stat>> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => parse_stat(&text).map(Some),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        // A process that vanished between open and read.
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The one-letter state in a `stat` file (a process's or one of its
/// threads', `/proc/<pid>/task/<tid>/stat`); `None` when it cannot be read.
pub(crate) fn state_at(path: &std::path::Path) -> Option<char> {
    let text = fs::read_to_string(path).ok()?;
    parse_stat(&text).ok().map(|stat| stat.state)
}

fn parse_stat(text: &str) -> io::Result<Stat> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/<pid>/stat format",
        )
    };
    // The command name (field 2) may contain spaces and parentheses: the
    // fields after it start after the last ')'.
    let (_, rest) = text.rsplit_once(')').ok_or_else(invalid)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5).
    let field = |number: usize| fields.get(number - 3).copied().ok_or_else(invalid);
    Ok(Stat {
        state: field(3)?.chars().next().ok_or_else(invalid)?,
        ppid: field(4)?.parse().map_err(|_| invalid())?,
        pgrp: field(5)?.parse().map_err(|_| invalid())?,
        session: field(6)?.parse().map_err(|_| invalid())?,
        // Printed as a signed int; a device number is never negative.
        tty_nr: field(7)?.parse().map_err(|_| invalid())?,
        threads: field(20)?.parse().map_err(|_| invalid())?,
        start_time: field(22)?.parse().map_err(|_| invalid())?,
    })
}

/// The pids of this process's children that an orphan adopted by this
/// process (a subreaper) can be among: the children of the main thread
/// while it lives, since the kernel hands orphans to the first living
/// thread of the reaper, starting with its leader (`find_alive_thread`).
/// Without a living leader, the children of every thread. Children other
/// threads spawned are not all listed: callers filter their own anyway, and
/// reading one file instead of one per thread keeps the sweep after every
/// exit cheap (the thread count grows with Tokio's blocking pool).
pub(crate) fn adoptive_children() -> io::Result<Vec<u32>> {
    let me = std::process::id();
    if state_at(std::path::Path::new(&format!("/proc/self/task/{me}/stat")))
        .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
        && let Ok(text) = fs::read_to_string(format!("/proc/self/task/{me}/children"))
    {
        return Ok(text
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .collect());
    }
    own_children()
}

/// The pids of this process's children (of every thread).
pub(crate) fn own_children() -> io::Result<Vec<u32>> {
    let mut children = Vec::new();
    let tasks = fs::read_dir("/proc/self/task")?;
    let mut readable = false;
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            readable = true;
            children.extend(
                text.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    if readable {
        children.sort_unstable();
        children.dedup();
        return Ok(children);
    }
    // Kernels without CONFIG_PROC_CHILDREN: scan every process.
    let me = std::process::id();
    let mut children = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(Some(stat)) = stat(pid)
            && stat.ppid == me
        {
            children.push(pid);
        }
    }
    Ok(children)
}

/// Every process whose group is `pgrp`.
pub(crate) fn group_members(pgrp: u32) -> io::Result<Vec<(u32, Stat)>> {
    every_process(|stat| stat.pgrp == pgrp)
}

/// Every process whose session is `session`.
pub(crate) fn session_members(session: u32) -> io::Result<Vec<(u32, Stat)>> {
    every_process(|stat| stat.session == session)
}

/// Every process (a scan of all of `/proc`) whose stat passes `keep`.
fn every_process(keep: impl Fn(&Stat) -> bool) -> io::Result<Vec<(u32, Stat)>> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(Some(stat)) = stat(pid)
            && keep(&stat)
        {
            members.push((pid, stat));
        }
    }
    Ok(members)
}

/// `pid` and its living descendants, parents before children, found
/// through `/proc/<pid>/task/<tid>/children`: it costs reads in proportion
/// to the tree, not to every process on the host. `None` when `pid` is gone
/// or the kernel lacks those files (`CONFIG_PROC_CHILDREN`); the caller then
/// scans all of `/proc`. Processes re-parented away from the tree (to a
/// subreaper or init) are not found.
pub(crate) fn descendants(pid: u32) -> Option<Vec<(u32, Stat)>> {
    const MOST: usize = 4096;
    let root = stat(pid).ok()??;
    let mut found = vec![(pid, root)];
    let mut next = 0;
    while let Some(&(parent, _)) = found.get(next) {
        next += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else {
            // It exited since it was listed: its children were re-parented.
            continue;
        };
        for task in tasks.flatten() {
            let children = match fs::read_to_string(task.path().join("children")) {
                Ok(children) => children,
                Err(error) if error.kind() == io::ErrorKind::NotFound && parent == pid => {
                    return None;
                }
                Err(_) => continue,
            };
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if found.len() < MOST
                    && let Ok(Some(stat)) = stat(child)
                {
                    found.push((child, stat));
                }
            }
        }
    }
    Some(found)
}

/// Every live process whose environment holds exactly `entry` (a
/// `NAME=value` string), as it was when the process last called `exec`.
/// Processes whose environment cannot be read (another user's) are skipped.
pub(crate) fn with_environment_entry(entry: &[u8]) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in entries.flatten() {
        let Some(pid) = dir
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(environ) = fs::read(dir.path().join("environ"))
            && environ.split(|byte| *byte == 0).any(|item| item == entry)
            && matches!(stat(pid), Ok(Some(stat)) if !stat.is_dead())
        {
            found.push(pid);
        }
    }
    found
}

/// This boot's id: pids and start times from another boot mean nothing.
pub(crate) fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(
            stat,
            Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                session: 4242,
                tty_nr: 0,
                threads: 1,
                start_time: 987_654
            }
        );
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn this_process_can_read_itself() {
        let me = stat(std::process::id()).expect("read").expect("exists");
        assert!(!me.is_dead());
        assert!(me.start_time > 0);
        assert_eq!(stat(u32::MAX).expect("read"), None);
        assert!(!boot_id().is_empty());
    }
}
