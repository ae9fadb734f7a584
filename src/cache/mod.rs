//! The status cache: however many callers ask, Anaplan is asked at most once per key per interval.
//!
//! For each task or model the cache keeps the last answer, already serialised, so a hit is one
//! map lookup and a few reference counts, with no lock and no await. When an answer's poll time has
//! passed, the next caller starts one refresh and every caller meanwhile gets the last answer,
//! marked stale; for a key nobody asked about for longer than an interval, callers wait for the
//! new answer instead, and get the old one only if Anaplan fails. The refresh runs detached from
//! any request, so a caller hanging up cancels nothing; all waiters share its outcome. Failures are
//! remembered for an interval from when they arrive (longer while they repeat), so a wave of
//! callers is not a wave of upstream calls.
//!
//! The polling floor lives apart from the answers, in fixed memory (see [`floor`]), so evicting
//! an answer under memory pressure never lets its key be polled sooner than it should be.

mod floor;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use chrono::Utc;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::panic::AssertUnwindSafe;
use tokio::time::Instant;

use crate::config::{CacheLimits, PollPolicy};
use crate::ids::{ModelId, WorkspaceId};
use crate::schema::{ModelStatus, PollTimes, Task};
use crate::upstream::{TaskLocator, UpstreamError};
use floor::PollFloor;
use tracing::Instrument;

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

/// A fresh answer from Anaplan, normalised and not yet serialised.
#[derive(Debug)]
pub enum Answer {
    /// A task's status.
    Task(Box<Task>),
    /// A model's status.
    Model(Box<ModelStatus>),
}

impl Answer {
    fn is_terminal(&self) -> bool {
        matches!(self, Answer::Task(task) if task.terminal)
    }

    /// Serialises once, with the poll times every reader of this answer will see.
    fn into_body(self, poll: PollTimes) -> Bytes {
        let body = match self {
            Answer::Task(mut task) => {
                task.poll = poll;
                serde_json::to_vec(&task)
            }
            Answer::Model(mut status) => {
                status.poll = poll;
                serde_json::to_vec(&status)
            }
        };
        Bytes::from(body.expect("the schema serialises infallibly"))
    }
}

/// One answer as served: its JSON and when it was fetched and goes stale.
#[derive(Debug)]
pub struct Snapshot {
    /// The normalised JSON, serialised once.
    pub body: Bytes,
    /// When the upstream call that produced it was made: a later call's answer is newer.
    pub called_at: Instant,
    /// When the answer arrived.
    pub fetched_at: Instant,
    /// When the next upstream call is due; `None` for finished tasks, which never change.
    pub next_poll_at: Option<Instant>,
}

