//! Becoming a child subreaper: descendants that daemonize (`setsid`, double
//! fork) are re-parented to this process instead of to init, so they are
//! reaped when they exit instead of lingering as zombies, recorded in the
//! journal, and stopped at shutdown.
//!
//! This is process-wide: once installed, every child of this process that
//! [`LocalExecer`](crate::LocalExecer) did not spawn counts as an adopted
//! orphan. Install it only in a process whose children all come from
//! `LocalExecer`, as the `agentproc` binary does.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal as NixSignal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast;

use crate::journal::Journal;
use crate::{procfs, sys, tracking};

/// The installed subreaper (one per process).
pub struct Subreaper {
    journal: Option<Arc<Journal>>,
    /// Orphans seen alive, so each is recorded once.
    adopted: Mutex<HashSet<u32>>,
    reaped: broadcast::Sender<u32>,
}

impl fmt::Debug for Subreaper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subreaper")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

static INSTALLED: OnceLock<Arc<Subreaper>> = OnceLock::new();

impl Subreaper {
    /// Makes this process the subreaper of its descendants and starts a task
    /// that reaps adopted orphans when they exit. Adopted orphans are
    /// recorded in `journal`. Installing again returns the first instance.
    ///
    /// # Errors
    /// When the kernel refuses (`prctl`) or `SIGCHLD` cannot be watched.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn install(journal: Option<Arc<Journal>>) -> std::io::Result<Arc<Self>> {
        if let Some(installed) = INSTALLED.get() {
            return Ok(Arc::clone(installed));
        }
        nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)?;
        let mut children = signal(SignalKind::child())?;
        let (reaped, _) = broadcast::channel(256);
        let subreaper = Arc::new(Self {
            journal,
            adopted: Mutex::new(HashSet::new()),
            reaped,
        });
        let installed = Arc::clone(INSTALLED.get_or_init(|| Arc::clone(&subreaper)));
        let sweeper = Arc::downgrade(&installed);
        tokio::spawn(async move {
            while children.recv().await.is_some() {
                match sweeper.upgrade() {
                    Some(subreaper) => subreaper.sweep(),
                    None => return,
                }
            }
        });
        installed.sweep();
        Ok(installed)
    }

    /// The pids of adopted orphans as they are reaped.
    pub fn subscribe(&self) -> broadcast::Receiver<u32> {
        self.reaped.subscribe()
    }

    /// Reaps adopted orphans that exited, and records new ones.
    fn sweep(&self) {
        for pid in self.orphans() {
            match procfs::stat(pid) {
                Ok(Some(stat)) if stat.is_dead() => self.reap(pid),
                Ok(Some(_)) => {
                    let new = self.lock().insert(pid);
                    if new {
                        tracing::debug!(pid, "adopted an orphaned descendant");
                        if let Some(journal) = &self.journal {
                            journal.record_orphan(pid);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn reap(&self, pid: u32) {
        if let Ok(status) = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG))
            && status != nix::sys::wait::WaitStatus::StillAlive
        {
            self.lock().remove(&pid);
            if let Some(journal) = &self.journal {
                journal.forget(pid);
            }
            tracing::debug!(pid, "orphan reaped");
            let _ = self.reaped.send(pid);
        }
    }

    /// Children of this process that `LocalExecer` did not spawn.
    fn orphans(&self) -> Vec<u32> {
        // Holding the spawn gate exclusively means no spawn is between
        // `fork` and being tracked, so no child of ours is mistaken for an
        // orphan.
        let _exclusive = tracking::exclusive();
        procfs::adoptive_children()
            .unwrap_or_default()
            .into_iter()
            .filter(|pid| !tracking::is_tracked(*pid))
            .collect()
    }

    /// Stops every adopted orphan (and the process group it leads): `SIGTERM`,
    /// then `SIGKILL` after `grace` for those still alive, and reaps them.
    pub async fn stop_orphans(&self, grace: Duration) {
        let orphans: Vec<u32> = self
            .orphans()
            .into_iter()
            .filter(|pid| matches!(procfs::stat(*pid), Ok(Some(stat)) if !stat.is_dead()))
            .collect();
        if orphans.is_empty() {
            self.sweep();
            return;
        }
        tracing::info!(count = orphans.len(), "stopping orphaned descendants");
        signal_all(&orphans, NixSignal::SIGTERM);
        let pending = orphans.clone();
        let _ = tokio::task::spawn_blocking(move || sys::wait_until_dead(&pending, grace)).await;
        signal_all(&orphans, NixSignal::SIGKILL);
        let pending = orphans.clone();
        let _ = tokio::task::spawn_blocking(move || sys::wait_until_dead(&pending, grace)).await;
        self.sweep();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        self.adopted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn signal_all(pids: &[u32], signal: NixSignal) {
    for &pid in pids {
        let target = Pid::from_raw(pid as i32);
        let _ = kill(target, signal);
        if matches!(procfs::stat(pid), Ok(Some(stat)) if stat.pgrp == pid) {
            let _ = killpg(target, signal);
        }
    }
}
