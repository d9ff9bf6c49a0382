//! `agentproc-exec-sandbox`: an [`Execer`] that composes the local one and
//! confines every process it starts.
//!
//! For each process, before it runs anything (between `fork` and `exec`,
//! see the `sys` module):
//! - it joins a **fresh cgroup of its own** (one per hierarchy used), with
//!   the memory, CPU and pids limits of the start, completed with the
//!   configured defaults and checked against the configured maxima;
//! - it sets its **OOM score** (`oom_score_adj`), **niceness** and
//!   **rlimits** (open files, core size, address space, CPU seconds, file
//!   size).
//!
//! The cgroup then buys more than limits (see [`cgroup`]): signals reach the
//! whole tree, including descendants that left the process group; an OOM
//! kill inside the cgroup is reported as such; CPU time and peak memory are
//! the whole tree's; and the cgroup is removed once empty.
//!
//! A limit that cannot be enforced here is refused ([`SpawnError::Refused`]),
//! never ignored; a configured default that cannot be enforced fails
//! [`SandboxExecer::new`].
//!
//! With an isolation policy (see [`isolation`]), a process also runs inside
//! bubblewrap: namespaces of its own (user, mount, PID, IPC, UTS, and
//! network unless the policy gives the host's), a read-only root with only
//! the policy's roots writable, denied paths covered, a private `/tmp` and
//! `/proc`, no capabilities, `no_new_privs` and a seccomp filter.
//!
//! What it deliberately does not do: spawning, pipes, terminals and waiting
//! are the local executor's; Landlock is not used (bubblewrap's mount
//! namespace enforces the filesystem rules, and would be hindered by a
//! Landlock domain around it); a host without bubblewrap refuses isolation
//! rather than approximate it.
//!
//! Every spawn forks (a `pre_exec` step rules out `posix_spawn`), which
//! costs more than the local executor's spawns in a large process; see
//! BENCHMARKS.md.

pub mod cgroup;
mod child;
pub mod isolation;
mod janitor;
mod policy;
mod sys;

use std::fs::OpenOptions;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use agentproc_core::exec::{ExecChild, ExecSpec, Execer, ExecutorReport, SpawnError};
use agentproc_exec_local::{CommandSpawner, LocalExecer};

pub use cgroup::{CgroupKind, CgroupMode, Hierarchies, SetupError};
pub use child::SandboxChild;
pub use isolation::IsolationConfig;
pub use policy::{Niceness, OomScoreAdj, Rlimits, SandboxConfig};

use cgroup::Cgroups;
use janitor::Janitor;
use policy::Resource;

