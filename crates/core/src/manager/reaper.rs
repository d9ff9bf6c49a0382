//! Forgetting exited processes: strictly after their retention (on every
//! query that reaps, and on time by a background task), or early when the
//! retained limit needs room.
//!
//! Exited processes are indexed by the first instant they may be forgotten,
//! so reaping looks only at the front of the index and costs nothing per
//! retained process.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::process::Process;
use super::{Inner, ManagerEvent, Registry, tokens};
use crate::clock::Clock;

impl Inner {
    /// How long `process` is kept after it exits.
    fn retention(&self, process: &Process) -> Duration {
        if process.client_token.is_some() {
            self.config.token_reap_after
        } else {
            self.config.reap_after
        }
    }

    /// Records when the exited `process` may be forgotten: the first
    /// instant its age is strictly greater than its retention.
    pub(super) fn schedule_expiry(&self, registry: &mut Registry, process: &Process) {
        let Some(exited) = process.exited_mono() else {
            return;
        };
        let retention = self
            .retention(process)
            .saturating_add(Duration::from_nanos(1));
        if let Some(due) = exited.checked_add(retention) {
            registry.expiries.insert((due, process.seq), process.id);
        }
    }

    /// Forgets exited processes whose age is strictly greater than their
    /// retention; returns them (announce them once the lock is gone).
    pub(super) fn reap_locked(&self, registry: &mut Registry) -> Vec<Arc<Process>> {
        let now = self.clock.instant();
        let mut reaped = Vec::new();
        while let Some(entry) = registry.expiries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            if let Some(process) = registry.processes.remove(&id) {
                unbind_token(registry, &process);
                reaped.push(process);
            }
        }
        reaped
    }

    /// The first instant at which some exited process becomes too old.
    fn next_reap(registry: &Registry) -> Option<Instant> {
        registry.expiries.keys().next().map(|(due, _)| *due)
    }

    /// Deletes the logs of forgotten processes, then logs and publishes
    /// them. Called without the registry lock (it touches the disk).
    pub(super) fn announce_reaped(&self, processes: Vec<Arc<Process>>) {
        for process in processes {
            if let Some(log) = &process.log {
                log.remove();
            }
            tracing::debug!(process_id = %process.id, "exited process reaped");
            self.emit(ManagerEvent::Reaped { id: process.id });
        }
    }
}

fn unbind_token(registry: &mut Registry, process: &Process) {
    if let Some(token) = &process.client_token {
        tokens::unbind(registry, process.chat_id(), token, process.id);
    }
}

/// Makes room under the retained limit: forgets the exited process without
/// a client token that exited first. (Processes without a token all share
/// one retention, so the earliest expiry among them is the oldest exit.)
/// Tokened processes are kept for their retention, since forgetting one
/// would let a retry run its command again.
pub(super) fn evict_oldest(registry: &mut Registry) -> Option<Arc<Process>> {
    let key = registry
        .expiries
        .iter()
        .find(|(_, id)| {
            registry
                .processes
                .get(*id)
                .is_some_and(|process| process.client_token.is_none())
        })
        .map(|(key, _)| *key)?;
    let id = registry.expiries.remove(&key)?;
    registry.processes.remove(&id)
}

/// The background reaper: forgets exited processes on time, without waiting
/// for someone to list.
pub(super) async fn reap_loop(
    inner: Weak<Inner>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => {
                let mut registry = inner.registry();
                let reaped = inner.reap_locked(&mut registry);
                let next = Inner::next_reap(&registry);
                drop(registry);
                inner.announce_reaped(reaped);
                next
            }
            None => return,
        };
        let sleep = async {
            match next {
                Some(deadline) => clock.sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = sleep => {}
        }
    }
}
