//! CloudWorks integration runs as the OpenAPI document shows them. A run is the tenant's, not a
//! model's: its routes take the integration as `objectId` and no `modelId`, so each has a
//! documented route of its own (`/tasks/integration-run/{taskId}` and the like). They are served
//! by the same handlers as every kind.

use axum::extract::{Request, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs::{CancelProblems, DumpProblems, ProblemResponses, StartProblems};
use super::dumps;
use super::error::ApiError;
use super::events;
use super::lean::lean_routes;
use super::params::{Conditional, RunPath, RunQuery};
use super::routes as task_routes;
use super::starts;
use crate::ids::TaskKind;
use crate::schema::{Task, TaskList};
use crate::service::StatusService;

/// The CloudWorks runs' documented routes.
pub fn documented_routes(router: OpenApiRouter<StatusService>) -> OpenApiRouter<StatusService> {
    router
        .routes(lean_routes!(run_status))
        .routes(routes!(cancel_run))
        .routes(routes!(list_runs, start_run))
        .routes(routes!(run_events))
        .routes(routes!(run_dump))
}

/// A CloudWorks run's status. CloudWorks gives no state: a run without an end is `running`;
/// `success` is `succeeded` (partial success, `executionErrorCode` 38, sets `result.warnings`);
/// a run CloudWorks reports cancelled is `cancelled`; any other end is `failed`, with
/// CloudWorks' message in `result.error`.
#[utoipa::path(get, path = "/tasks/integration-run/{taskId}", tag = "cloudworks",
    params(RunPath, RunQuery, Conditional),
    responses((status = 200, description = "The run's status", body = Task),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub fn run_status(
    state: State<StatusService>,
    request: Request,
) -> impl Future<Output = Result<Response, ApiError>> {
    task_routes::get_task(state, request)
}

/// Cancels the run. CloudWorks cancels by integration (which runs one run at a time), so the
/// run's status is read first: a run that has ended is answered as it is, and nothing is
/// cancelled (a run that ends between that read and the cancel leaves a moment in which a new
/// run of the integration would be cancelled instead). A run still queued cannot be cancelled
/// yet (409, with `Retry-After`).
#[utoipa::path(delete, path = "/tasks/integration-run/{taskId}", tag = "cloudworks",
    params(RunPath, RunQuery),
    responses((status = 200, description = "The run's status after the cancel, or its final status", body = Task),
        CancelProblems))]
pub async fn cancel_run(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    task_routes::cancel_task(state, request).await
}

/// The integration's runs, the first 100 CloudWorks lists, newest first.
#[utoipa::path(get, path = "/tasks/integration-run", tag = "cloudworks", params(RunQuery),
    responses((status = 200, description = "The integration's runs, newest first", body = TaskList),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"), ProblemResponses))]
pub async fn list_runs(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    task_routes::list_tasks(state, request).await
}

/// Runs the integration, once (with an `Idempotency-Key`, as every start); 202 with where to
/// watch the run. The start takes no body. CloudWorks refuses a second run of an integration
/// under way (409).
#[utoipa::path(post, path = "/tasks/integration-run", tag = "cloudworks", params(RunQuery),
    responses((status = 202, description = "Started", body = Task,
        headers(("Location" = String, description = "Where to watch the run"))), StartProblems))]
pub async fn start_run(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    starts::start_task(state, request).await
}

/// The run's status as a stream of events, one per change, until it ends (as
/// `/tasks/{kind}/{taskId}/events`).
#[utoipa::path(get, path = "/tasks/integration-run/{taskId}/events", tag = "cloudworks",
    params(RunPath, RunQuery, events::LastEventId),
    responses((status = 200, description = "Server-Sent Events, one `status` event per change",
        content_type = "text/event-stream", body = String),
        (status = 204, description = "Finished, and `Last-Event-ID` names its final answer"),
        ProblemResponses))]
pub async fn run_events(
    state: State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    events::task_events(state, request).await
}

/// The run's failure dump: the rows its import rejected, as CSV, streamed as CloudWorks sends
/// it; 404 `no-dump` when the run left none.
#[utoipa::path(get, path = "/tasks/integration-run/{taskId}/dump", tag = "cloudworks",
    params(RunPath, RunQuery),
    responses((status = 200, description = "The failure dump, as CloudWorks keeps it",
        content_type = "text/csv", body = String), DumpProblems))]
pub async fn run_dump(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    dumps::dump(service, request, TaskKind::IntegrationRun).await
}
