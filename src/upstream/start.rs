//! Starting a task: one POST, sent at most once. The core never retries a POST; this tells apart a
//! start that did not happen (it never left, or Anaplan refused it) from one whose outcome was
//! lost on the way back (a timeout, a reset after sending, a 5xx, an unreadable 2xx), which must
//! be found in the object's task list rather than sent again. A CloudWorks run starts the same
//! way, on CloudWorks' API, and is found again in its integration's history of runs.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use reqwest::Method;

use super::request::{Call, Endpoint};
use super::runs::StartedRun;
use super::wire::{StartEnvelope, WireTask};
use super::{AnaplanClient, UpstreamError, Urgency, WireTaskStatus};
use crate::address::ObjectAddress;
use crate::ids::{TaskId, TaskKind};

/// A start that did not give the gateway a task.
#[derive(Debug)]
pub enum StartFailure {
    /// Nothing was started: the request never left, or Anaplan refused it.
    NotStarted(UpstreamError),
    /// The request may have reached Anaplan, and what it did is not known.
    Unknown(UpstreamError),
}

impl AnaplanClient {
    /// Starts a task of `object`'s kind (`POST …/{collection}/{objectId}/tasks` or
    /// `…/readRequests`, or a CloudWorks `integrations/{integrationId}/run`) with `body` (JSON;
    /// none for a list read or a run) and answers with the new task as Anaplan reported it.
    pub async fn start_task(
        &self,
        object: &ObjectAddress,
        body: Option<Bytes>,
    ) -> Result<(TaskId, WireTaskStatus), StartFailure> {
        let path = object.start_path();
        let left = AtomicBool::new(false);
        let call = Call {
            host: object.host(),
            body: body.map(|body| (body, "application/json")),
            left: Some(&left),
            ..Call::json(Method::POST, &path, Endpoint::Start, Urgency::Caller)
        };
        let named_none = || UpstreamError::BadBody("the start's answer names no task".into());
        let started = match object.kind.is_cloudworks() {
            true => (self.call_json::<StartedRun>(call).await)
                .and_then(|started| started_run(started).ok_or_else(named_none)),
            false => (self.call_json::<StartEnvelope>(call).await)
                .and_then(|envelope| started_task(envelope).ok_or_else(named_none)),
        };
        started.map_err(
            |err| match left.load(Ordering::Acquire) && may_have_started(&err) {
                true => StartFailure::Unknown(err),
                false => StartFailure::NotStarted(err),
            },
        )
    }
}

/// Whether a start that left and failed this way may still have created a task: Anaplan's
/// refusals (4xx) and the gateway's own (a 429's pause, the budget) say it did not.
fn may_have_started(err: &UpstreamError) -> bool {
    matches!(
        err,
        UpstreamError::Timeout
            | UpstreamError::Unreachable(_)
            | UpstreamError::Server { .. }
            | UpstreamError::Unavailable { .. }
            | UpstreamError::BadBody(_)
    )
}

/// The new run's id, lower case as CloudWorks spells it, and what CloudWorks said of it.
fn started_run(started: StartedRun) -> Option<(TaskId, WireTaskStatus)> {
    let id = TaskId::parse("taskId", started.run.id.as_deref()?).ok()?;
    let id = id.in_case_of(TaskKind::IntegrationRun);
    Some((id, WireTaskStatus::Run(started.run)))
}

/// The new task's id and what Anaplan said of it, from whichever shape the answer came in.
fn started_task(envelope: StartEnvelope) -> Option<(TaskId, WireTaskStatus)> {
    let read = envelope.view_read_request.or(envelope.list_read_request);
    let status = match (envelope.task, envelope.task_id, read) {
        (Some(task), _, _) if task.task_id.is_some() => WireTaskStatus::Task(task),
        (_, Some(id), _) => WireTaskStatus::Task(WireTask {
            task_id: Some(id),
            ..WireTask::default()
        }),
        (_, _, Some(request)) if request.request_id.is_some() => {
            WireTaskStatus::ReadRequest(request)
        }
        _ => return None,
    };
    let id = TaskId::parse("taskId", status.id()?)
        .ok()?
        .in_case_of(TaskKind::Import);
    Some((id, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Option<String> {
        let envelope = serde_json::from_str(body).unwrap();
        started_task(envelope).map(|(id, _)| id.as_str().to_owned())
    }

    #[test]
    fn every_shape_of_a_start_answer_names_its_task() {
        let id = "16605AE88D1D46EDB88FD12DFBA867A9";
        let shapes = [
            format!(
                r#"{{"status":{{"code":200}},"task":{{"taskId":"{id}","taskState":"NOT_STARTED","creationTime":1}}}}"#
            ),
            format!(r#"{{"task":{{"taskId":"{id}"}}}}"#),
            format!(r#"{{"taskId":"{id}"}}"#),
            format!(r#"{{"viewReadRequest":{{"requestId":"{id}","requestState":"IN_PROGRESS"}}}}"#),
            format!(
                r#"{{"listReadRequest":{{"requestId":"{}"}}}}"#,
                id.to_lowercase()
            ),
        ];
        for shape in shapes {
            assert_eq!(read(&shape).as_deref(), Some(id), "{shape}");
        }
    }

    #[test]
    fn an_answer_without_a_usable_task_id_names_none() {
        for body in [
            "{}",
            r#"{"task":{}}"#,
            r#"{"taskId":"not-an-id"}"#,
            r#"{"viewReadRequest":{"requestState":"IN_PROGRESS"}}"#,
        ] {
            assert_eq!(read(body), None, "{body}");
        }
    }

    #[test]
    fn only_failures_after_sending_leave_the_outcome_unknown() {
        let unknown = [
            UpstreamError::Timeout,
            UpstreamError::Unreachable("reset".into()),
            UpstreamError::Server { status: 500 },
            UpstreamError::BadBody("x".into()),
        ];
        assert!(unknown.iter().all(may_have_started));
        let refused = [
            UpstreamError::NotFound {
                path: String::new(),
            },
            UpstreamError::Busy { status: 409 },
            UpstreamError::Rejected {
                status: 400,
                message: String::new(),
            },
            UpstreamError::Unauthorized,
            UpstreamError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
            },
        ];
        assert!(!refused.iter().any(may_have_started));
    }
}
