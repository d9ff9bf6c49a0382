//! Handlers of `/api/v0/processes`: parse, call the manager, convert.

use std::time::Duration;

use agentproc_core::exec::SpawnError;
use agentproc_core::manager::{InvalidStart, SignalProcessError, StartError};
use agentproc_core::{ProcessId, Signal, StartRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};

use crate::ApiState;
use crate::chat::Chat;
use crate::dto::{
    ListProcessesResponse, ProcessInfoDto, ProcessOutputResponse, SignalProcessRequest,
    StartProcessRequest, StartProcessResponse, TokenStatusResponse,
};
use crate::error::{ApiError, Envelope};
use crate::json;
use crate::quote::go_quote;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/start", post(start))
        .route("/list", get(list))
        .route("/{id}/output", get(output))
        .route("/{id}/signal", post(signal))
        .route("/tokens/{token}", get(token_status))
}

async fn start(
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
    let request = StartRequest {
        command: request.command,
        workdir: Some(request.workdir).filter(|dir| !dir.is_empty()),
        env: request.env,
        background: request.background,
        chat,
        client_token: Some(request.client_token).filter(|token| !token.is_empty()),
        timeout: Some(Duration::from_millis(request.timeout_ms)).filter(|t| !t.is_zero()),
    };
    let started = state.manager.start(request).await.map_err(start_error)?;
    Ok(json::respond(
        StatusCode::OK,
        &StartProcessResponse::from(started),
    ))
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
        }),
        // A workdir that cannot be entered is the client's mistake.
        error @ StartError::Spawn(SpawnError::Workdir { .. }) => {
            failed(StatusCode::BAD_REQUEST).with_detail(error.to_string())
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

async fn list(State(state): State<ApiState>, chat: Chat) -> Response {
    let processes = state
        .manager
        .list(chat.id(), state.config.list_limit)
        .into_iter()
        .map(ProcessInfoDto::from)
        .collect();
    json::respond(StatusCode::OK, &ListProcessesResponse { processes })
}

async fn output(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::process_not_found(&id.raw);
    let process_id = id.parsed.ok_or_else(not_found)?;
    let wait = query_value(query.as_deref(), "wait").as_deref() == Some("true");
    let snapshot = if wait {
        state
            .manager
            .wait_for_exit(process_id, chat.id(), state.config.max_wait)
            .await
    } else {
        state.manager.output(process_id, chat.id())
    }
    .map_err(|_| not_found())?;
    Ok(json::respond(
        StatusCode::OK,
        &ProcessOutputResponse::from(snapshot),
    ))
}

async fn signal(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Chat isolation comes before any validation, so another chat's process
    // looks exactly like a missing one.
    if let Some(process_id) = id.parsed
        && chat.id().is_some()
        && state.manager.hidden_from(process_id, chat.id())
    {
        return Err(ApiError::process_not_found(&id.raw));
    }
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

async fn token_status(
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

/// The body, or the envelope saying why it could not be read.
fn read_body(state: &ApiState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "Request body is too large.").with_detail(format!(
                "the limit is {} bytes",
                state.config.max_body_bytes
            ))
        } else {
            ApiError::new(status, "Request body could not be read.")
                .with_detail(rejection.body_text())
        }
    })
}

/// The first value of `name` in a query string, decoded as Go's
/// `url.Values.Get` does.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The last path segment, percent-decoded to bytes.
struct RawSegment(Vec<u8>);

impl<S: Send + Sync> FromRequestParts<S> for RawSegment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let last = parts.uri.path().rsplit('/').next().unwrap_or_default();
        Ok(Self(percent_decode(last)))
    }
}

/// The `{id}` path segment: its percent-decoded bytes (for messages, quoted
/// as Go does) and, when it is a canonical process id, the id. Anything else
/// is simply an unknown process: never a 400 or 500.
struct RawId {
    raw: Vec<u8>,
    parsed: Option<ProcessId>,
}

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Routes are `/{id}/<action>`: the id is the second-to-last segment.
        let mut segments = parts.uri.path().rsplit('/');
        let _action = segments.next();
        let raw = percent_decode(segments.next().unwrap_or_default());
        let parsed = std::str::from_utf8(&raw)
            .ok()
            .and_then(|text| text.parse().ok());
        Ok(Self { raw, parsed })
    }
}

fn percent_decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_decode_like_go() {
        assert_eq!(
            query_value(Some("wait=true"), "wait").as_deref(),
            Some("true")
        );
        assert_eq!(
            query_value(Some("wait=%74rue"), "wait").as_deref(),
            Some("true")
        );
        assert_eq!(
            query_value(Some("wait=TRUE"), "wait").as_deref(),
            Some("TRUE")
        );
        assert_eq!(
            query_value(Some("wait=1&wait=true"), "wait").as_deref(),
            Some("1")
        );
        assert_eq!(query_value(Some("x=1"), "wait"), None);
        assert_eq!(query_value(None, "wait"), None);
    }

    #[test]
    fn path_segments_are_percent_decoded_to_bytes() {
        assert_eq!(percent_decode("abc"), b"abc");
        assert_eq!(percent_decode("a%20b%2F"), b"a b/");
        assert_eq!(percent_decode("%ff%zz%"), b"\xff%zz%");
    }
}
