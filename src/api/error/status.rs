//! Which status, problem type and title each error is, and how long a caller waits before it
//! asks again.

use std::time::Duration;

use axum::http::StatusCode;

use super::ApiError;
use crate::callers::Refused;
use crate::upstream::UpstreamError;

/// How long a caller waits before it asks a busy model again: one poll interval as Anaplan
/// advises it.
const RETRY_BUSY: Duration = Duration::from_secs(5);

impl ApiError {
    pub(super) fn status_and_title(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) | ApiError::Malformed(_) => {
                (StatusCode::BAD_REQUEST, "bad-request", "Bad request")
            }
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "no-route", "Not found"),
            ApiError::NoDump => (StatusCode::NOT_FOUND, "no-dump", "No failure dump"),
            ApiError::ModelNotAllowed => (
                StatusCode::FORBIDDEN,
                "model-not-allowed",
                "Model not allowed",
            ),
            ApiError::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "A caller's key is needed",
            ),
            ApiError::CallerRefused {
                refused: Refused::ColdLookups(_),
                ..
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-lookups",
                "Too many unknown keys",
            ),
            ApiError::CallerRefused { .. } => (
                StatusCode::FORBIDDEN,
                "caller-not-allowed",
                "Caller not allowed",
            ),
            ApiError::TaskNotFinished(_) => (
                StatusCode::CONFLICT,
                "task-not-finished",
                "Task not finished",
            ),
            ApiError::NoFile => (StatusCode::NOT_FOUND, "no-file", "No file"),
            ApiError::NoPage { .. } => (StatusCode::NOT_FOUND, "no-page", "No such page"),
            ApiError::TooManyTransfers => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too-many-transfers",
                "Too many transfers",
            ),
            ApiError::NoSuchFile => (StatusCode::NOT_FOUND, "no-such-file", "No such file"),
            ApiError::FileBusy => (StatusCode::CONFLICT, "file-busy", "File being uploaded"),
            ApiError::UploadIncomplete { .. } => (
                StatusCode::BAD_REQUEST,
                "upload-incomplete",
                "Upload incomplete",
            ),
            ApiError::UploadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload-too-large",
                "Upload too large",
            ),
            ApiError::ModelOpenedRecently(_) => (
                StatusCode::CONFLICT,
                "model-opened-recently",
                "Model opened recently",
            ),
            ApiError::FileHoldUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "file-hold-unavailable",
                "File hold unavailable",
            ),
            ApiError::UploadOutcomeUnknown => (
                StatusCode::BAD_GATEWAY,
                "upload-outcome-unknown",
                "Upload outcome unknown",
            ),
            ApiError::StartRefused { status: 403, .. } => (
                StatusCode::FORBIDDEN,
                "upstream-forbidden",
                "Anaplan forbids it",
            ),
            ApiError::StartRefused { .. } => (
                StatusCode::BAD_REQUEST,
                "start-refused",
                "Anaplan refused the start",
            ),
            ApiError::NoSuchName => (
                StatusCode::NOT_FOUND,
                "no-such-name",
                "No object of that name",
            ),
            ApiError::AmbiguousName(_) => (
                StatusCode::CONFLICT,
                "ambiguous-name",
                "Several objects have that name",
            ),
            ApiError::StartOutcomeUnknown { .. } => (
                StatusCode::BAD_GATEWAY,
                "start-outcome-unknown",
                "Start outcome unknown",
            ),
            ApiError::IdempotencyInFlight(_) => (
                StatusCode::CONFLICT,
                "idempotency-in-flight",
                "Start under way",
            ),
            ApiError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            ApiError::IdempotencyUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "idempotency-unavailable",
                "Idempotency-Key records unreachable",
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::NoCancel(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "no-cancel",
                "Anaplan cannot cancel it",
            ),
            ApiError::Upstream(err) => match err {
                UpstreamError::Rejected { status: 403, .. } => (
                    StatusCode::FORBIDDEN,
                    "upstream-forbidden",
                    "Anaplan forbids it",
                ),
                UpstreamError::NotFound { .. } => {
                    (StatusCode::NOT_FOUND, "not-found", "Not found in Anaplan")
                }
                UpstreamError::Busy { .. } => (StatusCode::CONFLICT, "model-busy", "Model busy"),
                UpstreamError::RateLimited { .. } | UpstreamError::Unavailable { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Anaplan unavailable",
                ),
                UpstreamError::OverBudget { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "over-budget",
                    "Upstream budget spent",
                ),
                UpstreamError::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    "Anaplan did not answer in time",
                ),
                UpstreamError::Unauthorized => (
                    StatusCode::BAD_GATEWAY,
                    "credentials-refused",
                    "Anaplan refused the gateway's credentials",
                ),
                _ => (StatusCode::BAD_GATEWAY, "upstream-error", "Anaplan failed"),
            },
        }
    }

    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Upstream(
                UpstreamError::RateLimited { retry_after }
                | UpstreamError::Unavailable { retry_after }
                | UpstreamError::OverBudget { retry_after },
            ) => Some(*retry_after),
            ApiError::CallerRefused {
                refused: Refused::ColdLookups(retry_after),
                ..
            } => Some(*retry_after),
            ApiError::IdempotencyInFlight(retry_after)
            | ApiError::ModelOpenedRecently(retry_after) => Some(*retry_after),
            ApiError::Upstream(UpstreamError::Busy { .. }) | ApiError::FileBusy => Some(RETRY_BUSY),
            ApiError::IdempotencyUnavailable
            | ApiError::TooManyTransfers
            | ApiError::FileHoldUnavailable => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }
}
