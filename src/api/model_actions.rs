//! `POST /models/{modelId}/open` and `POST /models/{modelId}/close`: a model woken or closed
//! with the gateway's token, answered `202 Accepted` with where to watch it.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use super::access;
use super::docs::ProblemResponses;
use super::error::ApiError;
use super::headers::respond;
use super::params::{self, ModelPath, ModelQuery};
use crate::schema::ModelStatus;
use crate::service::StatusService;
use crate::upstream::status::ModelAction;

/// Wakes the model (loads it into memory), if its status says it is closed. Anaplan refuses
/// repeated and keep-alive opens, so an open is sent at most once per model in five minutes
/// however many callers ask, and never to a model that is open. Answers with the model's status
/// (after the open, when one was sent) and where to watch it load.
#[utoipa::path(
    post,
    path = "/models/{modelId}/open",
    tag = "models",
    params(ModelPath, ModelQuery),
    responses(
        (status = 202, description = "Opening (or open already): the model's status", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        ProblemResponses,
    )
)]
pub async fn open_model(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    act(service, request, ModelAction::Open).await
}

/// Closes the model (offloads it from memory, and its users with it), unless it is closed or
/// closing already. Answers with the model's status (after the close, when one was sent) and
/// where to watch it close.
#[utoipa::path(
    post,
    path = "/models/{modelId}/close",
    tag = "models",
    params(ModelPath, ModelQuery),
    responses(
        (status = 202, description = "Closing (or closed already): the model's status", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        ProblemResponses,
    )
)]
pub async fn close_model(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    act(service, request, ModelAction::Close).await
}

async fn act(
    service: StatusService,
    request: Request,
    action: ModelAction,
) -> Result<Response, ApiError> {
    let mut model = params::model_request(request.uri())?;
    access::admit(&service, &request, &mut model)?;
    // Opening and closing change what every user of the model sees: a starter's right.
    let caller = access::may_start(&request)?;
    let acted = service.model_action(model, action).await?;
    tracing::info!(caller = caller.as_deref(), model = %model.model, action = action.as_str(),
        sent = acted.sent, "model action asked for");
    let mut response = respond(&acted.status, Instant::now(), None);
    *response.status_mut() = StatusCode::ACCEPTED;
    let location = format!("/models/{}/status", model.model);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("hex digits"),
    );
    Ok(response)
}
