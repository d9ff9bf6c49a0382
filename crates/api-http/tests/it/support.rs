//! Test harness: a router over a real or fake executor, called in-process
//! with `tower::ServiceExt::oneshot` (no socket needed).

use std::sync::Arc;

use agentproc_api_http::{ApiConfig, ApiState, CHAT_ID_HEADER, router};
use agentproc_core::clock::{Clock, SystemClock};
use agentproc_core::exec::{Env, Execer};
use agentproc_core::{Manager, ManagerConfig};
use agentproc_exec_local::LocalExecer;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

pub(crate) struct Api {
    pub(crate) router: Router,
    pub(crate) manager: Manager,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) json: Value,
}

impl Reply {
    pub(crate) fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or_default()
    }
}

/// The fields of Coder's own wire types in `value`, leaving out the ones
/// agentproc adds, so compatibility assertions stay exact.
pub(crate) fn coder_fields(value: &Value, fields: &[&str]) -> Value {
    let object = value.as_object().expect("a JSON object");
    Value::Object(
        object
            .iter()
            .filter(|(key, _)| fields.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
}

/// Coder's `ProcessOutputResponse` fields.
pub(crate) const OUTPUT_FIELDS: &[&str] = &["output", "truncated", "running", "exit_code"];

/// A fresh log store in a temporary directory.
pub(crate) fn log_store(per_process: u64) -> Arc<agentproc_core::log::LogStore> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agentproc-api-logs-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    agentproc_core::log::LogStore::open(agentproc_core::log::LogConfig {
        dir,
        max_bytes_per_process: per_process,
        max_total_bytes: 1 << 30,
    })
    .expect("log store")
}

/// The environment of the test process, so `sh` finds its tools.
pub(crate) fn host_env() -> Env {
    std::env::vars_os().collect()
}

impl Api {
    /// Real processes, real clock.
    pub(crate) fn local() -> Self {
        Self::local_with(ManagerConfig::default())
    }

    pub(crate) fn local_with(mut config: ManagerConfig) -> Self {
        if config.base_env.is_empty() {
            config.base_env = host_env();
        }
        if config.logs.is_none() {
            config.logs = Some(log_store(64 << 20));
        }
        Self::build(
            config,
            Arc::new(LocalExecer::default()),
            Arc::new(SystemClock),
            ApiConfig::default(),
        )
    }

    /// Real processes, with time (waits, deadlines, grace periods) on a
    /// manual clock.
    pub(crate) fn manual(clock: &agentproc_core::testing::ManualClock) -> Self {
        Self::build(
            ManagerConfig {
                base_env: host_env(),
                logs: Some(log_store(64 << 20)),
                ..ManagerConfig::default()
            },
            Arc::new(LocalExecer::default()),
            Arc::new(clock.clone()),
            ApiConfig::default(),
        )
    }

    pub(crate) fn build(
        config: ManagerConfig,
        execer: Arc<dyn Execer>,
        clock: Arc<dyn Clock>,
        api: ApiConfig,
    ) -> Self {
        let manager = Manager::new(config, execer, clock);
        let router = router(ApiState::with_config(manager.clone(), api));
        Self { router, manager }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = String::from_utf8(bytes.to_vec()).expect("utf-8 body");
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            json,
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        chat: Option<Uuid>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(chat) = chat {
            request = request.header(CHAT_ID_HEADER, chat.to_string());
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.send(request.body(body).expect("request")).await
    }

    pub(crate) async fn get(&self, path: &str, chat: Option<Uuid>) -> Reply {
        self.call(Method::GET, path, None, chat).await
    }

    pub(crate) async fn post(&self, path: &str, body: &str, chat: Option<Uuid>) -> Reply {
        self.call(Method::POST, path, Some(body), chat).await
    }

    /// Starts `body` (a JSON start request) and returns the process id.
    pub(crate) async fn start(&self, body: Value, chat: Option<Uuid>) -> String {
        let reply = self
            .post("/api/v0/processes/start", &body.to_string(), chat)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json["started"], true);
        reply.json["id"].as_str().expect("id").to_owned()
    }

    pub(crate) async fn start_cmd(&self, command: &str) -> String {
        self.start(serde_json::json!({ "command": command }), None)
            .await
    }

    /// Blocks until the process exits (the server caps a wait at five
    /// minutes; these processes end long before).
    pub(crate) async fn wait(&self, id: &str, chat: Option<Uuid>) -> Reply {
        let reply = self
            .get(&format!("/api/v0/processes/{id}/output?wait=true"), chat)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }

    pub(crate) async fn output(&self, id: &str, chat: Option<Uuid>) -> Reply {
        self.get(&format!("/api/v0/processes/{id}/output"), chat)
            .await
    }

    pub(crate) async fn signal(&self, id: &str, signal: &str, chat: Option<Uuid>) -> Reply {
        self.post(
            &format!("/api/v0/processes/{id}/signal"),
            &serde_json::json!({ "signal": signal }).to_string(),
            chat,
        )
        .await
    }

    pub(crate) async fn list(&self, chat: Option<Uuid>) -> Vec<Value> {
        let reply = self.get("/api/v0/processes/list", chat).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json["processes"].as_array().expect("array").clone()
    }

    /// Stops everything the test started (the log directory goes when the
    /// `Api` is dropped, right after).
    pub(crate) async fn close(self) {
        self.manager.close().await;
    }
}

impl Drop for Api {
    /// A test that fails before `close` must not leave processes running;
    /// its log directory goes with it.
    fn drop(&mut self) {
        self.manager.kill_all();
        if let Some(logs) = &self.manager.config().logs {
            let _ = std::fs::remove_dir_all(&logs.config().dir);
        }
    }
}

/// Waits (on the exits themselves, bounded as a hang guard) until `pids`
/// are dead; returns the survivors.
pub(crate) async fn survivors(pids: Vec<u32>) -> Vec<u32> {
    tokio::task::spawn_blocking(move || {
        agentproc_exec_local::wait_until_dead(&pids, std::time::Duration::from_secs(30))
    })
    .await
    .expect("join")
}

/// The pids a command wrote (space-separated) to a FIFO.
pub(crate) async fn read_pids(fifo: &Fifo) -> Vec<u32> {
    fifo.read()
        .await
        .split_whitespace()
        .map(|pid| pid.parse().expect("a pid"))
        .collect()
}

/// A FIFO a command under test writes to when it is ready: reading it blocks
/// until then, which is the event a test waits on (instead of sleeping).
pub(crate) struct Fifo(std::path::PathBuf);

impl Fifo {
    pub(crate) fn new() -> Self {
        let path = std::env::temp_dir().join(format!("agentproc-it-{}.fifo", Uuid::new_v4()));
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(status.success(), "mkfifo failed");
        Self(path)
    }

    pub(crate) fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    /// Writes `text` to the command reading the FIFO (blocks until it opens
    /// it).
    pub(crate) async fn write(&self, text: &str) {
        let path = self.0.clone();
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || std::fs::write(path, text))
            .await
            .expect("join")
            .expect("write fifo");
    }

    /// Everything the command writes, once it closes the FIFO.
    pub(crate) async fn read(&self) -> String {
        let path = self.0.clone();
        tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
            .await
            .expect("join")
            .expect("read fifo")
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
