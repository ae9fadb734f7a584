//! What the gateway reads of Anaplan and changes there: a model's workspace, a task's status (or a
//! read request's, or a CloudWorks run's: [`super::cloudworks`]), an object's tasks, a model's
//! status, a task's cancel, and a model woken or closed; every one a request through the core
//! ([`super::request`]).

use reqwest::Method;

use super::request::{Call, Endpoint};
use super::wire::{self, ModelEnvelope, ReadRequestEnvelope, TaskEnvelope};
use super::{AnaplanClient, UpstreamError, Urgency, WireTaskStatus};
use crate::address::{ModelAddress, ObjectAddress, TaskAddress};
use crate::ids::{ModelId, WorkspaceId};

/// What may be done to a model as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelAction {
    /// Load it into memory (Anaplan answers 202 and loads it).
    Open,
    /// Offload it (Anaplan answers 204, evicts its users and closes it).
    Close,
}

impl ModelAction {
    /// Its name in the path, Anaplan's and the gateway's.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelAction::Open => "open",
            ModelAction::Close => "close",
        }
    }
}

/// Anaplan's refusal to cancel a task that has finished: the cancel has nothing left to do.
const ALREADY_COMPLETE: &str = "already complete";

impl AnaplanClient {
    /// The workspace a model lives in (`GET /models/{modelId}` → `currentWorkspaceId`), for a
    /// caller that waits for it.
    pub async fn model_workspace(&self, model: ModelId) -> Result<WorkspaceId, UpstreamError> {
        let path = ["models", model.as_str()];
        let call = Call::json(Method::GET, &path, Endpoint::Model, Urgency::Caller);
        let envelope: ModelEnvelope = self.call_json(call).await?;
        let text = envelope.model.current_workspace_id.unwrap_or_default();
        WorkspaceId::parse("currentWorkspaceId", &text).map_err(|_| {
            UpstreamError::BadBody(format!("model has no usable workspace id: {text:?}"))
        })
    }

    /// A task's, read request's or CloudWorks run's status.
    pub async fn task_status(
        &self,
        at: &TaskAddress,
        urgency: Urgency,
    ) -> Result<WireTaskStatus, UpstreamError> {
        if at.kind().is_cloudworks() {
            return self.run_status(at, urgency).await.map(WireTaskStatus::Run);
        }
        self.task_call(Method::GET, at, Endpoint::TaskStatus, urgency)
            .await
    }

    /// Cancels a task or read request for a caller; Anaplan answers with its status where it
    /// gives one.
    pub async fn cancel_task(
        &self,
        at: &TaskAddress,
    ) -> Result<Option<WireTaskStatus>, UpstreamError> {
        if at.kind().is_cloudworks() {
            return self.cancel_run(at).await;
        }
        let cancel = self.task_call(Method::DELETE, at, Endpoint::Cancel, Urgency::Caller);
        match cancel.await {
            Ok(status) => Ok(Some(status)),
            // A DELETE that worked but answered without the task: the caller asks again.
            Err(UpstreamError::BadBody(_)) => Ok(None),
            // The task finished before the cancel came: its final status is the answer.
            Err(UpstreamError::Rejected { message, .. })
                if message.to_ascii_lowercase().contains(ALREADY_COMPLETE) =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// The tasks filed under an import, export, action, process or model (ALM syncs), as
    /// Anaplan lists them (`GET …/{collection}/{id}/tasks`), or a CloudWorks integration's runs.
    pub async fn task_list(
        &self,
        at: &ObjectAddress,
        urgency: Urgency,
    ) -> Result<Vec<WireTaskStatus>, UpstreamError> {
        if at.kind.is_cloudworks() {
            let runs = self.run_list(at, urgency).await?;
            return Ok(runs.into_iter().map(WireTaskStatus::Run).collect());
        }
        let path = at.tasks_path();
        let call = Call::json(Method::GET, &path, Endpoint::TaskList, urgency);
        let body: serde_json::Value = self.call_json(call).await?;
        let tasks = wire::listed_tasks(body).map_err(UpstreamError::BadBody)?;
        Ok(tasks.into_iter().map(WireTaskStatus::Task).collect())
    }

    /// The model's status (`GET /workspaces/{ws}/models/{m}/status`).
    pub async fn model_status(
        &self,
        at: &ModelAddress,
        urgency: Urgency,
    ) -> Result<wire::WireModelStatus, UpstreamError> {
        let path = at.status_path();
        let call = Call::json(Method::GET, &path, Endpoint::ModelStatus, urgency);
        let body: serde_json::Value = self.call_json(call).await?;
        wire::model_status(body).map_err(UpstreamError::BadBody)
    }

    /// Opens or closes a model (`POST …/models/{m}/open` or `…/close`); never sent twice.
    pub async fn model_action(
        &self,
        at: &ModelAddress,
        action: ModelAction,
    ) -> Result<(), UpstreamError> {
        let mut path = at.path();
        path.push(action.as_str());
        let endpoint = match action {
            ModelAction::Open => Endpoint::ModelOpen,
            ModelAction::Close => Endpoint::ModelClose,
        };
        self.call_done(Call::json(Method::POST, &path, endpoint, Urgency::Caller))
            .await
    }

    async fn task_call(
        &self,
        method: Method,
        at: &TaskAddress,
        endpoint: Endpoint,
        urgency: Urgency,
    ) -> Result<WireTaskStatus, UpstreamError> {
        let path = at.path();
        let call = Call::json(method, &path, endpoint, urgency);
        if at.kind().is_read_request() {
            let envelope: ReadRequestEnvelope = self.call_json(call).await?;
            envelope
                .into_request()
                .map(WireTaskStatus::ReadRequest)
                .ok_or_else(|| UpstreamError::BadBody("no read request in the answer".into()))
        } else {
            let envelope: TaskEnvelope = self.call_json(call).await?;
            Ok(WireTaskStatus::Task(envelope.task))
        }
    }
}
