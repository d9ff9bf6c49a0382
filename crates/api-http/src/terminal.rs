//! Routes for input and terminals: `POST /{id}/input` (text, named keys,
//! end-of-file), `POST /{id}/resize` and `GET /{id}/screen`.

use agentproc_core::ProcessId;
use agentproc_core::exec::TerminalSize;
use agentproc_core::manager::{Input, InputError, TerminalError};
use agentproc_core::terminal::ScreenSnapshot;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::chat::Chat;
use crate::dto::{InputStateDto, TerminalSizeDto};
use crate::error::{ApiError, Envelope};
use crate::extract::{RawId, read_body};
use crate::json::{self, nullable};
use crate::openapi::{ChatHeaders, ProcessIdPath};
use crate::quote::go_quote;

/// The most scrollback lines a screen answer carries.
const MAX_SCROLLBACK: usize = agentproc_core::terminal::DEFAULT_SCROLLBACK_LINES;

/// `POST /{id}/input` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct InputRequest {
    /// Text to type, written first.
    #[serde(default, deserialize_with = "nullable")]
    text: String,
    /// Named keys, written after the text in order, in tmux `send-keys`
    /// spelling: `Enter`, `Tab`, `BTab`, `Escape`, `Space`, `BSpace`, `Up`,
    /// `Down`, `Left`, `Right`, `Home`, `End`, `PageUp`, `PageDown`, `IC`,
    /// `DC`, `F1`…`F12`, `C-c` (Ctrl), `M-x` (Alt), `S-Up` (Shift), and any
    /// single character. Arrows follow the terminal's application-cursor
    /// mode. Terminal processes only.
    #[serde(default, deserialize_with = "nullable")]
    keys: Vec<String>,
    /// End of input, written last: the terminal's end-of-file character
    /// (usually Ctrl-D) for a terminal process; closing standard input for
    /// a pipe.
    #[serde(default, deserialize_with = "nullable")]
    eof: bool,
}

/// `POST /{id}/input` answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InputResponse {
    /// Bytes written (text, keys and the end-of-file character).
    written: usize,
}

/// Sends text, named keys and end-of-file to a process.
///
/// To its terminal (`tty`), or to its standard input pipe (`stdin`; keys
/// need a terminal).
#[utoipa::path(
    post,
    path = "/api/v0/processes/{id}/input",
    tag = "terminal",
    request_body = InputRequest,
    params(ProcessIdPath, ChatHeaders),
    responses(
        (status = 200, description = "Written.", body = InputResponse),
        (status = 400, description = "Invalid JSON, an unknown key, or keys for a process without a terminal.", body = Envelope),
        (status = 409, description = "Not running, no terminal and no open standard input, or the process did not read its input in time.", body = Envelope),
        (status = 500, description = "Writing failed.", body = Envelope),
    )
)]
pub(crate) async fn input(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    id.ensure_visible(&state, &chat)?;
    let body = read_body(&state, body)?;
    let request: InputRequest = json::decode(&body, &["text", "keys", "eof"])
        .map_err(|error| ApiError::invalid_json(error.0))?;
    let process = process_id(&id)?;
    let quoted = go_quote(&id.raw);
    let length = request.text.len();
    let input = Input {
        text: request.text.into_bytes(),
        keys: request.keys,
        eof: request.eof,
    };
    match state.manager.send_input(process, chat.id(), input).await {
        Ok(written) => Ok(json::respond(StatusCode::OK, &InputResponse { written })),
        Err(InputError::NotFound) => Err(ApiError::process_not_found(&id.raw)),
        Err(InputError::NotRunning) => Err(not_running(&quoted)),
        Err(InputError::Closed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {quoted} takes no input."),
        )
        .with_detail(
            "it has no terminal (\"tty\") and its standard input is closed: started without \"stdin\": true, closed with \"eof\", or closed by the process itself",
        )),
        Err(InputError::KeysNeedTerminal) => Err(ApiError::bad_request(format!(
            "Named keys need a terminal: process {quoted} was started without \"tty\"; send text instead."
        ))),
        Err(InputError::UnknownKey(unknown)) => Err(ApiError::bad_request(format!(
            "Unknown key {}: use tmux names such as Enter, Tab, Escape, BSpace, Up, C-c, M-x, F1, PageDown.",
            go_quote(unknown.name.as_bytes())
        ))),
        Err(InputError::Timeout { written }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {quoted} did not read its input in time."),
        )
        .with_detail(format!("{written} bytes were written (text: {length} bytes)"))),
        Err(error @ InputError::Io(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to write input.",
        )
        .with_detail(error.to_string())),
    }
}

/// `POST /{id}/resize` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct ResizeRequest {
    /// Rows, 1 to 1000.
    #[serde(default, deserialize_with = "nullable")]
    rows: u64,
    /// Columns, 1 to 1000.
    #[serde(default, deserialize_with = "nullable")]
    cols: u64,
}

/// `POST /{id}/resize` answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResizeResponse {
    /// The terminal's size now.
    tty: TerminalSizeDto,
}

