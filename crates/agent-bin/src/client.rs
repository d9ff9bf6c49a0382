//! The HTTP client of the CLI commands: one HTTP/1.1 connection per request
//! (as Coder's client does), over TCP or a Unix socket, with the bearer
//! token when there is one. Server errors become one readable line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// `http://host:port`.
    Tcp(String),
    /// `unix:/path`.
    Unix(PathBuf),
}

impl Server {
    /// Parses `http://HOST:PORT`, `HOST:PORT` or `unix:/path`.
    ///
    /// # Errors
    /// For anything else (https is not supported: agentproc serves plain
    /// HTTP).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if let Some(path) = text.strip_prefix("unix:") {
            anyhow::ensure!(!path.is_empty(), "--server unix: needs a socket path");
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if text.starts_with("https://") {
            bail!(
                "--server {text}: agentproc serves plain HTTP; put TLS in front of it and point --server at that proxy's plain side"
            );
        }
        let authority = text
            .strip_prefix("http://")
            .unwrap_or(text)
            .trim_end_matches('/');
        anyhow::ensure!(
            !authority.is_empty() && !authority.contains('/'),
            "--server {text:?} is not http://HOST:PORT or unix:/path"
        );
        Ok(Self::Tcp(authority.to_owned()))
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(authority) => write!(f, "http://{authority}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    server: Server,
    token: Option<String>,
}

/// A response whose status was not 2xx, as the server explained it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ServerError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `message (detail)`, or the status when the body said nothing.
    pub message: String,
}

impl Client {
    /// A client of `server`, sending `token` when given.
    pub fn new(server: Server, token: Option<String>) -> Self {
        Self {
            server,
            token: token.filter(|token| !token.is_empty()),
        }
    }

    /// `GET path`, the JSON answer.
    ///
    /// # Errors
    /// The server is unreachable, or answered an error (a [`ServerError`]).
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.send(Method::GET, path, None).await?;
        self.within_answer_timeout(json_of(response)).await
    }

    /// `answer` (the rest of a JSON answer) within [`ANSWER_TIMEOUT`].
    async fn within_answer_timeout(
        &self,
        answer: impl std::future::Future<Output = anyhow::Result<Value>>,
    ) -> anyhow::Result<Value> {
        tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the agentproc server at {} stopped answering midway",
                    self.server
                ))
            })
    }

    /// `POST path` with `body`, the JSON answer.
    ///
    /// # Errors
    /// As [`Client::get`].
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .send(Method::POST, path, Some(body.to_string()))
            .await?;
        self.within_answer_timeout(json_of(response)).await
    }

    /// `GET path`, the response itself (for streams), after checking it
    /// succeeded.
    ///
    /// # Errors
    /// As [`Client::get`].
    pub async fn open(&self, path: &str) -> anyhow::Result<hyper::Response<Incoming>> {
        let response = self.send(Method::GET, path, None).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(error_of(response).await.into())
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<hyper::Response<Incoming>> {
        let host = match &self.server {
            Server::Tcp(authority) => authority.clone(),
            Server::Unix(_) => "agentproc".to_owned(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, host);
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let unreachable = || format!("cannot reach the agentproc server at {}", self.server);
        let silent = || {
            format!(
                "the agentproc server at {} did not answer within {} s",
                self.server,
                ANSWER_TIMEOUT.as_secs()
            )
        };
        let answer = async {
            match &self.server {
                Server::Tcp(authority) => {
                    let stream = bounded(tokio::net::TcpStream::connect(authority))
                        .await
                        .with_context(unreachable)?;
                    let _ = stream.set_nodelay(true);
                    exchange(stream, request, body)
                        .await
                        .with_context(unreachable)
                }
                Server::Unix(path) => {
                    let stream = bounded(tokio::net::UnixStream::connect(path))
                        .await
                        .with_context(unreachable)?;
                    exchange(stream, request, body)
                        .await
                        .with_context(unreachable)
                }
            }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .map_err(|_| anyhow::anyhow!(silent()))?
    }
}

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may take to start answering (long waits ask it for
/// less: see `commands::WAIT_SLICE`).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// `connect` within [`CONNECT_TIMEOUT`].
async fn bounded<S>(
    connect: impl std::future::Future<Output = std::io::Result<S>>,
) -> std::io::Result<S> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
            ))
        })
}

async fn exchange<S>(
    stream: S,
    request: hyper::http::request::Builder,
    body: Option<String>,
) -> anyhow::Result<hyper::Response<Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = match body {
        Some(body) => request
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?,
        None => request.body(Full::new(Bytes::new()))?,
    };
    Ok(sender.send_request(request).await?)
}

async fn json_of(response: hyper::Response<Incoming>) -> anyhow::Result<Value> {
    if !response.status().is_success() {
        return Err(error_of(response).await.into());
    }
    let bytes = response.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&bytes).context("the server's answer is not JSON")
}

/// The server's error envelope as one line.
async fn error_of(response: hyper::Response<Incoming>) -> ServerError {
    let status = response.status();
    let bytes = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = match (envelope["message"].as_str(), envelope["detail"].as_str()) {
        (Some(message), Some(detail)) if !detail.is_empty() => format!("{message} ({detail})"),
        (Some(message), _) => message.to_owned(),
        _ => format!("the server answered {status}"),
    };
    ServerError { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            Server::parse("http://127.0.0.1:4242/").expect("ok"),
            Server::Tcp("127.0.0.1:4242".into())
        );
        assert_eq!(
            Server::parse("localhost:9000").expect("ok"),
            Server::Tcp("localhost:9000".into())
        );
        assert_eq!(
            Server::parse("unix:/run/a.sock").expect("ok"),
            Server::Unix("/run/a.sock".into())
        );
        assert!(Server::parse("https://x").is_err());
        assert!(Server::parse("unix:").is_err());
        assert!(Server::parse("http://x/api").is_err());
    }
}
