//! `POST /tasks/{kind}`: starts a task through the gateway's token, at most once, and answers
//! `202 Accepted` with where to watch it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};

use super::access;
use super::docs::StartProblems;
use super::error::ApiError;
use super::params::{self, TaskQuery};
use crate::ids::IdError;
use crate::schema::Task;
use crate::service::StatusService;
use crate::service::starts::{StartError, Started};
use crate::starts::options::{ExportType, MappingParameter};
use crate::starts::{IdempotencyKey, StartOptions};

/// The largest start body read: a start with a hundred mapping parameters fits many times over.
const MAX_BODY: usize = 64 * 1024;

/// The path of `POST /tasks/{kind}`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind"))]
pub struct StartPath(
    /// The kind of task to start.
    #[param(
        pattern = "^(import|export|action|process|view-read|list-read)$",
        example = "import"
    )]
    pub String,
);

/// The headers of a start, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct StartHeaders {
    /// Makes the start happen once: a repeat with the same key and request within 24 hours
    /// answers as the first did and starts nothing (draft-ietf-httpapi-idempotency-key-header).
    /// 1 to 255 visible ASCII characters, bare or in double quotes; required when the gateway
    /// runs with `GATEWAY_REQUIRE_IDEMPOTENCY_KEY=true`. For example `nightly-load-2026-12-06`:
    /// a key names one start, so no example value is offered to reuse.
    #[param(
        rename = "Idempotency-Key",
        pattern = r#"^(?:[!#-~][!-~]{0,254}|"[!-~]{1,255}")$"#
    )]
    pub idempotency_key: Option<String>,
}

/// A start's body, as documented: four shapes, no two alike in their fields; which a start
/// takes depends on its kind (any other field, or a field of another kind, is a 400). ALM's
/// starts have routes of their own.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum StartBody {
    /// `import` and `process`: a mapping asked at run time.
    Mapped(MappedStart),
    /// `import`, `process`, `export` and `action`: the locale of the task's messages.
    Locale(LocaleStart),
    /// `view-read`: the layout of the pages.
    Layout(LayoutStart),
    /// Every kind (and all `list-read` takes): the kind's defaults.
    Defaults(DefaultsStart),
}

/// An import's or process's start with mapping parameters.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MappedStart {
    /// `en_US` when left out (Anaplan's only supported locale).
    #[schema(pattern = "^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$", example = "en_US")]
    #[serde(default)]
    pub locale_name: String,
    /// Which item of which dimension each run-time mapping takes.
    #[schema(max_items = 100)]
    pub mapping_parameters: Vec<MappingParameter>,
}

/// A start with a locale.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocaleStart {
    /// The locale of the task's messages.
    #[schema(pattern = "^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$", example = "en_US")]
    pub locale_name: String,
}

/// A view read's start.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LayoutStart {
    /// How the pages are laid out (`TABULAR_MULTI_COLUMN` when the body is left out).
    pub export_type: ExportType,
}

/// No fields: the kind's defaults (`en_US`; `TABULAR_MULTI_COLUMN` for a view read).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsStart {}

/// Starts a task of `kind` on the object and answers with it, `queued` or `running` as Anaplan
/// reported it; its first status request within the poll interval costs Anaplan nothing. The
/// start is sent once: when its answer is lost, the task is looked for in the object's task list,
/// never started again.
#[utoipa::path(
    post,
    path = "/tasks/{kind}",
    tag = "tasks",
    params(StartPath, TaskQuery, StartHeaders),
    request_body(
        description = "Optional: the kind's options (an empty body takes every default)",
        content((StartBody = "application/json", examples(
            ("import" = (summary = "An import or process, with a mapping asked at run time",
                value = json!({"localeName": "en_US",
                    "mappingParameters": [{"entityType": "Version", "entityName": "Actual"}]}))),
            ("locale" = (summary = "An import, process, export or delete action, with its locale",
                value = json!({"localeName": "en_US"}))),
            ("view-read" = (summary = "A view's large read",
                value = json!({"exportType": "TABULAR_MULTI_COLUMN"}))),
            ("defaults" = (summary = "Any kind's defaults (all a list read takes)", value = json!({}))),
        )))
    ),
    responses(
        (status = 202, description = "Started (or, for a repeat of an `Idempotency-Key`, what \
            the first start answered): the task as Anaplan reported it at its start", body = Task,
            headers(("Location" = String, description = "Where to watch the task: its status URL"),
                    ("Idempotent-Replayed" = String,
                        description = "`true` when this answers a repeat: nothing was started"))),
        StartProblems,
    )
)]
pub async fn start_task(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut start = params::start_request(request.uri(), service.default_model())?;
    let caller = access::may_start(&request)?;
    access::admit(&service, &request, &mut start)?;
    let naming = super::names::Naming::of(&request)?;
    let key = request.headers().get("idempotency-key");
    let key = key
        .map(|key| IdempotencyKey::parse(key.as_bytes()))
        .transpose()?;
    if key.is_none() && service.requires_idempotency_key() {
        return Err(IdError::Missing {
            param: "Idempotency-Key",
        }
        .into());
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY).await;
    let body = body.map_err(|_| ApiError::Malformed(format!("the body: over {MAX_BODY} bytes")))?;
    start.options = StartOptions::read(start.kind, &body).map_err(ApiError::Malformed)?;
    // Named once the start is known to be one the gateway takes: a refused start costs no list.
    naming.fill(&service, &mut start).await?;
    let start = start.with_key(key, caller.as_deref());
    let (kind, object) = (start.kind, start.object);
    // The start runs on even if the caller hangs up: a start is never cut off half-way, between
    // its key's record and its call, or its call and its answer's record.
    let starting = service.clone();
    let outcome = async move { starting.start(start).await };
    let outcome = tokio::spawn(crate::trace::carried(outcome.in_current_span())).await;
    let outcome = outcome.unwrap_or(Err(StartError::OutcomeUnknown {
        candidates: Vec::new(),
    }));
    let label = match &outcome {
        Ok(Started { replayed: true, .. }) => "replayed",
        Ok(_) => "started",
        Err(StartError::OutcomeUnknown { .. }) => "unknown",
        Err(_) => "refused",
    };
    metrics::counter!("anaplan_gateway_task_starts_total",
        "kind" => kind.as_str(), "outcome" => label)
    .increment(1);
    let task = outcome
        .as_ref()
        .ok()
        .map(|started| started.answer.task_id.as_str());
    tracing::info!(caller = caller.as_deref(), %kind, object = object.as_ref().map(tracing::field::display), task, outcome = label, "start asked for");
    Ok(accepted(outcome?))
}

/// `202 Accepted` with the task and where to watch it.
fn accepted(started: Started) -> Response {
    let answer = started.answer;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::ACCEPTED;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(location) = HeaderValue::from_str(&answer.location) {
        headers.insert(header::LOCATION, location);
    }
    if started.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
