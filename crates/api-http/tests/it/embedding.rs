//! Mounting the router in an embedder's own app: nested under a prefix
//! next to the app's routes, or with the app's routes passed to
//! `router_with` so they sit behind the same middleware (the token check).

use agentproc_api_http::{ApiConfig, ApiState, BearerToken, router, router_with};
use agentproc_core::{Manager, ManagerConfig};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get_text(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn manager() -> Manager {
    Manager::new(
        ManagerConfig::default(),
        std::sync::Arc::new(agentproc_core::testing::FakeExecer::default()),
        std::sync::Arc::new(agentproc_core::SystemClock),
    )
}

#[tokio::test]
async fn nested_under_a_prefix_next_to_the_apps_own_routes() {
    let manager = manager();
    let app = Router::new()
        .route("/", get(|| async { "the app" }))
        .nest("/agentproc", router(ApiState::new(manager.clone())));
    assert_eq!(
        get_text(&app, "/", None).await,
        (StatusCode::OK, "the app".to_owned())
    );
    let (status, body) = get_text(&app, "/agentproc/api/v0/processes/list", None).await;
    assert_eq!(
        (status, body.trim_end()),
        (StatusCode::OK, r#"{"processes":[]}"#)
    );
    let (status, body) = get_text(&app, "/agentproc/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    manager.close().await;
}

#[tokio::test]
async fn extra_routes_sit_behind_the_same_token_check() {
    let manager = manager();
    let config = ApiConfig {
        token: BearerToken::new("s3cret"),
        ..ApiConfig::default()
    };
    let extra = Router::new().route("/mine", get(|| async { "mine" }));
    let app = router_with(ApiState::with_config(manager.clone(), config), extra);
    let (status, _) = get_text(&app, "/mine", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_text(&app, "/mine", Some("s3cret")).await,
        (StatusCode::OK, "mine".to_owned())
    );
    let (status, _) = get_text(&app, "/api/v0/processes/list", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    manager.close().await;
}
