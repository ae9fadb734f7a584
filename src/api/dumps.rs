//! Failure dumps, streamed through the gateway with its token: a caller never needs Anaplan
//! credentials of its own to see which rows an import rejected.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::access;
use super::docs::DumpProblems;
use super::error::ApiError;
use super::params::{self, ImportDumpPath, ProcessDumpPath, ProcessQuery, TaskQuery};
use crate::ids::TaskKind;
use crate::service::StatusService;
use crate::service::files::FileError;
use crate::upstream::UpstreamError;

/// The import's failure dump: the rows it rejected, as CSV, streamed chunk by chunk.
#[utoipa::path(
    get,
    path = "/tasks/import/{taskId}/dump",
    tag = "tasks",
    params(ImportDumpPath, TaskQuery),
    responses(
        (status = 200, description = "The failure dump, as Anaplan keeps it", content_type = "text/csv", body = String),
        DumpProblems,
    )
)]
pub async fn import_dump(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    dump(service, request, TaskKind::Import).await
}

/// The failure dump of one import inside a process: the rows it rejected, as CSV, streamed.
#[utoipa::path(
    get,
    path = "/tasks/process/{taskId}/dumps/{actionId}",
    tag = "tasks",
    params(ProcessDumpPath, ProcessQuery),
    responses(
        (status = 200, description = "The failure dump, as Anaplan keeps it", content_type = "text/csv", body = String),
        DumpProblems,
    )
)]
pub async fn process_dump(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    dump(service, request, TaskKind::Process).await
}

pub(super) async fn dump(
    service: StatusService,
    request: Request,
    kind: TaskKind,
) -> Result<Response, ApiError> {
    let (mut task, action) = params::dump_request(request.uri(), service.default_model())?;
    // The route fixes the kind.
    task.kind = kind;
    access::admit(&service, &request, &mut task)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    let stream = service
        .dump(task, action)
        .await
        .map_err(|error| match error {
            FileError::Upstream(UpstreamError::NotFound { .. }) => ApiError::NoDump,
            FileError::Upstream(other) => ApiError::Upstream(other),
            _ => ApiError::TooManyTransfers,
        })?;
    let file = format!("attachment; filename=\"{}-failure-dump.csv\"", task.task);
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&file).expect("hex digits"),
        ),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}
