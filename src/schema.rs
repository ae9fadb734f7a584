//! The normalised schema: one task shape for all six kinds, one model-status shape.
//!
//! These are what callers get and what the OpenAPI document describes; `normalise` builds them
//! from Anaplan's wire types.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::ids::TaskKind;

/// Serialises a time as RFC 3339 UTC with milliseconds, as `2026-11-23T10:00:00.000Z`.
fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn millis_opt<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// When the gateway last asked Anaplan, and the earliest it will ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollTimes {
    /// When the answer came from Anaplan (RFC 3339, UTC, milliseconds).
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-23T10:00:00.000Z")]
    pub fetched_at: DateTime<Utc>,
    /// The earliest the gateway asks Anaplan again; null once the task is finished.
    #[serde(serialize_with = "millis_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime, example = "2026-11-23T10:00:05.000Z")]
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// A task's state, the same for every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// `NOT_STARTED`.
    Queued,
    /// `IN_PROGRESS`.
    Running,
    /// `COMPLETE` and successful.
    Succeeded,
    /// `COMPLETE` and not successful.
    Failed,
    /// `CANCELLING`.
    Cancelling,
    /// `CANCELLED`: the changes were rolled back.
    Cancelled,
    /// A state Anaplan added later; the raw value is in `upstreamState`.
    Unknown,
}

impl TaskState {
    /// Finished states never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled
        )
    }
}

/// The normalised status of a task or large read request, as Anaplan last reported it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The kind asked for.
    pub kind: TaskKind,
    /// The task id (a read request's request id).
    pub task_id: String,
    /// The workspace the model lives in; left out for a CloudWorks run, which is the tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The model; left out for a CloudWorks run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The import, export, action, process, view, list or CloudWorks integration the task is
    /// filed under; left out for a kind filed under the model itself (ALM tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// The object's name, as its model lists it, once the gateway knows it (a caller asked for
    /// the object by its name, so the gateway listed them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// The normalised state.
    pub state: TaskState,
    /// True for succeeded, failed and cancelled: the answer will not change again.
    pub terminal: bool,
    /// Null until known.
    #[schema(required = true)]
    pub successful: Option<bool>,
    /// 0..1, or null where Anaplan gives none or a negative value.
    #[schema(required = true)]
    pub progress: Option<f64>,
    /// Anaplan's `currentStep`, such as `Complete.` or `Failed.`.
    #[schema(required = true)]
    pub current_step: Option<String>,
    /// Anaplan's raw `taskState` or `requestState`.
    #[schema(required = true)]
    pub upstream_state: Option<String>,
    /// When Anaplan created the task, where it says.
    #[serde(serialize_with = "millis_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub created_at: Option<DateTime<Utc>>,
    /// Pages ready to download: read requests only.
    #[schema(required = true)]
    pub available_pages: Option<u64>,
    /// The outcome, once Anaplan reports one (not for read requests).
    #[schema(required = true)]
    pub result: Option<TaskResult>,
}

/// A task as callers get it: its normalised status and when the gateway asked Anaplan about it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "kind": "import",
    "taskId": "1B1D84DDD53847BAA621810B593C3FC1",
    "workspaceId": "8a8196b15b7dbae6015b8694411d13fe",
    "modelId": "75A40874E6B64FA3AE0743278996850F",
    "objectId": "112000000009",
    "state": "succeeded",
    "terminal": true,
    "successful": true,
    "progress": 1.0,
    "currentStep": "Complete.",
    "upstreamState": "COMPLETE",
    "createdAt": "2019-10-16T20:39:07.545Z",
    "availablePages": null,
    "result": {
        "objectId": "112000000009",
        "objectName": null,
        "successful": true,
        "failureDumpAvailable": false,
        "warnings": true,
        "details": [{
            "type": "hierarchyRowsProcessed",
            "message": "Employees: 90 (0/90) rows successful, 5 ignored ",
            "occurrences": 0,
            "values": {"hierarchyName": "Employees", "successRowCount": 90, "ignoredCount": 5}
        }],
        "nestedResults": []
    },
    "fetchedAt": "2026-11-23T10:00:00.000Z",
    "nextPollAt": null
}))]
pub struct Task {
    /// The task's status.
    #[serde(flatten)]
    pub status: TaskStatus,
    /// When the gateway last asked Anaplan, and the earliest it will ask again.
    #[serde(flatten)]
    pub poll: PollTimes,
}

