//! A cgroup per process: setup of agentproc's own parent cgroup in each
//! hierarchy it uses, creation of a fresh child cgroup per process with its
//! limits, and what a cgroup gives beyond limits: killing or signalling the
//! whole tree, OOM attribution, exact usage, cleanup.
//!
//! Backends, from [`Hierarchies`]:
//! - **v2**: one cgroup per process in the unified hierarchy, with
//!   whichever of the `memory`, `cpu` and `pids` controllers can be enabled;
//!   `cgroup.kill` kills the tree, `cgroup.freeze` holds it still while
//!   another signal is delivered.
//! - **v1**: one cgroup per process in each controller's hierarchy
//!   (`pids`, `cpu`, `cpuacct`, `freezer`; `memory` only for processes with
//!   a memory limit, since v1 memory hierarchies are often the host's own
//!   machinery). The freezer kills the tree: freeze, `SIGKILL` every
//!   member, thaw.
//! - **hybrid**: v2 for tracking, killing and CPU accounting (it needs no
//!   controllers for those), v1 controllers for the limits v2 cannot
//!   enforce.
//! - **none**: no cgroups; limits are refused, everything else still works.
//!
//! agentproc never writes into a cgroup it did not create, with one
//! exception on v2: to enable controllers for its children in a cgroup
//! where it is the only process, it first moves itself into a leaf
//! (`agentproc-self-<pid>`), as v2's "no internal processes" rule demands.

pub mod detect;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentproc_core::ResourceLimits;
use agentproc_core::exec::Signal;

pub use detect::Hierarchies;

use crate::policy::LimitKind;

/// Which cgroup hierarchies the sandbox uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupMode {
    /// Whatever the host offers: v2, v1 or both (hybrid); none with a
    /// warning when nothing is usable.
    #[default]
    Auto,
    /// The unified hierarchy only; an error at startup when unusable.
    V2,
    /// v1 controllers only; an error at startup when none is usable.
    V1,
    /// Both; an error at startup unless both are usable.
    Hybrid,
    /// No cgroups: niceness, OOM score and rlimits only.
    Off,
}

/// What the sandbox ended up using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupKind {
    /// The unified hierarchy only.
    V2,
    /// v1 controllers only.
    V1,
    /// Both.
    Hybrid,
    /// No cgroups.
    None,
}

impl CgroupKind {
    /// `v2`, `v1`, `hybrid` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V1 => "v1",
            Self::Hybrid => "hybrid",
            Self::None => "none",
        }
    }
}

/// Setting up the sandbox's cgroups failed in a way the configuration
/// does not allow to work around.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Where a limit is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    V2,
    V1,
}

/// How a whole tree is killed or signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeControl {
    /// `cgroup.kill` and `cgroup.freeze`.
    V2,
    /// The v1 freezer.
    V1Freezer,
    /// Neither: the process group only.
    None,
}

static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// agentproc's own cgroups, and how each limit is enforced.
#[derive(Debug)]
pub(crate) struct Cgroups {
    kind: CgroupKind,
    /// The name of agentproc's parent cgroup in every hierarchy.
    name: String,
    /// The parent in the unified hierarchy.
    v2: Option<PathBuf>,
    /// The parent per v1 controller (not memory, which is `v1_memory`).
    v1: BTreeMap<&'static str, PathBuf>,
    /// agentproc's own cgroup in the v1 memory hierarchy, under which the
    /// parent is created on first use.
    v1_memory_base: Option<PathBuf>,
    v1_memory_ready: std::sync::OnceLock<Result<PathBuf, String>>,
    limits: BTreeMap<&'static str, Result<Via, String>>,
    tree: TreeControl,
    /// Directories that are plain files, not a cgroup filesystem (tests'
    /// fake trees): control files are created, and removal is recursive.
    emulated: bool,
    next: AtomicU64,
    warnings: Vec<String>,
}

