//! Which parameters the API's routes take: documented once (the `IntoParams` types of
//! [`documented`], with the patterns the checks enforce) and read once (from the URI, for the
//! routed handlers and the fast path alike), so the document, the router and the fast path
//! cannot disagree.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, Uri};

use crate::ids::{IdError, ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::service::starts::StartRequest;
use crate::service::{ListRequest, ModelRequest, TaskRequest};
use crate::starts::StartOptions;
pub use query::QueryIds;

mod documented;
mod query;
pub use documented::{
    AlmQuery, AlmTaskPath, Conditional, ImportDumpPath, ListPath, ModelPath, ModelQuery,
    ObjectKind, ProcessDumpPath, ProcessQuery, RunPath, RunQuery, TaskPath, TaskQuery,
};

/// The `Prefer` header (RFC 7240).
pub const PREFER: HeaderName = HeaderName::from_static("prefer");

/// The `wait=N` preference of a `Prefer` header (RFC 7240), in seconds; other preferences, and
/// a wait that is not a number, are ignored, as the RFC asks.
pub fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(PREFER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|preference| {
            let preference = preference.split(';').next()?.trim();
            let (name, value) = preference.split_once('=')?;
            let seconds = value.trim().trim_matches('"').parse::<u64>().ok()?;
            name.trim().eq_ignore_ascii_case("wait").then_some(seconds)
        })
        .next()
        .map(Duration::from_secs)
}

/// Reads and checks `/tasks/{kind}/{taskId}?modelId=&objectId=[&workspaceId=]`;
/// `default_model` stands in for a missing `modelId`. The task id is read in Anaplan's case.
pub fn task_request(uri: &Uri, default_model: Option<ModelId>) -> Result<TaskRequest, IdError> {
    let mut request = task_request_as_given(uri, default_model)?;
    request.task = request.task.in_case_of(request.kind);
    Ok(request)
}

/// As [`task_request`], with the task id as given: for the fast path, which only looks for a
/// cached answer; a lower-case id finds none there and goes on to the router, which reads it
/// in Anaplan's case.
pub fn task_request_as_given(
    uri: &Uri,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    task_request_in(uri.path(), uri.query(), default_model)
}

/// Reads and checks `/tasks/{kind}/{taskId}/events?modelId=&objectId=[&workspaceId=]`, as
/// [`task_request`] does the task's own route.
pub fn task_events_request(
    uri: &Uri,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    task_request_below(uri.path(), "/events", uri.query(), default_model)
}

/// Reads and checks the task of a route below a task's own, `{task path}{tail}` with the task's
/// query, as [`task_request`] does the task's own route.
pub fn task_request_below(
    path: &str,
    tail: &str,
    query: Option<&str>,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    let path = path.strip_suffix(tail).unwrap_or_default();
    let mut request = task_request_in(path, query, default_model)?;
    request.task = request.task.in_case_of(request.kind);
    Ok(request)
}

/// Reads and checks `/tasks/import/{taskId}/dump` and `/tasks/process/{taskId}/dumps/{actionId}`
/// (with `?modelId=&objectId=[&workspaceId=]`): the task, and the action for a process's dump.
pub fn dump_request(
    uri: &Uri,
    default_model: Option<ModelId>,
) -> Result<(TaskRequest, Option<ObjectId>), IdError> {
    let path = uri.path();
    let (task_path, action) = match path.strip_suffix("/dump") {
        Some(task_path) => (task_path, None),
        None => {
            let (task_path, action) = path.rsplit_once("/dumps/").unwrap_or((path, ""));
            let action = ObjectId::parse("actionId", &decoded(action))?;
            (task_path, Some(action))
        }
    };
    let mut request = task_request_in(task_path, uri.query(), default_model)?;
    request.task = request.task.in_case_of(request.kind);
    Ok((request, action))
}

