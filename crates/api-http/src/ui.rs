//! The web page for the person supervising the agent (`GET /ui`, `/`
//! redirects there) and its session routes (`/api/ui/session`, `login`,
//! `logout`).
//!
//! The page is three hand-written files under `crates/api-http/ui/`,
//! compiled into the binary with `include_bytes!`, so it works offline and
//! the binary stays one file. It uses only the public API (JSON routes and
//! `GET /{id}/stream`); the routes here exist because a browser's
//! `EventSource` cannot send an `Authorization` header: with a token
//! configured, the page trades the token once for a random session id in an
//! `HttpOnly`, `SameSite=Strict` cookie that the token check also accepts.
//! Sessions live in memory, bounded in number ([`MAX_SESSIONS`]) and
//! lifetime ([`SESSION_LIFETIME`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, Envelope};
use crate::extract::read_body;
use crate::json::{self, nullable};

/// The most sessions kept at once; a new login beyond it ends the session
/// closest to expiring.
pub(crate) const MAX_SESSIONS: usize = 64;
/// How long a session lasts from its login (not extended by use).
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// The start of the session cookie's name (the listening port follows, so
/// two agentprocs on one host do not overwrite each other's cookie:
/// browsers keep cookies per host, not per port).
pub(crate) const SESSION_COOKIE: &str = "agentproc_session";

/// The page's Content-Security-Policy: its own scripts, styles, images and
/// connections only; no inline script or style, no framing, no plugins.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The page and its assets: path, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/ui",
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/app.js"),
    ),
    (
        "/ui/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/app.css"),
    ),
    (
        "/ui/favicon.svg",
        "image/svg+xml",
        include_bytes!("../ui/favicon.svg"),
    ),
];

/// Paths the token check lets through: the page (it holds no secret and
/// must load to ask for the token) and the session routes.
const OPEN_PATHS: &[&str] = &[
    "/",
    "/ui/",
    "/api/ui/session",
    "/api/ui/login",
    "/api/ui/logout",
];

/// Whether `path` needs no token: the page, its assets and the session
/// routes.
pub(crate) fn is_open(path: &str) -> bool {
    OPEN_PATHS.contains(&path) || ASSETS.iter().any(|(asset, _, _)| *asset == path)
}

pub(crate) fn routes() -> Router<ApiState> {
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/api/ui/session", get(session))
        .route("/api/ui/login", post(login))
        .route("/api/ui/logout", post(logout));
    for &(path, content_type, bytes) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, bytes) }));
    }
    router
}

/// An asset with the page's security headers.
fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Small files: always revalidated, so a new binary's page is never
    // mixed with an old one's script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The sessions of the page: random ids, each valid until its expiry.
#[derive(Default)]
pub(crate) struct Sessions {
    expiries: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The ids are secrets: only their number.
        let count = self.lock().len();
        f.debug_struct("Sessions").field("count", &count).finish()
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A panic while holding the map cannot leave it inconsistent.
        self.expiries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session, valid for [`SESSION_LIFETIME`] from `now`. Expired
    /// sessions are dropped first; at [`MAX_SESSIONS`], the one closest to
    /// expiring is ended.
    pub(crate) fn create(&self, now: Instant) -> String {
        // 244 random bits from the OS's generator (two version-4 UUIDs).
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut sessions = self.lock();
        sessions.retain(|_, expiry| *expiry > now);
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), now + SESSION_LIFETIME);
        id
    }

    /// Whether `id` names a live session at `now` (an expired one is
    /// forgotten).
    pub(crate) fn is_valid(&self, id: &str, now: Instant) -> bool {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(expiry) if *expiry > now => true,
            Some(_) => {
                sessions.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends the session `id`, if there is one.
    pub(crate) fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Whether `headers` carry a session cookie naming a live session.
    pub(crate) fn accepts(&self, headers: &HeaderMap, now: Instant) -> bool {
        session_cookies(headers).any(|id| self.is_valid(id, now))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The values of every session cookie in `headers` (any port's name).
fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            name.starts_with(SESSION_COOKIE).then_some(value.trim())
        })
        .filter(|value| !value.is_empty())
}

/// The cookie name for the port in `Host` (`agentproc_session_4242`), or
/// the bare name without one.
fn cookie_name(headers: &HeaderMap) -> String {
    let port = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(port) => format!("{SESSION_COOKIE}_{port}"),
        None => SESSION_COOKIE.to_owned(),
    }
}

