//! Cross-cutting request handling: the access log, the cross-origin guard,
//! the panic guard, and JSON answers for unknown routes and methods.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::task::Poll;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::chat::chat_id;
use crate::error::ApiError;

/// One log line per request: method, route, status, latency, and the chat
/// id when the request carries one. A request whose client went away before
/// the answer (a dropped long wait) is logged too, with status 499.
///
/// Latency is measured with the real clock on purpose: it describes the
/// server, not the managed processes, and never feeds back into behaviour.
pub(crate) async fn access_log(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<crate::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let mut entry = AccessEntry {
        metrics,
        started: Instant::now(),
        // Bounded: a client decides how long these are.
        method: clipped(request.method().as_str(), 32),
        path: clipped(request.uri().path(), 2048),
        route: request
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| matched.as_str().to_owned()),
        chat: chat_id(request.headers()),
        status: None,
    };
    let response = next.run(request).await;
    entry.status = Some(response.status().as_u16());
    response
}

/// `text` cut to at most `max` bytes (at a character boundary), marked with
/// `…` when cut.
fn clipped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The access-log line of one request, written when it is dropped: after
/// the response, or when the client went away first.
struct AccessEntry {
    metrics: std::sync::Arc<crate::Metrics>,
    started: Instant,
    method: String,
    path: String,
    route: Option<String>,
    chat: Option<uuid::Uuid>,
    status: Option<u16>,
}

/// nginx's "client closed request".
const CLIENT_CLOSED: u16 = 499;

impl Drop for AccessEntry {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        self.metrics
            .request(&self.method, self.route.as_deref(), status, took);
        let latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "agentproc::access",
            method = %self.method,
            path = %self.path,
            route = self.route.as_deref(),
            status,
            latency_us,
            chat_id = self.chat.map(tracing::field::display),
            "{}",
            if self.status.is_some() { "request" } else { "request abandoned by the client" }
        );
    }
}

/// Refuses requests a browser sends on behalf of another site.
///
/// agentproc runs commands; a web page must not be able to make a
/// developer's browser post to it. Browsers mark their requests with
/// `Origin` or `Sec-Fetch-Site`; Coder's Go client and curl send neither,
/// and pass. A browser request passes only when it comes from agentproc's
/// own page: `Sec-Fetch-Site` absent, `same-origin` or `none`, and `Origin`
/// absent or the request's own origin (`http://` or `https://` and its
/// `Host`). Without a token (`token_required` false) its `Host` must also
/// be an IP address or `localhost`: a DNS rebinding attack makes the
/// attacker's page same-origin with agentproc under the attacker's own host
/// name, and only the name tells it apart.
pub(crate) async fn refuse_cross_origin(
    axum::extract::State(token_required): axum::extract::State<bool>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(reason) = foreign_browser_request(request.headers(), token_required) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Cross-origin requests are not allowed.",
        )
        .with_detail(reason)
        .into_response();
    }
    next.run(request).await
}

/// Why a browser request does not come from agentproc's own page, or `None`
/// when it does (or is not a browser's).
fn foreign_browser_request(
    headers: &axum::http::HeaderMap,
    token_required: bool,
) -> Option<&'static str> {
    let site = headers.get("sec-fetch-site");
    let origin = headers.get(header::ORIGIN);
    if site.is_none() && origin.is_none() {
        return None;
    }
    if site.is_some_and(|site| site != "same-origin" && site != "none") {
        return Some(
            "agentproc refuses requests a browser sends for another site (Sec-Fetch-Site)",
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    if let Some(origin) = origin {
        let origin = origin.as_bytes();
        let own = [b"http://".as_slice(), b"https://"].iter().any(|scheme| {
            origin.len() == scheme.len() + host.len()
                && origin.starts_with(scheme)
                && origin[scheme.len()..].eq_ignore_ascii_case(host.as_bytes())
        });
        if host.is_empty() || !own {
            return Some("agentproc refuses requests whose Origin is not its own");
        }
    }
    if !token_required && !names_this_machine(host) {
        return Some(
            "without a token, agentproc's page must be opened at an IP address or localhost (DNS rebinding guard)",
        );
    }
    None
}

/// Whether a `Host` value is an IP address or `localhost` (or a name under
/// `.localhost`, which browsers resolve to loopback themselves), with or
/// without a port.
fn names_this_machine(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
}

/// Refuses a body whose announced `Content-Length` is over the limit before
/// reading any of it: a client that sent `Expect: 100-continue` gets the
/// 413 instead of an invitation to send a body that would be refused.
pub(crate) async fn refuse_oversized_body(
    axum::extract::State(max_body_bytes): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > max_body_bytes as u64) {
        return crate::extract::body_too_large(max_body_bytes).into_response();
    }
    next.run(request).await
}

