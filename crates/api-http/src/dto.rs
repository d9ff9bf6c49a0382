//! Wire types of the process API, field for field as Coder's
//! `codersdk/workspacesdk` names them, with conversions from the domain.

use std::collections::BTreeMap;
use std::time::Duration;

use agentproc_core::buffer::Truncation;
use agentproc_core::clock::unix_seconds;
use agentproc_core::exec::{ResourceLimits, ResourceUsage, TerminalSize, signal_name};
use agentproc_core::manager::WaitResult;
use agentproc_core::{ExitInfo, ExitReason, OutputSnapshot, ProcessInfo, Started, TokenStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::json::{nullable, string_map};

/// `POST /start` body. Decoded as Go's `encoding/json` does: keys match
/// case-insensitively, unknown keys are ignored, `null` leaves a field at
/// its zero value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct StartProcessRequest {
    /// The command line, run as `<shell> -c <command>`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(required = true, min_length = 1)]
    pub(crate) command: String,
    /// Working directory, used verbatim; empty for the configured default
    /// (else `$HOME`).
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) workdir: String,
    /// Variables added to the environment (names must be non-empty and
    /// contain no `=` or NUL).
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) env: BTreeMap<String, String>,
    /// Recorded and reported in `list`; changes nothing else.
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) background: bool,
    /// Exactly-once key: a repeated start with the same token (in the same
    /// chat) attaches to the first process instead of running it again.
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) client_token: String,
    /// Deadline in milliseconds: SIGTERM when it passes, SIGKILL after the
    /// deadline grace. 0 for none.
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) timeout_ms: u64,
    /// Keep standard input open for `POST /{id}/stdin` (otherwise it is
    /// `/dev/null`).
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) stdin: bool,
    /// Resource limits (sandbox executor only); unknown keys are refused.
    #[serde(default, deserialize_with = "limits_object")]
    pub(crate) limits: LimitsRequest,
    /// Run it on a pseudo-terminal: `true` (24 rows of 80 columns) or
    /// `{"rows": R, "cols": C}` (each 1 to 1000). Its output is then what
    /// the terminal shows it; drive it with `POST /{id}/input`, read its
    /// screen with `GET /{id}/screen`.
    #[serde(default)]
    #[schema(value_type = Option<TtyRequest>)]
    pub(crate) tty: Option<serde_json::Value>,
    /// Confine the command (sandbox executor with bubblewrap): `"workspace"`
    /// (no network, write the workdir and a private `/tmp`, secrets
    /// denied) or `{"network", "write", "read", "deny"}`. It may tighten the
    /// operator's minimum, never loosen it. Absent: the configured default
    /// (none unless the operator set one).
    #[serde(default)]
    #[schema(value_type = Option<crate::isolation::IsolationRequestDoc>)]
    pub(crate) isolation: Option<serde_json::Value>,
    /// Run and wait in one request: wait up to this many milliseconds
    /// (at most `max_wait`) for the process to exit. When it exits in time,
    /// the answer also carries its exit and output exactly as
    /// `GET /{id}/output?wait=true` would; otherwise it is the usual answer
    /// with `running: true`. The wait never affects the process. 0 or
    /// absent: no wait (Coder's answer).
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) wait_ms: u64,
    /// With `wait_ms`: `"agent"` for the agent view of the output (as
    /// `view=agent` on `GET /{id}/output`), `"head_tail"` (the default) for
    /// the head/tail view.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub(crate) view: String,
    /// With `view: "agent"`: the view's budget in tokens (200 to 32000,
    /// default 2000).
    #[serde(default)]
    pub(crate) max_tokens: Option<u64>,
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
        "tty",
        "isolation",
        "wait_ms",
        "view",
        "max_tokens",
    ];

    /// The terminal asked for, or a message saying what is wrong.
    pub(crate) fn terminal(&self) -> Result<Option<TerminalSize>, String> {
        const SHAPE: &str = "tty must be true, false or {\"rows\": R, \"cols\": C}.";
        let object = match &self.tty {
            None | Some(serde_json::Value::Bool(false)) => return Ok(None),
            Some(serde_json::Value::Bool(true)) => return Ok(Some(TerminalSize::DEFAULT)),
            Some(serde_json::Value::Object(object)) => object,
            Some(_) => return Err(SHAPE.to_owned()),
        };
        if let Some(key) = object.keys().find(|key| *key != "rows" && *key != "cols") {
            return Err(format!("{SHAPE} Unknown key {key:?}."));
        }
        let dimension = |name: &str, default: u16| match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(value) => value
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (1..=TerminalSize::MAX).contains(n))
                .ok_or_else(|| {
                    format!(
                        "tty.{name} must be a whole number from 1 to {}.",
                        TerminalSize::MAX
                    )
                }),
        };
        let rows = dimension("rows", TerminalSize::DEFAULT.rows())?;
        let cols = dimension("cols", TerminalSize::DEFAULT.cols())?;
        TerminalSize::new(rows, cols)
            .map(Some)
            .ok_or_else(|| SHAPE.to_owned())
    }
}

