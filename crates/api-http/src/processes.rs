//! Handlers of `/api/v0/processes`: parse, call the manager, convert.

use std::time::Duration;

use agentproc_core::exec::{Capability, SpawnError};
use agentproc_core::manager::{InvalidStart, SignalProcessError, StartError};
use agentproc_core::{Signal, StartRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use crate::ApiState;
use crate::chat::Chat;
use crate::dto::{
    ListProcessesResponse, ProcessInfoDto, SignalProcessRequest, StartProcessRequest,
    StartProcessResponse, TokenStatusResponse,
};
use crate::error::{ApiError, Envelope};
use crate::extract::{RawId, RawSegment, read_body};
use crate::json;
use crate::openapi::{ChatHeaders, ListParams, ProcessIdPath};
use crate::quote::go_quote;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/start", post(start))
        .route("/list", get(list))
        .route("/{id}/output", get(crate::output::output))
        .route("/{id}/stream", get(crate::output::stream))
        .route("/{id}/search", get(crate::output::search))
        .route("/{id}/lines", get(crate::output::lines))
        .route("/{id}/stdin", post(crate::output::stdin))
        .route("/{id}/input", post(crate::terminal::input))
        .route("/{id}/resize", post(crate::terminal::resize))
        .route("/{id}/screen", get(crate::terminal::screen))
        .route("/{id}/signal", post(signal))
        .route("/tokens/{token}", get(token_status))
}

/// Starts a command.
///
/// Answers as soon as it has spawned; the process runs on whatever happens
/// to the request. A repeated start with the same `client_token` attaches
/// to the first instead of running it again.
#[utoipa::path(
    post,
    path = "/api/v0/processes/start",
    tag = "processes",
    request_body = StartProcessRequest,
    params(ChatHeaders),
    responses(
        (status = 200, description = "Started, or attached to an earlier start with the same `client_token`.", body = StartProcessResponse),
        (status = 400, description = "Invalid JSON, a missing command, bad `env`, `limits` or `timeout_ms`, a workdir that cannot be entered, or a command or environment larger than the kernel accepts (`MAX_ARG_STRLEN`, `ARG_MAX`).", body = Envelope),
        (status = 409, description = "The `client_token` was used with different parameters, or its first start was aborted.", body = Envelope),
        (status = 429, description = "Too many running or retained processes.", body = Envelope),
        (status = 500, description = "The command could not be spawned for a reason not the client's (the OS refused).", body = Envelope),
        (status = 503, description = "The process could not be recorded in the crash-recovery journal (a full disk, say), so it was stopped at once; nothing is left running. Retry once the server's disk has room.", body = Envelope),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    Chat(chat): Chat,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let request: StartProcessRequest = json::decode(&body, StartProcessRequest::FIELDS)
        .map_err(|error| ApiError::invalid_json(error.0))?;
    if request.command.is_empty() {
        return Err(ApiError::bad_request("Command is required."));
    }
    let limits = request.limits.validate().map_err(ApiError::bad_request)?;
    let terminal = request.terminal().map_err(ApiError::bad_request)?;
    let isolation =
        crate::isolation::parse(request.isolation.as_ref()).map_err(ApiError::bad_request)?;
    let wait = start_wait(&state, &request)?;
    let request = StartRequest {
        command: request.command,
        workdir: Some(request.workdir).filter(|dir| !dir.is_empty()),
        env: request.env,
        background: request.background,
        chat,
        client_token: Some(request.client_token).filter(|token| !token.is_empty()),
        timeout: Some(Duration::from_millis(request.timeout_ms)).filter(|t| !t.is_zero()),
        stdin: request.stdin,
        limits,
        terminal,
        isolation,
    };
    let requester = request.chat.as_ref().map(|chat| chat.chat_id);
    let started = state.manager.start(request).await.map_err(start_error)?;
    let id = started.info.id;
    let mut answer = StartProcessResponse::from(started);
    if let Some((timeout, max_tokens)) = wait {
        // The process is started whatever happens from here: a failed wait
        // leaves the plain start answer, never an error a client would retry.
        match crate::output::exit_answer(&state.manager, id, requester, timeout, max_tokens).await {
            Ok(waited) => answer = answer.with_wait(waited),
            Err(error) => tracing::warn!(%id, %error, "waiting after a start failed"),
        }
    }
    Ok(json::respond(StatusCode::OK, &answer))
}

