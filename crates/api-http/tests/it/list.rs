//! `GET /list`.

use serde_json::json;
use uuid::Uuid;

use crate::support::Api;

#[tokio::test]
async fn no_processes_is_an_empty_array() {
    let api = Api::local();
    let reply = api.get("/api/v0/processes/list", None).await;
    assert_eq!(reply.body, "{\"processes\":[]}\n");
    api.close().await;
}

#[tokio::test]
async fn a_chat_sees_only_its_own_processes() {
    let api = Api::local();
    let (chat_a, chat_b) = (Uuid::new_v4(), Uuid::new_v4());
    for chat in [chat_a, chat_a, chat_b] {
        let id = api.start(json!({"command": "true"}), Some(chat)).await;
        api.wait(&id, Some(chat)).await;
    }
    assert_eq!(api.list(Some(chat_a)).await.len(), 2);
    assert_eq!(api.list(Some(chat_b)).await.len(), 1);
    assert_eq!(api.list(None).await.len(), 3);
    // An unrelated chat, and processes without a chat, are not in its list.
    api.start_cmd("true").await;
    assert_eq!(api.list(Some(Uuid::new_v4())).await.len(), 0);
    assert_eq!(api.list(Some(chat_b)).await.len(), 1);
    // A header that is not a UUID means no chat context at all.
    let reply = api.get("/api/v0/processes/list", None).await;
    assert_eq!(reply.json["processes"].as_array().map(Vec::len), Some(4));
    api.close().await;
}

#[tokio::test]
async fn an_invalid_chat_header_disables_filtering() {
    let api = Api::local();
    api.start(json!({"command": "true"}), Some(Uuid::new_v4()))
        .await;
    let request = axum::http::Request::builder()
        .uri("/api/v0/processes/list")
        .header("Coder-Chat-Id", "not-a-uuid")
        .body(axum::body::Body::empty())
        .expect("request");
    let reply = api.send(request).await;
    assert_eq!(reply.json["processes"].as_array().map(Vec::len), Some(1));
    api.close().await;
}

#[tokio::test]
async fn lists_are_capped_at_ten_newest_first() {
    let api = Api::local();
    let mut ids = Vec::new();
    for i in 0..12 {
        let id = api.start_cmd(&format!("echo {i}")).await;
        api.wait(&id, None).await;
        ids.push(id);
    }
    let list = api.list(None).await;
    assert_eq!(list.len(), 10);
    // Newest first, deterministically, even within one second.
    let listed: Vec<&str> = list.iter().map(|p| p["id"].as_str().expect("id")).collect();
    let expected: Vec<&str> = ids.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(listed, expected);
    let times: Vec<i64> = list
        .iter()
        .map(|p| p["started_at_unix"].as_i64().expect("time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    api.close().await;
}

#[tokio::test]
async fn a_limit_asks_for_more_or_fewer_and_zero_is_the_default() {
    let api = Api::local();
    for i in 0..12 {
        let id = api.start_cmd(&format!("echo {i}")).await;
        api.wait(&id, None).await;
    }
    let count = |reply: crate::support::Reply| {
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json["processes"].as_array().map_or(0, Vec::len)
    };
    let list = "/api/v0/processes/list";
    assert_eq!(count(api.get(&format!("{list}?limit=12"), None).await), 12);
    assert_eq!(count(api.get(&format!("{list}?limit=3"), None).await), 3);
    let huge = api.get(&format!("{list}?limit=1000000"), None).await;
    assert_eq!(count(huge), 12, "capped, not refused");
    assert_eq!(count(api.get(&format!("{list}?limit=0"), None).await), 10);
    assert_eq!(count(api.get(&format!("{list}?limit="), None).await), 10);
    let reply = api.get(&format!("{list}?limit=-1"), None).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.message(), "limit must be a non-negative integer.");
    api.close().await;
}

#[tokio::test]
async fn the_chat_that_started_a_process_is_listed() {
    let api = Api::local();
    let chat = Uuid::new_v4();
    let id = api.start(json!({"command": "true"}), Some(chat)).await;
    api.wait(&id, Some(chat)).await;
    let without = api.start_cmd("true").await;
    api.wait(&without, None).await;
    let list = api.list(None).await;
    let chat_of = |id: &str| {
        list.iter()
            .find(|p| p["id"] == id)
            .expect("listed")
            .get("chat_id")
            .cloned()
    };
    assert_eq!(chat_of(&id), Some(json!(chat.to_string())));
    assert_eq!(chat_of(&without), None, "absent without a chat");
    api.close().await;
}

#[tokio::test]
async fn running_processes_come_first() {
    let api = Api::local();
    let exited = api.start_cmd("true").await;
    api.wait(&exited, None).await;
    let running = api.start_cmd("sleep 300").await;
    let newer_exited = api.start_cmd("true").await;
    api.wait(&newer_exited, None).await;
    let list = api.list(None).await;
    let order: Vec<&str> = list.iter().map(|p| p["id"].as_str().expect("id")).collect();
    assert_eq!(
        order,
        [running.as_str(), newer_exited.as_str(), exited.as_str()]
    );
    api.close().await;
}

#[tokio::test]
async fn mixed_running_and_exited_fields() {
    let api = Api::local();
    let exited = api.start_cmd("exit 3").await;
    api.wait(&exited, None).await;
    let running = api.start_cmd("sleep 300").await;
    let list = api.list(None).await;
    let find = |id: &str| list.iter().find(|p| p["id"] == id).expect("listed").clone();

    let done = find(&exited);
    assert_eq!(done["running"], false);
    assert_eq!(done["exit_code"], 3);
    assert!(
        done["exited_at_unix"].as_i64().expect("exit time")
            >= done["started_at_unix"].as_i64().expect("start time")
    );
    assert_eq!(done["command"], "exit 3");
    assert_eq!(done["background"], false);

    let live = find(&running);
    assert_eq!(live["running"], true);
    assert!(
        live.get("exit_code").is_none(),
        "absent while running: {live}"
    );
    assert!(live.get("exited_at_unix").is_none());

    assert_eq!(api.signal(&running, "kill", None).await.status, 200);
    api.close().await;
}
