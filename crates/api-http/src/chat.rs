//! The chat context of a request, from Coder's headers.
//!
//! `Coder-Chat-Id` must parse as a UUID; when it is missing or not a UUID the
//! request has no chat context and none of the isolation rules apply.
//! `Coder-Ancestor-Chat-Ids` is a JSON array of UUID strings; entries that do
//! not parse are skipped.

use std::convert::Infallible;

use agentproc_core::ChatContext;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use uuid::Uuid;

/// The header naming the chat a request acts for.
pub const CHAT_ID_HEADER: &str = "Coder-Chat-Id";
/// The header listing the chat's ancestors.
pub const ANCESTOR_CHAT_IDS_HEADER: &str = "Coder-Ancestor-Chat-Ids";

/// The request's chat context, if it has one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chat(pub(crate) Option<ChatContext>);

impl Chat {
    /// The chat id, for the manager's visibility checks.
    pub(crate) fn id(&self) -> Option<Uuid> {
        self.0.as_ref().map(|chat| chat.chat_id)
    }
}

/// The chat id of a request, if its header holds a UUID.
pub(crate) fn chat_id(headers: &HeaderMap) -> Option<Uuid> {
    let value = headers.get(CHAT_ID_HEADER)?.to_str().ok()?;
    Uuid::try_parse(value.trim()).ok()
}

fn ancestors(headers: &HeaderMap) -> Vec<Uuid> {
    let Some(raw) = headers.get(ANCESTOR_CHAT_IDS_HEADER) else {
        return Vec::new();
    };
    let Ok(entries) = serde_json::from_slice::<Vec<serde_json::Value>>(raw.as_bytes()) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| entry.as_str().and_then(|s| Uuid::try_parse(s).ok()))
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for Chat {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(chat_id(&parts.headers).map(|chat_id| ChatContext {
            chat_id,
            ancestors: ancestors(&parts.headers),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn only_uuids_give_a_chat_context() {
        let id = Uuid::new_v4();
        assert_eq!(
            chat_id(&headers(&[(CHAT_ID_HEADER, &id.to_string())])),
            Some(id)
        );
        let upper = id.to_string().to_uppercase();
        assert_eq!(chat_id(&headers(&[(CHAT_ID_HEADER, &upper)])), Some(id));
        assert_eq!(chat_id(&headers(&[(CHAT_ID_HEADER, "not-a-uuid")])), None);
        assert_eq!(chat_id(&headers(&[(CHAT_ID_HEADER, "")])), None);
        assert_eq!(chat_id(&HeaderMap::new()), None);
    }

    #[test]
    fn bad_ancestor_entries_are_skipped() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let value = format!(r#"["{a}", "junk", 5, "{b}"]"#);
        assert_eq!(
            ancestors(&headers(&[(ANCESTOR_CHAT_IDS_HEADER, &value)])),
            vec![a, b]
        );
        assert!(ancestors(&headers(&[(ANCESTOR_CHAT_IDS_HEADER, "{not json")])).is_empty());
    }
}
