//! Output routes: the Coder-compatible snapshot and waits, plus agentproc's
//! cursor reads, smarter waits, live streaming (SSE), search, line ranges,
//! and standard input.

use std::convert::Infallible;
use std::time::Duration;

use agentproc_core::log::{SearchOptions, compile_pattern};
use agentproc_core::manager::{FeedItem, OutputChunk, OutputError, StdinError, Until, WaitResult};
use agentproc_core::text::Hygiene;
use agentproc_core::{Manager, ProcessId};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::ApiState;
use crate::chat::Chat;
use crate::dto::{
    ChunkResponse, LineDto, LinesResponse, MatchDto, ProcessOutputResponse, SearchResponse,
    StdinResponse,
};
use crate::error::{ApiError, Envelope};
use crate::extract::{RawId, read_body};
use crate::json::{self, nullable};
use crate::openapi::{
    ChatHeaders, HygieneParams, LinesParams, OutputAnswer, OutputParams, ProcessIdPath,
    SearchParams, StreamEvent, StreamParams,
};

/// Default bytes per cursor read.
pub(crate) const DEFAULT_READ_LIMIT: usize = 32 * 1024;
/// The most bytes one cursor read returns.
pub(crate) const MAX_READ_LIMIT: usize = 1 << 20;
/// The most output one stream event carries: small enough that many
/// subscribers of a chatty process hold little memory each.
const STREAM_CHUNK: usize = 64 << 10;
/// The most matches one search returns.
const MAX_MATCHES: usize = 1000;
/// The most context lines around a match.
const MAX_CONTEXT: usize = 10;
/// The most lines one range returns.
const MAX_LINES: usize = 10_000;
/// The most bytes of text one range returns.
const MAX_LINE_BYTES: usize = 1 << 20;

/// The query string, read the way Go's `url.Values.Get` does: the first
/// value of each key.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// A non-negative integer parameter.
    pub(crate) fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer."))
            }),
        }
    }

    fn hygiene(&self) -> Hygiene {
        Hygiene {
            strip_ansi: self.flag("strip_ansi"),
            collapse_cr: self.flag("collapse_cr"),
        }
    }

    fn limit(&self) -> Result<usize, ApiError> {
        Ok(match self.number("limit")? {
            None | Some(0) => DEFAULT_READ_LIMIT,
            Some(limit) => usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .min(MAX_READ_LIMIT),
        })
    }
}

fn output_error(id: &RawId, error: OutputError) -> ApiError {
    match error {
        OutputError::NotFound => ApiError::process_not_found(&id.raw),
        OutputError::LogsDisabled => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "Full output logs are not enabled on this agentproc.",
        ),
        error @ (OutputError::Io(_) | OutputError::LogMissing) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to read the output log.",
        )
        .with_detail(error.to_string()),
    }
}

fn process_id(id: &RawId) -> Result<ProcessId, ApiError> {
    id.parsed
        .ok_or_else(|| ApiError::process_not_found(&id.raw))
}

