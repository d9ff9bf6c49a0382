//! The error envelope: every failure is `{"message", "detail"?}` with the
//! status and message strings of Coder's API (see `docs/API.md`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::json;

/// Coder's `codersdk.Response`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct Envelope {
    /// What happened, for a person.
    pub(crate) message: String,
    /// More about it, when there is more (an OS error, a parser's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

/// An error answer: a status and the envelope.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    envelope: Envelope,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            envelope: Envelope {
                message: message.into(),
                detail: None,
            },
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.envelope.detail = Some(detail.into());
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn invalid_json(detail: impl Into<String>) -> Self {
        Self::bad_request("Request body must be valid JSON.").with_detail(detail)
    }

    /// `Process "<id>" not found.`, with the id quoted as Go's `%q` does.
    pub(crate) fn process_not_found(raw_id: &[u8]) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Process {} not found.", crate::quote::go_quote(raw_id)),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json::respond(self.status, &self.envelope)
    }
}