impl Cgroups {
    /// Sets up agentproc's parent cgroups as `mode` asks, from what
    /// `hierarchies` offers. Cgroups left by an earlier agentproc that is
    /// no longer running are killed and removed first.
    pub(crate) fn setup(
        mode: CgroupMode,
        hierarchies: &Hierarchies,
        v1_memory: bool,
    ) -> Result<Self, SetupError> {
        // The pid and its start time name the owner: a later process with
        // the same pid (agentproc as PID 1 of a restarted container) is not
        // mistaken for it.
        let name = format!(
            "agentproc-{}-{}-{}",
            std::process::id(),
            own_start_time().unwrap_or(0),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        let mut warnings = Vec::new();
        // Whatever this run uses, clear what a dead agentproc left anywhere.
        for base in hierarchies.v2.iter().chain(hierarchies.v1.values()) {
            sweep_stale(base, !is_cgroupfs(base));
        }
        let wants_v2 = matches!(mode, CgroupMode::Auto | CgroupMode::V2 | CgroupMode::Hybrid);
        let wants_v1 = matches!(mode, CgroupMode::Auto | CgroupMode::V1 | CgroupMode::Hybrid);
        let required = |what: &str, problem: String| -> Result<(), SetupError> {
            if mode == CgroupMode::Auto {
                Ok(())
            } else {
                Err(SetupError(format!(
                    "cgroups: {what} is required by the configuration, but {problem}"
                )))
            }
        };

        let mut emulated = false;
        let mut v2 = None;
        let mut v2_controllers = BTreeSet::new();
        match (&hierarchies.v2, wants_v2) {
            (Some(base), true) => {
                emulated |= !is_cgroupfs(base);
                match prepare_v2(base, &name, emulated, &mut warnings) {
                    Ok((dir, controllers)) => {
                        v2 = Some(dir);
                        v2_controllers = controllers;
                    }
                    Err(problem) => {
                        required("cgroup v2", problem.clone())?;
                        warnings.push(problem);
                    }
                }
            }
            (None, true) if matches!(mode, CgroupMode::V2 | CgroupMode::Hybrid) => {
                required("cgroup v2", "no cgroup2 filesystem is mounted".to_owned())?;
            }
            _ => {}
        }

        let mut v1 = BTreeMap::new();
        let mut v1_memory_base = None;
        if wants_v1 {
            // Only what v2 does not already give.
            let needed: Vec<&'static str> = [
                ("pids", !v2_controllers.contains("pids")),
                ("cpu", !v2_controllers.contains("cpu")),
                ("cpuacct", v2.is_none()),
                ("freezer", v2.is_none()),
            ]
            .into_iter()
            .filter_map(|(controller, needed)| needed.then_some(controller))
            .collect();
            for controller in needed {
                let Some(base) = hierarchies.v1.get(controller) else {
                    continue;
                };
                emulated |= !is_cgroupfs(base);
                let dir = base.join(&name);
                // Controllers mounted together (`cpu,cpuacct`) share one.
                if v1.values().any(|created| *created == dir) {
                    v1.insert(controller, dir);
                    continue;
                }
                match fs::create_dir(&dir) {
                    Ok(()) => {
                        v1.insert(controller, dir);
                    }
                    Err(error) => warnings.push(format!(
                        "cannot use the v1 {controller} hierarchy: cannot create {}: {}",
                        dir.display(),
                        describe(&error)
                    )),
                }
            }
            if !v2_controllers.contains("memory") && v1_memory {
                v1_memory_base = hierarchies.v1.get("memory").cloned();
                if let Some(base) = &v1_memory_base {
                    emulated |= !is_cgroupfs(base);
                }
            }
            if v1.is_empty() && v1_memory_base.is_none() {
                let problem = if hierarchies.v1.is_empty() {
                    "no v1 controller hierarchy is mounted".to_owned()
                } else {
                    format!(
                        "none of its hierarchies is usable ({})",
                        warnings.join("; ")
                    )
                };
                if matches!(mode, CgroupMode::V1 | CgroupMode::Hybrid) {
                    required("cgroup v1", problem)?;
                }
            }
        }

        let kind = match (v2.is_some(), !v1.is_empty() || v1_memory_base.is_some()) {
            (true, true) => CgroupKind::Hybrid,
            (true, false) => CgroupKind::V2,
            (false, true) => CgroupKind::V1,
            (false, false) => CgroupKind::None,
        };
        if mode == CgroupMode::Hybrid && kind != CgroupKind::Hybrid {
            return Err(SetupError(format!(
                "cgroups: hybrid (v2 and v1) is required by the configuration, but only {} is usable",
                kind.as_str()
            )));
        }

        let tree = match &v2 {
            Some(dir) if dir.join("cgroup.kill").exists() || emulated => TreeControl::V2,
            Some(dir) => {
                warnings.push(format!(
                    "{} has no cgroup.kill (Linux 5.14+): killing a process stops its process group only",
                    dir.display()
                ));
                TreeControl::None
            }
            None if v1.contains_key("freezer") => TreeControl::V1Freezer,
            None => TreeControl::None,
        };
        let off_reason = match mode {
            CgroupMode::Off => "cgroups are turned off in the sandbox configuration".to_owned(),
            _ if kind == CgroupKind::None => {
                let mut reason = "this host offers no usable cgroup hierarchy".to_owned();
                if !warnings.is_empty() {
                    reason.push_str(&format!(" ({})", warnings.join("; ")));
                }
                reason
            }
            _ => String::new(),
        };
        let via = |v2_controller: &str, v1_ready: bool, label: &str| -> Result<Via, String> {
            if kind == CgroupKind::None {
                Err(off_reason.clone())
            } else if v2_controllers.contains(v2_controller) {
                Ok(Via::V2)
            } else if v1_ready {
                Ok(Via::V1)
            } else if !wants_v1 {
                Err(format!(
                    "the cgroup v2 {v2_controller} controller is not usable here (and v1 is excluded by the configuration)"
                ))
            } else {
                Err(format!(
                    "neither the cgroup v2 {v2_controller} controller nor a v1 {label} hierarchy is usable here"
                ))
            }
        };
        let mut limits = BTreeMap::new();
        limits.insert(
            LimitKind::Memory.name(),
            match via("memory", v1_memory_base.is_some(), "memory") {
                Err(_) if kind != CgroupKind::None && !v1_memory && hierarchies.v1.contains_key("memory") => Err(
                    "the cgroup v2 memory controller is not usable, and the v1 memory hierarchy is only used when the configuration allows it (v1 memory hierarchies are often the host's own)".to_owned(),
                ),
                other => other,
            },
        );
        limits.insert(
            LimitKind::MemoryHigh.name(),
            match via("memory", false, "memory") {
                Ok(via) => Ok(via),
                Err(_) if kind == CgroupKind::None => Err(off_reason.clone()),
                Err(_) => Err(
                    "it needs the cgroup v2 memory controller, which is not usable here".to_owned(),
                ),
            },
        );
        limits.insert(
            LimitKind::Cpu.name(),
            via("cpu", v1.contains_key("cpu"), "cpu"),
        );
        limits.insert(
            LimitKind::Pids.name(),
            via("pids", v1.contains_key("pids"), "pids"),
        );
        if mode == CgroupMode::Auto && kind == CgroupKind::None {
            warnings.push(format!("{off_reason}: resource limits are off"));
        } else if kind != CgroupKind::None && limits.values().all(Result::is_err) {
            warnings.push(
                "no resource limit can be enforced with these cgroups (they still give tree kills and accounting)"
                    .to_owned(),
            );
        }
        Ok(Self {
            kind,
            name,
            v2,
            v1,
            v1_memory_base,
            v1_memory_ready: std::sync::OnceLock::new(),
            limits,
            tree,
            emulated,
            next: AtomicU64::new(0),
            warnings,
        })
    }

