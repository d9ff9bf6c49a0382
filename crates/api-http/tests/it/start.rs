//! `POST /start`.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentproc_core::ManagerConfig;
use agentproc_core::manager::EnvHook;
use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Api, host_env};

#[tokio::test]
async fn foreground_command_starts() {
    let api = Api::local();
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"echo hello"}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["started"], true);
    let id = reply.json["id"].as_str().expect("id");
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4", "a version 4 UUID");
    let done = api.wait(id, None).await;
    assert_eq!(done.json["output"], "hello\n");
    assert_eq!(done.json["exit_code"], 0);
    api.close().await;
}

#[tokio::test]
async fn background_command_starts_and_returns_at_once() {
    let api = Api::local();
    let id = api
        .start(json!({"command": "sleep 300", "background": true}), None)
        .await;
    let list = api.list(None).await;
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["background"], true);
    assert_eq!(list[0]["running"], true);
    api.close().await;
}

#[tokio::test]
async fn empty_command_is_rejected() {
    let api = Api::local();
    for body in [r#"{"command":""}"#, "{}", "null", r#"{"command":null}"#] {
        let reply = api.post("/api/v0/processes/start", body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.json,
            json!({"message": "Command is required."}),
            "{body}"
        );
    }
    assert!(api.list(None).await.is_empty());
    api.close().await;
}

#[tokio::test]
async fn malformed_json_is_rejected_with_the_decoder_error() {
    let api = Api::local();
    for body in [
        "{invalid json",
        "",
        "[1,2]",
        r#"{"command": 5}"#,
        r#"{"env": {"A": 1}}"#,
    ] {
        let reply = api.post("/api/v0/processes/start", body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.message(),
            "Request body must be valid JSON.",
            "{body}"
        );
        assert!(
            !reply.json["detail"].as_str().unwrap_or_default().is_empty(),
            "{body}"
        );
    }
    assert!(api.list(None).await.is_empty());
    api.close().await;
}

#[tokio::test]
async fn unknown_fields_and_case_variants_are_accepted_like_go() {
    let api = Api::local();
    let id = api
        .start(json!({"Command": "echo ok", "unknown": [1, 2, 3]}), None)
        .await;
    assert_eq!(api.wait(&id, None).await.json["output"], "ok\n");
    api.close().await;
}

#[tokio::test]
async fn whitespace_only_commands_are_accepted() {
    let api = Api::local();
    let id = api.start_cmd("   ").await;
    assert_eq!(api.wait(&id, None).await.json["exit_code"], 0);
    api.close().await;
}

