//! The web page: served with a strict Content-Security-Policy, open without
//! the token; its login trades the token for a session cookie the API
//! accepts like the bearer header; and the cross-origin guard lets the
//! page's own requests through while refusing other sites' (and, without a
//! token, DNS rebinding).

use std::sync::Arc;

use agentproc_api_http::{ApiConfig, BearerToken};
use agentproc_core::ManagerConfig;
use agentproc_core::clock::SystemClock;
use agentproc_exec_local::LocalExecer;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::{Api, Reply, host_env, log_store};

const TOKEN: &str = "ui-test-token-value";
const HOST: &str = "127.0.0.1:4242";
const ORIGIN: &str = "http://127.0.0.1:4242";

fn guarded() -> Api {
    Api::build(
        ManagerConfig {
            base_env: host_env(),
            logs: Some(log_store(1 << 20)),
            ..ManagerConfig::default()
        },
        Arc::new(LocalExecer::default()),
        Arc::new(SystemClock),
        ApiConfig {
            token: BearerToken::new(TOKEN),
            ..ApiConfig::default()
        },
    )
}

/// A request as the page's browser sends it: `Host`, and the given extra
/// headers.
async fn browser(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_owned()));
    api.send(request.body(body).expect("request")).await
}

fn header_text(reply: &Reply, name: header::HeaderName) -> &str {
    reply
        .headers
        .get(name)
        .map(|value| value.to_str().expect("ascii"))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_slash_leads_to_it() {
    let api = Api::local();
    let page = browser(
        &api,
        Method::GET,
        "/ui",
        &[("sec-fetch-site", "none")],
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        header_text(&page, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert!(
        page.body
            .contains("<script src=\"/ui/app.js\" defer></script>")
    );
    let policy = header_text(&page, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(
        header_text(&page, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    // Nothing inline that the policy would have to allow.
    assert!(!page.body.contains("<script>") && !page.body.contains("<style"));
    assert!(!page.body.contains(" style=") && !page.body.contains(" onclick="));

    for (path, content_type) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        let asset = browser(&api, Method::GET, path, &[], None).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert_eq!(header_text(&asset, header::CONTENT_TYPE), content_type);
        assert_eq!(header_text(&asset, header::CONTENT_SECURITY_POLICY), policy);
    }
    for path in ["/", "/ui/"] {
        let redirect = browser(&api, Method::GET, path, &[], None).await;
        assert!(
            redirect.status.is_redirection(),
            "{path}: {}",
            redirect.status
        );
        assert_eq!(header_text(&redirect, header::LOCATION), "/ui");
    }
    let missing = browser(&api, Method::GET, "/ui/nothing.js", &[], None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    api.close().await;
}

#[tokio::test]
async fn without_a_token_the_session_says_so_and_login_sets_no_cookie() {
    let api = Api::local();
    let session = api.get("/api/ui/session", None).await;
    assert_eq!(
        session.json,
        json!({"token_required": false, "authenticated": true})
    );
    let login = api.post("/api/ui/login", r#"{"token":"x"}"#, None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.headers.get(header::SET_COOKIE).is_none());
    api.close().await;
}

#[tokio::test]
async fn the_page_loads_without_the_token_but_the_api_needs_it() {
    let api = guarded();
    for path in ["/ui", "/ui/app.js", "/ui/app.css", "/ui/favicon.svg", "/"] {
        let reply = browser(&api, Method::GET, path, &[], None).await;
        assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let session = browser(&api, Method::GET, "/api/ui/session", &[], None).await;
    assert_eq!(
        session.json,
        json!({"token_required": true, "authenticated": false})
    );
    let list = browser(&api, Method::GET, "/api/v0/processes/list", &[], None).await;
    assert_eq!(list.status, StatusCode::UNAUTHORIZED);
    api.close().await;
}

fn session_cookie(reply: &Reply) -> String {
    let set_cookie = header_text(reply, header::SET_COOKIE);
    set_cookie
        .split(';')
        .next()
        .expect("a name=value pair")
        .to_owned()
}

#[tokio::test]
async fn login_trades_the_token_for_a_session_cookie_the_api_accepts() {
    let api = guarded();
    let same_origin = [("origin", ORIGIN), ("sec-fetch-site", "same-origin")];

    let wrong = browser(
        &api,
        Method::POST,
        "/api/ui/login",
        &same_origin,
        Some(r#"{"token":"guess"}"#),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.message(), "Invalid token.");
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let login = browser(
        &api,
        Method::POST,
        "/api/ui/login",
        &same_origin,
        Some(&json!({ "token": TOKEN }).to_string()),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(
        login.json,
        json!({"token_required": true, "authenticated": true})
    );
    let set_cookie = header_text(&login, header::SET_COOKIE);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let cookie = session_cookie(&login);
    assert!(cookie.starts_with("agentproc_session_4242="), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie is not the token");
    let with_cookie = [
        ("cookie", cookie.as_str()),
        ("origin", ORIGIN),
        ("sec-fetch-site", "same-origin"),
    ];

    // The session opens the JSON routes, the stream and state changes.
    let session = browser(&api, Method::GET, "/api/ui/session", &with_cookie, None).await;
    assert_eq!(session.json["authenticated"], true);
    let started = browser(
        &api,
        Method::POST,
        "/api/v0/processes/start",
        &with_cookie,
        Some(r#"{"command":"echo from-the-page"}"#),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let id = started.json["id"].as_str().expect("id").to_owned();
    let stream = browser(
        &api,
        Method::GET,
        &format!("/api/v0/processes/{id}/stream"),
        &[
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        None,
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(stream.body.contains("from-the-page"), "{}", stream.body);
    let list = browser(
        &api,
        Method::GET,
        "/api/v0/processes/list",
        &with_cookie,
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);

    // A made-up session is refused like a wrong token.
    let forged = browser(
        &api,
        Method::GET,
        "/api/v0/processes/list",
        &[("cookie", "agentproc_session_4242=0123456789abcdef")],
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    // Logging out ends the session and clears the cookie.
    let logout = browser(&api, Method::POST, "/api/ui/logout", &with_cookie, None).await;
    assert_eq!(logout.status, StatusCode::OK);
    assert!(header_text(&logout, header::SET_COOKIE).contains("Max-Age=0"));
    let after = browser(
        &api,
        Method::GET,
        "/api/v0/processes/list",
        &with_cookie,
        None,
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    api.close().await;
}

#[tokio::test]
async fn the_page_s_own_requests_pass_the_cross_origin_guard() {
    let api = Api::local();
    for headers in [
        &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")][..],
        &[("origin", ORIGIN)],
        &[("sec-fetch-site", "same-origin")],
    ] {
        let reply = browser(
            &api,
            Method::POST,
            "/api/v0/processes/start",
            headers,
            Some(r#"{"command":"true"}"#),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{headers:?}: {}", reply.body);
    }
    api.close().await;
}

#[tokio::test]
async fn other_sites_and_rebound_names_are_refused() {
    let api = guarded();
    let session = browser(
        &api,
        Method::POST,
        "/api/ui/login",
        &[("origin", ORIGIN)],
        Some(&json!({ "token": TOKEN }).to_string()),
    )
    .await;
    let cookie = session_cookie(&session);
    // A page on another port of the same host is same-site, so the browser
    // sends the cookie along: the Origin check is what refuses it.
    for headers in [
        &[
            ("origin", "http://127.0.0.1:8000"),
            ("sec-fetch-site", "same-site"),
        ][..],
        &[("origin", "http://127.0.0.1:8000")],
        &[("origin", "null")],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("sec-fetch-site", "cross-site")],
    ] {
        let mut headers = headers.to_vec();
        headers.push(("cookie", cookie.as_str()));
        let reply = browser(
            &api,
            Method::POST,
            "/api/v0/processes/start",
            &headers,
            Some(r#"{"command":"touch /tmp/agentproc-ui-csrf"}"#),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(reply.message(), "Cross-origin requests are not allowed.");
    }
    api.close().await;

    // Without a token, a page whose name was rebound to 127.0.0.1 is
    // same-origin with agentproc under its own name: refused by the name.
    let open = Api::local();
    let request = Request::post("/api/v0/processes/start")
        .header(header::HOST, "evil.example:4242")
        .header("origin", "http://evil.example:4242")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(r#"{"command":"true"}"#))
        .expect("request");
    let reply = open.send(request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let read = Request::get("/api/v0/processes/list")
        .header(header::HOST, "evil.example:4242")
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .expect("request");
    assert_eq!(open.send(read).await.status, StatusCode::FORBIDDEN);
    // Clients that are not browsers send neither header and pass.
    let curl = Request::get("/api/v0/processes/list")
        .header(header::HOST, "evil.example:4242")
        .body(Body::empty())
        .expect("request");
    assert_eq!(open.send(curl).await.status, StatusCode::OK);
    assert!(open.list(None).await.is_empty(), "nothing was started");
    open.close().await;
}
