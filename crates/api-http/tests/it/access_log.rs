//! The access log: one event per request, with the chat id when present.

use std::sync::{Arc, Mutex};

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

#[tokio::test]
async fn access_log_includes_the_chat_id() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let api = Api::local();
    let chat = Uuid::new_v4();
    api.get("/api/v0/processes/list", Some(chat)).await;
    api.get("/api/v0/processes/list", None).await;
    let events = capture.0.lock().expect("lock").clone();
    assert_eq!(events.len(), 2);
    let field = |event: &EventFields, name: &str| {
        event
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field(&events[0], "chat_id"), Some(chat.to_string()));
    assert_eq!(field(&events[0], "method").as_deref(), Some("GET"));
    assert_eq!(
        field(&events[0], "path").as_deref(),
        Some("/api/v0/processes/list")
    );
    assert_eq!(field(&events[0], "status").as_deref(), Some("200"));
    assert!(field(&events[0], "latency_us").is_some());
    assert_eq!(field(&events[1], "chat_id"), None);
    api.close().await;
}
