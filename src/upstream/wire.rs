//! Anaplan's JSON as it comes over the wire, read leniently: every field optional, unknown fields
//! ignored, ids accepted as strings or numbers. The normalised schema converts from these.
//!
//! Shapes: task status <https://help.anaplan.com/monitor-the-import-tasks-107143d0-91b3-4158-b2ee-c30a9ba4ee5f>,
//! read requests <https://help.anaplan.com/retrieve-status-of-large-read-request-640995fc-1d90-4f4a-9292-f9bceb64353f>,
//! model status <https://help.anaplan.com/check-model-status-4e3e18e7-07ba-4daa-9aac-7d790ce73985>,
//! tokens <https://help.anaplan.com/use-basic-authentication-3a4a2905-3d55-4199-a980-d1a89ffdcb7e>.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads an id that Anaplan sends as a string in one response and a number in another.
pub(super) fn id_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

/// Reads a number Anaplan may send as a number or as text; anything else counts as absent.
pub(super) fn number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(value @ Value::Number(_)) => serde_json::from_value(value).ok(),
        _ => None,
    })
}

/// Reads a flag Anaplan may send as a boolean or as text.
pub(super) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Bool(flag)) => Some(flag),
        Some(Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    })
}

/// `{"task": {…}}` from an import, export, action or process task URL.
#[derive(Debug, Deserialize)]
pub struct TaskEnvelope {
    /// The task.
    pub task: WireTask,
}

/// An object's tasks, as `GET …/{imports|exports|actions|processes}/{id}/tasks` lists them:
/// `{"tasks": […]}` (the key absent when there are none), or, as Anaplan's own examples give a
/// list of one, `{"task": {…}}` or the task bare. Each shape is told apart by its keys, and a task
/// without an id is refused, so nothing unreadable is ever answered as an empty list.
pub fn listed_tasks(body: Value) -> Result<Vec<WireTask>, String> {
    let Value::Object(mut fields) = body else {
        return Err("a task list that is not an object".into());
    };
    let tasks = if let Some(tasks) = fields.remove("tasks") {
        let Value::Array(_) = tasks else {
            return Err("`tasks` is not a list".into());
        };
        serde_json::from_value::<Vec<WireTask>>(tasks).map_err(|err| err.to_string())?
    } else if let Some(task) = fields.remove("task") {
        vec![serde_json::from_value::<WireTask>(task).map_err(|err| err.to_string())?]
    } else if fields.contains_key("taskId") {
        vec![serde_json::from_value::<WireTask>(Value::Object(fields)).map_err(|e| e.to_string())?]
    } else if fields
        .keys()
        .all(|key| matches!(key.as_str(), "meta" | "status"))
    {
        Vec::new()
    } else {
        return Err("neither a list of tasks nor a task".into());
    };
    match tasks
        .iter()
        .all(|task| task.task_id.as_deref().is_some_and(|id| !id.is_empty()))
    {
        true => Ok(tasks),
        false => Err("a listed task without a `taskId`".into()),
    }
}

/// The answer to a start, in any of the shapes Anaplan gives it: `{"task": {"taskId", …}}`
/// (with or without the task's state), a bare `{"taskId"}`, or a read request's
/// `{"viewReadRequest" | "listReadRequest": {"requestId", …}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartEnvelope {
    /// An import's, export's, action's or process's new task.
    pub task: Option<WireTask>,
    /// The task id alone, as some answers give it.
    #[serde(default, deserialize_with = "id_text")]
    pub task_id: Option<String>,
    /// A new view read request.
    pub view_read_request: Option<WireReadRequest>,
    /// A new list read request.
    pub list_read_request: Option<WireReadRequest>,
}

/// A task as Anaplan reports it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTask {
    /// The task id.
    #[serde(default, deserialize_with = "id_text")]
    pub task_id: Option<String>,
    /// `NOT_STARTED`, `IN_PROGRESS`, `COMPLETE`, `CANCELLING`, `CANCELLED`, or one added later.
    pub task_state: Option<String>,
    /// Human text such as `Complete.` or `Failed.`.
    pub current_step: Option<String>,
    /// 0..1.
    #[serde(default, deserialize_with = "number")]
    pub progress: Option<f64>,
    /// Milliseconds since the epoch; on some responses only.
    #[serde(default, deserialize_with = "number")]
    pub creation_time: Option<i64>,
    /// Present once the task is done; boxed, as most statuses come without one.
    pub result: Option<Box<WireResult>>,
}

/// A task's result, or one action's result inside a process.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireResult {
    /// The import, export, action or process id.
    #[serde(default, deserialize_with = "id_text")]
    pub object_id: Option<String>,
    /// The object's name, where Anaplan gives it.
    pub object_name: Option<String>,
    /// Whether it worked.
    #[serde(default, deserialize_with = "flag")]
    pub successful: Option<bool>,
    /// Whether a dump of the failed rows can be downloaded.
    #[serde(default, deserialize_with = "flag")]
    pub failure_dump_available: Option<bool>,
    /// Debug information and row counts.
    pub details: Option<Vec<WireDetail>>,
    /// A process's per-action results.
    pub nested_results: Option<Vec<WireResult>>,
    /// An ALM task's failure: `{"title", "messageText", "subtitle"}`, read leniently.
    pub error: Option<Value>,
    /// An ALM task's source revision.
    #[serde(default, deserialize_with = "id_text")]
    pub source_revision_id: Option<String>,
    /// An ALM task's target revision.
    #[serde(default, deserialize_with = "id_text")]
    pub target_revision_id: Option<String>,
}

