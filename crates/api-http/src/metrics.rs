//! `GET /metrics`: Prometheus metrics, in the OpenMetrics text format of the
//! Prometheus project's own client. Process metrics come from the manager's
//! event observer (so none is missed), HTTP metrics from the access log,
//! gauges are read at scrape time.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentproc_core::Manager;
use agentproc_core::manager::ManagerEvent;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::ApiState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabel {
    signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    started: Counter,
    exited: Family<ReasonLabel, Counter>,
    signals: Family<SignalLabel, Counter>,
    spawn_seconds: Histogram,
    first_byte_seconds: Histogram,
    output_bytes: Counter,
    running: Gauge,
    retained: Gauge,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The git revision the binary was built from ("unknown" outside a git
/// checkout).
pub const REVISION: &str = env!("AGENTPROC_GIT_REVISION");

impl Metrics {
    /// Metrics fed by `manager`'s events from now on.
    pub fn attach(manager: &Manager) -> Arc<Self> {
        let mut registry = Registry::with_prefix("agentproc");
        let metrics = Self {
            started: Counter::default(),
            exited: Family::default(),
            signals: Family::default(),
            // 100 µs to ~6.5 s.
            spawn_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 17),
            ),
            // 1 ms to ~9 min.
            first_byte_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 20),
            ),
            output_bytes: Counter::default(),
            running: Gauge::default(),
            retained: Gauge::default(),
            http_requests: Family::default(),
            // 100 µs to ~6.5 s.
            http_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 17),
            ),
            registry: Registry::default(),
        };
        registry.register(
            "processes_started",
            "Processes spawned",
            metrics.started.clone(),
        );
        registry.register(
            "processes_exited",
            "Processes that exited, by exit reason",
            metrics.exited.clone(),
        );
        registry.register(
            "signals",
            "Signals delivered on request, by signal",
            metrics.signals.clone(),
        );
        registry.register(
            "spawn_duration_seconds",
            "Time the executor took to spawn a process",
            metrics.spawn_seconds.clone(),
        );
        registry.register(
            "time_to_first_byte_seconds",
            "From a process's start to its first byte of output",
            metrics.first_byte_seconds.clone(),
        );
        registry.register(
            "output_bytes",
            "Bytes of output written by processes that exited",
            metrics.output_bytes.clone(),
        );
        registry.register(
            "processes_running",
            "Processes running now",
            metrics.running.clone(),
        );
        registry.register(
            "processes_retained",
            "Processes kept, running or exited",
            metrics.retained.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (long waits included)",
            metrics.http_seconds.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                revision: REVISION,
            })
            .set(1);
        registry.register("build_info", "The running build", build);
        let started_at = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        started_at.set(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
        registry.register(
            "start_time_seconds",
            "When this server started, in seconds since the Unix epoch",
            started_at,
        );
        let metrics = Arc::new(Self {
            registry,
            ..metrics
        });
        let observed = Arc::downgrade(&metrics);
        manager.observe(move |event| {
            if let Some(metrics) = observed.upgrade() {
                metrics.record(event);
            }
        });
        metrics
    }

    fn record(&self, event: &ManagerEvent) {
        match event {
            ManagerEvent::Started { spawn_latency, .. } => {
                self.started.inc();
                self.spawn_seconds.observe(spawn_latency.as_secs_f64());
            }
            ManagerEvent::Signaled { signal, .. } => {
                self.signals
                    .get_or_create(&SignalLabel {
                        signal: signal.name(),
                    })
                    .inc();
            }
            ManagerEvent::Exited {
                info,
                output_bytes,
                first_output_after,
                ..
            } => {
                let reason = info
                    .exit
                    .as_ref()
                    .map_or("unknown", |exit| exit.reason.as_str());
                self.exited.get_or_create(&ReasonLabel { reason }).inc();
                self.output_bytes.inc_by(*output_bytes);
                if let Some(after) = first_output_after {
                    self.first_byte_seconds.observe(after.as_secs_f64());
                }
            }
            _ => {}
        }
    }

    /// Counts one answered request.
    pub(crate) fn request(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        // Clients cannot grow the label set: methods outside the standard
        // ones share one label, as do unmatched paths (status codes are
        // three digits).
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE"
            | "PATCH" => method,
            _ => "other",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.unwrap_or("unmatched").to_owned(),
                status,
            })
            .inc();
        self.http_seconds.observe(took.as_secs_f64());
    }
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Processes started, running, retained and exited by reason; spawn and first-byte latency; output bytes; signals; HTTP requests by route and status; build info.",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String,
    ))
)]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    let (running, retained) = state.manager.counts();
    let metrics = &state.metrics;
    metrics
        .running
        .set(i64::try_from(running).unwrap_or(i64::MAX));
    metrics
        .retained
        .set(i64::try_from(retained).unwrap_or(i64::MAX));
    let mut body = String::with_capacity(4096);
    if let Err(error) = prometheus_client::encoding::text::encode(&mut body, &metrics.registry) {
        tracing::error!(%error, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