/// Reads and checks `/tasks/{kind}?modelId=&objectId=[&workspaceId=]`: imports, exports,
/// actions, processes and ALM syncs keep task lists; read requests and ALM reports do not.
pub fn list_request(uri: &Uri, default_model: Option<ModelId>) -> Result<ListRequest, IdError> {
    let kind = uri.path().strip_prefix("/tasks/").unwrap_or_default();
    let kind = TaskKind::parse(kind).or_else(|_| TaskKind::parse(&decoded(kind)))?;
    if !kind.keeps_task_list() {
        return Err(IdError::Malformed {
            param: "kind",
            expected: "one of import, export, action, process, alm-sync, integration-run (read \
                       requests and reports keep no task list)",
        });
    }
    let TaskIds {
        model,
        object,
        workspace,
    } = query_ids(QueryIds::parse(uri.query()), default_model, kind)?;
    Ok(ListRequest {
        kind,
        model,
        object,
        workspace,
    })
}

/// Reads and checks `POST /tasks/{kind}?modelId=&objectId=[&workspaceId=]`, every kind taken;
/// the start's options are the kind's defaults until its body is read.
pub fn start_request(uri: &Uri, default_model: Option<ModelId>) -> Result<StartRequest, IdError> {
    let kind = uri.path().strip_prefix("/tasks/").unwrap_or_default();
    let kind = TaskKind::parse(kind).or_else(|_| TaskKind::parse(&decoded(kind)))?;
    let TaskIds {
        model,
        object,
        workspace,
    } = query_ids(QueryIds::parse(uri.query()), default_model, kind)?;
    Ok(StartRequest {
        kind,
        model,
        object,
        workspace,
        options: StartOptions::defaults(kind),
        key: None,
    })
}

fn task_request_in(
    path: &str,
    query: Option<&str>,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    let rest = path.strip_prefix("/tasks/").unwrap_or_default();
    let (kind, task) = rest.split_once('/').unwrap_or((rest, ""));
    // Valid segments need no decoding, so they are read as they are first.
    let kind = TaskKind::parse(kind).or_else(|_| TaskKind::parse(&decoded(kind)))?;
    let task =
        TaskId::parse("taskId", task).or_else(|_| TaskId::parse("taskId", &decoded(task)))?;
    task_request_of(kind, task, QueryIds::parse(query), default_model)
}

/// Reads and checks a task given by its parts, as a batch's item gives it: each part checked as
/// [`task_request`] checks the task's own route, the task id read in its kind's case.
pub fn batch_item_request(
    kind: &str,
    task: &str,
    ids: QueryIds<'_>,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    let kind = TaskKind::parse(kind)?;
    let task = TaskId::parse("taskId", task)?.in_case_of(kind);
    task_request_of(kind, task, ids, default_model)
}

fn task_request_of(
    kind: TaskKind,
    task: TaskId,
    ids: QueryIds<'_>,
    default_model: Option<ModelId>,
) -> Result<TaskRequest, IdError> {
    let TaskIds {
        model,
        object,
        workspace,
    } = query_ids(ids, default_model, kind)?;
    Ok(TaskRequest {
        kind,
        task,
        model,
        object,
        workspace,
    })
}

/// The model (or `default_model`), object and workspace a task query names, checked: the object
/// is required for a kind filed under one, and refused for a kind filed under the model; a
/// CloudWorks run takes no model (nor a name for its integration).
fn query_ids(
    query: QueryIds<'_>,
    default_model: Option<ModelId>,
    kind: TaskKind,
) -> Result<TaskIds, IdError> {
    let model = match (kind.is_cloudworks(), query.model_id.as_deref()) {
        (false, Some(text)) => Some(ModelId::parse("modelId", text)?),
        (false, None) => Some(default_model.ok_or(IdError::Missing { param: "modelId" })?),
        (true, None) => None,
        (true, Some(_)) => {
            return Err(IdError::NotTaken {
                param: "modelId",
                kind,
            });
        }
    };
    let others = [
        ("workspaceId", query.workspace_id.is_some()),
        ("objectName", query.object_name.is_some()),
    ];
    for (param, given) in others.into_iter().filter(|_| kind.is_cloudworks()) {
        if given {
            return Err(IdError::NotTaken { param, kind });
        }
    }
    let (id, name) = (query.object_id.as_deref(), query.object_name.is_some());
    let object = match (id, name, kind.filed_under_object()) {
        (Some(text), false, true) => Some(ObjectId::parse_for(kind, "objectId", text)?),
        (Some(_), true, true) => {
            return Err(IdError::Malformed {
                param: "objectId",
                expected: "left out when objectName is given (one names the object)",
            });
        }
        // Named: the name is resolved once the request is admitted.
        (None, true, true) => None,
        (None, false, true) => {
            return Err(IdError::Missing {
                param: "objectId (or objectName)",
            });
        }
        (Some(_), _, false) => {
            return Err(IdError::NotTaken {
                param: "objectId",
                kind,
            });
        }
        (None, true, false) => {
            return Err(IdError::NotTaken {
                param: "objectName",
                kind,
            });
        }
        (None, false, false) => None,
    };
    Ok(TaskIds {
        model,
        object,
        workspace: workspace(&query)?,
    })
}