impl Snapshot {
    fn is_fresh(&self, now: Instant) -> bool {
        self.next_poll_at.is_none_or(|due| now < due)
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
    fn hit(snapshot: Arc<Snapshot>) -> Self {
        Served {
            snapshot,
            status: CacheStatus::Hit,
        }
    }
}

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Snapshot>, UpstreamError>>>;

/// A failure remembered so callers get it without another upstream call.
struct Failure {
    error: UpstreamError,
    until: Instant,
}

struct Control {
    /// When the gateway first saw this key: long-running tasks are polled less often.
    first_seen: Instant,
    /// The earliest this key may be polled again; `None` until this entry has polled, when the
    /// floor of an evicted predecessor is looked up in the sketch.
    not_before: Option<Instant>,
    inflight: Option<SharedFetch>,
    failure: Option<Failure>,
    consecutive_failures: u32,
}

struct Entry {
    snapshot: ArcSwapOption<Snapshot>,
    control: Mutex<Control>,
}

impl Entry {
    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct StatusCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: moka::sync::Cache<PollKey, Arc<Entry>, ahash::RandomState>,
    /// The floors of evicted entries that may still be in force.
    floor: Arc<PollFloor>,
    policy: PollPolicy,
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
                let body = entry
                    .snapshot
                    .load()
                    .as_ref()
                    .map_or(0, |s| s.body.len() as u64);
                u32::try_from((body + ENTRY_OVERHEAD).max(least_weight)).unwrap_or(u32::MAX)
            })
            .time_to_idle(IDLE_EXPIRY)
            // Least recently used goes first; a new key is never refused.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            // An evicted entry leaves its floor behind, so its key is not polled too soon.
            .eviction_listener(move |key: Arc<PollKey>, entry: Arc<Entry>, cause| {
                // Never called while this module holds an entry's lock: no cache call is made
                // under one.
                if cause.was_evicted()
                    && let Some(not_before) = entry.control().not_before
                {
                    evicted_floor.hold_until(&*key, not_before);
                }
            })
            // Keys come from callers: a fast hash that still resists chosen collisions.
            .build_with_hasher(ahash::RandomState::new());
        Self {
            inner: Arc::new(Inner {
                entries,
                floor,
                policy,
            }),
        }
    }

    /// The answer for `key`: cached, stale while a refresh runs, or fetched with `fetch`.
    /// `fetch` is called only when this call starts a new upstream request.
    pub async fn get<F, Fut>(&self, key: PollKey, fetch: F) -> Result<Served, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, UpstreamError>> + Send + 'static,
    {
        let now = Instant::now();
        let entry = self.entry(key, now);
        let fresh = |s: &Snapshot| s.is_fresh(now);
        let Some(snapshot) = entry.snapshot.load_full() else {
            return self.start_fetch(key, &entry, fetch, fresh)?.wait().await;
        };
        if snapshot.is_fresh(now) {
            return Ok(Served::hit(snapshot));
        }
        let pending = self.start_fetch(key, &entry, fetch, fresh);
        let stale_for = snapshot
            .next_poll_at
            .map_or(Duration::ZERO, |due| now.saturating_duration_since(due));
        let usable = stale_for <= self.inner.policy.max_stale;
        let stale = Served {
            snapshot,
            status: CacheStatus::Stale,
        };
        // The last answer at once while a refresh runs: for callers joining one, and for the
        // one starting it while Anaplan fails or the key is being polled. Only the first caller
        // after a quiet spell waits, so an occasional caller is not handed old news.
        match pending {
            Ok(Pending::Ready(snapshot)) => Ok(Served::hit(snapshot)),
            Ok(Pending::Joined(_)) if usable => Ok(stale),
            Ok(Pending::Started { after_failure, .. })
                if usable && (after_failure || stale_for <= self.inner.policy.interval) =>
            {
                Ok(stale)
            }
            Err(_) if usable => Ok(stale),
            Err(remembered) => Err(remembered),
            // While Anaplan fails, the last answer stands in until it is too old.
            Ok(pending) => match pending.wait().await {
                Err(_) if usable => Ok(stale),
                other => other,
            },
        }
    }

    /// The answer for `key` if one is held and still fresh at `now`: no await, no lock.
    pub fn fresh(&self, key: &PollKey, now: Instant) -> Option<Served> {
        let snapshot = self.inner.entries.get(key)?.snapshot.load_full()?;
        snapshot.is_fresh(now).then(|| Served::hit(snapshot))
    }

    /// An answer from an upstream call made after this call began (a cancel's follow-up):
    /// joins a fetch under way or starts one, still no sooner than the polling floor allows.
    pub async fn refresh<F, Fut>(&self, key: PollKey, fetch: F) -> Result<Served, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, UpstreamError>> + Send + 'static,
    {
        let asked_at = Instant::now();
        let entry = self.entry(key, asked_at);
        self.start_fetch(key, &entry, fetch, |s| s.called_at > asked_at)?
            .wait()
            .await
    }

    /// Keeps an answer obtained outside polling (a cancel's), as if polled at `called_at`, unless
    /// a newer or finished one is held; returns this answer either way, since its caller asked
    /// for it.
    pub fn store(&self, key: PollKey, answer: Answer, called_at: Instant) -> Arc<Snapshot> {
        let entry = self.entry(key, called_at);
        let accepted = self
            .inner
            .accept(&entry, &mut entry.control(), key, called_at, answer);
        self.inner.reweigh(key, &entry, &accepted);
        accepted.answered
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
        self.inner.entries.get_with(key, || {
            Arc::new(Entry {
                snapshot: ArcSwapOption::empty(),
                control: Mutex::new(Control {
                    first_seen: now,
                    not_before: None,
                    inflight: None,
                    failure: None,
                    consecutive_failures: 0,
                }),
            })
        })
    }

    /// Joins the fetch under way for `key`, or starts one no sooner than the floor allows; a
    /// remembered failure is returned instead while it lasts, and an answer that `good_enough`
    /// accepts (one that landed since the caller looked) is returned as it is.
    fn start_fetch<F, Fut>(
        &self,
        key: PollKey,
        entry: &Arc<Entry>,
        fetch: F,
        good_enough: impl Fn(&Snapshot) -> bool,
    ) -> Result<Pending, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, UpstreamError>> + Send + 'static,
    {
        let mut control = entry.control();
        let now = Instant::now();
        // Answers are stored under this lock: re-check so a refresh that just landed is used.
        if let Some(snapshot) = entry.snapshot.load_full().filter(|s| good_enough(s)) {
            return Ok(Pending::Ready(snapshot));
        }
        if let Some(pending) = &control.inflight {
            return Ok(Pending::Joined(pending.clone()));
        }
        if let Some(failure) = control.failure.as_ref().filter(|f| now < f.until) {
            return Err(with_remaining(&failure.error, failure.until - now));
        }
        // This entry's own floor, or for a new entry whatever an evicted one left behind (never
        // more than the longest interval ahead). Claimed now, so a fetch started meanwhile for
        // the same key waits its turn.
        let not_before = control
            .not_before
            .unwrap_or_else(|| self.inner.floor.not_before(&key))
            .min(now + self.inner.policy.max_interval);
        let call_at = not_before.max(now);
        control.not_before = Some(call_at + self.inner.policy.interval);
        let after_failure = control.consecutive_failures > 0;
        let upstream = AssertUnwindSafe(fetch()).catch_unwind();
        let inner = self.inner.clone();
        let entry_for_task = entry.clone();
        let task = tokio::spawn(
            async move {
                tokio::time::sleep_until(call_at).await;
                let called_at = Instant::now();
                let result = upstream.await.unwrap_or_else(|_| {
                    tracing::error!("a status fetch panicked");
                    Err(UpstreamError::BadBody(
                        "the answer could not be processed".into(),
                    ))
                });
                inner.complete(key, &entry_for_task, called_at, result)
            }
            // The upstream call logs under the request that started it.
            .in_current_span(),
        );
        let pending = async move {
            task.await.unwrap_or_else(|_| {
                Err(UpstreamError::Unreachable("the gateway is stopping".into()))
            })
        }
        .boxed()
        .shared();
        control.inflight = Some(pending.clone());
        Ok(Pending::Started {
            fetch: pending,
            after_failure,
        })
    }
}

