//! The routed handlers: task status, cancel and model status. Each reads its parameters with
//! [`params`](super::params), asks the [`StatusService`], and answers with [`respond`].

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::Response;
use tokio::time::Instant;

use super::docs::ProblemResponses;
use super::error::ApiError;
use super::headers::respond;
use super::params::{self, IfNoneMatch, ModelPath, ModelQuery, TaskPath, TaskQuery};
use crate::schema::{ModelStatus, Task};
use crate::service::StatusService;

/// The task's normalised status.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}",
    tag = "tasks",
    params(TaskPath, TaskQuery, IfNoneMatch),
    responses(
        (status = 200, description = "The task's status", body = Task,
            headers(("ETag" = String, description = "Weak tag of the answer without its poll times"),
                    ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag",
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        ProblemResponses,
    )
)]
pub async fn get_task(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = params::task_request(request.uri(), service.default_model())?;
    let served = service.task(task).await?;
    let if_none_match = request.headers().get(header::IF_NONE_MATCH);
    Ok(respond(&served, Instant::now(), if_none_match))
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
        ProblemResponses,
    )
)]
pub async fn cancel_task(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = params::task_request(request.uri(), service.default_model())?;
    let served = service.cancel(task).await?;
    Ok(respond(&served, Instant::now(), None))
}

/// The model's normalised status.
#[utoipa::path(
    get,
    path = "/models/{modelId}/status",
    tag = "models",
    params(ModelPath, ModelQuery, IfNoneMatch),
    responses(
        (status = 200, description = "The model's status", body = ModelStatus,
            headers(("ETag" = String, description = "Weak tag of the answer without its poll times"),
                    ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag",
            headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        ProblemResponses,
    )
)]
pub async fn get_model_status(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let model = params::model_request(request.uri())?;
    let served = service.model_status(model).await?;
    let if_none_match = request.headers().get(header::IF_NONE_MATCH);
    Ok(respond(&served, Instant::now(), if_none_match))
}
