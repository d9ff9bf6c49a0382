//! A sandboxed child: the local child, plus its cgroup (when there is one)
//! for tree-wide signals, OOM attribution, exact usage and cleanup.

use std::io;
use std::sync::Arc;

use agentproc_core::ResourceLimits;
use agentproc_core::exec::{
    AppliedIsolation, ChildExit, ExecChild, InputWriter, OutputReader, ResourceUsage, Signal,
    SignalError, TerminalControl, WaitError,
};
use agentproc_exec_local::LocalChild;
use async_trait::async_trait;

use crate::cgroup::ProcessCgroup;
use crate::janitor::Janitor;

/// A child started by [`crate::SandboxExecer`].
#[derive(Debug)]
pub struct SandboxChild {
    inner: LocalChild,
    cgroup: Option<Arc<ProcessCgroup>>,
    limits: ResourceLimits,
    isolation: Option<AppliedIsolation>,
    janitor: Arc<Janitor>,
}

impl SandboxChild {
    pub(crate) fn new(
        inner: LocalChild,
        cgroup: Option<ProcessCgroup>,
        limits: ResourceLimits,
        isolation: Option<AppliedIsolation>,
        janitor: Arc<Janitor>,
    ) -> Self {
        Self {
            inner,
            cgroup: cgroup.map(Arc::new),
            limits,
            isolation,
            janitor,
        }
    }

    /// The directories of its cgroups (empty without cgroups).
    pub fn cgroup_dirs(&self) -> Vec<std::path::PathBuf> {
        self.cgroup
            .as_ref()
            .map(|cgroup| cgroup.dirs())
            .unwrap_or_default()
    }
}

#[async_trait]
impl ExecChild for SandboxChild {
    fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    fn take_output(&self) -> Option<OutputReader> {
        self.inner.take_output()
    }

    fn take_stdin(&self) -> Option<InputWriter> {
        self.inner.take_stdin()
    }

    fn limits(&self) -> ResourceLimits {
        self.limits
    }

    fn isolation(&self) -> Option<AppliedIsolation> {
        self.isolation.clone()
    }

    fn terminal(&self) -> Option<Arc<dyn TerminalControl>> {
        self.inner.terminal()
    }

    fn blocked_on_input(&self) -> Option<u32> {
        self.inner.blocked_on_input()
    }

    /// Signals the whole tree through the cgroup, so descendants that left
    /// the process group (`setsid`, daemons) get it too; without a cgroup
    /// that can, the process group.
    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        match &self.cgroup {
            Some(cgroup) if cgroup.controls_tree() => match cgroup.signal(signal) {
                Ok(0) => Err(io::Error::from_raw_os_error(libc::ESRCH).into()),
                Ok(_) => Ok(()),
                Err(error) => {
                    tracing::warn!(%error, "signalling through the cgroup failed; signalling the process group");
                    self.inner.signal(signal)
                }
            },
            _ => self.inner.signal(signal),
        }
    }

    /// Waits for the child, then reads the tree's usage and OOM kills from
    /// the cgroup, and removes the cgroup (later, if descendants still run
    /// in it).
    async fn wait(&self) -> Result<ChildExit, WaitError> {
        let mut exit = self.inner.wait().await?;
        if let Some(cgroup) = &self.cgroup {
            let stats = cgroup.stats();
            exit.oom_killed = stats.oom_kills > 0;
            let waited = exit.usage.unwrap_or_default();
            exit.usage = Some(ResourceUsage {
                user_cpu: stats.user_cpu.unwrap_or(waited.user_cpu),
                system_cpu: stats.system_cpu.unwrap_or(waited.system_cpu),
                max_rss_bytes: stats.memory_peak.or(waited.max_rss_bytes),
                forks_refused: stats.forks_refused,
                cpu_throttled: stats.cpu_throttled,
            });
            self.janitor.dispose(Arc::clone(cgroup));
        }
        Ok(exit)
    }
}
