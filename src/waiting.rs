//! Requests held until an answer changes (`Prefer: wait=N` with `If-None-Match`), instead of
//! callers polling the gateway in a loop.
//!
//! Waiting is asking: a held request asks the cache again when the answer falls due, as a caller
//! polling would, so a task someone waits on keeps being polled at its interval, and however many
//! wait, the cache makes one upstream call per interval. When an answer is stored, every request
//! held on its key looks at once, so waiters are answered within milliseconds of the poll that
//! brought a change (in a fleet, the replica that did not poll learns it through the shared tier).
//! The number held is bounded, and on shutdown every held request is answered at once.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::address::Address;
use crate::cache::{Served, Snapshot, StatusCache};
use crate::config::WaitLimits;
use crate::upstream::UpstreamError;

/// How a caller asked to wait: while `unchanged` holds for the answer, for at most `wait`.
pub struct WaitFor<'a> {
    /// The wait the caller asked for; capped at `GATEWAY_MAX_WAIT`.
    pub wait: Duration,
    /// Whether an answer is still the one the caller has (its `If-None-Match` names it).
    pub unchanged: &'a (dyn Fn(&Snapshot) -> bool + Sync),
}

/// The answer a held request gets, and the wait applied (`None`: not held, too many were).
pub type Waited = (Served, Option<Duration>);

/// How a batch asked to wait: while `unchanged` holds for every item's answer (by its index),
/// for at most `wait`.
pub struct WaitForAny<'a> {
    /// The wait the caller asked for; capped at `GATEWAY_MAX_WAIT`.
    pub wait: Duration,
    /// Whether the item's answer is still the one the caller has (its `ifNoneMatch` names it).
    pub unchanged: &'a (dyn Fn(usize, &Snapshot) -> bool + Sync),
}

/// The answers a held batch gets, each item's own, and the wait applied (`None`: not held).
pub type WaitedAll = (Vec<Result<Served, UpstreamError>>, Option<Duration>);

/// The bounds on held requests, and the signal that ends them all.
pub struct Waiting {
    max_wait: Duration,
    /// One permit per request that may be held at once.
    held: Semaphore,
    /// How long a request holding a stale answer (a refresh under way, or Anaplan failing) waits
    /// before it asks again, when no new answer lands first.
    recheck: Duration,
    /// Set once the gateway stops; `stop` wakes every held request. A `Notify` rather than a
    /// `watch`: a held request keeps its wait for minutes, and a `Notified` is the smaller.
    stopping: AtomicBool,
    stop: Notify,
}

impl Waiting {
    /// Bounds from `limits`; a stale answer is looked at again after `recheck`.
    pub fn new(limits: WaitLimits, recheck: Duration) -> Self {
        Self {
            max_wait: limits.max_wait,
            held: Semaphore::new(limits.max_waiting),
            recheck,
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// Answers every held request at once, and holds no more: the gateway is stopping.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// Whether the gateway is stopping: event streams end.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The answer for `key` (from `ask`, which asks the cache) once it changes, or what it is
    /// when the wait ends; at once when too many requests are held already: a batch of one.
    pub async fn until_changed<F, Fut>(
        &self,
        cache: &StatusCache,
        key: &Address,
        mut ask: F,
        wait_for: WaitFor<'_>,
    ) -> Result<Waited, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Served, UpstreamError>>,
    {
        let unchanged = |_: usize, snapshot: &Snapshot| (wait_for.unchanged)(snapshot);
        let wait_for = WaitForAny {
            wait: wait_for.wait,
            unchanged: &unchanged,
        };
        let (answers, waited) =
            (self.until_any_changed(cache, std::slice::from_ref(key), |_| ask(), wait_for)).await;
        let answer = answers.into_iter().next().expect("one key, one answer");
        Ok((answer?, waited))
    }

    /// The answers for `keys` (from `ask`, which asks the cache for the item of that index) once
    /// any of them changes or fails, or what they are when the wait ends: one held request
    /// however many keys it names. Each item is asked again only when a new answer is stored for
    /// it or it falls due, so a wake costs the items that moved, not the batch. Items that have
    /// finished are not waited on; when all have, the answers come at once.
    pub async fn until_any_changed<F, Fut>(
        &self,
        cache: &StatusCache,
        keys: &[Address],
        mut ask: F,
        wait_for: WaitForAny<'_>,
    ) -> WaitedAll
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<Served, UpstreamError>>,
    {
        let wait = wait_for.wait.min(self.max_wait);
        // Made before the flag is read: a stop after that wakes it, even if not yet polled.
        let stopped = self.stop.notified();
        let mut stopped = std::pin::pin!(stopped);
        let held = self.held.try_acquire();
        let signal = |key: &Address| {
            let mut notified = Box::pin(cache.changes(*key).notified_owned());
            notified.as_mut().enable();
            notified
        };
        let mut stored: Vec<_> = keys.iter().map(signal).collect();
        // Asked once more after registering, even where the caller just asked: an answer stored
        // in between must not slip by. Boxed: an ask is short, and its room would otherwise be
        // carried through every wait.
        let asked: Vec<_> = (0..keys.len()).map(|index| Box::pin(ask(index))).collect();
        let mut answers = join_all(asked).await;
        let Ok(_held) = held else {
            return (answers, None);
        };
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let mut moved = false;
            let mut ask_again: Option<Instant> = None;
            for (index, answer) in answers.iter().enumerate() {
                let Ok(served) = answer else {
                    moved = true;
                    continue;
                };
                moved |= !(wait_for.unchanged)(index, &served.snapshot);
                if let Some(due) = self.due(&served.snapshot, now) {
                    ask_again = Some(ask_again.map_or(due, |earliest| earliest.min(due)));
                }
            }
            let Some(ask_again) = ask_again.filter(|_| !moved) else {
                return (answers, Some(wait));
            };
            if now >= deadline || self.is_stopping() {
                return (answers, Some(wait));
            }
            // Every item signalled by the time this is woken, not only the first.
            let signalled = std::future::poll_fn(|context| {
                let mut fired = Vec::new();
                for (index, notified) in stored.iter_mut().enumerate() {
                    if notified.as_mut().poll(context).is_ready() {
                        fired.push(index);
                    }
                }
                match fired.is_empty() {
                    true => std::task::Poll::Pending,
                    false => std::task::Poll::Ready(fired),
                }
            });
            let to_ask = tokio::select! {
                fired = signalled => fired,
                () = tokio::time::sleep_until(ask_again.min(deadline)) => {
                    // Those fallen due, and those held stale (looked at again after `recheck`).
                    let now = Instant::now();
                    (answers.iter().enumerate())
                        .filter(|(_, answer)| answer.as_ref().is_ok_and(|served| {
                            served.snapshot.next_poll_at.is_some_and(|due| due <= now)
                        }))
                        .map(|(index, _)| index)
                        .collect()
                }
                () = stopped.as_mut() => Vec::new(),
            };
            // Registered again before looking, so an answer stored in between still wakes it
            // (with the entry's signal as it is now: an entry evicted and made again has another).
            for &index in &to_ask {
                stored[index] = signal(&keys[index]);
            }
            for index in to_ask {
                answers[index] = Box::pin(ask(index)).await;
            }
        }
    }

    /// When an item still running is looked at again: when its answer falls due, or, for one
    /// held stale (a refresh under way, or Anaplan failing), after `recheck`.
    fn due(&self, snapshot: &Snapshot, now: Instant) -> Option<Instant> {
        let due = snapshot.next_poll_at?;
        Some(if due > now { due } else { now + self.recheck })
    }
}