/// Reads a process's output.
///
/// Without `cursor`, Coder's head/tail snapshot; with it, a piece of the
/// full log. With `wait=true` or `until`, after a wait.
#[utoipa::path(
    get,
    path = "/api/v0/processes/{id}/output",
    tag = "output",
    params(ProcessIdPath, OutputParams, HygieneParams, ChatHeaders),
    responses(
        (status = 200, description = "Without `cursor`: the snapshot (`ProcessOutput`). With `cursor`: the piece of the log from it (`OutputChunk`). After a wait, `wait_result` says why it returned; a timeout is not an error.", body = OutputAnswer),
        (status = 400, description = "A parameter is not a non-negative integer, an unsupported `until`, a missing `pattern` or `idle_ms`, or an invalid pattern.", body = Envelope),
        (status = 500, description = "The output log could not be read, or none was kept for this process (creating it failed).", body = Envelope),
        (status = 501, description = "`cursor` or `until=match` with full output logs turned off.", body = Envelope),
    )
)]
pub(crate) async fn output(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref());
    let process = process_id(&id)?;
    let hygiene = query.hygiene();
    let cursor = query.number("cursor")?;
    let limit = query.limit()?;
    let until = parse_until(&query, cursor)?;
    let wait = query.flag("wait") || until.is_some();
    let manager = &state.manager;
    let timeout = match query.number("timeout_ms")? {
        Some(ms) => Duration::from_millis(ms).min(state.config.max_wait),
        None => state.config.max_wait,
    };

    if let Some(max_tokens) = agent_view_budget(&query)? {
        // Wait first (if asked), then view what is there.
        let (info, wait_result) = if wait {
            let outcome = manager
                .wait_until(
                    process,
                    chat.id(),
                    until.unwrap_or(Until::Exit),
                    timeout,
                    None,
                )
                .await
                .map_err(|error| output_error(&id, error))?;
            (outcome.snapshot.info, Some(outcome.result.as_str()))
        } else {
            let info = manager
                .info(process, chat.id())
                .map_err(|_| ApiError::process_not_found(&id.raw))?;
            (info, None)
        };
        let computed = crate::agent_view::compute(manager, process, chat.id(), cursor, max_tokens)
            .await
            .map_err(|error| output_error(&id, error))?;
        return Ok(match cursor {
            None => json::respond(
                StatusCode::OK,
                &ProcessOutputResponse::agent(&info, computed, wait_result),
            ),
            Some(_) => json::respond(
                StatusCode::OK,
                &ChunkResponse::agent(&info, computed, wait_result),
            ),
        });
    }

    if !wait {
        return match cursor {
            None => {
                let snapshot = manager
                    .output(process, chat.id())
                    .map_err(|_| ApiError::process_not_found(&id.raw))?;
                let mut body = ProcessOutputResponse::from(snapshot);
                body.clean(hygiene);
                Ok(json::respond(StatusCode::OK, &body))
            }
            Some(cursor) => {
                let chunk = manager
                    .read_output(process, chat.id(), cursor, limit)
                    .await
                    .map_err(|error| output_error(&id, error))?;
                Ok(json::respond(
                    StatusCode::OK,
                    &ChunkResponse::new(chunk, hygiene, None),
                ))
            }
        };
    }

    let outcome = manager
        .wait_until(
            process,
            chat.id(),
            until.unwrap_or(Until::Exit),
            timeout,
            cursor.map(|cursor| (cursor, limit)),
        )
        .await
        .map_err(|error| output_error(&id, error))?;
    Ok(match outcome.chunk {
        Some(chunk) => json::respond(
            StatusCode::OK,
            &ChunkResponse::new(chunk, hygiene, Some(outcome.result)),
        ),
        None => {
            let mut body = ProcessOutputResponse::from(outcome.snapshot);
            body.clean(hygiene);
            body.wait_result = Some(outcome.result.as_str());
            json::respond(StatusCode::OK, &body)
        }
    })
}

/// Waits up to `timeout` for process `id` to exit and, when it did, answers
/// as `GET /{id}/output?wait=true` would (with the agent view when
/// `max_tokens` is given); `None` when the wait ran out first.
pub(crate) async fn exit_answer(
    manager: &Manager,
    id: ProcessId,
    requester: Option<uuid::Uuid>,
    timeout: Duration,
    max_tokens: Option<usize>,
) -> Result<Option<ProcessOutputResponse>, OutputError> {
    let outcome = manager
        .wait_until(id, requester, Until::Exit, timeout, None)
        .await?;
    if outcome.result != WaitResult::Exited {
        return Ok(None);
    }
    let result = Some(outcome.result.as_str());
    Ok(Some(match max_tokens {
        Some(max_tokens) => {
            let computed =
                crate::agent_view::compute(manager, id, requester, None, max_tokens).await?;
            ProcessOutputResponse::agent(&outcome.snapshot.info, computed, result)
        }
        None => {
            let mut body = ProcessOutputResponse::from(outcome.snapshot);
            body.wait_result = result;
            body
        }
    }))
}

/// The budget when `view=agent` is asked for; `None` for the default
/// head/tail view.
fn agent_view_budget(query: &Query) -> Result<Option<usize>, ApiError> {
    match query.get("view") {
        Some("agent") => crate::agent_view::max_tokens(query.get("max_tokens")).map(Some),
        None | Some("" | "head_tail") => {
            if query
                .get("max_tokens")
                .is_some_and(|value| !value.is_empty())
            {
                return Err(ApiError::bad_request("max_tokens needs view=agent."));
            }
            Ok(None)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "Unsupported view {}. Use \"agent\" or \"head_tail\".",
            crate::quote::go_quote(other.as_bytes())
        ))),
    }
}

