//! The access log: one event per request, with the chat id when present.

use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};
use uuid::Uuid;

use crate::support::Api;

/// The fields of one event, in order.
type EventFields = Vec<(String, String)>;

/// Collects the fields of every access-log event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<EventFields>>>);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "agentproc::access" {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0.lock().expect("lock").push(fields.0);
        }
    }
}

/// Every access-log event of this test binary. The subscriber is global:
/// a thread-local one races with tests that log without it (tracing caches
/// per-callsite interest process-wide).
fn captured() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(Registry::default().with(capture.clone()))
            .expect("no other global subscriber in this test binary");
        capture
    })
}

#[tokio::test]
async fn access_log_includes_the_chat_id() {
    let capture = captured();
    let api = Api::local();
    let chat = Uuid::new_v4();
    // Unique paths, to find this test's events among everyone's.
    let with_chat = format!("/api/v0/processes/{}/output", Uuid::new_v4());
    let without_chat = format!("/api/v0/processes/{}/output", Uuid::new_v4());
    api.get(&with_chat, Some(chat)).await;
    api.get(&without_chat, None).await;
    let events = capture.0.lock().expect("lock").clone();
    let field = |event: &EventFields, name: &str| {
        event
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let find = |path: &str| {
        events
            .iter()
            .find(|event| field(event, "path").as_deref() == Some(path))
            .cloned()
            .expect("an access-log event for the request")
    };
    let event = find(&with_chat);
    assert_eq!(field(&event, "chat_id"), Some(chat.to_string()));
    assert_eq!(field(&event, "method").as_deref(), Some("GET"));
    assert_eq!(field(&event, "status").as_deref(), Some("404"));
    assert_eq!(
        field(&event, "route").as_deref(),
        Some("/api/v0/processes/{id}/output")
    );
    assert!(field(&event, "latency_us").is_some());
    assert_eq!(field(&find(&without_chat), "chat_id"), None);
    api.close().await;
}

#[tokio::test]
async fn a_request_abandoned_by_its_client_is_logged() {
    let capture = captured();
    let api = Api::local();
    let id = api.start_cmd("sleep 300").await;
    let path = format!("/api/v0/processes/{id}/output");
    let request = axum::http::Request::get(format!("{path}?wait=true"))
        .body(axum::body::Body::empty())
        .expect("request");
    let mut waiting = Box::pin(tower::ServiceExt::oneshot(api.router.clone(), request));
    // Poll until the handler is blocked in the wait, then hang up.
    tokio::select! {
        biased;
        _ = &mut waiting => panic!("the process is still running"),
        () = tokio::task::yield_now() => {}
    }
    drop(waiting);
    let events = capture.0.lock().expect("lock").clone();
    let abandoned = events.iter().any(|event| {
        event.contains(&("path".to_owned(), path.clone()))
            && event.contains(&("status".to_owned(), "499".to_owned()))
    });
    assert!(abandoned, "no 499 line for {path}");
    api.close().await;
}
