//! The audit log: one JSON line per start, signal and exit, appended to a
//! file (mode 0600) by a thread of its own, written out per event, rotated
//! by size. Starts record the names of the variables a request set, never
//! their values.
//!
//! Fed by the manager's observer hook, so no event is missed, and the
//! manager is never held up by the disk (the observer only queues).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentproc_core::Manager;
use agentproc_core::manager::ManagerEvent;
use anyhow::Context as _;
use serde_json::{Value, json};

/// Where and how the audit log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The file (appended to across restarts).
    pub path: PathBuf,
    /// Past this size the file is renamed to `<path>.1` (older ones move
    /// up to `<path>.<keep>`, the oldest is deleted) and a new one started;
    /// 0 never rotates.
    pub max_bytes: u64,
    /// How many rotated files are kept (at least 1).
    pub keep: u32,
}

/// Work for the writer thread.
enum Job {
    Line(String),
    /// Answered once every earlier line is written.
    Flush(mpsc::Sender<()>),
}

/// The running audit log.
#[derive(Debug)]
pub struct AuditLog {
    jobs: std::sync::Mutex<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl AuditLog {
    /// Waits (at most `timeout`) until every event so far is written: at
    /// shutdown, so the last exits are not lost.
    pub fn flush(&self, timeout: Duration) {
        let (done, flushed) = mpsc::channel();
        let sent = self
            .jobs
            .lock()
            .is_ok_and(|jobs| jobs.send(Job::Flush(done)).is_ok());
        if sent {
            let _ = flushed.recv_timeout(timeout);
        }
    }
}

/// Starts the writer thread and feeds it `manager`'s events. The thread
/// ends when the manager (and with it the observer) is dropped.
///
/// # Errors
/// When the file cannot be opened for appending.
pub fn start(manager: &Manager, settings: &AuditSettings) -> anyhow::Result<AuditLog> {
    let mut log = AuditFile::open(settings.clone())?;
    let (jobs, queued) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("agentproc-audit".to_owned())
        .spawn(move || {
            for job in queued {
                match job {
                    Job::Line(line) => {
                        if let Err(error) = log.append(&line) {
                            tracing::error!(path = %log.settings.path.display(), %error, "cannot write the audit log");
                        }
                    }
                    Job::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })
        .context("cannot start the audit log writer")?;
    let observer_jobs = std::sync::Mutex::new(jobs.clone());
    manager.observe(move |event| {
        if let Some(record) = record(event) {
            let line = record.to_string();
            if let Ok(jobs) = observer_jobs.lock() {
                let _ = jobs.send(Job::Line(line));
            }
        }
    });
    Ok(AuditLog {
        jobs: std::sync::Mutex::new(jobs),
    })
}

/// The JSON record of `event` (`None` for events not audited).
fn record(event: &ManagerEvent) -> Option<Value> {
    let at = unix_millis(SystemTime::now());
    let mut record = match event {
        ManagerEvent::Started { info, env_keys, .. } => json!({
            "event": "start",
            "process_id": info.id.to_string(),
            "chat_id": info.chat_id.map(|chat| chat.to_string()),
            "command": info.command,
            "workdir": info.workdir.as_ref().map(|dir| dir.to_string_lossy()),
            "env_keys": env_keys,
            "background": info.background,
            "pid": info.pid,
            "client_token": info.client_token,
            "timeout_ms": info.timeout.map(millis),
        }),
        ManagerEvent::Signaled {
            id,
            chat_id,
            signal,
            escalate_after,
        } => json!({
            "event": "signal",
            "process_id": id.to_string(),
            "chat_id": chat_id.map(|chat| chat.to_string()),
            "signal": signal.name(),
            "grace_ms": escalate_after.map(millis),
        }),
        ManagerEvent::Exited {
            info, output_bytes, ..
        } => {
            let exit = info.exit.as_ref()?;
            // A start that failed has no start line: its exit says what
            // was asked for and why it failed.
            let failed = exit.reason == agentproc_core::ExitReason::SpawnFailed;
            json!({
                "event": "exit",
                "process_id": info.id.to_string(),
                "chat_id": info.chat_id.map(|chat| chat.to_string()),
                "exit_code": exit.code,
                "reason": exit.reason.as_str(),
                "signal": exit.signal.and_then(agentproc_core::exec::signal_name),
                "duration_ms": millis(exit.duration),
                "output_bytes": output_bytes,
                "command": failed.then(|| info.command.clone()),
                "workdir": failed.then(|| info.workdir.as_ref().map(|dir| dir.to_string_lossy().into_owned())).flatten(),
                "client_token": failed.then(|| info.client_token.clone()).flatten(),
                "error": exit.error,
            })
        }
        _ => return None,
    };
    let object = record.as_object_mut()?;
    object.retain(|_, value| !value.is_null());
    object.insert("time_unix_ms".to_owned(), json!(at));
    Some(record)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// The open audit file and its size.
struct AuditFile {
    settings: AuditSettings,
    file: File,
    size: u64,
}

impl AuditFile {
    fn open(settings: AuditSettings) -> anyhow::Result<Self> {
        let file = open_append(&settings.path)
            .with_context(|| format!("cannot open the audit log {}", settings.path.display()))?;
        let size = file.metadata().map_or(0, |meta| meta.len());
        Ok(Self {
            settings,
            file,
            size,
        })
    }

    /// Appends one line (rotating first if it would pass the size), in one
    /// write, so the kernel has it when this returns.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        let bytes = line.len() as u64 + 1;
        if self.settings.max_bytes > 0
            && self.size > 0
            && self.size + bytes > self.settings.max_bytes
        {
            let path = &self.settings.path;
            for n in (1..self.settings.keep.max(1)).rev() {
                match std::fs::rename(rotated_path(path, n), rotated_path(path, n + 1)) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(error);
                    }
                    _ => {}
                }
            }
            std::fs::rename(path, rotated_path(path, 1))?;
            self.file = open_append(path)?;
            self.size = 0;
        }
        let mut buffer = Vec::with_capacity(line.len() + 1);
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
        self.file.write_all(&buffer)?;
        self.size += bytes;
        Ok(())
    }
}

/// Opens `path` for appending, creating it (and missing directories, 0700)
/// as needed; an existing file is made 0600 too, since the log holds
/// command lines.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// `<path>.<n>`.
fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("agentproc-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("audit.jsonl")
    }

