//! The routed handlers: task status, cancel and model status. Each reads its parameters with
//! [`params`](super::params), asks the [`StatusService`], and answers with [`respond`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

use axum::response::Response;
use tokio::time::Instant;

use super::access;
use super::docs::{CancelProblems, ProblemResponses};
use super::error::ApiError;
use super::headers::{names, respond, seconds_up};
use super::params::{self, Conditional, ListPath, ModelPath, ModelQuery, TaskPath, TaskQuery};
use crate::cache::Snapshot;
use crate::schema::{ModelStatus, Task, TaskList};
use crate::service::{ModelRequest, StatusService, TaskRequest};
use crate::waiting::WaitFor;

/// The task's normalised status.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}",
    tag = "tasks",
    params(TaskPath, TaskQuery, Conditional),
    responses(
        (status = 200, description = "The task's status", body = Task,
            headers(("ETag" = String, description = "Weak tag of the answer without its poll times"),
                    ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String),
                    ("Preference-Applied" = String, description = "`wait=N` when the request was held"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag (when held: for the whole wait)",
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String),
                    ("Preference-Applied" = String, description = "`wait=N` when the request was held"))),
        ProblemResponses,
    )
)]
pub async fn get_task(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut task = params::task_request(request.uri(), service.default_model())?;
    access::admit(&service, &request, &mut task)?;
    let naming = super::names::Naming::of(&request)?;
    let conditions = conditions_of(request);
    naming.fill(&service, &mut task).await?;
    answer(&service, Asked::Task(task), &conditions).await
}

/// Cancels the task in Anaplan and answers with its status as Anaplan then reports it (usually
/// `cancelling`). A task that has already finished is answered with its final status: a cancel
/// is idempotent.
#[utoipa::path(
    delete,
    path = "/tasks/{kind}/{taskId}",
    tag = "tasks",
    params(TaskPath, TaskQuery),
    responses(
        (status = 200, description = "The task's status after the cancel, or its final status", body = Task,
            headers(("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        CancelProblems,
    )
)]
pub async fn cancel_task(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut task = params::task_request(request.uri(), service.default_model())?;
    if task.kind.is_alm() {
        return Err(ApiError::NoCancel(task.kind));
    }
    let caller = access::may_cancel(&request)?;
    access::admit(&service, &request, &mut task)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    tracing::info!(caller = caller.as_deref(), kind = %task.kind, task = %task.task, "cancel asked for");
    let served = service.cancel(task).await?;
    Ok(respond(&served, Instant::now(), None))
}

/// The model's normalised status.
#[utoipa::path(
    get,
    path = "/models/{modelId}/status",
    tag = "models",
    params(ModelPath, ModelQuery, Conditional),
    responses(
        (status = 200, description = "The model's status", body = ModelStatus,
            headers(("ETag" = String, description = "Weak tag of the answer without its poll times"),
                    ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String),
                    ("Preference-Applied" = String, description = "`wait=N` when the request was held"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag (when held: for the whole wait)",
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String),
                    ("Preference-Applied" = String, description = "`wait=N` when the request was held"))),
        ProblemResponses,
    )
)]
pub async fn get_model_status(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut model = params::model_request(request.uri())?;
    access::admit(&service, &request, &mut model)?;
    let conditions = conditions_of(request);
    answer(&service, Asked::Model(model), &conditions).await
}

/// The request's `If-None-Match` and `Prefer`, copied, and the request let go: its headers and
/// path are slices of the connection's read buffer, which a request held for minutes would
/// otherwise keep (and make the connection read into a second one).
fn conditions_of(request: Request) -> HeaderMap {
    let mut conditions = HeaderMap::new();
    for name in [header::IF_NONE_MATCH, params::PREFER] {
        for value in request.headers().get_all(&name) {
            if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
                conditions.append(name.clone(), copy);
            }
        }
    }
    conditions
}

/// A status a caller asked for.
enum Asked {
    Task(TaskRequest),
    Model(ModelRequest),
}

/// The answer to a status request: at once, or held until it changes when the request asks to
/// be (`Prefer: wait=N` with `If-None-Match`); 304 while it is the one the caller has.
async fn answer(
    service: &StatusService,
    asked: Asked,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let if_none_match = headers.get(header::IF_NONE_MATCH);
    let (served, waited) = match held(headers) {
        Some((wait, tags)) => {
            let unchanged = |snapshot: &Snapshot| names(tags, &snapshot.etag);
            let wait_for = WaitFor {
                wait,
                unchanged: &unchanged,
            };
            match asked {
                Asked::Task(task) => service.task_when_changed(task, wait_for).await?,
                Asked::Model(model) => service.model_status_when_changed(model, wait_for).await?,
            }
        }
        None => match asked {
            Asked::Task(task) => (service.task(task).await?, None),
            Asked::Model(model) => (service.model_status(model).await?, None),
        },
    };
    let response = respond(&served, Instant::now(), if_none_match);
    Ok(with_wait_applied(response, waited))
}

/// The tasks filed under an import, export, action or process, newest first: how a caller that
/// lost a task id finds it again. Cached as a status is: one upstream call per interval.
#[utoipa::path(
    get,
    path = "/tasks/{kind}",
    tag = "tasks",
    params(ListPath, TaskQuery),
    responses(
        (status = 200, description = "The object's tasks, newest first", body = TaskList,
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag",
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        ProblemResponses,
    )
)]
pub async fn list_tasks(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut list = params::list_request(request.uri(), service.default_model())?;
    access::admit(&service, &request, &mut list)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut list).await?;
    let served = service.task_list(list).await?;
    let if_none_match = request.headers().get(header::IF_NONE_MATCH);
    Ok(respond(&served, Instant::now(), if_none_match))
}

/// The wait a request asks for and the tags it has, when it asks to be held: `Prefer: wait=N`
/// with `If-None-Match`.
fn held(headers: &HeaderMap) -> Option<(Duration, &HeaderValue)> {
    Some((
        params::prefer_wait(headers)?,
        headers.get(header::IF_NONE_MATCH)?,
    ))
}

/// `Preference-Applied: wait=N` on the answer to a request that was held.
pub(super) fn with_wait_applied(mut response: Response, waited: Option<Duration>) -> Response {
    if let Some(wait) = waited {
        let applied = format!("wait={}", seconds_up(wait));
        let value = HeaderValue::from_str(&applied).expect("ASCII digits");
        response.headers_mut().insert("preference-applied", value);
    }
    response
}