#[tokio::test]
async fn custom_workdir_is_used_and_reported() {
    let dir = std::env::temp_dir().join(format!("agentproc-it-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let api = Api::local();
    let id = api
        .start(
            json!({"command": "touch marker && pwd", "workdir": dir.to_str().expect("utf-8")}),
            None,
        )
        .await;
    let done = api.wait(&id, None).await;
    assert_eq!(done.json["exit_code"], 0);
    assert!(dir.join("marker").exists());
    assert_eq!(
        api.list(None).await[0]["workdir"],
        dir.to_str().expect("utf-8")
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
    api.close().await;
}

#[tokio::test]
async fn a_missing_workdir_is_a_client_error_naming_the_directory() {
    let api = Api::local();
    let reply = api
        .post(
            "/api/v0/processes/start",
            r#"{"command":"true","workdir":"/agentproc/missing"}"#,
            None,
        )
        .await;
    // Coder answers 500; a missing directory is the client's mistake, so
    // agentproc answers 400 with Coder's message and detail.
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json,
        json!({
            "message": "Failed to start process.",
            "detail": "start process: chdir /agentproc/missing: no such file or directory"
        })
    );
    api.close().await;
}

async fn resolved_workdir(config: ManagerConfig) -> serde_json::Value {
    let api = Api::local_with(config);
    let id = api.start_cmd("true").await;
    api.wait(&id, None).await;
    let workdir = api.list(None).await[0]["workdir"].clone();
    api.close().await;
    workdir
}

#[tokio::test]
async fn default_workdir_is_the_injected_home() {
    let home = std::env::temp_dir();
    let workdir = resolved_workdir(ManagerConfig {
        home_dir: Some(home.clone()),
        ..ManagerConfig::default()
    })
    .await;
    assert_eq!(workdir, home.to_str().expect("utf-8"));
}

#[tokio::test]
async fn default_workdir_comes_from_configuration() {
    let configured = std::env::temp_dir();
    let workdir = resolved_workdir(ManagerConfig {
        default_workdir: Some(configured.clone()),
        home_dir: Some("/".into()),
        ..ManagerConfig::default()
    })
    .await;
    assert_eq!(workdir, configured.to_str().expect("utf-8"));
}

#[tokio::test]
async fn a_missing_configured_workdir_falls_back_to_home() {
    let home = std::env::temp_dir();
    let workdir = resolved_workdir(ManagerConfig {
        default_workdir: Some("/agentproc/not/here".into()),
        home_dir: Some(home.clone()),
        ..ManagerConfig::default()
    })
    .await;
    assert_eq!(workdir, home.to_str().expect("utf-8"));
}

#[tokio::test]
async fn request_env_is_visible_to_the_command() {
    let api = Api::local();
    let id = api
        .start(
            json!({"command": "printenv MY_VAR", "env": {"MY_VAR": "custom-value"}}),
            None,
        )
        .await;
    assert_eq!(api.wait(&id, None).await.json["output"], "custom-value\n");
    api.close().await;
}

fn hook_config() -> ManagerConfig {
    let hook: EnvHook = Arc::new(|mut env| {
        env.insert("HOOK_VAR".into(), "from-hook".into());
        env.insert("SHARED_VAR".into(), "from-hook".into());
        Ok(env)
    });
    ManagerConfig {
        base_env: host_env(),
        env_hook: Some(hook),
        ..ManagerConfig::default()
    }
}

#[tokio::test]
async fn the_env_hook_adds_variables() {
    let api = Api::local_with(hook_config());
    let id = api.start_cmd("printenv HOOK_VAR").await;
    assert_eq!(api.wait(&id, None).await.json["output"], "from-hook\n");
    api.close().await;
}

#[tokio::test]
async fn request_env_overrides_the_env_hook() {
    let api = Api::local_with(hook_config());
    let env = BTreeMap::from([("SHARED_VAR", "from-request")]);
    let id = api
        .start(json!({"command": "printenv SHARED_VAR", "env": env}), None)
        .await;
    assert_eq!(api.wait(&id, None).await.json["output"], "from-request\n");
    api.close().await;
}

#[tokio::test]
async fn the_chat_id_is_passed_to_the_child_and_wins() {
    let api = Api::local();
    let chat = uuid::Uuid::new_v4();
    let id = api
        .start(
            json!({"command": "printenv CODER_CHAT_ID", "env": {"CODER_CHAT_ID": "spoofed"}}),
            Some(chat),
        )
        .await;
    assert_eq!(
        api.wait(&id, Some(chat)).await.json["output"],
        format!("{chat}\n")
    );
    api.close().await;
}

#[tokio::test]
async fn invalid_env_names_and_nul_bytes_are_client_errors() {
    let api = Api::local();
    let cases = [
        (
            json!({"command": "true", "env": {"A=B": "x"}}),
            "Environment variable name \"A=B\" is invalid: it must be non-empty and contain no \"=\" or NUL.",
        ),
        (
            json!({"command": "echo \u{0}"}),
            "Command must not contain NUL bytes.",
        ),
        (
            json!({"command": "true", "workdir": "/tmp\u{0}"}),
            "Workdir must not contain NUL bytes.",
        ),
        (
            json!({"command": "true", "env": {"A": "x\u{0}"}}),
            "Environment variable \"A\" must not contain NUL bytes.",
        ),
    ];
    for (body, message) in cases {
        let reply = api
            .post("/api/v0/processes/start", &body.to_string(), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.message(), message);
    }
    assert!(api.list(None).await.is_empty());
    api.close().await;
}

#[tokio::test]
async fn starts_after_shutdown_fail_with_manager_is_closed() {
    let api = Api::local();
    api.manager.close().await;
    let reply = api
        .post("/api/v0/processes/start", r#"{"command":"true"}"#, None)
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.json,
        json!({"message": "Failed to start process.", "detail": "manager is closed"})
    );
}

#[tokio::test]
async fn limits_are_validated_and_the_local_executor_refuses_them() {
    let api = Api::local();
    for (body, message) in [
        (
            r#"{"command":"true","limits":{"pids":0}}"#,
            "limits.pids must be at least 1.",
        ),
        (
            r#"{"command":"true","limits":{"cpu_cores":-1}}"#,
            "limits.cpu_cores must be a number of cores from 0.01 up, like 1.5.",
        ),
        (
            r#"{"command":"true","limits":{"cpu_cores":1e300}}"#,
            "limits.cpu_cores must be a number of cores from 0.01 up, like 1.5.",
        ),
        (
            r#"{"command":"true","limits":{"pids":99999999999}}"#,
            "limits.pids must be at most 4194304 (the kernel's limit).",
        ),
        (
            r#"{"command":"true","limits":{"memory_bytes":"512MiB"}}"#,
            "Resource limits need the sandbox executor (executor = \"sandbox\"); this agentproc runs commands without limits.",
        ),
    ] {
        let reply = api.post("/api/v0/processes/start", body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.message(), message, "{body}");
    }
    for body in [
        r#"{"command":"true","limits":{"memroy_bytes":1}}"#,
        r#"{"command":"true","limits":{"memory_bytes":"lots"}}"#,
        r#"{"command":"true","limits":{"pids":-3}}"#,
        r#"{"command":"true","limits":[1]}"#,
    ] {
        let reply = api.post("/api/v0/processes/start", body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.message(),
            "Request body must be valid JSON.",
            "{body}"
        );
        assert!(!reply.json["detail"].as_str().unwrap_or_default().is_empty());
    }
    // Nothing ran; `null` and `{}` mean no limits.
    assert!(api.list(None).await.is_empty());
    for body in [
        r#"{"command":"true","limits":null}"#,
        r#"{"command":"true","limits":{}}"#,
    ] {
        let reply = api.post("/api/v0/processes/start", body, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}");
    }
    api.close().await;
}

#[tokio::test]
async fn healthz_reports_the_executor() {
    let api = Api::local();
    let reply = api.get("/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["status"], "ok");
    assert_eq!(reply.json["executor"]["kind"], "local");
    assert_eq!(reply.json["executor"]["enforceable_limits"], json!([]));
    assert_eq!(reply.json["running"], 0);
    api.close().await;
}