    pub(crate) fn kind(&self) -> CgroupKind {
        self.kind
    }

    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The limits this host can enforce, by wire name.
    pub(crate) fn enforceable(&self) -> Vec<&'static str> {
        LimitKind::ALL
            .into_iter()
            .map(LimitKind::name)
            .filter(|name| matches!(self.limits.get(name), Some(Ok(_))))
            .collect()
    }

    /// Why `limits` cannot be enforced here, naming the first limit that
    /// cannot.
    pub(crate) fn check(&self, limits: &ResourceLimits) -> Result<(), String> {
        for kind in LimitKind::ALL {
            if kind.get(limits).is_none() {
                continue;
            }
            if let Some(Err(reason)) = self.limits.get(kind.name()) {
                return Err(format!(
                    "limits.{} cannot be enforced on this host: {reason}.",
                    kind.name()
                ));
            }
        }
        Ok(())
    }

    fn via(&self, kind: LimitKind) -> Option<Via> {
        self.limits
            .get(kind.name())
            .and_then(|via| via.clone().ok())
    }

    /// Creates a fresh cgroup for one process, with `limits` (already
    /// [checked](Self::check)). `Ok(None)` when cgroups are off.
    pub(crate) fn create(
        &self,
        limits: &ResourceLimits,
    ) -> Result<Option<ProcessCgroup>, (String, io::Error)> {
        if self.kind == CgroupKind::None {
            return Ok(None);
        }
        let name = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let mut cgroup = ProcessCgroup {
            v2: None,
            v1: BTreeMap::new(),
            tree: self.tree,
            emulated: self.emulated,
            limited: Limited {
                pids: limits.pids.is_some(),
                cpu: limits.cpu_millicores.is_some(),
            },
        };
        // On failure, what was created so far is removed with `cgroup`.
        let result = self.populate(&mut cgroup, &name, limits);
        match result {
            Ok(()) => Ok(Some(cgroup)),
            Err(error) => {
                cgroup.remove();
                Err(error)
            }
        }
    }

    fn populate(
        &self,
        cgroup: &mut ProcessCgroup,
        name: &str,
        limits: &ResourceLimits,
    ) -> Result<(), (String, io::Error)> {
        let make = |dir: PathBuf| -> Result<PathBuf, (String, io::Error)> {
            fs::create_dir(&dir)
                .map_err(|error| (format!("create cgroup {}", dir.display()), error))?;
            if self.emulated {
                // A real cgroup comes with its control files.
                write_control(&dir.join("cgroup.procs"), "", true)
                    .map_err(|error| (format!("create {}/cgroup.procs", dir.display()), error))?;
            }
            Ok(dir)
        };
        if let Some(parent) = &self.v2 {
            cgroup.v2 = Some(make(parent.join(name))?);
        }
        let wants = |kind: LimitKind| kind.get(limits).is_some() && self.via(kind) == Some(Via::V1);
        for (controller, parent) in &self.v1 {
            // In hybrid mode v1 is only for limits; alone, it also tracks.
            let needed = match *controller {
                "pids" => wants(LimitKind::Pids) || self.v2.is_none(),
                "cpu" => wants(LimitKind::Cpu),
                _ => self.v2.is_none(),
            };
            if needed {
                let dir = parent.join(name);
                // Controllers mounted together share one directory.
                if cgroup.v1.values().any(|created| *created == dir) {
                    cgroup.v1.insert(*controller, dir);
                } else {
                    cgroup.v1.insert(*controller, make(dir)?);
                }
            }
        }
        if wants(LimitKind::Memory) {
            let parent = self
                .v1_memory_parent()
                .map_err(|reason| (reason, io::Error::from_raw_os_error(libc::EIO)))?;
            cgroup.v1.insert("memory", make(parent.join(name))?);
        }

        let write = |dir: &Path, file: &str, value: String| -> Result<(), (String, io::Error)> {
            let path = dir.join(file);
            write_control(&path, &value, self.emulated)
                .map_err(|error| (format!("write {value:?} to {}", path.display()), error))
        };
        if let (Some(dir), Some(Via::V2)) = (&cgroup.v2, self.via(LimitKind::Memory))
            && let Some(bytes) = limits.memory_bytes
        {
            write(dir, "memory.max", bytes.to_string())?;
            // Without swap accounting a limit could be dodged by swapping.
            if dir.join("memory.swap.max").exists() {
                write(dir, "memory.swap.max", "0".to_owned())?;
            }
        }
        if let (Some(dir), Some(bytes)) = (&cgroup.v2, limits.memory_high_bytes) {
            write(dir, "memory.high", bytes.to_string())?;
        }
        if let (Some(dir), Some(Via::V2), Some(millis)) =
            (&cgroup.v2, self.via(LimitKind::Cpu), limits.cpu_millicores)
        {
            write(
                dir,
                "cpu.max",
                format!("{} {CPU_PERIOD_US}", cpu_quota_us(millis)),
            )?;
        }
        if let (Some(dir), Some(Via::V2), Some(pids)) =
            (&cgroup.v2, self.via(LimitKind::Pids), limits.pids)
        {
            write(dir, "pids.max", pids.to_string())?;
        }
        if let (Some(dir), Some(bytes)) = (cgroup.v1.get("memory"), limits.memory_bytes) {
            write(dir, "memory.limit_in_bytes", bytes.to_string())?;
        }
        if let (Some(dir), Some(millis)) = (cgroup.v1.get("cpu"), limits.cpu_millicores) {
            write(dir, "cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
            write(dir, "cpu.cfs_quota_us", cpu_quota_us(millis).to_string())?;
        }
        if let (Some(dir), Some(pids)) = (cgroup.v1.get("pids"), limits.pids) {
            write(dir, "pids.max", pids.to_string())?;
        }
        Ok(())
    }

    /// agentproc's parent in the v1 memory hierarchy, created on first use.
    fn v1_memory_parent(&self) -> Result<PathBuf, String> {
        self.v1_memory_ready
            .get_or_init(|| {
                let base = self
                    .v1_memory_base
                    .as_ref()
                    .ok_or_else(|| "no v1 memory hierarchy".to_owned())?;
                let dir = base.join(&self.name);
                match fs::create_dir(&dir) {
                    Ok(()) => Ok(dir),
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
                    Err(error) => Err(format!(
                        "cannot create the v1 memory cgroup {}: {}",
                        dir.display(),
                        describe(&error)
                    )),
                }
            })
            .clone()
    }

    /// Removes agentproc's parent cgroups (once every process cgroup is
    /// gone). Errors are logged: this runs at shutdown.
    pub(crate) fn remove_parents(&self) {
        let mut dirs: Vec<&PathBuf> = self.v2.iter().chain(self.v1.values()).collect();
        if let Some(Ok(memory)) = self.v1_memory_ready.get() {
            dirs.push(memory);
        }
        dirs.dedup();
        for dir in dirs {
            match remove_tree(dir, self.emulated) {
                Ok(()) => {}
                // Still in use: processes outlived the sandbox.
                Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {
                    tracing::debug!(cgroup = %dir.display(), "agentproc's cgroup is still in use");
                }
                Err(error) => {
                    tracing::warn!(cgroup = %dir.display(), %error, "cannot remove agentproc's cgroup");
                }
            }
        }
    }
}