/// `tty` of a start: `true`, or a size.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum TtyRequest {
    /// `true`: 24 rows of 80 columns; `false`: no terminal.
    Enabled(bool),
    /// A size.
    Size(TerminalSizeDto),
}

/// A terminal's size in character cells.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TerminalSize)]
pub(crate) struct TerminalSizeDto {
    /// Rows, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub(crate) rows: u16,
    /// Columns, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub(crate) cols: u16,
}

impl From<TerminalSize> for TerminalSizeDto {
    fn from(size: TerminalSize) -> Self {
        Self {
            rows: size.rows(),
            cols: size.cols(),
        }
    }
}

/// The most processes Linux allows at all (`PID_MAX_LIMIT` on 64-bit).
const PID_MAX_LIMIT: u64 = 4_194_304;

/// `limits` of a start. Unlike the rest of the body, unknown keys are an
/// error: a misspelt limit must not silently run the command unlimited.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsRequest {
    /// Hard memory limit: the OOM killer acts above it.
    #[serde(default, deserialize_with = "size")]
    #[schema(value_type = Option<Size>)]
    memory_bytes: Option<u64>,
    /// Memory above which the kernel throttles and reclaims (cgroup v2
    /// `memory.high`).
    #[serde(default, deserialize_with = "size")]
    #[schema(value_type = Option<Size>)]
    memory_high_bytes: Option<u64>,
    /// CPU time as a number of cores, from 0.01.
    #[serde(default)]
    #[schema(minimum = 0.01, maximum = 1_000_000.0)]
    cpu_cores: Option<f64>,
    /// The most processes and threads the command's tree may have.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4_194_304)]
    pids: Option<u64>,
}

