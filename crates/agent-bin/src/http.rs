//! The HTTP/1.1 server loop: accepts connections (TCP or Unix) and serves
//! the router on each with hyper, with a deadline for request headers.
//!
//! `axum::serve` would do the rest, but it gives hyper no timer, so a client
//! could hold a connection forever by sending its headers a byte at a time,
//! or by keeping an idle connection open. Here every connection must deliver
//! a request's headers within `header_timeout` of starting to read them
//! (idle keep-alive connections included), or it is closed.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Serves `app` on the connections `accept` yields until `stop` is
/// cancelled, then lets open connections finish their requests (idle ones
/// are closed at once) and returns when all are closed.
pub async fn serve<S, F, A>(
    mut accept: F,
    app: Router,
    stop: CancellationToken,
    header_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut() -> A,
    A: Future<Output = io::Result<S>>,
{
    let connections = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = accept() => match accepted {
                Ok(stream) => stream,
                Err(error) => {
                    wait_after_accept_error(&error).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    connections.shutdown().await;
}

/// After a failed `accept`: out of file descriptors (or memory) is worth a
/// pause and a warning, since accepting again at once would spin; a
/// connection reset before it was accepted is not.
async fn wait_after_accept_error(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
