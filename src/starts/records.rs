//! Where starts are remembered: each `Idempotency-Key`'s record (what was asked, and whether its
//! start is in flight, answered, or lost on the way back) and the claims on the tasks starts
//! answered with. In a fleet they live in Redis, so every replica sees the same; alone, in
//! this process, for the same 24 hours.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shared::SharedState;

/// How long a key's record is kept: a repeat within it answers as the first did.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a task a start answered with stays claimed: longer than any start's window.
const CLAIM_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Records a process keeps alone: far more keys than a day of starts uses.
const LOCAL_CAPACITY: u64 = 100_000;

/// What one `Idempotency-Key` has done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The request the key was first used for: kind, ids and options.
    pub request: String,
    /// Where its start is.
    pub state: RecordState,
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
            None => Records::Local(Arc::new(Local {
                keys: moka::sync::Cache::builder()
                    .max_capacity(LOCAL_CAPACITY)
                    .time_to_live(KEY_LIFETIME)
                    .build(),
                claims: moka::sync::Cache::builder()
                    .max_capacity(LOCAL_CAPACITY)
                    .time_to_live(CLAIM_LIFETIME)
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
        record: &KeyRecord,
    ) -> Result<Option<KeyRecord>, Unavailable> {
        match self {
            Records::Local(local) => {
                let _step = local.lock.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(found) = local.keys.get(key) {
                    return Ok(Some(found));
                }
                local.keys.insert(key.to_owned(), record.clone());
                Ok(None)
            }
            Records::Fleet(shared) => {
                let value = encode(record);
                let taken = (shared
                    .put_new(&tag(tenant), key, &value, KEY_LIFETIME)
                    .await)
                    .ok_or(Unavailable)?;
                // A record that cannot be read is not this gateway's to replace.
                Ok(taken
                    .err()
                    .map(|found| decode(&found).unwrap_or_else(|| unreadable(found))))
            }
        }
    }

    /// Replaces `seen` with `new` (or removes it, with `None`) if `seen` is still the key's
    /// record: whether it was.
    pub async fn replace(
        &self,
        tenant: &str,
        key: &str,
        seen: &KeyRecord,
        new: Option<&KeyRecord>,
    ) -> Result<bool, Unavailable> {
        match self {
            Records::Local(local) => {
                let _step = local.lock.lock().unwrap_or_else(|p| p.into_inner());
                if local.keys.get(key).as_ref() != Some(seen) {
                    return Ok(false);
                }
                match new {
                    Some(new) => local.keys.insert(key.to_owned(), new.clone()),
                    None => local.keys.invalidate(key),
                }
                Ok(true)
            }
            Records::Fleet(shared) => {
                let (tag, seen, new) = (tag(tenant), encode(seen), new.map(encode));
                let swapped = shared.swap(&tag, key, &seen, new.as_deref(), KEY_LIFETIME);
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
fn unreadable(found: String) -> KeyRecord {
    KeyRecord {
        request: format!("unreadable record: {found}"),
        state: RecordState::Unknown { sent_at_ms: 0 },
    }
}
