//! Whether a process is blocked waiting for input, decided from what the
//! kernel shows in `/proc`, never from the output.
//!
//! A process waits for input when it is sleeping (state `S`) in a system
//! call that reads or waits for the target (the terminal's slave, or the
//! standard input pipe):
//! - `read`, `readv`, `pread64`, `preadv`, `preadv2` on a descriptor that
//!   refers to it;
//! - `poll`, `ppoll` whose array (read from `/proc/<pid>/mem` at the pointer
//!   in `/proc/<pid>/syscall`) asks for input (`POLLIN`) on such a
//!   descriptor;
//! - `select`, `pselect6` whose read set holds one (readline waits so);
//! - `epoll_wait`, `epoll_pwait`, `epoll_pwait2` on an epoll instance whose
//!   `/proc/<pid>/fdinfo/<epfd>` lists one (`tfd:`) for input (event loops
//!   such as libuv's and Go's).
//!
//! A descriptor refers to the target when `/proc/<pid>/fd/<n>` links to the
//! slave's path (`/dev/pts/N`) or to `pipe:[<inode>]` of the stdin pipe;
//! `/dev/tty` counts when the process's controlling terminal is the target
//! (`getpass` reads it). A process sleeping in `nanosleep`, `wait4`,
//! `futex`, or polling only sockets or other files is not waiting for input.
//!
//! Each thread is looked at (the main one first), since a multi-threaded
//! program may read on any thread. Only the system call tables of x86_64
//! and aarch64 are known; elsewhere nothing is ever reported. Reading
//! another process's `syscall` and `mem` needs the right to trace it, which
//! agentproc has over its own descendants as the same user (unless Yama's
//! `ptrace_scope` is 2 or 3); without it, nothing is reported.
//!
//! The answer is a snapshot: the process may wake up right after. Callers
//! that tell a person "the program is waiting for you" should see it hold
//! across a quiet moment of output.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::procfs::{self, Stat};

/// What a process waiting for the child's input reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A terminal's slave.
    Terminal {
        /// Its path, `/dev/pts/N`.
        path: String,
        /// Its device number as `/proc/<pid>/stat` shows a controlling
        /// terminal, for descriptors opened as `/dev/tty`.
        tty_nr: u64,
    },
    /// A pipe, by what `/proc/<pid>/fd/<n>` links to: `pipe:[<inode>]`.
    Pipe {
        /// The link text.
        link: String,
    },
}

impl Target {
    /// The pipe whose inode is `inode`.
    pub(crate) fn pipe(inode: u64) -> Self {
        Self::Pipe {
            link: format!("pipe:[{inode}]"),
        }
    }

    /// Whether a descriptor linking to `link`, held by a process described
    /// by `process`, refers to this target.
    fn is(&self, link: &OsStr, process: &Stat) -> bool {
        let link = link.as_bytes();
        match self {
            Self::Terminal { path, tty_nr } => {
                link == path.as_bytes() || (link == b"/dev/tty" && process.tty_nr == *tty_nr)
            }
            Self::Pipe { link: ours } => link == ours.as_bytes(),
        }
    }
}

/// The first of `candidates` (pids with what their `/proc/<pid>/stat`
/// said) blocked waiting for `target`.
pub(crate) fn first_waiting(candidates: &[(u32, Stat)], target: &Target) -> Option<u32> {
    let table = NATIVE?;
    candidates
        .iter()
        .find(|(pid, stat)| waits(&table, *pid, stat, target))
        .map(|(pid, _)| *pid)
}

fn waits(table: &SyscallTable, pid: u32, stat: &Stat, target: &Target) -> bool {
    let process = Path::new("/proc").join(pid.to_string());
    // The main thread first: most programs read there. The state in
    // /proc/<pid>/stat is the main thread's.
    if stat.state == 'S' && thread_waits(table, pid, &process, stat, target) {
        return true;
    }
    if stat.threads <= 1 {
        return false;
    }
    let Ok(tasks) = fs::read_dir(process.join("task")) else {
        return false;
    };
    let main = pid.to_string();
    tasks
        .flatten()
        .filter(|task| task.file_name().as_bytes() != main.as_bytes())
        .any(|task| {
            let dir = task.path();
            procfs::state_at(&dir.join("stat")) == Some('S')
                && thread_waits(table, pid, &dir, stat, target)
        })
}

