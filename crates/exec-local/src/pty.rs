//! Pseudo-terminals for children spawned with [`ExecSpec::terminal`]:
//! opening one with its window size, the master as the child's output
//! reader (where `EIO`, the last slave descriptor closing, is end-of-file)
//! and as its input writer, and the [`TerminalControl`] that resizes it and
//! reads its modes.
//!
//! [`ExecSpec::terminal`]: agentproc_core::exec::ExecSpec::terminal

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use agentproc_core::exec::{TerminalControl, TerminalModes, TerminalSize};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::input_wait::Target;
use crate::sys;

/// A new pseudo-terminal, before a child is spawned on it.
pub(crate) struct Opened {
    /// The master: non-blocking and close-on-exec, like every descriptor
    /// duplicated from it (the flags belong to the open file).
    pub(crate) master: OwnedFd,
    /// The slave, close-on-exec: std duplicates it onto the child's
    /// descriptors 0–2, and the parent must close its copies once the child
    /// is spawned, or the master never sees end-of-file.
    pub(crate) slave: OwnedFd,
    /// What a process reading it reads: its path and device.
    pub(crate) target: Target,
}

/// Opens a pseudo-terminal of `size`. Its line discipline is the kernel's
/// default (canonical, echo, signals from Ctrl-C and Ctrl-\, `\n` written
/// as `\r\n`) plus `IUTF8`, so erasing a character erases all of a
/// multi-byte UTF-8 character.
///
/// # Errors
/// When the system has no pseudo-terminal left (or none at all).
pub(crate) fn open(size: TerminalSize) -> io::Result<Opened> {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let path = ptsname_r(&master)?;
    // O_NOCTTY: it must not become agentproc's own controlling terminal.
    // std adds O_CLOEXEC.
    let slave: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)?
        .into();
    let master = OwnedFd::from(master);
    sys::set_window_size(master.as_fd(), size.rows(), size.cols())?;
    // The master's settings are the slave's.
    let mut settings = termios::tcgetattr(&master)?;
    settings.input_flags |= InputFlags::IUTF8;
    termios::tcsetattr(&master, SetArg::TCSANOW, &settings)?;
    let device = nix::sys::stat::fstat(&slave)?.st_rdev;
    Ok(Opened {
        master,
        slave,
        target: Target::Terminal {
            path,
            tty_nr: tty_nr(device),
        },
    })
}

/// `device` as `/proc/<pid>/stat` shows a controlling terminal (the
/// kernel's `new_encode_dev`).
fn tty_nr(device: libc::dev_t) -> u64 {
    let major = nix::sys::stat::major(device);
    let minor = nix::sys::stat::minor(device);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// A child's terminal as the manager controls it. It holds a master
/// descriptor of its own, so it works whoever holds the output reader and
/// the input writer, until [`Terminal::release`] closes it when the child
/// is reaped (a terminal costs a descriptor and one of the system's limited
/// pseudo-terminals).
#[derive(Debug)]
pub(crate) struct Terminal {
    master: Mutex<Option<OwnedFd>>,
    target: Target,
}

impl Terminal {
    pub(crate) fn new(master: OwnedFd, target: Target) -> Self {
        Self {
            master: Mutex::new(Some(master)),
            target,
        }
    }

    /// What a process waiting for this terminal's input reads.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The terminal's foreground process group, if it has one.
    pub(crate) fn foreground_group(&self) -> Option<u32> {
        let pgrp =
            self.with_master(|master| nix::unistd::tcgetpgrp(master).map_err(io::Error::from));
        // 0 once the session that owned the terminal is gone.
        pgrp.ok()
            .and_then(|pgrp| u32::try_from(pgrp.as_raw()).ok())
            .filter(|pgrp| *pgrp > 0)
    }

    /// Closes this handle's master descriptor: the child has been reaped.
    pub(crate) fn release(&self) {
        self.master
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn with_master<T>(&self, act: impl FnOnce(&OwnedFd) -> io::Result<T>) -> io::Result<T> {
        let master = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        match master.as_ref() {
            Some(master) => act(master),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the terminal was closed when its process exited",
            )),
        }
    }
}

impl TerminalControl for Terminal {
    fn resize(&self, size: TerminalSize) -> io::Result<()> {
        self.with_master(|master| sys::set_window_size(master.as_fd(), size.rows(), size.cols()))
    }

