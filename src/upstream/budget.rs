//! The upstream budget (`GATEWAY_UPSTREAM_RATE`): at most so many Integration API calls per
//! second (or minute), with a burst of the same size, since Anaplan's rate limits are shared by
//! every integration of the tenant. A lone process keeps a token bucket (governor's GCRA) read
//! with tokio's clock; a fleet keeps one bucket in Redis (see [`crate::shared`]), and a replica
//! that cannot reach Redis keeps its own meanwhile.
//!
//! A call over budget waits its turn within its own bound; one whose turn would come too late is
//! refused at once, saying how long until there is room. Refreshes of answers that can still be
//! served stale give way to callers that have no answer: alone, a refresh waits while any caller
//! waits; in a fleet, a refresh goes only while half the bucket is left for callers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::Quota;
use governor::clock::Clock;
use tokio::time::Instant;

use crate::clock::{Bucket, TokioClock};
use crate::shared::{Ask, SharedState, Turn};

/// Who a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// A caller that has no answer to be given meanwhile.
    Caller,
    /// A refresh of an answer that callers are being served stale meanwhile.
    Refresh,
}

impl Urgency {
    fn label(self) -> &'static str {
        match self {
            Urgency::Caller => "caller",
            Urgency::Refresh => "refresh",
        }
    }
}

/// The budget of Integration API calls.
pub struct Budget {
    bucket: Bucket,
    clock: TokioClock,
    /// The quota's shape, for the fleet's bucket.
    every: Duration,
    burst: u32,
    /// The fleet's shared state, where the fleet's bucket is kept.
    shared: Option<Arc<SharedState>>,
    /// Callers with no answer waiting for a turn in this process's bucket: refreshes wait for
    /// them.
    callers_waiting: AtomicUsize,
}

impl Budget {
    /// A budget of `quota`, kept with the fleet through `shared` when given.
    pub fn new(quota: Quota, shared: Option<Arc<SharedState>>) -> Self {
        let (bucket, clock) = crate::clock::bucket(quota);
        // The budget beside the calls it lets through: `rate(calls) / per_second` is its use.
        let per_second = 1.0 / quota.replenish_interval().as_secs_f64();
        metrics::gauge!("anaplan_gateway_upstream_budget_per_second").set(per_second);
        Self {
            bucket,
            clock,
            every: quota.replenish_interval(),
            burst: quota.burst_size().get(),
            shared,
            callers_waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for the turn of a call for `urgency`; `Err` with the wait when the turn would come
    /// after `deadline`.
    pub async fn turn(&self, deadline: Instant, urgency: Urgency) -> Result<(), Duration> {
        let fleet_turn = match &self.shared {
            Some(shared) => self.fleet_turn(shared, deadline, urgency).await,
            None => None,
        };
        let outcome = match fleet_turn {
            Some(outcome) => outcome,
            None => self.local_turn(deadline, urgency).await,
        };
        match outcome {
            Ok(waited) => {
                metrics::counter!("anaplan_gateway_upstream_budget_calls_total").increment(1);
                if waited {
                    metrics::counter!("anaplan_gateway_upstream_budget_waits_total",
                        "for" => urgency.label())
                    .increment(1);
                }
                Ok(())
            }
            Err(wait) => {
                metrics::counter!("anaplan_gateway_upstream_budget_refused_total",
                    "for" => urgency.label())
                .increment(1);
                Err(wait)
            }
        }
    }

    /// A turn in this process's bucket: `Ok(waited)`, or `Err` with the wait.
    async fn local_turn(&self, deadline: Instant, urgency: Urgency) -> Result<bool, Duration> {
        let mut waited = false;
        let mut counted: Option<CallerWaiting<'_>> = None;
        loop {
            let wait = if urgency == Urgency::Refresh
                && self.callers_waiting.load(Ordering::Acquire) > 0
            {
                self.every
            } else {
                match self.bucket.check() {
                    Ok(()) => return Ok(waited),
                    Err(not_until) => not_until.wait_time_from(self.clock.now()),
                }
            };
            if Instant::now() + wait > deadline {
                return Err(wait);
            }
            if urgency == Urgency::Caller && counted.is_none() {
                counted = Some(CallerWaiting::new(&self.callers_waiting));
            }
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }

    /// A turn in the fleet's bucket; `None` as soon as Redis does not answer.
    async fn fleet_turn(
        &self,
        shared: &SharedState,
        deadline: Instant,
        urgency: Urgency,
    ) -> Option<Result<bool, Duration>> {
        let mut waited = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // A caller reserves a later turn within its bound; a refresh takes only a turn that
            // is free now and leaves half the bucket, and otherwise looks again.
            let ask = match urgency {
                Urgency::Caller => Ask {
                    every: self.every,
                    burst: self.burst,
                    max_wait: left,
                    leave: Duration::ZERO,
                },
                Urgency::Refresh => Ask {
                    every: self.every,
                    burst: self.burst,
                    max_wait: Duration::ZERO,
                    leave: self.every * (self.burst / 2),
                },
            };
            match shared.budget_turn(ask).await? {
                Turn::After(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    return Some(Ok(waited || !wait.is_zero()));
                }
                Turn::Refused(wait) if urgency == Urgency::Refresh && wait <= left => {
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                Turn::Refused(wait) => return Some(Err(wait)),
            }
        }
    }
}

/// Counts a caller as waiting for as long as it lives.
struct CallerWaiting<'a>(&'a AtomicUsize);

impl<'a> CallerWaiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for CallerWaiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_spends_the_bucket_then_calls_wait_their_turn_or_are_refused() {
        let ten = std::num::NonZeroU32::new(10).unwrap();
        let budget = Budget::new(Quota::per_second(ten), None);
        let started = Instant::now();
        let far = started + Duration::from_secs(60);
        for _ in 0..10 {
            budget.turn(far, Urgency::Caller).await.unwrap();
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "the burst goes at once");
        budget.turn(far, Urgency::Caller).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "then one each 100 ms"
        );
        let soon = Instant::now() + Duration::from_millis(10);
        let refused = budget.turn(soon, Urgency::Caller).await.unwrap_err();
        assert!(refused > Duration::from_millis(10) && refused <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_gives_way_to_a_caller_with_no_answer() {
        let ten = std::num::NonZeroU32::new(10).unwrap();
        let budget = std::sync::Arc::new(Budget::new(Quota::per_second(ten), None));
        let started = Instant::now();
        let far = started + Duration::from_secs(60);
        for _ in 0..10 {
            budget.turn(far, Urgency::Caller).await.unwrap();
        }
        // The refresh asks first, yet the caller that asks after it goes first.
        let refresh = tokio::spawn({
            let budget = budget.clone();
            async move {
                budget.turn(far, Urgency::Refresh).await.unwrap();
                started.elapsed()
            }
        });
        tokio::task::yield_now().await;
        budget.turn(far, Urgency::Caller).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(refresh.await.unwrap(), Duration::from_millis(200));
    }
}