impl Drop for Cgroups {
    /// A sandbox that failed to set up, or was dropped without shutdown,
    /// leaves no empty cgroups behind (non-empty ones stay: their processes
    /// run on).
    fn drop(&mut self) {
        self.remove_parents();
    }
}

/// `cpu.max` / `cpu.cfs_period_us`: 100 ms, the kernel's default period.
const CPU_PERIOD_US: u64 = 100_000;

/// The quota per period for `millicores` (the kernel's minimum is 1 ms).
fn cpu_quota_us(millicores: u64) -> u64 {
    (millicores.saturating_mul(CPU_PERIOD_US) / 1000).max(1000)
}

/// The cgroups of one process (one per hierarchy used).
#[derive(Debug)]
pub(crate) struct ProcessCgroup {
    v2: Option<PathBuf>,
    v1: BTreeMap<&'static str, PathBuf>,
    tree: TreeControl,
    emulated: bool,
    /// Which limits it has (their counters are reported only then).
    limited: Limited,
}

#[derive(Debug, Clone, Copy, Default)]
struct Limited {
    pids: bool,
    cpu: bool,
}

/// What a process tree consumed, from its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TreeStats {
    pub(crate) oom_kills: u64,
    pub(crate) user_cpu: Option<Duration>,
    pub(crate) system_cpu: Option<Duration>,
    pub(crate) memory_peak: Option<u64>,
    /// Forks refused by the pids limit (when there is one).
    pub(crate) forks_refused: Option<u64>,
    /// Time throttled by the CPU limit (when there is one).
    pub(crate) cpu_throttled: Option<Duration>,
}

