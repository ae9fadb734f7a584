//! What the cache holds and serves: the key, the answer as served and how it was obtained, and
//! what an answer must offer to be held.

use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use tokio::time::Instant;

use super::policy::Held;
use crate::schema::PollTimes;

/// A fresh answer from Anaplan, normalised, that the cache serialises once with its poll times.
pub trait Cacheable: Send + 'static {
    /// A finished answer never changes, and is never fetched again.
    fn is_terminal(&self) -> bool;
    /// The weak `ETag` of what a caller cares about (not the poll times): equal answers, on any
    /// replica, have equal tags.
    fn etag(&self) -> HeaderValue;
    /// The JSON every reader of this answer gets.
    fn into_body(self, poll: PollTimes) -> Bytes;
}

/// One answer as served: its JSON and when it was fetched and goes stale.
#[derive(Debug)]
pub struct Snapshot {
    /// The normalised JSON, serialised once.
    pub body: Bytes,
    /// Its weak `ETag`, computed once.
    pub etag: HeaderValue,
    /// When the upstream call that produced it was made: a later call's answer is newer.
    pub fetched_at: Instant,
    /// When the next upstream call is due; `None` for finished tasks, which never change.
    pub next_poll_at: Option<Instant>,
}

impl Snapshot {
    pub(super) fn held(&self, now: Instant) -> Held {
        match self.next_poll_at {
            Some(due) if now >= due => Held::Stale {
                past_due: now - due,
            },
            _ => Held::Fresh,
        }
    }

    pub(super) fn is_terminal(&self) -> bool {
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
    /// Another replica of the fleet fetched it; this replica's first answer from the shared tier.
    Shared,
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
    pub(super) fn new(snapshot: Arc<Snapshot>, status: CacheStatus) -> Self {
        Served { snapshot, status }
    }
}