/// Wraps the local executor (or any [`CommandSpawner`]: a decorator of
/// it) with a policy; see the crate documentation.
#[derive(Debug)]
pub struct SandboxExecer<S = LocalExecer> {
    local: S,
    config: SandboxConfig,
    cgroups: Arc<Cgroups>,
    janitor: Arc<Janitor>,
    nice: Option<i32>,
    oom_score_adj: Option<i32>,
    own_oom_score_adj: i32,
    rlimits: Vec<(&'static str, Resource, u64)>,
    /// Why isolation cannot be enforced here (`None`: it can).
    isolation_unavailable: Option<String>,
}

impl<S: CommandSpawner> SandboxExecer<S> {
    /// A sandbox around `local`, with this process's cgroup hierarchies
    /// (from `/proc/self`).
    ///
    /// # Errors
    /// When the configuration cannot be honoured: a required cgroup version
    /// is unusable, a default limit cannot be enforced, an rlimit is above
    /// agentproc's own hard limit.
    pub fn new(local: S, config: SandboxConfig) -> Result<Self, SetupError> {
        let hierarchies = match config.cgroups {
            CgroupMode::Off => Hierarchies::default(),
            _ => Hierarchies::of_this_process().unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot read this process's cgroups");
                Hierarchies::default()
            }),
        };
        Self::with_hierarchies(local, config, &hierarchies)
    }

    /// A sandbox using the cgroup directories in `hierarchies` (tests point
    /// them at a fake tree in a temporary directory).
    ///
    /// # Errors
    /// As [`SandboxExecer::new`].
    pub fn with_hierarchies(
        local: S,
        config: SandboxConfig,
        hierarchies: &Hierarchies,
    ) -> Result<Self, SetupError> {
        let own_nice = sys::own_niceness().unwrap_or(0);
        let own_oom = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        let rlimits = config.rlimits.each();
        for (name, resource, value) in &rlimits {
            if let Ok(hard) = sys::hard_limit(*resource)
                && *value > hard
            {
                return Err(SetupError(format!(
                    "{name} = {value} is above agentproc's own hard limit of {hard} (raising a hard limit needs CAP_SYS_RESOURCE)"
                )));
            }
        }
        for kind in policy::LimitKind::ALL {
            if let (Some(default), Some(max)) = (
                kind.get(&config.default_limits),
                kind.get(&config.max_limits),
            ) && default > max
            {
                return Err(SetupError(format!(
                    "the default limits.{} ({default}) is above its maximum ({max})",
                    kind.name()
                )));
            }
        }
        let cgroups = Cgroups::setup(config.cgroups, hierarchies, config.v1_memory)?;
        for (what, limits) in [
            ("default", &config.default_limits),
            ("maximum", &config.max_limits),
        ] {
            cgroups
                .check(limits)
                .map_err(|reason| SetupError(format!("the {what} {reason}")))?;
        }
        for warning in cgroups.warnings() {
            tracing::warn!("sandbox: {warning}");
        }
        let isolation_unavailable = match &config.isolation.bwrap {
            None => Some("bubblewrap (bwrap) is not installed".to_owned()),
            Some(bwrap) => isolation::probe_bwrap(bwrap)
                .err()
                .map(|said| format!("bubblewrap cannot build its sandbox here ({said})")),
        };
        if let Some(reason) = &isolation_unavailable
            && config.isolation.bwrap.is_some()
        {
            if config.isolation.default.is_some() || config.isolation.minimum.is_some() {
                return Err(SetupError(format!(
                    "isolation is configured (a default or a minimum), but {reason}"
                )));
            }
            tracing::warn!("sandbox: isolation is unavailable: {reason}");
        }
        Ok(Self {
            isolation_unavailable,
            local,
            nice: config.niceness.resolve(own_nice),
            oom_score_adj: config.oom_score_adj.resolve(own_oom),
            own_oom_score_adj: own_oom,
            rlimits,
            config,
            cgroups: Arc::new(cgroups),
            janitor: Arc::default(),
        })
    }

    /// What cgroup setup is in use.
    pub fn cgroup_kind(&self) -> CgroupKind {
        self.cgroups.kind()
    }

    /// Removes process cgroups that were kept because descendants still
    /// ran in them and are now empty; returns how many are still kept.
    /// (A background task does this every second; tests call it directly.)
    pub fn collect_garbage(&self) -> usize {
        self.janitor.collect()
    }

    /// Spawns `spec` in the sandbox, returning the concrete child.
    ///
    /// # Errors
    /// [`SpawnError::Refused`] for limits above the maximum or that this
    /// host cannot enforce; [`SpawnError::Sandbox`] when the confinement
    /// could not be set up; otherwise as the local executor.
    pub fn spawn_sandboxed(&self, spec: &ExecSpec) -> Result<SandboxChild, SpawnError> {
        let refused = |reason| SpawnError::Refused { reason };
        let limits = self
            .config
            .effective_limits(&spec.limits)
            .map_err(refused)?;
        self.cgroups.check(&limits).map_err(refused)?;
        let (isolated, applied) = self.isolate(spec)?;
        let spec = isolated.as_ref().unwrap_or(spec);
        let cgroup = self
            .cgroups
            .create(&limits)
            .map_err(|(step, error)| SpawnError::Sandbox { step, error })?;
        let network = applied.as_ref().map(|applied| applied.policy.network);
        let result = self.spawn_in(spec, cgroup.as_ref(), network);
        match result {
            // Every limit passed the check, so the cgroup enforces it.
            Ok(child) => Ok(SandboxChild::new(
                child,
                cgroup,
                limits,
                applied,
                Arc::clone(&self.janitor),
            )),
            Err(error) => {
                if let Some(cgroup) = cgroup {
                    self.janitor.dispose(Arc::new(cgroup));
                }
                Err(error)
            }
        }
    }

    /// What isolation this executor offers here.
    fn isolation_report(&self) -> agentproc_core::exec::IsolationReport {
        let config = &self.config.isolation;
        let (mechanisms, unavailable) = match &self.isolation_unavailable {
            None => (
                isolation::mechanisms(&agentproc_core::exec::Isolation {
                    network: agentproc_core::exec::NetworkAccess::None,
                    write: Vec::new(),
                    read: agentproc_core::exec::ReadAccess::All,
                    deny: Vec::new(),
                }),
                None,
            ),
            Some(reason) => (Vec::new(), Some(reason.clone())),
        };
        agentproc_core::exec::IsolationReport {
            mechanisms,
            unavailable,
            default: config.default.clone(),
            minimum: config.minimum.clone(),
        }
    }

    /// The spec that runs `spec` isolated (bubblewrap with the policy's
    /// arguments, then the command), and the policy applied; `(None, None)`
    /// when no policy applies.
    fn isolate(
        &self,
        spec: &ExecSpec,
    ) -> Result<
        (
            Option<ExecSpec>,
            Option<agentproc_core::exec::AppliedIsolation>,
        ),
        SpawnError,
    > {
        let refused = |reason| SpawnError::Refused { reason };
        let workdir = match &spec.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|error| SpawnError::Sandbox {
                step: "find the working directory".to_owned(),
                error,
            })?,
        };
        let config = &self.config.isolation;
        let Some(policy) = config
            .effective(spec.isolation.as_ref(), &workdir)
            .map_err(refused)?
        else {
            return Ok((None, None));
        };
        let Some(bwrap) = &config.bwrap else {
            return Err(refused(
                "Isolation needs bubblewrap (bwrap), which this host lacks: install the bubblewrap package.".to_owned(),
            ));
        };
        if let Some(reason) = &self.isolation_unavailable {
            return Err(refused(format!("Isolation is unavailable: {reason}.")));
        }
        let mut args = isolation::bwrap_args(&policy, &workdir).map_err(refused)?;
        args.push("--".into());
        args.push(spec.program.clone());
        args.extend(spec.args.iter().cloned());
        let isolated = ExecSpec {
            program: bwrap.clone().into_os_string(),
            args,
            isolation: None,
            ..spec.clone()
        };
        Ok((Some(isolated), Some(isolation::applied(policy))))
    }

    /// Spawns `spec` joining `cgroup`; `network` is set for an isolated
    /// spec (bubblewrap), whose seccomp filter it selects.
    fn spawn_in(
        &self,
        spec: &ExecSpec,
        cgroup: Option<&cgroup::ProcessCgroup>,
        network: Option<agentproc_core::exec::NetworkAccess>,
    ) -> Result<agentproc_exec_local::LocalChild, SpawnError> {
        let procs_files = cgroup.map(|c| c.procs_files()).unwrap_or_default();
        let mut procs = Vec::with_capacity(procs_files.len());
        for file in &procs_files {
            let fd: OwnedFd = OpenOptions::new()
                .write(true)
                .open(file)
                .map_err(|error| SpawnError::Sandbox {
                    step: format!("open {}", file.display()),
                    error,
                })?
                .into();
            procs.push(fd);
        }
        let (report_read, report_write) =
            sys::report_pipe().map_err(|error| SpawnError::Sandbox {
                step: "create a pipe".to_owned(),
                error,
            })?;
        // An isolated spec runs bubblewrap, which takes the filter on a
        // descriptor.
        let seccomp = match network {
            Some(network) => {
                let bytes = isolation::seccomp::filter_bytes(network).map_err(|reason| {
                    SpawnError::Refused {
                        reason: format!(
                            "Isolation needs a seccomp filter, which cannot be built here: {reason}."
                        ),
                    }
                })?;
                Some(
                    sys::filled_pipe(&bytes).map_err(|error| SpawnError::Sandbox {
                        step: "pass the seccomp filter".to_owned(),
                        error,
                    })?,
                )
            }
            None => None,
        };
        let setup = Arc::new(sys::ChildSetup {
            cgroup_procs: procs,
            oom_score_adj: self.oom_score_adj,
            nice: self.nice,
            rlimits: self.rlimits.iter().map(|(_, r, v)| (*r, *v)).collect(),
            report: report_write,
            seccomp,
        });
        let result = self.local.spawn_command(spec, &mut |command| {
            Arc::clone(&setup).install(command);
        });
        drop(setup);
        result.map_err(|error| match sys::read_report(&report_read) {
            Some((step, errno)) => SpawnError::Sandbox {
                step: self.describe_step(step, &procs_files),
                error: io::Error::from_raw_os_error(errno),
            },
            None => error,
        })
    }

    fn describe_step(&self, step: u8, procs_files: &[std::path::PathBuf]) -> String {
        match step {
            sys::STEP_OOM => format!(
                "set oom_score_adj to {} (a score below agentproc's own, {}, needs CAP_SYS_RESOURCE)",
                self.oom_score_adj.unwrap_or_default(),
                self.own_oom_score_adj
            ),
            sys::STEP_NICE => format!("set niceness to {}", self.nice.unwrap_or_default()),
            sys::STEP_NO_NEW_PRIVS => "set no_new_privs".to_owned(),
            sys::STEP_SECCOMP_FD => "hand the seccomp filter to bubblewrap".to_owned(),
            step if step >= sys::STEP_RLIMIT => {
                match self.rlimits.get(usize::from(step - sys::STEP_RLIMIT)) {
                    Some((name, _, value)) => format!("set {name} to {value}"),
                    None => "set an rlimit".to_owned(),
                }
            }
            step => match procs_files.get(usize::from(step)) {
                Some(file) => format!("join cgroup {}", file.display()),
                None => "join a cgroup".to_owned(),
            },
        }
    }
}

