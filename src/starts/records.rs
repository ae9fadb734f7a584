//! Where starts are remembered: each `Idempotency-Key`'s record (what was asked, and whether its
//! start is in flight, answered, or lost on the way back) and the claims on the tasks starts
//! answered with. In a fleet they live in Redis, so every replica sees the same; alone, in
//! this process, for the same 24 hours.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shared::{SharedState, now_ms};

/// How long a key's record is kept: a repeat within it answers as the first did.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a task a start answered with stays claimed: longer than any start's window.
const CLAIM_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Records a process keeps alone: far more keys than a day of starts uses.
const LOCAL_CAPACITY: u64 = 100_000;

/// What one `Idempotency-Key` has done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// The request the key was first used for: kind, ids and options.
    pub request: String,
    /// When the key was first used (ms since the epoch): it is kept 24 hours from then.
    pub taken_at_ms: i64,
    /// Where its start is.
    pub state: RecordState,
}

/// A key's record as the store holds it: what a replacement must find there unchanged.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record.
    pub record: KeyRecord,
    /// Its text in the fleet's Redis, compared as it is (never re-encoded).
    text: String,
}

impl Stored {
    /// A record this start is about to store.
    pub fn new(record: KeyRecord) -> Self {
        let text = encode(&record);
        Self { record, text }
    }
}

/// Where a key's start is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RecordState {
    /// A start is being made (by `owner`, until `lease_until_ms`) since `sent_at_ms`.
    InFlight {
        /// When the start went (or was about to go), on the gateway's clock (ms since the epoch).
        sent_at_ms: i64,
        /// Past this, its maker is taken to have stopped: a repeat looks for the task instead.
        lease_until_ms: i64,
        /// Who makes it: one random id per start.
        owner: String,
    },
    /// The start left and its outcome was lost; a repeat looks for its task again.
    Unknown {
        /// When the start went, on the gateway's clock.
        sent_at_ms: i64,
    },
    /// The start was answered: a repeat answers the same.
    Started(StartAnswer),
}

/// What a start answered, as a repeat gives it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAnswer {
    /// The task started.
    pub task_id: String,
    /// `Location`: where to watch it.
    pub location: String,
    /// The normalised task as first answered.
    pub body: String,
}

/// Redis did not answer, so a key's record could be neither read nor written.
#[derive(Debug, Clone, Copy)]
pub struct Unavailable;

/// The store of records: in Redis for a fleet, else in this process.
#[derive(Clone)]
pub enum Records {
    /// This process alone.
    Local(Arc<Local>),
    /// The fleet's Redis.
    Fleet(Arc<SharedState>),
}

/// Records kept in this process; the lock makes each compare-and-set one step.
pub struct Local {
    keys: moka::sync::Cache<String, KeyRecord>,
    claims: moka::sync::Cache<String, String>,
    lock: Mutex<()>,
}

/// The fleet's hash tag of a tenant's records.
fn tag(tenant: &str) -> String {
    format!("{tenant}:starts")
}

impl Records {
    /// Records kept in `shared` when given, else in this process.
    pub fn new(shared: Option<Arc<SharedState>>) -> Self {
        match shared {
            Some(shared) => Records::Fleet(shared),
            // Least recently used first: a new record is always admitted.
            None => Records::Local(Arc::new(Local {
                keys: moka::sync::Cache::builder()
                    .max_capacity(LOCAL_CAPACITY)
                    .time_to_live(KEY_LIFETIME)
                    .eviction_policy(moka::policy::EvictionPolicy::lru())
                    .build(),
                claims: moka::sync::Cache::builder()
                    .max_capacity(LOCAL_CAPACITY)
                    .time_to_live(CLAIM_LIFETIME)
                    .eviction_policy(moka::policy::EvictionPolicy::lru())
                    .build(),
                lock: Mutex::new(()),
            })),
        }
    }

