//! Children on a pseudo-terminal, with real programs: the window size and
//! its changes, the end of output, typed input and Ctrl-C, signals to a
//! job-control shell's jobs, and telling when a program waits for input.
//! Waits are on output, exits, FIFOs, or a condition polled until it holds
//! (with a generous deadline only as a hang guard).

use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use agentproc_core::exec::{
    ExecChild, ExecSpec, Execer, ExitStatus, InputWriter, OutputReader, Signal, TerminalModes,
    TerminalSize,
};
use agentproc_exec_local::LocalExecer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ORPHANS;

/// How long any one wait may take before the test fails as hung.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn on_terminal(program: &str, args: &[&str], size: TerminalSize) -> ExecSpec {
    let mut spec = ExecSpec::new(program);
    spec.args = args.iter().map(Into::into).collect();
    spec.env
        .insert("PATH".into(), std::env::var_os("PATH").unwrap_or_default());
    spec.env.insert("TERM".into(), "dumb".into());
    spec.terminal = Some(size);
    spec
}

fn sh_on_terminal(script: &str) -> ExecSpec {
    on_terminal("sh", &["-c", script], TerminalSize::DEFAULT)
}

/// A child on a terminal, with its output read as it comes.
struct Session {
    child: Box<dyn ExecChild>,
    output: OutputReader,
    input: InputWriter,
    seen: String,
    cursor: usize,
}

impl Session {
    fn spawn(spec: &ExecSpec) -> Self {
        let child = LocalExecer::default().spawn(spec).expect("spawn");
        let output = child.take_output().expect("output");
        let input = child.take_stdin().expect("a terminal child has input");
        Self {
            child,
            output,
            input,
            seen: String::new(),
            cursor: 0,
        }
    }

    fn pid(&self) -> u32 {
        self.child.pid().expect("pid")
    }

    async fn type_in(&mut self, text: &str) {
        self.input
            .write_all(text.as_bytes())
            .await
            .expect("write to the terminal");
    }

    /// Reads until the output after the last match holds `needle`; returns
    /// the output up to and including it.
    async fn until(&mut self, needle: &str) -> String {
        loop {
            if let Some(at) = self.seen[self.cursor..].find(needle) {
                let end = self.cursor + at + needle.len();
                let text = self.seen[self.cursor..end].to_owned();
                self.cursor = end;
                return text;
            }
            assert!(
                self.read_some().await,
                "the output ended before {needle:?}: {:?}",
                self.seen
            );
        }
    }

    /// Reads to the end of the output; returns what came after the last
    /// match.
    async fn rest(&mut self) -> String {
        while self.read_some().await {}
        let text = self.seen[self.cursor..].to_owned();
        self.cursor = self.seen.len();
        text
    }

    /// Reads one chunk; `false` at the end of the output.
    async fn read_some(&mut self) -> bool {
        let mut chunk = [0; 4096];
        let read = tokio::time::timeout(HANG_GUARD, self.output.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no output for a minute after {:?}", self.seen))
            .expect("read the terminal");
        self.seen.push_str(&String::from_utf8_lossy(&chunk[..read]));
        read > 0
    }

    /// Waits until the child blocks on input; returns the waiting process.
    async fn blocked_on_input(&self) -> u32 {
        eventually("the program waits for input", || {
            self.child.blocked_on_input()
        })
        .await
    }

    fn modes(&self) -> TerminalModes {
        self.child
            .terminal()
            .expect("a terminal")
            .modes()
            .expect("modes")
    }

    async fn wait(&self) -> ExitStatus {
        self.child.wait().await.expect("wait").status
    }
}

/// Polls `probe` until it gives a value: a wait on the condition itself
/// (the kernel tells nobody when a process starts to sleep in `read`),
/// yielding between probes; the deadline only guards against a hang.
async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::task::yield_now().await;
    }
}

/// A field of `/proc/<pid>/stat` (numbered as in proc(5)).
fn stat_field(pid: u32, field: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(field - 3).map(str::to_owned)
}