fn parse_until(query: &Query, cursor: Option<u64>) -> Result<Option<Until>, ApiError> {
    let Some(kind) = query.get("until") else {
        return Ok(None);
    };
    Ok(Some(match kind {
        "exit" => Until::Exit,
        "output" => Until::Output { after: cursor },
        "match" => {
            let pattern = query
                .get("pattern")
                .filter(|pattern| !pattern.is_empty())
                .ok_or_else(|| ApiError::bad_request("until=match needs a pattern."))?;
            Until::Match {
                pattern: pattern_from(pattern, query.flag("ignore_case"))?,
                from: cursor.unwrap_or(0),
            }
        }
        "idle" => {
            let idle = query
                .number("idle_ms")?
                .filter(|ms| *ms > 0)
                .ok_or_else(|| ApiError::bad_request("until=idle needs a positive idle_ms."))?;
            Until::Idle {
                quiet: Duration::from_millis(idle),
            }
        }
        "input" => Until::Input {
            settle: query.number("idle_ms")?.map(Duration::from_millis),
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported until {}. Use \"exit\", \"output\", \"match\", \"idle\" or \"input\".",
                crate::quote::go_quote(other.as_bytes())
            )));
        }
    }))
}

fn pattern_from(pattern: &str, ignore_case: bool) -> Result<regex::bytes::Regex, ApiError> {
    compile_pattern(pattern, ignore_case)
        .map_err(|error| ApiError::bad_request("Invalid pattern.").with_detail(error.to_string()))
}

/// Streams a process's output live (Server-Sent Events).
///
/// From a cursor (or the `Last-Event-ID` header) until the exit.
#[utoipa::path(
    get,
    path = "/api/v0/processes/{id}/stream",
    tag = "output",
    description = "From `cursor` (or the `Last-Event-ID` header) until the exit. Events: `output` (data: an `OutputChunk` without `wait_result`; id: the cursor after it, so `Last-Event-ID` resumes without loss or repetition), `exit` (data: an `ExitEvent`; the stream then ends), `error` (data: an `Error`; the stream then ends), and `: keepalive` comments while quiet.",
    params(
        ProcessIdPath,
        StreamParams,
        HygieneParams,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this cursor (takes precedence over `cursor`)."),
        ChatHeaders,
    ),
    responses(
        (status = 200, description = "The event stream (the schema describes one event).", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "`cursor` is not a non-negative integer.", body = Envelope),
        (status = 500, description = "No full output log was kept for this process (creating it failed, e.g. a full disk); its head/tail view is still at `GET /{id}/output`. A log that fails to read once the stream has begun ends it with an `error` event instead.", body = Envelope),
        (status = 501, description = "Full output logs are turned off.", body = Envelope),
    )
)]
pub(crate) async fn stream(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref());
    let process = process_id(&id)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let cursor = match resume {
        Some(cursor) => cursor,
        None => query.number("cursor")?.unwrap_or(0),
    };
    let hygiene = query.hygiene();
    let feed = state
        .manager
        .output_feed(process, chat.id())
        .map_err(|error| output_error(&id, error))?;
    let events = sse_events(feed, cursor, hygiene, state.config.stream_keepalive);
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The SSE body: `output` events (id = the cursor after them), keep-alive
/// comments while quiet, and a final `exit` event.
fn sse_events(
    feed: agentproc_core::manager::OutputFeed,
    cursor: u64,
    hygiene: Hygiene,
    keepalive: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    struct State {
        feed: agentproc_core::manager::OutputFeed,
        cursor: u64,
        done: bool,
        keepalive: tokio::time::Interval,
    }
    let mut interval = tokio::time::interval(keepalive);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.reset();
    let state = State {
        feed,
        cursor,
        done: false,
        keepalive: interval,
    };
    futures_util::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let event = tokio::select! {
            item = state.feed.next(state.cursor, STREAM_CHUNK) => match item {
                Ok(FeedItem::Output(chunk)) => {
                    state.cursor = chunk.next_cursor;
                    state.keepalive.reset();
                    let id = chunk.next_cursor;
                    let data = ChunkResponse::event(chunk, hygiene).into_event_data();
                    format!("id: {id}\nevent: output\ndata: {data}\n\n")
                }
                Ok(FeedItem::Exit(info)) => {
                    state.done = true;
                    let data = crate::dto::ExitEventDto::from(info).into_event_data();
                    format!("event: exit\ndata: {data}\n\n")
                }
                Err(error) => {
                    state.done = true;
                    let data = serde_json::json!({ "message": error.to_string() });
                    format!("event: error\ndata: {data}\n\n")
                }
            },
            _ = state.keepalive.tick() => ": keepalive\n\n".to_owned(),
        };
        Some((Ok(Bytes::from(event)), state))
    })
}

