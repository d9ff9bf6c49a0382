//! Wire types of the process API, field for field as Coder's
//! `codersdk/workspacesdk` names them, with conversions from the domain.

use std::collections::BTreeMap;
use std::time::Duration;

use agentproc_core::buffer::Truncation;
use agentproc_core::clock::unix_seconds;
use agentproc_core::exec::{ResourceLimits, ResourceUsage, signal_name};
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
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) stdin: bool,
    #[serde(default, deserialize_with = "limits_object")]
    pub(crate) limits: LimitsRequest,
}

impl StartProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "command",
        "workdir",
        "env",
        "background",
        "client_token",
        "timeout_ms",
        "stdin",
        "limits",
    ];
}

/// The most processes Linux allows at all (`PID_MAX_LIMIT` on 64-bit).
const PID_MAX_LIMIT: u64 = 4_194_304;

/// `limits` of a start. Unlike the rest of the body, unknown keys are an
/// error: a misspelt limit must not silently run the command unlimited.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsRequest {
    #[serde(default, deserialize_with = "size")]
    memory_bytes: Option<u64>,
    #[serde(default, deserialize_with = "size")]
    memory_high_bytes: Option<u64>,
    #[serde(default)]
    cpu_cores: Option<f64>,
    #[serde(default)]
    pids: Option<u64>,
}

impl LimitsRequest {
    /// The limits, or a message naming the one that makes no sense.
    pub(crate) fn validate(&self) -> Result<ResourceLimits, String> {
        let positive = |name: &str, value: Option<u64>| match value {
            Some(0) => Err(format!("limits.{name} must be at least 1.")),
            other => Ok(other),
        };
        let cpu_millicores = match self.cpu_cores {
            None => None,
            Some(cores) if cores.is_finite() && (0.01..=1_000_000.0).contains(&cores) => {
                Some((cores * 1000.0).round() as u64)
            }
            Some(_) => {
                return Err(
                    "limits.cpu_cores must be a number of cores from 0.01 up, like 1.5.".to_owned(),
                );
            }
        };
        let pids = positive("pids", self.pids)?;
        if pids.is_some_and(|pids| pids > PID_MAX_LIMIT) {
            return Err(format!(
                "limits.pids must be at most {PID_MAX_LIMIT} (the kernel's limit)."
            ));
        }
        Ok(ResourceLimits {
            memory_bytes: positive("memory_bytes", self.memory_bytes)?,
            memory_high_bytes: positive("memory_high_bytes", self.memory_high_bytes)?,
            cpu_millicores,
            pids,
        })
    }
}

/// `limits`: an object (not an array, which serde would take field by
/// field), or `null` for none.
fn limits_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<LimitsRequest, D::Error> {
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(LimitsRequest::default()),
        Some(object) => serde_json::from_value(serde_json::Value::Object(object))
            .map_err(serde::de::Error::custom),
    }
}

/// A size: a number of bytes or a string like `"512MiB"`; `null` is none.
fn size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(deserializer) {
        Ok(None) => Ok(None),
        Ok(Some(Size::Bytes(bytes))) => Ok(Some(bytes)),
        Ok(Some(Size::Text(text))) => agentproc_core::text::parse_size(&text)
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a size like \"512MiB\" or a number of bytes"
                ))
            }),
        Err(_) => Err(serde::de::Error::custom(
            "expected a size like \"512MiB\" or a number of bytes",
        )),
    }
}

/// Limits in force, on the wire (only those set).
#[derive(Debug, Serialize)]
pub(crate) struct LimitsDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_high_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_cores: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids: Option<u64>,
}