impl ProcessCgroup {
    /// The `cgroup.procs` files the child writes itself into, before it
    /// runs anything.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.v2
            .iter()
            .chain(self.v1.values())
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// The directories, for logs and tests.
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        self.v2.iter().chain(self.v1.values()).cloned().collect()
    }

    /// The directory whose `cgroup.procs` lists every member.
    fn tracking_dir(&self) -> Option<&PathBuf> {
        self.v2
            .as_ref()
            .or_else(|| self.v1.get("freezer"))
            .or_else(|| self.v1.get("pids"))
            .or_else(|| self.v1.values().next())
    }

    /// The pids of every member, including those in cgroups the tree made
    /// below its own (a command may create sub-cgroups).
    pub(crate) fn members(&self) -> io::Result<Vec<u32>> {
        let Some(dir) = self.tracking_dir() else {
            return Ok(Vec::new());
        };
        let mut members = Vec::new();
        collect_members(dir, &mut members)?;
        Ok(members)
    }

    /// Whether any process is left in it.
    pub(crate) fn is_populated(&self) -> bool {
        if let Some(dir) = &self.v2
            && let Ok(events) = fs::read_to_string(dir.join("cgroup.events"))
        {
            return field(&events, "populated").is_some_and(|value| value != 0);
        }
        self.members().is_ok_and(|members| !members.is_empty())
    }

    /// Whether this cgroup can kill (and signal) every member of the tree,
    /// including those that left the process group.
    pub(crate) fn controls_tree(&self) -> bool {
        self.tree != TreeControl::None
    }

    /// Sends `signal` to every member. `SIGKILL` uses `cgroup.kill` on v2;
    /// other signals, and `SIGKILL` on v1, are delivered with the tree
    /// frozen, so no member can fork or exit (and free its pid) meanwhile.
    /// Returns how many members there were (0: nothing to signal).
    pub(crate) fn signal(&self, signal: Signal) -> io::Result<usize> {
        let members = self.members()?;
        if members.is_empty() {
            return Ok(0);
        }
        match (self.tree, signal) {
            (TreeControl::V2, Signal::Kill) => {
                let dir = self.v2.as_ref().ok_or_else(missing)?;
                write_control(&dir.join("cgroup.kill"), "1", self.emulated)?;
            }
            (TreeControl::V2 | TreeControl::V1Freezer, _) => {
                let frozen = Frozen::new(self)?;
                // Listed again: the tree could not change once frozen.
                for pid in self.members()? {
                    send(pid, signal);
                }
                drop(frozen);
            }
            (TreeControl::None, _) => {
                for pid in members.iter().copied() {
                    send(pid, signal);
                }
            }
        }
        Ok(members.len())
    }

    /// Reads what the tree consumed and whether the OOM killer struck.
    pub(crate) fn stats(&self) -> TreeStats {
        let mut stats = TreeStats::default();
        if let Some(dir) = &self.v2 {
            if let Ok(cpu) = fs::read_to_string(dir.join("cpu.stat")) {
                stats.user_cpu = field(&cpu, "user_usec").map(Duration::from_micros);
                stats.system_cpu = field(&cpu, "system_usec").map(Duration::from_micros);
            }
            if let Ok(events) = fs::read_to_string(dir.join("memory.events")) {
                stats.oom_kills = field(&events, "oom_kill").unwrap_or(0);
            }
            stats.memory_peak = read_number(&dir.join("memory.peak"));
            if self.limited.pids {
                stats.forks_refused = read_field(dir, "pids.events", "max");
            }
            if self.limited.cpu {
                stats.cpu_throttled =
                    read_field(dir, "cpu.stat", "throttled_usec").map(Duration::from_micros);
            }
        }
        if let Some(dir) = self.v1.get("pids")
            && self.limited.pids
        {
            stats.forks_refused = stats
                .forks_refused
                .or_else(|| read_field(dir, "pids.events", "max"));
        }
        if let Some(dir) = self.v1.get("cpu")
            && self.limited.cpu
        {
            // Nanoseconds.
            stats.cpu_throttled = stats.cpu_throttled.or_else(|| {
                read_field(dir, "cpu.stat", "throttled_time").map(Duration::from_nanos)
            });
        }
        if let Some(dir) = self.v1.get("cpuacct") {
            // Nanoseconds.
            stats.user_cpu = stats
                .user_cpu
                .or_else(|| read_number(&dir.join("cpuacct.usage_user")).map(Duration::from_nanos));
            stats.system_cpu = stats
                .system_cpu
                .or_else(|| read_number(&dir.join("cpuacct.usage_sys")).map(Duration::from_nanos));
        }
        if let Some(dir) = self.v1.get("memory") {
            if let Ok(control) = fs::read_to_string(dir.join("memory.oom_control")) {
                stats.oom_kills = stats
                    .oom_kills
                    .max(field(&control, "oom_kill").unwrap_or(0));
            }
            stats.memory_peak = stats
                .memory_peak
                .or_else(|| read_number(&dir.join("memory.max_usage_in_bytes")));
        }
        stats
    }

    /// Removes every directory of it (sub-cgroups first). `true` once all
    /// are gone; `false` while members remain (the caller retries later).
    /// Never waits: the kernel may report a just-emptied cgroup busy for a
    /// moment, and the next attempt then succeeds.
    pub(crate) fn remove(&self) -> bool {
        let mut done = true;
        let mut dirs: Vec<&PathBuf> = self.v2.iter().chain(self.v1.values()).collect();
        dirs.dedup();
        for dir in dirs {
            match remove_tree(dir, self.emulated) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(libc::EBUSY) => done = false,
                Err(error) => {
                    tracing::warn!(cgroup = %dir.display(), %error, "cannot remove a process cgroup");
                }
            }
        }
        done
    }
}

