//! The OpenAPI 3.1 description of every route, derived from the handlers'
//! `#[utoipa::path]` annotations and the wire types' `ToSchema` derives.
//! Served at `GET /api/openapi.json`; checked in at `docs/openapi.json`
//! (a test fails when that copy is stale).
//!
//! The request schemas describe the canonical form. The decoder is more
//! lenient on purpose, as Go's `encoding/json` is (keys match
//! case-insensitively, `null` leaves a field unset); `docs/API.md` says how.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AnyOfBuilder, Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

use crate::dto::{ChunkResponse, ExitEventDto, ProcessOutputResponse};
use crate::error::Envelope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "agentproc",
        description = "A process manager for AI coding agents: start commands, read their output through a bounded head+tail view or the full log, wait, stream, search, signal whole process trees. `/api/v0/processes` is wire-compatible with Coder's `agent/agentproc`; every addition is additive. See docs/API.md for the behaviour behind each field and status.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::processes::start,
        crate::processes::list,
        crate::output::output,
        crate::output::stream,
        crate::output::search,
        crate::output::lines,
        crate::output::stdin,
        crate::terminal::input,
        crate::terminal::resize,
        crate::terminal::screen,
        crate::processes::signal,
        crate::processes::token_status,
        crate::ui::session,
        crate::ui::login,
        crate::ui::logout,
        crate::health::healthz,
        crate::metrics::metrics,
        openapi_json,
    ),
    components(schemas(ExitEventDto)),
    modifiers(&Common),
    security(("bearer" = [])),
    tags(
        (name = "processes", description = "Start, list and signal processes (Coder-compatible), and exactly-once start tokens."),
        (name = "output", description = "Output beyond the snapshot: cursor reads, waits, live streams, search, line ranges, standard input."),
        (name = "terminal", description = "Processes on a pseudo-terminal (`tty`): input with named keys, window size, the rendered screen."),
        (name = "operations", description = "Health, metrics and this document."),
        (name = "ui", description = "The web page's session (`GET /ui` serves the page itself): a browser's `EventSource` cannot send `Authorization`, so the page trades the token for an `HttpOnly` session cookie the API also accepts."),
        (name = "ui", description = "The web page's session (`GET /ui` serves the page itself): a browser's `EventSource` cannot send `Authorization`, so the page trades the token for an `HttpOnly` session cookie the API also accepts."),
    )
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI document of the router mounted under `base` (as with
/// `Router::nest(base, router(state))`): every path prefixed with it.
pub fn document_with_base(base: &str) -> utoipa::openapi::OpenApi {
    let base = base.trim_end_matches('/');
    let mut document = document();
    let paths = std::mem::take(&mut document.paths.paths);
    document.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("{base}{path}"), item))
        .collect();
    document
}

/// The OpenAPI document as served: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}

static DOCUMENT: LazyLock<String> = LazyLock::new(document_json);

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = serde_json::Value))
)]
pub(crate) async fn openapi_json() -> Response {
    let mut response = (StatusCode::OK, DOCUMENT.as_str()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What every operation shares: the bearer scheme, the answers the
/// middleware gives before a handler runs (401 without the token, 403 for
/// cross-origin requests, 408 for bodies too slow, 413 for bodies over the
/// limit), and 404 for every route that names a process.
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The configured token (`token`, `token_file` or AGENTPROC_TOKEN). Without one configured, no header is needed.",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build()
        };
        components.responses.insert(
            "Unauthorized".to_owned(),
            RefOr::T(error(
                "A token is configured and the request does not carry it (`Authorization: Bearer <token>`). `WWW-Authenticate: Bearer` is set.",
            )),
        );
        components.responses.insert(
            "CrossOrigin".to_owned(),
            RefOr::T(error(
                "The request carries an `Origin` or a cross-site `Sec-Fetch-Site` header: agentproc refuses requests a browser sends for another site.",
            )),
        );
        components.responses.insert(
            "ProcessNotFound".to_owned(),
            RefOr::T(error(
                "No such process, or one this chat cannot see (the `{id}` need not be a UUID: anything else is simply unknown).",
            )),
        );
        components.responses.insert(
            "TooLarge".to_owned(),
            RefOr::T(error("The body is larger than `max_body_bytes`.")),
        );
        components.responses.insert(
            "BodyTimeout".to_owned(),
            RefOr::T(error(
                "The body did not fully arrive within `request_read_timeout` of the headers.",
            )),
        );
        for (path, item) in &mut openapi.paths.paths {
            let names_a_process = path.contains("{id}");
            if let Some(get) = item.get.as_mut() {
                add_common(get, false, names_a_process);
            }
            if let Some(post) = item.post.as_mut() {
                add_common(post, true, names_a_process);
            }
        }
    }
}

