//! The status cache: however many callers ask, Anaplan is asked at most once per key per interval.
//!
//! For each task or model the cache keeps the last answer, already serialised, so a hit is one
//! map lookup and a few reference counts, with no lock and no await. What a caller gets when the
//! answer is not fresh is decided in [`policy`]. Upstream calls run detached from any request, so
//! a caller hanging up cancels nothing; all waiters share the outcome. Failures are remembered
//! for an interval from when they arrive (longer while they repeat), so a wave of callers is not
//! a wave of upstream calls.
//!
//! The polling floor and each key's age live apart from the answers, in fixed memory (see
//! [`floor`]), so evicting an answer under memory pressure never lets its key be polled sooner
//! than it should be.

mod entry;
mod floor;
pub mod policy;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::config::{CacheLimits, PollPolicy};
use crate::ids::{ModelId, WorkspaceId};
use crate::schema::PollTimes;
use crate::upstream::{TaskLocator, UpstreamError};
use entry::{Entry, Pending};
use floor::PollFloor;
use policy::{Call, Held, Serve};

/// Finished answers and idle keys are dropped after this long unread.
const IDLE_EXPIRY: Duration = Duration::from_secs(60 * 60);
/// Memory an entry takes beyond its body (key, bookkeeping, the cache's own nodes), as measured
/// with the benchmark, so the byte bound is a bound on memory.
const ENTRY_OVERHEAD: u64 = 1536;

/// What the cache keeps answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollKey {
    /// A task or read request.
    Task(TaskLocator),
    /// A model's status.
    Model {
        /// The workspace the model lives in.
        workspace: WorkspaceId,
        /// The model.
        model: ModelId,
    },
}

/// A fresh answer from Anaplan, normalised, that the cache serialises once with its poll times.
pub trait Cacheable: Send + 'static {
    /// A finished answer never changes, and is never fetched again.
    fn is_terminal(&self) -> bool;
    /// The JSON every reader of this answer gets.
    fn into_body(self, poll: PollTimes) -> Bytes;
}

/// One answer as served: its JSON and when it was fetched and goes stale.
#[derive(Debug)]
pub struct Snapshot {
    /// The normalised JSON, serialised once.
    pub body: Bytes,
    /// When the upstream call that produced it was made: a later call's answer is newer.
    pub fetched_at: Instant,
    /// When the next upstream call is due; `None` for finished tasks, which never change.
    pub next_poll_at: Option<Instant>,
}

impl Snapshot {
    fn held(&self, now: Instant) -> Held {
        match self.next_poll_at {
            Some(due) if now >= due => Held::Stale {
                past_due: now - due,
            },
            _ => Held::Fresh,
        }
    }

    fn is_terminal(&self) -> bool {
        self.next_poll_at.is_none()
    }
}

/// How an answer was obtained, for the `Cache-Status` header and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Within its poll interval.
    Hit,
    /// Past its poll time; a refresh is under way or Anaplan is failing.
    Stale,
    /// This caller's request started the upstream call.
    Miss,
    /// This caller waited on an upstream call another caller started.
    Collapsed,
}

/// An answer and how it was obtained.
#[derive(Debug)]
pub struct Served {
    /// The answer.
    pub snapshot: Arc<Snapshot>,
    /// How it was obtained.
    pub status: CacheStatus,
}

impl Served {
    fn new(snapshot: Arc<Snapshot>, status: CacheStatus) -> Self {
        Served { snapshot, status }
    }
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct StatusCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Answers and per-key control, bounded by memory; moka is lock-free for readers.
    entries: moka::sync::Cache<PollKey, Arc<Entry>, ahash::RandomState>,
    /// The floors and ages of evicted entries that may still be in force.
    floor: Arc<PollFloor>,
    policy: PollPolicy,
    /// Pauses after failed calls, from the base interval up to the longest.
    backoff: Backoff,
}

