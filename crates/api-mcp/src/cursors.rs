//! The implicit cursor: where the previous MCP read of each process ended,
//! so `process_output` without a `cursor` answers "what is new". Kept by
//! the server (not the handler, which stateless HTTP builds per request),
//! per chat and process, and bounded: past its capacity the entry used
//! least recently is forgotten (a forgotten process then reads from the
//! start again).

use std::collections::HashMap;

use agentproc_core::ProcessId;
use uuid::Uuid;

/// A key: the caller's chat (if any) and the process.
type Key = (Option<Uuid>, ProcessId);

/// The cursors, with a use counter for eviction.
#[derive(Debug)]
pub(crate) struct Cursors {
    entries: HashMap<Key, Entry>,
    capacity: usize,
    clock: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    cursor: u64,
    used: u64,
}

impl Cursors {
    /// Room for `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// Where the previous read of `id` by `chat` ended.
    pub(crate) fn get(&mut self, chat: Option<Uuid>, id: ProcessId) -> Option<u64> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(&(chat, id)).map(|entry| {
            entry.used = clock;
            entry.cursor
        })
    }

    /// Records that a read of `id` by `chat` ended at `cursor`.
    pub(crate) fn set(&mut self, chat: Option<Uuid>, id: ProcessId, cursor: u64) {
        self.clock += 1;
        let key = (chat, id);
        if !self.entries.contains_key(&key)
            && self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| *key)
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key,
            Entry {
                cursor,
                used: self.clock,
            },
        );
    }

    /// Forgets every cursor of `id` (the process is gone).
    pub(crate) fn forget(&mut self, id: ProcessId) {
        self.entries.retain(|(_, process), _| *process != id);
    }

    /// How many cursors are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_per_chat_and_process() {
        let mut cursors = Cursors::new(8);
        let (a, b) = (ProcessId::random(), ProcessId::random());
        let chat = Some(Uuid::new_v4());
        assert_eq!(cursors.get(None, a), None);
        cursors.set(None, a, 10);
        cursors.set(chat, a, 20);
        cursors.set(None, b, 30);
        assert_eq!(cursors.get(None, a), Some(10));
        assert_eq!(cursors.get(chat, a), Some(20));
        assert_eq!(cursors.get(None, b), Some(30));
        cursors.set(None, a, 11);
        assert_eq!(cursors.get(None, a), Some(11));
        cursors.forget(a);
        assert_eq!(cursors.get(None, a), None);
        assert_eq!(cursors.get(chat, a), None);
        assert_eq!(cursors.get(None, b), Some(30));
    }

    #[test]
    fn the_least_recently_used_cursor_goes_first() {
        let mut cursors = Cursors::new(2);
        let (a, b, c) = (
            ProcessId::random(),
            ProcessId::random(),
            ProcessId::random(),
        );
        cursors.set(None, a, 1);
        cursors.set(None, b, 2);
        // Reading a makes b the least recently used.
        assert_eq!(cursors.get(None, a), Some(1));
        cursors.set(None, c, 3);
        assert_eq!(cursors.len(), 2);
        assert_eq!(cursors.get(None, b), None);
        assert_eq!(cursors.get(None, a), Some(1));
        assert_eq!(cursors.get(None, c), Some(3));
        // Updating an entry never evicts.
        cursors.set(None, c, 4);
        assert_eq!(cursors.len(), 2);
    }
}
