//! The client-token index: exactly-once starts.
//!
//! A start with a token reserves it (keyed by chat and token) before
//! spawning. A concurrent start with the same key and parameters waits for
//! the owner and attaches to its process; different parameters are refused.
//! The binding lasts until the process is reaped, and is released if the
//! owner spawns nothing (closed, limits, or its caller went away).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use super::{Decision, Inner, Registry, StartError};
use crate::process::{ProcessId, StartRequest};

/// Tokens are scoped per chat: the same token in two chats names two starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    pub(super) chat: Option<Uuid>,
    pub(super) token: String,
}

impl TokenKey {
    /// The key of a start, if it has a (non-empty) token.
    pub(super) fn of(request: &StartRequest) -> Option<Self> {
        let token = request.client_token.as_deref().filter(|t| !t.is_empty())?;
        Some(Self {
            chat: request.chat.as_ref().map(|chat| chat.chat_id),
            token: token.to_owned(),
        })
    }
}

/// The parameters a repeated start must match to attach. The workdir is the
/// requested one, not the resolved one, so a retry attaches even if the
/// default directory resolves differently now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    command: String,
    workdir: Option<String>,
    env: BTreeMap<String, String>,
    background: bool,
}

impl Fingerprint {
    pub(super) fn of(request: &StartRequest) -> Self {
        Self {
            command: request.command.clone(),
            workdir: request.workdir.clone().filter(|dir| !dir.is_empty()),
            env: request.env.clone(),
            background: request.background,
        }
    }
}

pub(super) enum TokenEntry {
    /// A start owns the token and is spawning; `done` closes when it is
    /// done (bound or released).
    Pending {
        fingerprint: Fingerprint,
        done: watch::Receiver<()>,
    },
    /// The token started this process.
    Bound {
        id: ProcessId,
        fingerprint: Fingerprint,
    },
}

/// What the token index knows about a token (see
/// [`Manager::token_status`](super::Manager::token_status)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStatus {
    /// A process started with this token is known.
    pub found: bool,
    /// A start with this token is in progress.
    pub pending: bool,
    /// The process, when found.
    pub process_id: Option<ProcessId>,
    /// How long the index has existed (since the manager was created). It
    /// does not survive a restart, so absence is trustworthy only for claims
    /// younger than this.
    pub index_age: Duration,
}

/// A start's ownership of a pending token. Dropping it without
/// [`PendingToken::bind`] releases the token and wakes the waiters.
pub(super) struct PendingToken {
    inner: Arc<Inner>,
    key: TokenKey,
    /// Dropping it closes the waiters' receivers.
    _done: watch::Sender<()>,
    bound: bool,
}

impl PendingToken {
    /// Binds the token to the process the owner registered.
    pub(super) fn bind(mut self, registry: &mut Registry, id: ProcessId) {
        if let Some(entry) = registry.tokens.get_mut(&self.key) {
            let fingerprint = match entry {
                TokenEntry::Pending { fingerprint, .. } | TokenEntry::Bound { fingerprint, .. } => {
                    fingerprint.clone()
                }
            };
            *entry = TokenEntry::Bound { id, fingerprint };
        }
        self.bound = true;
    }
}

impl Drop for PendingToken {
    fn drop(&mut self) {
        if self.bound {
            return;
        }
        let mut registry = self.inner.registry();
        if matches!(
            registry.tokens.get(&self.key),
            Some(TokenEntry::Pending { .. })
        ) {
            registry.tokens.remove(&self.key);
        }
    }
}

/// What a start with `key` and `fingerprint` must do now.
pub(super) fn decide(
    inner: &Arc<Inner>,
    registry: &mut Registry,
    key: &TokenKey,
    fingerprint: &Fingerprint,
) -> Result<Decision, StartError> {
    match registry.tokens.get(key) {
        Some(
            TokenEntry::Bound {
                fingerprint: used, ..
            }
            | TokenEntry::Pending {
                fingerprint: used, ..
            },
        ) if used != fingerprint => Err(StartError::TokenMismatch),
        Some(TokenEntry::Bound { id, .. }) => match registry.processes.get(id) {
            Some(process) => Ok(Decision::Attach(Box::new(process.info()))),
            // Reaping unbinds tokens, so this is unreachable; recover by
            // starting afresh.
            None => {
                registry.tokens.remove(key);
                Ok(Decision::Own(reserve(inner, registry, key, fingerprint)))
            }
        },
        Some(TokenEntry::Pending { done, .. }) => Ok(Decision::Wait(done.clone())),
        None => Ok(Decision::Own(reserve(inner, registry, key, fingerprint))),
    }
}

fn reserve(
    inner: &Arc<Inner>,
    registry: &mut Registry,
    key: &TokenKey,
    fingerprint: &Fingerprint,
) -> PendingToken {
    let (done, waiters) = watch::channel(());
    registry.tokens.insert(
        key.clone(),
        TokenEntry::Pending {
            fingerprint: fingerprint.clone(),
            done: waiters,
        },
    );
    PendingToken {
        inner: Arc::clone(inner),
        key: key.clone(),
        _done: done,
        bound: false,
    }
}

/// Forgets the binding of `token` (in `chat`) to `id`, when a process is
/// reaped.
pub(super) fn unbind(registry: &mut Registry, chat: Option<Uuid>, token: &str, id: ProcessId) {
    let key = TokenKey {
        chat,
        token: token.to_owned(),
    };
    if matches!(registry.tokens.get(&key), Some(TokenEntry::Bound { id: bound, .. }) if *bound == id)
    {
        registry.tokens.remove(&key);
    }
}
