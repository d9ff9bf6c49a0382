//! The HTTP API mounted under a prefix in an embedder's own axum app, next
//! to its own routes: `Router::nest` (the API router has its own 404/405
//! fallbacks, so it nests rather than merges; see the crate docs), served
//! with axum, then asked for its process list.
//!
//! `cargo run -p agentproc --example http_under_prefix`

use std::io::{Read, Write};
use std::sync::Arc;

use agentproc_api_http::{ApiState, router};
use agentproc_core::{Manager, ManagerConfig, SystemClock};
use agentproc_exec_local::LocalExecer;
use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::new(
        ManagerConfig::default(),
        Arc::new(LocalExecer::default()),
        Arc::new(SystemClock),
    );
    let app = Router::new()
        .route("/", get(|| async { "my agent's own page" }))
        .nest("/agentproc", router(ApiState::new(manager.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // A client of the mounted API (blocking, on a thread of its own).
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(address)?;
        stream.write_all(b"GET /agentproc/api/v0/processes/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    })
    .await??;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    print!("{body}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(body.trim_end(), r#"{"processes":[]}"#);
    server.abort();
    manager.close().await;
    Ok(())
}
