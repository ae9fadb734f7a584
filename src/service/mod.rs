//! What the API does, apart from HTTP: find a checked request's workspace, answer from the cache
//! (which asks Anaplan through the client when it must), and cancel and start tasks upstream.

mod answers;
mod batch;
mod dumps;
pub mod files;
pub mod models;
pub mod names;
mod recent_opens;
#[macro_use]
mod requests;
mod streams;
mod upload_holds;
pub mod uploads;

use std::sync::Arc;

use tokio::time::Instant;

use crate::address::{Address, ModelAddress, ObjectAddress, TaskAddress};
use crate::cache::{Served, StatusCache};
use crate::config::{AllowedModels, NotAllowed, Settings};
use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::schema::{ListedTask, ModelReport, TaskState, TaskStatus};
use crate::shared::SharedState;
use crate::starts::Records;
use crate::upstream::{AnaplanClient, UpstreamError, Urgency, WireTaskStatus};
use crate::waiting::{WaitFor, Waited, Waiting};
use crate::workspaces::Workspaces;
use answers::TaskListing;
use names::{NameError, Names};
pub use requests::{ListRequest, Lookup, ModelRequest, TaskRequest};

pub mod starts;

/// The service's shared state; cloning it (once per request) is one atomic increment.
#[derive(Clone)]
pub struct StatusService {
    inner: Arc<Parts>,
}

struct Parts {
    client: AnaplanClient,
    cache: StatusCache,
    waiting: Waiting,
    /// How long a streamed body's reader may take for one piece before the body is cut off.
    reader_deadline: std::time::Duration,
    workspaces: Workspaces,
    default_model: Option<ModelId>,
    allowed_models: AllowedModels,
    /// Idempotency-Keys' records and the claims on started tasks.
    records: Records,
    /// Whether a start must carry an `Idempotency-Key`.
    require_idempotency_key: bool,
    /// The most tasks one batch may ask about.
    max_batch: usize,
    /// Places for file transfers in flight (`GATEWAY_MAX_TRANSFERS`).
    transfers: Arc<tokio::sync::Semaphore>,
    /// The files uploads are writing: one upload per file.
    uploads: upload_holds::UploadHolds,
    /// An upload's chunk size before compression (`GATEWAY_UPLOAD_CHUNK`).
    upload_chunk: usize,
    /// When each model was last opened, so that opens are not repeated.
    recent_opens: recent_opens::RecentOpens,
    /// The lists names are resolved from.
    names: Arc<Names>,
}