/// Waits until `pid` is asleep in `program` (it has called `exec`, and the
/// kernel has put it to sleep).
async fn asleep_in(pid: u32, program: &str) {
    eventually(&format!("{pid} sleeps in {program}"), || {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == program && stat_field(pid, 3).as_deref() == Some("S")).then_some(())
    })
    .await;
}

/// Checks a few times that nothing of `child` waits for input.
async fn never_blocked(child: &dyn ExecChild) {
    for _ in 0..5 {
        assert_eq!(child.blocked_on_input(), None);
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_local_executor_supports_terminals() {
    assert!(LocalExecer::default().supports_terminal());
}

#[tokio::test]
async fn the_window_size_is_set_and_follows_resizes() {
    let size = TerminalSize::new(31, 97).expect("size");
    let mut session = Session::spawn(&on_terminal(
        "sh",
        &[
            "-c",
            // `read` may be interrupted by the trap; the loop goes on.
            "stty size; tty; trap 'echo WINCH' WINCH; echo ready; \
             while :; do IFS= read -r line && eval \"$line\"; done",
        ],
        size,
    ));
    let start = session.until("ready").await;
    assert!(start.contains("31 97\r\n"), "{start:?}");
    assert!(start.contains("/dev/pts/"), "{start:?}");
    // `ready` comes after `trap`: the trap is in place.
    let terminal = session.child.terminal().expect("a terminal");
    terminal
        .resize(TerminalSize::new(50, 132).expect("size"))
        .expect("resize");
    session.until("WINCH").await;
    session.type_in("stty size\n").await;
    // The typed line is echoed first, then the answer.
    let answer = session.until("50 132\r\n").await;
    assert!(answer.contains("stty size"), "{answer:?}");
    session.type_in("exit 3\n").await;
    assert_eq!(session.wait().await, ExitStatus::Exited(3));
    session.rest().await;
}

#[tokio::test]
async fn the_child_leads_its_session_and_group_on_the_terminal() {
    let mut session = Session::spawn(&sh_on_terminal(
        "cut -d' ' -f5,6,8 /proc/$$/stat; echo done",
    ));
    let pid = session.pid();
    let ids = session.until("done").await;
    // Group, session and the terminal's foreground group are all the
    // child; the kernel writes `\n` as `\r\n`.
    assert!(
        ids.starts_with(&format!("{pid} {pid} {pid}\r\n")),
        "{ids:?} for {pid}"
    );
    assert!(session.wait().await.success());
    assert_eq!(session.rest().await, "\r\n");
}

#[tokio::test]
async fn output_ends_when_the_program_exits() {
    let mut session = Session::spawn(&sh_on_terminal("printf hello; exit 7"));
    assert_eq!(session.rest().await, "hello");
    assert_eq!(session.wait().await, ExitStatus::Exited(7));
    // Once reaped, the terminal's own handle is closed.
    let terminal = session.child.terminal().expect("a terminal");
    assert!(terminal.modes().is_err());
    assert!(terminal.resize(TerminalSize::DEFAULT).is_err());
}

/// A descendant that keeps the slave open keeps the output open after the
/// child exits (the manager bounds how long it reads); the end comes once
/// the descendant exits.
#[tokio::test]
async fn a_grandchild_holding_the_terminal_delays_the_end_of_output() {
    let _orphans = ORPHANS.lock().await;
    let dir = std::env::temp_dir().join(format!("agentproc-pty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fifo = dir.join("release");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    // The session leader's exit sends SIGHUP to the foreground group; the
    // grandchild ignores it (set before the fork, so it cannot lose a race
    // with the leader's exit). It opens the FIFO for reading and writing
    // (which never blocks) before it says so, so the test's write cannot
    // come before its reader.
    let mut session = Session::spawn(&sh_on_terminal(&format!(
        "trap '' HUP; (exec 3<>{}; echo holding; read x <&3; echo grandchild done) &",
        fifo.display()
    )));
    session.until("holding\r\n").await;
    assert!(session.wait().await.success());
    // The grandchild waits on the FIFO and holds the slave: no end of
    // output can be ready.
    let mut chunk = [0; 64];
    tokio::select! {
        biased;
        read = session.output.read(&mut chunk) => {
            panic!("output before the grandchild was released: {read:?}")
        }
        () = std::future::ready(()) => {}
    }
    // Non-blocking: with the grandchild gone this fails (ENXIO) instead
    // of waiting for a reader.
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .and_then(|mut fifo| std::io::Write::write_all(&mut fifo, b"go\n"))
        .expect("release the grandchild");
    let rest = session.rest().await;
    assert!(rest.contains("grandchild done"), "{rest:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn typed_input_reaches_a_reading_program_which_is_seen_waiting() {
    let mut session = Session::spawn(&sh_on_terminal("read x; echo \"got $x\""));
    // The shell itself reads.
    assert_eq!(session.blocked_on_input().await, session.pid());
    let modes = session.modes();
    assert!(modes.canonical && modes.echo, "{modes:?}");
    assert_eq!(modes.eof, 0x04);
    session.type_in("hello\n").await;
    // Echoed as typed, then the answer.
    assert_eq!(session.rest().await, "hello\r\ngot hello\r\n");
    assert!(session.wait().await.success());
    assert_eq!(session.child.blocked_on_input(), None);
}

/// An interactive bash with job control: its prompt is seen as waiting for
/// input (readline waits in `pselect6`), Ctrl-C ends the foreground job
/// and not the shell.
#[tokio::test]
async fn ctrl_c_interrupts_a_job_and_the_interactive_shell_survives() {
    let mut spec = on_terminal(
        "bash",
        &["--norc", "--noprofile", "-i"],
        TerminalSize::DEFAULT,
    );
    spec.env.insert("PS1".into(), "prompt> ".into());
    spec.env.insert("HISTFILE".into(), "/dev/null".into());
    let mut session = Session::spawn(&spec);
    let bash = session.pid();
    let banner = session.until("prompt> ").await;
    assert!(!banner.contains("no job control"), "{banner:?}");
    assert_eq!(session.blocked_on_input().await, bash);

    session.type_in("sleep 300\n").await;
    let sleep = eventually("the sleep is the foreground job", || {
        foreground_process(bash, "sleep")
    })
    .await;
    assert_ne!(
        stat_field(sleep, 5),
        Some(bash.to_string()),
        "a job of its own"
    );
    never_blocked(session.child.as_ref()).await;
    session.type_in("\x03").await;
    assert!(
        agentproc_exec_local::wait_until_dead(&[sleep], HANG_GUARD).is_empty(),
        "Ctrl-C did not end the sleep"
    );
    // The shell runs the next command: `42` appears only as its output,
    // never in the echoed command line.
    session.type_in("echo $((6 * 7))\n").await;
    session.until("42\r\n").await;
    session.type_in("exit\n").await;
    assert_eq!(session.wait().await, ExitStatus::Exited(0));
    session.rest().await;
}

/// The process named `program` in the session `session` that is in the
/// terminal's foreground group (proc(5): field 5 the group, 6 the session,
/// 8 the terminal's foreground group).
fn foreground_process(session: u32, program: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == program)
                && stat_field(*pid, 6) == Some(session.to_string())
                && stat_field(*pid, 5).is_some()
                && stat_field(*pid, 5) == stat_field(*pid, 8)
        })
}

/// `killpg` of the shell's group would miss its jobs: each runs in a group
/// of its own.
#[tokio::test]
async fn signals_reach_every_job_of_a_job_control_shell() {
    let _orphans = ORPHANS.lock().await;
    let mut spec = on_terminal(
        "bash",
        &["--norc", "--noprofile", "-i"],
        TerminalSize::DEFAULT,
    );
    spec.env.insert("PS1".into(), "prompt> ".into());
    spec.env.insert("HISTFILE".into(), "/dev/null".into());
    let mut session = Session::spawn(&spec);
    let bash = session.pid();
    session.until("prompt> ").await;
    session.type_in("sleep 300 & echo \"job=$!=\"\n").await;
    // The echoed command line holds `job=$!=`, the output the pid.
    let text = session.until("=\r\n").await;
    let job: u32 = text
        .rsplit_once("job=")
        .and_then(|(_, rest)| rest.strip_suffix("=\r\n"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no job pid in {text:?}"));
    eventually("the job has its own group", || {
        (stat_field(job, 5) == Some(job.to_string())).then_some(())
    })
    .await;
    assert_eq!(stat_field(job, 6), Some(bash.to_string()));
    session.child.signal(Signal::Kill).expect("kill");
    assert!(matches!(
        session.wait().await,
        ExitStatus::Signaled { signal: 9, .. }
    ));
    assert!(
        agentproc_exec_local::wait_until_dead(&[job], HANG_GUARD).is_empty(),
        "the background job survived"
    );
    session.rest().await;
}

#[tokio::test]
async fn python_input_is_seen_waiting_in_canonical_mode_with_echo() {
    let mut session = Session::spawn(&on_terminal(
        "python3",
        &["-c", "print('got', input('name? '))"],
        TerminalSize::DEFAULT,
    ));
    assert_eq!(session.blocked_on_input().await, session.pid());
    let modes = session.modes();
    assert!(modes.canonical && modes.echo, "{modes:?}");
    session.type_in("ada\n").await;
    assert_eq!(session.rest().await, "name? ada\r\ngot ada\r\n");
    assert!(session.wait().await.success());
}

/// `getpass` reads `/dev/tty` with echo off: the password-prompt
/// fingerprint.
#[tokio::test]
async fn a_password_prompt_is_seen_waiting_with_echo_off() {
    let mut session = Session::spawn(&on_terminal(
        "python3",
        &[
            "-c",
            "import getpass; print('length', len(getpass.getpass()))",
        ],
        TerminalSize::DEFAULT,
    ));
    assert_eq!(session.blocked_on_input().await, session.pid());
    let modes = session.modes();
    assert!(modes.canonical && !modes.echo, "{modes:?}");
    session.type_in("hunter2\n").await;
    let rest = session.rest().await;
    assert!(rest.contains("length 7"), "{rest:?}");
    assert!(!rest.contains("hunter2"), "echoed: {rest:?}");
    assert!(session.wait().await.success());
}

#[tokio::test]
async fn a_raw_mode_program_is_seen_waiting_without_canonical_mode() {
    let mut session = Session::spawn(&on_terminal(
        "python3",
        &[
            "-c",
            "import sys, tty; tty.setraw(0); key = sys.stdin.read(1); print('key', key, end='')",
        ],
        TerminalSize::DEFAULT,
    ));
    assert_eq!(session.blocked_on_input().await, session.pid());
    let modes = session.modes();
    assert!(!modes.canonical && !modes.echo, "{modes:?}");
    // One key, no Enter.
    session.type_in("x").await;
    assert_eq!(session.rest().await, "key x");
    assert!(session.wait().await.success());
}

/// Event loops wait in `poll` or `epoll_wait`, not `read`; a program
/// waiting only for a socket is not waiting for input.
#[tokio::test]
async fn polling_the_terminal_counts_and_polling_a_socket_does_not() {
    for (how, script) in [
        (
            "poll",
            "import select; p = select.poll(); p.register(0, select.POLLIN); p.poll(); print('polled')",
        ),
        (
            "epoll",
            "import select; e = select.epoll(); e.register(0, select.EPOLLIN); e.poll(); print('polled')",
        ),
        (
            "select",
            "import select, sys; select.select([sys.stdin], [], []); print('polled')",
        ),
        (
            "a thread",
            "import sys, threading; t = threading.Thread(target=sys.stdin.readline); t.start(); t.join(); print('polled')",
        ),
    ] {
        let mut session = Session::spawn(&on_terminal(
            "python3",
            &["-c", script],
            TerminalSize::DEFAULT,
        ));
        assert_eq!(session.blocked_on_input().await, session.pid(), "{how}");
        session.type_in("\n").await;
        session.until("polled").await;
        assert!(session.wait().await.success(), "{how}");
        session.rest().await;
    }

    let mut session = Session::spawn(&on_terminal(
        "python3",
        &[
            "-c",
            "import select, socket; a, b = socket.socketpair(); print('polling', flush=True); \
             select.select([a], [], []); e = select.epoll(); e.register(a.fileno(), select.EPOLLIN); e.poll()",
        ],
        TerminalSize::DEFAULT,
    ));
    session.until("polling").await;
    asleep_in(session.pid(), "python3").await;
    never_blocked(session.child.as_ref()).await;
    session.child.signal(Signal::Kill).expect("kill");
    session.wait().await;
    session.rest().await;
}

#[tokio::test]
async fn a_sleeping_program_is_not_waiting_for_input() {
    let mut session = Session::spawn(&sh_on_terminal("echo sleeping; exec sleep 300"));
    session.until("sleeping").await;
    asleep_in(session.pid(), "sleep").await;
    never_blocked(session.child.as_ref()).await;
    session.child.signal(Signal::Terminate).expect("terminate");
    assert!(matches!(
        session.wait().await,
        ExitStatus::Signaled { signal: 15, .. }
    ));
    session.rest().await;
}

/// The executor does not answer a terminal's queries: the query's bytes
/// reach the output, and a reply written as input reaches the program.
#[tokio::test]
async fn a_cursor_position_query_reaches_the_output_and_a_typed_reply_the_program() {
    let mut session = Session::spawn(&on_terminal(
        "bash",
        &[
            "-c",
            "printf 'query\\033[6n'; IFS= read -rsdR reply; echo \"reply=${reply#*[}\"",
        ],
        TerminalSize::DEFAULT,
    ));
    session.until("query\x1b[6n").await;
    session.blocked_on_input().await;
    session.type_in("\x1b[12;34R").await;
    // Silent (`-s`): the reply is not echoed.
    assert_eq!(session.rest().await, "reply=12;34\r\n");
    assert!(session.wait().await.success());
}

fn with_stdin_pipe(script: &str) -> ExecSpec {
    let mut spec = crate::sh(script);
    spec.stdin = true;
    spec
}

#[tokio::test]
async fn a_program_reading_its_stdin_pipe_is_seen_waiting() {
    let child = LocalExecer::default()
        .spawn(&with_stdin_pipe("read x; echo \"got $x\""))
        .expect("spawn");
    let waiting = eventually("the shell reads its stdin", || child.blocked_on_input()).await;
    assert_eq!(Some(waiting), child.pid());
    assert!(child.terminal().is_none());
    let mut stdin = child.take_stdin().expect("stdin");
    stdin.write_all(b"pipe\n").await.expect("write");
    let mut output = String::new();
    child
        .take_output()
        .expect("output")
        .read_to_string(&mut output)
        .await
        .expect("read");
    assert_eq!(output, "got pipe\n");
    assert!(child.wait().await.expect("wait").status.success());
}

#[tokio::test]
async fn a_sleeping_program_with_a_stdin_pipe_is_not_waiting() {
    let child = LocalExecer::default()
        .spawn(&with_stdin_pipe("echo sleeping; exec sleep 300"))
        .expect("spawn");
    let mut output = child.take_output().expect("output");
    let mut line = [0; 9];
    output.read_exact(&mut line).await.expect("read");
    assert_eq!(&line, b"sleeping\n");
    asleep_in(child.pid().expect("pid"), "sleep").await;
    never_blocked(child.as_ref()).await;
    // Without a stdin pipe there is nothing to wait for.
    let no_stdin = LocalExecer::default()
        .spawn(&crate::sh("exec sleep 300"))
        .expect("spawn");
    assert_eq!(no_stdin.blocked_on_input(), None);
    for child in [&child, &no_stdin] {
        child.signal(Signal::Kill).expect("kill");
        child.wait().await.expect("wait");
    }
}
