//! `view=agent`: the agent view of a process's output (agentproc-view),
//! computed in one streaming pass over its full log, or over its head/tail
//! buffer when no log is kept. Handlers only pass the parameters.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use agentproc_core::log::ScanEvent;
use agentproc_core::manager::OutputError;
use agentproc_core::{Manager, ProcessId};
use agentproc_view::{AgentView, MAX_MAX_TOKENS, MIN_MAX_TOKENS, View, ViewOptions};
use uuid::Uuid;

use crate::error::ApiError;

/// Where a view was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The full log on disk.
    Log,
    /// The head/tail buffer (no full log is kept for the process).
    Buffer,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Buffer => "buffer",
        }
    }
}

/// A computed view and where its bytes came from.
#[derive(Debug)]
pub(crate) struct Computed {
    pub(crate) view: View,
    pub(crate) source: Source,
    /// The first offset described (after bytes that are gone).
    pub(crate) start: u64,
    /// The offset just past the last byte described.
    pub(crate) end: u64,
    /// Bytes between the requested offset and `start` that are gone.
    pub(crate) skipped: u64,
    /// Whether every line number is absolute. The head/tail buffer does not
    /// count the lines it drops, so after its omitted middle they are not.
    pub(crate) exact_lines: bool,
}

/// The budget of `view=agent`, read from `max_tokens` (absent or empty:
/// the default).
pub(crate) fn max_tokens(value: Option<&str>) -> Result<usize, ApiError> {
    let value = match value {
        None | Some("") => return Ok(agentproc_view::DEFAULT_MAX_TOKENS),
        Some(value) => value,
    };
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (MIN_MAX_TOKENS..=MAX_MAX_TOKENS).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "max_tokens must be a whole number from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}."
            ))
        })
}

/// Computes the agent view of process `id`'s output from `cursor` (all of
/// it when `None`), within `max_tokens`.
pub(crate) async fn compute(
    manager: &Manager,
    id: ProcessId,
    requester: Option<Uuid>,
    cursor: Option<u64>,
    max_tokens: usize,
) -> Result<Computed, OutputError> {
    let fetch_hint = format!("GET /api/v0/processes/{id}/lines?start={{start}}&end={{end}}");
    let from = cursor.unwrap_or(0);
    let building = Arc::new(Mutex::new(Building {
        view: None,
        max_tokens,
        fetch_hint: Some(fetch_hint),
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
            Ok(Computed {
                view,
                source: Source::Log,
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
            Ok(Computed {
                view: finish(view).await?,
                source: Source::Buffer,
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
