//! [`Embedded`]: the [`Backend`] over a [`Manager`] in this process (what
//! `agentproc mcp` runs by default, and what `/mcp` of `agentproc serve`
//! uses, sharing the HTTP API's manager).

use agentproc_core::log::{SearchOptions, compile_pattern};
use agentproc_core::manager::{
    InputError, OutputError, SignalProcessError, StartError, TerminalError, Until,
};
use agentproc_core::{ExitInfo, Manager, ProcessId, ProcessInfo, Signal, StartRequest};
use agentproc_view::manager::{ManagerView, agent_view_of};

use crate::backend::{
    Backend, BackendError, Caller, ExitState, Hit, InputSpec, NumberedLine, ProcessState,
    ProcessSummary, ReadSpec, ScreenState, SearchHits, SearchSpec, StartSpec, Started, ViewRead,
    ViewStats, WaitFor,
};

/// The backend of a process manager in this process.
#[derive(Debug, Clone)]
pub struct Embedded {
    manager: Manager,
}

impl Embedded {
    /// Tools acting on `manager`'s processes.
    pub fn new(manager: Manager) -> Self {
        Self { manager }
    }

    /// The manager.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The agent view from `cursor`; without a full log, of everything in
    /// the head/tail buffer.
    async fn view(
        &self,
        id: ProcessId,
        caller: &Caller,
        cursor: u64,
        max_tokens: usize,
    ) -> Result<ManagerView, OutputError> {
        let requester = caller.chat_id();
        match agent_view_of(&self.manager, id, requester, Some(cursor), max_tokens, None).await {
            Err(OutputError::LogsDisabled | OutputError::LogMissing) => {
                agent_view_of(&self.manager, id, requester, None, max_tokens, None).await
            }
            other => other,
        }
    }
}

/// The state the tools show of `info`.
pub(crate) fn state_of(info: &ProcessInfo) -> ProcessState {
    ProcessState {
        id: info.id,
        pid: info.pid,
        exit: info.exit.as_ref().map(exit_of),
        awaiting_input: info.awaiting_input,
    }
}

fn exit_of(exit: &ExitInfo) -> ExitState {
    ExitState {
        code: exit.code,
        reason: Some(exit.reason),
        signal: exit
            .signal
            .map(|number| match agentproc_core::exec::signal_name(number) {
                Some(name) => name.to_owned(),
                None => format!("signal {number}"),
            }),
        duration: Some(exit.duration),
        error: exit.error.clone(),
    }
}

fn not_found(id: ProcessId) -> BackendError {
    BackendError::NotFound { id: id.to_string() }
}

fn output_error(id: ProcessId, error: OutputError) -> BackendError {
    match error {
        OutputError::NotFound => not_found(id),
        OutputError::LogsDisabled => BackendError::Refused {
            message: "Full output logs are turned off on this agentproc (output_max_bytes_per_process = 0), so its output cannot be searched or matched.".to_owned(),
        },
        error @ (OutputError::LogMissing | OutputError::Io(_)) => BackendError::Failed {
            message: format!("Reading the output log failed: {error}."),
        },
    }
}

fn start_error(error: StartError) -> BackendError {
    match error {
        error @ (StartError::Closed | StartError::Spawn(_)) => BackendError::Failed {
            message: format!("Could not start the command: {error}."),
        },
        error => BackendError::Refused {
            message: format!("The start was refused: {error}."),
        },
    }
}

#[async_trait::async_trait]
impl Backend for Embedded {
    async fn start(&self, caller: &Caller, spec: StartSpec) -> Result<Started, BackendError> {
        let request = StartRequest {
            command: spec.command,
            workdir: spec.workdir,
            env: spec.env,
            background: spec.background,
            chat: caller.chat.clone(),
            client_token: spec.client_token,
            timeout: spec.timeout,
            stdin: spec.stdin,
            terminal: spec.tty,
            // The executor's defaults: limits, isolation, …
            ..StartRequest::default()
        };
        let started = self.manager.start(request).await.map_err(start_error)?;
        Ok(Started {
            id: started.info.id,
            attached: started.attached,
        })
    }

