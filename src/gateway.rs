//! What the API does, apart from HTTP: check the caller's ids, find the workspace, and answer
//! from the cache, which asks Anaplan through the client when it must.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::cache::{Answer, PollKey, Served, StatusCache};
use crate::config::Settings;
use crate::ids::{IdError, ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::schema::{ModelStatus, Task};
use crate::upstream::{AnaplanClient, TaskLocator, UpstreamError};

/// How long a model's workspace is kept: it changes only when a model is moved.
const WORKSPACE_TTL: Duration = Duration::from_secs(60 * 60);

/// The query parameters a task request may carry, as documented; [`QueryIds`] reads them.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct TaskParams {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(example = "75A40874E6B64FA3AE0743278996850F")]
    pub model_id: Option<String>,
    /// What the task is filed under: the import, export, action or process id, or the view or
    /// list id of a large read request (digits).
    #[param(example = "112000000009")]
    pub object_id: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(example = "8a8196b15b7dbae6015b8694411d13fe")]
    pub workspace_id: Option<String>,
}

/// The query parameters of a model-status request, as documented; [`QueryIds`] reads them.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ModelParams {
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(example = "8a8196b15b7dbae6015b8694411d13fe")]
    pub workspace_id: Option<String>,
}

/// The ids a query names, unchecked: borrowed from the query where nothing needed decoding, so
/// the hit path allocates nothing for them. Other parameters are ignored.
#[derive(Debug, Default)]
pub struct QueryIds<'q> {
    model_id: Option<Cow<'q, str>>,
    object_id: Option<Cow<'q, str>>,
    workspace_id: Option<Cow<'q, str>>,
}

impl<'q> QueryIds<'q> {
    /// Reads `modelId`, `objectId` and `workspaceId` from a query string, decoded as a form is.
    pub fn parse(query: Option<&'q str>) -> Self {
        let mut ids = Self::default();
        let query = query.unwrap_or_default();
        // Valid ids never need decoding: the form decoder runs only on a query that does.
        if memchr::memchr2(b'%', b'+', query.as_bytes()).is_some() {
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                ids.set(&name, value);
            }
            return ids;
        }
        let mut rest = query;
        while !rest.is_empty() {
            let (pair, after) = match memchr::memchr(b'&', rest.as_bytes()) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, ""),
            };
            let (name, value) = match memchr::memchr(b'=', pair.as_bytes()) {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, ""),
            };
            ids.set(name, Cow::Borrowed(value));
            rest = after;
        }
        ids
    }

    fn set(&mut self, name: &str, value: Cow<'q, str>) {
        match name {
            "modelId" => self.model_id = Some(value),
            "objectId" => self.object_id = Some(value),
            "workspaceId" => self.workspace_id = Some(value),
            _ => {}
        }
    }
}

/// A task request whose ids all passed the checks; the workspace may still be unknown.
#[derive(Debug, Clone, Copy)]
pub struct TaskRequest {
    kind: TaskKind,
    task: TaskId,
    model: ModelId,
    object: ObjectId,
    workspace: Option<WorkspaceId>,
}

impl TaskRequest {
    /// The task's place upstream, once its workspace is known.
    fn at(&self, workspace: WorkspaceId) -> TaskLocator {
        TaskLocator {
            kind: self.kind,
            workspace,
            model: self.model,
            object: self.object,
            task: self.task,
        }
    }
}

/// The gateway's shared state; cloning it (once per request) is one atomic increment.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Parts>,
}

struct Parts {
    client: AnaplanClient,
    cache: StatusCache,
    /// Each model's workspace, filled once by the first caller that needs it.
    workspaces: moka::sync::Cache<ModelId, Arc<OnceCell<WorkspaceId>>>,
    workspace_failures: moka::sync::Cache<ModelId, UpstreamError>,
    default_model: Option<ModelId>,
    default_workspace: Option<WorkspaceId>,
}