impl<S: CommandSpawner> Execer for SandboxExecer<S> {
    fn spawn(&self, spec: &ExecSpec) -> Result<Box<dyn ExecChild>, SpawnError> {
        Ok(Box::new(self.spawn_sandboxed(spec)?))
    }

    fn kind(&self) -> &'static str {
        "sandbox"
    }

    /// The local executor's terminals: the child's step onto its terminal
    /// runs after the confinement (cgroups, OOM score, niceness, rlimits).
    fn supports_terminal(&self) -> bool {
        self.local.supports_terminal()
    }

    fn report(&self) -> ExecutorReport {
        let mut settings = Vec::new();
        if let Some(nice) = self.nice {
            settings.push(("niceness".to_owned(), nice.to_string()));
        }
        if let Some(score) = self.oom_score_adj {
            settings.push(("oom_score_adj".to_owned(), score.to_string()));
        }
        for (name, _, value) in &self.rlimits {
            settings.push(((*name).to_owned(), value.to_string()));
        }
        ExecutorReport {
            kind: self.kind().to_owned(),
            cgroups: Some(self.cgroups.kind().as_str().to_owned()),
            enforceable: self.cgroups.enforceable(),
            default_limits: self.config.default_limits,
            max_limits: self.config.ceiling(),
            settings,
            warnings: self.cgroups.warnings().to_vec(),
            isolation: Some(self.isolation_report()),
        }
    }

    fn shutdown(&self, grace: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let local = self.local.shutdown(grace);
        let janitor = Arc::clone(&self.janitor);
        let cgroups = Arc::clone(&self.cgroups);
        Box::pin(async move {
            local.await;
            let _ = tokio::task::spawn_blocking(move || {
                janitor.shutdown(grace);
                // The parents go once their children have.
                cgroups.remove_parents();
            })
            .await;
        })
    }
}
