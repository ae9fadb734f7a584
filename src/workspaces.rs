//! Which workspace each model lives in: as the caller gave it, as configured, or looked up from the
//! model once (`GET /models/{modelId}` → `currentWorkspaceId`) however many callers wait for it;
//! and so the scope a request's task lives in (a model, or for CloudWorks the tenant).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::address::{ModelAddress, Scope, Tenant};
use crate::config::{AnaplanSettings, PollPolicy};
use crate::ids::{ModelId, WorkspaceId};
use crate::upstream::{AnaplanClient, UpstreamError};

/// How long a model's workspace is kept: it changes only when a model is moved.
const WORKSPACE_TTL: Duration = Duration::from_secs(60 * 60);
/// Most models whose workspace (or failed lookup) is kept.
const MAX_MODELS: u64 = 10_000;

/// The workspaces of models; cheap to clone.
#[derive(Clone)]
pub struct Workspaces {
    inner: Arc<Inner>,
}

struct Inner {
    client: AnaplanClient,
    /// Each model's workspace, filled once by the first caller that needs it; a `OnceCell`
    /// so callers that come meanwhile wait for that one lookup.
    found: moka::sync::Cache<ModelId, Arc<OnceCell<WorkspaceId>>>,
    /// Failed lookups, kept for a poll interval so a wave of callers is not a wave of lookups.
    failures: moka::sync::Cache<ModelId, UpstreamError>,
    default_model: Option<ModelId>,
    default_workspace: Option<WorkspaceId>,
}

impl Workspaces {
    /// Looks workspaces up with `client`, with the configured defaults.
    pub fn new(client: AnaplanClient, anaplan: &AnaplanSettings, polling: &PollPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                found: moka::sync::Cache::builder()
                    .max_capacity(MAX_MODELS)
                    .time_to_live(WORKSPACE_TTL)
                    .build(),
                failures: moka::sync::Cache::builder()
                    .max_capacity(MAX_MODELS)
                    .time_to_live(polling.interval)
                    .build(),
                default_model: anaplan.default_model,
                default_workspace: anaplan.default_workspace,
            }),
        }
    }

    /// The workspace if it is known without asking Anaplan: as given; else
    /// `ANAPLAN_WORKSPACE_ID` (only for `ANAPLAN_MODEL_ID` when that is set, since other models
    /// may live elsewhere); else as found from the model earlier.
    pub fn known(&self, model: ModelId, given: Option<WorkspaceId>) -> Option<WorkspaceId> {
        let inner = &self.inner;
        let default_applies = inner.default_model.is_none_or(|default| default == model);
        given
            .or(inner.default_workspace.filter(|_| default_applies))
            .or_else(|| inner.found.get(&model)?.get().copied())
    }

    /// The scope of a request about `model` (none: the tenant's), if known without asking
    /// Anaplan.
    pub fn known_scope(&self, model: Option<ModelId>, given: Option<WorkspaceId>) -> Option<Scope> {
        let Some(model) = model else {
            return Some(Scope::Tenant(Tenant::Default));
        };
        let workspace = self.known(model, given)?;
        Some(Scope::Model(ModelAddress::new(workspace, model)))
    }

    /// The scope of a request about `model` (none: the tenant's), its workspace looked up when
    /// not known.
    pub async fn scope(
        &self,
        model: Option<ModelId>,
        given: Option<WorkspaceId>,
    ) -> Result<Scope, UpstreamError> {
        if let Some(scope) = self.known_scope(model, given) {
            return Ok(scope);
        }
        let Some(model) = model else {
            return Ok(Scope::Tenant(Tenant::Default));
        };
        // Boxed: a lookup is rare and its future large; every request, held ones too, would
        // otherwise carry its room.
        let workspace = Box::pin(self.resolve(model, given)).await?;
        Ok(Scope::Model(ModelAddress::new(workspace, model)))
    }

    /// The workspace, looked up from the model when not known.
    pub async fn resolve(
        &self,
        model: ModelId,
        given: Option<WorkspaceId>,
    ) -> Result<WorkspaceId, UpstreamError> {
        if let Some(workspace) = self.known(model, given) {
            return Ok(workspace);
        }
        if let Some(error) = self.inner.failures.get(&model) {
            return Err(error);
        }
        let cell = self.inner.found.get_with(model, Arc::default);
        let inner = self.inner.clone();
        // One lookup at a time per model. It runs detached and records its own outcome, so it
        // counts even if the caller that started it hangs up; a caller whose turn comes after a
        // failed lookup gets that failure instead of making another.
        cell.get_or_try_init(|| {
            let cell = cell.clone();
            async move {
                if let Some(error) = inner.failures.get(&model) {
                    return Err(error);
                }
                tokio::spawn(crate::trace::carried(async move {
                    let result = inner.client.model_workspace(model).await;
                    match &result {
                        Ok(workspace) => drop(cell.set(*workspace)),
                        Err(error) => inner.failures.insert(model, error.clone()),
                    }
                    result
                }))
                .await
                .unwrap_or_else(|_| {
                    Err(UpstreamError::Unreachable("the gateway is stopping".into()))
                })
            }
        })
        .await
        .copied()
    }
}
