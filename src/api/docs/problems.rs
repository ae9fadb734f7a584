//! The error responses of the documented routes: one response per status, each problem of it an
//! example named by its type, with the headers it carries.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type};
use utoipa::{IntoResponses, ToSchema};

use crate::api::error::{ApiError, Problem};
use crate::callers::{Refused, Unauthenticated};
use crate::ids::IdError;
use crate::upstream::UpstreamError;

/// The error responses of every Anaplan-backed route, one per status.
pub struct ProblemResponses;

impl IntoResponses for ProblemResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(shared_problems())
    }
}

/// The error responses of a model's open or close: the shared ones, and a repeated open's.
pub struct ModelActionProblems;

impl IntoResponses for ModelActionProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.push((
            ApiError::ModelOpenedRecently(std::time::Duration::from_secs(240)),
            "The model was opened within five minutes (through the gateway, or Anaplan refused \
             a repeated open): none sent again",
        ));
        responses(problems)
    }
}

/// The error responses of a batch as a whole: a body that is not one (each item's own problems
/// are in its answer), and a caller's missing key.
pub struct BatchProblems;

impl IntoResponses for BatchProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(vec![
            (
                ApiError::Malformed(
                    "tasks: 0 items; a batch takes 1 to 100 (GATEWAY_MAX_BATCH)".into(),
                ),
                "The body is not a batch: not JSON, no `tasks`, or no items or too many; \
                 nothing was sent to Anaplan",
            ),
            (
                ApiError::Unauthenticated(Unauthenticated::NoKey),
                "Callers are configured and the request carries no key of theirs",
            ),
        ])
    }
}

/// The error responses of a cancel: the shared ones, and a kind Anaplan cannot cancel.
pub struct CancelProblems;

impl IntoResponses for CancelProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.push((
            ApiError::NoCancel(crate::ids::TaskKind::AlmSync),
            "Anaplan has no cancel for ALM tasks (alm-sync, alm-comparison-report, \
             alm-summary-report); nothing was sent",
        ));
        responses(problems)
    }
}

/// The error responses of a failure dump: the shared ones, and a transfer's bound.
pub struct DumpProblems;

impl IntoResponses for DumpProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.push((
            ApiError::TooManyTransfers,
            "GATEWAY_MAX_TRANSFERS transfers are in flight",
        ));
        responses(problems)
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
             caller may not read it, cancel, start or upload (type caller-not-allowed); nothing \
             was sent to Anaplan",
        ),
        (
            ApiError::Upstream(UpstreamError::Rejected {
                status: 403,
                message: "Forbidden".into(),
            }),
            "Anaplan answered 403: the gateway's Anaplan user may not do this or see this model \
             (type upstream-forbidden); nothing was tried again, and a start was not made",
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
            ApiError::NoSuchName,
            "The model lists no object of the name given as objectName (type no-such-name), \
             even listed again",
        ),
        (
            ApiError::AmbiguousName(vec!["112000000009".into(), "112000000010".into()]),
            "Several objects have the name given as objectName (type ambiguous-name): \
             candidates lists their ids",
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

/// The error responses of an upload: the shared ones, and an upload's own.
pub struct UploadProblems;

impl IntoResponses for UploadProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut problems = shared_problems();
        problems.extend([
            (
                ApiError::NoSuchFile,
                "The model's file list has no such file (Anaplan would make a new one)",
            ),
            (
                ApiError::FileBusy,
                "Another upload of the same file is under way",
            ),
            (
                ApiError::UploadIncomplete { read: 1_048_576 },
                "The body broke off or stalled: the file was not completed",
            ),
            (
                ApiError::UploadTooLarge,
                "The body needs more chunks than Anaplan takes for one file",
            ),
            (
                ApiError::FileHoldUnavailable,
                "The fleet's Redis, which keeps one upload per file, did not answer or lost the \
                 hold: the file was not completed",
            ),
            (
                ApiError::UploadOutcomeUnknown,
                "Every chunk was sent and the completion's answer was lost: the file may be complete",
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
