//! Fake cgroup trees in a temporary directory: plain files where the kernel
//! would have control files. The sandbox notices the directory is not a
//! cgroup filesystem and creates the files it writes; tests write the
//! counters the kernel would (`memory.events`, `memory.peak`, ...).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use agentproc_exec_sandbox::Hierarchies;

pub(crate) struct Tree {
    root: PathBuf,
    hierarchies: Hierarchies,
}

impl Tree {
    fn make_root(kind: &str) -> (PathBuf, PathBuf) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "agentproc-fake-cgroups-{}-{}-{kind}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let base = root.join("agent.slice");
        std::fs::create_dir_all(&base).expect("fake tree");
        (root, base)
    }

    /// A pure v2 host whose cgroup offers and delegates cpu, memory, pids.
    pub(crate) fn v2() -> Self {
        let (root, base) = Self::make_root("v2");
        for file in ["cgroup.controllers", "cgroup.subtree_control"] {
            std::fs::write(base.join(file), "cpu memory pids\n").expect("write");
        }
        std::fs::write(base.join("cgroup.procs"), "").expect("write");
        Self {
            root,
            hierarchies: Hierarchies {
                v2: Some(base),
                v1: Default::default(),
            },
        }
    }

    /// A v1 host with only a memory hierarchy.
    pub(crate) fn v1_memory() -> Self {
        let (root, base) = Self::make_root("v1");
        Self {
            root,
            hierarchies: Hierarchies {
                v2: None,
                v1: [("memory", base)].into(),
            },
        }
    }

    pub(crate) fn hierarchies(&self) -> Hierarchies {
        self.hierarchies.clone()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes `text` to `file` in `dir` (a counter the kernel would keep).
pub(crate) fn set(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write a fake counter");
}

pub(crate) fn get(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}
