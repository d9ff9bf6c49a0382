//! The agent view of a managed process's output: the one place a view is
//! fed from a [`Manager`], so every front end (HTTP's `view=agent`, MCP's
//! tools) computes exactly the same view. It asks the manager for one
//! streaming pass over the process's full log ([`Manager::scan_output`]),
//! or, when no log is kept, for its head/tail buffer.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use agentproc_core::log::ScanEvent;
use agentproc_core::manager::OutputError;
use agentproc_core::{Manager, ProcessId};
use uuid::Uuid;

use crate::{AgentView, View, ViewOptions};

/// Where a view was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewSource {
    /// The full log on disk.
    Log,
    /// The head/tail buffer (no full log is kept for the process).
    Buffer,
}

impl ViewSource {
    /// The wire name: `log` or `buffer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Buffer => "buffer",
        }
    }
}

/// A computed view and where its bytes came from.
#[derive(Debug)]
pub struct ManagerView {
    /// The view.
    pub view: View,
    /// Where its bytes came from.
    pub source: ViewSource,
    /// The first offset described (after bytes that are gone).
    pub start: u64,
    /// The offset just past the last byte described.
    pub end: u64,
    /// Bytes between the requested offset and `start` that are gone.
    pub skipped: u64,
    /// Whether every line number is absolute. The head/tail buffer does not
    /// count the lines it drops, so after its omitted middle they are not.
    pub exact_lines: bool,
}

/// Computes the agent view of process `id`'s output from `cursor` (all of
/// it when `None`), within `max_tokens`, as `requester` may see it.
/// `fetch_hint` is the template markers use to say how to fetch omitted
/// lines (see [`ViewOptions::fetch_hint`]); `None` leaves it out.
///
/// Without a log (logs off, or this process's log could not be created),
/// the whole output comes from the head/tail buffer; a `cursor` then needs
/// the log and is an error, as for raw cursor reads.
///
/// # Errors
/// When the process is not visible to `requester`, a cursor is given and
/// no log is kept, or the log cannot be read.
pub async fn agent_view_of(
    manager: &Manager,
    id: ProcessId,
    requester: Option<Uuid>,
    cursor: Option<u64>,
    max_tokens: usize,
    fetch_hint: Option<String>,
) -> Result<ManagerView, OutputError> {
    let from = cursor.unwrap_or(0);
    let building = Arc::new(Mutex::new(Building {
        view: None,
        max_tokens,
        fetch_hint,
        from_start: cursor.is_none(),
        start: 0,
        skipped: 0,
    }));
    let feeding = Arc::clone(&building);
    let scanned = manager
        .scan_output(id, requester, from, move |event| {
            lock(&feeding).event(event);
        })
        .await;
    match scanned {
        Ok((visit, end)) => {
            drop(visit);
            let building = std::mem::replace(&mut *lock(&building), Building::empty(max_tokens));
            let (start, skipped) = (building.start, building.skipped);
            let view = finish(building.into_view()).await?;
            Ok(ManagerView {
                view,
                source: ViewSource::Log,
                start,
                end,
                skipped,
                exact_lines: true,
            })
        }
        // No log: the head/tail buffer, for the whole output only (a
        // cursor needs the log, as for raw cursor reads).
        Err(OutputError::LogsDisabled | OutputError::LogMissing) if cursor.is_none() => {
            let (_, buffer) = manager.buffered_output(id, requester)?;
            let mut view = AgentView::new(ViewOptions {
                max_tokens,
                first_line: 1,
                fetch_hint: None,
            });
            view.push(buffer.head());
            let omitted = buffer.omitted();
            if omitted > 0 {
                view.gap(omitted, 0);
            }
            view.push(buffer.tail());
            Ok(ManagerView {
                view: finish(view).await?,
                source: ViewSource::Buffer,
                start: 0,
                end: buffer.total(),
                skipped: 0,
                exact_lines: omitted == 0,
            })
        }
        Err(error) => Err(error),
    }
}

/// Finishing tokenizes the candidate lines (and builds the tokenizer the
/// first time): CPU work, off the async threads.
async fn finish(view: AgentView) -> Result<View, OutputError> {
    tokio::task::spawn_blocking(move || view.finish())
        .await
        .map_err(|join| OutputError::Io(std::io::Error::other(join)))
}

/// The state of a view being fed by a log scan.
struct Building {
    view: Option<AgentView>,
    max_tokens: usize,
    fetch_hint: Option<String>,
    /// The whole output was asked for (not from a cursor).
    from_start: bool,
    start: u64,
    skipped: u64,
}

fn lock(building: &Mutex<Building>) -> MutexGuard<'_, Building> {
    building.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Building {
    fn empty(max_tokens: usize) -> Self {
        Self {
            view: None,
            max_tokens,
            fetch_hint: None,
            from_start: true,
            start: 0,
            skipped: 0,
        }
    }

    fn event(&mut self, event: ScanEvent<'_>) {
        match event {
            ScanEvent::Start {
                offset,
                line,
                skipped,
            } => {
                self.start = offset;
                self.skipped = skipped;
                // From the start of the output, what the cap dropped is
                // lines 1 to `line - 1`; from a cursor, how many lines the
                // bytes before `offset` held is unknown.
                let (first_line, lost_lines) = if self.from_start {
                    (1, line - 1)
                } else {
                    (line, 0)
                };
                let mut view = AgentView::new(ViewOptions {
                    max_tokens: self.max_tokens,
                    first_line,
                    fetch_hint: self.fetch_hint.take(),
                });
                if skipped > 0 {
                    view.gap(skipped, lost_lines);
                }
                self.view = Some(view);
            }
            ScanEvent::Bytes(bytes) => {
                if let Some(view) = &mut self.view {
                    view.push(bytes);
                }
            }
            ScanEvent::Gap { bytes, lines } => {
                if let Some(view) = &mut self.view {
                    view.gap(bytes, lines);
                }
            }
        }
    }

    fn into_view(self) -> AgentView {
        self.view.unwrap_or_else(|| {
            AgentView::new(ViewOptions {
                max_tokens: self.max_tokens,
                first_line: 1,
                fetch_hint: None,
            })
        })
    }
}
