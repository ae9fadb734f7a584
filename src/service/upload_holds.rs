//! One upload per file at a time: Anaplan never locks a file, and two uploads of the same file
//! would interleave their chunks. A hold is taken in this process, and in a fleet also in Redis,
//! with a lease its holder keeps renewing while the upload runs; it is let go when the upload
//! ends however it ends, and a replica that stops lets it lapse within the lease.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Instrument;

use crate::address::ModelAddress;
use crate::ids::ObjectId;
use crate::shared::{SharedState, random_id};

/// The fleet's records of holds.
const TAG: &str = "upload";
/// How long a fleet's hold outlives its last renewal: a stopped replica's hold lapses in this.
const LEASE: Duration = Duration::from_secs(30);

/// The files being uploaded through this process (and, in a fleet, through any replica).
pub(super) struct UploadHolds {
    local: Arc<Mutex<HashSet<String>>>,
    shared: Option<Arc<SharedState>>,
}

/// A file held for one upload; let go when dropped.
pub(super) struct Hold {
    name: String,
    local: Arc<Mutex<HashSet<String>>>,
    fleet: Option<(Arc<SharedState>, String, tokio::task::JoinHandle<()>)>,
}

impl UploadHolds {
    pub(super) fn new(shared: Option<Arc<SharedState>>) -> Self {
        Self {
            local: Arc::default(),
            shared,
        }
    }

    /// Holds `file` of `model` for one upload; `None` when another upload holds it.
    pub(super) async fn hold(&self, model: &ModelAddress, file: ObjectId) -> Option<Hold> {
        let name = format!("{}:{}", model.model, file);
        if !self
            .local
            .lock()
            .expect("not poisoned")
            .insert(name.clone())
        {
            return None;
        }
        let mut hold = Hold {
            name,
            local: self.local.clone(),
            fleet: None,
        };
        let Some(shared) = &self.shared else {
            return Some(hold);
        };
        let owner = random_id();
        match shared.put_new(TAG, &hold.name, &owner, LEASE).await {
            Some(Ok(())) => {
                let renewing =
                    tokio::spawn(renew(shared.clone(), hold.name.clone(), owner.clone()));
                hold.fleet = Some((shared.clone(), owner, renewing));
            }
            // Held by another replica.
            Some(Err(_)) => return None,
            // Redis is away: this process's hold still keeps its own uploads apart.
            None => tracing::warn!(file = %hold.name, "the fleet's shared state did not answer; \
                the upload is held in this process only"),
        }
        Some(hold)
    }
}

/// Keeps a fleet's hold alive while its upload runs.
async fn renew(shared: Arc<SharedState>, name: String, owner: String) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        if shared.prolong(TAG, &name, &owner, LEASE).await == Some(false) {
            tracing::warn!(file = %name, "an upload's hold lapsed in the fleet's shared state");
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.local.lock().expect("not poisoned").remove(&self.name);
        if let Some((shared, owner, renewing)) = self.fleet.take() {
            renewing.abort();
            let name = std::mem::take(&mut self.name);
            let release = async move { shared.swap(TAG, &name, &owner, None).await };
            // Without a runtime (the process is ending) the hold lapses with its lease instead.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(release.in_current_span());
            }
        }
    }
}
