//! The wire form of isolation policies: `isolation` on a start (`"workspace"`
//! or `{"network", "write", "read", "deny"}`), and the applied policy in
//! start answers, process info and `/healthz`.

use std::path::PathBuf;

use agentproc_core::exec::{
    AppliedIsolation, Isolation, IsolationRequest, NetworkAccess, ReadAccess,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The shape of `isolation`, for messages.
const SHAPE: &str = "isolation must be \"workspace\" or an object with \"network\" (\"none\", \"loopback\" or \"host\"), \"write\" (a list of paths), \"read\" (\"all\" or a list of paths) and \"deny\" (a list of paths).";

/// Reads an isolation policy as a start's `isolation` (or the binary's
/// `isolation_default`) gives it: `"workspace"` or `{"network", "write",
/// "read", "deny"}`; `Ok(None)` when absent or `null`.
///
/// # Errors
/// A sentence naming the field that is wrong.
pub fn parse(value: Option<&Value>) -> Result<Option<IsolationRequest>, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text == "workspace" => {
            return Ok(Some(IsolationRequest::Workspace));
        }
        Some(Value::Object(object)) => object,
        Some(_) => return Err(SHAPE.to_owned()),
    };
    if let Some(key) = object
        .keys()
        .find(|key| !["network", "write", "read", "deny"].contains(&key.as_str()))
    {
        return Err(format!("{SHAPE} Unknown key {key:?}."));
    }
    let network = match object.get("network") {
        None | Some(Value::Null) => NetworkAccess::None,
        Some(Value::String(text)) => match text.as_str() {
            "none" => NetworkAccess::None,
            "loopback" => NetworkAccess::Loopback,
            "host" => NetworkAccess::Host,
            _ => return Err(network_error()),
        },
        Some(_) => return Err(network_error()),
    };
    let read = match object.get("read") {
        None | Some(Value::Null) => ReadAccess::All,
        Some(Value::String(text)) if text == "all" => ReadAccess::All,
        Some(value @ Value::Array(_)) => ReadAccess::Only(paths("read", Some(value))?),
        Some(_) => {
            return Err("isolation.read must be \"all\" or a list of paths.".to_owned());
        }
    };
    Ok(Some(IsolationRequest::Policy(Isolation {
        network,
        write: paths("write", object.get("write"))?,
        read,
        deny: paths("deny", object.get("deny"))?,
    })))
}

fn network_error() -> String {
    "isolation.network must be \"none\", \"loopback\" or \"host\".".to_owned()
}

fn paths(field: &str, value: Option<&Value>) -> Result<Vec<PathBuf>, String> {
    let invalid =
        || format!("isolation.{field} must be a list of non-empty paths without NUL bytes.");
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(path) if !path.is_empty() && !path.contains('\0') => {
                    Ok(PathBuf::from(path))
                }
                _ => Err(invalid()),
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `isolation` of a start: `"workspace"`, or a policy.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(as = IsolationRequest)]
pub(crate) enum IsolationRequestDoc {
    /// `"workspace"`: network `none`, write the workdir and a private
    /// `/tmp`, read all, deny the usual secret locations.
    #[schema(example = "workspace")]
    Workspace(String),
    /// An explicit policy.
    Policy(PolicyDto),
}

/// An isolation policy, paths absolute once applied.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IsolationPolicy)]
pub(crate) struct PolicyDto {
    /// `none` (no network at all), `loopback` (a private loopback only) or
    /// `host`.
    #[schema(value_type = String, example = "none")]
    network: &'static str,
    /// Writable roots (a private `/tmp` is always writable too).
    write: Vec<String>,
    /// `"all"`, or the readable roots.
    #[schema(value_type = Object)]
    read: Value,
    /// Paths neither readable nor writable.
    deny: Vec<String>,
}

impl From<&Isolation> for PolicyDto {
    fn from(policy: &Isolation) -> Self {
        let text = |paths: &[PathBuf]| {
            paths
                .iter()
                .map(|path| path.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        Self {
            network: policy.network.as_str(),
            write: text(&policy.write),
            read: match &policy.read {
                ReadAccess::All => Value::String("all".to_owned()),
                ReadAccess::Only(paths) => Value::from(text(paths)),
            },
            deny: text(&policy.deny),
        }
    }
}

/// The isolation applied to a process.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AppliedIsolation)]
pub(crate) struct AppliedDto {
    /// What enforces it: `bubblewrap`, `user-namespace`,
    /// `mount-namespace`, `pid-namespace`, `ipc-namespace`,
    /// `network-namespace`, `seccomp`, `no_new_privs`, `no-capabilities`.
    mechanisms: Vec<&'static str>,
    #[serde(flatten)]
    policy: PolicyDto,
}

impl From<&AppliedIsolation> for AppliedDto {
    fn from(applied: &AppliedIsolation) -> Self {
        Self {
            mechanisms: applied.mechanisms.clone(),
            policy: PolicyDto::from(&applied.policy),
        }
    }
}

/// A policy as the operator configured it: `"workspace"` or a policy
/// (paths as configured).
pub(crate) fn request_value(request: &IsolationRequest) -> Value {
    match request {
        IsolationRequest::Workspace => Value::String("workspace".to_owned()),
        IsolationRequest::Policy(policy) => {
            serde_json::to_value(PolicyDto::from(policy)).unwrap_or(Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_name_the_field() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some(&Value::Null)), Ok(None));
        assert_eq!(
            parse(Some(&serde_json::json!("workspace"))),
            Ok(Some(IsolationRequest::Workspace))
        );
        let policy = parse(Some(&serde_json::json!({
            "network": "loopback", "write": ["."], "read": ["/srv"], "deny": ["~/.ssh"]
        })))
        .expect("valid");
        assert_eq!(
            policy,
            Some(IsolationRequest::Policy(Isolation {
                network: NetworkAccess::Loopback,
                write: vec![PathBuf::from(".")],
                read: ReadAccess::Only(vec![PathBuf::from("/srv")]),
                deny: vec![PathBuf::from("~/.ssh")],
            }))
        );
        for (value, message) in [
            (serde_json::json!("locked"), "isolation must be"),
            (
                serde_json::json!({"network": "wifi"}),
                "isolation.network must be",
            ),
            (
                serde_json::json!({"write": "/tmp"}),
                "isolation.write must be",
            ),
            (
                serde_json::json!({"write": [""]}),
                "isolation.write must be",
            ),
            (
                serde_json::json!({"read": "some"}),
                "isolation.read must be",
            ),
            (serde_json::json!({"deny": [1]}), "isolation.deny must be"),
            (
                serde_json::json!({"netwrok": "none"}),
                "Unknown key \"netwrok\"",
            ),
        ] {
            let error = parse(Some(&value)).expect_err("invalid");
            assert!(error.contains(message), "{value}: {error}");
        }
    }
}