/// A size: a number of bytes, or a string such as `"512MiB"`.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Size {
    /// Bytes.
    Bytes(u64),
    /// A whole number with an optional unit, any case: B, KB or K (1000),
    /// KiB (1024), MB or M, MiB, GB or G, GiB.
    #[schema(example = "512MiB")]
    Text(String),
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Limits)]
pub(crate) struct LimitsDto {
    /// Hard memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
    /// Memory in bytes above which the kernel throttles.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_high_bytes: Option<u64>,
    /// CPU time as a number of cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_cores: Option<f64>,
    /// The most processes and threads of the tree.
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
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StartProcessResponse {
    /// The process id (a UUID).
    id: String,
    /// Whether this request started it (`false` when it attached to an
    /// earlier start with the same `client_token`).
    started: bool,
    /// Present and `true` when this request attached to an earlier start.
    #[serde(skip_serializing_if = "is_false")]
    attached: bool,
    /// The client token of the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    /// The shell's process id (also its process group id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// When it started, in Unix seconds.
    started_at_unix: i64,
    /// The isolation applied to it, when it is isolated.
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation: Option<crate::isolation::AppliedDto>,
    /// With `wait_ms`: `true` when the wait ran out before the exit (the
    /// answer is then the usual one plus `running` and `wait_result`);
    /// when it exited in time, the fields of `GET /{id}/output?wait=true`
    /// follow instead (`running: false`, `exit_code`, `output`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    running: Option<bool>,
    /// With `wait_ms`, when the wait ran out: `"timeout"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_result: Option<&'static str>,
    /// With `wait_ms`, when it exited in time: the output answer.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = StartWaitedDoc)]
    waited: Option<ProcessOutputResponse>,
}

/// Documentation only: the fields of `GET /{id}/output?wait=true` that a
/// start with `wait_ms` carries when the process exited within the wait.
#[derive(ToSchema)]
#[schema(as = StartWaited)]
#[allow(dead_code)]
pub(crate) struct StartWaitedDoc {
    /// The output, as `GET /{id}/output` gives it: the head/tail view, or
    /// the agent view with `view: "agent"`.
    output: Option<String>,
    /// How the head/tail view cut the output, when it did.
    truncated: Option<TruncationDto>,
    /// The exit code.
    exit_code: Option<i32>,
    /// Always `false` once exited.
    awaiting_input: Option<bool>,
    #[schema(inline)]
    #[serde(flatten)]
    exit: ExitDto,
    /// With `view: "agent"`: how `output` was made.
    view: Option<ViewDto>,
}

impl StartProcessResponse {
    /// Adds what a `wait_ms` start waited for: the output answer when it
    /// exited in time, else `running: true`.
    pub(crate) fn with_wait(mut self, waited: Option<ProcessOutputResponse>) -> Self {
        match waited {
            Some(output) => {
                // `pid` is part of the output answer; keep one.
                self.pid = None;
                self.waited = Some(output);
            }
            None => {
                self.running = Some(true);
                self.wait_result = Some("timeout");
            }
        }
        self
    }
}

impl From<Started> for StartProcessResponse {
    fn from(started: Started) -> Self {
        Self {
            id: started.info.id.to_string(),
            started: !started.attached,
            attached: started.attached,
            isolation: started
                .info
                .isolation
                .as_ref()
                .map(crate::isolation::AppliedDto::from),
            client_token: started.info.client_token,
            pid: started.info.pid,
            started_at_unix: unix_seconds(started.info.started_at),
            running: None,
            wait_result: None,
            waited: None,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Resource usage at exit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Usage)]
pub(crate) struct UsageDto {
    /// CPU time in user mode.
    user_cpu_ms: u64,
    /// CPU time in the kernel.
    system_cpu_ms: u64,
    /// Peak resident memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_rss_bytes: Option<u64>,
    /// Forks refused by the `pids` limit (sandbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    forks_refused: Option<u64>,
    /// Time throttled by the `cpu_cores` limit (sandbox).
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
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = Exit)]
pub(crate) struct ExitDto {
    /// Why it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = exit_reason_schema)]
    exit_reason: Option<&'static str>,
    /// The signal that ended it, e.g. `SIGKILL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    /// Present and `true` when it dumped core.
    #[serde(skip_serializing_if = "is_false")]
    core_dumped: bool,
    /// Resources it used.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageDto>,
    /// From start to exit.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    /// Why it could not be started (`exit_reason: spawn_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn string_enum(values: impl IntoIterator<Item = &'static str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

fn exit_reason_schema() -> Object {
    string_enum(
        ExitReason::ALL.map(ExitReason::as_str),
        "Why it ended: exited (on its own), signaled (by a signal nobody asked agentproc to send), killed (after a signal request), deadline_exceeded, shutdown, spawn_failed, oom_killed.",
    )
}

fn wait_result_schema() -> Object {
    string_enum(
        WaitResult::ALL.map(WaitResult::as_str),
        "Why the wait returned.",
    )
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
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListProcessesResponse {
    /// Running processes first (oldest first), then exited ones (most
    /// recent first), up to the list limit.
    pub(crate) processes: Vec<ProcessInfoDto>,
}

/// One process in a list: Coder's `ProcessInfo` plus additive fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProcessInfo)]
pub(crate) struct ProcessInfoDto {
    /// The process id (a UUID).
    id: String,
    /// The command line as given.
    command: String,
    /// The working directory as given (absent for the default).
    #[serde(skip_serializing_if = "String::is_empty")]
    workdir: String,
    /// Whether it was started in the background.
    background: bool,
    /// Whether it is still running.
    running: bool,
    /// The exit code, once exited (-1 when a signal ended it).
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    /// When it started, in Unix seconds.
    started_at_unix: i64,
    /// When it exited, in Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    exited_at_unix: Option<i64>,
    /// The shell's process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// The client token of its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    /// The chat that started it (its `Coder-Chat-Id`), lower-case
    /// hyphenated.
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_id: Option<String>,
    /// Its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    /// The resource limits in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<LimitsDto>,
    /// Its terminal's current size, when it runs on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    tty: Option<TerminalSizeDto>,
    /// The isolation applied to it, when it is isolated.
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation: Option<crate::isolation::AppliedDto>,
    #[serde(flatten)]
    input: InputStateDto,
    #[serde(flatten)]
    exit: ExitDto,
}

/// Whether a process waits for input: the fields agentproc adds to info,
/// list items, output answers and screens.
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = InputState)]
pub(crate) struct InputStateDto {
    /// It has stopped and waits for input: no output for the settle time
    /// (500 ms) and blocked reading its terminal or standard input, as the
    /// kernel shows. Always `false` once it exited.
    awaiting_input: bool,
    /// What it waits for, while `awaiting_input`: `line` (a line, echoed),
    /// `password` (echo off), `raw` (keys one by one, e.g. a full-screen
    /// program) or `pipe` (its standard input pipe, no terminal).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = input_kind_schema)]
    input_kind: Option<&'static str>,
}

impl InputStateDto {
    pub(crate) fn of(info: &ProcessInfo) -> Self {
        Self {
            awaiting_input: info.awaiting_input.is_some(),
            input_kind: info.awaiting_input.map(agentproc_core::InputKind::as_str),
        }
    }
}

fn input_kind_schema() -> Object {
    string_enum(
        ["line", "password", "raw", "pipe"],
        "What the process waits for.",
    )
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
            chat_id: info.chat_id.map(|chat| chat.to_string()),
            timeout_ms: info.timeout.map(millis),
            limits: LimitsDto::of(info.limits),
            tty: info.terminal.map(TerminalSizeDto::from),
            isolation: info
                .isolation
                .as_ref()
                .map(crate::isolation::AppliedDto::from),
            input: InputStateDto::of(&info),
            exit: ExitDto::from(info.exit.as_ref()),
            client_token: info.client_token,
            command: info.command,
        }
    }
}

