//! Many tasks in one request (`POST /tasks/status`): each item is checked, admitted and answered
//! exactly as the task's own route would answer it alone (from the cache, coalesced with every
//! other caller, in the budget, with the caller's rights), in the request's order; a bad item is
//! a problem of its own and never fails the others. With `Prefer: wait=N` and every item's
//! `ifNoneMatch`, the batch is held as one request until any item changes.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::access;
use super::docs::BatchProblems;
use super::error::{ApiError, Problem};
use super::headers::names;
use super::names::Naming;
use super::params::{self, QueryIds};
use super::routes::with_wait_applied;
use crate::cache::{Served, Snapshot};
use crate::callers::Caller;
use crate::ids::ModelId;
use crate::schema::Task;
use crate::service::{StatusService, TaskRequest};
use crate::waiting::WaitForAny;

/// The bytes a batch's body may take per item it may hold: items are a few hundred bytes.
const ITEM_BYTES: usize = 2048;

/// A batch: the tasks to answer, in order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tasks": [
    {"kind": "import", "taskId": "1B1D84DDD53847BAA621810B593C3FC1", "objectId": "112000000009",
     "modelId": "75A40874E6B64FA3AE0743278996850F"},
    {"kind": "export", "taskId": "2C2D84DDD53847BAA621810B593C3FC2", "objectId": "116000000001",
     "modelId": "75A40874E6B64FA3AE0743278996850F"}
]}))]
pub struct Batch {
    /// 1 to `GATEWAY_MAX_BATCH` tasks (the document states its default, 100); an item that is
    /// not one is answered with its own problem.
    #[schema(value_type = Vec<BatchItem>, min_items = 1, max_items = 100)]
    pub tasks: Vec<Value>,
}

/// One task of a batch: what `GET /tasks/{kind}/{taskId}` takes, as fields.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchItem {
    /// The task's kind, as in `/tasks/{kind}/…`.
    #[schema(example = "import")]
    pub kind: String,
    /// The task id (a read request's request id, a CloudWorks run's id).
    #[schema(example = "1B1D84DDD53847BAA621810B593C3FC1")]
    pub task_id: String,
    /// What the task is filed under, as the task's route takes it.
    #[schema(example = "112000000009")]
    pub object_id: Option<String>,
    /// The object's name, in place of `objectId`.
    pub object_name: Option<String>,
    /// The model; may be left out when `ANAPLAN_MODEL_ID` is set (and is, for a CloudWorks run).
    #[schema(example = "75A40874E6B64FA3AE0743278996850F")]
    pub model_id: Option<String>,
    /// The workspace; found from the model when left out.
    pub workspace_id: Option<String>,
    /// The `etag` of the answer the caller has: with `Prefer: wait=N`, the batch is held while
    /// every item's answer is still that one.
    pub if_none_match: Option<String>,
}

/// A batch's answer, as the document describes it (it is built from each item's own answer).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tasks": [
    {"etag": "W/\"8b07774288fcef4e0b460f09b92e8202\"", "kind": "import",
     "taskId": "1B1D84DDD53847BAA621810B593C3FC1", "workspaceId": "8a8196b15b7dbae6015b8694411d13fe",
     "modelId": "75A40874E6B64FA3AE0743278996850F", "objectId": "112000000009", "state": "running",
     "terminal": false, "successful": null, "progress": 0.35, "currentStep": "Running...",
     "upstreamState": "IN_PROGRESS", "createdAt": "2026-11-23T09:58:00.000Z", "availablePages": null,
     "result": null, "fetchedAt": "2026-11-23T10:00:00.000Z", "nextPollAt": "2026-11-23T10:00:05.000Z"},
    {"problem": {"type": "urn:anaplan-gateway:problem:bad-request", "title": "Bad request",
     "status": 400, "detail": "taskId must be 32 hexadecimal characters"}}
]}))]
pub struct BatchAnswer {
    /// Every item's answer, in the request's order.
    pub tasks: Vec<BatchEntry>,
}

/// One item's answer: its task, or its problem.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchEntry {
    /// The task, as its own route answers it, with its `etag`.
    Task(Box<BatchTask>),
    /// The problem the item would have got alone.
    Problem(BatchProblem),
}