impl StatusService {
    /// The service for `settings`, with its client and cache.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let shared = match &settings.shared {
            Some(shared) => Some(Arc::new(SharedState::new(shared)?)),
            None => None,
        };
        let cache = match &shared {
            Some(state) => StatusCache::shared(
                settings.polling,
                settings.cache,
                state.clone(),
                settings.anaplan.timeout,
            ),
            None => StatusCache::new(settings.polling, settings.cache),
        };
        let records = Records::new(shared.clone());
        let uploads = upload_holds::UploadHolds::new(shared.clone());
        let recent_opens = recent_opens::RecentOpens::new(shared.clone());
        let client = AnaplanClient::new(&settings.anaplan, shared)?;
        let parts = Parts {
            cache,
            waiting: Waiting::new(settings.waiting, settings.polling.interval),
            reader_deadline: settings.anaplan.timeout,
            workspaces: Workspaces::new(client.clone(), &settings.anaplan, &settings.polling),
            client,
            default_model: settings.anaplan.default_model,
            allowed_models: settings.allowed_models.clone(),
            records,
            require_idempotency_key: settings.require_idempotency_key,
            max_batch: settings.max_batch,
            transfers: Arc::new(tokio::sync::Semaphore::new(settings.anaplan.transfers)),
            uploads,
            upload_chunk: settings.upload_chunk,
            recent_opens,
            names: Arc::new(Names::new(settings.names_ttl, settings.polling.interval)),
        };
        Ok(Self {
            inner: Arc::new(parts),
        })
    }

    /// The cache, for metrics and tests.
    pub fn cache(&self) -> &StatusCache {
        &self.inner.cache
    }

    /// Whether `model` may be asked about (`GATEWAY_ALLOWED_MODELS`); a workspace the allow-list
    /// names for it fills in `workspace` when the caller gave none, so no lookup is needed. The
    /// tenant's CloudWorks runs (no model) may be asked about only when every model may be.
    pub fn admit(
        &self,
        model: Option<ModelId>,
        workspace: &mut Option<WorkspaceId>,
    ) -> Result<(), NotAllowed> {
        let allowed = &self.inner.allowed_models;
        match model {
            Some(model) => *workspace = allowed.admit(model, *workspace)?,
            None => allowed.admit_tenant()?,
        }
        Ok(())
    }

    /// Whether answering `lookup` needs what the gateway holds nothing of, so costs Anaplan
    /// calls: the model's workspace, or anything for its key.
    pub fn is_cold(&self, lookup: &impl Lookup) -> bool {
        let known = (self.inner.workspaces).known_scope(lookup.model(), lookup.workspace());
        let key = known.and_then(|scope| lookup.key_in(scope));
        key.is_none_or(|key| !self.inner.cache.holds(&key))
    }

    /// Whether a start must carry an `Idempotency-Key` (`GATEWAY_REQUIRE_IDEMPOTENCY_KEY`).
    pub fn requires_idempotency_key(&self) -> bool {
        self.inner.require_idempotency_key
    }

    /// The most tasks one batch may ask about (`GATEWAY_MAX_BATCH`).
    pub fn max_batch(&self) -> usize {
        self.inner.max_batch
    }

    /// The model for requests that leave `modelId` out (`ANAPLAN_MODEL_ID`).
    pub fn default_model(&self) -> Option<ModelId> {
        self.inner.default_model
    }

    async fn locate(&self, request: &TaskRequest) -> Result<TaskAddress, UpstreamError> {
        let workspaces = &self.inner.workspaces;
        let scope = workspaces.scope(request.model, request.workspace).await?;
        Ok(request.at(scope))
    }

    /// An answer for the task still fresh at `now`, found without awaiting anything: the hit path.
    pub fn fresh_task(&self, request: &TaskRequest, now: Instant) -> Option<Served> {
        let scope = (self.inner.workspaces).known_scope(request.model, request.workspace)?;
        let key = Address::Task(request.at(scope));
        self.inner.cache.fresh(&key, now)
    }

    /// The task's normalised status, from the cache or Anaplan.
    pub async fn task(&self, request: TaskRequest) -> Result<Served, UpstreamError> {
        let at = self.locate(&request).await?;
        self.task_at(at).await
    }

    async fn task_at(&self, at: TaskAddress) -> Result<Served, UpstreamError> {
        let (client, names) = (self.inner.client.clone(), self.inner.names.clone());
        let fetch = move |urgency| fetch_task(client, names, at, urgency);
        self.inner.cache.get(Address::Task(at), fetch).await
    }

    /// The task's status once it differs from the one the caller has, or as it is when the wait
    /// ends (see [`Waiting`]).
    pub async fn task_when_changed(
        &self,
        request: &TaskRequest,
        wait_for: WaitFor<'_>,
    ) -> Result<Waited, UpstreamError> {
        let at = self.locate(request).await?;
        let ask = || self.task_at(at);
        let (cache, waiting) = (&self.inner.cache, &self.inner.waiting);
        waiting
            .until_changed(cache, &Address::Task(at), ask, wait_for)
            .await
    }

    /// Answers every request held for a change at once: the gateway is stopping.
    pub fn stop_waiting(&self) {
        self.inner.waiting.stop();
    }

    /// Whether the gateway is stopping, so event streams end.
    pub fn is_stopping(&self) -> bool {
        self.inner.waiting.is_stopping()
    }

    /// Cancels the task upstream and answers with its status as Anaplan then reports it. A task
    /// known to be finished is answered as it is, with no call: a cancel is idempotent.
    pub async fn cancel(&self, request: TaskRequest) -> Result<Served, UpstreamError> {
        let at = self.locate(&request).await?;
        let (client, follow_up) = (self.inner.client.clone(), self.inner.client.clone());
        let (names, follow_up_names) = (self.inner.names.clone(), self.inner.names.clone());
        let cancel = move || async move {
            let answer = client.cancel_task(&at).await?;
            Ok(answer.map(|wire| normalised(&names, &at, wire)))
        };
        let fetch = move |urgency| fetch_task(follow_up, follow_up_names, at, urgency);
        self.inner
            .cache
            .change(Address::Task(at), cancel, fetch)
            .await
    }

    /// The model's normalised status, from the cache or Anaplan.
    pub async fn model_status(&self, request: ModelRequest) -> Result<Served, UpstreamError> {
        let at = self.locate_model(request).await?;
        self.model_status_at(at).await
    }

    /// The model's status once it differs from the one the caller has, or as it is when the
    /// wait ends (see [`Waiting`]).
    pub async fn model_status_when_changed(
        &self,
        request: &ModelRequest,
        wait_for: WaitFor<'_>,
    ) -> Result<Waited, UpstreamError> {
        let at = self.locate_model(*request).await?;
        let ask = || self.model_status_at(at);
        let (cache, waiting) = (&self.inner.cache, &self.inner.waiting);
        waiting
            .until_changed(cache, &Address::Model(at), ask, wait_for)
            .await
    }

    async fn locate_model(&self, request: ModelRequest) -> Result<ModelAddress, UpstreamError> {
        let ModelRequest { model, workspace } = request;
        let workspace = self.inner.workspaces.resolve(model, workspace).await?;
        Ok(ModelAddress::new(workspace, model))
    }

    async fn model_status_at(&self, at: ModelAddress) -> Result<Served, UpstreamError> {
        let client = self.inner.client.clone();
        let fetch = move |urgency| async move {
            let wire = client.model_status(&at, urgency).await?;
            Ok(ModelReport::from_wire(&at, wire))
        };
        self.inner.cache.get(Address::Model(at), fetch).await
    }
}