    fn modes(&self) -> io::Result<TerminalModes> {
        let settings = self.with_master(|master| Ok(termios::tcgetattr(master)?))?;
        Ok(TerminalModes {
            canonical: settings.local_flags.contains(LocalFlags::ICANON),
            echo: settings.local_flags.contains(LocalFlags::ECHO),
            eof: settings.control_chars[SpecialCharacterIndices::VEOF as usize],
        })
    }
}

/// The master as the child's output: what the child and its descendants
/// write to the terminal, echoed input included, with `\n` as `\r\n`.
pub(crate) struct MasterReader {
    fd: AsyncFd<OwnedFd>,
}

impl MasterReader {
    /// Registers `master` (non-blocking) with Tokio.
    pub(crate) fn new(master: OwnedFd) -> io::Result<Self> {
        Ok(Self {
            fd: sys::register(master, Interest::READABLE)?,
        })
    }
}

impl AsyncRead for MasterReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| Ok(nix::unistd::read(fd.get_ref(), unfilled)?)) {
                Ok(Ok(read)) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                // Linux answers EIO, not 0, once every slave descriptor is
                // closed: the child and every descendant that inherited the
                // terminal are done with it.
                Ok(Err(error)) if error.raw_os_error() == Some(libc::EIO) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                // Not readable after all: wait for the next edge.
                Err(_would_block) => {}
            }
        }
    }
}

/// The master as the child's input: bytes written here are what a person
/// would type (Ctrl-C is 0x03, Ctrl-D at the start of a line is the end of
/// input in canonical mode). Dropping it does not close the child's input;
/// only the end-of-file character does.
pub(crate) struct MasterWriter {
    fd: AsyncFd<OwnedFd>,
}

impl MasterWriter {
    /// Registers `master` (a non-blocking duplicate) with Tokio.
    pub(crate) fn new(master: OwnedFd) -> io::Result<Self> {
        Ok(Self {
            fd: sys::register(master, Interest::WRITABLE)?,
        })
    }
}

impl AsyncWrite for MasterWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| Ok(nix::unistd::write(fd.get_ref(), buf)?)) {
                Ok(result) => return Poll::Ready(result),
                // The terminal's input queue is full: wait until the
                // program reads.
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_are_encoded_like_proc_stat() {
        // /dev/pts/0 is 136:0, which a controlling terminal shows as 34816.
        assert_eq!(tty_nr(libc::makedev(136, 0)), 34_816);
        assert_eq!(tty_nr(libc::makedev(136, 5)), 34_821);
        // Minors above 255 go to bits 20 and up.
        assert_eq!(tty_nr(libc::makedev(136, 256)), (136 << 8) | (1 << 20));
    }

    #[test]
    fn a_new_terminal_is_private_non_blocking_and_utf8() {
        let size = TerminalSize::new(31, 97).expect("size");
        let opened = open(size).expect("open a pty");
        for fd in [&opened.master, &opened.slave] {
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).expect("flags");
            assert_ne!(flags & libc::FD_CLOEXEC, 0, "close-on-exec");
        }
        let status =
            nix::fcntl::fcntl(&opened.master, nix::fcntl::FcntlArg::F_GETFL).expect("status flags");
        assert_ne!(status & libc::O_NONBLOCK, 0, "non-blocking master");
        let settings = termios::tcgetattr(&opened.slave).expect("slave settings");
        assert!(settings.input_flags.contains(InputFlags::IUTF8));
        let Target::Terminal { path, tty_nr } = &opened.target else {
            panic!("a terminal target");
        };
        assert!(path.starts_with("/dev/pts/"), "{path}");
        assert_ne!(*tty_nr, 0);
        let terminal = Terminal::new(opened.master, opened.target.clone());
        let modes = terminal.modes().expect("modes");
        assert!(modes.canonical && modes.echo);
        assert_eq!(modes.eof, 4, "Ctrl-D");
        // Nobody has made it a controlling terminal yet.
        assert_eq!(terminal.foreground_group(), None);
        terminal.release();
        assert_eq!(
            terminal.modes().expect_err("released").kind(),
            io::ErrorKind::NotConnected
        );
    }
}
