//! Per-command isolation: the operator's policy (a default and a floor), a
//! start's request resolved against them, and its enforcement with
//! bubblewrap (user, mount, PID, IPC, UTS and network namespaces; a
//! read-only root, writable binds, denied paths covered, a private `/tmp`
//! and `/proc`), a seccomp filter passed to bubblewrap, `no_new_privs` and
//! no capabilities.
//!
//! Deciding the policy is plain logic ([`IsolationConfig::effective`]),
//! tested without a kernel; building the bubblewrap command line
//! ([`bwrap_args`]) and the seccomp filter is too. A policy this host
//! cannot enforce is refused with the reason, never weakened.

pub(crate) mod seccomp;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use agentproc_core::exec::{
    AppliedIsolation, Isolation, IsolationRequest, NetworkAccess, ReadAccess,
};

/// Secret locations the `"workspace"` shorthand denies, relative to the
/// home directory.
pub const WORKSPACE_DENIED_IN_HOME: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".docker",
    ".kube",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
];

/// Absolute secret locations the `"workspace"` shorthand denies.
pub const WORKSPACE_DENIED: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

/// System directories a policy with `read` as a list can still read: the
/// shell, libraries and configuration every program needs.
pub const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// How the operator isolates commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsolationConfig {
    /// The policy of starts that name none (`None`: no isolation, as in
    /// Coder).
    pub default: Option<IsolationRequest>,
    /// The floor: no start may be looser (`None`: no floor). Starts that
    /// name no policy and have no default get the floor itself.
    pub minimum: Option<IsolationRequest>,
    /// What `~` expands to.
    pub home: Option<PathBuf>,
    /// Paths every isolated command is denied, whatever it asks: agentproc's
    /// own state (its journal, the output logs of other commands, its
    /// socket), which the binary fills in.
    pub always_deny: Vec<PathBuf>,
    /// Secret locations of this host the `"workspace"` shorthand denies
    /// besides [`WORKSPACE_DENIED`] and [`WORKSPACE_DENIED_IN_HOME`]: the
    /// binary adds the SSH agent's socket (`$SSH_AUTH_SOCK`), which a
    /// command could otherwise ask to sign with the user's keys (a Unix
    /// socket is reachable without a network).
    pub secrets: Vec<PathBuf>,
    /// The bubblewrap binary (the binary finds it in `PATH`); `None`: no
    /// isolation on this host, and policies are refused saying so.
    pub bwrap: Option<PathBuf>,
}

impl IsolationConfig {
    /// The policy for a start asking for `requested` in `workdir`, with
    /// every path resolved; `Ok(None)` when nothing isolates it.
    ///
    /// # Errors
    /// A sentence naming the rule when the request is looser than the
    /// floor.
    pub fn effective(
        &self,
        requested: Option<&IsolationRequest>,
        workdir: &Path,
    ) -> Result<Option<Isolation>, String> {
        let floor = self
            .minimum
            .as_ref()
            .map(|floor| self.resolve(floor, workdir));
        let chosen = match requested.or(self.default.as_ref()) {
            Some(request) => self.resolve(request, workdir),
            None => match &floor {
                Some(floor) => floor.clone(),
                None => return Ok(None),
            },
        };
        let mut policy = chosen;
        if let Some(floor) = &floor {
            check_floor(&policy, floor)?;
            for path in &floor.deny {
                if !policy.deny.contains(path) {
                    policy.deny.push(path.clone());
                }
            }
        }
        for path in &self.always_deny {
            let path = normalize(path);
            if !policy.deny.contains(&path) {
                policy.deny.push(path);
            }
        }
        Ok(Some(policy))
    }

    /// `request` with `~` and relative paths resolved, and symlinked
    /// denied paths denied at their target too.
    pub fn resolve(&self, request: &IsolationRequest, workdir: &Path) -> Isolation {
        let policy = match request {
            IsolationRequest::Workspace => self.workspace(workdir),
            IsolationRequest::Policy(policy) => policy.clone(),
        };
        let absolute = |path: &PathBuf| self.absolute(path, workdir);
        let mut write: Vec<PathBuf> = if policy.write.is_empty() {
            vec![normalize(workdir)]
        } else {
            policy.write.iter().map(absolute).collect()
        };
        write.dedup();
        let read = match &policy.read {
            ReadAccess::All => ReadAccess::All,
            ReadAccess::Only(paths) => ReadAccess::Only(paths.iter().map(absolute).collect()),
        };
        let mut deny = Vec::new();
        for path in policy.deny.iter().map(absolute) {
            // A denied symlink is denied where it points, too (the mount
            // namespace covers the real path; the link itself then leads
            // to nothing).
            if let Ok(target) = std::fs::canonicalize(&path)
                && target != path
                && !deny.contains(&target)
            {
                deny.push(target);
            }
            if !deny.contains(&path) {
                deny.push(path);
            }
        }
        Isolation {
            network: policy.network,
            write,
            read,
            deny,
        }
    }

