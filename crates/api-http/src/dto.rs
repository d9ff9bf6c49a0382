//! Wire types of the process API, field for field as Coder's
//! `codersdk/workspacesdk` names them, with conversions from the domain.

use std::collections::BTreeMap;

use agentproc_core::buffer::Truncation;
use agentproc_core::clock::unix_seconds;
use agentproc_core::{OutputSnapshot, ProcessInfo};
use serde::{Deserialize, Serialize};

use crate::json::nullable;

/// `POST /start` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StartProcessRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) command: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) workdir: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) background: bool,
}

impl StartProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &["command", "workdir", "env", "background"];
}

/// `POST /start` answer.
#[derive(Debug, Serialize)]
pub(crate) struct StartProcessResponse {
    pub(crate) id: String,
    pub(crate) started: bool,
}

/// `GET /list` answer.
#[derive(Debug, Serialize)]
pub(crate) struct ListProcessesResponse {
    pub(crate) processes: Vec<ProcessInfoDto>,
}

/// One process in a list.
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
}

impl From<ProcessInfo> for ProcessInfoDto {
    fn from(info: ProcessInfo) -> Self {
        Self {
            id: info.id.to_string(),
            command: info.command,
            workdir: info
                .workdir
                .map(|dir| dir.to_string_lossy().into_owned())
                .unwrap_or_default(),
            background: info.background,
            running: info.running,
            exit_code: info.exit_code,
            started_at_unix: unix_seconds(info.started_at),
            exited_at_unix: info.exited_at.map(unix_seconds),
        }
    }
}

/// `GET /{id}/output` answer.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessOutputResponse {
    output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<TruncationDto>,
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
}

impl From<OutputSnapshot> for ProcessOutputResponse {
    fn from(snapshot: OutputSnapshot) -> Self {
        Self {
            output: snapshot.output,
            truncated: snapshot.truncation.map(TruncationDto::from),
            running: snapshot.info.running,
            exit_code: snapshot.info.exit_code,
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
}

impl SignalProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &["signal"];
}