fn add_common(operation: &mut Operation, has_body: bool, names_a_process: bool) {
    // Query and header parameters are absent or a value, never `null`.
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut()
            && let SchemaType::Array(types) = &object.schema_type
        {
            let types: Vec<Type> = types
                .iter()
                .filter(|kind| **kind != Type::Null)
                .cloned()
                .collect();
            object.schema_type = match types.as_slice() {
                [one] => SchemaType::Type(one.clone()),
                _ => SchemaType::Array(types),
            };
        }
    }
    // `security(())` (an empty requirement) marks the open routes.
    let open = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let responses = &mut operation.responses.responses;
    if !open {
        responses.insert(
            "401".to_owned(),
            RefOr::Ref(Ref::from_response_name("Unauthorized")),
        );
    }
    responses.insert(
        "403".to_owned(),
        RefOr::Ref(Ref::from_response_name("CrossOrigin")),
    );
    if names_a_process {
        responses.insert(
            "404".to_owned(),
            RefOr::Ref(Ref::from_response_name("ProcessNotFound")),
        );
    }
    if has_body {
        responses.insert(
            "408".to_owned(),
            RefOr::Ref(Ref::from_response_name("BodyTimeout")),
        );
        responses.insert(
            "413".to_owned(),
            RefOr::Ref(Ref::from_response_name("TooLarge")),
        );
    }
}

/// `GET /{id}/output`'s answer: the snapshot without `cursor`, a chunk with
/// it. (`anyOf`, not `oneOf`: a chunk also has every required field of the
/// snapshot.)
pub(crate) struct OutputAnswer;

impl PartialSchema for OutputAnswer {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(ProcessOutputResponse::name()))
            .item(Ref::from_schema_name(ChunkResponse::name()))
            .into()
    }
}

impl ToSchema for OutputAnswer {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            ProcessOutputResponse::name().into_owned(),
            ProcessOutputResponse::schema(),
        ));
        <ProcessOutputResponse as ToSchema>::schemas(schemas);
        schemas.push((ChunkResponse::name().into_owned(), ChunkResponse::schema()));
        <ChunkResponse as ToSchema>::schemas(schemas);
        schemas.push((Envelope::name().into_owned(), Envelope::schema()));
    }
}

/// One Server-Sent Event of `GET /{id}/stream`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct StreamEvent {
    /// The kind of event.
    #[schema(schema_with = stream_event_kind)]
    event: String,
    /// JSON: an `OutputChunk` (`output`), an `ExitEvent` (`exit`) or an
    /// `Error` (`error`).
    #[schema(content_media_type = "application/json")]
    data: String,
    /// On `output` events, the cursor after them: send it back as
    /// `Last-Event-ID` to resume without loss or repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

fn stream_event_kind() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["output", "exit", "error"]))
        .description(Some(
            "`output`, then one `exit` (or `error`) that ends the stream.",
        ))
        .build()
}

// The parameter groups below describe what the handlers read; the handlers
// parse the query string themselves, as Go's `url.Values.Get` does (the
// first value of each key; `true` is the only true).

/// Coder's chat headers.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct ChatHeaders {
    /// The chat the request acts for (a UUID; anything else is ignored).
    /// With it, only the chat's processes and its descendant chats' are
    /// visible. A convenience scope, not a security boundary: the token is.
    #[param(rename = "Coder-Chat-Id")]
    chat_id: Option<String>,
    /// A JSON array of the chat's ancestor chat ids (entries that are not
    /// UUID strings are skipped).
    #[param(rename = "Coder-Ancestor-Chat-Ids")]
    ancestor_chat_ids: Option<String>,
}

/// The process in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ProcessIdPath {
    /// The process id (a UUID); anything else is an unknown process (404).
    id: String,
}

/// Output view hygiene.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct HygieneParams {
    /// Remove ANSI escape sequences (colours, cursor movement).
    strip_ansi: Option<bool>,
    /// Keep only what follows the last carriage return of each line
    /// (progress bars).
    collapse_cr: Option<bool>,
}

