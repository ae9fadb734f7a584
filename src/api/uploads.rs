//! `PUT /models/{modelId}/files/{fileId}`: the file an import reads, uploaded through the
//! gateway with its token, so a caller needs no Anaplan credential to feed what it starts.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::access;
use super::docs::UploadProblems;
use super::error::ApiError;
use super::params::{self, FileNamed, ModelQuery};
use crate::service::StatusService;
use crate::service::uploads::{UploadError, UploadRequest};

/// The path of an upload, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("modelId", "fileId"))]
pub struct UploadPath(
    /// The model (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub String,
    /// The file, as the model's file list names it: its id (1 to 20 digits; an import's data
    /// source starts with 113), or its name (for example `Employees.csv`; matched exactly, else
    /// ignoring case).
    #[param(min_length = 1, max_length = 255, example = "113000000000")]
    pub String,
);

/// The file's content, as the import is to read it (not empty).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, min_length = 1)]
pub struct UploadBody(pub Vec<u8>);

/// What an upload sent to Anaplan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"fileId": "113000000000", "fileName": "Employees.csv", "chunks": 1, "bytes": 39}))]
pub struct UploadAnswer {
    /// The file uploaded.
    pub file_id: String,
    /// Its name, as the model lists it.
    pub file_name: String,
    /// Chunks sent (each at most `GATEWAY_UPLOAD_CHUNK` bytes before compression).
    pub chunks: u32,
    /// Bytes of the body.
    pub bytes: u64,
}

/// Uploads the request body as the model's file, streamed to Anaplan in compressed chunks in
/// order, then completes it; an import that reads the file then reads it whole. The file must be
/// in the model's file list (an id Anaplan does not know would make a new file), and one upload
/// of a file runs at a time. A body that breaks off is never completed.
#[utoipa::path(
    put,
    path = "/models/{modelId}/files/{fileId}",
    tag = "files",
    params(UploadPath, ModelQuery),
    request_body(description = "The file's content, as the import is to read it",
        content((UploadBody = "application/octet-stream"), (UploadBody = "text/csv"))),
    responses(
        (status = 200, description = "The file was uploaded and completed", body = UploadAnswer),
        UploadProblems,
    )
)]
pub async fn upload_file(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Json<UploadAnswer>, ApiError> {
    let (mut model, file) = params::upload_request(request.uri())?;
    access::admit(&service, &request, &mut model)?;
    access::may_write(&request)?;
    let caller = access::caller(&request).map(|caller| caller.name().clone());
    if declared_length(&request).is_some_and(|length| length > service.max_upload()) {
        return Err(ApiError::UploadTooLarge);
    }
    let file = match file {
        FileNamed::Id(id) => id,
        FileNamed::Name(name) => service.name_file(model, &name).await?.0,
    };
    let upload = UploadRequest { model, file };
    let body = request.into_body().into_data_stream();
    let (model, file) = (upload.model.model, upload.file);
    let uploaded = match service.upload(upload, body).await {
        Ok(uploaded) => uploaded,
        Err(error) => {
            tracing::warn!(caller = caller.as_deref(), %model, %file, ?error, "file not uploaded");
            return Err(refused(error));
        }
    };
    tracing::info!(caller = caller.as_deref(), %model, %file, chunks = uploaded.chunks,
        bytes = uploaded.bytes, "file uploaded");
    Ok(Json(UploadAnswer {
        file_id: upload.file.to_string(),
        file_name: uploaded.name,
        chunks: uploaded.chunks,
        bytes: uploaded.bytes,
    }))
}

/// The body's length, as its `Content-Length` declares it.
fn declared_length(request: &Request) -> Option<u64> {
    let length = request.headers().get(header::CONTENT_LENGTH)?;
    length.to_str().ok()?.parse().ok()
}

fn refused(error: UploadError) -> ApiError {
    match error {
        UploadError::Upstream(error) => ApiError::Upstream(error),
        UploadError::TooManyTransfers => ApiError::TooManyTransfers,
        UploadError::NoSuchFile => ApiError::NoSuchFile,
        UploadError::Busy => ApiError::FileBusy,
        UploadError::BodyBroken { read } => ApiError::UploadIncomplete { read },
        UploadError::TooLarge => ApiError::UploadTooLarge,
        UploadError::Empty => ApiError::Malformed(
            "the body is empty: an upload of nothing would leave the import a file with no rows; \
             send the file's content"
                .into(),
        ),
        UploadError::HoldUnavailable => ApiError::FileHoldUnavailable,
        UploadError::CompletionUnknown(_) => ApiError::UploadOutcomeUnknown,
    }
}