/// Sets the window size of a process's terminal.
///
/// The kernel tells the foreground program with `SIGWINCH`.
#[utoipa::path(
    post,
    path = "/api/v0/processes/{id}/resize",
    tag = "terminal",
    request_body = ResizeRequest,
    params(ProcessIdPath, ChatHeaders),
    responses(
        (status = 200, description = "Resized.", body = ResizeResponse),
        (status = 400, description = "Invalid JSON, or a size outside 1..=1000.", body = Envelope),
        (status = 409, description = "The process has no terminal, or is not running.", body = Envelope),
        (status = 500, description = "The terminal refused.", body = Envelope),
    )
)]
pub(crate) async fn resize(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    id.ensure_visible(&state, &chat)?;
    let body = read_body(&state, body)?;
    let request: ResizeRequest =
        json::decode(&body, &["rows", "cols"]).map_err(|error| ApiError::invalid_json(error.0))?;
    let process = process_id(&id)?;
    let size = u16::try_from(request.rows)
        .ok()
        .zip(u16::try_from(request.cols).ok())
        .and_then(|(rows, cols)| TerminalSize::new(rows, cols))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "rows and cols must be whole numbers from 1 to {}.",
                TerminalSize::MAX
            ))
        })?;
    let info = state
        .manager
        .resize(process, chat.id(), size)
        .map_err(|error| terminal_error(&id, error))?;
    let tty = info.terminal.unwrap_or(size);
    Ok(json::respond(
        StatusCode::OK,
        &ResizeResponse {
            tty: TerminalSizeDto::from(tty),
        },
    ))
}

/// `GET /{id}/screen` answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScreenResponse {
    /// Rows of the terminal.
    rows: u16,
    /// Columns of the terminal.
    cols: u16,
    /// Where the cursor is (0-based) and whether it is shown.
    cursor: CursorDto,
    /// The window title the program set, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// A full-screen program has switched to the alternate screen.
    alternate_screen: bool,
    /// The screen's rows as text (trailing blanks trimmed), top to bottom;
    /// always `rows` entries.
    lines: Vec<String>,
    /// With `scrollback=N`: up to N earlier lines that scrolled off the top,
    /// oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    scrollback: Option<Vec<String>>,
    /// Whether the process still runs (after the exit, the final screen).
    running: bool,
    /// The exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(flatten)]
    input: InputStateDto,
}

/// The cursor of a screen.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Cursor)]
pub(crate) struct CursorDto {
    /// Row, 0-based from the top.
    row: u16,
    /// Column, 0-based.
    col: u16,
    /// Shown (programs hide it while drawing).
    visible: bool,
}

/// `GET /{id}/screen` parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ScreenParams {
    /// Also return up to this many earlier lines (at most 1000).
    #[allow(dead_code)]
    scrollback: Option<u64>,
}

/// What a person would see on a process's terminal now.
///
/// Rendered by a terminal emulator kept up to date as output arrives; after
/// the exit, the final screen (while the process is retained).
#[utoipa::path(
    get,
    path = "/api/v0/processes/{id}/screen",
    tag = "terminal",
    params(ProcessIdPath, ScreenParams, ChatHeaders),
    responses(
        (status = 200, description = "The screen.", body = ScreenResponse),
        (status = 400, description = "`scrollback` is not a non-negative integer.", body = Envelope),
        (status = 409, description = "The process has no terminal.", body = Envelope),
    )
)]
pub(crate) async fn screen(
    State(state): State<ApiState>,
    chat: Chat,
    id: RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let process = process_id(&id)?;
    let query = crate::output::Query::parse(query.as_deref());
    let scrollback = query.number("scrollback")?;
    let wanted = scrollback.map_or(0, |lines| {
        usize::try_from(lines)
            .unwrap_or(usize::MAX)
            .min(MAX_SCROLLBACK)
    });
    let (screen, info) = state
        .manager
        .screen(process, chat.id(), wanted)
        .map_err(|error| terminal_error(&id, error))?;
    let ScreenSnapshot {
        rows,
        cols,
        cursor,
        title,
        alternate_screen,
        lines,
        scrollback: earlier,
        ..
    } = screen;
    Ok(json::respond(
        StatusCode::OK,
        &ScreenResponse {
            rows,
            cols,
            cursor: CursorDto {
                row: cursor.row,
                col: cursor.col,
                visible: cursor.visible,
            },
            title,
            alternate_screen,
            lines,
            scrollback: scrollback.map(|_| earlier),
            running: info.running(),
            exit_code: info.exit_code(),
            input: InputStateDto::of(&info),
        },
    ))
}

fn process_id(id: &RawId) -> Result<ProcessId, ApiError> {
    id.parsed
        .ok_or_else(|| ApiError::process_not_found(&id.raw))
}

fn not_running(quoted: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("Process {quoted} is not running."),
    )
}

fn terminal_error(id: &RawId, error: TerminalError) -> ApiError {
    let quoted = go_quote(&id.raw);
    match error {
        TerminalError::NotFound => ApiError::process_not_found(&id.raw),
        TerminalError::NoTerminal => ApiError::new(
            StatusCode::CONFLICT,
            format!("Process {quoted} has no terminal."),
        )
        .with_detail("start it with \"tty\": true to get one"),
        TerminalError::NotRunning => not_running(&quoted),
        error @ TerminalError::Io(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "The terminal refused.")
                .with_detail(error.to_string())
        }
    }
}
