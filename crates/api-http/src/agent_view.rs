//! `view=agent`: the agent view of a process's output (agentproc-view),
//! computed by `agentproc_view::manager::agent_view_of` (shared with the
//! MCP front end) in one streaming pass over its full log, or over its
//! head/tail buffer when no log is kept. Handlers only pass the parameters.

use agentproc_core::manager::OutputError;
use agentproc_core::{Manager, ProcessId};
use agentproc_view::{MAX_MAX_TOKENS, MIN_MAX_TOKENS};
use uuid::Uuid;

use crate::error::ApiError;

/// A computed view and where its bytes came from.
pub(crate) type Computed = agentproc_view::manager::ManagerView;

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

/// The budget of `view: "agent"` in a JSON body (absent: the default).
pub(crate) fn max_tokens_number(value: Option<u64>) -> Result<usize, ApiError> {
    match value {
        None => Ok(agentproc_view::DEFAULT_MAX_TOKENS),
        Some(value) => max_tokens(Some(&value.to_string())),
    }
}

/// Computes the agent view of process `id`'s output from `cursor` (all of
/// it when `None`), within `max_tokens`; omission markers name the
/// `lines` route that fetches what they leave out.
pub(crate) async fn compute(
    manager: &Manager,
    id: ProcessId,
    requester: Option<Uuid>,
    cursor: Option<u64>,
    max_tokens: usize,
) -> Result<Computed, OutputError> {
    let fetch_hint = format!("GET /api/v0/processes/{id}/lines?start={{start}}&end={{end}}");
    agentproc_view::manager::agent_view_of(
        manager,
        id,
        requester,
        cursor,
        max_tokens,
        Some(fetch_hint),
    )
    .await
}