/// The tree frozen, until dropped.
struct Frozen<'a> {
    cgroup: &'a ProcessCgroup,
}

/// How long to wait for a tree to freeze before signalling it anyway.
const FREEZE_WAIT: Duration = Duration::from_millis(200);

impl<'a> Frozen<'a> {
    fn new(cgroup: &'a ProcessCgroup) -> io::Result<Self> {
        let started = Instant::now();
        match cgroup.tree {
            TreeControl::V2 => {
                let dir = cgroup.v2.as_ref().ok_or_else(missing)?;
                write_control(&dir.join("cgroup.freeze"), "1", cgroup.emulated)?;
                while !cgroup.emulated
                    && started.elapsed() < FREEZE_WAIT
                    && fs::read_to_string(dir.join("cgroup.events"))
                        .is_ok_and(|events| field(&events, "frozen") != Some(1))
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            TreeControl::V1Freezer => {
                let dir = cgroup.v1.get("freezer").ok_or_else(missing)?;
                let state = dir.join("freezer.state");
                write_control(&state, "FROZEN", cgroup.emulated)?;
                // Reads FREEZING until every task has stopped.
                while !cgroup.emulated
                    && started.elapsed() < FREEZE_WAIT
                    && fs::read_to_string(&state).is_ok_and(|text| text.trim() != "FROZEN")
                {
                    std::thread::sleep(Duration::from_micros(200));
                    let _ = write_control(&state, "FROZEN", false);
                }
            }
            TreeControl::None => {}
        }
        Ok(Self { cgroup })
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let cgroup = self.cgroup;
        let result = match cgroup.tree {
            TreeControl::V2 => cgroup
                .v2
                .as_ref()
                .map(|dir| write_control(&dir.join("cgroup.freeze"), "0", cgroup.emulated)),
            TreeControl::V1Freezer => cgroup
                .v1
                .get("freezer")
                .map(|dir| write_control(&dir.join("freezer.state"), "THAWED", cgroup.emulated)),
            TreeControl::None => None,
        };
        if let Some(Err(error)) = result {
            tracing::warn!(%error, "cannot thaw a process cgroup");
        }
    }
}

fn send(pid: u32, signal: Signal) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    let signal = match signal {
        Signal::Kill => nix::sys::signal::Signal::SIGKILL,
        Signal::Terminate => nix::sys::signal::Signal::SIGTERM,
        Signal::Interrupt => nix::sys::signal::Signal::SIGINT,
        Signal::Hangup => nix::sys::signal::Signal::SIGHUP,
    };
    // A member may have exited since it was listed (only without a
    // freezer): nothing to do then.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

fn missing() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// Prepares the v2 side: controllers enabled for agentproc's parent, and
/// the parent itself. Returns the parent and the controllers its children
/// get.
fn prepare_v2(
    base: &Path,
    name: &str,
    emulated: bool,
    warnings: &mut Vec<String>,
) -> Result<(PathBuf, BTreeSet<String>), String> {
    const WANTED: [&str; 3] = ["cpu", "memory", "pids"];
    let available = read_list(&base.join("cgroup.controllers"));
    let enabled = read_list(&base.join("cgroup.subtree_control"));
    let missing: Vec<&str> = WANTED
        .into_iter()
        .filter(|c| available.contains(*c) && !enabled.contains(*c))
        .collect();
    let subtree = base.join("cgroup.subtree_control");
    let mut moved = false;
    for controller in missing {
        let mut result = write_control(&subtree, &format!("+{controller}"), emulated);
        if result
            .as_ref()
            .is_err_and(|error| error.raw_os_error() == Some(libc::EBUSY))
            && !moved
        {
            // v2 allows no processes in a cgroup that delegates controllers.
            // Move agentproc into a leaf of its own if it is alone here.
            match move_self_to_leaf(base) {
                Ok(leaf) => {
                    moved = true;
                    tracing::info!(leaf = %leaf.display(), "moved agentproc into a leaf cgroup so that its commands' cgroups can have controllers");
                    result = write_control(&subtree, &format!("+{controller}"), emulated);
                }
                Err(reason) => {
                    warnings.push(format!(
                        "cannot enable the {controller} controller in {}: {reason}",
                        base.display()
                    ));
                    continue;
                }
            }
        }
        if let Err(error) = result {
            warnings.push(format!(
                "cannot enable the {controller} controller in {}: {}",
                base.display(),
                describe(&error)
            ));
        }
    }
    let dir = base.join(name);
    fs::create_dir(&dir).map_err(|error| {
        format!(
            "cannot use the cgroup v2 hierarchy: cannot create {}: {}",
            dir.display(),
            describe(&error)
        )
    })?;
    let offered = if emulated {
        read_list(&base.join("cgroup.subtree_control"))
    } else {
        read_list(&dir.join("cgroup.controllers"))
    };
    for controller in WANTED.into_iter().filter(|c| offered.contains(*c)) {
        if let Err(error) = write_control(
            &dir.join("cgroup.subtree_control"),
            &format!("+{controller}"),
            emulated,
        ) {
            warnings.push(format!(
                "cannot enable the {controller} controller in {}: {}",
                dir.display(),
                describe(&error)
            ));
        }
    }
    let controllers = if emulated {
        WANTED
            .into_iter()
            .filter(|c| offered.contains(*c))
            .map(str::to_owned)
            .collect()
    } else {
        read_list(&dir.join("cgroup.subtree_control"))
    };
    Ok((dir, controllers))
}

/// Moves this process into `base/agentproc-self-<pid>` when it is the only
/// process in `base`.
fn move_self_to_leaf(base: &Path) -> Result<PathBuf, String> {
    let own = std::process::id();
    let procs = fs::read_to_string(base.join("cgroup.procs")).map_err(|e| describe(&e))?;
    let others: Vec<&str> = procs
        .split_whitespace()
        .filter(|pid| pid.parse() != Ok(own))
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "other processes ({}) share agentproc's cgroup, and cgroup v2 allows no processes in a cgroup that delegates controllers; run agentproc in a cgroup of its own",
            others.join(", ")
        ));
    }
    let leaf = base.join(format!("agentproc-self-{own}"));
    match fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(describe(&error)),
    }
    write_control(&leaf.join("cgroup.procs"), &own.to_string(), false)
        .map_err(|error| describe(&error))?;
    Ok(leaf)
}

