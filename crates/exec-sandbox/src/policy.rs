//! The sandbox's policy: what every process gets (niceness, OOM score,
//! rlimits), the default and maximum cgroup limits, and how a start's
//! requested limits are checked against them.

use std::fmt;

use agentproc_core::ResourceLimits;

use crate::cgroup::CgroupMode;

/// Scheduling niceness for the processes the sandbox starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Niceness {
    /// Leave it as inherited from agentproc.
    Inherit,
    /// This value (-20 to 19).
    Absolute(i32),
    /// agentproc's own niceness plus this, kept within -20..=19.
    Relative(i32),
}

impl Default for Niceness {
    /// agentproc's own + 5, as Coder's `agent-exec` does.
    fn default() -> Self {
        Self::Relative(5)
    }
}

impl Niceness {
    /// The value to set, given agentproc's own niceness; `None` to inherit.
    pub fn resolve(self, own: i32) -> Option<i32> {
        match self {
            Self::Inherit => None,
            Self::Absolute(nice) => Some(nice.clamp(-20, 19)),
            Self::Relative(delta) => Some(own.saturating_add(delta).clamp(-20, 19)),
        }
    }
}

/// The kernel OOM killer's preference (`oom_score_adj`, -1000 to 1000) for
/// the processes the sandbox starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OomScoreAdj {
    /// Leave it as inherited from agentproc.
    Inherit,
    /// Coder's `agent-exec` rule: 0 if agentproc's own is negative, 1000 if
    /// it is 998 or more, else 998. Commands die before agentproc does.
    #[default]
    Auto,
    /// This value.
    Value(i32),
}

impl OomScoreAdj {
    /// The value to set, given agentproc's own; `None` to inherit.
    pub fn resolve(self, own: i32) -> Option<i32> {
        match self {
            Self::Inherit => None,
            Self::Auto if own < 0 => Some(0),
            Self::Auto if own >= 998 => Some(1000),
            Self::Auto => Some(998),
            Self::Value(value) => Some(value.clamp(-1000, 1000)),
        }
    }
}

/// Resource limits set with `setrlimit` (soft and hard) in each process.
/// `None` leaves the inherited limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rlimits {
    /// `RLIMIT_NOFILE`: open file descriptors.
    pub open_files: Option<u64>,
    /// `RLIMIT_CORE`: core dump size in bytes (0: no core dumps).
    pub core_bytes: Option<u64>,
    /// `RLIMIT_AS`: address space in bytes.
    pub address_space_bytes: Option<u64>,
    /// `RLIMIT_CPU`: CPU seconds; past it the process gets `SIGXCPU`, and
    /// `SIGKILL` one second later.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_FSIZE`: the largest file it may write, in bytes.
    pub file_size_bytes: Option<u64>,
}

impl Rlimits {
    /// `(name, resource, value)` for each limit that is set.
    pub(crate) fn each(&self) -> Vec<(&'static str, Resource, u64)> {
        [
            ("rlimit_nofile", Resource::OpenFiles, self.open_files),
            ("rlimit_core", Resource::Core, self.core_bytes),
            (
                "rlimit_as",
                Resource::AddressSpace,
                self.address_space_bytes,
            ),
            ("rlimit_cpu", Resource::Cpu, self.cpu_seconds),
            ("rlimit_fsize", Resource::FileSize, self.file_size_bytes),
        ]
        .into_iter()
        .filter_map(|(name, resource, value)| Some((name, resource, value?)))
        .collect()
    }
}

/// The rlimit resources the sandbox sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    OpenFiles,
    Core,
    AddressSpace,
    Cpu,
    FileSize,
}

/// Everything the sandbox applies. `Default` is Coder's `agent-exec`
/// behaviour (nice + 5, OOM score 998) with cgroups detected and no limits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SandboxConfig {
    /// Niceness of every process.
    pub niceness: Niceness,
    /// OOM score of every process.
    pub oom_score_adj: OomScoreAdj,
    /// rlimits of every process.
    pub rlimits: Rlimits,
    /// Which cgroup hierarchies to use.
    pub cgroups: CgroupMode,
    /// Use the v1 memory hierarchy for memory limits (when v2 has no memory
    /// controller). Off by default: on many hosts it is the host's own
    /// machinery, and agentproc does not write under cgroups it does not
    /// own without being told it may.
    pub v1_memory: bool,
    /// Limits for starts that ask for none (each limit separately).
    pub default_limits: ResourceLimits,
    /// The most a start may ask for. Where no maximum is set, the default
    /// is the maximum (a start may only lower it); where neither is set, a
    /// start may ask for any value.
    pub max_limits: ResourceLimits,
    /// Per-command isolation (network, filesystem): the default, the floor,
    /// and how to enforce it.
    pub isolation: crate::isolation::IsolationConfig,
}

/// One limit of [`ResourceLimits`], by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Memory,
    MemoryHigh,
    Cpu,
    Pids,
}

impl LimitKind {
    pub(crate) const ALL: [Self; 4] = [Self::Memory, Self::MemoryHigh, Self::Cpu, Self::Pids];

