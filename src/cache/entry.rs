//! One key's entry: its answer, and the control of its upstream calls (the polling floor, the call
//! in flight, remembered failures); how a call is started, and how its outcome is stored.

use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::Utc;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use super::fleet::{self, FleetTier};
use super::floor::PollFloor;
use super::snapshot::{CacheStatus, Cacheable, PollKey, Served, Snapshot};
use crate::backoff::{Backoff, FailureStreak};
use crate::config::{CacheLimits, PollPolicy};
use crate::schema::PollTimes;
use crate::shared::{Claim, FleetKey, Lease};
use crate::upstream::UpstreamError;

/// One upstream call's outcome, shared by every caller waiting for it.
pub(super) type SharedFetch = Shared<BoxFuture<'static, Result<Fetched, UpstreamError>>>;

/// The answer a call brought, and whether another replica of the fleet fetched it.
#[derive(Clone)]
pub(super) struct Fetched {
    pub(super) snapshot: Arc<Snapshot>,
    from_fleet: bool,
}

/// A key's answer and the control of its calls.
pub(super) struct Entry {
    /// The last answer: swapped whole, so readers never lock.
    snapshot: ArcSwapOption<Snapshot>,
    /// Taken briefly to start a call or store its outcome; never across an await.
    control: Mutex<Control>,
    /// Signalled whenever a new answer is stored, for requests held until it changes.
    changes: Arc<Notify>,
}

struct Control {
    /// When the gateway first saw this key: long-running tasks are polled less often.
    first_seen: Instant,
    /// The earliest this key may be polled again; `None` until this entry has polled, when the
    /// floor of an evicted predecessor is looked up in the sketch.
    not_before: Option<Instant>,
    /// The call under way, and when it goes (or went) upstream.
    inflight: Option<(SharedFetch, Instant)>,
    failures: FailureStreak<UpstreamError>,
}

impl Entry {
    /// An empty entry for a key first seen at `first_seen`.
    pub(super) fn new(first_seen: Instant) -> Self {
        Self {
            snapshot: ArcSwapOption::empty(),
            control: Mutex::new(Control {
                first_seen,
                not_before: None,
                inflight: None,
                failures: FailureStreak::default(),
            }),
            changes: Arc::default(),
        }
    }