    async fn read(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: ReadSpec,
    ) -> Result<ViewRead, BackendError> {
        let requester = caller.chat_id();
        let (info, wait_result) = match spec.wait {
            Some(wait) => {
                let until = match wait.until {
                    WaitFor::Exit => Until::Exit,
                    WaitFor::Output { after } => Until::Output { after: Some(after) },
                    WaitFor::Match { pattern, from } => Until::Match {
                        pattern: compile_pattern(&pattern, false).map_err(|error| {
                            BackendError::Refused {
                                message: format!("Invalid pattern: {error}"),
                            }
                        })?,
                        from,
                    },
                    WaitFor::Idle { quiet } => Until::Idle { quiet },
                    WaitFor::Input { settle } => Until::Input { settle },
                };
                let outcome = self
                    .manager
                    .wait_until(id, requester, until, wait.timeout, None)
                    .await
                    .map_err(|error| output_error(id, error))?;
                (outcome.snapshot.info, Some(outcome.result))
            }
            None => (
                self.manager
                    .info(id, requester)
                    .map_err(|_| not_found(id))?,
                None,
            ),
        };
        let computed = self
            .view(id, caller, spec.cursor, spec.max_tokens)
            .await
            .map_err(|error| output_error(id, error))?;
        let view = computed.view;
        Ok(ViewRead {
            state: state_of(&info),
            wait_result,
            text: view.text,
            cursor: computed.start,
            next_cursor: computed.end,
            gap_bytes: computed.skipped,
            stats: ViewStats {
                tokens: view.tokens,
                source: computed.source.as_str().to_owned(),
                source_lines: view.source_lines,
                source_bytes: view.source_bytes,
                omitted_lines: view.omitted_lines,
                omitted_bytes: view.omitted_bytes,
            },
        })
    }

    async fn input(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: InputSpec,
    ) -> Result<usize, BackendError> {
        let input = agentproc_core::manager::Input {
            text: spec.text.into_bytes(),
            keys: spec.keys,
            eof: spec.eof,
        };
        let name = || id.to_string();
        self.manager
            .send_input(id, caller.chat_id(), input)
            .await
            .map_err(|error| match error {
                InputError::NotFound => not_found(id),
                InputError::NotRunning => BackendError::NotRunning { id: name() },
                InputError::Closed => BackendError::TakesNoInput { id: name() },
                InputError::KeysNeedTerminal => BackendError::KeysNeedTerminal { id: name() },
                InputError::UnknownKey(unknown) => BackendError::UnknownKey { key: unknown.name },
                InputError::Timeout { written } => BackendError::InputTimeout {
                    id: name(),
                    written,
                },
                error @ InputError::Io(_) => BackendError::Failed {
                    message: format!("Writing the input failed: {error}."),
                },
            })
    }

    async fn signal(
        &self,
        caller: &Caller,
        id: ProcessId,
        signal: Signal,
    ) -> Result<(), BackendError> {
        self.manager
            .signal(id, caller.chat_id(), signal, None)
            .map_err(|error| match error {
                SignalProcessError::NotFound => not_found(id),
                SignalProcessError::NotRunning => BackendError::NotRunning { id: id.to_string() },
                error @ SignalProcessError::Os { .. } => BackendError::Failed {
                    message: format!("The signal could not be delivered: {error}."),
                },
            })
    }

    async fn list(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<ProcessSummary>, BackendError> {
        Ok(self
            .manager
            .list(caller.chat_id(), limit)
            .into_iter()
            .map(|info| ProcessSummary {
                state: state_of(&info),
                background: info.background,
                started_at_unix: agentproc_core::clock::unix_seconds(info.started_at),
                tty: info.terminal,
                command: info.command,
            })
            .collect())
    }

    async fn search(
        &self,
        caller: &Caller,
        id: ProcessId,
        spec: SearchSpec,
    ) -> Result<SearchHits, BackendError> {
        let pattern =
            compile_pattern(&spec.pattern, false).map_err(|error| BackendError::Refused {
                message: format!("Invalid pattern: {error}"),
            })?;
        let options = SearchOptions {
            pattern,
            context: spec.context,
            max_matches: spec.max_matches,
        };
        let result = self
            .manager
            .search(id, caller.chat_id(), options)
            .await
            .map_err(|error| output_error(id, error))?;
        let numbered = |(line, text): &(u64, Vec<u8>)| NumberedLine {
            line: *line,
            text: String::from_utf8_lossy(text).into_owned(),
        };
        Ok(SearchHits {
            matches: result
                .matches
                .iter()
                .map(|found| Hit {
                    line: NumberedLine {
                        line: found.line,
                        text: String::from_utf8_lossy(&found.text).into_owned(),
                    },
                    before: found.before.iter().map(numbered).collect(),
                    after: found.after.iter().map(numbered).collect(),
                })
                .collect(),
            limit_hit: result.limit_hit,
        })
    }

    async fn screen(&self, caller: &Caller, id: ProcessId) -> Result<ScreenState, BackendError> {
        let (screen, info) = self
            .manager
            .screen(id, caller.chat_id(), 0)
            .map_err(|error| match error {
                TerminalError::NotFound => not_found(id),
                TerminalError::NoTerminal => BackendError::NoTerminal { id: id.to_string() },
                TerminalError::NotRunning => BackendError::NotRunning { id: id.to_string() },
                error @ TerminalError::Io(_) => BackendError::Failed {
                    message: format!("The terminal refused: {error}."),
                },
            })?;
        Ok(ScreenState {
            state: state_of(&info),
            rows: screen.rows,
            cols: screen.cols,
            cursor_row: screen.cursor.row,
            cursor_col: screen.cursor.col,
            cursor_visible: screen.cursor.visible,
            title: screen.title,
            alternate_screen: screen.alternate_screen,
            lines: screen.lines,
        })
    }
}
