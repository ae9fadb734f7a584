//! The OpenAPI document: the API's description, the error responses every route shares (each
//! with an example built by the error type itself), and what the running configuration changes.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, Type};
use utoipa::{IntoResponses, OpenApi, ToSchema};

use super::error::{ApiError, Problem};
use crate::callers::{Refused, Unauthenticated};
use crate::ids::IdError;
use crate::upstream::UpstreamError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "anaplan-gateway",
        description = "One API for the status of every Anaplan Integration API v2 task kind and of models, \
and to start tasks, each sent to Anaplan once. \
The gateway holds the one shared Anaplan token, asks Anaplan at most once per task or model per poll \
interval however many callers ask, and answers every task kind in one normalised shape.\n\n\
Every answer carries a weak `ETag` (over the answer without its poll times: `If-None-Match` with it \
answers `304 Not Modified` while the answer is unchanged), `Age`, `Cache-Control: max-age` (until the next upstream poll; \
`max-age=86400, immutable` once the task is finished) and an RFC 9211 `Cache-Status` header: \
`hit` (fresh), `hit; detail=stale` (past its poll time: a refresh is under way or Anaplan is failing), \
`fwd=miss; stored` (this request asked Anaplan), `fwd=miss; collapsed` (this request waited on \
another's upstream call) or `hit; detail=shared` (another replica of a fleet sharing Redis asked \
Anaplan; this replica's first answer from the shared tier)."
    ),
    servers((url = "/", description = "This gateway")),
    components(schemas(Problem, TaskEvent)),
    modifiers(&CallerKeys),
    tags((name = "tasks", description = "Imports, exports, actions, processes and large read requests"),
         (name = "models", description = "Model status"))
)]
/// The document's frame: the routes add their paths to it.
pub struct ApiDoc;

/// One event of a task's stream (`GET /tasks/{kind}/{taskId}/events`), as the document describes
/// it; the events themselves are built with axum's `Event`.
#[derive(ToSchema)]
pub struct TaskEvent {
    /// `status`, or `error` (after which the stream ends).
    #[schema(pattern = "^(status|error)$", example = "status")]
    pub event: Option<String>,
    /// The answer's `ETag`, on `status` events: send it back as `Last-Event-ID` to resume.
    pub id: Option<String>,
    /// JSON on one line: the task as `GET /tasks/{kind}/{taskId}` answers it (`status`), or a
    /// problem (`error`).
    pub data: String,
    /// How long a client should wait before it reconnects, in milliseconds (on a finished task's
    /// last event).
    #[schema(minimum = 0)]
    pub retry: Option<u64>,
}

/// The path of the events route, whose stream [`event_stream`] describes.
const EVENTS_PATH: &str = "/tasks/{kind}/{taskId}/events";

/// Describes the events route's stream for both kinds of reader: to a generated client, the
/// stream is text (its `schema` admits a string); to a validator that reads it as its events,
/// each is a [`TaskEvent`] (`itemSchema`, OpenAPI 3.2's word for an item of a stream) and the
/// events together an array of them.
pub fn event_stream(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
    let response = (document.paths.paths.get_mut(EVENTS_PATH))
        .and_then(|item| item.get.as_mut())
        .and_then(|operation| operation.responses.responses.get_mut("200"));
    let Some(RefOr::T(response)) = response else {
        return;
    };
    let Some(RefOr::T(content)) = response.content.get_mut("text/event-stream") else {
        return;
    };
    let event = RefOr::Ref(Ref::from_schema_name("TaskEvent"));
    let text = ObjectBuilder::new().schema_type(Type::String);
    let events = ArrayBuilder::new().items(event.clone());
    content.schema = Some(AnyOfBuilder::new().item(text).item(events).into());
    content.item_schema = Some(event);
}

/// Callers' keys (`GATEWAY_CALLERS_FILE`): a bearer scheme Swagger UI's "Authorize" fills in.
/// Optional in this document; [`keys_required`] makes it required when callers are configured.
struct CallerKeys;

/// The name of the security scheme.
const CALLER_KEY: &str = "callerKey";

