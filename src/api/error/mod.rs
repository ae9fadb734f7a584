//! Every error the API gives, as `application/problem+json` (RFC 9457), built in one place: its
//! status and type here, its detail for the caller in [`detail`].

mod detail;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::callers::{Refused, Unauthenticated};
use crate::ids::IdError;
use crate::service::starts::StartError;
use crate::upstream::UpstreamError;

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:anaplan-gateway:problem:bad-request",
    "title": "Bad request",
    "status": 400,
    "detail": "objectId must be 1 to 20 decimal digits"
}))]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, and what the caller can do.
    pub detail: String,
    /// For `start-outcome-unknown`: the tasks the lost start may have created; for
    /// `ambiguous-name`: the ids of the objects the name matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed; nothing was sent upstream.
    #[error(transparent)]
    BadRequest(#[from] IdError),
    /// The request itself could not be read (a bad query string or path encoding).
    #[error("{0}")]
    Malformed(String),
    /// No such route.
    #[error("no such route; see /docs for the API")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("this route does not take that method; see /docs for the API")]
    MethodNotAllowed,
    /// Anaplan has no cancel for the kind's tasks.
    #[error("Anaplan has no cancel for {0} tasks")]
    NoCancel(crate::ids::TaskKind),
    /// The model is not among `GATEWAY_ALLOWED_MODELS`.
    #[error("this gateway may not ask about that model")]
    ModelNotAllowed,
    /// Anaplan has no failure dump for the task.
    #[error("Anaplan has no failure dump for this task")]
    NoDump,
    /// Callers are configured and the request names none.
    #[error("this gateway needs a caller's key")]
    Unauthenticated(Unauthenticated),
    /// The caller may not do this.
    #[error("the caller may not do this")]
    CallerRefused {
        /// The caller's name.
        caller: Arc<str>,
        /// What it may not do.
        refused: Refused,
    },
    /// Anaplan failed or refused.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The task has not succeeded (yet), so it has nothing to collect.
    #[error("the task has not succeeded")]
    TaskNotFinished(crate::schema::TaskState),
    /// Anaplan has no output file for the export.
    #[error("Anaplan has no file for this export")]
    NoFile,
    /// The read has not made the page available.
    #[error("no such page (yet)")]
    NoPage {
        /// How many pages it has made available.
        available: u64,
    },
    /// `GATEWAY_MAX_TRANSFERS` transfers are in flight.
    #[error("too many transfers in flight")]
    TooManyTransfers,
    /// The model's file list has no such file (Anaplan would make a new one).
    #[error("the model has no such file")]
    NoSuchFile,
    /// Another upload of the same file is under way.
    #[error("the file is being uploaded")]
    FileBusy,
    /// The upload's body broke off or stalled: nothing was completed.
    #[error("the upload's body broke off")]
    UploadIncomplete {
        /// Bytes read before it broke.
        read: u64,
    },
    /// The body needs more chunks than Anaplan takes for one file.
    #[error("the upload is larger than Anaplan takes")]
    UploadTooLarge,
    /// The fleet's hold on the file could not be taken or kept.
    #[error("the fleet's hold on the file is unavailable")]
    FileHoldUnavailable,
    /// The model was opened through the gateway too recently to be opened again.
    #[error("the model was opened recently")]
    ModelOpenedRecently(Duration),
    /// The upload was sent whole and its completion's answer was lost.
    #[error("the upload's completion is unknown")]
    UploadOutcomeUnknown,
    /// Anaplan refused a start (a 4xx other than 404, 409 and 423): nothing was started.
    #[error("Anaplan refused the start (HTTP {status}): {message}")]
    StartRefused {
        /// Anaplan's status.
        status: u16,
        /// Anaplan's message.
        message: String,
    },
    /// The model lists no object of that name.
    #[error("no object of that name")]
    NoSuchName,
    /// Several objects have that name: their ids.
    #[error("several objects have that name")]
    AmbiguousName(Vec<String>),
    /// A start may have created a task, and the task list does not tell which.
    #[error("the start's outcome is unknown")]
    StartOutcomeUnknown {
        /// The tasks it may have created.
        candidates: Vec<String>,
    },
    /// The `Idempotency-Key`'s first start is still under way.
    #[error("a start with this Idempotency-Key is still under way")]
    IdempotencyInFlight(Duration),
    /// The `Idempotency-Key` was first used for another request.
    #[error("this Idempotency-Key was used for a different start")]
    IdempotencyKeyReused,
    /// The fleet's record of the `Idempotency-Key` could not be reached.
    #[error("the fleet's shared state is unreachable")]
    IdempotencyUnavailable,
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::NotStarted(UpstreamError::Rejected { status, message }) => {
                ApiError::StartRefused { status, message }
            }
            StartError::NotStarted(other) => ApiError::Upstream(other),
            StartError::OutcomeUnknown { candidates } => {
                ApiError::StartOutcomeUnknown { candidates }
            }
            StartError::InFlight { retry_after } => ApiError::IdempotencyInFlight(retry_after),
            StartError::KeyReused => ApiError::IdempotencyKeyReused,
            StartError::RecordsUnavailable => ApiError::IdempotencyUnavailable,
        }
    }
}

impl From<crate::service::names::NameError> for ApiError {
    fn from(error: crate::service::names::NameError) -> Self {
        use crate::service::names::NameError;
        match error {
            NameError::Upstream(error) => ApiError::Upstream(error),
            NameError::Unknown => ApiError::NoSuchName,
            NameError::Ambiguous(ids) => {
                ApiError::AmbiguousName(ids.iter().map(|id| id.to_string()).collect())
            }
        }
    }
}

impl From<crate::config::NotAllowed> for ApiError {
    fn from(_: crate::config::NotAllowed) -> Self {
        ApiError::ModelNotAllowed
    }
}

impl ApiError {
    /// The problem+json body for this error.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.status_and_title();
        Problem {
            kind: format!("urn:anaplan-gateway:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: self.detail(),
            candidates: match self {
                ApiError::StartOutcomeUnknown { candidates } => Some(candidates.clone()),
                ApiError::AmbiguousName(ids) => Some(ids.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Upstream failures are logged once, where the upstream call is made.
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(retry_after) = self.retry_after() {
            // Rounded up so a caller never comes back too early.
            let seconds = super::headers::seconds_up(retry_after).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let ApiError::Unauthenticated(why) = self {
            let challenge = match why {
                Unauthenticated::NoKey => r#"Bearer realm="anaplan-gateway""#,
                Unauthenticated::UnknownKey => {
                    r#"Bearer realm="anaplan-gateway", error="invalid_token""#
                }
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