/// An item's task.
#[derive(Serialize, ToSchema)]
pub struct BatchTask {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// Its ETag, for the item's `ifNoneMatch` next time.
    #[schema(example = "W/\"5f2b9c0e4d1a7b3c\"")]
    pub etag: String,
    /// In the answer to a held batch: whether it differs from the item's `ifNoneMatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// An item's problem.
#[derive(Serialize, ToSchema)]
pub struct BatchProblem {
    /// What the item would have got alone: 400 for a bad id, 403 for a model the caller may not
    /// read, 404, 502… (a 503's `Retry-After` is not carried: ask again after a poll interval).
    pub problem: Problem,
    /// In the answer to a held batch: always true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// Answers many tasks at once, each exactly as its own route would, in the request's order.
/// With `Prefer: wait=N` and an `ifNoneMatch` on every item, the batch is held (as one waiting
/// request) until any item changes (200, each item marked `changed`) or the wait ends (304).
#[utoipa::path(post, path = "/tasks/status", tag = "tasks",
    params(("Prefer" = Option<String>, Header, description = "`wait=N`: hold the batch, while \
        every item's `ifNoneMatch` is its current `etag`, for up to N seconds (capped by \
        GATEWAY_MAX_WAIT)", example = "wait=20")),
    request_body(content = Batch, description = "The tasks, in the order they are answered"),
    responses((status = 200, description = "Every item's answer, in order: its task with its \
        `etag` (and, for a held batch, `changed`), or its own problem", body = BatchAnswer,
        headers(("Preference-Applied" = String, description = "`wait=N` when the batch was held"))),
        (status = 304, description = "Held, and no item changed before the wait ended",
        headers(("Preference-Applied" = String))), BatchProblems))]
pub async fn task_statuses(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let most = service.max_batch();
    // Room for the most items of a few hundred bytes each, so a batch's body stays small.
    let limit = most.saturating_mul(ITEM_BYTES);
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::Malformed(format!("the body: broke off, or is over {limit} bytes"))
    })?;
    let batch: Batch = serde_json::from_slice(&body)
        .map_err(|err| ApiError::Malformed(format!("the body is not a batch: {err}")))?;
    let count = batch.tasks.len();
    if count == 0 || count > most {
        let why = format!("tasks: {count} items; a batch takes 1 to {most} (GATEWAY_MAX_BATCH)");
        return Err(ApiError::Malformed(why));
    }
    let wait = params::prefer_wait(&parts.headers);
    let caller = parts.extensions.get::<Arc<Caller>>().cloned();
    let default_model = service.default_model();
    let items: Vec<Item> = (batch.tasks.iter())
        .map(|raw| Item::read(raw, default_model))
        .collect();
    // What a held batch keeps is its items, read: not its body, nor the request's headers (slices
    // of the connection's read buffer).
    drop((batch, body, parts));
    let asked = items
        .iter()
        .map(|item| item.answer(&service, caller.as_ref()));
    let (answers, requests): (Vec<_>, Vec<_>) = (join_all(asked).await.into_iter())
        .map(|answer| match answer {
            Ok((served, request)) => (Ok(served), Some(request)),
            Err(problem) => (Err(problem), None),
        })
        .unzip();
    match wait.filter(|_| items.iter().all(|item| item.tag.is_some())) {
        Some(wait) => Ok(held(&service, &items, answers, requests, wait).await),
        None => Ok(answer(&items, answers, wait.is_some(), None)),
    }
}

/// A held batch's answer: at once when an item differs from the caller's tag already (or is a
/// problem), else once one changes (200) or the wait ends (304).
async fn held(
    service: &StatusService,
    items: &[Item],
    answers: Vec<Result<Served, Problem>>,
    requests: Vec<Option<TaskRequest>>,
    wait: Duration,
) -> Response {
    let unchanged = |index: usize, snapshot: &Snapshot| items[index].holds(snapshot);
    // The requests as answered: a named object's id and the workspace filled in.
    let requests: Option<Vec<TaskRequest>> = requests.into_iter().collect();
    let (Some(requests), true) = (requests, all_hold(items, &answers)) else {
        return answer(items, answers, true, None);
    };
    let wait_for = WaitForAny {
        wait,
        unchanged: &unchanged,
    };
    let Ok((answers, waited)) = service.tasks_when_any_changed(&requests, wait_for).await else {
        // A workspace known moments ago could not be found again: answered as first asked.
        return answer(items, answers, true, None);
    };
    let answers: Vec<Result<Served, Problem>> = (answers.into_iter())
        .map(|answer| answer.map_err(|err| ApiError::from(err).problem()))
        .collect();
    match all_hold(items, &answers) {
        true => with_wait_applied(StatusCode::NOT_MODIFIED.into_response(), waited),
        false => answer(items, answers, true, waited),
    }
}

