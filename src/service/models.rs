//! A model woken (opened) or closed through the gateway, as Anaplan's fair use asks: an open is
//! sent only to a model whose status says it is closed, and at most once per model in five
//! minutes however many callers ask, through any replica (Anaplan refuses repeated and keep-alive
//! opens; an open that fails is not counted); a close only to a model not already closed or
//! closing. After either, the model's status is asked again, so the answer (and every status
//! request after it) shows the model as Anaplan then reports it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::recent_opens::OPEN_AGAIN_AFTER;
use super::{ModelRequest, StatusService};
use crate::address::{Address, ModelAddress};
use crate::cache::{CacheStatus, Served};
use crate::schema::ModelReport;
use crate::upstream::UpstreamError;
use crate::upstream::status::ModelAction;

/// What a model action did.
pub enum Acted {
    /// It was sent to Anaplan.
    Sent,
    /// The model's status says there is nothing to do: nothing was sent.
    NotNeeded,
    /// The model was opened within five minutes (through the gateway, or Anaplan refused the open
    /// as a repeat): another open may go after this long.
    OpenedRecently(Duration),
}

/// A model action's outcome, with the model's status: after the action when it was sent, else as
/// it stood.
pub struct ModelActed {
    /// The model's status.
    pub status: Served,
    /// What was done.
    pub acted: Acted,
}

impl StatusService {
    /// Opens or closes the model, when its status says there is something to do.
    pub async fn model_action(
        &self,
        request: ModelRequest,
        action: ModelAction,
    ) -> Result<ModelActed, UpstreamError> {
        let at = self.locate_model(request).await?;
        let status = self.confirmed_model_status(at).await?;
        let state = state_of(&status);
        let needed = match action {
            ModelAction::Open => state == "closed",
            ModelAction::Close => !matches!(state.as_str(), "closed" | "closing"),
        };
        if !needed {
            let acted = Acted::NotNeeded;
            return Ok(ModelActed { status, acted });
        }
        let turn = match action {
            ModelAction::Open => match self.inner.recent_opens.take_turn(at).await {
                Ok(turn) => Some(turn),
                Err(wait) => {
                    let acted = Acted::OpenedRecently(wait);
                    return Ok(ModelActed { status, acted });
                }
            },
            ModelAction::Close => None,
        };
        let sent = Arc::new(AtomicBool::new(false));
        let (client, follow_up, sent_here) = (
            self.inner.client.clone(),
            self.inner.client.clone(),
            sent.clone(),
        );
        let act = move || async move {
            client.model_action(&at, action).await?;
            sent_here.store(true, Ordering::Release);
            Ok(None::<ModelReport>)
        };
        let fetch = move |urgency| async move {
            let wire = follow_up.model_status(&at, urgency).await?;
            Ok(ModelReport::from_wire(&at, wire))
        };
        let after = self
            .inner
            .cache
            .change(Address::Model(at), act, fetch)
            .await;
        let acted = Acted::Sent;
        match after {
            Ok(after) => Ok(ModelActed {
                status: after,
                acted,
            }),
            // Sent, and the status after it could not be read: the status before it, then.
            Err(_) if sent.load(Ordering::Acquire) => Ok(ModelActed { status, acted }),
            // A model whose status was just read is there: Anaplan's 404 to an open is its
            // refusal of a repeated one (opened lately by someone else), and the turn stands.
            Err(UpstreamError::NotFound { .. }) if action == ModelAction::Open => {
                let acted = Acted::OpenedRecently(OPEN_AGAIN_AFTER);
                Ok(ModelActed { status, acted })
            }
            Err(failed) => {
                // Not made: the turn is free again.
                if let Some(turn) = turn {
                    self.inner.recent_opens.give_back(turn).await;
                }
                Err(failed)
            }
        }
    }
}

impl StatusService {
    /// The model's status as Anaplan last confirmed it within its poll interval: a stale one (its
    /// refresh under way, or Anaplan failing) is waited on until the refresh lands, within
    /// `ANAPLAN_TIMEOUT`, since a status past its time is no ground to act on.
    async fn confirmed_model_status(&self, at: ModelAddress) -> Result<Served, UpstreamError> {
        let changes = self.inner.cache.changes(Address::Model(at));
        let changed = changes.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let status = self.model_status_at(at).await?;
        if status.status != CacheStatus::Stale {
            return Ok(status);
        }
        let _ = tokio::time::timeout(self.inner.reader_deadline, changed).await;
        let status = self.model_status_at(at).await?;
        match status.status {
            CacheStatus::Stale => Err(UpstreamError::Unavailable {
                retry_after: Duration::from_secs(5),
            }),
            _ => Ok(status),
        }
    }
}

/// The normalised state a model's status answer gives.
fn state_of(status: &Served) -> String {
    let body: serde_json::Value = serde_json::from_slice(&status.snapshot.body).unwrap_or_default();
    body["state"].as_str().unwrap_or_default().to_owned()
}
