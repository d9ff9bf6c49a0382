//! `GET /metrics`: OpenMetrics text from the Prometheus client, with
//! counters that move with starts, exits, signals and requests.

use axum::http::StatusCode;

use crate::support::Api;

/// The value of the sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
}

#[tokio::test]
async fn counters_move_with_starts_exits_signals_and_requests() {
    let api = Api::local();
    let before = api.get("/metrics", None).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        before.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text"),
    );
    assert_eq!(
        sample(&before.body, "agentproc_processes_started_total "),
        0.0
    );
    assert!(before.body.contains("agentproc_build_info{version=\""));
    assert!(before.body.ends_with("# EOF\n"));

    let quick = api.start_cmd("printf hello").await;
    api.wait(&quick, None).await;
    let slow = api.start_cmd("sleep 300").await;
    let reply = api
        .post(
            &format!("/api/v0/processes/{slow}/signal"),
            r#"{"signal":"kill"}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    api.wait(&slow, None).await;

    let after = api.get("/metrics", None).await.body;
    assert_eq!(sample(&after, "agentproc_processes_started_total "), 2.0);
    assert_eq!(
        sample(
            &after,
            "agentproc_processes_exited_total{reason=\"exited\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "agentproc_processes_exited_total{reason=\"killed\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&after, "agentproc_signals_total{signal=\"SIGKILL\"}"),
        1.0
    );
    assert_eq!(sample(&after, "agentproc_output_bytes_total "), 5.0);
    assert_eq!(
        sample(&after, "agentproc_spawn_duration_seconds_count "),
        2.0
    );
    assert_eq!(
        sample(&after, "agentproc_time_to_first_byte_seconds_count "),
        1.0
    );
    assert_eq!(sample(&after, "agentproc_processes_running "), 0.0);
    assert_eq!(sample(&after, "agentproc_processes_retained "), 2.0);
    assert!(
        sample(
            &after,
            "agentproc_http_requests_total{method=\"POST\",route=\"/api/v0/processes/start\",status=\"200\"}"
        ) >= 2.0
    );
    // The first scrape is counted under its route too.
    assert!(after.contains("route=\"/metrics\""), "{after}");
    api.close().await;
}

/// Clients without the token cannot grow the label set: made-up methods
/// and unknown paths share one series.
#[tokio::test]
async fn made_up_methods_and_paths_share_labels() {
    use axum::body::Body;
    use axum::http::Request;

    let api = Api::local();
    for i in 0..50 {
        let request = Request::builder()
            .method(format!("M{i}X").as_str())
            .uri(format!("/no/such/route/{i}"))
            .body(Body::empty())
            .expect("request");
        api.send(request).await;
    }
    let metrics = api.get("/metrics", None).await.body;
    assert_eq!(
        sample(
            &metrics,
            "agentproc_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"}"
        ),
        50.0
    );
    assert!(!metrics.contains("M1X"), "{metrics}");
    api.close().await;
}
