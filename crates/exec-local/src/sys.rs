//! The system calls std and nix do not wrap for us: `pidfd_open`, `wait4`
//! with resource usage, a terminal's window size, the child's step onto
//! its terminal between `fork` and `exec`, and the boot clock in the unit
//! of `/proc/<pid>/stat`'s start times. All of this crate's
//! `unsafe` lives here.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus as StdExitStatus};
use std::time::Duration;

use agentproc_core::exec::{ChildExit, ExitStatus, ResourceUsage};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The time since boot in clock ticks (`CLOCK_BOOTTIME` divided as the
/// kernel divides a process's `start_boottime` for field 22 of
/// `/proc/<pid>/stat`); `None` if it cannot be read. A process spawned
/// between two readings that agree started at exactly that tick.
pub(crate) fn boot_ticks() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return None;
    }
    // SAFETY: sysconf only reads a system constant.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    const NANOS: u64 = 1_000_000_000;
    // The kernel divides exactly only when USER_HZ divides a second (it
    // always does on Linux: 100); otherwise let /proc answer.
    if hz == 0 || !NANOS.is_multiple_of(hz) {
        return None;
    }
    let nanos = u64::try_from(now.tv_sec)
        .ok()?
        .checked_mul(NANOS)?
        .checked_add(u64::try_from(now.tv_nsec).ok()?)?;
    Some(nanos / (NANOS / hz))
}

/// Opens a pidfd for `pid`: a descriptor that becomes readable when the
/// process exits, and that keeps referring to this process even after its
/// pid is reused.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open(2) takes a pid and a flags word and returns a new
    // file descriptor or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocks until every process in `pids` has exited (or is already gone), or
/// `timeout` passes.
pub(crate) fn wait_until_dead(pids: &[u32], timeout: Duration) {
    let mut pending: Vec<OwnedFd> = pids
        .iter()
        .filter_map(|pid| pidfd_open(*pid).ok())
        .collect();
    let deadline = std::time::Instant::now() + timeout;
    while !pending.is_empty() {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        if remaining.is_zero() {
            return;
        }
        let mut polled: Vec<libc::pollfd> = pending
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let millis =
            libc::c_int::try_from(remaining.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `polled` is a live, correctly sized array of pollfd for the
        // duration of the call.
        let ready =
            unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
        let mut index = 0;
        pending.retain(|_| {
            let exited = polled[index].revents != 0;
            index += 1;
            !exited
        });
    }
}

/// Registers `fd` with Tokio's reactor for readability.
pub(crate) fn register_readable(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    register(fd, Interest::READABLE)
}

/// Registers `fd` (non-blocking) with Tokio's reactor for `interest`.
pub(crate) fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the descriptor is owned by the returned `AsyncFd`, so it stays
    // open for exactly as long as the registration exists.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(Into::into)
}

/// Sets the window size of the terminal whose master is `master`; the
/// kernel sends `SIGWINCH` to its foreground process group.
pub(crate) fn set_window_size(master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a live local.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the child of `command`, between `fork` and `exec`, lead a new
/// session (and so a new process group) whose controlling terminal is its
/// standard input, the terminal's slave. The command must not also ask for
/// a process group of its own: `setsid` fails for a group leader.
pub(crate) fn acquire_terminal(command: &mut Command) {
    // SAFETY: the closure runs in the child after std has put the slave on
    // descriptors 0–2; it makes two async-signal-safe system calls (setsid,
    // ioctl) on no data but integers, allocates nothing (an `io::Error` from
    // an errno is a plain value) and takes no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reaps `pid` with `wait4`, returning its exit and resource usage, or
/// `None` when `nohang` is set and it is still running.
pub(crate) fn wait4(pid: u32, nohang: bool) -> io::Result<Option<ChildExit>> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers refer to live, writable locals of the right
        // types for the duration of the call.
        let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if reaped == 0 {
            return Ok(None);
        }
        if reaped > 0 {
            return Ok(Some(decode(status, &usage)));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn decode(raw: libc::c_int, usage: &libc::rusage) -> ChildExit {
    let status = StdExitStatus::from_raw(raw);
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Exited(code),
        (None, Some(signal)) => ExitStatus::Signaled {
            signal,
            core_dumped: status.core_dumped(),
        },
        // Stopped or continued: wait4 without WUNTRACED never reports these.
        (None, None) => ExitStatus::Exited(-1),
    };
    ChildExit {
        status,
        usage: Some(ResourceUsage {
            user_cpu: timeval(usage.ru_utime),
            system_cpu: timeval(usage.ru_stime),
            max_rss_bytes: above_own_peak(usage.ru_maxrss),
            forks_refused: None,
            cpu_throttled: None,
        }),
        oom_killed: false,
    }
}

/// A child's peak RSS (kibibytes, as Linux reports it) in bytes, when it is
/// above this process's own peak. Below, it may be ours: the kernel folds
/// the spawning process's memory into the child's peak until `exec`
/// (posix_spawn's child shares our memory; a forked one copies it).
fn above_own_peak(child_kib: libc::c_long) -> Option<u64> {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut own: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into a live local.
    let own_kib = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut own) } == 0 {
        own.ru_maxrss
    } else {
        libc::c_long::MAX
    };
    (child_kib > own_kib).then(|| u64::try_from(child_kib).unwrap_or(0) * 1024)
}

fn timeval(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

/// Sets close-on-exec on every open descriptor numbered `first` or more:
/// `close_range` with `CLOSE_RANGE_CLOEXEC` (Linux 5.11), else one by one
/// from `/proc/self/fd`.
pub(crate) fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with the CLOEXEC flag closes nothing; it only
    // changes descriptor flags, and takes plain integers.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::try_from(first).unwrap_or(3),
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if result == 0 {
        return Ok(());
    }
    let numbers: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|fd: &RawFd| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in numbers {
        // SAFETY: fcntl on a descriptor number with integer arguments; one
        // that closed since the listing (the directory's own) just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Does nothing: the handler that stands in for "ignore" (see
/// [`default_ignored_signals_on_exec`]).
extern "C" fn ignore_signal(_: libc::c_int) {}

/// Replaces the `SIG_IGN` disposition of every standard signal (but
/// `SIGPIPE`, which std already resets in children) with a handler that
/// does nothing. Returns the signals changed.
pub(crate) fn default_ignored_signals_on_exec() -> io::Result<Vec<i32>> {
    let mut changed = Vec::new();
    for signal in 1..32 {
        if matches!(signal, libc::SIGKILL | libc::SIGSTOP | libc::SIGPIPE) {
            continue;
        }
        // SAFETY: an all-zero sigaction is a valid value to be filled in.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: reads the disposition of a valid signal number into a
        // local; a null new action changes nothing.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &raw mut current) } != 0 {
            continue;
        }
        if current.sa_sigaction != libc::SIG_IGN {
            continue;
        }
        // SAFETY: as above; then the handler is a plain function that
        // touches nothing (async-signal-safe), with an empty mask.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: sigemptyset on a local set.
        unsafe { libc::sigemptyset(&raw mut action.sa_mask) };
        // SAFETY: installs that handler for a valid, catchable signal.
        if unsafe { libc::sigaction(signal, &raw const action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        changed.push(signal);
    }
    Ok(changed)
}

/// Raises this process's soft limit on open files to at least `wanted`
/// (capped at the hard limit); returns the soft limit now in force.
pub(crate) fn raise_open_file_limit(wanted: u64) -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = wanted.min(limit.rlim_max);
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted;
        // SAFETY: setrlimit reads one rlimit from a live local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}