    fn workspace(&self, workdir: &Path) -> Isolation {
        let mut deny: Vec<PathBuf> = WORKSPACE_DENIED.iter().map(PathBuf::from).collect();
        if let Some(home) = &self.home {
            deny.extend(WORKSPACE_DENIED_IN_HOME.iter().map(|path| home.join(path)));
        }
        deny.extend(self.secrets.iter().cloned());
        Isolation {
            network: NetworkAccess::None,
            write: vec![workdir.to_path_buf()],
            read: ReadAccess::All,
            deny,
        }
    }

    fn absolute(&self, path: &Path, workdir: &Path) -> PathBuf {
        let expanded = match (path.strip_prefix("~"), &self.home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => path.to_path_buf(),
        };
        normalize(&workdir.join(expanded))
    }
}

/// `path` without `.` and `..` components (lexically; `..` at the root
/// stays at the root).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn inside_any(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// Whether `policy` is at least as strict as `floor` (its denied paths are
/// added by the caller, so they need not be checked).
fn check_floor(policy: &Isolation, floor: &Isolation) -> Result<(), String> {
    if policy.network > floor.network {
        return Err(format!(
            "isolation.network \"{}\" is looser than this agentproc's minimum (\"{}\").",
            policy.network.as_str(),
            floor.network.as_str()
        ));
    }
    if let Some(path) = policy
        .write
        .iter()
        .find(|path| !inside_any(path, &floor.write))
    {
        return Err(format!(
            "isolation.write {:?} is outside what this agentproc's minimum lets commands write ({}).",
            path.display().to_string(),
            list(&floor.write)
        ));
    }
    if let ReadAccess::Only(allowed) = &floor.read {
        let allowed: Vec<PathBuf> = allowed.iter().chain(&floor.write).cloned().collect();
        match &policy.read {
            ReadAccess::All => {
                return Err(format!(
                    "isolation.read \"all\" is looser than this agentproc's minimum, which lets commands read only {}.",
                    list(&allowed)
                ));
            }
            ReadAccess::Only(paths) => {
                if let Some(path) = paths.iter().find(|path| !inside_any(path, &allowed)) {
                    return Err(format!(
                        "isolation.read {:?} is outside what this agentproc's minimum lets commands read ({}).",
                        path.display().to_string(),
                        list(&allowed)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".to_owned();
    }
    paths
        .iter()
        .map(|path| format!("{:?}", path.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The mechanisms that enforce `policy` with bubblewrap and a seccomp
/// filter.
pub fn mechanisms(policy: &Isolation) -> Vec<&'static str> {
    let mut mechanisms = vec![
        "bubblewrap",
        "user-namespace",
        "mount-namespace",
        "pid-namespace",
        "ipc-namespace",
    ];
    if policy.network != NetworkAccess::Host {
        mechanisms.push("network-namespace");
    }
    mechanisms.extend(["seccomp", "no_new_privs", "no-capabilities"]);
    mechanisms
}

/// The file descriptor bubblewrap reads the seccomp filter from.
pub(crate) const SECCOMP_FD: i32 = 3;

/// bubblewrap's arguments (before `--` and the command) for `policy`,
/// starting the command in `workdir`.
///
/// # Errors
/// When a writable root does not exist (nothing can be bound there).
pub fn bwrap_args(policy: &Isolation, workdir: &Path) -> Result<Vec<OsString>, String> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(OsString::from));
    // The sandbox dies with agentproc, and a new namespace of each kind.
    push(&[
        "--die-with-parent".as_ref(),
        "--unshare-user".as_ref(),
        "--unshare-pid".as_ref(),
        "--unshare-ipc".as_ref(),
        "--unshare-uts".as_ref(),
        "--unshare-cgroup-try".as_ref(),
    ]);
    if policy.network != NetworkAccess::Host {
        push(&["--unshare-net".as_ref()]);
    }
    push(&["--cap-drop".as_ref(), "ALL".as_ref()]);
    match &policy.read {
        ReadAccess::All => push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]),
        ReadAccess::Only(paths) => {
            for dir in SYSTEM_READ {
                push(&["--ro-bind-try".as_ref(), dir.as_ref(), dir.as_ref()]);
            }
            for path in paths {
                push(&["--ro-bind-try".as_ref(), path.as_os_str(), path.as_os_str()]);
            }
        }
    }
    push(&[
        "--dev".as_ref(),
        "/dev".as_ref(),
        "--proc".as_ref(),
        "/proc".as_ref(),
        "--tmpfs".as_ref(),
        "/tmp".as_ref(),
    ]);
    for path in &policy.write {
        if path == Path::new("/tmp") {
            continue; // always the private one
        }
        if !path.exists() {
            return Err(format!(
                "isolation.write {:?} does not exist.",
                path.display().to_string()
            ));
        }
        push(&["--bind".as_ref(), path.as_os_str(), path.as_os_str()]);
    }
    for path in visible_denials(policy) {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => push(&[
                "--tmpfs".as_ref(),
                path.as_os_str(),
                "--remount-ro".as_ref(),
                path.as_os_str(),
            ]),
            // A file (or a socket, a symlink…): hidden behind an empty,
            // read-only one.
            Ok(_) => push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path.as_os_str()]),
            // Missing: only a writable root could let it be created (an
            // `authorized_keys` planted in a writable home, say). There an
            // empty read-only directory takes its place; elsewhere nothing
            // can create it.
            Err(_) if inside_any(path, &policy.write) => push(&[
                "--tmpfs".as_ref(),
                path.as_os_str(),
                "--remount-ro".as_ref(),
                path.as_os_str(),
            ]),
            Err(_) => {}
        }
    }
    push(&["--chdir".as_ref(), workdir.as_os_str()]);
    let fd = SECCOMP_FD.to_string();
    push(&["--seccomp".as_ref(), fd.as_ref()]);
    Ok(args)
}

