//! The pause after a 429: every upstream call, Integration API and auth API alike, waits until
//! its `Retry-After` has passed, since Anaplan's limits are the tenant's and not per endpoint.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Stops every upstream call until a 429's `Retry-After` has passed.
#[derive(Default)]
pub struct RateLimitGate {
    /// When the pause ends; a std `Mutex` since it is held for a comparison, never across an await.
    until: Mutex<Option<Instant>>,
}

impl RateLimitGate {
    /// The pause left, if any; the first call after a pause ends reopens the gate.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        match *until {
            Some(at) if at > now => Some(at - now),
            Some(_) => {
                *until = None;
                backoff_gauge().set(0.0);
                None
            }
            None => None,
        }
    }

    /// Pauses every upstream call for `pause`, unless a longer pause is already in force.
    pub fn close_for(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
        metrics::counter!("anaplan_gateway_upstream_rate_limited_total").increment(1);
        tracing::warn!(
            retry_after_s = pause.as_secs_f64(),
            "Anaplan answered 429: pausing all upstream calls"
        );
        backoff_gauge().set(pause.as_secs_f64());
    }
}

fn backoff_gauge() -> metrics::Gauge {
    metrics::gauge!("anaplan_gateway_rate_limit_backoff_seconds")
}