/// `GET /{id}/output` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct OutputParams {
    /// Wait before answering: until the exit, or until `until` happens,
    /// `timeout_ms` passes or the client goes away.
    wait: Option<bool>,
    /// What to wait for (implies `wait=true`).
    #[param(schema_with = until_schema)]
    until: Option<String>,
    /// The regular expression of `until=match`.
    pattern: Option<String>,
    /// Match `pattern` regardless of case.
    ignore_case: Option<bool>,
    /// The quiet time of `until=idle`, in milliseconds; with `until=input`,
    /// the settle time (default 500).
    idle_ms: Option<u64>,
    /// The longest the wait lasts (at most `max_wait`, the default).
    timeout_ms: Option<u64>,
    /// Read the full log from this byte offset (the answer is then an
    /// `OutputChunk`).
    cursor: Option<u64>,
    /// The most bytes of a cursor read (default 32 KiB, at most 1 MiB).
    limit: Option<u64>,
    /// `agent`: answer with the agent view (every error kept, noise
    /// folded, within `max_tokens`; see the `view` field). Absent or
    /// `head_tail`: Coder's head/tail view (or, with `cursor`, the raw
    /// bytes).
    #[param(schema_with = view_schema)]
    view: Option<String>,
    /// The agent view's budget in o200k_base tokens: 200 to 32000, default
    /// 2000. Only with `view=agent`.
    max_tokens: Option<u64>,
}

fn view_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["agent", "head_tail"]))
        .build()
}

fn until_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["exit", "output", "match", "idle", "input"]))
        .build()
}

/// `GET /list` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListParams {
    /// The most processes to return: absent or 0 means `list_limit`
    /// (default 10, Coder's); larger values are cut to 1000 (or to
    /// `list_limit` when that is larger).
    limit: Option<u64>,
}

/// `GET /{id}/stream` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct StreamParams {
    /// Start at this byte offset (default 0: everything still in the log).
    cursor: Option<u64>,
}

/// `GET /{id}/search` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SearchParams {
    /// The regular expression (Rust `regex` syntax), matched per line.
    pattern: String,
    /// Match regardless of case.
    ignore_case: Option<bool>,
    /// Lines of context before and after each match (at most 10).
    context: Option<u64>,
    /// The most matches (default 100, at most 1000).
    max_matches: Option<u64>,
}

/// `GET /{id}/lines` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct LinesParams {
    /// The first line, 1-based (default 1).
    #[param(minimum = 1)]
    start: Option<u64>,
    /// The last line (default `start + 999`); at most 10,000 lines and
    /// 1 MiB of text come back.
    end: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is described, and nothing else (but
    /// the web page and its assets, `/` and `/ui`, which are HTML, not API).
    #[test]
    fn a_base_path_prefixes_every_path() {
        let document = document_with_base("/agentproc/");
        assert!(!document.paths.paths.is_empty());
        assert!(
            document
                .paths
                .paths
                .keys()
                .all(|path| path.starts_with("/agentproc/"))
        );
        assert!(
            document
                .paths
                .paths
                .contains_key("/agentproc/api/v0/processes/start")
        );
    }

    #[test]
    fn the_document_lists_every_route() {
        let document = document();
        let mut routes: Vec<String> = document
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let mut methods = Vec::new();
                if item.get.is_some() {
                    methods.push(format!("GET {path}"));
                }
                if item.post.is_some() {
                    methods.push(format!("POST {path}"));
                }
                methods
            })
            .collect();
        routes.sort();
        assert_eq!(
            routes,
            [
                "GET /api/openapi.json",
                "GET /api/ui/session",
                "GET /api/v0/processes/list",
                "GET /api/v0/processes/tokens/{token}",
                "GET /api/v0/processes/{id}/lines",
                "GET /api/v0/processes/{id}/output",
                "GET /api/v0/processes/{id}/screen",
                "GET /api/v0/processes/{id}/search",
                "GET /api/v0/processes/{id}/stream",
                "GET /healthz",
                "GET /metrics",
                "POST /api/ui/login",
                "POST /api/ui/logout",
                "POST /api/v0/processes/start",
                "POST /api/v0/processes/{id}/input",
                "POST /api/v0/processes/{id}/resize",
                "POST /api/v0/processes/{id}/signal",
                "POST /api/v0/processes/{id}/stdin",
            ]
        );
    }
}