/// The `Set-Cookie` value of a session (or, with `None`, of its removal).
fn set_cookie(name: &str, session: Option<(&str, Duration)>) -> Option<HeaderValue> {
    let (value, max_age) = session.map_or(("", 0), |(id, lifetime)| (id, lifetime.as_secs()));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// `POST /api/ui/login` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    /// The configured token (`token`, `token_file` or `AGENTPROC_TOKEN`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(required = true)]
    token: String,
}

impl LoginRequest {
    const FIELDS: &'static [&'static str] = &["token"];
}

/// What the page needs to know about its session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UiSession)]
pub(crate) struct SessionResponse {
    /// A token is configured: the API needs it (or a session).
    token_required: bool,
    /// This request may use the API: no token is configured, or it carries
    /// a live session cookie or the bearer token.
    authenticated: bool,
}

/// The page's session state.
///
/// Whether the API needs a token and whether this request may use it. Open
/// without the token, like `/healthz` (a 401 from any other route says as
/// much).
#[utoipa::path(
    get,
    path = "/api/ui/session",
    tag = "ui",
    security(()),
    responses((status = 200, description = "The session state.", body = SessionResponse))
)]
pub(crate) async fn session(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let authenticated = match &state.config.token {
        None => true,
        Some(token) => {
            state.sessions.accepts(&headers, Instant::now())
                || crate::middleware::bearer(&headers).is_some_and(|t| token.matches(t))
        }
    };
    json::respond(
        StatusCode::OK,
        &SessionResponse {
            token_required: state.config.token.is_some(),
            authenticated,
        },
    )
}