/// A finished task's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The import, export, action or process id (a CloudWorks run's: its integration's).
    #[schema(required = true)]
    pub object_id: Option<String>,
    /// The object's name, where Anaplan gives it.
    #[schema(required = true)]
    pub object_name: Option<String>,
    /// Whether the task worked; an import with warnings is still successful.
    #[schema(required = true)]
    pub successful: Option<bool>,
    /// Whether a dump of failed rows can be downloaded (for a process: in any of its actions).
    pub failure_dump_available: bool,
    /// Anaplan's "completed with warnings": the task worked, but rows failed, were ignored or
    /// warned (in its details, or a process's actions'), or it left a failure dump; for a
    /// CloudWorks run, a partial success (`executionErrorCode` 38).
    pub warnings: bool,
    /// Debug information and row counts.
    pub details: Vec<Detail>,
    /// A process's per-action results; empty for other kinds.
    pub nested_results: Vec<NestedResult>,
    /// Why an ALM task or a CloudWorks run failed, as Anaplan explains it (a run's
    /// `executionErrorCode` as its subtitle); left out for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// An ALM task's source revision; left out for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_revision_id: Option<String>,
    /// An ALM task's target revision; left out for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_revision_id: Option<String>,
}

/// An ALM task's failure, as Anaplan explains it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "title": "Model Synchronization Failed",
    "message": "Your current workspace size is 998.9 MB.",
    "subtitle": "Completing this sync would cause your workspace to exceed its size limit of 1.0 GB."
}))]
pub struct TaskError {
    /// What failed.
    #[schema(required = true)]
    pub title: Option<String>,
    /// Anaplan's `messageText`.
    #[schema(required = true)]
    pub message: Option<String>,
    /// What would have happened, or what to do.
    #[schema(required = true)]
    pub subtitle: Option<String>,
}

/// One action's result inside a process.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NestedResult {
    /// The action's id: the key of its dump file.
    #[schema(required = true)]
    pub object_id: Option<String>,
    /// The action's name, where Anaplan gives it.
    #[schema(required = true)]
    pub object_name: Option<String>,
    /// Whether the action worked.
    #[schema(required = true)]
    pub successful: Option<bool>,
    /// Whether this action left a dump of failed rows.
    pub failure_dump_available: bool,
    /// Empty where Anaplan sends none.
    pub details: Vec<Detail>,
}

/// One entry of a result's details.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "hierarchyRowsProcessed",
    "message": "Employees: 90 (0/90) rows successful, 5 ignored ",
    "occurrences": 0,
    "values": {"hierarchyName": "Employees", "successRowCount": 90, "ignoredCount": 5}
}))]
pub struct Detail {
    /// Anaplan's detail type, such as `hierarchyRowsProcessed` or `exportSucceeded`.
    #[serde(rename = "type")]
    #[schema(required = true)]
    pub kind: Option<String>,
    /// Anaplan's `localMessageText`.
    #[schema(required = true)]
    pub message: Option<String>,
    /// How often it happened.
    #[schema(required = true)]
    pub occurrences: Option<i64>,
    /// Anaplan's flat `[key, value, …]` list as an object; whole numbers become numbers.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
}

/// A model's state, from Anaplan's `currentStep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Nothing running.
    Open,
    /// An import, export or process runs.
    Processing,
    /// An update such as a cell write runs.
    Updating,
    /// Closed (offloaded).
    Closed,
    /// Closing.
    Closing,
    /// In maintenance.
    Maintenance,
    /// A step the gateway does not know; the raw text is in `currentStep`.
    Unknown,
}

