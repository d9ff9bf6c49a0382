//! The bearer token: every route needs it when one is configured, except
//! `/healthz`; a missing or wrong token gets a 401 that says nothing about
//! which part was wrong.

use std::sync::Arc;

use agentproc_api_http::{ApiConfig, BearerToken};
use agentproc_core::ManagerConfig;
use agentproc_core::clock::SystemClock;
use agentproc_exec_local::LocalExecer;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::{Api, host_env};

const TOKEN: &str = "s3cret-token-value";

fn guarded() -> Api {
    Api::build(
        ManagerConfig {
            base_env: host_env(),
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

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method.clone()).uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = if method == Method::POST {
        Body::from(r#"{"command":"true"}"#)
    } else {
        Body::empty()
    };
    let reply = api.send(request.body(body).expect("request")).await;
    if reply.status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            reply
                .headers
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().expect("ascii")),
            Some("Bearer")
        );
    }
    (reply.status, reply.body)
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v0/processes/start"),
    ("GET", "/api/v0/processes/list"),
    (
        "GET",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/output",
    ),
    (
        "GET",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/stream",
    ),
    (
        "GET",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/search?pattern=x",
    ),
    (
        "GET",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/lines?start=1",
    ),
    (
        "POST",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/stdin",
    ),
    (
        "POST",
        "/api/v0/processes/00000000-0000-4000-8000-000000000000/signal",
    ),
    ("GET", "/api/v0/processes/tokens/abc"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/no/such/route"),
];

#[tokio::test]
async fn every_route_needs_the_token() {
    let api = guarded();
    for (method, path) in ROUTES {
        let method: Method = method.parse().expect("method");
        for authorization in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-token-valuE"),
            Some("Bearer s3cret-token-value2"),
            Some("Basic czNjcmV0"),
            Some(TOKEN),
            Some("Bearer"),
        ] {
            let (status, body) = call(&api, method.clone(), path, authorization).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {authorization:?}"
            );
            assert_eq!(body, "{\"message\":\"Authentication required.\"}\n");
        }
        let (status, body) =
            call(&api, method.clone(), path, Some(&format!("Bearer {TOKEN}"))).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        // The scheme is case-insensitive, and more spaces may follow it.
        let (status, _) = call(&api, method.clone(), path, Some(&format!("bearer {TOKEN}"))).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, _) = call(
            &api,
            method.clone(),
            path,
            Some(&format!("Bearer   {TOKEN}")),
        )
        .await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    // Nothing ran without the token: the only starts are the authorized ones.
    api.close().await;
}

#[tokio::test]
async fn healthz_stays_open() {
    let api = guarded();
    let (status, body) = call(&api, Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.close().await;
}

#[test]
fn the_token_is_never_printed() {
    let token = BearerToken::new(TOKEN).expect("token");
    assert!(!format!("{token:?}").contains("s3cret"));
    assert!(BearerToken::new("").is_none());
    assert!(token.matches(TOKEN.as_bytes()));
    assert!(!token.matches(b"s3cret-token-valu"));
}