    /// The wire name, as in `limits.memory_bytes`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory_bytes",
            Self::MemoryHigh => "memory_high_bytes",
            Self::Cpu => "cpu_cores",
            Self::Pids => "pids",
        }
    }

    pub(crate) fn get(self, limits: &ResourceLimits) -> Option<u64> {
        match self {
            Self::Memory => limits.memory_bytes,
            Self::MemoryHigh => limits.memory_high_bytes,
            Self::Cpu => limits.cpu_millicores,
            Self::Pids => limits.pids,
        }
    }

    /// `value` as a person reads it.
    fn show(self, value: u64) -> String {
        match self {
            Self::Cpu => format!("{} cores", Cores(value)),
            Self::Memory | Self::MemoryHigh => format!("{value} bytes"),
            Self::Pids => value.to_string(),
        }
    }
}

/// Thousandths of a core, shown as a decimal number of cores.
struct Cores(u64);

impl fmt::Display for Cores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let text = format!("{whole}.{frac:03}");
            f.write_str(text.trim_end_matches('0'))
        }
    }
}

impl SandboxConfig {
    /// The limits for a start that asked for `requested`: each requested
    /// limit checked against its maximum, the rest from the defaults.
    ///
    /// # Errors
    /// A sentence naming the first limit above its maximum.
    pub(crate) fn effective_limits(
        &self,
        requested: &ResourceLimits,
    ) -> Result<ResourceLimits, String> {
        for kind in LimitKind::ALL {
            let Some(asked) = kind.get(requested) else {
                continue;
            };
            let max = kind
                .get(&self.max_limits)
                .or_else(|| kind.get(&self.default_limits));
            if let Some(max) = max
                && asked > max
            {
                return Err(format!(
                    "limits.{} of {} is above this agentproc's maximum of {}.",
                    kind.name(),
                    kind.show(asked),
                    kind.show(max)
                ));
            }
        }
        Ok(requested.or(self.default_limits))
    }

    /// The most a start may ask for: the maximum, else the default.
    pub(crate) fn ceiling(&self) -> ResourceLimits {
        self.max_limits.or(self.default_limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niceness_follows_agent_exec() {
        assert_eq!(Niceness::default().resolve(0), Some(5));
        assert_eq!(Niceness::default().resolve(17), Some(19));
        assert_eq!(Niceness::default().resolve(-20), Some(-15));
        assert_eq!(Niceness::Absolute(10).resolve(3), Some(10));
        assert_eq!(Niceness::Absolute(40).resolve(3), Some(19));
        assert_eq!(Niceness::Relative(-30).resolve(0), Some(-20));
        assert_eq!(Niceness::Inherit.resolve(3), None);
    }

    #[test]
    fn oom_score_follows_agent_exec() {
        assert_eq!(OomScoreAdj::Auto.resolve(-500), Some(0));
        assert_eq!(OomScoreAdj::Auto.resolve(0), Some(998));
        assert_eq!(OomScoreAdj::Auto.resolve(997), Some(998));
        assert_eq!(OomScoreAdj::Auto.resolve(998), Some(1000));
        assert_eq!(OomScoreAdj::Auto.resolve(1000), Some(1000));
        assert_eq!(OomScoreAdj::Value(5000).resolve(0), Some(1000));
        assert_eq!(OomScoreAdj::Inherit.resolve(0), None);
    }

    #[test]
    fn requests_are_checked_against_the_maximum_else_the_default() {
        let config = SandboxConfig {
            default_limits: ResourceLimits {
                pids: Some(512),
                cpu_millicores: Some(1000),
                ..ResourceLimits::default()
            },
            max_limits: ResourceLimits {
                cpu_millicores: Some(2500),
                ..ResourceLimits::default()
            },
            ..SandboxConfig::default()
        };
        // Nothing asked: the defaults.
        assert_eq!(
            config.effective_limits(&ResourceLimits::default()),
            Ok(config.default_limits)
        );
        // Up to the maximum.
        let asked = ResourceLimits {
            cpu_millicores: Some(2500),
            memory_bytes: Some(1 << 30),
            ..ResourceLimits::default()
        };
        assert_eq!(
            config.effective_limits(&asked),
            Ok(ResourceLimits {
                cpu_millicores: Some(2500),
                memory_bytes: Some(1 << 30),
                pids: Some(512),
                memory_high_bytes: None,
            })
        );
        // Above the maximum.
        let greedy = ResourceLimits {
            cpu_millicores: Some(3250),
            ..ResourceLimits::default()
        };
        assert_eq!(
            config.effective_limits(&greedy),
            Err(
                "limits.cpu_cores of 3.25 cores is above this agentproc's maximum of 2.5 cores."
                    .to_owned()
            )
        );
        // Without a maximum, the default caps (a start may only lower it).
        let more_pids = ResourceLimits {
            pids: Some(513),
            ..ResourceLimits::default()
        };
        assert_eq!(
            config.effective_limits(&more_pids),
            Err("limits.pids of 513 is above this agentproc's maximum of 512.".to_owned())
        );
    }
}