/// Searches a process's whole output log.
///
/// A regular expression, matched line by line, with context lines.
#[utoipa::path(
    get,
    path = "/api/v0/processes/{id}/search",
    tag = "output",
    params(ProcessIdPath, SearchParams, HygieneParams, ChatHeaders),
    responses(
        (status = 200, description = "The matches.", body = SearchResponse),
        (status = 400, description = "A missing or invalid `pattern`, or a parameter that is not a non-negative integer.", body = Envelope),
        (status = 500, description = "The output log could not be read, or none was kept for this process (creating it failed).", body = Envelope),
        (status = 501, description = "Full output logs are turned off.", body = Envelope),
    )
)]
pub(crate) async fn search(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref());
    let process = process_id(&id)?;
    let pattern = query
        .get("pattern")
        .filter(|pattern| !pattern.is_empty())
        .ok_or_else(|| ApiError::bad_request("pattern is required."))?;
    let options = SearchOptions {
        pattern: pattern_from(pattern, query.flag("ignore_case"))?,
        context: bounded(query.number("context")?, 0, MAX_CONTEXT),
        max_matches: bounded(query.number("max_matches")?, 100, MAX_MATCHES).max(1),
    };
    let result = state
        .manager
        .search(process, chat.id(), options)
        .await
        .map_err(|error| output_error(&id, error))?;
    let hygiene = query.hygiene();
    let matches = result
        .matches
        .into_iter()
        .map(|found| MatchDto {
            line: found.line,
            offset: found.offset,
            text: shown(&found.text, hygiene),
            before: found
                .before
                .iter()
                .map(|(line, text)| LineDto::new(*line, shown(text, hygiene)))
                .collect(),
            after: found
                .after
                .iter()
                .map(|(line, text)| LineDto::new(*line, shown(text, hygiene)))
                .collect(),
        })
        .collect();
    Ok(json::respond(
        StatusCode::OK,
        &SearchResponse {
            matches,
            limit_hit: result.limit_hit,
            first_offset: result.first_offset,
            scanned_bytes: result.scanned_bytes,
        },
    ))
}

/// Reads numbered lines of a process's whole output log.
#[utoipa::path(
    get,
    path = "/api/v0/processes/{id}/lines",
    tag = "output",
    params(ProcessIdPath, LinesParams, HygieneParams, ChatHeaders),
    responses(
        (status = 200, description = "The lines.", body = LinesResponse),
        (status = 400, description = "`start` is 0, `end` is before `start`, or a parameter is not a non-negative integer.", body = Envelope),
        (status = 500, description = "The output log could not be read, or none was kept for this process (creating it failed).", body = Envelope),
        (status = 501, description = "Full output logs are turned off.", body = Envelope),
    )
)]
pub(crate) async fn lines(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref());
    let process = process_id(&id)?;
    let start = query.number("start")?.unwrap_or(1);
    if start == 0 {
        return Err(ApiError::bad_request(
            "start is 1-based: the first line is 1.",
        ));
    }
    let end = query
        .number("end")?
        .unwrap_or_else(|| start.saturating_add(999));
    if end < start {
        return Err(ApiError::bad_request("end must not be before start."));
    }
    let range = state
        .manager
        .lines(process, chat.id(), start, end, MAX_LINES, MAX_LINE_BYTES)
        .await
        .map_err(|error| output_error(&id, error))?;
    let hygiene = query.hygiene();
    Ok(json::respond(
        StatusCode::OK,
        &LinesResponse {
            lines: range
                .lines
                .iter()
                .map(|(line, text)| LineDto::new(*line, shown(text, hygiene)))
                .collect(),
            total_lines: range.total_lines,
            first_line: range.first_line,
            truncated: range.truncated,
        },
    ))
}

fn bounded(value: Option<u64>, default: usize, max: usize) -> usize {
    value.map_or(default, |value| {
        usize::try_from(value).unwrap_or(usize::MAX).min(max)
    })
}

