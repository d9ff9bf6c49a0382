//! Extracting request parts the way Coder's server reads them: raw path
//! segments (percent-decoded to bytes), Go-style query values, and bodies
//! with the JSON envelope on failure.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::http::request::Parts;

use agentproc_core::ProcessId;

use crate::ApiState;
use crate::error::ApiError;

/// The body, or the envelope saying why it could not be read.
pub(crate) fn read_body(
    state: &ApiState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if caused_by::<crate::middleware::BodyTimedOut>(&rejection) {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "Request body was not received in time.",
            )
            .with_detail(format!(
                "the limit is {} ms",
                state.config.request_read_timeout.as_millis()
            ))
        } else if status == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large(state.config.max_body_bytes)
        } else {
            ApiError::new(status, "Request body could not be read.")
                .with_detail(rejection.body_text())
        }
    })
}

/// The 413 for a body over `max_body_bytes`.
pub(crate) fn body_too_large(max_body_bytes: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large.")
        .with_detail(format!("the limit is {max_body_bytes} bytes"))
}

/// Whether an error of type `E` is somewhere in `error`'s source chain.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<E>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// The last path segment, percent-decoded to bytes.
pub(crate) struct RawSegment(pub(crate) Vec<u8>);

impl<S: Send + Sync> FromRequestParts<S> for RawSegment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let last = parts.uri.path().rsplit('/').next().unwrap_or_default();
        Ok(Self(percent_decode(last)))
    }
}

/// The `{id}` path segment: its percent-decoded bytes (for messages, quoted
/// as Go does) and, when it is a canonical process id, the id. Anything else
/// is simply an unknown process: never a 400 or 500.
pub(crate) struct RawId {
    pub(crate) raw: Vec<u8>,
    pub(crate) parsed: Option<ProcessId>,
}

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Routes are `/{id}/<action>`: the id is the second-to-last segment.
        let mut segments = parts.uri.path().rsplit('/');
        let _action = segments.next();
        let raw = percent_decode(segments.next().unwrap_or_default());
        let parsed = std::str::from_utf8(&raw)
            .ok()
            .and_then(|text| text.parse().ok());
        Ok(Self { raw, parsed })
    }
}

impl RawId {
    /// 404 when the process belongs to another chat, before anything else
    /// about the request is checked: another chat's process must look
    /// exactly like a missing one.
    pub(crate) fn ensure_visible(
        &self,
        state: &ApiState,
        chat: &crate::chat::Chat,
    ) -> Result<(), ApiError> {
        match self.parsed {
            Some(process)
                if chat.id().is_some() && state.manager.hidden_from(process, chat.id()) =>
            {
                Err(ApiError::process_not_found(&self.raw))
            }
            _ => Ok(()),
        }
    }
}

fn percent_decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded_to_bytes() {
        assert_eq!(percent_decode("abc"), b"abc");
        assert_eq!(percent_decode("a%20b%2F"), b"a b/");
        assert_eq!(percent_decode("%ff%zz%"), b"\xff%zz%");
    }
}