/// Kills and removes cgroups that an agentproc which is no longer running
/// left under `base` (after a crash). Waits (briefly) for what it killed to
/// go, so the directories can be removed.
fn sweep_stale(base: &Path, emulated: bool) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(stale_owner) else {
            continue;
        };
        if owner.is_alive() {
            continue;
        }
        let dir = entry.path();
        tracing::warn!(cgroup = %dir.display(), "removing cgroups an earlier agentproc left behind");
        let mut members = Vec::new();
        let _ = collect_members(&dir, &mut members);
        kill_all(&dir, &members);
        let deadline = Instant::now() + STALE_KILL_WAIT;
        loop {
            match remove_tree(&dir, emulated) {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(error) => {
                    tracing::warn!(cgroup = %dir.display(), %error, "cannot remove a stale cgroup");
                    break;
                }
            }
        }
    }
}

/// How long the sweep waits for killed leftovers to exit.
const STALE_KILL_WAIT: Duration = Duration::from_secs(2);

/// Who made an `agentproc-…` cgroup.
#[derive(Debug, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// Its start time (clock ticks after boot); `None` in the older
    /// `agentproc-<pid>-<n>` and `agentproc-self-<pid>` names.
    start_time: Option<u64>,
}

impl Owner {
    /// Whether that very process still runs (not a zombie, not a later
    /// process with the same pid).
    fn is_alive(&self) -> bool {
        match process_stat(self.pid) {
            Some((state, start_time)) => {
                state != 'Z'
                    && self
                        .start_time
                        .is_none_or(|expected| expected == start_time)
            }
            None => false,
        }
    }
}

