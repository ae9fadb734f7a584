//! The OpenAPI document: the API's description, the error responses of its routes ([`problems`],
//! each with an example built by the error type itself), and what the running configuration
//! changes.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, Type};
use utoipa::{OpenApi, ToSchema};

use super::error::Problem;
use super::params::ObjectKind;

mod problems;
pub use problems::{
    BatchProblems, CancelProblems, DumpProblems, FileProblems, ModelActionProblems,
    ProblemResponses, StartProblems, UploadProblems,
};

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
    components(schemas(Problem, TaskEvent, ObjectKind)),
    modifiers(&CallerKeys),
    tags((name = "tasks", description = "Imports, exports, actions, processes and large read requests"),
         (name = "alm", description = "Application lifecycle management: model syncs and their \
            reports, filed under the model (no objectId), never cancelled"),
         (name = "cloudworks", description = "CloudWorks integration runs, on CloudWorks' API with \
            the same token: the tenant's (no modelId), filed under their integration (objectId)"),
         (name = "models", description = "Model status"),
         (name = "files", description = "Files an import reads, uploaded through the gateway"))
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

/// Describes the events routes' streams for both kinds of reader: to a generated client, the
/// stream is text (its `schema` admits a string); to a validator that reads it as its events,
/// each is a [`TaskEvent`] (`itemSchema`, OpenAPI 3.2's word for an item of a stream) and the
/// events together an array of them.
pub fn event_stream(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
    let streams = (document.paths.paths.iter_mut())
        .filter(|(path, _)| path.ends_with("/events"))
        .filter_map(|(_, item)| item.get.as_mut())
        .filter_map(|operation| operation.responses.responses.get_mut("200"));
    for response in streams {
        let RefOr::T(response) = response else {
            continue;
        };
        let Some(RefOr::T(content)) = response.content.get_mut("text/event-stream") else {
            continue;
        };
        let event = RefOr::Ref(Ref::from_schema_name("TaskEvent"));
        let text = ObjectBuilder::new().schema_type(Type::String);
        let events = ArrayBuilder::new().items(event.clone());
        content.schema = Some(AnyOfBuilder::new().item(text).item(events).into());
        content.item_schema = Some(event);
    }
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

/// A batch takes as many items as `GATEWAY_MAX_BATCH` says (the checked-in document states its
/// default).
pub fn max_batch(document: &mut utoipa::openapi::OpenApi, most: usize) {
    use utoipa::openapi::schema::Schema;
    let schemas = document.components.as_mut().map(|c| &mut c.schemas);
    let batch = schemas.and_then(|schemas| schemas.get_mut("Batch"));
    if let Some(RefOr::T(Schema::Object(batch))) = batch
        && let Some(RefOr::T(Schema::Array(tasks))) = batch.properties.get_mut("tasks")
    {
        tasks.max_items = Some(most);
    }
}