/// Logs the page in.
///
/// Trades the token for a session cookie (`agentproc_session_<port>`,
/// `HttpOnly`, `SameSite=Strict`, `Path=/`, 12 hours), which the API then
/// accepts instead of the `Authorization` header (a browser's `EventSource`
/// cannot send one). Without a token configured there is nothing to log
/// into: the answer says so and sets no cookie.
#[utoipa::path(
    post,
    path = "/api/ui/login",
    tag = "ui",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (`Set-Cookie` carries the session), or no token is configured.", body = SessionResponse,
         headers(("Set-Cookie" = String, description = "The session cookie, when a token is configured."))),
        (status = 400, description = "The body is not valid JSON.", body = Envelope),
        (status = 401, description = "Not the token.", body = Envelope),
    )
)]
pub(crate) async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let request: LoginRequest = json::decode(&body, LoginRequest::FIELDS)
        .map_err(|error| ApiError::invalid_json(error.0))?;
    let Some(token) = &state.config.token else {
        return Ok(json::respond(
            StatusCode::OK,
            &SessionResponse {
                token_required: false,
                authenticated: true,
            },
        ));
    };
    if !token.matches(request.token.as_bytes()) {
        tracing::warn!("a web page login presented a wrong token");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token."));
    }
    let id = state.sessions.create(Instant::now());
    let mut response = json::respond(
        StatusCode::OK,
        &SessionResponse {
            token_required: true,
            authenticated: true,
        },
    );
    if let Some(cookie) = set_cookie(&cookie_name(&headers), Some((&id, SESSION_LIFETIME))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Logs the page out.
///
/// Ends the session named by the request's cookie, if any, and clears the
/// cookie.
#[utoipa::path(
    post,
    path = "/api/ui/logout",
    tag = "ui",
    security(()),
    responses((status = 200, description = "Logged out (`Set-Cookie` clears the cookie).", body = SessionResponse,
        headers(("Set-Cookie" = String, description = "The session cookie, expired."))))
)]
pub(crate) async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    for id in session_cookies(&headers) {
        state.sessions.end(id);
    }
    let mut response = json::respond(
        StatusCode::OK,
        &SessionResponse {
            token_required: state.config.token.is_some(),
            authenticated: state.config.token.is_none(),
        },
    );
    if let Some(cookie) = set_cookie(&cookie_name(&headers), None) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_its_lifetime_and_no_longer() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let id = sessions.create(start);
        assert_eq!(id.len(), 64);
        assert!(sessions.is_valid(&id, start));
        assert!(sessions.is_valid(&id, start + SESSION_LIFETIME - Duration::from_secs(1)));
        assert!(!sessions.is_valid(&id, start + SESSION_LIFETIME));
        assert_eq!(sessions.len(), 0, "an expired session is forgotten");
        assert!(!sessions.is_valid("", start));
    }

    #[test]
    fn sessions_are_bounded_and_the_oldest_goes_first() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let ids: Vec<String> = (0..MAX_SESSIONS as u64)
            .map(|n| sessions.create(start + Duration::from_secs(n)))
            .collect();
        let newest = sessions.create(start + Duration::from_secs(MAX_SESSIONS as u64));
        assert_eq!(sessions.len(), MAX_SESSIONS);
        let later = start + Duration::from_secs(MAX_SESSIONS as u64);
        assert!(!sessions.is_valid(&ids[0], later), "the oldest was ended");
        assert!(sessions.is_valid(&ids[1], later));
        assert!(sessions.is_valid(&newest, later));
    }

    #[test]
    fn expired_sessions_make_room_before_live_ones_are_ended() {
        let sessions = Sessions::default();
        let start = Instant::now();
        for _ in 0..MAX_SESSIONS {
            sessions.create(start);
        }
        let later = start + SESSION_LIFETIME;
        let fresh = sessions.create(later);
        assert_eq!(sessions.len(), 1);
        assert!(sessions.is_valid(&fresh, later));
    }

    #[test]
    fn ended_sessions_are_refused_and_ids_are_unique() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let one = sessions.create(now);
        let two = sessions.create(now);
        assert_ne!(one, two);
        sessions.end(&one);
        assert!(!sessions.is_valid(&one, now));
        assert!(sessions.is_valid(&two, now));
    }

    #[test]
    fn cookies_are_found_under_any_port_s_name() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.create(now);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; agentproc_session_4242={id}; x=1"))
                .expect("header"),
        );
        assert!(sessions.accepts(&headers, now));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("agentproc_session_4242=forged"),
        );
        assert!(!sessions.accepts(&headers, now));
        headers.insert(header::COOKIE, HeaderValue::from_static("other=1"));
        assert!(!sessions.accepts(&headers, now));
    }

    #[test]
    fn the_cookie_is_named_after_the_port_and_kept_from_scripts() {
        let mut headers = HeaderMap::new();
        assert_eq!(cookie_name(&headers), "agentproc_session");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:4242"));
        assert_eq!(cookie_name(&headers), "agentproc_session_4242");
        headers.insert(header::HOST, HeaderValue::from_static("[::1]"));
        assert_eq!(cookie_name(&headers), "agentproc_session");
        let cookie =
            set_cookie("agentproc_session_1", Some(("abc", SESSION_LIFETIME))).expect("cookie");
        assert_eq!(
            cookie,
            "agentproc_session_1=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict"
        );
        let cleared = set_cookie("agentproc_session_1", None).expect("cookie");
        assert_eq!(
            cleared,
            "agentproc_session_1=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn the_page_and_the_session_routes_are_open_and_nothing_else() {
        for path in ["/", "/ui", "/ui/", "/ui/app.js", "/api/ui/login"] {
            assert!(is_open(path), "{path}");
        }
        for path in ["/ui/other", "/api/v0/processes/list", "/api/ui", "/metrics"] {
            assert!(!is_open(path), "{path}");
        }
    }

    #[test]
    fn the_policy_allows_nothing_inline() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
    }
}
