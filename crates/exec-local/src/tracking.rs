//! Which children this process spawned through `LocalExecer` and has not yet
//! reaped. Process-wide, because being a subreaper is: every other child is
//! an adopted orphan.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static TRACKED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
/// Spawns hold it shared from `fork` until the child is tracked; the
/// subreaper's sweep holds it exclusively while it lists children.
static GATE: RwLock<()> = RwLock::new(());

pub(crate) fn shared() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn exclusive() -> RwLockWriteGuard<'static, ()> {
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn track(pid: u32) {
    TRACKED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(pid);
}

pub(crate) fn untrack(pid: u32) {
    if let Some(tracked) = TRACKED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        tracked.remove(&pid);
    }
}

pub(crate) fn is_tracked(pid: u32) -> bool {
    TRACKED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|tracked| tracked.contains(&pid))
}