/// `agentproc-<pid>-<start time>-<n>`, `agentproc-<pid>-<n>` (older) or
/// `agentproc-self-<pid>`.
fn stale_owner(name: &str) -> Option<Owner> {
    let rest = name.strip_prefix("agentproc-")?;
    if let Some(pid) = rest.strip_prefix("self-") {
        return Some(Owner {
            pid: pid.parse().ok()?,
            start_time: None,
        });
    }
    let parts: Vec<&str> = rest.split('-').collect();
    let numbers: Option<Vec<u64>> = parts.iter().map(|part| part.parse().ok()).collect();
    match numbers?.as_slice() {
        [pid, start_time, _] => Some(Owner {
            pid: u32::try_from(*pid).ok()?,
            start_time: Some(*start_time),
        }),
        [pid, _] => Some(Owner {
            pid: u32::try_from(*pid).ok()?,
            start_time: None,
        }),
        _ => None,
    }
}

/// The state and start time of process `pid`, from `/proc/<pid>/stat`.
fn process_stat(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// This process's start time (clock ticks after boot).
fn own_start_time() -> Option<u64> {
    process_stat(std::process::id()).map(|(_, start_time)| start_time)
}

/// `SIGKILL` to a whole stale tree: `cgroup.kill` where there is one, else
/// every listed member.
fn kill_all(dir: &Path, members: &[u32]) {
    if write_control(&dir.join("cgroup.kill"), "1", false).is_err() {
        for pid in members.iter().copied() {
            send(pid, Signal::Kill);
        }
    }
}

/// The members of `dir` and of every cgroup below it.
fn collect_members(dir: &Path, members: &mut Vec<u32>) -> io::Result<()> {
    let text = match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => text,
        // Removed once it emptied: nobody is left.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    members.extend(
        text.split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .filter(|pid| *pid != 0),
    );
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                collect_members(&entry.path(), members)?;
            }
        }
    }
    Ok(())
}

/// `rmdir` of `dir` and the cgroups below it, deepest first. On a plain
/// (emulated) tree, a recursive removal.
fn remove_tree(dir: &Path, emulated: bool) -> io::Result<()> {
    if emulated {
        return match fs::remove_dir_all(dir) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                remove_tree(&entry.path(), false)?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes a control file. On an emulated tree the file is created.
fn write_control(path: &Path, value: &str, emulated: bool) -> io::Result<()> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(emulated)
        .truncate(emulated)
        .open(path)?;
    file.write_all(value.as_bytes())
}

/// Whether `dir` is on a cgroup filesystem (v1 or v2).
fn is_cgroupfs(dir: &Path) -> bool {
    use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, statfs};
    statfs(dir).is_ok_and(|fs| {
        let kind = fs.filesystem_type();
        kind == CGROUP2_SUPER_MAGIC || kind == CGROUP_SUPER_MAGIC
    })
}

/// The words of a file (`cgroup.controllers`), empty when unreadable.
fn read_list(path: &Path) -> BTreeSet<String> {
    fs::read_to_string(path)
        .map(|text| text.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in the flat-keyed `file` of `dir`.
fn read_field(dir: &Path, file: &str, key: &str) -> Option<u64> {
    field(&fs::read_to_string(dir.join(file)).ok()?, key)
}

/// The value of `key` in a flat-keyed file (`cpu.stat`, `memory.events`).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

fn describe(error: &io::Error) -> String {
    agentproc_core::exec::describe_io_error(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files() {
        let stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnice_usec 0\n";
        assert_eq!(field(stat, "user_usec"), Some(1000));
        assert_eq!(field(stat, "system_usec"), Some(500));
        assert_eq!(field(stat, "usage"), None);
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(field(oom, "oom_kill"), Some(2));
    }

    #[test]
    fn cpu_quota_is_per_100ms_with_a_1ms_floor() {
        assert_eq!(cpu_quota_us(1000), 100_000);
        assert_eq!(cpu_quota_us(1500), 150_000);
        assert_eq!(cpu_quota_us(200), 20_000);
        assert_eq!(cpu_quota_us(1), 1000);
    }

    #[test]
    fn stale_cgroup_names() {
        let owner = |pid, start_time| Some(Owner { pid, start_time });
        assert_eq!(stale_owner("agentproc-123-4567-0"), owner(123, Some(4567)));
        assert_eq!(stale_owner("agentproc-123-0"), owner(123, None));
        assert_eq!(stale_owner("agentproc-self-77"), owner(77, None));
        assert_eq!(stale_owner("agentproc-x-1"), None);
        assert_eq!(stale_owner("system.slice"), None);
        assert_eq!(stale_owner("agentproc-5"), None);
    }

    #[test]
    fn an_owner_is_alive_only_with_its_own_start_time() {
        let me = std::process::id();
        let started = own_start_time().expect("start time");
        assert!(
            Owner {
                pid: me,
                start_time: Some(started)
            }
            .is_alive()
        );
        assert!(
            Owner {
                pid: me,
                start_time: None
            }
            .is_alive()
        );
        // Same pid, another start: a later process, so the owner is gone.
        assert!(
            !Owner {
                pid: me,
                start_time: Some(started + 1)
            }
            .is_alive()
        );
        assert!(
            !Owner {
                pid: u32::MAX - 1,
                start_time: None
            }
            .is_alive()
        );
    }
}