/// Whether every answer is still the one its item's caller has (none is a problem).
fn all_hold(items: &[Item], answers: &[Result<Served, Problem>]) -> bool {
    (items.iter().zip(answers))
        .all(|(item, answer)| matches!(answer, Ok(served) if item.holds(&served.snapshot)))
}

/// One item of a batch, read: the task it names (or its problem) and the tag the caller has.
struct Item {
    checked: Result<Checked, Problem>,
    tag: Option<HeaderValue>,
}

/// A task an item names, checked, and the object's name when the item gives one.
struct Checked {
    request: TaskRequest,
    name: Option<String>,
}

impl Item {
    /// Reads and checks an item as the task's own route checks its path and query.
    fn read(raw: &Value, default_model: Option<ModelId>) -> Self {
        Item {
            checked: Self::check(raw, default_model).map_err(|err| err.problem()),
            // A tag that is no header value names no answer: the item counts as changed.
            tag: (raw.get("ifNoneMatch").and_then(Value::as_str))
                .map(|tag| HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""))),
        }
    }

    fn check(raw: &Value, default_model: Option<ModelId>) -> Result<Checked, ApiError> {
        let item = BatchItem::deserialize(raw)
            .map_err(|err| ApiError::Malformed(format!("the item is not a task: {err}")))?;
        if let Some(name) = &item.object_name {
            params::checked_name("objectName", name)?;
        }
        let name = item.object_name.clone();
        let ids = QueryIds {
            model_id: item.model_id.map(Cow::Owned),
            object_id: item.object_id.map(Cow::Owned),
            object_name: item.object_name.map(Cow::Owned),
            workspace_id: item.workspace_id.map(Cow::Owned),
        };
        let request = params::batch_item_request(&item.kind, &item.task_id, ids, default_model)?;
        Ok(Checked { request, name })
    }

    /// What the item would get alone, and its request as answered (its workspace and named
    /// object filled in).
    async fn answer(
        &self,
        service: &StatusService,
        caller: Option<&Arc<Caller>>,
    ) -> Result<(Served, TaskRequest), Problem> {
        let checked = self.checked.as_ref().map_err(Clone::clone)?;
        let asked = async {
            let mut task = checked.request;
            access::admit_caller(service, caller, &mut task)?;
            Naming::named(checked.name.clone(), caller.cloned())
                .fill(service, &mut task)
                .await?;
            Ok::<_, ApiError>((service.task(task).await?, task))
        };
        asked.await.map_err(|err| err.problem())
    }

    /// Whether `snapshot` is still the answer the caller has, its tag compared as the task's
    /// route compares `If-None-Match`.
    fn holds(&self, snapshot: &Snapshot) -> bool {
        (self.tag.as_ref()).is_some_and(|mine| names(mine, &snapshot.etag))
    }
}

/// The batch's answer: every item's, in order; `marked` adds whether each changed.
fn answer(
    items: &[Item],
    answers: Vec<Result<Served, Problem>>,
    marked: bool,
    waited: Option<Duration>,
) -> Response {
    let mut body = b"{\"tasks\":[".to_vec();
    for (index, (item, answer)) in items.iter().zip(answers).enumerate() {
        if index > 0 {
            body.push(b',');
        }
        match answer {
            Ok(served) => {
                let changed = marked.then(|| !item.holds(&served.snapshot));
                task_entry(&mut body, &served, changed);
            }
            Err(problem) => {
                let entry = match marked {
                    true => json!({"problem": problem, "changed": true}),
                    false => json!({ "problem": problem }),
                };
                body.extend(serde_json::to_vec(&entry).unwrap_or_default());
            }
        }
    }
    body.extend(b"]}");
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    with_wait_applied((headers, body).into_response(), waited)
}

/// A task's answer exactly as its own route gives it, its `etag` (and whether it `changed`)
/// written in front of its fields.
fn task_entry(body: &mut Vec<u8>, served: &Served, changed: Option<bool>) {
    let task = &served.snapshot.body;
    let etag = served.snapshot.etag.to_str().unwrap_or_default();
    body.extend(b"{\"etag\":");
    body.extend(serde_json::to_vec(etag).unwrap_or_default());
    if let Some(changed) = changed {
        body.extend(format!(",\"changed\":{changed}").as_bytes());
    }
    // The task's own fields follow, after its opening brace.
    match task
        .strip_prefix(b"{")
        .filter(|fields| fields.first() != Some(&b'}'))
    {
        Some(fields) => {
            body.push(b',');
            body.extend(fields);
        }
        None => body.push(b'}'),
    }
}