impl StatusCache {
    /// A cache bounded by `limits` that polls as `policy` says.
    pub fn new(policy: PollPolicy, limits: CacheLimits) -> Self {
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
            inner: Arc::new(Inner {
                entries,
                floor,
                backoff: Backoff::new(policy.interval, policy.max_interval),
                policy,
            }),
        }
    }

    /// The answer for `key` if one is held and still fresh at `now`: no await, no lock.
    pub fn fresh(&self, key: &PollKey, now: Instant) -> Option<Served> {
        let snapshot = self.inner.entries.get(key)?.snapshot()?;
        (snapshot.held(now) == Held::Fresh).then(|| Served::new(snapshot, CacheStatus::Hit))
    }

    /// The answer for `key`: cached, stale while a refresh runs, or fetched with `fetch`.
    /// `fetch` is called only when this call starts a new upstream request.
    pub async fn get<A, F, Fut>(&self, key: PollKey, fetch: F) -> Result<Served, UpstreamError>
    where
        A: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<A, UpstreamError>> + Send + 'static,
    {
        let now = Instant::now();
        let entry = self.entry(key, now);
        let held_snapshot = entry.snapshot();
        let held = held_snapshot
            .as_ref()
            .map_or(Held::Nothing, |s| s.held(now));
        if held == Held::Fresh {
            return Ok(Served::new(held_snapshot.expect("held"), CacheStatus::Hit));
        }
        let fresh_enough = |s: &Snapshot| s.held(now) == Held::Fresh;
        let pending = self.inner.start_fetch(key, &entry, fetch, fresh_enough);
        let call = match &pending {
            Ok(Pending::Landed(_)) => Call::Landed,
            Ok(Pending::Joined { .. }) => Call::Joined,
            Ok(Pending::Started { after_failure, .. }) => Call::Started {
                after_failure: *after_failure,
            },
            Err(_) => Call::Paused,
        };
        let stale = || Served::new(held_snapshot.clone().expect("usable"), CacheStatus::Stale);
        match policy::decide(held, call, &self.inner.policy) {
            Serve::Stale => Ok(stale()),
            Serve::Fail | Serve::Fresh => pending?.wait().await,
            Serve::Wait { stale_on_failure } => match pending?.wait().await {
                Err(_) if stale_on_failure => Ok(stale()),
                other => other,
            },
        }
    }

    /// The answer after a change made upstream (a cancel): a finished answer held is returned as
    /// it is and `change` is not made. Otherwise `change` runs; the answer it returns is kept
    /// (unless a newer or finished one is held), and when it returns none, the status comes from
    /// an upstream call made after the change, still no sooner than the polling floor allows.
    pub async fn change<A, C, CFut, F, Fut>(
        &self,
        key: PollKey,
        change: C,
        fetch: F,
    ) -> Result<Served, UpstreamError>
    where
        A: Cacheable,
        C: FnOnce() -> CFut,
        CFut: Future<Output = Result<Option<A>, UpstreamError>>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<A, UpstreamError>> + Send + 'static,
    {
        let asked_at = Instant::now();
        let entry = self.entry(key, asked_at);
        if let Some(finished) = entry.snapshot().filter(|s| s.is_terminal()) {
            return Ok(Served::new(finished, CacheStatus::Hit));
        }
        if let Some(answer) = change().await? {
            let accepted = self.inner.accept(key, &entry, asked_at, answer);
            return Ok(Served::new(accepted, CacheStatus::Miss));
        }
        let mut fetch = Some(fetch);
        loop {
            let newer = |s: &Snapshot| s.fetched_at > asked_at;
            // Called at most once: this loop returns as soon as a call is started.
            let once = || fetch.take().expect("no call started yet")();
            match self.inner.start_fetch(key, &entry, once, newer)? {
                // A call that began before the change may answer from before it: wait it out.
                Pending::Joined { fetch, call_at } if call_at < asked_at => drop(fetch.await),
                pending => return pending.wait().await,
            }
        }
    }

    /// Number of keys held, after the cache's pending housekeeping.
    pub fn len(&self) -> u64 {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.entry_count()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, key: PollKey, now: Instant) -> Arc<Entry> {
        let floor = &self.inner.floor;
        self.inner.entries.get_with(key, || {
            // A key seen before its entry was evicted keeps its age.
            Arc::new(Entry::new(floor.first_seen(&key).unwrap_or(now)))
        })
    }
}

/// A remembered failure tells later callers how long is left, not how long it was.
fn with_remaining(error: &UpstreamError, left: Duration) -> UpstreamError {
    match error {
        UpstreamError::RateLimited { .. } => UpstreamError::RateLimited { retry_after: left },
        UpstreamError::Unavailable { .. } => UpstreamError::Unavailable { retry_after: left },
        other => other.clone(),
    }
}