/// The wait a start asks for with `wait_ms` (capped at `max_wait`), and the
/// agent view's budget when `view` is `"agent"`; checked before anything
/// starts.
fn start_wait(
    state: &ApiState,
    request: &StartProcessRequest,
) -> Result<Option<(Duration, Option<usize>)>, ApiError> {
    let max_tokens = match request.view.as_str() {
        "agent" => Some(crate::agent_view::max_tokens_number(request.max_tokens)?),
        "" | "head_tail" if request.max_tokens.is_some() => {
            return Err(ApiError::bad_request(
                "max_tokens needs \"view\": \"agent\".",
            ));
        }
        "" | "head_tail" => None,
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported view {}. Use \"agent\" or \"head_tail\".",
                go_quote(other.as_bytes())
            )));
        }
    };
    if request.wait_ms == 0 {
        if !request.view.is_empty() || request.max_tokens.is_some() {
            return Err(ApiError::bad_request(
                "view and max_tokens apply to the output of a start that waits: add wait_ms.",
            ));
        }
        return Ok(None);
    }
    let timeout = Duration::from_millis(request.wait_ms).min(state.config.max_wait);
    Ok(Some((timeout, max_tokens)))
}

fn start_error(error: StartError) -> ApiError {
    let failed = |status| ApiError::new(status, "Failed to start process.");
    match error {
        StartError::Invalid(invalid) => ApiError::bad_request(match invalid {
            InvalidStart::EmptyCommand => "Command is required.".to_owned(),
            InvalidStart::NulInCommand => "Command must not contain NUL bytes.".to_owned(),
            InvalidStart::NulInWorkdir => "Workdir must not contain NUL bytes.".to_owned(),
            InvalidStart::EnvName { name } => format!(
                "Environment variable name {} is invalid: it must be non-empty and contain no \"=\" or NUL.",
                go_quote(name.as_bytes())
            ),
            InvalidStart::NulInEnvValue { name } => format!(
                "Environment variable {} must not contain NUL bytes.",
                go_quote(name.as_bytes())
            ),
            InvalidStart::ZeroTimeout => "timeout_ms must be positive.".to_owned(),
            InvalidStart::TerminalUnsupported { executor } => format!(
                "This agentproc's {executor} executor cannot run commands on a terminal (\"tty\")."
            ),
        }),
        // A workdir that cannot be entered is the client's mistake.
        error @ StartError::Spawn(SpawnError::Workdir { .. }) => {
            failed(StatusCode::BAD_REQUEST).with_detail(error.to_string())
        }
        // So are limits above the maximum or that this host cannot enforce.
        StartError::Spawn(SpawnError::Refused { reason }) => ApiError::bad_request(reason),
        StartError::Spawn(SpawnError::Unsupported { capability, .. }) => {
            ApiError::bad_request(match capability {
                Capability::Limits => {
                    "Resource limits need the sandbox executor (executor = \"sandbox\"); this agentproc runs commands without limits."
                }
                Capability::Isolation => {
                    "Isolation needs the sandbox executor (executor = \"sandbox\"); this agentproc runs commands without isolation."
                }
            })
        }
        // A server condition that may pass (a full disk): worth a retry.
        error @ StartError::Spawn(SpawnError::Unrecorded { .. }) => {
            failed(StatusCode::SERVICE_UNAVAILABLE).with_detail(error.to_string())
        }
        error @ (StartError::Closed | StartError::Spawn(_)) => {
            failed(StatusCode::INTERNAL_SERVER_ERROR).with_detail(error.to_string())
        }
        StartError::TokenMismatch => ApiError::new(
            StatusCode::CONFLICT,
            "Client token was already used to start a process with different parameters.",
        ),
        error @ StartError::TokenWaitAborted { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "A start with the same client token is still in progress.",
        )
        .with_detail(error.to_string()),
        StartError::TooManyRunning { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many running processes: the limit is {limit}."),
        ),
        StartError::TooManyRunningInChat { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many running processes in this chat: the limit is {limit}."),
        ),
        StartError::TooManyRetained { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many retained processes: the limit is {limit}, and none has exited long enough to be forgotten."
            ),
        ),
    }
}

/// The most processes `GET /list?limit=N` returns (or `list_limit`, when
/// that is larger).
pub(crate) const MAX_LIST_LIMIT: usize = 1000;

/// Lists processes.
///
/// Running ones first, then exited ones, newest start first in each, up to
/// the list limit (`limit`, else `list_limit`); with a chat id, only the
/// chat's own.
#[utoipa::path(
    get,
    path = "/api/v0/processes/list",
    tag = "processes",
    params(ChatHeaders, ListParams),
    responses(
        (status = 200, description = "The processes.", body = ListProcessesResponse),
        (status = 400, description = "`limit` is not a non-negative integer.", body = Envelope),
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    chat: Chat,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let asked = crate::output::Query::parse(query.as_deref()).number("limit")?;
    let limit = list_limit(asked, state.config.list_limit);
    let processes = state
        .manager
        .list(chat.id(), limit)
        .into_iter()
        .map(ProcessInfoDto::from)
        .collect();
    Ok(json::respond(
        StatusCode::OK,
        &ListProcessesResponse { processes },
    ))
}

