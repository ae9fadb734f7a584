//! Pauses after failures, shared by the cache (a key whose upstream call failed) and the token
//! (a failed authentication): a base pause that doubles with each failure in a row, up to a
//! ceiling, and the last failure remembered until its pause ends.

use std::time::Duration;

use tokio::time::Instant;

/// A pause that doubles with each failure in a row, from `base` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Pauses of `base`, doubling up to `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The pause after the `in_a_row`-th failure in a row (1 is the first).
    pub fn pause(&self, in_a_row: u32) -> Duration {
        let doubling = 2u32.saturating_pow(in_a_row.saturating_sub(1));
        self.base.saturating_mul(doubling).min(self.max)
    }
}

/// A failure remembered so that it is answered again, without a new attempt, until `until`.
#[derive(Debug, Clone)]
pub struct RememberedFailure<E> {
    /// What went wrong.
    pub error: E,
    /// When the pause ends.
    pub until: Instant,
}

/// Failures in a row and the last one, while its pause lasts.
#[derive(Debug)]
pub struct FailureStreak<E> {
    in_a_row: u32,
    last: Option<RememberedFailure<E>>,
}

impl<E> Default for FailureStreak<E> {
    fn default() -> Self {
        Self {
            in_a_row: 0,
            last: None,
        }
    }
}

impl<E: Clone> FailureStreak<E> {
    /// Records a failure at `now`: paused for the backoff's next step, or `at_least` when that
    /// is longer (a 429's `Retry-After`). Returns when the pause ends.
    pub fn record(
        &mut self,
        error: E,
        backoff: Backoff,
        at_least: Duration,
        now: Instant,
    ) -> Instant {
        self.in_a_row = self.in_a_row.saturating_add(1);
        let until = now + backoff.pause(self.in_a_row).max(at_least);
        self.last = Some(RememberedFailure { error, until });
        until
    }

    /// A success ends the streak.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the last attempt failed (its pause may be over).
    pub fn after_failure(&self) -> bool {
        self.in_a_row > 0
    }

    /// The last failure while its pause lasts at `now`.
    pub fn in_force(&self, now: Instant) -> Option<&RememberedFailure<E>> {
        self.last.as_ref().filter(|failure| now < failure.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn pauses_double_up_to_the_ceiling() {
        let backoff = Backoff::new(5 * SECOND, 60 * SECOND);
        let pauses: Vec<u64> = (1..=6).map(|n| backoff.pause(n).as_secs()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff.pause(u32::MAX), 60 * SECOND, "no overflow");
    }

    #[tokio::test(start_paused = true)]
    async fn a_streak_remembers_its_last_failure_until_its_pause_ends() {
        let backoff = Backoff::new(5 * SECOND, 60 * SECOND);
        let mut streak = FailureStreak::default();
        let now = Instant::now();
        assert!(streak.in_force(now).is_none() && !streak.after_failure());

        assert_eq!(
            streak.record("down", backoff, Duration::ZERO, now),
            now + 5 * SECOND
        );
        assert_eq!(streak.in_force(now + 4 * SECOND).unwrap().error, "down");
        assert!(streak.in_force(now + 5 * SECOND).is_none());
        assert!(streak.after_failure(), "the streak outlives the pause");

        let until = streak.record("again", backoff, Duration::ZERO, now);
        assert_eq!(until, now + 10 * SECOND, "the second failure doubles");
        let until = streak.record("429", backoff, 90 * SECOND, now);
        assert_eq!(until, now + 90 * SECOND, "a longer Retry-After wins");

        streak.clear();
        assert!(streak.in_force(now).is_none() && !streak.after_failure());
    }
}