/// `GET /{id}/output` answer: Coder's fields plus additive ones.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProcessOutputResponse {
    /// The head/tail view: the first and last 16 KiB, with a marker for
    /// what was omitted and lines over 2048 bytes shortened.
    output: String,
    /// How the output was cut, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<TruncationDto>,
    /// Whether it is still running.
    running: bool,
    /// The exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    /// The shell's process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(flatten)]
    input: InputStateDto,
    #[serde(flatten)]
    exit: ExitDto,
    /// After a wait: why it returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = wait_result_schema)]
    pub(crate) wait_result: Option<&'static str>,
    /// With `view=agent`: how `output` was made (then it is the agent view,
    /// not the head/tail view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) view: Option<ViewDto>,
}

impl ProcessOutputResponse {
    /// The answer with the agent view as its output.
    pub(crate) fn agent(
        info: &ProcessInfo,
        computed: crate::agent_view::Computed,
        wait_result: Option<&'static str>,
    ) -> Self {
        let (text, view) = ViewDto::split(computed);
        Self {
            output: text,
            truncated: None,
            running: info.running(),
            exit_code: info.exit_code(),
            pid: info.pid,
            input: InputStateDto::of(info),
            exit: ExitDto::from(info.exit.as_ref()),
            wait_result,
            view: Some(view),
        }
    }

    /// Applies view hygiene to the output text.
    pub(crate) fn clean(&mut self, hygiene: agentproc_core::text::Hygiene) {
        if hygiene != agentproc_core::text::Hygiene::default() {
            self.output = hygiene.apply(std::mem::take(&mut self.output));
        }
    }
}

/// A cursor read: a piece of the full log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OutputChunk)]
pub(crate) struct ChunkResponse {
    /// The bytes from `cursor` to `next_cursor`, as text.
    output: String,
    /// Where this piece starts (after any gap).
    cursor: u64,
    /// Where the next read starts.
    next_cursor: u64,
    /// Bytes before `cursor` that were requested but are gone (dropped by
    /// the log cap).
    gap_bytes: u64,
    /// The process has exited and everything it wrote has been read.
    eof: bool,
    /// Whether it is still running.
    running: bool,
    /// The exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    /// The shell's process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// Absent in stream events (they are about output).
    #[serde(flatten)]
    input: Option<InputStateDto>,
    #[serde(flatten)]
    exit: ExitDto,
    /// After a wait: why it returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = wait_result_schema)]
    wait_result: Option<&'static str>,
    /// With `view=agent`: how `output` was made (then it is the agent view
    /// of the bytes from `cursor` to `next_cursor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    view: Option<ViewDto>,
}