/// The number of processes to list: `asked` (absent or 0: `configured`),
/// at most [`MAX_LIST_LIMIT`] or `configured`, whichever is larger.
fn list_limit(asked: Option<u64>, configured: usize) -> usize {
    match asked {
        None | Some(0) => configured,
        Some(asked) => usize::try_from(asked)
            .unwrap_or(usize::MAX)
            .min(MAX_LIST_LIMIT.max(configured)),
    }
}

/// Signals a process's whole group.
///
/// `terminate`, `interrupt` and `hangup` may be followed by SIGKILL after
/// `grace_ms`.
#[utoipa::path(
    post,
    path = "/api/v0/processes/{id}/signal",
    tag = "processes",
    request_body = SignalProcessRequest,
    params(ProcessIdPath, ChatHeaders),
    responses(
        (status = 200, description = "Sent; `message` says which signal to which process.", body = Envelope),
        (status = 400, description = "Invalid JSON, a missing or unsupported signal, or `grace_ms` with `kill`.", body = Envelope),
        (status = 409, description = "The process is not running.", body = Envelope),
        (status = 500, description = "The OS refused to deliver the signal.", body = Envelope),
    )
)]
pub(crate) async fn signal(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Chat isolation comes before any validation, so another chat's process
    // looks exactly like a missing one.
    id.ensure_visible(&state, &chat)?;
    let body = read_body(&state, body)?;
    let request: SignalProcessRequest = json::decode(&body, SignalProcessRequest::FIELDS)
        .map_err(|error| ApiError::invalid_json(error.0))?;
    let signal = match request.signal.as_str() {
        "" => return Err(ApiError::bad_request("Signal is required.")),
        "kill" => Signal::Kill,
        "terminate" => Signal::Terminate,
        "interrupt" => Signal::Interrupt,
        "hangup" => Signal::Hangup,
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported signal {}. Use \"kill\", \"terminate\", \"interrupt\" or \"hangup\".",
                go_quote(other.as_bytes())
            )));
        }
    };
    if signal == Signal::Kill && request.grace_ms.is_some() {
        return Err(ApiError::bad_request(
            "grace_ms does not apply to \"kill\": it is the time before SIGKILL follows another signal.",
        ));
    }
    let escalate_after = request.grace_ms.map(Duration::from_millis);
    let process_id = id
        .parsed
        .ok_or_else(|| ApiError::process_not_found(&id.raw))?;
    match state
        .manager
        .signal(process_id, chat.id(), signal, escalate_after)
    {
        Ok(()) => Ok(json::respond(
            StatusCode::OK,
            &Envelope {
                message: format!(
                    "Signal {} sent to process {}.",
                    go_quote(request.signal.as_bytes()),
                    go_quote(&id.raw)
                ),
                detail: None,
            },
        )),
        Err(SignalProcessError::NotFound) => Err(ApiError::process_not_found(&id.raw)),
        Err(SignalProcessError::NotRunning) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {} is not running.", go_quote(&id.raw)),
        )),
        Err(error @ SignalProcessError::Os { .. }) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to signal process.",
        )
        .with_detail(error.to_string())),
    }
}

/// Looks up a client token.
///
/// Whether a start with this client token is known (in this chat): lets a
/// client that lost a start's answer learn its outcome without retrying.
#[utoipa::path(
    get,
    path = "/api/v0/processes/tokens/{token}",
    tag = "processes",
    params(
        ("token" = String, Path, description = "The client token."),
        ChatHeaders,
    ),
    responses((status = 200, description = "What is known of the token.", body = TokenStatusResponse))
)]
pub(crate) async fn token_status(
    State(state): State<ApiState>,
    chat: Chat,
    RawSegment(token): RawSegment,
) -> Response {
    // Tokens are JSON strings, so one that is not UTF-8 was never used.
    let status = match String::from_utf8(token) {
        Ok(token) => state.manager.token_status(&token, chat.id()),
        Err(_) => state.manager.token_status("", chat.id()),
    };
    json::respond(StatusCode::OK, &TokenStatusResponse::from(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_limit_defaults_to_the_configured_one_and_is_capped() {
        assert_eq!(list_limit(None, 10), 10);
        assert_eq!(list_limit(Some(0), 10), 10);
        assert_eq!(list_limit(Some(3), 10), 3);
        assert_eq!(list_limit(Some(500), 10), 500);
        assert_eq!(list_limit(Some(u64::MAX), 10), MAX_LIST_LIMIT);
        assert_eq!(list_limit(Some(5000), 2000), 2000);
    }
}
