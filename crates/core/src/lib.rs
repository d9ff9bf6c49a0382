//! `agentproc-core`: the vocabulary of agentproc.
//!
//! This crate owns the process [`Manager`] (start, get, list,
//! signal, wait, close), the sans-IO [`HeadTailBuffer`]
//! that bounds each process's output, and the two seams everything else plugs
//! into: [`Execer`] (how processes are spawned) and
//! [`Clock`] (what time it is, and sleeping).
//!
//! What it deliberately does not do:
//! - spawn or signal OS processes itself (that is `agentproc-exec-local` and
//!   `agentproc-exec-sandbox`, behind [`Execer`]);
//! - know about HTTP or JSON (that is `agentproc-api-http`; nothing here is
//!   `Serialize`);
//! - read configuration or CLI flags (that is the `agentproc` binary, which
//!   passes plain values in). The one thing it reads from its environment
//!   is what [`ManagerConfig::default`] starts from: the process's own
//!   variables (see [`manager::inherited_env`]) and `$HOME`, so a manager
//!   built with defaults behaves like the binary's;
//! - read the real clock directly: all time comes from the injected
//!   [`Clock`].
//!
//! With the `test-support` feature it also exports the `testing` module
//! (documented when that feature is on): a `ManualClock`, a scripted
//! `FakeExecer`, and mockall mocks of the traits with `mock_execer` giving
//! harmless lifecycle defaults. Add it as a dev-dependency:
//! `agentproc-core = { version = "0.1", features = ["test-support"] }`.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Re-exported: implementing [`ExecChild`] needs it.
pub use async_trait::async_trait;
/// Re-exported: chat ids and process ids are UUIDs.
pub use uuid::Uuid;

pub mod buffer;
pub mod clock;
pub mod exec;
pub mod log;
pub mod manager;
pub mod process;
/// Pseudo-terminals without the OS: key names to bytes, and the rendered screen.
pub mod terminal;
pub mod text;

#[cfg(any(test, feature = "test-support"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod testing;

pub use buffer::{HeadTailBuffer, Truncation};
pub use clock::{Clock, SystemClock};
pub use exec::{
    ExecChild, ExecSpec, Execer, ExecutorReport, ExitStatus, ResourceLimits, Signal, TerminalModes,
    TerminalSize,
};
pub use manager::{Manager, ManagerConfig, TokenStatus};
pub use process::{
    ChatContext, ExitInfo, ExitReason, InputKind, OutputSnapshot, ProcessId, ProcessInfo,
    StartRequest, Started,
};