impl ChunkResponse {
    pub(crate) fn from_chunk(
        chunk: agentproc_core::manager::OutputChunk,
        clean: impl FnOnce(String) -> String,
        wait_result: Option<&'static str>,
        with_input: bool,
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
            input: with_input.then(|| InputStateDto::of(&chunk.info)),
            exit: ExitDto::from(chunk.info.exit.as_ref()),
            wait_result,
            view: None,
        }
    }

    /// A cursor read answered with the agent view of everything from the
    /// cursor on.
    pub(crate) fn agent(
        info: &ProcessInfo,
        computed: crate::agent_view::Computed,
        wait_result: Option<&'static str>,
    ) -> Self {
        let (start, end, skipped) = (computed.start, computed.end, computed.skipped);
        let (text, view) = ViewDto::split(computed);
        Self {
            output: text,
            cursor: start,
            next_cursor: end,
            gap_bytes: skipped,
            // The state was read before the log: an exited process's log
            // was complete, and the scan read it to its end.
            eof: !info.running(),
            running: info.running(),
            exit_code: info.exit_code(),
            pid: info.pid,
            input: Some(InputStateDto::of(info)),
            exit: ExitDto::from(info.exit.as_ref()),
            wait_result,
            view: Some(view),
        }
    }

    /// The `data:` of an SSE `output` event.
    pub(crate) fn into_event_data(self) -> String {
        crate::json::to_line(&self)
    }
}

/// The `data:` of an SSE `exit` event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ExitEvent)]
pub(crate) struct ExitEventDto {
    /// Always `false`.
    running: bool,
    /// The exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    /// When it exited, in Unix seconds.
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Line)]
pub(crate) struct LineDto {
    /// The line number (1-based, counted over the whole output).
    line: u64,
    /// The line, without its newline, at most 2048 bytes shown.
    text: String,
}

impl LineDto {
    pub(crate) fn new(line: u64, text: String) -> Self {
        Self { line, text }
    }
}

/// One search match.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Match)]
pub(crate) struct MatchDto {
    /// The line number of the match.
    pub(crate) line: u64,
    /// The byte offset where the line starts (a cursor).
    pub(crate) offset: u64,
    /// The matching line.
    pub(crate) text: String,
    /// Context lines before it.
    pub(crate) before: Vec<LineDto>,
    /// Context lines after it.
    pub(crate) after: Vec<LineDto>,
}

/// `GET /{id}/search` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchResult)]
pub(crate) struct SearchResponse {
    /// The matches, in order.
    pub(crate) matches: Vec<MatchDto>,
    /// More matches exist beyond `max_matches` (or the answer's size cap).
    pub(crate) limit_hit: bool,
    /// The first byte offset still in the log (earlier output was dropped
    /// by the log cap).
    pub(crate) first_offset: u64,
    /// How many bytes were searched.
    pub(crate) scanned_bytes: u64,
}

/// `GET /{id}/lines` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LineRange)]
pub(crate) struct LinesResponse {
    /// The lines of the range that are still in the log.
    pub(crate) lines: Vec<LineDto>,
    /// Lines written so far (a last line without a newline counts).
    pub(crate) total_lines: u64,
    /// The first line still in the log.
    pub(crate) first_line: u64,
    /// The answer stopped early at its size cap.
    pub(crate) truncated: bool,
}

/// `POST /{id}/stdin` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StdinWritten)]
pub(crate) struct StdinResponse {
    /// Bytes written.
    pub(crate) written: usize,
    /// Standard input was closed after them.
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
            input: InputStateDto::of(&snapshot.info),
            exit: ExitDto::from(snapshot.info.exit.as_ref()),
            wait_result: None,
            view: None,
        }
    }
}

