//! `agentproc-exec-sandbox`: an [`Execer`] that composes another executor and
//! applies a resource policy to every process it starts.
//!
//! **Status: skeleton.** Today [`SandboxExecer`] only delegates to the
//! executor it wraps; it applies no policy yet. The policy (niceness, OOM
//! score, rlimits, a per-process cgroup with memory/CPU/pids limits, tree
//! kill through the cgroup, OOM attribution and exact accounting) is the
//! sandbox issue's work, and will land here without changing the seam: the
//! sandbox stays a decorator around `agentproc-exec-local`, it does not
//! re-implement spawning.
//!
//! What it deliberately does not do: anything the wrapped executor already
//! does (process groups, pipes, waiting).

use std::sync::Arc;

use agentproc_core::exec::{ExecChild, ExecSpec, Execer, SpawnError};

/// Wraps an executor; see the crate documentation for what it does (and
/// does not yet do).
#[derive(Debug, Clone)]
pub struct SandboxExecer {
    inner: Arc<dyn Execer>,
}

impl SandboxExecer {
    /// A sandbox around `inner`.
    pub fn new(inner: Arc<dyn Execer>) -> Self {
        Self { inner }
    }
}

impl Execer for SandboxExecer {
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError> {
        self.inner.spawn(spec)
    }

    fn kind(&self) -> &'static str {
        "sandbox"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentproc_core::testing::FakeExecer;

    #[tokio::test]
    async fn spawns_go_through_the_wrapped_executor() {
        let inner = FakeExecer::default();
        let sandbox = SandboxExecer::new(Arc::new(inner.clone()));
        let spec = ExecSpec::new("sh");
        sandbox.spawn(&spec).expect("spawn");
        assert_eq!(inner.spawned().len(), 1);
        assert_eq!(inner.spawned()[0].spec(), &spec);
        assert_eq!(sandbox.kind(), "sandbox");
    }
}