    #[test]
    fn lines_are_appended_across_restarts_and_rotated_by_size() {
        let path = temp_path("rotate");
        let settings = AuditSettings {
            path: path.clone(),
            max_bytes: 30,
            keep: 2,
        };
        let mut log = AuditFile::open(settings.clone()).expect("open");
        log.append("{\"n\":1}").expect("append");
        drop(log);
        // A restart appends.
        let mut log = AuditFile::open(settings).expect("reopen");
        log.append("{\"n\":2}").expect("append");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"n\":1}\n{\"n\":2}\n"
        );
        // The next line would pass 30 bytes: rotate first.
        log.append("{\"n\":3, \"long\": true}").expect("append");
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 1)).expect("rotated"),
            "{\"n\":1}\n{\"n\":2}\n"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"n\":3, \"long\": true}\n"
        );
        // Older files move up; beyond `keep` the oldest goes.
        log.append("{\"n\":4, \"long\": true}").expect("append");
        log.append("{\"n\":5, \"long\": true}").expect("append");
        let read = |n| std::fs::read_to_string(rotated_path(&path, n)).expect("rotated");
        assert_eq!(read(1), "{\"n\":4, \"long\": true}\n");
        assert_eq!(read(2), "{\"n\":3, \"long\": true}\n");
        assert!(!rotated_path(&path, 3).exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode(&path) & 0o777, 0o600);
        assert_eq!(mode(&rotated_path(&path, 2)) & 0o777, 0o600);
        // An existing, more open file is made private when opened.
        drop(log);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let _log = AuditFile::open(AuditSettings {
            path: path.clone(),
            max_bytes: 30,
            keep: 2,
        })
        .expect("reopen");
        assert_eq!(mode(&path) & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
