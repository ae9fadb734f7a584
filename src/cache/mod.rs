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
mod fleet;
mod floor;
mod outcome;
pub mod policy;
mod snapshot;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::address::Address;
use crate::config::{CacheLimits, PollPolicy};
use crate::shared::SharedState;
use crate::upstream::{UpstreamError, Urgency};
use entry::{Keys, Pending};
use fleet::FleetTier;
use policy::{Call, Held, Serve};
pub use snapshot::{CacheStatus, Cacheable, Served, Snapshot};

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct StatusCache {
    keys: Arc<Keys>,
}

impl StatusCache {
    /// A cache bounded by `limits` that polls as `policy` says.
    pub fn new(policy: PollPolicy, limits: CacheLimits) -> Self {
        Self {
            keys: Arc::new(Keys::new(policy, limits, None)),
        }
    }

    /// A cache whose answers, floors and failures are shared with a fleet of replicas through
    /// `state`, for upstream calls that take up to `upstream_timeout`.
    pub fn shared(
        policy: PollPolicy,
        limits: CacheLimits,
        state: Arc<SharedState>,
        upstream_timeout: Duration,
    ) -> Self {
        let fleet = FleetTier::new(state, policy.interval, upstream_timeout);
        Self {
            keys: Arc::new(Keys::new(policy, limits, Some(fleet))),
        }
    }

    /// The answer for `key` if one is held and still fresh at `now`: no await, no lock.
    pub fn fresh(&self, key: &Address, now: Instant) -> Option<Served> {
        let snapshot = self.keys.entries.get(key)?.snapshot()?;
        (snapshot.held(now) == Held::Fresh).then(|| Served::new(snapshot, CacheStatus::Hit))
    }

    /// Whether anything is held for `key`: an answer, a call under way or a failure remembered.
    pub fn holds(&self, key: &Address) -> bool {
        self.keys.entries.contains_key(key)
    }

    /// The answer for `key`: cached, stale while a refresh runs, or fetched with `fetch`.
    /// `fetch` is called only when this call starts a new upstream request, with the urgency of
    /// that request: a refresh (its callers are served the held answer meanwhile) or a caller's.
    pub async fn get<A, F, Fut>(&self, key: Address, fetch: F) -> Result<Served, UpstreamError>
    where
        A: Cacheable,
        F: FnOnce(Urgency) -> Fut,
        Fut: Future<Output = Result<A, UpstreamError>> + Send + 'static,
    {
        let now = Instant::now();
        let entry = self.keys.entry(key, now);
        let held_snapshot = entry.snapshot();
        let held = held_snapshot
            .as_ref()
            .map_or(Held::Nothing, |s| s.held(now));
        if held == Held::Fresh {
            return Ok(Served::new(held_snapshot.expect("held"), CacheStatus::Hit));
        }
        let fresh_enough = |s: &Snapshot| s.held(now) == Held::Fresh;
        // A call whose caller is served the held answer meanwhile is a refresh: callers with no
        // answer go first.
        let urgency = if policy::only_refreshes(held, &self.keys.policy) {
            Urgency::Refresh
        } else {
            Urgency::Caller
        };
        let fetch = move || fetch(urgency);
        let pending = self.keys.start_fetch(key, &entry, fetch, fresh_enough);
        let call = match &pending {
            Ok(Pending::Landed(_)) => Call::Landed,
            Ok(Pending::Joined { .. }) => Call::Joined,
            Ok(Pending::Started { after_failure, .. }) => Call::Started {
                after_failure: *after_failure,
            },
            Err(_) => Call::Paused,
        };
        let stale = || Served::new(held_snapshot.clone().expect("usable"), CacheStatus::Stale);
        match policy::decide(held, call, &self.keys.policy) {
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
    /// an upstream call made after the change, still no sooner than the polling floor allows: a
    /// caller's, since the caller waits for it.
    pub async fn change<A, C, CFut, F, Fut>(
        &self,
        key: Address,
        change: C,
        fetch: F,
    ) -> Result<Served, UpstreamError>
    where
        A: Cacheable,
        C: FnOnce() -> CFut,
        CFut: Future<Output = Result<Option<A>, UpstreamError>>,
        F: FnOnce(Urgency) -> Fut,
        Fut: Future<Output = Result<A, UpstreamError>> + Send + 'static,
    {
        let asked_at = Instant::now();
        let entry = self.keys.entry(key, asked_at);
        if let Some(finished) = entry.snapshot().filter(|s| s.is_terminal()) {
            return Ok(Served::new(finished, CacheStatus::Hit));
        }
        if let Some(answer) = change().await? {
            let accepted = self.keys.accept(key, &entry, asked_at, answer);
            return Ok(Served::new(accepted, CacheStatus::Miss));
        }
        let mut fetch = Some(fetch);
        loop {
            let newer = |s: &Snapshot| s.fetched_at > asked_at;
            // Called at most once: this loop returns as soon as a call is started.
            let once = || fetch.take().expect("no call started yet")(Urgency::Caller);
            match self.keys.start_fetch(key, &entry, once, newer)? {
                // A call that began before the change may answer from before it: wait it out.
                Pending::Joined { fetch, call_at } if call_at < asked_at => drop(fetch.await),
                pending => return pending.wait().await,
            }
        }
    }

    /// Keeps an answer obtained outside polling (a start's) as `key`'s, as if polled now: a status
    /// request within the poll interval is answered from it.
    pub fn keep<A: Cacheable>(&self, key: Address, answer: A) -> Served {
        let now = Instant::now();
        let entry = self.keys.entry(key, now);
        let kept = self.keys.accept(key, &entry, now, answer);
        Served::new(kept, CacheStatus::Miss)
    }

    /// Signalled whenever a new answer for `key` is stored: what a request held until the answer
    /// changes waits on (registered before it looks, so no answer slips between).
    pub fn changes(&self, key: Address) -> Arc<tokio::sync::Notify> {
        self.keys.entry(key, Instant::now()).changes()
    }

    /// Number of keys held, after the cache's pending housekeeping.
    pub fn len(&self) -> u64 {
        self.keys.entries.run_pending_tasks();
        self.keys.entries.entry_count()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
