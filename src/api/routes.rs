//! The routed handlers: task status, cancel and model status. Each reads its parameters with
//! [`params`](super::params), asks the [`StatusService`], and answers with [`respond_routed`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

use axum::response::Response;
use futures_util::future::Either;
use tokio::time::Instant;

use super::access;
use super::docs::{CancelProblems, ProblemResponses};
use super::error::ApiError;
use super::headers::{names, respond_routed, seconds_up};
use super::names::Naming;
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
pub fn get_task(
    State(service): State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    // The request is let go before the answer is awaited: see `Conditions`.
    match asked_task(&service, &request) {
        Ok((task, naming, conditions)) => {
            Either::Left(task_answer(service, task, naming, conditions))
        }
        Err(refused) => Either::Right(std::future::ready(Err(refused))),
    }
}

async fn task_answer(
    service: StatusService,
    mut task: TaskRequest,
    naming: Naming,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    naming.fill(&service, &mut task).await?;
    answer(&service, Asked::Task(&task), &conditions).await
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
    let naming = Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    tracing::info!(caller = caller.as_deref(), kind = %task.kind, task = %task.task, "cancel asked for");
    let served = service.cancel(task).await?;
    Ok(respond_routed(&served, Instant::now(), None))
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
pub fn get_model_status(
    State(service): State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    // The request is let go before the answer is awaited: see `Conditions`.
    match asked_model(&service, &request) {
        Ok((model, conditions)) => Either::Left(model_answer(service, model, conditions)),
        Err(refused) => Either::Right(std::future::ready(Err(refused))),
    }
}

async fn model_answer(
    service: StatusService,
    model: ModelRequest,
    conditions: Conditions,
) -> Result<Response, ApiError> {
    answer(&service, Asked::Model(&model), &conditions).await
}

/// The task a status request asks for, who may name it, and its conditions.
fn asked_task(
    service: &StatusService,
    request: &Request,
) -> Result<(TaskRequest, Naming, Conditions), ApiError> {
    let mut task = params::task_request(request.uri(), service.default_model())?;
    access::admit(service, request, &mut task)?;
    let naming = Naming::of(request)?;
    Ok((task, naming, Conditions::of(request.headers())))
}

/// The model a status request asks for, and its conditions.
fn asked_model(
    service: &StatusService,
    request: &Request,
) -> Result<(ModelRequest, Conditions), ApiError> {
    let mut model = params::model_request(request.uri())?;
    access::admit(service, request, &mut model)?;
    Ok((model, Conditions::of(request.headers())))
}

/// What a status answer depends on beyond the path: the caller's `If-None-Match` (copied) and
/// the wait it asks for. Read before the answer is awaited, so that a request held for minutes
/// keeps neither the request (its headers and path are slices of the connection's read buffer)
/// nor a header map of its own.
struct Conditions {
    if_none_match: Option<HeaderValue>,
    wait: Option<Duration>,
}

impl Conditions {
    fn of(headers: &HeaderMap) -> Self {
        let if_none_match = headers.get(header::IF_NONE_MATCH);
        Self {
            if_none_match: if_none_match
                .and_then(|tag| HeaderValue::from_bytes(tag.as_bytes()).ok()),
            wait: params::prefer_wait(headers),
        }
    }

    /// The wait and the tags the caller has, when it asks to be held: `Prefer: wait=N` with
    /// `If-None-Match`.
    fn held(&self) -> Option<(Duration, &HeaderValue)> {
        Some((self.wait?, self.if_none_match.as_ref()?))
    }
}

/// A status a caller asked for. Borrowed: an async function keeps a copy of each argument for
/// as long as it runs, and a held request runs for minutes.
enum Asked<'a> {
    Task(&'a TaskRequest),
    Model(&'a ModelRequest),
}

/// The answer to a status request: at once, or held until it changes when the request asks to
/// be (`Prefer: wait=N` with `If-None-Match`); 304 while it is the one the caller has.
async fn answer(
    service: &StatusService,
    asked: Asked<'_>,
    conditions: &Conditions,
) -> Result<Response, ApiError> {
    let (served, waited) = match conditions.held() {
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
            Asked::Task(task) => (service.task(*task).await?, None),
            Asked::Model(model) => (service.model_status(*model).await?, None),
        },
    };
    let if_none_match = conditions.if_none_match.as_ref();
    let response = respond_routed(&served, Instant::now(), if_none_match);
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
    let naming = Naming::of(&request)?;
    naming.fill(&service, &mut list).await?;
    let served = service.task_list(list).await?;
    let if_none_match = request.headers().get(header::IF_NONE_MATCH);
    Ok(respond_routed(&served, Instant::now(), if_none_match))
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
