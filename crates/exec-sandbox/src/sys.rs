//! What the child does to itself between `fork` and `exec`, and the system
//! calls std and nix leave out. All of this crate's `unsafe` lives here.
//!
//! Between `fork` and `exec` in a multi-threaded program only
//! async-signal-safe work is allowed: no allocation, no locks. So everything
//! the child needs is prepared by the parent ([`ChildSetup`]): open
//! descriptors of the `cgroup.procs` files, the rlimit values, the niceness,
//! the OOM score as text. The child only makes system calls.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use crate::policy::Resource;

/// Everything the child applies to itself before `exec`, in this order:
/// join its cgroups (so nothing after runs unconfined), OOM score,
/// niceness, rlimits.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// Opened for writing (close-on-exec); the child writes `0` ("me").
    pub(crate) cgroup_procs: Vec<OwnedFd>,
    pub(crate) oom_score_adj: Option<i32>,
    pub(crate) nice: Option<i32>,
    pub(crate) rlimits: Vec<(Resource, u64)>,
    /// Write end of a close-on-exec pipe: on failure the child writes the
    /// number of the failed step here, so the parent can say which.
    pub(crate) report: OwnedFd,
    /// For an isolated command: the read end of a pipe holding its seccomp
    /// filter, made bubblewrap's descriptor 3 (`--seccomp 3`); and
    /// `no_new_privs` set first.
    pub(crate) seccomp: Option<OwnedFd>,
}

/// Steps, as reported through [`ChildSetup::report`]: the index of the
/// cgroup joined, or one of these.
pub(crate) const STEP_OOM: u8 = 200;
pub(crate) const STEP_NICE: u8 = 201;
pub(crate) const STEP_NO_NEW_PRIVS: u8 = 202;
pub(crate) const STEP_SECCOMP_FD: u8 = 203;
/// Plus the rlimit's index.
pub(crate) const STEP_RLIMIT: u8 = 210;

impl ChildSetup {
    /// Makes `command` apply this setup in the child.
    pub(crate) fn install(self: Arc<Self>, command: &mut Command) {
        // SAFETY: the closure only makes async-signal-safe system calls
        // (write, open, close, setpriority, setrlimit) on data prepared
        // before the fork; it allocates nothing and takes no locks.
        unsafe {
            command.pre_exec(move || self.apply());
        }
    }

    /// Runs in the child, between `fork` and `exec`.
    fn apply(&self) -> io::Result<()> {
        for (index, fd) in self.cgroup_procs.iter().enumerate() {
            // SAFETY: writes one byte from a static buffer to an open fd.
            let written = unsafe { libc::write(fd.as_raw_fd(), c"0".as_ptr().cast(), 1) };
            if written != 1 {
                return self.fail(u8::try_from(index).unwrap_or(u8::MAX));
            }
        }
        if let Some(score) = self.oom_score_adj
            && !write_oom_score(score)
        {
            return self.fail(STEP_OOM);
        }
        if let Some(nice) = self.nice {
            // SAFETY: setpriority takes plain integers.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
                return self.fail(STEP_NICE);
            }
        }
        for (index, (resource, value)) in self.rlimits.iter().enumerate() {
            // CPU time: SIGXCPU at the soft limit (which a program may catch
            // to save its work), SIGKILL a second later at the hard one.
            let hard = match resource {
                Resource::Cpu => value.saturating_add(1),
                _ => *value,
            };
            let limit = libc::rlimit {
                rlim_cur: *value,
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads one rlimit from a live local.
            if unsafe { libc::setrlimit(resource_id(*resource), &limit) } != 0 {
                return self.fail(STEP_RLIMIT.saturating_add(u8::try_from(index).unwrap_or(0)));
            }
        }
        if let Some(seccomp) = &self.seccomp {
            // SAFETY: prctl with plain integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return self.fail(STEP_NO_NEW_PRIVS);
            }
            // Last: descriptor 3 may have been one of ours (they are all
            // close-on-exec, and no step after this one reports). dup2's
            // copy is not close-on-exec, so bubblewrap inherits it; it reads
            // the filter and closes it before the command runs.
            let fd = seccomp.as_raw_fd();
            let inherited = if fd == crate::isolation::SECCOMP_FD {
                // dup2 onto itself would keep close-on-exec: clear it.
                // SAFETY: fcntl on an open descriptor with integer flags.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
            } else {
                // SAFETY: dup2 of an open descriptor onto a number we own
                // here.
                unsafe { libc::dup2(fd, crate::isolation::SECCOMP_FD) }
            };
            if inherited < 0 {
                return self.fail(STEP_SECCOMP_FD);
            }
        }
        Ok(())
    }

    /// Reports `step` and the OS error to the parent, and fails.
    fn fail(&self, step: u8) -> io::Result<()> {
        let error = io::Error::last_os_error();
        let errno = error.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes();
        let report = [step, errno[0], errno[1], errno[2], errno[3]];
        // SAFETY: writes five bytes from a live local to an open fd (a pipe
        // write this small is atomic).
        unsafe {
            libc::write(
                self.report.as_raw_fd(),
                report.as_ptr().cast(),
                report.len(),
            )
        };
        Err(error)
    }
}

