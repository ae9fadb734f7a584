//! When each model was last opened through this gateway (through any replica of a fleet), so that
//! opens are not repeated: Anaplan's fair use refuses repeated and keep-alive opens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::address::ModelAddress;
use crate::shared::{SharedState, now_ms};

/// The least time between two opens of one model sent to Anaplan.
pub const OPEN_AGAIN_AFTER: Duration = Duration::from_secs(5 * 60);
/// The fleet's records of opens.
const TAG: &str = "model-open";

/// The opens sent, in this process and, in a fleet, in Redis.
pub(super) struct RecentOpens {
    local: Mutex<HashMap<ModelAddress, Instant>>,
    shared: Option<Arc<SharedState>>,
}

/// An open that may be sent: given back if it fails.
pub(super) struct Turn {
    at: ModelAddress,
    /// Its record in the fleet's Redis, if it has one.
    stored: Option<String>,
}

impl RecentOpens {
    pub(super) fn new(shared: Option<Arc<SharedState>>) -> Self {
        Self {
            local: Mutex::default(),
            shared,
        }
    }

    /// A turn to open `at` now, or how long until there is one.
    pub(super) async fn take_turn(&self, at: ModelAddress) -> Result<Turn, Duration> {
        let now = Instant::now();
        {
            let mut opened = self.local.lock().expect("not poisoned");
            opened.retain(|_, when| now.duration_since(*when) < OPEN_AGAIN_AFTER);
            if let Some(when) = opened.get(&at) {
                return Err(OPEN_AGAIN_AFTER.saturating_sub(now.duration_since(*when)));
            }
            opened.insert(at, now);
        }
        let Some(shared) = &self.shared else {
            return Ok(Turn { at, stored: None });
        };
        let taken_at = now_ms().to_string();
        match shared
            .put_new(TAG, &name(&at), &taken_at, OPEN_AGAIN_AFTER)
            .await
        {
            Some(Ok(())) => Ok(Turn {
                at,
                stored: Some(taken_at),
            }),
            // Another replica opened it: the time left is counted from when it did.
            Some(Err(other)) => {
                let since = now_ms().saturating_sub(other.parse().unwrap_or(0));
                let since = Duration::from_millis(u64::try_from(since).unwrap_or(0));
                Err(OPEN_AGAIN_AFTER
                    .saturating_sub(since)
                    .max(Duration::from_secs(1)))
            }
            // Redis is away: this process's record still keeps its own opens apart.
            None => Ok(Turn { at, stored: None }),
        }
    }

    /// Gives a turn back: its open was not made (it failed, or never left).
    pub(super) async fn give_back(&self, turn: Turn) {
        self.local.lock().expect("not poisoned").remove(&turn.at);
        if let (Some(shared), Some(stored)) = (&self.shared, &turn.stored) {
            shared.swap(TAG, &name(&turn.at), stored, None).await;
        }
    }
}

/// A model's name in the fleet's records.
fn name(at: &ModelAddress) -> String {
    at.model.to_string()
}
