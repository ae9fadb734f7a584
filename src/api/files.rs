//! What a finished task left to collect, streamed through the gateway with its token: an
//! export's output file, a large read's pages and an ALM report, so a caller needs no Anaplan
//! credential to collect what it started.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::IntoParams;

use super::access;
use super::docs::FileProblems;
use super::error::ApiError;
use super::params::{self, AlmQuery};
use crate::ids::{IdError, TaskKind};
use crate::service::files::{ByteStream, FileError};
use crate::service::{StatusService, TaskRequest};

/// The path of an export's file, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("taskId"))]
pub struct ExportFilePath(
    /// The export task id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "7F7F582EBD4146068FE4061831C8F0F7"
    )]
    pub String,
);

/// The query of an export's file, as documented: the task's own, with an export's id as the
/// example.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ExportQuery {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(
        required = true,
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub model_id: Option<String>,
    /// The export (1 to 20 digits), or `objectName` instead.
    #[param(pattern = r"^[0-9]{1,20}$", example = "116000000002")]
    pub object_id: Option<String>,
    /// Instead of `objectId`: the object's name as the model lists it (for example `Export
    /// Headcount`), matched exactly, else ignoring case; 404 `no-such-name` when none
    /// matches, 409 `ambiguous-name` when several do. One of `objectId` and `objectName` is
    /// required.
    // No example: "Try it out" would fill it in beside objectId's, and both are a 400.
    #[param(min_length = 1, max_length = 255)]
    pub object_name: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The query of a large read's pages, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ReadQuery {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(
        required = true,
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub model_id: Option<String>,
    /// The view or list read (1 to 20 digits), or `objectName` instead.
    #[param(pattern = r"^[0-9]{1,20}$", example = "101000000014")]
    pub object_id: Option<String>,
    /// Instead of `objectId`: the object's name as the model lists it (for example
    /// `Headcount.Summary`), matched exactly, else ignoring case; 404 `no-such-name` when none
    /// matches, 409 `ambiguous-name` when several do. One of `objectId` and `objectName` is
    /// required.
    // No example: "Try it out" would fill it in beside objectId's, and both are a 400.
    #[param(min_length = 1, max_length = 255)]
    pub object_name: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The path of a large read's page, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind", "taskId", "page"))]
pub struct PagePath(
    /// `view-read` or `list-read`.
    #[param(pattern = "^(view-read|list-read)$", example = "view-read")]
    pub String,
    /// The read request's id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8A08B0739F0E47BB92E2326C603D86E8"
    )]
    pub String,
    /// The page, from 0.
    #[param(minimum = 0, maximum = 999999999, example = 0)]
    pub u64,
);

/// The path of a large read's data, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind", "taskId"))]
pub struct DataPath(
    /// `view-read` or `list-read`.
    #[param(pattern = "^(view-read|list-read)$", example = "view-read")]
    pub String,
    /// The read request's id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8A08B0739F0E47BB92E2326C603D86E8"
    )]
    pub String,
);

/// The path of an ALM report, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind", "taskId"))]
pub struct ReportPath(
    /// `alm-comparison-report` or `alm-summary-report`.
    #[param(
        pattern = "^(alm-comparison-report|alm-summary-report)$",
        example = "alm-comparison-report"
    )]
    pub String,
    /// The report task's id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "48B7A0D1C2E34F5061728394A5B6B4FC"
    )]
    pub String,
);

/// The report an ALM report task made, once it has succeeded: a comparison report as Anaplan
/// writes it (tab-separated text), a summary report as Anaplan's JSON.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}/report",
    tag = "tasks",
    params(ReportPath, AlmQuery),
    responses(
        (status = 200, description = "The report, as Anaplan wrote it",
            content((String = "application/octet-stream"), (Object = "application/json"))),
        FileProblems,
    )
)]
pub async fn alm_report(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let uri = request.uri();
    let mut task =
        params::task_request_below(uri.path(), "/report", uri.query(), service.default_model())?;
    if !task.kind.is_report() {
        return Err(ApiError::BadRequest(IdError::Malformed {
            param: "kind",
            expected: "alm-comparison-report or alm-summary-report (only ALM reports have one)",
        }));
    }
    access::admit(&service, &request, &mut task)?;
    let stream = service.alm_report(task).await.map_err(refused)?;
    let (content_type, name) = match task.kind {
        TaskKind::AlmSummaryReport => ("application/json", "summary-report.json"),
        _ => ("application/octet-stream", "comparison-report.tsv"),
    };
    let name = format!("attachment; filename=\"{}-{name}\"", task.task);
    Ok(streamed(content_type, &name, stream))
}

