//! One key's entry: its answer, and the control of its upstream calls (the polling floor, the call
//! in flight, remembered failures); how a call is started, and how its outcome is stored.

use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use super::fleet::{self, FleetTier};
use super::floor::PollFloor;
use super::snapshot::{CacheStatus, Cacheable, Served, Snapshot};
use crate::address::Address;
use crate::backoff::{Backoff, FailureStreak};
use crate::config::{CacheLimits, PollPolicy};
use crate::shared::Claim;
use crate::spans::Joiners;
use crate::upstream::UpstreamError;

/// One upstream call's outcome, shared by every caller waiting for it.
pub(super) type SharedFetch = Shared<BoxFuture<'static, Result<Fetched, UpstreamError>>>;

/// The answer a call brought, and whether another replica of the fleet fetched it.
#[derive(Clone)]
pub(super) struct Fetched {
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) from_fleet: bool,
}

/// A key's answer and the control of its calls.
pub(super) struct Entry {
    /// The last answer: swapped whole, so readers never lock.
    pub(super) snapshot: ArcSwapOption<Snapshot>,
    /// Taken briefly to start a call or store its outcome; never across an await.
    control: Mutex<Control>,
    /// Signalled whenever a new answer is stored, for requests held until it changes.
    pub(super) changes: Arc<Notify>,
}

pub(super) struct Control {
    /// When the gateway first saw this key: long-running tasks are polled less often.
    pub(super) first_seen: Instant,
    /// The earliest this key may be polled again; `None` until this entry has polled, when the
    /// floor of an evicted predecessor is looked up in the sketch.
    pub(super) not_before: Option<Instant>,
    /// The call under way.
    pub(super) inflight: Option<InFlight>,
    pub(super) failures: FailureStreak<UpstreamError>,
}

/// A key's call under way.
pub(super) struct InFlight {
    fetch: SharedFetch,
    /// When it goes (or went) upstream.
    call_at: Instant,
    /// The callers that joined it, while spans are exported.
    joiners: Option<Joiners>,
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

    pub(super) fn control(&self) -> MutexGuard<'_, Control> {
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
pub(super) const IDLE_EXPIRY: Duration = Duration::from_secs(60 * 60);
/// Memory an entry takes beyond its body (its key, its answer's tag and wake signal, the call
/// control, the cache's own nodes, and what the allocator keeps around them), as measured with
/// `bench/run.sh maxima` (RSS rise with the cache past its bound), so the byte bound is a bound on
/// memory.
const ENTRY_OVERHEAD: u64 = 2048;

/// Every key's entry, and how their calls are paced: what [`StatusCache`](super::StatusCache)
/// shares between its clones.
pub(super) struct Keys {
    /// Answers and per-key control, bounded by memory; moka is lock-free for readers.
    pub(super) entries: moka::sync::Cache<Address, Arc<Entry>, ahash::RandomState>,
    /// The floors and ages of evicted entries that may still be in force.
    floor: Arc<PollFloor>,
    pub(super) policy: PollPolicy,
    /// Pauses after failed calls, from the base interval up to the longest.
    pub(super) backoff: Backoff,
    /// The fleet's shared tier, when replicas share Redis.
    pub(super) fleet: Option<FleetTier>,
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
            .eviction_listener(move |key: Arc<Address>, entry: Arc<Entry>, cause| {
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
    pub(super) fn entry(&self, key: Address, now: Instant) -> Arc<Entry> {
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
        key: Address,
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
        if let Some(inflight) = &control.inflight {
            if let Some(joiners) = &inflight.joiners {
                joiners.join();
            }
            let (fetch, call_at) = (inflight.fetch.clone(), inflight.call_at);
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
        let joiners = Joiners::for_a_call();
        let call = crate::spans::linking(joiners.clone(), fetch());
        let fetch = self.spawn_call(key, entry, call_at, call);
        control.inflight = Some(InFlight {
            fetch: fetch.clone(),
            call_at,
            joiners,
        });
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
        key: Address,
        entry: &Arc<Entry>,
        call_at: Instant,
        upstream: impl Future<Output = Result<A, UpstreamError>> + Send + 'static,
    ) -> SharedFetch {
        let upstream = AssertUnwindSafe(upstream).catch_unwind();
        let (inner, entry) = (self.clone(), entry.clone());
        let task = tokio::spawn(crate::trace::carried(
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
                // Boxed: the floor's renewals ride along in a fleet only, and the task of every
                // cold key stays as small as the call itself (the heap grows with that size).
                let result = match (&inner.fleet, &fleet_claim) {
                    (Some(fleet), Some((key, Some(lease)))) => {
                        Box::pin(fleet.holding_floor(key, lease, upstream)).await
                    }
                    _ => upstream.await,
                };
                let result = result.unwrap_or_else(|_| {
                    tracing::error!("a status fetch panicked");
                    Err(UpstreamError::BadBody(
                        "the answer could not be processed".into(),
                    ))
                });
                inner.complete(key, &entry, called_at, result, fleet_claim)
            }
            // The upstream call logs under the request that started it, and carries its trace.
            .in_current_span(),
        ));
        async move {
            task.await.unwrap_or_else(|_| {
                Err(UpstreamError::Unreachable("the gateway is stopping".into()))
            })
        }
        .boxed()
        .shared()
    }
}