/// Gives a request's body `request_read_timeout` to arrive (from when its
/// headers did): a client that sends a body slowly, or never finishes it,
/// gets 408 instead of holding a connection and a handler.
pub(crate) async fn body_deadline(
    axum::extract::State(timeout): axum::extract::State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let request = request.map(|body| {
        axum::body::Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        })
    });
    next.run(request).await
}

/// A body that fails with [`BodyTimedOut`] once its deadline passes.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// The error of a body that did not arrive in time.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Refuses requests without the configured bearer token or a session of the
/// web page (when a token is configured), except for `/healthz` and the
/// page's own open paths (the page, its assets, login and logout). The
/// answer never says which part was wrong.
pub(crate) async fn require_token(
    axum::extract::State(state): axum::extract::State<crate::ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.config.token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/healthz" || crate::ui::is_open(path) {
        return next.run(request).await;
    }
    let presented = bearer(request.headers());
    if presented.is_some_and(|presented| token.matches(presented))
        || state.sessions.accepts(request.headers(), Instant::now())
    {
        return next.run(request).await;
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "Authentication required.").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case).
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    // RFC 6750: the scheme, one or more spaces, the token.
    let token = value[7..].trim_ascii_start();
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// Turns a panic in a handler into a 500 envelope instead of a dropped
/// connection. Panics are bugs; this keeps one from looking like a network
/// failure to the client.
pub(crate) async fn catch_panic(request: Request, next: Next) -> Response {
    let mut handler = Box::pin(next.run(request));
    let outcome = std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx))) {
            Ok(Poll::Ready(response)) => Poll::Ready(Ok(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    match outcome {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(panic = panic_message(panic.as_ref()), "handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").into_response()
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic>")
}

/// 404 for paths no route matches.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Route not found.")
}

/// 405 for a known path with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    axum::http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn clients_that_are_not_browsers_pass() {
        assert_eq!(foreign_browser_request(&headers(&[]), false), None);
        let host = headers(&[("host", "evil.example")]);
        assert_eq!(foreign_browser_request(&host, false), None);
    }

    #[test]
    fn the_page_s_own_requests_pass() {
        for pairs in [
            &[
                ("host", "127.0.0.1:4242"),
                ("origin", "http://127.0.0.1:4242"),
            ][..],
            &[
                ("host", "localhost:4242"),
                ("origin", "http://LOCALHOST:4242"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("host", "[::1]:4242"), ("sec-fetch-site", "same-origin")],
            &[("host", "app.localhost:80"), ("sec-fetch-site", "none")],
            &[
                ("host", "10.1.2.3:4242"),
                ("origin", "https://10.1.2.3:4242"),
            ],
        ] {
            assert_eq!(
                foreign_browser_request(&headers(pairs), false),
                None,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn requests_for_another_site_are_refused() {
        for pairs in [
            &[
                ("host", "127.0.0.1:4242"),
                ("origin", "http://127.0.0.1:8080"),
            ][..],
            &[("host", "127.0.0.1:4242"), ("origin", "null")],
            &[("origin", "http://127.0.0.1:4242")],
            &[("host", "127.0.0.1:4242"), ("sec-fetch-site", "same-site")],
            &[
                ("host", "127.0.0.1:4242"),
                ("origin", "http://127.0.0.1:4242"),
                ("sec-fetch-site", "cross-site"),
            ],
            &[
                ("host", "127.0.0.1:4242"),
                ("origin", "ftp://127.0.0.1:4242"),
            ],
        ] {
            assert!(
                foreign_browser_request(&headers(pairs), true).is_some(),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn without_a_token_a_browser_must_name_the_machine_not_a_domain() {
        // DNS rebinding: the attacker's name now points at 127.0.0.1.
        let rebound = headers(&[
            ("host", "evil.example:4242"),
            ("origin", "http://evil.example:4242"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(foreign_browser_request(&rebound, false).is_some());
        // With a token, the attacker's origin has no session and no token.
        assert_eq!(foreign_browser_request(&rebound, true), None);
    }

    #[test]
    fn host_names_of_this_machine() {
        for host in [
            "localhost",
            "LOCALHOST.:1",
            "a.localhost",
            "127.0.0.1:9",
            "[::1]:1",
            "[fe80::1]",
        ] {
            assert!(names_this_machine(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "localhost.evil.example",
            "[::1",
            "127.0.0.1.nip.io:80",
        ] {
            assert!(!names_this_machine(host), "{host}");
        }
    }
}