    /// Stores `record` for `key` if the key has none: `Ok(None)` when stored, `Ok(Some)` with
    /// the record already there.
    pub async fn take(
        &self,
        tenant: &str,
        key: &str,
        record: &Stored,
    ) -> Result<Option<Stored>, Unavailable> {
        match self {
            Records::Local(local) => {
                let _step = local.lock.lock().unwrap_or_else(|p| p.into_inner());
                // Replacing a record restarts moka's clock: the record's own time is the one.
                let lifetime = i64::try_from(KEY_LIFETIME.as_millis()).unwrap_or(i64::MAX);
                let live = |found: &KeyRecord| found.taken_at_ms + lifetime > now_ms();
                if let Some(found) = local.keys.get(key).filter(live) {
                    return Ok(Some(Stored::new(found)));
                }
                local.keys.insert(key.to_owned(), record.record.clone());
                Ok(None)
            }
            Records::Fleet(shared) => {
                let tag = tag(tenant);
                let put = shared.put_new(&tag, key, &record.text, KEY_LIFETIME);
                let taken = put.await.ok_or(Unavailable)?;
                Ok(taken.err().map(|text| {
                    // A record that cannot be read is not this gateway's to replace.
                    let record = decode(&text).unwrap_or_else(|| unreadable(&text));
                    Stored { record, text }
                }))
            }
        }
    }

    /// Replaces `seen` with `new` (or removes it, with `None`) if `seen` is still the key's
    /// record: whether it was.
    pub async fn replace(
        &self,
        tenant: &str,
        key: &str,
        seen: &Stored,
        new: Option<&KeyRecord>,
    ) -> Result<bool, Unavailable> {
        match self {
            Records::Local(local) => {
                let _step = local.lock.lock().unwrap_or_else(|p| p.into_inner());
                if local.keys.get(key).as_ref() != Some(&seen.record) {
                    return Ok(false);
                }
                match new {
                    Some(new) => local.keys.insert(key.to_owned(), new.clone()),
                    None => local.keys.invalidate(key),
                }
                Ok(true)
            }
            Records::Fleet(shared) => {
                let (tag, new) = (tag(tenant), new.map(encode));
                let swapped = shared.swap(&tag, key, &seen.text, new.as_deref());
                swapped.await.ok_or(Unavailable)
            }
        }
    }

    /// Claims `task` (a task address's tag) for the start `by`: whether it is `by`'s now (claimed
    /// by it now or before).
    pub async fn claim(&self, tenant: &str, task: &str, by: &str) -> Result<bool, Unavailable> {
        match self {
            Records::Local(local) => {
                let entry = local.claims.entry(task.to_owned()).or_insert(by.to_owned());
                Ok(entry.value() == by)
            }
            Records::Fleet(shared) => {
                let (tag, name) = (tag(tenant), format!("claim:{task}"));
                let claimed = shared.put_new(&tag, &name, by, CLAIM_LIFETIME);
                Ok(match claimed.await.ok_or(Unavailable)? {
                    Ok(()) => true,
                    Err(other) => other == by,
                })
            }
        }
    }

    /// Whether a start other than `by` claims `task`.
    pub async fn claimed_by_other(
        &self,
        tenant: &str,
        task: &str,
        by: &str,
    ) -> Result<bool, Unavailable> {
        let claimant = match self {
            Records::Local(local) => local.claims.get(task),
            Records::Fleet(shared) => {
                let name = format!("claim:{task}");
                shared.read(&tag(tenant), &name).await.ok_or(Unavailable)?
            }
        };
        Ok(claimant.is_some_and(|claimant| claimant != by))
    }
}

fn encode(record: &KeyRecord) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

fn decode(text: &str) -> Option<KeyRecord> {
    serde_json::from_str(text).ok()
}

/// A stored record this version cannot read: it stands for a request no repeat matches.
fn unreadable(found: &str) -> KeyRecord {
    KeyRecord {
        request: format!("unreadable record: {found}"),
        taken_at_ms: 0,
        state: RecordState::Unknown { sent_at_ms: 0 },
    }
}
