//! The HTTP API callers use: task and model status, cancel, and the OpenAPI document with Swagger UI.
//!
//! [`Api`] answers fresh cached task answers itself and hands everything else to the [`router`].

pub mod error;

use std::convert::Infallible;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use futures_util::future::{Either, Ready, ready};
use tokio::time::Instant;
use tower::Service;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};

use crate::cache::{CacheStatus, Served};
use crate::gateway::{Gateway, ModelParams, QueryIds, TaskParams, TaskRequest};
use crate::ids::IdError;
use crate::schema::{ModelStatus, Task};
use crate::telemetry;

/// `Cache-Control` lifetime of a finished task's answer, which never changes.
const TERMINAL_MAX_AGE: &str = "max-age=86400, immutable";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "anaplan-gateway",
        description = "One API for the status of every Anaplan Integration API v2 task kind and of models. \
The gateway holds the one shared Anaplan token, asks Anaplan at most once per task or model per poll \
interval however many callers ask, and answers every task kind in one normalised shape.\n\n\
Every answer carries `Age`, `Cache-Control: max-age` (until the next upstream poll; \
`max-age=86400, immutable` once the task is finished) and an RFC 9211 `Cache-Status` header: \
`hit` (fresh), `hit; detail=stale` (past its poll time: a refresh is under way or Anaplan is failing), \
`fwd=miss; stored` (this request asked Anaplan) or `fwd=miss; collapsed` (this request waited on \
another's upstream call)."
    ),
    tags((name = "tasks", description = "Imports, exports, actions, processes and large read requests"),
         (name = "models", description = "Model status"))
)]
struct ApiDoc;

/// The documented routes; the router and the OpenAPI document both come from here.
fn documented_routes() -> OpenApiRouter<Gateway> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get_task, cancel_task))
        .routes(routes!(get_model_status))
}

/// The API routes, with `/openapi.json`, Swagger UI at `/docs`, and problem+json for the rest.
pub fn router(gateway: Gateway) -> axum::Router {
    let (router, document) = documented_routes().with_state(gateway).split_for_parts();
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// The API as one service. A GET for a task whose answer is fresh in the cache is answered here,
/// before routing, since routing would cost more than the rest of the hit (it copies and decodes
/// the path parameters into the request); everything else goes to the router.
#[derive(Clone)]
pub struct Api {
    gateway: Gateway,
    routes: axum::Router,
}

impl Api {
    /// The API for `gateway`, with `routes` (the [`router`], with any per-route middleware) for
    /// whatever is not a fresh hit.
    pub fn new(gateway: Gateway, routes: axum::Router) -> Self {
        Self { gateway, routes }
    }

    /// The answer to `GET /tasks/{kind}/{taskId}` when it is a fresh hit at `now`; `None` leaves
    /// the request, valid or not, to the router.
    fn fresh_hit(&self, request: &Request, now: Instant) -> Option<Response> {
        let uri = request.uri();
        if request.method() != Method::GET || !uri.path().starts_with("/tasks/") {
            return None;
        }
        let task = checked_task(&self.gateway, uri).ok()?;
        let hit = self.gateway.fresh_task(&task, now)?;
        Some(respond(&hit, now))
    }
}

impl Service<Request> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.routes, context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let now = Instant::now();
        match self.fresh_hit(&request, now) {
            Some(response) => {
                telemetry::record_task_hit(now.elapsed());
                Either::Left(ready(Ok(response)))
            }
            None => Either::Right(self.routes.call(request)),
        }
    }
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().into_openapi()
}

/// The checked ids of `/tasks/{kind}/{taskId}?…`. `kind` and `taskId` are borrowed from the URI:
/// valid values never need percent-decoding, and anything else fails the id checks with a 400.
fn checked_task(gateway: &Gateway, uri: &Uri) -> Result<TaskRequest, IdError> {
    let rest = uri.path().strip_prefix("/tasks/").unwrap_or_default();
    let (kind, task) = rest.split_once('/').unwrap_or((rest, ""));
    gateway.check_task(kind, task, &QueryIds::parse(uri.query()))
}

fn path<P>(path: Result<Path<P>, PathRejection>) -> Result<P, ApiError> {
    let Path(path) = path.map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    Ok(path)
}