/// Writes `score` to `/proc/self/oom_score_adj` without allocating.
fn write_oom_score(score: i32) -> bool {
    let mut text = [0u8; 12];
    let len = format_decimal(score, &mut text);
    // SAFETY: a static NUL-terminated path; flags are plain integers.
    let fd = unsafe {
        libc::open(
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: writes `len` initialized bytes of a live local to an fd we
    // opened; then closes it.
    let written = unsafe { libc::write(fd, text.as_ptr().cast(), len) };
    // SAFETY: closes the fd opened above, once.
    unsafe { libc::close(fd) };
    written == isize::try_from(len).unwrap_or(-1)
}

/// Formats `value` in decimal into `buf` without allocating; returns the
/// length.
fn format_decimal(value: i32, buf: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 11];
    let mut n = value.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    if value < 0 {
        buf[0] = b'-';
        len = 1;
    }
    for digit in digits[..count].iter().rev() {
        buf[len] = *digit;
        len += 1;
    }
    len
}

fn resource_id(resource: Resource) -> libc::__rlimit_resource_t {
    match resource {
        Resource::OpenFiles => libc::RLIMIT_NOFILE,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::AddressSpace => libc::RLIMIT_AS,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::FileSize => libc::RLIMIT_FSIZE,
    }
}

/// This process's niceness.
pub(crate) fn own_niceness() -> io::Result<i32> {
    // getpriority can legitimately return -1: errno tells.
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: getpriority takes plain integers.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let error = io::Error::last_os_error();
    if nice == -1 && error.raw_os_error().is_some_and(|code| code != 0) {
        return Err(error);
    }
    Ok(nice)
}

/// This process's hard limit for `resource`.
pub(crate) fn hard_limit(resource: Resource) -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into a live local.
    if unsafe { libc::getrlimit(resource_id(resource), &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit.rlim_max)
}

/// A close-on-exec pipe: (read end, write end); the read end non-blocking.
pub(crate) fn report_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|errno| io::Error::from_raw_os_error(errno as i32))?;
    Ok((read, write))
}

/// A close-on-exec pipe holding `bytes` (small: a pipe holds 64 KiB),
/// its write end closed; the read end for the child to hand to bubblewrap.
pub(crate) fn filled_pipe(bytes: &[u8]) -> io::Result<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| io::Error::from_raw_os_error(errno as i32))?;
    let mut written = 0;
    while written < bytes.len() {
        written += nix::unistd::write(&write, &bytes[written..])
            .map_err(|errno| io::Error::from_raw_os_error(errno as i32))?;
    }
    drop(write);
    Ok(read)
}

/// The step the child reported and its OS error number, if it reported.
pub(crate) fn read_report(read: &OwnedFd) -> Option<(u8, i32)> {
    let mut report = [0u8; 5];
    match nix::unistd::read(read, &mut report) {
        Ok(5) => Some((
            report[0],
            i32::from_ne_bytes([report[1], report[2], report[3], report[4]]),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_without_allocation() {
        for value in [0, 7, -7, 998, 1000, -1000, i32::MAX, i32::MIN] {
            let mut buf = [0u8; 12];
            let len = format_decimal(value, &mut buf);
            assert_eq!(&buf[..len], value.to_string().as_bytes());
        }
    }
}
