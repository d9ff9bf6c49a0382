//! Removing process cgroups once they are empty. Most are removed as soon
//! as their process is waited for; a cgroup whose descendants outlive the
//! process (a daemon it started) is kept until they are gone, checked every
//! second by a background task, and killed at shutdown.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use agentproc_core::exec::Signal;

use crate::cgroup::ProcessCgroup;

/// How often cgroups that still had processes are looked at again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Janitor {
    pending: Mutex<Vec<Arc<ProcessCgroup>>>,
    /// Whether a retry task is running.
    retrying: Mutex<bool>,
}

impl Janitor {
    /// Removes `cgroup` now if it is empty, else later.
    pub(crate) fn dispose(self: &Arc<Self>, cgroup: Arc<ProcessCgroup>) {
        if !cgroup.is_populated() && cgroup.remove() {
            return;
        }
        lock(&self.pending).push(cgroup);
        self.start_retrying();
    }

    /// Removes every pending cgroup that is empty now; returns how many are
    /// left.
    pub(crate) fn collect(&self) -> usize {
        let mut pending = lock(&self.pending);
        pending.retain(|cgroup| cgroup.is_populated() || !cgroup.remove());
        pending.len()
    }

    fn start_retrying(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut retrying = lock(&self.retrying);
        if *retrying {
            return;
        }
        *retrying = true;
        let janitor = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(RETRY_EVERY).await;
                let Some(janitor) = janitor.upgrade() else {
                    return;
                };
                // rmdir and cgroupfs reads are blocking system calls.
                let left = {
                    let janitor = Arc::clone(&janitor);
                    tokio::task::spawn_blocking(move || janitor.collect())
                        .await
                        .unwrap_or(1)
                };
                if left == 0 {
                    let mut retrying = lock(&janitor.retrying);
                    // Checked again under the flag's lock, so a dispose
                    // racing with this exit starts a new task.
                    if lock(&janitor.pending).is_empty() {
                        *retrying = false;
                        return;
                    }
                }
            }
        });
    }

    /// At shutdown: kills what is left in pending cgroups, waits up to
    /// `grace` for them to empty, and removes them.
    pub(crate) fn shutdown(&self, grace: Duration) {
        let pending: Vec<Arc<ProcessCgroup>> = lock(&self.pending).clone();
        for cgroup in &pending {
            if cgroup.is_populated() {
                tracing::info!(cgroup = ?cgroup.dirs(), "stopping processes left in a cgroup");
                let _ = cgroup.signal(Signal::Kill);
            }
        }
        let deadline = Instant::now() + grace.max(Duration::from_secs(1));
        while self.collect() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for cgroup in lock(&self.pending).iter() {
            tracing::warn!(cgroup = ?cgroup.dirs(), "a process cgroup could not be removed");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