fn optional<T>(
    param: &'static str,
    text: Option<&str>,
    parse: fn(&'static str, &str) -> Result<T, IdError>,
) -> Result<Option<T>, IdError> {
    text.map(|text| parse(param, text)).transpose()
}

impl Gateway {
    /// The gateway for `settings`, with its client and cache.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let parts = Parts {
            client: AnaplanClient::new(&settings.anaplan)?,
            cache: StatusCache::new(settings.polling, settings.cache),
            workspaces: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(WORKSPACE_TTL)
                .build(),
            workspace_failures: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(settings.polling.interval)
                .build(),
            default_model: settings.anaplan.default_model,
            default_workspace: settings.anaplan.default_workspace,
        };
        Ok(Self {
            inner: Arc::new(parts),
        })
    }

    /// The cache, for metrics and tests.
    pub fn cache(&self) -> &StatusCache {
        &self.inner.cache
    }

    /// Checks every id of a task request before anything goes upstream.
    pub fn check_task(
        &self,
        kind: &str,
        task: &str,
        params: &QueryIds<'_>,
    ) -> Result<TaskRequest, IdError> {
        let kind = TaskKind::parse(kind)?;
        let task = TaskId::parse("taskId", task)?;
        let model = self.model_or_default(params.model_id.as_deref())?;
        let object = ObjectId::parse(
            "objectId",
            params
                .object_id
                .as_deref()
                .ok_or(IdError::Missing { param: "objectId" })?,
        )?;
        let workspace = optional(
            "workspaceId",
            params.workspace_id.as_deref(),
            WorkspaceId::parse,
        )?;
        Ok(TaskRequest {
            kind,
            task,
            model,
            object,
            workspace,
        })
    }

    /// Checks the ids of a model-status request.
    pub fn check_model(
        &self,
        model: &str,
        params: &QueryIds<'_>,
    ) -> Result<(ModelId, Option<WorkspaceId>), IdError> {
        let model = ModelId::parse("modelId", model)?;
        let workspace = optional(
            "workspaceId",
            params.workspace_id.as_deref(),
            WorkspaceId::parse,
        )?;
        Ok((model, workspace))
    }

    fn model_or_default(&self, given: Option<&str>) -> Result<ModelId, IdError> {
        match given {
            Some(text) => ModelId::parse("modelId", text),
            None => self
                .inner
                .default_model
                .ok_or(IdError::Missing { param: "modelId" }),
        }
    }

    /// The workspace if it is known without asking Anaplan: as given; else
    /// `ANAPLAN_WORKSPACE_ID` (only for `ANAPLAN_MODEL_ID` when that is set, since other models
    /// may live elsewhere); else as found from the model earlier.
    fn known_workspace(&self, model: ModelId, given: Option<WorkspaceId>) -> Option<WorkspaceId> {
        let parts = &self.inner;
        let default_applies = parts.default_model.is_none_or(|default| default == model);
        given
            .or(parts.default_workspace.filter(|_| default_applies))
            .or_else(|| parts.workspaces.get(&model)?.get().copied())
    }

    /// The workspace, found from the model once (`GET /models/{modelId}`) when not known.
    async fn workspace(
        &self,
        model: ModelId,
        given: Option<WorkspaceId>,
    ) -> Result<WorkspaceId, UpstreamError> {
        if let Some(workspace) = self.known_workspace(model, given) {
            return Ok(workspace);
        }
        // A model that could not be looked up is not asked about again for a while.
        if let Some(error) = self.inner.workspace_failures.get(&model) {
            return Err(error);
        }
        let cell = self.inner.workspaces.get_with(model, Arc::default);
        let parts = self.inner.clone();
        // One lookup at a time per model. It runs detached and records its own outcome, so it
        // counts even if the caller that started it hangs up; a caller whose turn comes after a
        // failed lookup gets that failure instead of making another.
        cell.get_or_try_init(|| {
            let cell = cell.clone();
            async move {
                if let Some(error) = parts.workspace_failures.get(&model) {
                    return Err(error);
                }
                tokio::spawn(async move {
                    let result = parts.client.model_workspace(model).await;
                    match &result {
                        Ok(workspace) => drop(cell.set(*workspace)),
                        Err(error) => parts.workspace_failures.insert(model, error.clone()),
                    }
                    result
                })
                .await
                .unwrap_or_else(|_| {
                    Err(UpstreamError::Unreachable("the gateway is stopping".into()))
                })
            }
        })
        .await
        .copied()
    }

    async fn locate(&self, request: TaskRequest) -> Result<TaskLocator, UpstreamError> {
        let workspace = self.workspace(request.model, request.workspace).await?;
        Ok(request.at(workspace))
    }

    /// An answer for the task still fresh at `now`, found without awaiting anything: the hit path.
    pub fn fresh_task(&self, request: &TaskRequest, now: Instant) -> Option<Served> {
        let workspace = self.known_workspace(request.model, request.workspace)?;
        self.inner
            .cache
            .fresh(&PollKey::Task(request.at(workspace)), now)
    }

    /// The task's normalised status, from the cache or Anaplan.
    pub async fn task(&self, request: TaskRequest) -> Result<Served, UpstreamError> {
        let at = self.locate(request).await?;
        let client = self.inner.client.clone();
        self.inner
            .cache
            .get(PollKey::Task(at), move || fetch_task(client, at))
            .await
    }

    /// Cancels the task upstream and answers with its status as Anaplan then reports it.
    pub async fn cancel(&self, request: TaskRequest) -> Result<Served, UpstreamError> {
        let at = self.locate(request).await?;
        let called_at = Instant::now();
        let key = PollKey::Task(at);
        match self.inner.client.cancel_task(&at).await? {
            Some(wire) => {
                let answer = Answer::Task(Box::new(Task::from_wire(&at, wire)));
                let snapshot = self.inner.cache.store(key, answer, called_at);
                Ok(Served {
                    snapshot,
                    status: crate::cache::CacheStatus::Miss,
                })
            }
            None => {
                let client = self.inner.client.clone();
                self.inner
                    .cache
                    .refresh(key, move || fetch_task(client, at))
                    .await
            }
        }
    }

    /// The model's normalised status, from the cache or Anaplan.
    pub async fn model_status(
        &self,
        model: ModelId,
        workspace: Option<WorkspaceId>,
    ) -> Result<Served, UpstreamError> {
        let workspace = self.workspace(model, workspace).await?;
        let client = self.inner.client.clone();
        self.inner
            .cache
            .get(PollKey::Model { workspace, model }, move || async move {
                let wire = client.model_status(workspace, model).await?;
                Ok(Answer::Model(Box::new(ModelStatus::from_wire(
                    workspace, model, wire,
                ))))
            })
            .await
    }
}

async fn fetch_task(client: AnaplanClient, at: TaskLocator) -> Result<Answer, UpstreamError> {
    let wire = client.task_status(&at).await?;
    Ok(Answer::Task(Box::new(Task::from_wire(&at, wire))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_are_borrowed_unless_encoded() {
        let ids = QueryIds::parse(Some("objectId=112&modelId=AB&other=x&&workspaceId"));
        assert!(matches!(ids.object_id, Some(Cow::Borrowed("112"))));
        assert!(matches!(ids.model_id, Some(Cow::Borrowed("AB"))));
        assert!(matches!(ids.workspace_id, Some(Cow::Borrowed(""))));

        let ids = QueryIds::parse(Some("object%49d=%31%312&modelId=A+B&modelId=CD"));
        assert_eq!(ids.object_id.as_deref(), Some("112"));
        assert_eq!(ids.model_id.as_deref(), Some("CD"), "the last value wins");

        let ids = QueryIds::parse(Some("modelId=A+B"));
        assert_eq!(ids.model_id.as_deref(), Some("A B"));
        assert!(QueryIds::parse(None).model_id.is_none());
        assert!(QueryIds::parse(Some("=&==&modelId")).object_id.is_none());
    }
}
