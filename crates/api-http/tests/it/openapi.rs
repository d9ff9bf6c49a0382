//! The OpenAPI document: served as generated, and the checked-in copy
//! (`docs/openapi.json`) is current.

use axum::http::StatusCode;

use crate::support::Api;

#[tokio::test]
async fn the_document_is_served() {
    let api = Api::local();
    let reply = api.get("/api/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.body, agentproc_api_http::openapi::document_json());
    let document: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    api.close().await;
}

#[test]
fn the_checked_in_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == agentproc_api_http::openapi::document_json(),
        "docs/openapi.json is stale; regenerate it with\n    cargo run -q -p agentproc -- openapi > docs/openapi.json"
    );
}