/// Whether the thread whose `/proc` directory is `dir` (of process `pid`)
/// sleeps waiting for `target`.
fn thread_waits(
    table: &SyscallTable,
    pid: u32,
    dir: &Path,
    process: &Stat,
    target: &Target,
) -> bool {
    let Ok(text) = fs::read_to_string(dir.join("syscall")) else {
        return false;
    };
    let Some(Syscall::Blocked { number, args }) = parse_syscall(&text) else {
        return false;
    };
    let refers = |fd: i32| {
        fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .is_ok_and(|link| target.is(link.as_os_str(), process))
    };
    match table.classify(number, args) {
        Wait::Read { fd } => refers(fd),
        Wait::Poll { array, count } => {
            let count = count.min(MAX_POLL_FDS);
            read_memory(pid, array, count * POLLFD_BYTES)
                .is_some_and(|bytes| polled_for_input(&bytes).into_iter().any(refers))
        }
        Wait::Select { nfds, read_set } => {
            let nfds = nfds.min(MAX_SELECT_FDS);
            read_memory(pid, read_set, nfds.div_ceil(64) * 8)
                .is_some_and(|bytes| selected(&bytes, nfds).into_iter().any(refers))
        }
        Wait::Epoll { epfd } => fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}"))
            .is_ok_and(|info| epoll_input_fds(&info).into_iter().any(refers)),
        Wait::Other => false,
    }
}

/// The most `pollfd` entries looked at (a 32 KiB read).
const MAX_POLL_FDS: u64 = 4096;
/// `struct pollfd`: `int fd; short events; short revents;`.
const POLLFD_BYTES: u64 = 8;
/// The most descriptors of a `select` read set looked at (an 8 KiB read).
const MAX_SELECT_FDS: u64 = 65_536;

/// `len` bytes of process `pid`'s memory at `address`, or `None`.
fn read_memory(pid: u32, address: u64, len: u64) -> Option<Vec<u8>> {
    if address == 0 || len == 0 {
        return None;
    }
    let file = File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut bytes = vec![0; usize::try_from(len).ok()?];
    file.read_exact_at(&mut bytes, address).ok()?;
    Some(bytes)
}

/// What `/proc/<pid>/syscall` says about a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syscall {
    /// It is running (the kernel cannot tell what it would block in).
    Running,
    /// It is blocked, but not in a system call (a page fault, a stop).
    Outside,
    /// It is in system call `number` with these arguments.
    Blocked { number: i64, args: [u64; 6] },
}

/// Parses `/proc/<pid>/syscall`: `running`, `-1 <sp> <pc>`, or the number
/// in decimal and six arguments, the stack and program counter in hex.
fn parse_syscall(text: &str) -> Option<Syscall> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    if first == "running" {
        return Some(Syscall::Running);
    }
    let number: i64 = first.parse().ok()?;
    if number < 0 {
        return Some(Syscall::Outside);
    }
    let mut args = [0; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.strip_prefix("0x")?, 16).ok()?;
    }
    Some(Syscall::Blocked { number, args })
}

/// What a blocked system call waits for, as far as input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A read of one descriptor.
    Read { fd: i32 },
    /// `poll`/`ppoll`: `count` entries of `struct pollfd` at `array`.
    Poll { array: u64, count: u64 },
    /// `select`/`pselect6`: the read set at `read_set` (0 for none).
    Select { nfds: u64, read_set: u64 },
    /// `epoll_wait` and its variants on `epfd`.
    Epoll { epfd: i32 },
    /// Anything else: not waiting for input.
    Other,
}

/// The numbers of the system calls that can wait for input, for one
/// architecture.
#[derive(Debug, Clone, Copy)]
struct SyscallTable {
    /// `read`, `readv`, `pread64`, `preadv`, `preadv2`: fd first.
    reads: &'static [i64],
    /// `poll`, `ppoll`: the array, then its length.
    polls: &'static [i64],
    /// `select`, `pselect6`: nfds, then the read set.
    selects: &'static [i64],
    /// `epoll_wait`, `epoll_pwait`, `epoll_pwait2`: the epoll fd first.
    epolls: &'static [i64],
}

