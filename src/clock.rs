//! governor's clock read from tokio's, so rate limits move with paused time in tests.

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// Time since the clock was made, on tokio's clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A token bucket of `quota` on tokio's clock.
pub type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// A bucket of `quota`, and its clock (to tell how long until it has room).
pub fn bucket(quota: Quota) -> (Bucket, TokioClock) {
    let clock = TokioClock {
        start: Instant::now(),
    };
    (RateLimiter::direct_with_clock(quota, clock.clone()), clock)
}
