//! One upload per file at a time: Anaplan never locks a file, and two uploads of the same file
//! would interleave their chunks. A hold is taken in this process, and in a fleet also in Redis,
//! with a lease its holder keeps renewing while the upload runs. An upload whose fleet hold is
//! lost (Redis gave it to another, or did not answer for a whole lease) sends nothing more. A
//! hold is let go when the upload ends, and a replica that stops lets it lapse within the lease.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
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

/// Why a file could not be held.
pub(super) enum NotHeld {
    /// Another upload holds it.
    Busy,
    /// The fleet's Redis did not answer: no hold can keep the other replicas out.
    Unavailable,
}

/// A file held for one upload; let go by [`Hold::release`], or when dropped.
pub(super) struct Hold {
    name: String,
    local: Arc<Mutex<HashSet<String>>>,
    fleet: Option<FleetHold>,
}

/// The part of a hold kept in the fleet's Redis.
struct FleetHold {
    shared: Arc<SharedState>,
    owner: String,
    renewing: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl UploadHolds {
    pub(super) fn new(shared: Option<Arc<SharedState>>) -> Self {
        Self {
            local: Arc::default(),
            shared,
        }
    }

    /// Holds `file` of `model` for one upload.
    pub(super) async fn hold(&self, model: &ModelAddress, file: ObjectId) -> Result<Hold, NotHeld> {
        let name = format!("{}:{}", model.model, file);
        if !self
            .local
            .lock()
            .expect("not poisoned")
            .insert(name.clone())
        {
            return Err(NotHeld::Busy);
        }
        // From here, dropping `hold` lets the file go again.
        let mut hold = Hold {
            name,
            local: self.local.clone(),
            fleet: None,
        };
        let Some(shared) = &self.shared else {
            return Ok(hold);
        };
        let owner = random_id();
        match shared.put_new(TAG, &hold.name, &owner, LEASE).await {
            Some(Ok(())) => {
                let lost = Arc::new(AtomicBool::new(false));
                let renewal = renew(
                    shared.clone(),
                    hold.name.clone(),
                    owner.clone(),
                    lost.clone(),
                );
                hold.fleet = Some(FleetHold {
                    shared: shared.clone(),
                    owner,
                    renewing: tokio::spawn(renewal.in_current_span()),
                    lost,
                });
                Ok(hold)
            }
            Some(Err(_)) => Err(NotHeld::Busy),
            None => Err(NotHeld::Unavailable),
        }
    }
}

/// Keeps a fleet's hold alive while its upload runs; marks it `lost` once Redis has given it to
/// another, or has not renewed it for a whole lease.
async fn renew(shared: Arc<SharedState>, name: String, owner: String, lost: Arc<AtomicBool>) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(LEASE / 3).await;
        match shared.prolong(TAG, &name, &owner, LEASE).await {
            Some(true) => renewed = Instant::now(),
            Some(false) => break,
            None if renewed.elapsed() >= LEASE => break,
            None => {}
        }
    }
    tracing::warn!(file = %name, "an upload's hold in the fleet's shared state was lost");
    lost.store(true, Ordering::Release);
}

impl Hold {
    /// Whether the fleet's hold was lost: the upload must send nothing more.
    pub(super) fn is_lost(&self) -> bool {
        (self.fleet.as_ref()).is_some_and(|fleet| fleet.lost.load(Ordering::Acquire))
    }

    /// Lets the file go, in the fleet before this returns, so the caller's next upload finds it
    /// free on any replica.
    pub(super) async fn release(mut self) {
        if let Some(fleet) = self.fleet.take() {
            fleet.renewing.abort();
            (fleet.shared.swap(TAG, &self.name, &fleet.owner, None)).await;
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.local.lock().expect("not poisoned").remove(&self.name);
        // An upload cut short (its caller went away) lets the fleet's hold go from here.
        if let Some(fleet) = self.fleet.take() {
            fleet.renewing.abort();
            let name = std::mem::take(&mut self.name);
            let release = async move { fleet.shared.swap(TAG, &name, &fleet.owner, None).await };
            // Without a runtime (the process is ending) the hold lapses with its lease instead.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(release.in_current_span());
            }
        }
    }
}