/// How the agent view's `output` was made.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OutputView)]
pub(crate) struct ViewDto {
    /// Always `agent`.
    #[schema(value_type = String, example = "agent")]
    strategy: &'static str,
    /// Tokens in `output` (counted as one string with `tokenizer`); never
    /// more than `max_tokens`.
    tokens: usize,
    /// The budget asked for.
    max_tokens: usize,
    /// The tokenizer that counted: `o200k_base` (OpenAI's; other models'
    /// counts differ somewhat).
    tokenizer: String,
    /// `log` (the full log on disk) or `buffer` (only the head/tail buffer:
    /// full logs are off, or this process's log could not be created).
    #[schema(value_type = String, example = "log")]
    source: &'static str,
    /// Bytes the view describes.
    source_bytes: u64,
    /// Lines the view describes (a last line without a newline counts).
    source_lines: u64,
    /// Lines of the source not in `output`.
    omitted_lines: u64,
    /// Bytes of the source not in `output`.
    omitted_bytes: u64,
    /// Whether line numbers are absolute. `false` only for `source:
    /// buffer` with a dropped middle: the buffer does not count the lines
    /// it drops, so later line numbers count from the end of the head.
    exact_line_numbers: bool,
    /// Every stretch of the source left out, folded or cut, in order.
    spans: Vec<SpanDto>,
}

/// A stretch of the source the agent view does not show in full.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OutputViewSpan)]
pub(crate) struct SpanDto {
    /// First line (absolute, 1-based).
    start_line: u64,
    /// Last line, inclusive (`start_line - 1` for bytes whose lines are
    /// unknown).
    end_line: u64,
    /// `omitted` (left out; fetch them with `GET /{id}/lines`), `repeated`
    /// (similar lines folded after the first of their run), `progress`
    /// (progress and status lines folded), `cut` (the end of a long line
    /// that is shown in part), or `lost` (bytes no longer in the log).
    #[schema(value_type = String, example = "omitted")]
    kind: &'static str,
    /// Lines left out (0 for `cut`).
    lines: u64,
    /// Bytes left out.
    bytes: u64,
}

impl ViewDto {
    /// The view's text and its description.
    fn split(computed: crate::agent_view::Computed) -> (String, Self) {
        use agentproc_view::SpanKind;
        let view = computed.view;
        let spans = view
            .spans
            .iter()
            .map(|span| SpanDto {
                start_line: span.start_line,
                end_line: span.end_line,
                kind: match span.kind {
                    SpanKind::Omitted => "omitted",
                    SpanKind::Repeated => "repeated",
                    SpanKind::Progress => "progress",
                    SpanKind::Cut => "cut",
                    SpanKind::Lost => "lost",
                },
                lines: span.lines,
                bytes: span.bytes,
            })
            .collect();
        (
            view.text,
            Self {
                strategy: "agent",
                tokens: view.tokens,
                max_tokens: view.max_tokens,
                tokenizer: view.tokenizer,
                source: computed.source.as_str(),
                source_bytes: view.source_bytes,
                source_lines: view.source_lines,
                omitted_lines: view.omitted_lines,
                omitted_bytes: view.omitted_bytes,
                exact_line_numbers: computed.exact_lines,
                spans,
            },
        )
    }
}

/// How the output was cut.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProcessTruncation)]
pub(crate) struct TruncationDto {
    /// Bytes the process wrote.
    original_bytes: u64,
    /// Length of `output`, marker included.
    retained_bytes: u64,
    /// Bytes between the head and the tail that are not shown.
    omitted_bytes: u64,
    /// Always `head_tail`.
    #[schema(value_type = String, example = "head_tail")]
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
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct SignalProcessRequest {
    /// `kill` (SIGKILL), `terminate` (SIGTERM), `interrupt` (SIGINT) or
    /// `hangup` (SIGHUP), sent to the whole process group.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(required = true, schema_with = signal_schema)]
    pub(crate) signal: String,
    /// For signals other than `kill`: send SIGKILL if the process is still
    /// running this many milliseconds later.
    #[serde(default)]
    pub(crate) grace_ms: Option<u64>,
}

fn signal_schema() -> Object {
    string_enum(
        ["kill", "terminate", "interrupt", "hangup"],
        "The signal to send to the whole process group.",
    )
}

impl SignalProcessRequest {
    pub(crate) const FIELDS: &'static [&'static str] = &["signal", "grace_ms"];
}

/// `GET /tokens/{token}` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TokenStatus)]
pub(crate) struct TokenStatusResponse {
    /// A start with this token is known (in this chat).
    found: bool,
    /// Present and `true` while that start is still spawning.
    #[serde(skip_serializing_if = "is_false")]
    pending: bool,
    /// The process it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    process_id: Option<String>,
    /// How long the token index has existed (a restart empties it).
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