/// One entry of `result.details`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireDetail {
    /// For example `hierarchyRowsProcessed`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For example `Employees: 90 (0/90) rows successful, 5 ignored `.
    pub local_message_text: Option<String>,
    /// How often it happened.
    #[serde(default, deserialize_with = "number")]
    pub occurrences: Option<i64>,
    /// A flat `[key, value, key, value…]` list.
    pub values: Option<Vec<Value>>,
}

/// `{"viewReadRequest": {…}}` or `{"listReadRequest": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadRequestEnvelope {
    /// Present for view reads.
    pub view_read_request: Option<WireReadRequest>,
    /// Present for list reads.
    pub list_read_request: Option<WireReadRequest>,
}

impl ReadRequestEnvelope {
    /// Whichever of the two payloads came.
    pub fn into_request(self) -> Option<WireReadRequest> {
        self.view_read_request.or(self.list_read_request)
    }
}

/// A large read request as Anaplan reports it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireReadRequest {
    /// The request id.
    #[serde(default, deserialize_with = "id_text")]
    pub request_id: Option<String>,
    /// `NOT_STARTED`, `IN_PROGRESS`, `COMPLETE`, `CANCELLED`, or one added later.
    pub request_state: Option<String>,
    /// Pages ready to download.
    #[serde(default, deserialize_with = "number")]
    pub available_pages: Option<u64>,
    /// Anaplan sends `true` while in progress too; only meaningful once complete.
    #[serde(default, deserialize_with = "flag")]
    pub successful: Option<bool>,
}

/// The model status: `requestStatus`, with or without the `meta`/`status` envelope, or the
/// status alone (its `currentStep` at the top), as some of Anaplan's examples give it.
pub fn model_status(body: Value) -> Result<WireModelStatus, String> {
    let Value::Object(mut fields) = body else {
        return Err("a model status that is not an object".into());
    };
    let status = match fields.remove("requestStatus") {
        Some(status) => status,
        None if fields.contains_key("currentStep") => Value::Object(fields),
        None => return Err("neither a model status nor its `requestStatus`".into()),
    };
    serde_json::from_value(status).map_err(|err| err.to_string())
}

/// `requestStatus` of the model-status endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireModelStatus {
    /// `Open`, `Processing ...`, `Updating`, `Closed`, `Closing`…
    pub current_step: Option<String>,
    /// 0..1, or -1.0 when idle.
    #[serde(default, deserialize_with = "number")]
    pub progress: Option<f64>,
    /// Who runs what since when, as prose.
    pub tooltip: Option<String>,
    /// The running task, possibly with a suffix such as `-11`.
    #[serde(default, deserialize_with = "id_text")]
    pub task_id: Option<String>,
}

/// `{"model": {…}}` from `GET /models/{modelId}`.
#[derive(Debug, Deserialize)]
pub struct ModelEnvelope {
    /// The model.
    pub model: WireModel,
}

/// The parts of a model the gateway needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireModel {
    /// The workspace the model lives in.
    #[serde(default, deserialize_with = "id_text")]
    pub current_workspace_id: Option<String>,
}

/// The auth API's answer to authenticate and refresh.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenEnvelope {
    /// The token.
    pub token_info: WireTokenInfo,
}

/// `tokenInfo`; its `Debug` leaves the token out, so it can never be printed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTokenInfo {
    /// The token itself.
    pub token_value: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "number")]
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for WireTokenInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireTokenInfo")
            .field("token_value", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Anaplan's error body: `{"status": {"code": 404, "message": "Not Found"}, …}`.
#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    /// Code and message.
    pub status: ErrorStatus,
}

/// The `status` part of an error body.
#[derive(Debug, Deserialize)]
pub struct ErrorStatus {
    /// Anaplan's message.
    pub message: Option<String>,
}

/// `GET /token/validate`: whom a token acts as.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateEnvelope {
    /// The user, where Anaplan names one.
    pub user_info: Option<WireUserInfo>,
}

/// `userInfo` of a token validation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUserInfo {
    /// The user's login (an email address).
    pub user_id: Option<String>,
    /// The user's GUID.
    pub user_guid: Option<String>,
}

/// The OAuth token endpoint's answer; `Debug` is not derived so no token can be printed.
#[derive(Deserialize)]
pub struct WireOAuthTokens {
    /// The access token, used as `AnaplanAuthToken`.
    pub access_token: String,
    /// A new refresh token, from rotatable clients.
    pub refresh_token: Option<String>,
    /// Seconds the access token lasts (2100).
    pub expires_in: Option<u64>,
}