impl utoipa::Modify for CallerKeys {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A caller's API key, when the gateway has a callers file (GATEWAY_CALLERS_FILE); \
                 without one, requests need no key",
            ))
            .build();
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(CALLER_KEY, SecurityScheme::Http(scheme));
        // `{}` first: no key is also accepted.
        document.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()),
        ]);
    }
}

/// With callers configured, every operation needs a caller's key.
pub fn keys_required(document: &mut utoipa::openapi::OpenApi) {
    document.security = Some(vec![SecurityRequirement::new(
        CALLER_KEY,
        Vec::<String>::new(),
    )]);
}

/// The error responses of every Anaplan-backed route, one per status.
pub struct ProblemResponses;

impl IntoResponses for ProblemResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(shared_problems())
    }
}

/// The problems every Anaplan-backed route may answer with, each with its description.
fn shared_problems() -> Vec<(ApiError, &'static str)> {
    let malformed = IdError::Malformed {
        param: "objectId",
        expected: "1 to 20 decimal digits",
    };
    let seconds = std::time::Duration::from_secs(5);
    vec![
        (
            ApiError::BadRequest(malformed),
            "A missing or malformed parameter; nothing was sent to Anaplan",
        ),
        (
            ApiError::Unauthenticated(Unauthenticated::NoKey),
            "Callers are configured (GATEWAY_CALLERS_FILE) and the request has no key, or an \
             unknown one (type unauthenticated); nothing was sent to Anaplan",
        ),
        (
            ApiError::ModelNotAllowed,
            "The model is not among GATEWAY_ALLOWED_MODELS (type model-not-allowed), or the \
             caller may not read it, cancel or start (type caller-not-allowed); nothing was \
             sent to Anaplan",
        ),
        (
            ApiError::CallerRefused {
                caller: "orders".into(),
                refused: Refused::ColdLookups(seconds),
            },
            "The caller asked about more tasks and models the gateway holds nothing for this \
             second than its allowance; nothing was sent to Anaplan",
        ),
        (
            ApiError::Upstream(UpstreamError::NotFound {
                path: "/2/0/workspaces/8a8196b15b7dbae6015b8694411d13fe/models/\
                       75A40874E6B64FA3AE0743278996850F/imports/112000000009/tasks/\
                       1B1D84DDD53847BAA621810B593C3FC1"
                    .into(),
            }),
            "Anaplan reports no such object, or the gateway's user has no access to it; the \
             detail names the Anaplan path asked for, made of the request's ids",
        ),
        (
            ApiError::Upstream(UpstreamError::Busy { status: 423 }),
            "The model is busy or locked and Anaplan refused the call",
        ),
        (
            ApiError::Upstream(UpstreamError::Server { status: 500 }),
            "Anaplan failed, answered something unreadable, or refused the gateway's credentials (type credentials-refused)",
        ),
        (
            ApiError::Upstream(UpstreamError::RateLimited {
                retry_after: seconds,
            }),
            "Anaplan is rate-limiting or unavailable and no usable cached answer exists",
        ),
        (
            ApiError::Upstream(UpstreamError::Timeout),
            "Anaplan did not answer within ANAPLAN_TIMEOUT",
        ),
    ]
}

/// The error responses of a start: the shared ones, and a start's own.
pub struct StartProblems;

impl IntoResponses for StartProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.extend([
            (
                ApiError::StartRefused {
                    status: 400,
                    message: "Unrecognised property detected".into(),
                },
                "Anaplan refused the start (type start-refused, or upstream-forbidden for its 403): \
                 nothing was started",
            ),
            (
                ApiError::StartRefused {
                    status: 403,
                    message: "Forbidden".into(),
                },
                "Anaplan forbids the gateway's user this start: nothing was started",
            ),
            (
                ApiError::IdempotencyInFlight(std::time::Duration::from_secs(1)),
                "The first start with this Idempotency-Key is still under way",
            ),
            (
                ApiError::IdempotencyKeyReused,
                "The Idempotency-Key was first used for a different start",
            ),
            (
                ApiError::StartOutcomeUnknown {
                    candidates: vec![
                        "16605AE88D1D46EDB88FD12DFBA867A9".into(),
                        "310296FE3D914C84AC813E7758A085DB".into(),
                    ],
                },
                "The start was sent and its answer lost, and the task list does not tell which \
                 task it created (candidates lists those it may have); it was not sent again",
            ),
            (
                ApiError::IdempotencyUnavailable,
                "The fleet's Redis, which keeps Idempotency-Keys, did not answer: nothing was sent",
            ),
        ]);
        responses(problems)
    }
}

