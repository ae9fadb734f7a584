//! When each model was last opened through this gateway, so that opens are not repeated:
//! Anaplan's fair use refuses repeated and keep-alive opens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::address::ModelAddress;

/// The least time between two opens of one model sent to Anaplan.
pub const OPEN_AGAIN_AFTER: Duration = Duration::from_secs(5 * 60);

/// When each model was last opened through this gateway.
#[derive(Default)]
pub(super) struct RecentOpens(Mutex<HashMap<ModelAddress, Instant>>);

impl RecentOpens {
    /// Whether `at` may be opened now; if so, it counts as opened from now.
    pub(super) fn take_turn(&self, at: ModelAddress) -> bool {
        let now = Instant::now();
        let mut opened = self.0.lock().expect("not poisoned");
        opened.retain(|_, when| now.duration_since(*when) < OPEN_AGAIN_AFTER);
        match opened.contains_key(&at) {
            true => false,
            false => {
                opened.insert(at, now);
                true
            }
        }
    }
}