/// The output file of an export that succeeded, streamed chunk by chunk in order. Anaplan keeps
/// it for the gateway's user about 48 hours, and the export's next run replaces it.
#[utoipa::path(
    get,
    path = "/tasks/export/{taskId}/file",
    tag = "tasks",
    params(ExportFilePath, ExportQuery),
    responses(
        (status = 200, description = "The export's output, as Anaplan wrote it",
            content_type = "application/octet-stream", body = String),
        FileProblems,
    )
)]
pub async fn export_file(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let uri = request.uri();
    // The route names the kind: export.
    let mut task =
        params::task_request_below(uri.path(), "/file", uri.query(), service.default_model())?;
    access::admit(&service, &request, &mut task)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    let stream = service.export_file(task).await.map_err(refused)?;
    let name = format!("attachment; filename=\"{}-export\"", task.task);
    Ok(streamed("application/octet-stream", &name, stream))
}

/// Page `page` (from 0) of a large read, as CSV, once the read has made it available (it may
/// still be running). Reading page 0, 100, 200… keeps Anaplan's read alive past its 30 idle
/// minutes.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}/pages/{page}",
    tag = "tasks",
    params(PagePath, ReadQuery),
    responses(
        (status = 200, description = "The page, as Anaplan wrote it", content_type = "text/csv", body = String),
        FileProblems,
    )
)]
pub async fn read_page(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let (path, page) = request
        .uri()
        .path()
        .rsplit_once("/pages/")
        .unwrap_or_default();
    let page = page_number(page)?;
    let mut task = read_asked(&service, &request, path)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    let stream = service.read_page(task, page).await.map_err(refused)?;
    let name = format!("attachment; filename=\"{}-page-{page}.csv\"", task.task);
    Ok(streamed("text/csv; charset=utf-8", &name, stream))
}

/// Every page of a large read that succeeded, in order, as one CSV body.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}/data",
    tag = "tasks",
    params(DataPath, ReadQuery),
    responses(
        (status = 200, description = "Every page, in order", content_type = "text/csv", body = String),
        FileProblems,
    )
)]
pub async fn read_data(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request
        .uri()
        .path()
        .strip_suffix("/data")
        .unwrap_or_default();
    let mut task = read_asked(&service, &request, path)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    let stream = service.read_data(task).await.map_err(refused)?;
    let name = format!("attachment; filename=\"{}.csv\"", task.task);
    Ok(streamed("text/csv; charset=utf-8", &name, stream))
}

/// A page number: digits, at most nine of them.
fn page_number(text: &str) -> Result<u64, IdError> {
    let digits = !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit());
    match digits {
        true => Ok(text.parse().unwrap_or_default()),
        false => Err(IdError::Malformed {
            param: "page",
            expected: "a page number from 0 (at most 9 digits)",
        }),
    }
}

/// The large read whose pages `path` (the read's own route) names, admitted; only large reads
/// have pages.
fn read_asked(
    service: &StatusService,
    request: &Request,
    path: &str,
) -> Result<TaskRequest, ApiError> {
    let query = request.uri().query();
    let mut task = params::task_request_below(path, "", query, service.default_model())?;
    if !task.kind.is_read_request() {
        return Err(ApiError::BadRequest(IdError::Malformed {
            param: "kind",
            expected: "view-read or list-read (only large reads have pages)",
        }));
    }
    access::admit(service, request, &mut task)?;
    Ok(task)
}

fn refused(error: FileError) -> ApiError {
    match error {
        FileError::Upstream(error) => ApiError::Upstream(error),
        FileError::NotFinished(state) => ApiError::TaskNotFinished(state),
        FileError::NoFile => ApiError::NoFile,
        FileError::NoPage { available } => ApiError::NoPage { available },
        FileError::TooManyTransfers => ApiError::TooManyTransfers,
    }
}

fn streamed(content_type: &'static str, disposition: &str, stream: ByteStream) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(disposition).expect("hex digits and digits"),
        ),
    ];
    (headers, Body::from_stream(stream)).into_response()
}