/// The task's normalised status.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}",
    tag = "tasks",
    params(
        ("kind" = crate::ids::TaskKind, Path, description = "The kind of task"),
        ("taskId" = String, Path, description = "The task id, or a large read request's request id (32 hex characters)",
            example = "1B1D84DDD53847BAA621810B593C3FC1"),
        TaskParams
    ),
    responses(
        (status = 200, description = "The task's status", body = Task,
            headers(("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 400, description = "A missing or malformed parameter; nothing was sent to Anaplan", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Anaplan reports no such task, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The model is busy or locked", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Anaplan failed, answered something unreadable, or refused the gateway's credentials", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Anaplan is rate-limiting or unavailable and no usable cached answer exists", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the gateway will ask Anaplan again"))),
        (status = 504, description = "Anaplan did not answer within ANAPLAN_TIMEOUT", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_task(State(gateway): State<Gateway>, request: Request) -> Result<Response, ApiError> {
    let task = checked_task(&gateway, request.uri())?;
    let served = gateway.task(task).await?;
    Ok(respond(&served, Instant::now()))
}

/// Cancels the task in Anaplan and answers with its status as Anaplan then reports it
/// (usually `cancelling` or `cancelled`).
#[utoipa::path(
    delete,
    path = "/tasks/{kind}/{taskId}",
    tag = "tasks",
    params(
        ("kind" = crate::ids::TaskKind, Path, description = "The kind of task"),
        ("taskId" = String, Path, description = "The task id, or a large read request's request id (32 hex characters)",
            example = "1B1D84DDD53847BAA621810B593C3FC1"),
        TaskParams
    ),
    responses(
        (status = 200, description = "The task's status after the cancel", body = Task,
            headers(("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 400, description = "A missing or malformed parameter; nothing was sent to Anaplan", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Anaplan reports no such task, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The model is busy or locked", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Anaplan failed or refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Anaplan is rate-limiting or unavailable", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the gateway will ask Anaplan again"))),
        (status = 504, description = "Anaplan did not answer within ANAPLAN_TIMEOUT", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn cancel_task(
    State(gateway): State<Gateway>,
    request: Request,
) -> Result<Response, ApiError> {
    let task = checked_task(&gateway, request.uri())?;
    let served = gateway.cancel(task).await?;
    Ok(respond(&served, Instant::now()))
}

/// The model's normalised status.
#[utoipa::path(
    get,
    path = "/models/{modelId}/status",
    tag = "models",
    params(
        ("modelId" = String, Path, description = "The model (32 hex characters)", example = "75A40874E6B64FA3AE0743278996850F"),
        ModelParams
    ),
    responses(
        (status = 200, description = "The model's status", body = ModelStatus,
            headers(("Age" = u64), ("Cache-Control" = String), ("Cache-Status" = String))),
        (status = 400, description = "A malformed parameter; nothing was sent to Anaplan", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Anaplan reports no such model, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The model is busy or locked and Anaplan refused the call", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Anaplan failed, answered something unreadable, or refused the gateway's credentials", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Anaplan is rate-limiting or unavailable and no usable cached answer exists", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the gateway will ask Anaplan again"))),
        (status = 504, description = "Anaplan did not answer within ANAPLAN_TIMEOUT", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_model_status(
    State(gateway): State<Gateway>,
    model_path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let model = path(model_path)?;
    let (model, workspace) = gateway.check_model(&model, &QueryIds::parse(uri.query()))?;
    let served = gateway.model_status(model, workspace).await?;
    Ok(respond(&served, Instant::now()))
}

/// `max-age=N` and `Age` values for 0..=`PRECOMPUTED` seconds (past the longest default poll
/// interval and stale bound), built once: the hit path formats nothing.
const PRECOMPUTED: u64 = 600;

fn seconds_header(
    table: &'static OnceLock<Vec<HeaderValue>>,
    prefix: &str,
    seconds: u64,
) -> HeaderValue {
    let values = table.get_or_init(|| {
        (0..=PRECOMPUTED)
            .map(|n| {
                // Static text, kept for the life of the process, so cloning a value on the hit
                // path touches no reference count shared between threads.
                let text: &'static str = String::leak(format!("{prefix}{n}"));
                HeaderValue::from_static(text)
            })
            .collect()
    });
    match values.get(seconds as usize) {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&format!("{prefix}{seconds}")).expect("ASCII digits"),
    }
}

/// Whole seconds, rounded up.
pub(crate) fn seconds_up(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn max_age(seconds: u64) -> HeaderValue {
    static TABLE: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    seconds_header(&TABLE, "max-age=", seconds)
}

fn age(seconds: u64) -> HeaderValue {
    static TABLE: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    seconds_header(&TABLE, "", seconds)
}

/// The RFC 9211 `Cache-Status` value; `Age` and `Cache-Control` carry the times.
fn cache_status(status: CacheStatus) -> HeaderValue {
    HeaderValue::from_static(match status {
        CacheStatus::Hit => "anaplan-gateway; hit",
        CacheStatus::Stale => "anaplan-gateway; hit; detail=stale",
        CacheStatus::Miss => "anaplan-gateway; fwd=miss; stored",
        CacheStatus::Collapsed => "anaplan-gateway; fwd=miss; collapsed",
    })
}

/// Answers by how they were obtained, registered once so counting is one atomic add.
fn count_answer(status: CacheStatus) {
    static COUNTERS: OnceLock<[metrics::Counter; 4]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        ["hit", "stale", "miss", "collapsed"].map(
            |label| metrics::counter!("anaplan_gateway_cache_answers_total", "status" => label),
        )
    });
    let index = match status {
        CacheStatus::Hit => 0,
        CacheStatus::Stale => 1,
        CacheStatus::Miss => 2,
        CacheStatus::Collapsed => 3,
    };
    counters[index].increment(1);
}

/// The cached JSON as it is, with headers telling its age at `now` and when it goes stale.
fn respond(served: &Served, now: Instant) -> Response {
    let snapshot = &served.snapshot;
    let cache_control = match snapshot.next_poll_at {
        None => HeaderValue::from_static(TERMINAL_MAX_AGE),
        Some(due) => {
            // Rounded up so max-age never says "now" while the answer is still fresh.
            max_age(seconds_up(due.saturating_duration_since(now)))
        }
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (
            header::AGE,
            age(now.saturating_duration_since(snapshot.fetched_at).as_secs()),
        ),
        (header::CACHE_CONTROL, cache_control),
        (
            HeaderName::from_static("cache-status"),
            cache_status(served.status),
        ),
    ];
    count_answer(served.status);
    (headers, snapshot.body.clone()).into_response()
}
