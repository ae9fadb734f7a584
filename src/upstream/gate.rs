//! The pause after a 429: every upstream call, Integration API and auth API alike, waits until
//! its `Retry-After` has passed, since Anaplan's limits are the tenant's and not per endpoint.
//! With a fleet's shared state, a pause one replica learns of holds for every replica.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::shared::SharedState;

/// Stops every upstream call until a 429's `Retry-After` has passed.
#[derive(Default)]
pub struct RateLimitGate {
    /// When the pause ends; a std `Mutex` since it is held for a comparison, never across an await.
    until: Mutex<Option<Instant>>,
    /// The fleet's shared state, where pauses are shared.
    shared: Option<Arc<SharedState>>,
}

impl RateLimitGate {
    /// A gate that shares its pauses through `shared`, when given.
    pub fn new(shared: Option<Arc<SharedState>>) -> Self {
        Self {
            until: Mutex::default(),
            shared,
        }
    }

    /// The pause left here or anywhere in the fleet, if any: what an upstream call asks first.
    pub async fn pause_left(&self, now: Instant) -> Option<Duration> {
        if let Some(left) = self.remaining(now) {
            return Some(left);
        }
        let left = self.shared.as_ref()?.pause_left().await?;
        self.hold_until(now + left);
        backoff_gauge().set(left.as_secs_f64());
        Some(left)
    }

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

    /// Pauses every upstream call for `pause`, unless a longer pause is already in force; the
    /// fleet too, through its shared state.
    pub fn close_for(&self, pause: Duration) {
        self.hold_until(Instant::now() + pause);
        if let Some(shared) = self.shared.clone() {
            tokio::spawn(async move { shared.pause_for(pause).await });
        }
        metrics::counter!("anaplan_gateway_upstream_rate_limited_total").increment(1);
        tracing::warn!(
            retry_after_s = pause.as_secs_f64(),
            "Anaplan answered 429: pausing all upstream calls"
        );
        backoff_gauge().set(pause.as_secs_f64());
    }
}

impl RateLimitGate {
    fn hold_until(&self, until: Instant) {
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
    }
}

fn backoff_gauge() -> metrics::Gauge {
    metrics::gauge!("anaplan_gateway_rate_limit_backoff_seconds")
}