impl StatusService {
    /// The tasks filed under an import, export, action or process, newest first; cached as a
    /// status is, one upstream call per interval.
    pub async fn task_list(&self, request: ListRequest) -> Result<Served, UpstreamError> {
        let scope = (self.inner.workspaces)
            .scope(request.model, request.workspace)
            .await?;
        let at = request.at(scope);
        let (client, cache) = (self.inner.client.clone(), self.inner.cache.clone());
        let fetch = move |urgency| async move {
            let wire = client.task_list(&at, urgency).await?;
            let mut tasks = ListedTask::newest_first(wire);
            with_known_verdicts(&cache, &at, &mut tasks);
            Ok(TaskListing(tasks))
        };
        self.inner.cache.get(Address::Tasks(at), fetch).await
    }
}

/// Fills in the verdict of each listed task that Anaplan lists without one (`unknown`) but whose
/// finished status the cache holds, because a caller asked for it.
fn with_known_verdicts(cache: &StatusCache, at: &ObjectAddress, tasks: &mut [ListedTask]) {
    #[derive(serde::Deserialize)]
    struct Verdict {
        state: TaskState,
    }
    let now = Instant::now();
    for task in tasks
        .iter_mut()
        .filter(|task| task.state == TaskState::Unknown)
    {
        let Ok(id) = TaskId::parse("taskId", &task.task_id) else {
            continue;
        };
        let address = TaskAddress::new(at.scope, at.kind, at.id, id);
        let Some(held) = cache.fresh(&Address::Task(address), now) else {
            continue;
        };
        if held.snapshot.next_poll_at.is_none()
            && let Ok(verdict) = serde_json::from_slice::<Verdict>(&held.snapshot.body)
        {
            task.state = verdict.state;
        }
    }
}

async fn fetch_task(
    client: AnaplanClient,
    names: Arc<Names>,
    at: TaskAddress,
    urgency: Urgency,
) -> Result<TaskStatus, UpstreamError> {
    let wire = client.task_status(&at, urgency).await?;
    metrics::counter!("anaplan_gateway_task_statuses_total", "kind" => at.kind().as_str())
        .increment(1);
    Ok(normalised(&names, &at, wire))
}

/// The task normalised, with its object's name when the gateway knows it.
pub(super) fn normalised(names: &Names, at: &TaskAddress, wire: WireTaskStatus) -> TaskStatus {
    let mut status = TaskStatus::from_wire(at, wire);
    let object = &at.object;
    let model = object.scope.model();
    if let (Some(model), Some(collection), Some(id)) =
        (model, object.kind.named_collection(), object.id)
    {
        status.object_name = names.known(*model, collection, id);
    }
    status
}

impl StatusService {
    /// Fills in the object `request` names by `name`, from its model's list of the kind's
    /// objects; answers the name as Anaplan spells it.
    pub async fn name_object(
        &self,
        request: &mut impl Lookup,
        name: &str,
    ) -> Result<String, NameError> {
        let collection = request.kind().and_then(TaskKind::named_collection);
        let collection = collection.ok_or(NameError::Unknown)?;
        let model = request.model().ok_or(NameError::Unknown)?;
        let found = self.resolve_name(model, request.workspace(), collection, name);
        let (id, spelled) = found.await?;
        if let Some(object) = request.object_mut() {
            *object = Some(id);
        }
        Ok(spelled)
    }

    /// The model's file named `name`, and its name as Anaplan spells it.
    pub async fn name_file(
        &self,
        model: ModelRequest,
        name: &str,
    ) -> Result<(ObjectId, String), NameError> {
        (self.resolve_name(model.model, model.workspace, "files", name)).await
    }

    async fn resolve_name(
        &self,
        model: ModelId,
        workspace: Option<WorkspaceId>,
        collection: &'static str,
        name: &str,
    ) -> Result<(ObjectId, String), NameError> {
        let workspace = self.inner.workspaces.resolve(model, workspace).await?;
        let at = ModelAddress::new(workspace, model);
        let names = &self.inner.names;
        names
            .resolve(&self.inner.client, at, collection, name)
            .await
    }
}