impl SyscallTable {
    fn classify(&self, number: i64, args: [u64; 6]) -> Wait {
        // Descriptors are `unsigned int` arguments; anything wider is not
        // a descriptor.
        let fd = |arg: u64| i32::try_from(arg).ok();
        if self.reads.contains(&number) {
            return fd(args[0]).map_or(Wait::Other, |fd| Wait::Read { fd });
        }
        if self.polls.contains(&number) {
            return Wait::Poll {
                array: args[0],
                count: args[1],
            };
        }
        if self.selects.contains(&number) {
            return Wait::Select {
                nfds: args[0],
                read_set: args[1],
            };
        }
        if self.epolls.contains(&number) {
            return fd(args[0]).map_or(Wait::Other, |epfd| Wait::Epoll { epfd });
        }
        Wait::Other
    }
}

/// `arch/x86/entry/syscalls/syscall_64.tbl`.
#[cfg(any(target_arch = "x86_64", test))]
const X86_64: SyscallTable = SyscallTable {
    reads: &[0, 19, 17, 295, 327],
    polls: &[7, 271],
    selects: &[23, 270],
    epolls: &[232, 281, 441],
};

/// The generic table (`include/uapi/asm-generic/unistd.h`), which has no
/// `poll`, `select` or `epoll_wait`.
#[cfg(any(target_arch = "aarch64", test))]
const AARCH64: SyscallTable = SyscallTable {
    reads: &[63, 65, 67, 69, 286],
    polls: &[73],
    selects: &[72],
    epolls: &[22, 441],
};

