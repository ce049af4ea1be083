//! Every way a request can fail, and the one place each becomes an HTTP response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::decode::FieldError;
use crate::domain::outcome::{ErrorCode, RecordError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        message: String,
        details: Vec<FieldError>,
    },
    /// A reference that does not resolve, or resolves to more than one record.
    #[error("{}", .0.describe())]
    Reference(RecordError),
    #[error("{0}")]
    Unauthorized(String),
    /// A known key calling outside its scopes; the message names the scope it lacks.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored, e.g. deleting a cell still in use.
    #[error("{0}")]
    Conflict(String),
    /// A lifecycle action the record's status does not allow; the message names the status
    /// and the actions it allows.
    #[error("{0}")]
    InvalidTransition(String),
    /// A feed cursor older than the events still kept.
    #[error("this cursor points before the oldest kept event (events are kept {days} days); start again without `after`, and read the records themselves for what was missed")]
    CursorExpired { days: u32 },
    #[error("this Idempotency-Key was used for a different request; use a new key")]
    IdempotencyKeyReused,
    #[error("the first request with this Idempotency-Key is still running; retry shortly")]
    IdempotencyInProgress,
    /// A report's `client_event_id` that came before with a different report; the message
    /// names the fields that differ.
    #[error("{0}")]
    IdempotencyMismatch(String),
    #[error("this path does not accept that method")]
    MethodNotAllowed,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body stopped coming: the connection broke, or the request timed out while it was
    /// read. Answered 400, but never a refusal of what was sent, so not kept in the history
    /// (the client saw the break or a 408, not this).
    #[error("could not read the request body: {0}")]
    BodyUnreadable(String),
    #[error("rate limit exceeded; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error(
        "the request was not answered within the request timeout; a write whose body had \
         arrived still runs to its end: send it again with the same Idempotency-Key (or \
         client_event_id) for its answer"
    )]
    Timeout,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error")]
    Panic,
}

impl ApiError {
    pub fn invalid(error: FieldError) -> ApiError {
        ApiError::Validation {
            message: error.describe(),
            details: vec![error],
        }
    }

    /// A record the sync refused, as the error of a single-record request.
    pub fn rejected(error: RecordError) -> ApiError {
        match error.code {
            ErrorCode::ValidationError => ApiError::invalid(FieldError {
                field: error.field,
                message: error.message,
            }),
            ErrorCode::ReferenceNotFound | ErrorCode::AmbiguousReference => {
                ApiError::Reference(error)
            }
            ErrorCode::Conflict => ApiError::Conflict(error.message),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    pub(super) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Validation { .. } | ApiError::BodyUnreadable(_) => {
                (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
            }
            ApiError::Reference(error) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                match error.code {
                    ErrorCode::AmbiguousReference => "AMBIGUOUS_REFERENCE",
                    _ => "REFERENCE_NOT_FOUND",
                },
            ),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::Conflict(_) | ApiError::Store(StoreError::Conflict(_)) => {
                (StatusCode::CONFLICT, "CONFLICT")
            }
            ApiError::InvalidTransition(_) => (StatusCode::BAD_REQUEST, "INVALID_STATE_TRANSITION"),
            ApiError::CursorExpired { .. } => (StatusCode::GONE, "CURSOR_EXPIRED"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
            }
            ApiError::IdempotencyInProgress => (StatusCode::CONFLICT, "IDEMPOTENCY_IN_PROGRESS"),
            ApiError::IdempotencyMismatch(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_MISMATCH")
            }
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
            ApiError::Store(
                StoreError::Unavailable(_) | StoreError::Locked(_) | StoreError::Full(_),
            ) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            ApiError::Store(_) | ApiError::Panic => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
            }
        }
    }

    /// What the client reads. Store failures say nothing of SQL or internals.
    /// Logs the error under the request's span, so the request id an ERP reports finds why
    /// (`security::key_secrets_never_reach_logs_or_answers`): a fault on our side as an error
    /// with what went wrong, a refusal as information with what the client was told. Answers
    /// the status and code.
    pub(crate) fn log(&self) -> (StatusCode, &'static str) {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        } else if status.is_client_error() {
            tracing::info!(code, reason = %self.public_message(), "request refused");
        }
        (status, code)
    }

    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Store(StoreError::Unavailable(_)) => {
                "the database is unavailable; retry shortly".to_owned()
            }
            ApiError::Store(StoreError::Locked(_)) => {
                "the database is locked by another process; nothing was written, retry shortly"
                    .to_owned()
            }
            ApiError::Store(StoreError::Full(_)) => {
                "the database's disk is full; nothing was written, retry once space is freed"
                    .to_owned()
            }
            ApiError::Store(StoreError::Conflict(message)) => message.clone(),
            ApiError::Store(_) | ApiError::Panic => {
                "internal error; the request id in X-Request-Id helps find it in the logs"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            ApiError::Validation { details, .. } => details.clone(),
            ApiError::BodyUnreadable(_) => vec![FieldError {
                field: None,
                message: self.to_string(),
            }],
            ApiError::Reference(error) => vec![FieldError {
                field: error.field.clone(),
                message: error.message.clone(),
            }],
            _ => Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct Envelope {
    success: bool,
    error: ErrorBody,
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.log();
        let body = Envelope {
            success: false,
            error: ErrorBody {
                code,
                message: self.public_message(),
                details: self.details(),
            },
        };
        let refusal = (status.is_client_error() && !matches!(self, ApiError::BodyUnreadable(_)))
            .then(|| super::refusals::Refusal {
                code,
                message: body.error.message.clone(),
                field: body.error.details.first().and_then(|d| d.field.clone()),
            });
        let mut response = (status, Json(body)).into_response();
        if let Some(refusal) = refusal {
            response.extensions_mut().insert(refusal);
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            ApiError::Store(StoreError::Unavailable(_) | StoreError::Locked(_)) => Some(1),
            ApiError::Store(StoreError::Full(_)) => Some(30),
            // The first request runs to its end whatever its client does, so a retry soon
            // finds its answer (`concurrency::a_client_that_goes_away_loses_nothing`).
            ApiError::IdempotencyInProgress => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