impl LimitsDto {
    pub(crate) fn of(limits: ResourceLimits) -> Option<Self> {
        (!limits.is_empty()).then(|| Self {
            memory_bytes: limits.memory_bytes,
            memory_high_bytes: limits.memory_high_bytes,
            cpu_cores: limits.cpu_millicores.map(|millis| millis as f64 / 1000.0),
            pids: limits.pids,
        })
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    max_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forks_refused: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_throttled_ms: Option<u64>,
}

impl From<ResourceUsage> for UsageDto {
    fn from(usage: ResourceUsage) -> Self {
        Self {
            user_cpu_ms: millis(usage.user_cpu),
            system_cpu_ms: millis(usage.system_cpu),
            max_rss_bytes: usage.max_rss_bytes,
            forks_refused: usage.forks_refused,
            cpu_throttled_ms: usage.cpu_throttled.map(millis),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<LimitsDto>,
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
            limits: LimitsDto::of(info.limits),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wait_result: Option<&'static str>,
}

impl ProcessOutputResponse {
    /// Applies view hygiene to the output text.
    pub(crate) fn clean(&mut self, hygiene: agentproc_core::text::Hygiene) {
        if hygiene != agentproc_core::text::Hygiene::default() {
            self.output = hygiene.apply(std::mem::take(&mut self.output));
        }
    }
}

/// A cursor read: a piece of the full log.
#[derive(Debug, Serialize)]
pub(crate) struct ChunkResponse {
    output: String,
    cursor: u64,
    next_cursor: u64,
    gap_bytes: u64,
    eof: bool,
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(flatten)]
    exit: ExitDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_result: Option<&'static str>,
}

impl ChunkResponse {
    pub(crate) fn from_chunk(
        chunk: agentproc_core::manager::OutputChunk,
        clean: impl FnOnce(String) -> String,
        wait_result: Option<&'static str>,
    ) -> Self {
        Self {
            output: clean(chunk.text),
            cursor: chunk.cursor,
            next_cursor: chunk.next_cursor,
            gap_bytes: chunk.gap_bytes,
            eof: chunk.eof,
            running: chunk.info.running(),
            exit_code: chunk.info.exit_code(),
            pid: chunk.info.pid,
            exit: ExitDto::from(chunk.info.exit.as_ref()),
            wait_result,
        }
    }

    /// The `data:` of an SSE `output` event.
    pub(crate) fn into_event_data(self) -> String {
        crate::json::to_line(&self)
    }
}

/// The `data:` of an SSE `exit` event.
#[derive(Debug, Serialize)]
pub(crate) struct ExitEventDto {
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exited_at_unix: Option<i64>,
    #[serde(flatten)]
    exit: ExitDto,
}

impl From<ProcessInfo> for ExitEventDto {
    fn from(info: ProcessInfo) -> Self {
        Self {
            running: info.running(),
            exit_code: info.exit_code(),
            exited_at_unix: info.exit.as_ref().map(|exit| unix_seconds(exit.exited_at)),
            exit: ExitDto::from(info.exit.as_ref()),
        }
    }
}

impl ExitEventDto {
    pub(crate) fn into_event_data(self) -> String {
        crate::json::to_line(&self)
    }
}

/// A numbered line.
#[derive(Debug, Serialize)]
pub(crate) struct LineDto {
    line: u64,
    text: String,
}

impl LineDto {
    pub(crate) fn new(line: u64, text: String) -> Self {
        Self { line, text }
    }
}

/// One search match.
#[derive(Debug, Serialize)]
pub(crate) struct MatchDto {
    pub(crate) line: u64,
    pub(crate) offset: u64,
    pub(crate) text: String,
    pub(crate) before: Vec<LineDto>,
    pub(crate) after: Vec<LineDto>,
}

/// `GET /{id}/search` answer.
#[derive(Debug, Serialize)]
pub(crate) struct SearchResponse {
    pub(crate) matches: Vec<MatchDto>,
    pub(crate) limit_hit: bool,
    pub(crate) first_offset: u64,
    pub(crate) scanned_bytes: u64,
}

/// `GET /{id}/lines` answer.
#[derive(Debug, Serialize)]
pub(crate) struct LinesResponse {
    pub(crate) lines: Vec<LineDto>,
    pub(crate) total_lines: u64,
    pub(crate) first_line: u64,
    pub(crate) truncated: bool,
}

/// `POST /{id}/stdin` answer.
#[derive(Debug, Serialize)]
pub(crate) struct StdinResponse {
    pub(crate) written: usize,
    pub(crate) closed: bool,
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
            wait_result: None,
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