#[cfg(target_arch = "x86_64")]
const NATIVE: Option<SyscallTable> = Some(X86_64);
#[cfg(target_arch = "aarch64")]
const NATIVE: Option<SyscallTable> = Some(AARCH64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE: Option<SyscallTable> = None;

/// The descriptors of a `struct pollfd` array (native byte order) polled
/// for input.
fn polled_for_input(bytes: &[u8]) -> Vec<i32> {
    let input = libc::POLLIN | libc::POLLRDNORM;
    bytes
        .chunks_exact(8)
        .filter_map(|entry| {
            let fd = i32::from_ne_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let events = i16::from_ne_bytes([entry[4], entry[5]]);
            // A negative fd is an entry the caller switched off.
            (fd >= 0 && events & input != 0).then_some(fd)
        })
        .collect()
}

/// The descriptors below `nfds` set in an `fd_set` bitmap (an array of
/// 64-bit words in native byte order; descriptor `n` is bit `n % 64` of
/// word `n / 64`).
fn selected(bytes: &[u8], nfds: u64) -> Vec<i32> {
    let mut fds = Vec::new();
    for (index, word) in bytes.chunks_exact(8).enumerate() {
        let mut word = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
        while word != 0 {
            let bit = word.trailing_zeros();
            word &= word - 1;
            let fd = index as u64 * 64 + u64::from(bit);
            if fd < nfds
                && let Ok(fd) = i32::try_from(fd)
            {
                fds.push(fd);
            }
        }
    }
    fds
}

/// The descriptors an epoll instance's `fdinfo` lists as watched for input:
/// lines `tfd: <fd> events: <hex> data: <hex> pos:<n> ino:<hex> sdev:<hex>`.
fn epoll_input_fds(fdinfo: &str) -> Vec<i32> {
    let input = (libc::EPOLLIN | libc::EPOLLRDNORM) as u32;
    fdinfo
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("tfd:")?.split_whitespace();
            let fd: i32 = words.next()?.parse().ok()?;
            if words.next()? != "events:" {
                return None;
            }
            let events = u32::from_str_radix(words.next()?, 16).ok()?;
            (events & input != 0).then_some(fd)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Samples from a kernel 6.18 host (x86_64): `sh -c 'read x'` and
    // `python3 -c 'input()'` on a pipe, bash's readline at a prompt,
    // `getpass` (fd 3 is /dev/tty), `sleep` (clock_nanosleep), a shell
    // waiting for its child, a thread joined, `select.epoll().poll()` and
    // `select.poll().poll()`.
    const PIPE_READ: &str =
        "0 0x0 0x56068356fca0 0x2000 0x7f6413b5da58 0x0 0x0 0x7ffe025838e8 0x7f6413d162ad\n";
    const READLINE_PSELECT: &str =
        "270 0x1 0x7ffe3eec6ba0 0x0 0x0 0x0 0x0 0x7ffe3eec6ac0 0x7fc332b1c954\n";
    const GETPASS_READ: &str =
        "0 0x3 0x558c8d00da00 0x2000 0x0 0x0 0x0 0x7ffc3524d928 0x7f42111162ad\n";
    const NANOSLEEP: &str =
        "230 0x0 0x0 0x7fffbedab000 0x7fffbedab040 0x0 0x0 0x7fffbedaafe8 0x7ff43652e503\n";
    const WAIT4: &str =
        "61 0xffffffff 0x7fff44347ac0 0x0 0x0 0x1 0x8 0x7fff44347a98 0x7f9a1f199bd3\n";
    const FUTEX: &str =
        "202 0x55db6d27c3d0 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd091c8730 0x7f226fca3f16\n";
    const EPOLL: &str =
        "232 0x6 0x55cd994d32f0 0x3ff 0xffffffff 0x0 0x0 0x7ffdc5013238 0x7f8752b26ef3\n";
    const POLL: &str =
        "7 0x7fc016a6c150 0x1 0xffffffff 0x1 0x0 0x0 0x7ffdfea0f5c8 0x7fc016d1a230\n";

    #[test]
    fn syscall_lines_parse() {
        assert_eq!(
            parse_syscall(PIPE_READ),
            Some(Syscall::Blocked {
                number: 0,
                args: [0, 0x5606_8356_fca0, 0x2000, 0x7f64_13b5_da58, 0, 0]
            })
        );
        assert_eq!(parse_syscall("running\n"), Some(Syscall::Running));
        assert_eq!(
            parse_syscall("-1 0x7ffd7e2f1bf8 0x7f9f1d0e0a13\n"),
            Some(Syscall::Outside)
        );
        assert_eq!(parse_syscall(""), None);
        assert_eq!(parse_syscall("0 0x0 0x1\n"), None, "too few arguments");
        assert_eq!(parse_syscall("0 zz 0 0 0 0 0 0 0"), None);
    }

    fn classify(table: &SyscallTable, text: &str) -> Wait {
        match parse_syscall(text) {
            Some(Syscall::Blocked { number, args }) => table.classify(number, args),
            other => panic!("not blocked: {other:?}"),
        }
    }

    #[test]
    fn x86_64_calls_that_wait_for_input_are_told_apart() {
        assert_eq!(classify(&X86_64, PIPE_READ), Wait::Read { fd: 0 });
        assert_eq!(classify(&X86_64, GETPASS_READ), Wait::Read { fd: 3 });
        assert_eq!(
            classify(&X86_64, READLINE_PSELECT),
            Wait::Select {
                nfds: 1,
                read_set: 0x7ffe_3eec_6ba0
            }
        );
        assert_eq!(classify(&X86_64, EPOLL), Wait::Epoll { epfd: 6 });
        assert_eq!(
            classify(&X86_64, POLL),
            Wait::Poll {
                array: 0x7fc0_16a6_c150,
                count: 1
            }
        );
        for other in [NANOSLEEP, WAIT4, FUTEX] {
            assert_eq!(classify(&X86_64, other), Wait::Other, "{other}");
        }
        // A read of something that is no descriptor.
        assert_eq!(
            classify(&X86_64, "0 0xffffffffffffffff 0x0 0x1 0x0 0x0 0x0 0x0 0x0"),
            Wait::Other
        );
    }

    #[test]
    fn aarch64_calls_that_wait_for_input_are_told_apart() {
        let at = |number: i64, args: [u64; 6]| AARCH64.classify(number, args);
        assert_eq!(at(63, [0, 1, 2, 0, 0, 0]), Wait::Read { fd: 0 });
        assert_eq!(at(65, [4, 1, 2, 0, 0, 0]), Wait::Read { fd: 4 });
        assert_eq!(
            at(73, [0x1000, 3, 0, 0, 8, 0]),
            Wait::Poll {
                array: 0x1000,
                count: 3
            }
        );
        assert_eq!(
            at(72, [1, 0x2000, 0, 0, 0, 0]),
            Wait::Select {
                nfds: 1,
                read_set: 0x2000
            }
        );
        assert_eq!(at(22, [7, 0, 1, 0, 0, 0]), Wait::Epoll { epfd: 7 });
        // nanosleep, wait4, futex, and x86_64's read number (io_setup).
        for number in [101, 260, 98, 0] {
            assert_eq!(at(number, [0; 6]), Wait::Other, "{number}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_x86_64_table_matches_libc() {
        let numbers = |names: &[libc::c_long]| names.to_vec();
        assert_eq!(
            X86_64.reads,
            numbers(&[
                libc::SYS_read,
                libc::SYS_readv,
                libc::SYS_pread64,
                libc::SYS_preadv,
                libc::SYS_preadv2
            ])
        );
        assert_eq!(X86_64.polls, numbers(&[libc::SYS_poll, libc::SYS_ppoll]));
        assert_eq!(
            X86_64.selects,
            numbers(&[libc::SYS_select, libc::SYS_pselect6])
        );
        assert_eq!(
            X86_64.epolls,
            numbers(&[
                libc::SYS_epoll_wait,
                libc::SYS_epoll_pwait,
                libc::SYS_epoll_pwait2
            ])
        );
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn the_aarch64_table_matches_libc() {
        let numbers = |names: &[libc::c_long]| names.to_vec();
        assert_eq!(
            AARCH64.reads,
            numbers(&[
                libc::SYS_read,
                libc::SYS_readv,
                libc::SYS_pread64,
                libc::SYS_preadv,
                libc::SYS_preadv2
            ])
        );
        assert_eq!(AARCH64.polls, numbers(&[libc::SYS_ppoll]));
        assert_eq!(AARCH64.selects, numbers(&[libc::SYS_pselect6]));
        assert_eq!(
            AARCH64.epolls,
            numbers(&[libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2])
        );
    }

    fn pollfd(fd: i32, events: i16) -> Vec<u8> {
        let mut entry = fd.to_ne_bytes().to_vec();
        entry.extend(events.to_ne_bytes());
        entry.extend(0i16.to_ne_bytes());
        entry
    }

    #[test]
    fn poll_arrays_yield_the_descriptors_polled_for_input() {
        let mut array = pollfd(0, libc::POLLIN);
        array.extend(pollfd(5, libc::POLLOUT));
        array.extend(pollfd(-1, libc::POLLIN));
        array.extend(pollfd(7, libc::POLLRDNORM | libc::POLLPRI));
        assert_eq!(polled_for_input(&array), [0, 7]);
        assert_eq!(polled_for_input(&[]), Vec::<i32>::new());
    }

    #[test]
    fn select_sets_yield_their_descriptors_below_nfds() {
        let mut set = [0u64; 2];
        for fd in [0, 3, 64, 100] {
            set[fd / 64] |= 1 << (fd % 64);
        }
        let bytes: Vec<u8> = set.iter().flat_map(|word| word.to_ne_bytes()).collect();
        assert_eq!(selected(&bytes, 128), [0, 3, 64, 100]);
        assert_eq!(selected(&bytes, 64), [0, 3]);
    }

    #[test]
    fn epoll_fdinfo_yields_the_descriptors_watched_for_input() {
        // Stdin and a pipe's read end for input, its write end for output
        // (the kernel adds EPOLLERR and EPOLLHUP: 0x1c).
        let fdinfo = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n\
            tfd:        0 events:       19 data:                0  pos:0 ino:6050e sdev:f\n\
            tfd:        4 events:       19 data:                4  pos:0 ino:60510 sdev:f\n\
            tfd:        5 events:       1c data:                5  pos:0 ino:60510 sdev:f\n";
        assert_eq!(epoll_input_fds(fdinfo), [0, 4]);
        assert_eq!(epoll_input_fds("pos:\t0\n"), Vec::<i32>::new());
    }

    #[test]
    fn targets_are_recognised_by_link() {
        let stat = |tty_nr| Stat {
            state: 'S',
            ppid: 1,
            pgrp: 10,
            session: 10,
            tty_nr,
            threads: 1,
            start_time: 1,
        };
        let terminal = Target::Terminal {
            path: "/dev/pts/3".to_owned(),
            tty_nr: 34_819,
        };
        assert!(terminal.is(OsStr::new("/dev/pts/3"), &stat(0)));
        assert!(!terminal.is(OsStr::new("/dev/pts/30"), &stat(34_819)));
        assert!(terminal.is(OsStr::new("/dev/tty"), &stat(34_819)));
        assert!(!terminal.is(OsStr::new("/dev/tty"), &stat(34_820)));
        let pipe = Target::pipe(384_376);
        assert!(pipe.is(OsStr::new("pipe:[384376]"), &stat(0)));
        assert!(!pipe.is(OsStr::new("pipe:[3843760]"), &stat(0)));
        assert!(!pipe.is(OsStr::new("socket:[384376]"), &stat(0)));
    }
}
