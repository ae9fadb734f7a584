//! ALM's kinds as the OpenAPI document shows them. ALM files its tasks under the model, so their
//! routes take no `objectId`, which every other kind's require: each has documented routes of
//! its own (`/tasks/alm-sync/{taskId}` and the like), so that every request the document allows
//! is one the gateway takes. They are served by the same handlers as every kind; a cancel finds
//! no route, and is told why (405), as Anaplan has no cancel for them.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs::{ProblemResponses, StartProblems};
use super::error::ApiError;
use super::events;
use super::lean::lean_routes;
use super::params::{AlmQuery, AlmTaskPath, Conditional};
use super::routes as task_routes;
use super::starts;
use crate::ids::TaskKind;
use crate::schema::{Task, TaskList};
use crate::service::StatusService;
use crate::starts::options::AlmStart;

/// The ALM kinds' documented routes.
pub fn documented_routes(router: OpenApiRouter<StatusService>) -> OpenApiRouter<StatusService> {
    router
        .routes(lean_routes!(sync_status))
        .routes(routes!(list_syncs, start_sync))
        .routes(lean_routes!(comparison_report_status))
        .routes(lean_routes!(summary_report_status))
        .routes(routes!(start_comparison_report))
        .routes(routes!(start_summary_report))
        .routes(routes!(sync_events))
        .routes(routes!(comparison_report_events))
        .routes(routes!(summary_report_events))
}

/// Why a route refused a method: for a cancel of an ALM task, that Anaplan has none.
pub fn method_refused(method: &Method, path: &str) -> ApiError {
    let rest = path.strip_prefix("/tasks/").unwrap_or_default();
    // A task's own path, `/tasks/{kind}/{taskId}`: nothing below it.
    let kind = (rest.split_once('/'))
        .filter(|(_, task)| !task.contains('/'))
        .map(|(kind, _)| TaskKind::parse(kind));
    match kind {
        Some(Ok(kind)) if *method == Method::DELETE && kind.is_alm() => ApiError::NoCancel(kind),
        _ => ApiError::MethodNotAllowed,
    }
}

/// An ALM sync's status: the model's revisions brought across, `result.error` when it failed.
#[utoipa::path(get, path = "/tasks/alm-sync/{taskId}", tag = "alm",
    params(AlmTaskPath, AlmQuery, Conditional),
    responses((status = 200, description = "The sync's status", body = Task),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub fn sync_status(
    state: State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    task_routes::get_task(state, request)
}

/// An ALM comparison report's status; its report is at `…/report` once it has succeeded.
#[utoipa::path(get, path = "/tasks/alm-comparison-report/{taskId}", tag = "alm",
    params(AlmTaskPath, AlmQuery, Conditional),
    responses((status = 200, description = "The report task's status", body = Task),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub fn comparison_report_status(
    state: State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    task_routes::get_task(state, request)
}

/// An ALM summary report's status; its report is at `…/report` once it has succeeded.
#[utoipa::path(get, path = "/tasks/alm-summary-report/{taskId}", tag = "alm",
    params(AlmTaskPath, AlmQuery, Conditional),
    responses((status = 200, description = "The report task's status", body = Task),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub fn summary_report_status(
    state: State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    task_routes::get_task(state, request)
}

/// The model's ALM syncs of the last 48 hours, newest first (Anaplan lists no reports).
#[utoipa::path(get, path = "/tasks/alm-sync", tag = "alm", params(AlmQuery),
    responses((status = 200, description = "The model's syncs, newest first", body = TaskList),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub async fn list_syncs(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    task_routes::list_tasks(state, request).await
}

/// Starts an ALM sync of a source model's revision into the model, once (with an
/// `Idempotency-Key`, as every start); 202 with where to watch it.
#[utoipa::path(post, path = "/tasks/alm-sync", tag = "alm", params(AlmQuery),
    request_body(content = AlmStart, description = "The revisions: every field required"),
    responses((status = 202, description = "Started", body = Task,
        headers(("Location" = String, description = "Where to watch the task"))), StartProblems))]
pub async fn start_sync(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    starts::start_task(state, request).await
}

/// Starts an ALM comparison report of a source model's revision against the model's.
#[utoipa::path(post, path = "/tasks/alm-comparison-report", tag = "alm", params(AlmQuery),
    request_body(content = AlmStart, description = "The revisions: every field required"),
    responses((status = 202, description = "Started", body = Task,
        headers(("Location" = String, description = "Where to watch the task"))), StartProblems))]
pub async fn start_comparison_report(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    starts::start_task(state, request).await
}

/// Starts an ALM summary report of a source model's revision against the model's.
#[utoipa::path(post, path = "/tasks/alm-summary-report", tag = "alm", params(AlmQuery),
    request_body(content = AlmStart, description = "The revisions: every field required"),
    responses((status = 202, description = "Started", body = Task,
        headers(("Location" = String, description = "Where to watch the task"))), StartProblems))]
pub async fn start_summary_report(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    starts::start_task(state, request).await
}

/// An ALM sync's status as a stream of events, one per change, until it finishes (as
/// `/tasks/{kind}/{taskId}/events`).
#[utoipa::path(get, path = "/tasks/alm-sync/{taskId}/events", tag = "alm",
    params(AlmTaskPath, AlmQuery, events::LastEventId),
    responses((status = 200, description = "Server-Sent Events, one `status` event per change",
        content_type = "text/event-stream", body = String),
        (status = 204, description = "Finished, and `Last-Event-ID` names its final answer"),
        ProblemResponses))]
pub async fn sync_events(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    events::task_events(state, request).await
}

/// An ALM comparison report's status as a stream of events, until it finishes.
#[utoipa::path(get, path = "/tasks/alm-comparison-report/{taskId}/events", tag = "alm",
    params(AlmTaskPath, AlmQuery, events::LastEventId),
    responses((status = 200, description = "Server-Sent Events, one `status` event per change",
        content_type = "text/event-stream", body = String),
        (status = 204, description = "Finished, and `Last-Event-ID` names its final answer"),
        ProblemResponses))]
pub async fn comparison_report_events(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    events::task_events(state, request).await
}

/// An ALM summary report's status as a stream of events, until it finishes.
#[utoipa::path(get, path = "/tasks/alm-summary-report/{taskId}/events", tag = "alm",
    params(AlmTaskPath, AlmQuery, events::LastEventId),
    responses((status = 200, description = "Server-Sent Events, one `status` event per change",
        content_type = "text/event-stream", body = String),
        (status = 204, description = "Finished, and `Last-Event-ID` names its final answer"),
        ProblemResponses))]
pub async fn summary_report_events(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    events::task_events(state, request).await
}