/// A fetch to wait on, and how this caller came by it.
enum Pending {
    /// This caller started it; `after_failure` when the last call for the key failed.
    Started {
        /// The fetch.
        fetch: SharedFetch,
        /// Whether the key's last upstream call failed.
        after_failure: bool,
    },
    /// Another caller started it.
    Joined(SharedFetch),
    /// An answer landed while this caller looked.
    Ready(Arc<Snapshot>),
}

impl Pending {
    async fn wait(self) -> Result<Served, UpstreamError> {
        let (fetch, status) = match self {
            Pending::Started { fetch, .. } => (fetch, CacheStatus::Miss),
            Pending::Joined(fetch) => (fetch, CacheStatus::Collapsed),
            Pending::Ready(snapshot) => return Ok(Served::hit(snapshot)),
        };
        Ok(Served {
            snapshot: fetch.await?,
            status,
        })
    }
}

/// What `accept` made of an answer.
struct Accepted {
    /// The answer as it came.
    answered: Arc<Snapshot>,
    /// The answer the cache holds now: this one, or a newer or finished one kept instead.
    held: Arc<Snapshot>,
}

/// A remembered 429 tells later callers how long is left, not how long it was.
fn with_remaining(error: &UpstreamError, left: Duration) -> UpstreamError {
    match error {
        UpstreamError::RateLimited { .. } => UpstreamError::RateLimited { retry_after: left },
        other => other.clone(),
    }
}

