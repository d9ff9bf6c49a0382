//! Forgetting exited processes: strictly after their retention (on every
//! query that reaps, and on time by a background task), or early when the
//! retained limit needs room.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::process::Process;
use super::{Inner, ManagerEvent, Registry, tokens};
use crate::clock::Clock;
use crate::process::ProcessId;

impl Inner {
    /// How long `process` is kept after it exits.
    fn retention(&self, process: &Process) -> Duration {
        if process.client_token.is_some() {
            self.config.token_reap_after
        } else {
            self.config.reap_after
        }
    }

    /// Forgets exited processes whose age is strictly greater than their
    /// retention; returns their ids (announce them once the lock is gone).
    pub(super) fn reap_locked(&self, registry: &mut Registry) -> Vec<ProcessId> {
        let now = self.clock.instant();
        let expired: Vec<Arc<Process>> = registry
            .processes
            .values()
            .filter(|process| {
                process.exited_mono().is_some_and(|exited| {
                    now.saturating_duration_since(exited) > self.retention(process)
                })
            })
            .cloned()
            .collect();
        expired
            .into_iter()
            .map(|process| forget(registry, &process))
            .collect()
    }

    /// The first instant at which some exited process becomes too old.
    fn next_reap(&self, registry: &Registry) -> Option<Instant> {
        registry
            .processes
            .values()
            .filter_map(|process| {
                let retention = self
                    .retention(process)
                    .saturating_add(Duration::from_nanos(1));
                process.exited_mono()?.checked_add(retention)
            })
            .min()
    }

    /// Logs and publishes forgotten processes.
    pub(super) fn announce_reaped(&self, ids: Vec<ProcessId>) {
        for id in ids {
            tracing::debug!(process_id = %id, "exited process reaped");
            let _ = self.events.send(ManagerEvent::Reaped { id });
        }
    }
}

/// Removes `process` from the registry, with its token binding.
fn forget(registry: &mut Registry, process: &Process) -> ProcessId {
    registry.processes.remove(&process.id);
    if let Some(token) = &process.client_token {
        tokens::unbind(registry, process.chat_id(), token, process.id);
    }
    process.id
}

/// Makes room under the retained limit: forgets the exited process without
/// a client token that exited first. Tokened processes are kept for their
/// retention, since forgetting one would let a retry run its command again.
pub(super) fn evict_oldest(registry: &mut Registry) -> Option<ProcessId> {
    let oldest = registry
        .processes
        .values()
        .filter(|process| process.client_token.is_none())
        .filter_map(|process| Some((process.exited_mono()?, Arc::clone(process))))
        .min_by_key(|(exited, process)| (*exited, process.seq))
        .map(|(_, process)| process)?;
    Some(forget(registry, &oldest))
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
                let next = inner.next_reap(&registry);
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
