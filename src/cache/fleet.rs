//! The cache's second tier, shared by a fleet of replicas through Redis: what a key is called
//! there, and how an answer or a failure crosses between this process's clock and the fleet's.
//! Consulted only when this process would otherwise poll Anaplan: never on a fresh local hit.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use tokio::time::Instant;

use super::snapshot::Snapshot;
use crate::address::Address;
use crate::shared::{Claim, FleetKey, Lease, SharedAnswer, SharedState, now_ms};
use crate::upstream::UpstreamError;

/// The fleet's tier, as the cache uses it.
pub(super) struct FleetTier {
    state: Arc<SharedState>,
    /// Longer than any upstream call: the longest a replica waits on another's poll, and how
    /// long a shared answer outlives its next poll.
    longest_poll: Duration,
}

impl FleetTier {
    /// A tier on `state` whose floors outlive an upstream call of `upstream_timeout`.
    pub(super) fn new(
        state: Arc<SharedState>,
        interval: Duration,
        upstream_timeout: Duration,
    ) -> Self {
        Self {
            state,
            longest_poll: interval.max(upstream_timeout) + interval,
        }
    }

    /// The fleet's keys for `key`.
    pub(super) fn key(&self, key: &Address) -> FleetKey {
        self.state.fleet_key(&key.tag())
    }

    /// Whether to poll, or what another replica's poll brought (see [`SharedState::claim`]).
    pub(super) async fn claim(&self, key: &FleetKey) -> Claim {
        // Waiting on another replica's poll is bounded as one's own would be.
        let deadline = Instant::now() + self.longest_poll;
        self.state.claim(key, deadline).await
    }

    /// Runs `call` holding the floor `lease` took.
    pub(super) async fn holding_floor<T>(
        &self,
        key: &FleetKey,
        lease: &Lease,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        self.state.hold_floor(key, lease, call).await
    }

    /// Shares the answer now held, with the floor running until its next poll.
    pub(super) fn share(
        &self,
        key: &FleetKey,
        lease: Option<Lease>,
        held: &Snapshot,
        keep_finished: Duration,
    ) {
        let now = Instant::now();
        let answer = to_shared(held, now);
        let (floor_for, keep_for) = match held.next_poll_at {
            Some(due) => {
                let floor_for = due.saturating_duration_since(now);
                (floor_for, floor_for + self.longest_poll)
            }
            None => (self.longest_poll, keep_finished),
        };
        self.state
            .share_answer(key, lease, &answer, floor_for, keep_for);
    }

    /// Shares a failure, remembered fleet-wide for `pause`.
    pub(super) fn share_failure(
        &self,
        key: &FleetKey,
        lease: Option<Lease>,
        error: &UpstreamError,
        pause: Duration,
    ) {
        let failure = serde_json::to_vec(error).unwrap_or_default();
        self.state.share_failure(key, lease, failure, pause);
    }
}

/// An answer held here, with its times on the wall clock.
fn to_shared(held: &Snapshot, now: Instant) -> SharedAnswer {
    let wall_now = now_ms();
    let since =
        |at: Instant| i64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(0);
    let until =
        |at: Instant| i64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(0);
    SharedAnswer {
        fetched_ms: wall_now - since(held.fetched_at),
        next_poll_ms: held.next_poll_at.map(|due| wall_now + until(due)),
        etag: held.etag.to_str().unwrap_or_default().to_owned(),
        body: held.body.clone(),
    }
}

/// An answer from the fleet, fresh for `fresh_for` (`None`: finished), with its times on this
/// process's clock.
pub(super) fn from_shared(
    answer: SharedAnswer,
    fresh_for: Option<Duration>,
    now: Instant,
) -> Snapshot {
    let since_fetched = now_ms().saturating_sub(answer.fetched_ms);
    let since_fetched = Duration::from_millis(u64::try_from(since_fetched).unwrap_or(0));
    Snapshot {
        fetched_at: now.checked_sub(since_fetched).unwrap_or(now),
        next_poll_at: fresh_for.map(|fresh_for| now + fresh_for),
        etag: HeaderValue::from_str(&answer.etag).unwrap_or(HeaderValue::from_static("W/\"\"")),
        body: answer.body,
    }
}

/// A failure another replica stored; one that cannot be read is a bad answer, as it would be here.
pub(super) fn failure_from(bytes: &[u8]) -> UpstreamError {
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        UpstreamError::BadBody("a fleet replica's failure could not be read".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn an_answer_keeps_its_times_across_the_fleet() {
        let now = Instant::now();
        let held = Snapshot {
            body: Bytes::from_static(b"{}"),
            etag: HeaderValue::from_static("W/\"1a2b\""),
            fetched_at: now.checked_sub(Duration::from_secs(2)).unwrap_or(now),
            next_poll_at: Some(now + Duration::from_secs(3)),
        };
        let back = from_shared(to_shared(&held, now), Some(Duration::from_secs(3)), now);
        let close = |a: Instant, b: Instant| {
            let gap = if a > b { a - b } else { b - a };
            gap < Duration::from_millis(50)
        };
        assert!(close(back.fetched_at, held.fetched_at));
        assert!(close(
            back.next_poll_at.unwrap(),
            held.next_poll_at.unwrap()
        ));
        assert_eq!(back.body, held.body);
        assert_eq!(back.etag, held.etag);
    }

    #[test]
    fn a_failure_crosses_the_fleet_as_it_was() {
        let error = UpstreamError::Busy { status: 423 };
        let bytes = serde_json::to_vec(&error).unwrap();
        assert_eq!(failure_from(&bytes), error);
        assert!(matches!(
            failure_from(b"nonsense"),
            UpstreamError::BadBody(_)
        ));
    }
}
