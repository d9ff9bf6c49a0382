//! The journal: a restart after a crash stops what the crashed instance
//! left running, and nothing else.

use std::path::PathBuf;

use agentproc_core::exec::{ExecChild, ExitStatus};
use agentproc_exec_local::journal::{EntryKind, JOURNAL_FILE, JournalError};
use agentproc_exec_local::{Journal, spawn};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::sh;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "agentproc-journal-test-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("boot id")
        .trim()
        .to_owned()
}

fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = stat.rsplit_once(')').expect("format").1;
    rest.split_whitespace()
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("number")
}

#[tokio::test]
async fn a_restart_reclaims_groups_a_crashed_instance_left_running() {
    let dir = temp_dir();
    let (journal, reclaimed) = Journal::open(&dir).expect("open");
    assert!(reclaimed.is_empty());
    let child = spawn(&sh("sleep 300 & echo $!; wait")).expect("spawn");
    let mut lines = BufReader::new(child.take_output().expect("output")).lines();
    let grandchild: u32 = lines
        .next_line()
        .await
        .expect("read")
        .expect("pid")
        .parse()
        .expect("pid");
    journal.record_group(child.id()).expect("record");
    // "Crash": the lock goes away with the instance, the journal stays.
    drop(journal);

    let (journal, reclaimed) = Journal::open(&dir).expect("reopen");
    assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
    assert_eq!(reclaimed[0].kind, EntryKind::Group);
    assert_eq!(reclaimed[0].id, child.id());
    let mut killed = reclaimed[0].killed.clone();
    killed.sort_unstable();
    let mut expected = vec![child.id(), grandchild];
    expected.sort_unstable();
    assert_eq!(killed, expected);
    assert!(matches!(
        child.wait().await.expect("wait").status,
        ExitStatus::Signaled { signal: 9, .. }
    ));
    assert_eq!(
        lines.next_line().await.expect("read"),
        None,
        "the grandchild is gone too"
    );
    assert_eq!(journal.live_entries(), 0, "a fresh journal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn entries_whose_pid_was_reused_or_from_another_boot_are_left_alone() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bystander = spawn(&sh("exec sleep 300")).expect("spawn");
    let pid = bystander.id();
    let real = start_time(pid);
    // Same pid, different start time: a reused pid, not ours.
    std::fs::write(
        dir.join(JOURNAL_FILE),
        format!(
            "agentproc-journal 1 boot {}\ngroup {pid} {}\n",
            boot_id(),
            real + 1
        ),
    )
    .expect("write");
    let (journal, reclaimed) = Journal::open(&dir).expect("open");
    assert!(reclaimed.is_empty());
    drop(journal);
    // The right start time, but written before a reboot.
    std::fs::write(
        dir.join(JOURNAL_FILE),
        format!("agentproc-journal 1 boot another-boot\ngroup {pid} {real}\n"),
    )
    .expect("write");
    let (_journal, reclaimed) = Journal::open(&dir).expect("open");
    assert!(reclaimed.is_empty());
    // Still alive: signal it ourselves to finish.
    bystander
        .signal(agentproc_core::Signal::Kill)
        .expect("the bystander survived");
    bystander.wait().await.expect("wait");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn retired_and_cleared_entries_are_not_reclaimed() {
    let dir = temp_dir();
    let (journal, _) = Journal::open(&dir).expect("open");
    let child = spawn(&sh("exec sleep 300")).expect("spawn");
    journal.record_group(child.id()).expect("record");
    journal.forget(child.id());
    let other = spawn(&sh("exec sleep 300")).expect("spawn");
    journal.record_group(other.id()).expect("record");
    journal.clear();
    drop(journal);
    let (_journal, reclaimed) = Journal::open(&dir).expect("reopen");
    assert!(reclaimed.is_empty(), "{reclaimed:?}");
    for process in [child, other] {
        process
            .signal(agentproc_core::Signal::Kill)
            .expect("still alive");
        process.wait().await.expect("wait");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn one_state_directory_serves_one_instance() {
    let dir = temp_dir();
    let (_first, _) = Journal::open(&dir).expect("open");
    let error = Journal::open(&dir).expect_err("in use");
    assert!(matches!(error, JournalError::InUse { .. }));
    assert!(
        error
            .to_string()
            .contains("another agentproc is already using the state directory")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
