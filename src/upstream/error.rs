//! How a call to Anaplan went wrong, classified so the API can answer with the right status and
//! the cache can decide what to remember.

use std::time::Duration;

/// A failed upstream call. `Clone` because one fetch's outcome is shared by every waiting caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum UpstreamError {
    /// No answer within `ANAPLAN_TIMEOUT`.
    #[error("Anaplan did not answer in time")]
    Timeout,
    /// The connection failed or was reset before an answer came.
    #[error("Anaplan could not be reached: {0}")]
    Unreachable(String),
    /// Anaplan asked the gateway to slow down (429), or an earlier 429's `Retry-After` still runs.
    #[error("Anaplan is rate-limiting the gateway")]
    RateLimited {
        /// How long until the gateway may call Anaplan again.
        retry_after: Duration,
    },
    /// The gateway's own budget of Anaplan calls (`GATEWAY_UPSTREAM_RATE`) is spent for longer
    /// than the call may wait.
    #[error("the gateway's budget of Anaplan calls is spent for now")]
    OverBudget {
        /// How long until the budget has room.
        retry_after: Duration,
    },
    /// 404: the id does not exist, or the gateway's user has no access to it.
    #[error("Anaplan reports no {path}, or no access to it")]
    NotFound {
        /// What was asked for: the Integration API path, made of the ids as they were asked.
        path: String,
    },
    /// 409 or 423: the model is busy or locked.
    #[error("the model is busy or locked (Anaplan answered {status})")]
    Busy {
        /// Anaplan's HTTP status.
        status: u16,
    },
    /// 503: Anaplan is unavailable for a while.
    #[error("Anaplan is unavailable (HTTP 503)")]
    Unavailable {
        /// How long until the gateway may call Anaplan again: Anaplan's `Retry-After`, then the
        /// time left of the gateway's own pause.
        retry_after: Duration,
    },
    /// A 5xx from Anaplan other than 503.
    #[error("Anaplan failed with HTTP {status}")]
    Server {
        /// Anaplan's HTTP status.
        status: u16,
    },
    /// Another 4xx from Anaplan (400, 403, 405, 422…), with Anaplan's message.
    #[error("Anaplan refused the request with HTTP {status}: {message}")]
    Rejected {
        /// Anaplan's HTTP status.
        status: u16,
        /// Anaplan's `status.message`, or a short excerpt of the body.
        message: String,
    },
    /// Anaplan refused the gateway's credentials, or kept refusing a freshly issued token.
    #[error("Anaplan refused the gateway's credentials")]
    Unauthorized,
    /// The answer was not the JSON Anaplan documents.
    #[error("Anaplan's answer could not be read: {0}")]
    BadBody(String),
}

impl UpstreamError {
    /// Whether a GET that failed this way may be tried again at once: the request most likely
    /// never reached Anaplan's application, a proxy in front of it failed, or one attempt
    /// stalled while the call as a whole still has time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_)
                | UpstreamError::Timeout
                | UpstreamError::Unavailable { .. }
                | UpstreamError::Server { status: 502 | 504 }
        )
    }

    /// This failure as remembered `left` before its pause ends: a later caller is told how long
    /// is left, not how long it was.
    pub fn with_remaining(&self, left: Duration) -> UpstreamError {
        match self {
            UpstreamError::RateLimited { .. } => UpstreamError::RateLimited { retry_after: left },
            UpstreamError::Unavailable { .. } => UpstreamError::Unavailable { retry_after: left },
            UpstreamError::OverBudget { .. } => UpstreamError::OverBudget { retry_after: left },
            other => other.clone(),
        }
    }

    /// The least pause Anaplan asked for with this failure (a 429's or 503's `Retry-After`).
    pub fn asked_pause(&self) -> Duration {
        match self {
            UpstreamError::RateLimited { retry_after }
            | UpstreamError::Unavailable { retry_after }
            | UpstreamError::OverBudget { retry_after } => *retry_after,
            _ => Duration::ZERO,
        }
    }

    /// A short label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Unreachable(_) => "unreachable",
            UpstreamError::RateLimited { .. } => "rate_limited",
            UpstreamError::NotFound { .. } => "not_found",
            UpstreamError::Busy { .. } => "busy",
            UpstreamError::Server { .. } | UpstreamError::Unavailable { .. } => "server_error",
            UpstreamError::Rejected { .. } => "rejected",
            UpstreamError::Unauthorized => "unauthorized",
            UpstreamError::OverBudget { .. } => "over_budget",
            UpstreamError::BadBody(_) => "bad_body",
        }
    }
}
