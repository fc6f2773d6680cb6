//! [`ApiError`]: every error the HTTP API returns, as `{error, message}` JSON with a
//! fitting status.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gophercoin_core::{Error as CoreError, ErrorKind};
use serde::{Deserialize, Serialize};

/// An error answer: a stable kind, a human message and an HTTP status; and, if the core
/// refused the input, the core's [`ErrorKind`] for callers to match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    core: Option<ErrorKind>,
}

/// The JSON body of an error answer, `{"error": kind, "message": sentence}`, as clients
/// read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable kind (`overdraft`, `not_found`, ...): what a program matches on.
    #[serde(default = "unnamed_kind")]
    pub error: String,
    /// What went wrong, for people.
    #[serde(default)]
    pub message: String,
}

fn unnamed_kind() -> String {
    "error".to_owned()
}

impl ApiError {
    /// Makes an error with an explicit status and kind.
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, kind, message: message.into(), core: None }
    }

    /// 400: the request is malformed.
    pub(crate) fn bad_request(kind: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// 429: one client holds all it may at once (requests, bodies, streams).
    pub(crate) fn too_many_requests(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }

    /// 404: the thing asked for is not known.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503: the node is overloaded or shutting down.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
    }

    /// 500: something failed on our side (storage).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Returns the HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the stable kind (the JSON `error` field).
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// Returns the core's kind, if the core refused the input.
    pub(crate) fn core_kind(&self) -> Option<ErrorKind> {
        self.core
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status.as_u16(), self.message)
    }
}

impl From<CoreError> for ApiError {
    /// Maps the core's error kinds to statuses, in one place.
    fn from(error: CoreError) -> Self {
        let status = match error.kind() {
            ErrorKind::AlreadyKnown => StatusCode::CONFLICT,
            ErrorKind::MempoolFull | ErrorKind::SideBranchesFull => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::TooManyPending => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::BadHex | ErrorKind::TooLong | ErrorKind::Malformed | ErrorKind::TooLarge => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            core: Some(error.kind()),
            ..ApiError::new(status, error.kind().as_str(), error.to_string())
        }
    }
}

impl From<gophercoin_core::hash::HashParseError> for ApiError {
    fn from(error: gophercoin_core::hash::HashParseError) -> Self {
        ApiError::bad_request("bad_hex", error.to_string())
    }
}

impl From<gophercoin_core::CryptoError> for ApiError {
    /// A key or address that does not parse is a malformed request.
    fn from(error: gophercoin_core::CryptoError) -> Self {
        let kind = CoreError::from(error.clone()).kind();
        ApiError { core: Some(kind), ..ApiError::bad_request(kind.as_str(), error.to_string()) }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "malformed",
        };
        ApiError::new(status, kind, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("malformed", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("malformed", rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.kind.to_owned(), message: self.message };
        (self.status, Json(body)).into_response()
    }
}
