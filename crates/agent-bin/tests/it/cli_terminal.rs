//! `agentproc run -t` and `agentproc attach` on a real pseudo-terminal, as
//! a person at a terminal uses them: the local size reaches the remote
//! terminal, the local terminal is raw while joined and restored after,
//! keystrokes reach the program, Ctrl-] detaches and leaves it running,
//! and `attach` joins it again. Waits are on the output itself (a reader
//! thread and a bounded wait for each expected text), never sleeps.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};

use super::{BIN, Server, start_server};

/// The client on a fresh pty of 20 rows × 70 columns, and the master side.
struct Terminal {
    client: Child,
    master: std::fs::File,
    slave: OwnedFd,
    chunks: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Terminal {
    fn run(server: &Server, args: &[&str]) -> Self {
        let OpenptyResult { master, slave } = openpty(
            Some(&Winsize {
                ws_row: 20,
                ws_col: 70,
                ws_xpixel: 0,
                ws_ypixel: 0,
            }),
            None,
        )
        .expect("openpty");
        let stdio = || Stdio::from(slave.try_clone().expect("dup the slave"));
        let client = Command::new(BIN)
            .args(args)
            .env("AGENTPROC_SERVER", format!("http://{}", server.address))
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("start the client");
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().expect("dup the master");
        let (sender, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            // Ends with EIO once no one holds the slave.
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            client,
            master,
            slave,
            chunks,
            seen: Vec::new(),
        }
    }

    /// Waits until `text` has been shown on the terminal.
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !String::from_utf8_lossy(&self.seen).contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "{text:?} never appeared; the terminal showed {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn type_in(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("type");
    }

    /// Whether the local terminal is in raw mode (no line editing, no echo).
    fn raw(&self) -> bool {
        let modes = tcgetattr(self.slave.as_fd()).expect("tcgetattr");
        !modes.local_flags.contains(LocalFlags::ICANON)
            && !modes.local_flags.contains(LocalFlags::ECHO)
    }

    fn exit_code(mut self) -> (i32, Self) {
        let status = self.client.wait().expect("wait for the client");
        (status.code().expect("an exit code"), self)
    }
}

#[test]
fn run_t_forwards_size_and_keys_and_restores_the_terminal() {
    let server = start_server(&[]);
    let mut terminal = Terminal::run(
        &server,
        &[
            "run",
            "-t",
            "--",
            "stty size; echo ready; read line; echo got-$line; exit 3",
        ],
    );
    assert!(!terminal.raw(), "a fresh pty starts cooked");
    terminal.expect("ready");
    // The remote terminal has the local size.
    terminal.expect("20 70");
    assert!(terminal.raw(), "joined, the local terminal is raw");
    terminal.type_in(b"hello\r");
    terminal.expect("got-hello");
    let (code, terminal) = terminal.exit_code();
    assert_eq!(code, 3, "the command's exit code");
    assert!(!terminal.raw(), "the terminal's modes are restored");
}

#[test]
fn ctrl_bracket_detaches_and_attach_joins_again() {
    let server = start_server(&[]);
    let mut terminal = Terminal::run(
        &server,
        &[
            "run",
            "-t",
            "--",
            "echo first-run; read line; echo got-$line",
        ],
    );
    terminal.expect("first-run");
    terminal.type_in(&[0x1d]); // Ctrl-]
    terminal.expect("detached");
    let (code, terminal) = terminal.exit_code();
    assert_eq!(code, 0);
    assert!(!terminal.raw(), "the terminal's modes are restored");
    // The process runs on.
    let listed = server.json("GET", "/api/v0/processes/list", "");
    let process = &listed["processes"][0];
    assert_eq!(process["running"], true, "{listed}");
    let id = process["id"].as_str().expect("id").to_owned();

    let mut terminal = Terminal::run(&server, &["attach", &id]);
    // The screen so far, then live.
    terminal.expect("first-run");
    terminal.type_in(b"again\r");
    terminal.expect("got-again");
    let (code, _) = terminal.exit_code();
    assert_eq!(code, 0);
}

/// Input that is not a terminal (a pipe) ends: the end is passed on as the
/// remote terminal's end-of-file character, so the command sees it and the
/// client does not hang.
#[test]
fn run_t_passes_the_end_of_piped_input_on() {
    let server = start_server(&[]);
    let mut client = Command::new(BIN)
        .args([
            "run",
            "-t",
            "--",
            "read x; echo got-$x; cat > /dev/null; echo eof-seen",
        ])
        .env("AGENTPROC_SERVER", format!("http://{}", server.address))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the client");
    client
        .stdin
        .take()
        .expect("stdin")
        .write_all("hi\ncaf\u{e9}\n".as_bytes())
        .expect("write");
    // The pipe closed: its end must reach the command.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(client.wait_with_output());
    });
    let output = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the client hung after its input ended")
        .expect("client output");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("got-hi"), "{text}");
    assert!(text.contains("eof-seen"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");
}

/// A window size change of the local terminal reaches the remote one: the
/// client, on a pty that is its controlling terminal (set up by Python's
/// `pty.fork`, which does the session and `TIOCSCTTY` steps), gets
/// `SIGWINCH` and resizes; the remote shell's `WINCH` trap prints the new
/// size.
#[test]
fn run_t_forwards_window_size_changes() {
    let server = start_server(&[]);
    let driver = r#"
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", "-t", "--",
        "trap 'echo resized-$(stty size | tr \" \" x)' WINCH; echo armed; read x; read y"])
seen = b""
def until(text, limit=30):
    global seen
    end = time.time() + limit
    while text not in seen:
        if time.time() > end:
            sys.exit("never saw %r in %r" % (text, seen))
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                sys.exit("the client ended: %r" % seen)
until(b"armed")
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
until(b"resized-33x77")
os.write(fd, b"a\rb\r")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let output = Command::new("python3")
        .args(["-c", driver, BIN])
        .env("AGENTPROC_SERVER", format!("http://{}", server.address))
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
