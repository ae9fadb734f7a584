//! A model woken (opened) or closed through the gateway, as Anaplan's fair use asks: an open is
//! sent only to a model whose status says it is closed, and at most once per model in
//! `OPEN_AGAIN_AFTER` however many callers ask (Anaplan refuses repeated and keep-alive opens);
//! a close only to a model not already closed or closing. After either, the model's status is
//! asked again, so the answer (and every status request after it) shows the model as Anaplan
//! then reports it.

use super::{ModelRequest, StatusService};
use crate::address::Address;
use crate::cache::Served;
use crate::schema::ModelReport;
use crate::upstream::UpstreamError;
use crate::upstream::status::ModelAction;

/// What a model action did.
pub struct ModelActed {
    /// The model's status: after the action when it was sent, else as it stood.
    pub status: Served,
    /// Whether the action was sent to Anaplan.
    pub sent: bool,
}

impl StatusService {
    /// Opens or closes the model, when its status says there is something to do.
    pub async fn model_action(
        &self,
        request: ModelRequest,
        action: ModelAction,
    ) -> Result<ModelActed, UpstreamError> {
        let at = self.locate_model(request).await?;
        let status = self.model_status_at(at).await?;
        let state = state_of(&status);
        let needed = match action {
            ModelAction::Open => state == "closed" && self.inner.recent_opens.take_turn(at),
            ModelAction::Close => !matches!(state.as_str(), "closed" | "closing"),
        };
        if !needed {
            return Ok(ModelActed {
                status,
                sent: false,
            });
        }
        let (client, follow_up) = (self.inner.client.clone(), self.inner.client.clone());
        let act = move || async move {
            client.model_action(&at, action).await?;
            Ok(None::<ModelReport>)
        };
        let fetch = move |urgency| async move {
            let wire = follow_up.model_status(&at, urgency).await?;
            Ok(ModelReport::from_wire(&at, wire))
        };
        let status = self
            .inner
            .cache
            .change(Address::Model(at), act, fetch)
            .await?;
        tracing::info!(model = %at.model, action = action.as_str(), "model action sent");
        Ok(ModelActed { status, sent: true })
    }
}

/// The normalised state a model's status answer gives.
fn state_of(status: &Served) -> String {
    let body: serde_json::Value = serde_json::from_slice(&status.snapshot.body).unwrap_or_default();
    body["state"].as_str().unwrap_or_default().to_owned()
}