impl Inner {
    fn complete(
        &self,
        key: PollKey,
        entry: &Arc<Entry>,
        called_at: Instant,
        result: Result<Answer, UpstreamError>,
    ) -> Result<Arc<Snapshot>, UpstreamError> {
        let mut control = entry.control();
        control.inflight = None;
        match result {
            Ok(answer) => {
                let accepted = self.accept(entry, &mut control, key, called_at, answer);
                drop(control);
                self.reweigh(key, entry, &accepted);
                Ok(accepted.held)
            }
            Err(error) => {
                control.consecutive_failures = control.consecutive_failures.saturating_add(1);
                // Each failure in a row doubles the pause, up to the longest poll interval,
                // counted from when the failure came (a timeout comes late).
                let doubling = 2u32.saturating_pow(control.consecutive_failures - 1);
                let mut pause = self
                    .policy
                    .interval
                    .saturating_mul(doubling)
                    .min(self.policy.max_interval);
                if let UpstreamError::RateLimited { retry_after } = &error {
                    pause = pause.max(*retry_after);
                }
                let until = Instant::now() + pause;
                control.not_before = control.not_before.max(Some(until));
                control.failure = Some(Failure {
                    error: error.clone(),
                    until,
                });
                Err(error)
            }
        }
    }

    /// Stores an answer unless a newer or finished one is already held. Called under the entry's
    /// lock, so it makes no cache call: the cache may run its eviction listener, which locks entries.
    fn accept(
        &self,
        entry: &Entry,
        control: &mut Control,
        key: PollKey,
        called_at: Instant,
        answer: Answer,
    ) -> Accepted {
        control.failure = None;
        control.consecutive_failures = 0;
        let now = Instant::now();
        let next_poll_at = (!answer.is_terminal()).then(|| {
            called_at + self.interval(key, called_at.saturating_duration_since(control.first_seen))
        });
        // `fetchedAt` and `Age` count from when Anaplan was asked.
        let asked_wall = Utc::now()
            - chrono::Duration::from_std(now.saturating_duration_since(called_at))
                .unwrap_or_default();
        let poll = PollTimes {
            fetched_at: asked_wall,
            next_poll_at: next_poll_at.map(|due| {
                let interval = due.saturating_duration_since(called_at);
                asked_wall + chrono::Duration::from_std(interval).unwrap_or_default()
            }),
        };
        let answered = Arc::new(Snapshot {
            body: answer.into_body(poll),
            called_at,
            fetched_at: called_at,
            next_poll_at,
        });
        if let Some(held) = entry.snapshot.load_full()
            && (held.called_at > called_at || held.is_terminal())
        {
            return Accepted { answered, held };
        }
        if let Some(due) = next_poll_at {
            control.not_before = control.not_before.max(Some(due));
        }
        entry.snapshot.store(Some(answered.clone()));
        Accepted {
            held: answered.clone(),
            answered,
        }
    }

    /// After a new answer is stored, re-inserts the entry so the cache weighs it by its body;
    /// never over a newer entry made for the key after this one was evicted.
    fn reweigh(&self, key: PollKey, entry: &Arc<Entry>, accepted: &Accepted) {
        let stored = Arc::ptr_eq(&accepted.held, &accepted.answered);
        if stored
            && self
                .entries
                .get(&key)
                .is_none_or(|current| Arc::ptr_eq(&current, entry))
        {
            self.entries.insert(key, entry.clone());
        }
    }

    /// The poll interval for a key whose task has been running for `age`: the greater of the
    /// base interval and a tenth of the age, capped at the maximum. Models use the base.
    fn interval(&self, key: PollKey, age: Duration) -> Duration {
        match key {
            PollKey::Model { .. } => self.policy.interval,
            PollKey::Task(_) => (age / 10).clamp(self.policy.interval, self.policy.max_interval),
        }
    }
}
