//! How a call's outcome is kept: an answer stored (unless a newer or finished one is held) with its
//! poll times, or a failure remembered for its pause; in a fleet, shared with the other replicas.

use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::entry::{Control, Entry, Fetched, IDLE_EXPIRY, Keys};
use super::snapshot::{Cacheable, Snapshot};
use crate::address::Address;
use crate::backoff::Backoff;
use crate::schema::PollTimes;
use crate::shared::{FleetKey, Lease};
use crate::upstream::UpstreamError;

impl Keys {
    /// Stores a call's outcome: the answer, or the failure and its pause; in a fleet, shares
    /// it under `fleet_claim`'s key (with the floor's lease when this replica holds it).
    pub(super) fn complete<A: Cacheable>(
        &self,
        key: Address,
        entry: &Arc<Entry>,
        called_at: Instant,
        result: Result<A, UpstreamError>,
        fleet_claim: Option<(FleetKey, Option<Lease>)>,
    ) -> Result<Fetched, UpstreamError> {
        let mut control = entry.control();
        control.inflight = None;
        let sharing = self.fleet.as_ref().zip(fleet_claim);
        match result {
            Ok(answer) => {
                let answered = self.polled(key, &control, called_at, answer);
                let (_, held) = self.store(key, entry, control, answered);
                if let Some((fleet, (fleet_key, lease))) = sharing {
                    fleet.share(&fleet_key, lease, &held, IDLE_EXPIRY);
                }
                Ok(Fetched {
                    snapshot: held,
                    from_fleet: false,
                })
            }
            Err(error) => {
                // Paused from when the failure came (a timeout comes late), for at least a
                // 429's or 503's Retry-After; waiters learn how long the pause is.
                let now = Instant::now();
                let at_least = error.asked_pause();
                let until = control
                    .failures
                    .record(error.clone(), self.backoff, at_least, now);
                control.not_before = control.not_before.max(Some(until));
                drop(control);
                if let Some((fleet, (fleet_key, lease))) = sharing {
                    fleet.share_failure(&fleet_key, lease, &error, until - now);
                }
                Err(error.with_remaining(until - now))
            }
        }
    }

    /// Keeps an answer another replica fetched, as if this one had polled.
    pub(super) fn complete_from_fleet(
        &self,
        key: Address,
        entry: &Arc<Entry>,
        answer: Snapshot,
    ) -> Fetched {
        let mut control = entry.control();
        control.inflight = None;
        // This replica did not poll: its next turn comes when the fleet's floor lapses, not an
        // interval after this look.
        if answer.next_poll_at.is_some() {
            control.not_before = answer.next_poll_at;
        }
        let (_, held) = self.store(key, entry, control, Arc::new(answer));
        Fetched {
            snapshot: held,
            from_fleet: true,
        }
    }

    /// Remembers a failure another replica met, for what is left of its pause.
    pub(super) fn fail_from_fleet(
        &self,
        entry: &Arc<Entry>,
        error: UpstreamError,
        pause: Duration,
    ) -> UpstreamError {
        let mut control = entry.control();
        control.inflight = None;
        let now = Instant::now();
        let fixed = Backoff::new(pause, pause);
        let until = control.failures.record(error.clone(), fixed, pause, now);
        // As for an answer: the fleet's pause, not an interval after this look.
        control.not_before = Some(until);
        error.with_remaining(until - now)
    }

    /// Keeps an answer obtained outside polling (a cancel's), as if polled at `called_at`;
    /// returns it as it came, since its caller asked for it.
    pub(super) fn accept<A: Cacheable>(
        &self,
        key: Address,
        entry: &Arc<Entry>,
        called_at: Instant,
        answer: A,
    ) -> Arc<Snapshot> {
        let control = entry.control();
        let answered = self.polled(key, &control, called_at, answer);
        let (answered, held) = self.store(key, entry, control, answered);
        // The other replicas learn of the change too, rather than at their next poll.
        if let Some(fleet) = &self.fleet {
            fleet.share(&fleet.key(&key), None, &held, IDLE_EXPIRY);
        }
        answered
    }

    /// An answer polled at `called_at`, serialised with its poll times.
    fn polled<A: Cacheable>(
        &self,
        key: Address,
        control: &Control,
        called_at: Instant,
        answer: A,
    ) -> Arc<Snapshot> {
        let next_poll_at = (!answer.is_terminal()).then(|| {
            called_at + self.interval(key, called_at.saturating_duration_since(control.first_seen))
        });
        Arc::new(Snapshot {
            etag: answer.etag(),
            body: answer.into_body(poll_times(called_at, next_poll_at)),
            fetched_at: called_at,
            next_poll_at,
        })
    }

    /// Stores an answer unless a newer or finished one is already held; returns the answer as
    /// it came and the one held now.
    fn store(
        &self,
        key: Address,
        entry: &Arc<Entry>,
        mut control: MutexGuard<'_, Control>,
        answered: Arc<Snapshot>,
    ) -> (Arc<Snapshot>, Arc<Snapshot>) {
        control.failures.clear();
        if let Some(held) = entry.snapshot()
            && (held.fetched_at > answered.fetched_at || held.is_terminal())
        {
            return (answered, held);
        }
        if let Some(due) = answered.next_poll_at {
            control.not_before = control.not_before.max(Some(due));
        }
        entry.snapshot.store(Some(answered.clone()));
        entry.changes.notify_waiters();
        // No cache call under the entry's lock: the cache may run its eviction listener, which
        // locks entries.
        drop(control);
        self.reweigh(key, entry);
        (answered.clone(), answered)
    }

    /// After a new answer is stored, re-inserts the entry so the cache weighs it by its body;
    /// never over a newer entry made for the key after this one was evicted.
    fn reweigh(&self, key: Address, entry: &Arc<Entry>) {
        let current = self.entries.get(&key);
        if current.is_none_or(|current| Arc::ptr_eq(&current, entry)) {
            self.entries.insert(key, entry.clone());
        }
    }

    /// The poll interval for a key whose task has been running for `age`: the greater of the
    /// base interval and a tenth of the age, capped at the maximum. Models and task lists use the
    /// base.
    fn interval(&self, key: Address, age: std::time::Duration) -> std::time::Duration {
        match key {
            Address::Model(_) | Address::Tasks(_) => self.policy.interval,
            Address::Task(_) => (age / 10).clamp(self.policy.interval, self.policy.max_interval),
        }
    }
}

/// The wall-clock times callers see: `fetchedAt` (and `Age`) count from when Anaplan was asked.
fn poll_times(called_at: Instant, next_poll_at: Option<Instant>) -> PollTimes {
    let since_called = Instant::now().saturating_duration_since(called_at);
    let asked_wall = Utc::now() - chrono::Duration::from_std(since_called).unwrap_or_default();
    PollTimes {
        fetched_at: asked_wall,
        next_poll_at: next_poll_at.map(|due| {
            let interval = due.saturating_duration_since(called_at);
            asked_wall + chrono::Duration::from_std(interval).unwrap_or_default()
        }),
    }
}