/// The ids a task query names, checked.
struct TaskIds {
    model: Option<ModelId>,
    object: Option<ObjectId>,
    workspace: Option<WorkspaceId>,
}

/// The longest name taken, in characters: longer than any Anaplan gives an object.
const MAX_NAME: usize = 255;

/// The `objectName` a task query names its object by, checked: 1 to 255 characters, not only
/// spaces, no control character.
pub fn object_name(uri: &Uri) -> Result<Option<String>, IdError> {
    let Some(name) = QueryIds::parse(uri.query()).object_name else {
        return Ok(None);
    };
    checked_name("objectName", &name).map(Some)
}

/// A name as a caller gave it, checked as [`object_name`] checks one.
pub fn checked_name(param: &'static str, name: &str) -> Result<String, IdError> {
    let length = name.chars().count();
    let usable = !name.trim().is_empty() && length <= MAX_NAME;
    match usable && !name.chars().any(char::is_control) {
        true => Ok(name.to_owned()),
        false => Err(IdError::Malformed {
            param,
            expected: "a name of 1 to 255 characters, not only spaces, with no control character",
        }),
    }
}

/// Reads and checks `/models/{modelId}/…[?workspaceId=]` (its status, open or close).
pub fn model_request(uri: &Uri) -> Result<ModelRequest, IdError> {
    let rest = uri.path().strip_prefix("/models/").unwrap_or_default();
    let model = rest.split_once('/').map_or(rest, |(model, _)| model);
    Ok(ModelRequest {
        model: ModelId::parse("modelId", &decoded(model))?,
        workspace: workspace(&QueryIds::parse(uri.query()))?,
    })
}

/// A file as an upload's path names it: by its id, or by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileNamed {
    /// Digits: the file's id.
    Id(ObjectId),
    /// Anything else: the file's name, resolved from the model's file list.
    Name(String),
}

/// Reads and checks `/models/{modelId}/files/{fileId}[?workspaceId=]`, where the file is its
/// id or its name.
pub fn upload_request(uri: &Uri) -> Result<(ModelRequest, FileNamed), IdError> {
    let rest = uri.path().strip_prefix("/models/").unwrap_or_default();
    let (model, file) = rest.split_once("/files/").unwrap_or((rest, ""));
    let model = ModelRequest {
        model: ModelId::parse("modelId", &decoded(model))?,
        workspace: workspace(&QueryIds::parse(uri.query()))?,
    };
    let file = decoded(file);
    let file = match ObjectId::parse("fileId", &file) {
        Ok(id) => FileNamed::Id(id),
        Err(_) => FileNamed::Name(checked_name("fileId", &file)?),
    };
    Ok((model, file))
}

fn workspace(query: &QueryIds<'_>) -> Result<Option<WorkspaceId>, IdError> {
    let text = query.workspace_id.as_deref();
    text.map(|text| WorkspaceId::parse("workspaceId", text))
        .transpose()
}

/// A path segment percent-decoded, as routers decode them; borrowed unless encoded. A segment
/// that does not decode to UTF-8 stays as it is and fails the id checks.
fn decoded(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(segment))
}

#[cfg(test)]
mod tests;