fn shown(bytes: &[u8], hygiene: Hygiene) -> String {
    hygiene.apply(agentproc_core::buffer::text_of(bytes))
}

/// `POST /{id}/stdin` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct StdinRequest {
    /// Text to write.
    #[serde(default, deserialize_with = "nullable")]
    data: String,
    /// Close standard input after writing.
    #[serde(default, deserialize_with = "nullable")]
    eof: bool,
}

/// Writes to a process's standard input.
///
/// The process must have been started with `stdin: true`; `eof` closes it.
#[utoipa::path(
    post,
    path = "/api/v0/processes/{id}/stdin",
    tag = "output",
    request_body = StdinRequest,
    params(ProcessIdPath, ChatHeaders),
    responses(
        (status = 200, description = "Written.", body = StdinResponse),
        (status = 400, description = "Invalid JSON.", body = Envelope),
        (status = 409, description = "Not running, standard input closed, or the process did not read it in time.", body = Envelope),
        (status = 500, description = "Writing failed.", body = Envelope),
    )
)]
pub(crate) async fn stdin(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    id.ensure_visible(&state, &chat)?;
    let body = read_body(&state, body)?;
    let request: StdinRequest =
        json::decode(&body, &["data", "eof"]).map_err(|error| ApiError::invalid_json(error.0))?;
    let process = process_id(&id)?;
    write_stdin(&state.manager, &id, process, chat.id(), request).await
}

async fn write_stdin(
    manager: &Manager,
    id: &RawId,
    process: ProcessId,
    chat: Option<uuid::Uuid>,
    request: StdinRequest,
) -> Result<Response, ApiError> {
    let quoted = crate::quote::go_quote(&id.raw);
    match manager
        .write_stdin(process, chat, request.data.as_bytes(), request.eof)
        .await
    {
        Ok(written) => Ok(json::respond(
            StatusCode::OK,
            &StdinResponse {
                written,
                closed: request.eof,
            },
        )),
        Err(StdinError::NotFound) => Err(ApiError::process_not_found(&id.raw)),
        Err(StdinError::NotRunning) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {quoted} is not running."),
        )),
        Err(StdinError::Closed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Standard input of process {quoted} is closed."),
        )
        .with_detail(
            "it was started without \"stdin\": true, closed with \"eof\", or closed by the process itself",
        )),
        Err(StdinError::Timeout { written }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {quoted} did not read its standard input in time."),
        )
        .with_detail(format!(
            "{written} of {} bytes were written",
            request.data.len()
        ))),
        Err(error @ StdinError::Io(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to write standard input.",
        )
        .with_detail(error.to_string())),
    }
}

impl ChunkResponse {
    /// A cursor read's answer (with the process's input state).
    fn new(chunk: OutputChunk, hygiene: Hygiene, waited: Option<WaitResult>) -> Self {
        Self::from_chunk(
            chunk,
            |text| hygiene.apply(text),
            waited.map(WaitResult::as_str),
            true,
        )
    }

    /// A stream event's data (about output only).
    fn event(chunk: OutputChunk, hygiene: Hygiene) -> Self {
        Self::from_chunk(chunk, |text| hygiene.apply(text), None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_decode_like_go() {
        let value = |raw: &str, name: &str| Query::parse(Some(raw)).get(name).map(str::to_owned);
        assert_eq!(value("wait=true", "wait").as_deref(), Some("true"));
        assert_eq!(value("wait=%74rue", "wait").as_deref(), Some("true"));
        assert_eq!(value("wait=TRUE", "wait").as_deref(), Some("TRUE"));
        assert_eq!(value("wait=1&wait=true", "wait").as_deref(), Some("1"));
        assert_eq!(value("x=1", "wait"), None);
        assert_eq!(Query::parse(None).get("wait"), None);
        assert!(Query::parse(Some("wait=true")).flag("wait"));
        assert!(!Query::parse(Some("wait=yes")).flag("wait"));
    }

    #[test]
    fn numbers_and_limits_are_validated() {
        let query = Query::parse(Some("cursor=12&limit=99999999&bad=-1"));
        assert_eq!(query.number("cursor").expect("ok"), Some(12));
        assert_eq!(query.limit().expect("ok"), MAX_READ_LIMIT);
        assert!(query.number("bad").is_err());
        assert_eq!(
            Query::parse(Some("limit=0")).limit().expect("ok"),
            DEFAULT_READ_LIMIT
        );
    }
}