/// The denied paths that need covering: not those inside another denied
/// path (covered with it), nor those the sandbox cannot see anyway (inside
/// its private `/tmp`, or outside every readable root of a read list).
fn visible_denials(policy: &Isolation) -> Vec<&PathBuf> {
    let readable: Option<Vec<PathBuf>> = match &policy.read {
        ReadAccess::All => None,
        ReadAccess::Only(paths) => Some(
            SYSTEM_READ
                .iter()
                .map(PathBuf::from)
                .chain(paths.iter().cloned())
                .chain(policy.write.iter().cloned())
                .collect(),
        ),
    };
    policy
        .deny
        .iter()
        .filter(|path| {
            let nested = policy
                .deny
                .iter()
                .any(|other| other != *path && path.starts_with(other));
            // The private /tmp hides the host's, except where a writable
            // or readable root under /tmp is bound back into it.
            let bound_back = inside_any(path, &policy.write)
                || matches!(&policy.read, ReadAccess::Only(roots) if inside_any(path, roots));
            let private_tmp = path.starts_with("/tmp") && !bound_back;
            let unreadable = readable
                .as_ref()
                .is_some_and(|roots| !inside_any(path, roots));
            !nested && !private_tmp && !unreadable
        })
        .collect()
}

/// The report of an applied policy.
pub(crate) fn applied(policy: Isolation) -> AppliedIsolation {
    AppliedIsolation {
        mechanisms: mechanisms(&policy),
        policy,
    }
}

/// How long the startup check of bubblewrap may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Checks that `bwrap` can build the sandbox here: it runs `true` in the
/// same namespaces a policy uses. A host may ship bubblewrap yet forbid
/// what it needs (unprivileged user namespaces turned off, a container
/// without mount rights); isolation is then unavailable, and said so,
/// rather than failing inside every isolated start.
///
/// # Errors
/// What bubblewrap said (its first line), or how it could not be run.
pub fn probe_bwrap(bwrap: &Path) -> Result<(), String> {
    probe_bwrap_within(bwrap, PROBE_TIMEOUT)
}

/// [`probe_bwrap`], giving up (and killing it) after `timeout`.
///
/// # Errors
/// As [`probe_bwrap`], and when it does not finish in time.
pub fn probe_bwrap_within(bwrap: &Path, timeout: std::time::Duration) -> Result<(), String> {
    use std::io::Read as _;
    const SAID: &str = "agentproc-bwrap-works";
    let mut child = std::process::Command::new(bwrap)
        .args([
            "--die-with-parent",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--",
            "sh",
            "-c",
        ])
        .arg(format!("echo {SAID}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| format!("{} cannot be run: {error}", bwrap.display()))?;
    // Success is the line printed from inside, not the exit status: in
    // agentproc, a subreaper may reap this child before `wait` can. Read
    // on a thread, so a bubblewrap that hangs cannot hold up startup.
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut out);
        }
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut err);
        }
        let _ = sender.send((out, err));
    });
    let Ok((out, err)) = received.recv_timeout(timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{} did not finish a test command within {:?}",
            bwrap.display(),
            timeout
        ));
    };
    let _ = child.wait();
    if out.trim() == SAID {
        return Ok(());
    }
    let said: String = err
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.')
        .chars()
        .take(300)
        .collect();
    Err(if said.is_empty() {
        format!("{} could not run a command in its sandbox", bwrap.display())
    } else {
        said
    })
}

/// Looks `bwrap` up in `path` (a `PATH` value).
pub fn find_bwrap(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}
