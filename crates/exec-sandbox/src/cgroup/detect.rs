//! Where this process's cgroups are: which hierarchies are mounted (the
//! unified v2 one, v1 controllers), and this process's directory in each.
//! Pure parsing of `/proc/self/cgroup` and `/proc/self/mountinfo`, so every
//! host layout can be tested from text.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The v1 controllers the sandbox can use.
pub const V1_CONTROLLERS: [&str; 5] = ["pids", "cpu", "cpuacct", "memory", "freezer"];

/// This process's cgroup directories, per hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// The directory of this process's cgroup in the unified (v2)
    /// hierarchy, when one is mounted.
    pub v2: Option<PathBuf>,
    /// For each v1 controller of [`V1_CONTROLLERS`] that is mounted: the
    /// directory of this process's cgroup in its hierarchy.
    pub v1: BTreeMap<&'static str, PathBuf>,
}

impl Hierarchies {
    /// Reads this process's hierarchies from `/proc/self`.
    ///
    /// # Errors
    /// When `/proc/self/cgroup` or `/proc/self/mountinfo` cannot be read
    /// (no procfs).
    pub fn of_this_process() -> io::Result<Self> {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(Self::parse(&cgroup, &mountinfo))
    }

    /// Parses the contents of `/proc/self/cgroup` and
    /// `/proc/self/mountinfo`. Lines it does not understand are skipped.
    pub fn parse(cgroup: &str, mountinfo: &str) -> Self {
        let mounts: Vec<Mount<'_>> = mountinfo.lines().filter_map(Mount::parse).collect();
        let mut found = Self::default();
        for line in cgroup.lines() {
            // hierarchy-ID:controller-list:cgroup-path
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                found.v2 = mounts
                    .iter()
                    .find(|mount| mount.fstype == "cgroup2")
                    .and_then(|mount| mount.dir_of(path));
                continue;
            }
            let listed: Vec<&str> = controllers.split(',').collect();
            for controller in V1_CONTROLLERS {
                if !listed.contains(&controller) {
                    continue;
                }
                let mount = mounts.iter().find(|mount| {
                    mount.fstype == "cgroup"
                        && mount.super_options.split(',').any(|opt| opt == controller)
                });
                if let Some(dir) = mount.and_then(|mount| mount.dir_of(path)) {
                    found.v1.insert(controller, dir);
                }
            }
        }
        found
    }
}

/// One line of `/proc/self/mountinfo` (the fields we need).
struct Mount<'a> {
    /// The path inside the filesystem that is mounted (field 4).
    root: &'a str,
    /// Where it is mounted (field 5).
    mount_point: &'a str,
    fstype: &'a str,
    super_options: &'a str,
}

impl<'a> Mount<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        Some(Self {
            root: left.get(3)?,
            mount_point: left.get(4)?,
            fstype: right.next()?,
            super_options: {
                right.next()?;
                right.next().unwrap_or("")
            },
        })
    }

    /// The directory of cgroup `path` under this mount, when the mount shows
    /// it (its root is `path` or an ancestor of it).
    fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let relative = if self.root == "/" {
            path.trim_start_matches('/')
        } else {
            let rest = path.strip_prefix(self.root)?;
            if !rest.is_empty() && !rest.starts_with('/') {
                return None;
            }
            rest.trim_start_matches('/')
        };
        let mount_point = unescape(self.mount_point);
        Some(if relative.is_empty() {
            mount_point
        } else {
            Path::new(&mount_point).join(relative)
        })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes.get(at + 1..at + 4).filter(|digits| {
            bytes[at] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        if let Some(digits) = octal {
            let value = digits
                .iter()
                .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            at += 4;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's CI host: v1 controllers one per mount, an unused v2
    /// hierarchy at `unified`, and a memory cgroup set up by the host.
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/f226589405c554ea958fc721dc2bc6c4
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";
    const HYBRID_MOUNTS: &str = "\
23 1 253:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn a_hybrid_host() {
        let found = Hierarchies::parse(HYBRID_CGROUP, HYBRID_MOUNTS);
        assert_eq!(found.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(found.v1["pids"], Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(found.v1["cpu"], Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(found.v1["cpuacct"], Path::new("/sys/fs/cgroup/cpuacct"));
        assert_eq!(found.v1["freezer"], Path::new("/sys/fs/cgroup/freezer"));
        assert_eq!(
            found.v1["memory"],
            Path::new("/sys/fs/cgroup/memory/process_api/f226589405c554ea958fc721dc2bc6c4")
        );
        assert_eq!(found.v1.len(), 5);
    }

    #[test]
    fn a_pure_v2_host_in_a_service_cgroup() {
        let found = Hierarchies::parse(
            "0::/system.slice/agentproc.service\n",
            "24 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        );
        assert_eq!(
            found.v2,
            Some(PathBuf::from(
                "/sys/fs/cgroup/system.slice/agentproc.service"
            ))
        );
        assert!(found.v1.is_empty());
    }

    #[test]
    fn a_container_with_a_namespaced_v2_mount() {
        // Inside a cgroup namespace the path is "/" and so is the mount's
        // root; the mount is read-only (detected later, by trying).
        let found = Hierarchies::parse(
            "0::/\n",
            "700 690 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw\n",
        );
        assert_eq!(found.v2, Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn a_v1_host_with_combined_controllers() {
        let found = Hierarchies::parse(
            "4:cpu,cpuacct:/user.slice\n3:pids:/user.slice/user-1000.slice\n2:memory:/user.slice\n",
            "\
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
",
        );
        assert_eq!(found.v2, None);
        assert_eq!(
            found.v1["cpu"],
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice")
        );
        assert_eq!(found.v1["cpuacct"], found.v1["cpu"]);
        assert_eq!(
            found.v1["pids"],
            Path::new("/sys/fs/cgroup/pids/user.slice/user-1000.slice")
        );
        assert!(!found.v1.contains_key("freezer"));
    }

    #[test]
    fn a_mount_of_a_subtree_maps_paths_below_its_root() {
        // A container that bind-mounts only its own subtree.
        let found = Hierarchies::parse(
            "0::/docker/abc/inner\n",
            "50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(found.v2, Some(PathBuf::from("/sys/fs/cgroup/inner")));
        // A path outside the mounted subtree is not reachable.
        let outside = Hierarchies::parse(
            "0::/other\n",
            "50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(outside.v2, None);
    }

    #[test]
    fn no_cgroups_at_all() {
        let found = Hierarchies::parse("", "23 1 253:0 / / rw - ext4 /dev/vda rw\n");
        assert_eq!(found, Hierarchies::default());
        // v2 listed but not mounted.
        let unmounted = Hierarchies::parse("0::/\n", "23 1 253:0 / / rw - ext4 /dev/vda rw\n");
        assert_eq!(unmounted.v2, None);
    }

    #[test]
    fn escaped_mount_points() {
        let found = Hierarchies::parse(
            "0::/\n",
            "50 40 0:30 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(found.v2, Some(PathBuf::from("/mnt/my cgroups")));
    }
}
