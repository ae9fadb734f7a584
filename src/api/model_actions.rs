//! `POST /models/{modelId}/open` and `POST /models/{modelId}/close`: a model woken or closed
//! with the gateway's token, answered `202 Accepted` with where to watch it.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use super::access;
use super::docs::ModelActionProblems;
use super::error::ApiError;
use super::headers::respond_routed;
use super::params::{self, ModelPath, ModelQuery};
use crate::schema::ModelStatus;
use crate::service::StatusService;
use crate::service::models::{Acted, ModelActed};
use crate::upstream::status::ModelAction;

/// Wakes the model (loads it into memory), if its status says it is closed: 202 with its status
/// after the open and where to watch it load. A model not closed is answered 200 with its status
/// and nothing sent. Anaplan refuses repeated and keep-alive opens, so an open goes at most once
/// per model in five minutes however many callers ask: within them, 409 `model-opened-recently`
/// with `Retry-After`. The answer waits for the status after the open (up to one poll interval).
#[utoipa::path(
    post,
    path = "/models/{modelId}/open",
    tag = "models",
    params(ModelPath, ModelQuery),
    responses(
        (status = 202, description = "The open was sent: the model's status after it", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        (status = 200, description = "The model is not closed: nothing was sent; its status", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        ModelActionProblems,
    )
)]
pub async fn open_model(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    act(service, request, ModelAction::Open).await
}

/// Closes the model (offloads it from memory, and its users with it): 202 with its status after
/// the close and where to watch it close. A model closed or closing already is answered 200 with
/// its status and nothing sent. The answer waits for the status after the close (up to one poll
/// interval).
#[utoipa::path(
    post,
    path = "/models/{modelId}/close",
    tag = "models",
    params(ModelPath, ModelQuery),
    responses(
        (status = 202, description = "The close was sent: the model's status after it", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        (status = 200, description = "Closed or closing already: nothing was sent; its status", body = ModelStatus,
            headers(("Location" = String, description = "Where to watch the model: its status"))),
        ModelActionProblems,
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
    let ModelActed { status, acted } = service.model_action(model, action).await?;
    let code = match acted {
        Acted::Sent => StatusCode::ACCEPTED,
        Acted::NotNeeded => StatusCode::OK,
        Acted::OpenedRecently(wait) => return Err(ApiError::ModelOpenedRecently(wait)),
    };
    tracing::info!(caller = caller.as_deref(), model = %model.model, action = action.as_str(),
        sent = code == StatusCode::ACCEPTED, "model action asked for");
    let mut response = respond_routed(&status, Instant::now(), None);
    *response.status_mut() = code;
    let location = match model.workspace {
        Some(workspace) => format!("/models/{}/status?workspaceId={workspace}", model.model),
        None => format!("/models/{}/status", model.model),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("hex digits"),
    );
    Ok(response)
}