/// The error responses of a download: the shared ones, and a transfer's own.
pub struct FileProblems;

impl IntoResponses for FileProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.extend([
            (
                ApiError::TaskNotFinished(crate::schema::TaskState::Running),
                "The task has not succeeded (yet): nothing to collect",
            ),
            (
                ApiError::NoFile,
                "Anaplan has no file for the export (it keeps one about 48 hours)",
            ),
            (
                ApiError::NoPage { available: 3 },
                "The read has not made that page available (yet)",
            ),
            (
                ApiError::TooManyTransfers,
                "GATEWAY_MAX_TRANSFERS transfers are in flight",
            ),
        ]);
        responses(problems)
    }
}

/// One response per status, each problem of it an example named by its type.
fn responses(problems: Vec<(ApiError, &'static str)>) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<(Problem, &str)>> = BTreeMap::new();
    for (error, description) in problems {
        let problem = error.problem();
        by_status
            .entry(problem.status)
            .or_default()
            .push((problem, description));
    }
    by_status
        .into_iter()
        .map(|(status, problems)| (status.to_string(), RefOr::T(response(status, problems))))
        .collect()
}

/// A status's response: its problems' descriptions, one example each, and its headers.
fn response(status: u16, problems: Vec<(Problem, &str)>) -> Response {
    use utoipa::openapi::example::ExampleBuilder;
    let descriptions: Vec<&str> = problems
        .iter()
        .map(|(_, description)| *description)
        .collect();
    let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name())));
    if let [(problem, _)] = problems.as_slice() {
        content = content.example(serde_json::to_value(problem).ok());
    } else {
        for (problem, description) in &problems {
            let name = problem.kind.rsplit(':').next().unwrap_or_default();
            let example = ExampleBuilder::new()
                .summary(*description)
                .value(serde_json::to_value(problem).ok());
            content = content.examples_from_iter([(name, example)]);
        }
    }
    let mut response = ResponseBuilder::new()
        .description(descriptions.join(". "))
        .content("application/problem+json", content.build());
    if status == StatusCode::UNAUTHORIZED.as_u16() {
        let challenge = ObjectBuilder::new().schema_type(Type::String);
        let header = HeaderBuilder::new()
            .schema(Some(challenge))
            .description(Some("`Bearer realm=\"anaplan-gateway\"`, with `error=\"invalid_token\"` for an unknown key"));
        response = response.header("WWW-Authenticate", header.build());
    }
    let retried = [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::CONFLICT,
    ];
    if retried.iter().any(|retried| retried.as_u16() == status) {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        let header = HeaderBuilder::new()
            .schema(Some(seconds))
            .description(Some(match status {
                429 => "Seconds until the caller may look up another unknown key",
                409 => "Seconds until the caller may ask again",
                _ => "Seconds until the gateway will ask Anaplan again",
            }));
        response = response.header("Retry-After", header.build());
    }
    response.build()
}

/// A start's body may be left out: it then takes the kind's defaults.
pub fn start_body_optional(document: &mut utoipa::openapi::OpenApi) {
    let start = (document.paths.paths.get_mut(START_PATH))
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.request_body.as_mut());
    if let Some(RefOr::T(body)) = start {
        body.required = Some(Required::False);
    }
}

/// The path of the start route, whose body [`start_body_optional`] describes.
const START_PATH: &str = "/tasks/{kind}";

/// With `ANAPLAN_MODEL_ID` configured, callers may leave `modelId` out of task requests.
pub fn model_id_optional(document: &mut utoipa::openapi::OpenApi) {
    let operations = document.paths.paths.values_mut().flat_map(|item| {
        [item.get.as_mut(), item.delete.as_mut(), item.post.as_mut()]
            .into_iter()
            .flatten()
    });
    for operation in operations {
        for parameter in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter
                && parameter.name == "modelId"
                && parameter.parameter_in == ParameterIn::Query
            {
                parameter.required = Required::False;
            }
        }
    }
}