    /// Signalled whenever a new answer is stored.
    pub(super) fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// The answer held, if any.
    pub(super) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.load_full()
    }

    /// The size of the answer held, for the cache's weigher.
    pub(super) fn body_len(&self) -> usize {
        self.snapshot.load().as_ref().map_or(0, |s| s.body.len())
    }

    /// Records this evicted entry's floor and age in `floor`, for the key's next entry; a
    /// finished task's age is not recorded, since it is never polled again.
    pub(super) fn leave_behind<K: Hash>(&self, key: &K, floor: &PollFloor) {
        let control = self.control();
        if let Some(not_before) = control.not_before {
            floor.hold_until(key, not_before);
        }
        if !self.snapshot().is_some_and(|s| s.is_terminal()) {
            floor.seen_at(key, control.first_seen);
        }
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A call to wait on, and how this caller came by it.
pub(super) enum Pending {
    /// This caller started it; `after_failure` when the last call for the key failed.
    Started {
        fetch: SharedFetch,
        after_failure: bool,
    },
    /// Another caller started it; it goes (or went) upstream at `call_at`.
    Joined {
        fetch: SharedFetch,
        call_at: Instant,
    },
    /// An answer good enough for this caller landed while it looked.
    Landed(Arc<Snapshot>),
}

impl Pending {
    /// The call's outcome, as this caller gets it.
    pub(super) async fn wait(self) -> Result<Served, UpstreamError> {
        let (fetch, status) = match self {
            Pending::Started { fetch, .. } => (fetch, CacheStatus::Miss),
            Pending::Joined { fetch, .. } => (fetch, CacheStatus::Collapsed),
            Pending::Landed(snapshot) => return Ok(Served::new(snapshot, CacheStatus::Hit)),
        };
        let fetched = fetch.await?;
        let status = if fetched.from_fleet {
            CacheStatus::Shared
        } else {
            status
        };
        Ok(Served::new(fetched.snapshot, status))
    }
}

/// Finished answers and idle keys are dropped after this long unread.
const IDLE_EXPIRY: Duration = Duration::from_secs(60 * 60);
/// Memory an entry takes beyond its body (key, bookkeeping, the cache's own nodes), as measured
/// with the benchmark, so the byte bound is a bound on memory.
const ENTRY_OVERHEAD: u64 = 1536;

/// Every key's entry, and how their calls are paced: what [`StatusCache`](super::StatusCache)
/// shares between its clones.
pub(super) struct Keys {
    /// Answers and per-key control, bounded by memory; moka is lock-free for readers.
    pub(super) entries: moka::sync::Cache<PollKey, Arc<Entry>, ahash::RandomState>,
    /// The floors and ages of evicted entries that may still be in force.
    floor: Arc<PollFloor>,
    pub(super) policy: PollPolicy,
    /// Pauses after failed calls, from the base interval up to the longest.
    backoff: Backoff,
    /// The fleet's shared tier, when replicas share Redis.
    fleet: Option<FleetTier>,
}

impl Keys {
    /// A cache bounded by `limits` that polls as `policy` says.
    pub(super) fn new(policy: PollPolicy, limits: CacheLimits, fleet: Option<FleetTier>) -> Self {
        // Weighing each entry at least max_bytes / max_entries bounds the count and the bytes
        // with one capacity.
        let least_weight = (limits.max_bytes / limits.max_entries).max(1);
        let floor = Arc::new(PollFloor::new(limits.max_entries));
        let evicted_floor = floor.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(limits.max_bytes)
            .weigher(move |_key, entry: &Arc<Entry>| {
                let body = entry.body_len() as u64;
                u32::try_from((body + ENTRY_OVERHEAD).max(least_weight)).unwrap_or(u32::MAX)
            })
            .time_to_idle(IDLE_EXPIRY)
            // Least recently used goes first; a new key is never refused.
            .eviction_listener(move |key: Arc<PollKey>, entry: Arc<Entry>, cause| {
                // An evicted entry leaves its floor and age behind. Never called while this
                // module holds an entry's lock: no cache call is made under one.
                if cause.was_evicted() {
                    entry.leave_behind(&*key, &evicted_floor);
                }
            })
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            // Keys come from callers: a fast hash that still resists chosen collisions.
            .build_with_hasher(ahash::RandomState::new());
        Self {
            entries,
            floor,
            backoff: Backoff::new(policy.interval, policy.max_interval),
            policy,
            fleet,
        }
    }

    /// The entry for `key`, made if there is none.
    pub(super) fn entry(&self, key: PollKey, now: Instant) -> Arc<Entry> {
        let floor = &self.floor;
        self.entries.get_with(key, || {
            // A key seen before its entry was evicted keeps its age.
            let recent = self.policy.max_interval;
            Arc::new(Entry::new(
                floor.recent_first_seen(&key, now, recent).unwrap_or(now),
            ))
        })
    }

    /// Joins the call under way for `key`, or starts one no sooner than the floor allows; a
    /// remembered failure is returned instead while it lasts, and an answer that `good_enough`
    /// accepts (one that landed since the caller looked) is returned as it is.
    pub(super) fn start_fetch<A, F, Fut>(
        self: &Arc<Self>,
        key: PollKey,
        entry: &Arc<Entry>,
        fetch: F,
        good_enough: impl Fn(&Snapshot) -> bool,
    ) -> Result<Pending, UpstreamError>
    where
        A: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<A, UpstreamError>> + Send + 'static,
    {
        let mut control = entry.control();
        let now = Instant::now();
        // Answers are stored under this lock: re-check so a call that just landed is used.
        if let Some(snapshot) = entry.snapshot().filter(|s| good_enough(s)) {
            return Ok(Pending::Landed(snapshot));
        }
        if let Some((fetch, call_at)) = &control.inflight {
            let (fetch, call_at) = (fetch.clone(), *call_at);
            return Ok(Pending::Joined { fetch, call_at });
        }
        if let Some(failure) = control.failures.in_force(now) {
            return Err(failure.error.with_remaining(failure.until - now));
        }
        // This entry's own floor, or for a new entry whatever an evicted one left behind (never
        // more than the longest interval ahead). Claimed now, so a call started meanwhile for
        // the same key waits its turn.
        let not_before = control
            .not_before
            .unwrap_or_else(|| self.floor.not_before(&key))
            .min(now + self.policy.max_interval);
        let call_at = not_before.max(now);
        control.not_before = Some(call_at + self.policy.interval);
        let after_failure = control.failures.after_failure();
        let fetch = self.spawn_call(key, entry, call_at, fetch());
        control.inflight = Some((fetch.clone(), call_at));
        Ok(Pending::Started {
            fetch,
            after_failure,
        })
    }

    /// Runs `upstream` at `call_at`, detached from any caller, and stores its outcome; callers
    /// share the returned future. In a fleet, the key's floor is taken first: a replica that
    /// does not get it serves what the holder's poll brought instead of calling Anaplan.
    fn spawn_call<A: Cacheable>(
        self: &Arc<Self>,
        key: PollKey,
        entry: &Arc<Entry>,
        call_at: Instant,
        upstream: impl Future<Output = Result<A, UpstreamError>> + Send + 'static,
    ) -> SharedFetch {
        let upstream = AssertUnwindSafe(upstream).catch_unwind();
        let (inner, entry) = (self.clone(), entry.clone());
        let task = tokio::spawn(
            async move {
                // A timer rounds up to the next millisecond: a call due now does not wait for one.
                if call_at > Instant::now() {
                    tokio::time::sleep_until(call_at).await;
                }
                let fleet_claim = match &inner.fleet {
                    Some(fleet) => {
                        let fleet_key = fleet.key(&key);
                        match fleet.claim(&fleet_key).await {
                            Claim::Poll(lease) => Some((fleet_key, lease)),
                            Claim::Answer(answer, fresh_for) => {
                                let answer = fleet::from_shared(answer, fresh_for, Instant::now());
                                return Ok(inner.complete_from_fleet(key, &entry, answer));
                            }
                            Claim::Failure(failure, pause) => {
                                let error = fleet::failure_from(&failure);
                                return Err(inner.fail_from_fleet(&entry, error, pause));
                            }
                        }
                    }
                    None => None,
                };
                let called_at = Instant::now();
                let result = upstream.await.unwrap_or_else(|_| {
                    tracing::error!("a status fetch panicked");
                    Err(UpstreamError::BadBody(
                        "the answer could not be processed".into(),
                    ))
                });
                inner.complete(key, &entry, called_at, result, fleet_claim)
            }
            // The upstream call logs under the request that started it.
            .in_current_span(),
        );
        async move {
            task.await.unwrap_or_else(|_| {
                Err(UpstreamError::Unreachable("the gateway is stopping".into()))
            })
        }
        .boxed()
        .shared()
    }

    /// Stores a call's outcome: the answer, or the failure and its pause; in a fleet, shares
    /// it under `fleet_claim`'s key (with the floor's lease when this replica holds it).
    fn complete<A: Cacheable>(
        &self,
        key: PollKey,
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
    fn complete_from_fleet(&self, key: PollKey, entry: &Arc<Entry>, answer: Snapshot) -> Fetched {
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
    fn fail_from_fleet(
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
        key: PollKey,
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
        key: PollKey,
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
        key: PollKey,
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
    fn reweigh(&self, key: PollKey, entry: &Arc<Entry>) {
        let current = self.entries.get(&key);
        if current.is_none_or(|current| Arc::ptr_eq(&current, entry)) {
            self.entries.insert(key, entry.clone());
        }
    }

    /// The poll interval for a key whose task has been running for `age`: the greater of the
    /// base interval and a tenth of the age, capped at the maximum. Models and task lists use the
    /// base.
    fn interval(&self, key: PollKey, age: std::time::Duration) -> std::time::Duration {
        match key {
            PollKey::Model { .. } | PollKey::Tasks { .. } => self.policy.interval,
            PollKey::Task(_) => (age / 10).clamp(self.policy.interval, self.policy.max_interval),
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
