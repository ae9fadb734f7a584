//! The upstream budget (`GATEWAY_UPSTREAM_RATE`): at most so many Integration API calls per
//! second (or minute), with a burst of the same size, since Anaplan's rate limits are shared by
//! every integration of the tenant. A token bucket (governor's GCRA) read with tokio's clock. A
//! call over budget waits its turn within its own bound; one whose turn would come too late is
//! refused at once, saying how long until there is room. Refreshes of answers that can still be
//! served stale run apart from their callers, so only they wait; a caller with no answer waits
//! no longer than its call may take.

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// governor's clock: tokio's, so the budget moves with paused time in tests.
#[derive(Debug, Clone)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The budget of Integration API calls.
pub struct Budget {
    bucket: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl Budget {
    /// A budget of `quota`.
    pub fn new(quota: Quota) -> Self {
        let clock = TokioClock {
            start: Instant::now(),
        };
        Self {
            bucket: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Waits for a call's turn; `Err` with the wait when the turn would come after `deadline`.
    pub async fn turn(&self, deadline: Instant) -> Result<(), Duration> {
        let mut waited = false;
        loop {
            let wait = match self.bucket.check() {
                Ok(()) => {
                    metrics::counter!("anaplan_gateway_upstream_budget_calls_total").increment(1);
                    if waited {
                        metrics::counter!("anaplan_gateway_upstream_budget_waits_total")
                            .increment(1);
                    }
                    return Ok(());
                }
                Err(not_until) => not_until.wait_time_from(self.clock.now()),
            };
            if Instant::now() + wait > deadline {
                metrics::counter!("anaplan_gateway_upstream_budget_refused_total").increment(1);
                return Err(wait);
            }
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_spends_the_bucket_then_calls_wait_their_turn_or_are_refused() {
        let ten = std::num::NonZeroU32::new(10).unwrap();
        let budget = Budget::new(Quota::per_second(ten));
        let started = Instant::now();
        let far = started + Duration::from_secs(60);
        for _ in 0..10 {
            budget.turn(far).await.unwrap();
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "the burst goes at once");
        budget.turn(far).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "then one each 100 ms"
        );
        let soon = Instant::now() + Duration::from_millis(10);
        let refused = budget.turn(soon).await.unwrap_err();
        assert!(refused > Duration::from_millis(10) && refused <= Duration::from_millis(100));
    }
}