/// Who started the model's current activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Person {
    /// The user's name.
    #[schema(required = true)]
    pub name: Option<String>,
    /// The user's email.
    #[schema(required = true)]
    pub email: Option<String>,
}

/// What the model is busy with, as far as Anaplan's tooltip says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `import`, `export`, `process`…, lower case.
    #[serde(rename = "type")]
    #[schema(required = true)]
    pub kind: Option<String>,
    /// The running task's id as Anaplan gives it (it may carry a suffix such as `-11`).
    #[schema(required = true)]
    pub task_id: Option<String>,
    /// Who started it.
    #[schema(required = true)]
    pub started_by: Option<Person>,
    /// When, as Anaplan words it (for example `11:23 (UTC)`).
    #[schema(required = true)]
    pub started_at: Option<String>,
}

/// The normalised status of a model, as Anaplan last reported it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelReport {
    /// The model.
    pub model_id: String,
    /// The workspace it lives in.
    pub workspace_id: String,
    /// The normalised state.
    pub state: ModelState,
    /// True while processing or updating.
    pub busy: bool,
    /// Anaplan's raw `currentStep`.
    #[schema(required = true)]
    pub current_step: Option<String>,
    /// 0..1, or null when idle.
    #[schema(required = true)]
    pub progress: Option<f64>,
    /// Anaplan's tooltip, as given.
    #[schema(required = true)]
    pub tooltip: Option<String>,
    /// Null when the model is idle; what the tooltip does not say stays null.
    #[schema(required = true)]
    pub activity: Option<Activity>,
}

/// A model's status as callers get it: its normalised report and when the gateway asked Anaplan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "modelId": "75A40874E6B64FA3AE0743278996850F",
    "workspaceId": "8a8196b15b7dbae6015b8694411d13fe",
    "state": "processing",
    "busy": true,
    "currentStep": "Processing ...",
    "progress": 0.4411,
    "tooltip": "The system is currently processing an Export:\n\nExport started by user Jesse Smith (jesse.smith@yourcompany.com)\n\nExport started at 11:23 (UTC)\nTasks can be cancelled in Model Management.",
    "activity": {
        "type": "export",
        "taskId": "6EB7F52C07CA4E86909A213C608765A1-11",
        "startedBy": {"name": "Jesse Smith", "email": "jesse.smith@yourcompany.com"},
        "startedAt": "11:23 (UTC)"
    },
    "fetchedAt": "2026-11-23T10:00:00.000Z",
    "nextPollAt": "2026-11-23T10:00:05.000Z"
}))]
pub struct ModelStatus {
    /// The model's status.
    #[serde(flatten)]
    pub status: ModelReport,
    /// When the gateway last asked Anaplan, and the earliest it will ask again.
    #[serde(flatten)]
    pub poll: PollTimes,
}

/// The tasks filed under one import, export, action or process (or a model's ALM syncs, or a
/// CloudWorks integration's runs), newest first: how a caller that lost a task id finds it again.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    /// The tasks, newest first.
    pub tasks: Vec<ListedTask>,
    /// When the gateway last asked Anaplan, and the earliest it will ask again.
    #[serde(flatten)]
    pub poll: PollTimes,
}

/// One task of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedTask {
    /// The task id.
    pub task_id: String,
    /// As for a task; a finished task whose verdict Anaplan leaves out of its list is `unknown`
    /// with `upstreamState` `COMPLETE`: its status has the verdict.
    pub state: TaskState,
    /// Anaplan's own state.
    #[schema(required = true)]
    pub upstream_state: Option<String>,
    /// When the task was created (RFC 3339, UTC, milliseconds).
    #[serde(serialize_with = "millis_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub created_at: Option<DateTime<Utc>>,
}
