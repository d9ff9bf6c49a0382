//! Wire types of the process API, field for field as Coder's
//! `codersdk/workspacesdk` names them, with conversions from the domain.

use std::collections::BTreeMap;
use std::time::Duration;

use agentproc_core::buffer::Truncation;
use agentproc_core::clock::unix_seconds;
use agentproc_core::exec::{ResourceUsage, signal_name};
use agentproc_core::{ExitInfo, OutputSnapshot, ProcessInfo, Started, TokenStatus};
use serde::{Deserialize, Serialize};

use crate::json::{nullable, string_map};

/// `POST /start` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StartProcessRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) command: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) workdir: String,
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) background: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) client_token: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) timeout_ms: u64,
}

impl StartProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "command",
        "workdir",
        "env",
        "background",
        "client_token",
        "timeout_ms",
    ];
}

/// `POST /start` answer: Coder's `{id, started}` plus additive fields.
#[derive(Debug, Serialize)]
pub(crate) struct StartProcessResponse {
    id: String,
    started: bool,
    #[serde(skip_serializing_if = "is_false")]
    attached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    started_at_unix: i64,
}

impl From<Started> for StartProcessResponse {
    fn from(started: Started) -> Self {
        Self {
            id: started.info.id.to_string(),
            started: !started.attached,
            attached: started.attached,
            client_token: started.info.client_token,
            pid: started.info.pid,
            started_at_unix: unix_seconds(started.info.started_at),
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Resource usage at exit.
#[derive(Debug, Serialize)]
pub(crate) struct UsageDto {
    user_cpu_ms: u64,
    system_cpu_ms: u64,
    max_rss_bytes: u64,
}

impl From<ResourceUsage> for UsageDto {
    fn from(usage: ResourceUsage) -> Self {
        Self {
            user_cpu_ms: millis(usage.user_cpu),
            system_cpu_ms: millis(usage.system_cpu),
            max_rss_bytes: usage.max_rss_bytes,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How a process ended: the fields agentproc adds to list items and output
/// responses once a process has exited.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ExitDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    core_dumped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Option<&ExitInfo>> for ExitDto {
    fn from(exit: Option<&ExitInfo>) -> Self {
        let Some(exit) = exit else {
            return Self::default();
        };
        Self {
            exit_reason: Some(exit.reason.as_str()),
            signal: exit.signal.map(|number| {
                signal_name(number).map_or_else(|| format!("signal {number}"), str::to_owned)
            }),
            core_dumped: exit.core_dumped,
            usage: exit.usage.map(UsageDto::from),
            duration_ms: Some(millis(exit.duration)),
            error: exit.error.clone(),
        }
    }
}

/// `GET /list` answer.
#[derive(Debug, Serialize)]
pub(crate) struct ListProcessesResponse {
    pub(crate) processes: Vec<ProcessInfoDto>,
}

/// One process in a list: Coder's `ProcessInfo` plus additive fields.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessInfoDto {
    id: String,
    command: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    workdir: String,
    background: bool,
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    started_at_unix: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exited_at_unix: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(flatten)]
    exit: ExitDto,
}

impl From<ProcessInfo> for ProcessInfoDto {
    fn from(info: ProcessInfo) -> Self {
        Self {
            id: info.id.to_string(),
            workdir: info
                .workdir
                .as_ref()
                .map(|dir| dir.to_string_lossy().into_owned())
                .unwrap_or_default(),
            background: info.background,
            running: info.running(),
            exit_code: info.exit_code(),
            started_at_unix: unix_seconds(info.started_at),
            exited_at_unix: info.exit.as_ref().map(|exit| unix_seconds(exit.exited_at)),
            pid: info.pid,
            timeout_ms: info.timeout.map(millis),
            exit: ExitDto::from(info.exit.as_ref()),
            client_token: info.client_token,
            command: info.command,
        }
    }
}

/// `GET /{id}/output` answer: Coder's fields plus additive ones.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessOutputResponse {
    output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<TruncationDto>,
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(flatten)]
    exit: ExitDto,
}

impl From<OutputSnapshot> for ProcessOutputResponse {
    fn from(snapshot: OutputSnapshot) -> Self {
        Self {
            output: snapshot.output,
            truncated: snapshot.truncation.map(TruncationDto::from),
            running: snapshot.info.running(),
            exit_code: snapshot.info.exit_code(),
            pid: snapshot.info.pid,
            exit: ExitDto::from(snapshot.info.exit.as_ref()),
        }
    }
}

/// How the output was cut.
#[derive(Debug, Serialize)]
pub(crate) struct TruncationDto {
    original_bytes: u64,
    retained_bytes: u64,
    omitted_bytes: u64,
    strategy: &'static str,
}

impl From<Truncation> for TruncationDto {
    fn from(truncation: Truncation) -> Self {
        Self {
            original_bytes: truncation.original_bytes,
            retained_bytes: truncation.retained_bytes,
            omitted_bytes: truncation.omitted_bytes,
            strategy: truncation.strategy,
        }
    }
}

/// `POST /{id}/signal` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignalProcessRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) signal: String,
    #[serde(default)]
    pub(crate) grace_ms: Option<u64>,
}

impl SignalProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &["signal", "grace_ms"];
}

/// `GET /tokens/{token}` answer.
#[derive(Debug, Serialize)]
pub(crate) struct TokenStatusResponse {
    found: bool,
    #[serde(skip_serializing_if = "is_false")]
    pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_id: Option<String>,
    token_index_age_ms: u64,
}

impl From<TokenStatus> for TokenStatusResponse {
    fn from(status: TokenStatus) -> Self {
        Self {
            found: status.found,
            pending: status.pending,
            process_id: status.process_id.map(|id| id.to_string()),
            token_index_age_ms: millis(status.index_age),
        }
    }
}
