//! Server-Sent Events for one task: an event `status` each time its answer changes, with the
//! answer's `ETag` as the event id, ending after a finished state. A client that reconnects with
//! `Last-Event-ID` is not sent the answer it has again. Between changes the stream is held as a
//! long-poll is (see [`crate::waiting`]): the task keeps its interval, one poll for every
//! listener; comments keep proxies from closing a quiet stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use super::access;
use super::docs::ProblemResponses;
use super::error::ApiError;
use super::params::{self, TaskPath, TaskQuery};
use crate::cache::{Served, Snapshot};
use crate::service::{StatusService, TaskRequest};
use crate::waiting::WaitFor;

/// How often a quiet stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The reconnection delay sent with a finished task's last event.
const FINISHED_RETRY: Duration = Duration::from_secs(3600);
/// How long a stream waits before it looks again when too many requests are held already.
const HELD_ELSEWHERE: Duration = Duration::from_secs(1);

/// The task's status as a stream of events, one per change, until it finishes.
#[utoipa::path(
    get,
    path = "/tasks/{kind}/{taskId}/events",
    tag = "tasks",
    params(TaskPath, TaskQuery, LastEventId),
    responses(
        (status = 200, description = "A stream of text (Server-Sent Events), one event per change, \
the last one finished: `event: status`, `id:` the answer's ETag (send it back as `Last-Event-ID` \
to resume), `data:` the task as `GET /tasks/{kind}/{taskId}` answers it, as JSON on one line. An \
upstream failure mid-stream is `event: error` with a problem as its `data`, and the stream ends. \
Comment lines (`:`) keep the connection alive every 15 s.",
            content_type = "text/event-stream", body = String,
            example = json!("event: status\nid: W/\"5f2b9c0e4d1a7b3c8e6f0a2d4b6c8e0f\"\ndata: \
{\"kind\":\"import\",\"taskId\":\"1B1D84DDD53847BAA621810B593C3FC1\",\"state\":\"running\",\"progress\":0.35}\n\n")),
        (status = 204, description = "The task is finished and `Last-Event-ID` names its final answer: nothing more will come"),
        ProblemResponses,
    )
)]
pub async fn task_events(
    State(service): State<StatusService>,
    request: Request,
) -> Result<Response, ApiError> {
    let mut task = params::task_events_request(request.uri(), service.default_model())?;
    access::admit(&service, &request, &mut task)?;
    let naming = super::names::Naming::of(&request)?;
    naming.fill(&service, &mut task).await?;
    let last = request.headers().get("last-event-id").cloned();
    // The first answer before the stream starts: a task that cannot be read is a problem+json
    // error, not an event.
    let first = service.task(task).await?;
    // A client that has the finished answer already (a browser reconnecting after the last
    // event) gets 204, which tells `EventSource` to stop reconnecting.
    let snapshot = &first.snapshot;
    if snapshot.next_poll_at.is_none() && last.as_ref() == Some(&snapshot.etag) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let watch = Watch {
        service,
        task,
        last,
        first: Some(first),
        done: false,
    };
    let stream = events(watch);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// The header a reconnecting client sends, as documented.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct LastEventId {
    /// The id of the last event received: the stream starts with the next change.
    #[param(
        rename = "Last-Event-ID",
        example = "W/\"5f2b9c0e4d1a7b3c8e6f0a2d4b6c8e0f\""
    )]
    pub last_event_id: Option<String>,
}

/// One stream's state: the task, the tag of the last answer sent, and the first answer.
struct Watch {
    service: StatusService,
    task: TaskRequest,
    last: Option<HeaderValue>,
    first: Option<Served>,
    done: bool,
}

fn events(watch: Watch) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(watch, |mut watch| async move {
        let event = watch.next_event().await?;
        Some((Ok(event), watch))
    })
}

impl Watch {
    /// The next event: the answer once it differs from the last one sent; `None` once the task
    /// finished, or the gateway is stopping.
    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            let served = match self.first.take() {
                Some(first) => first,
                None => match self.changed().await {
                    Ok(Some(served)) => served,
                    // The gateway is stopping: the stream ends.
                    Ok(None) => return None,
                    Err(problem) => {
                        self.done = true;
                        return Some(problem);
                    }
                },
            };
            let snapshot = &served.snapshot;
            let finished = snapshot.next_poll_at.is_none();
            if !self.has(snapshot) {
                self.last = Some(snapshot.etag.clone());
                self.done = finished;
                let event = status_event(snapshot);
                // After the last event, a reconnecting client is told to wait long (and then gets
                // 204).
                return Some(if finished {
                    event.retry(FINISHED_RETRY)
                } else {
                    event
                });
            }
            if finished {
                return None;
            }
        }
    }

    /// Whether the last answer sent was this one (an event id is compared exactly).
    fn has(&self, snapshot: &Snapshot) -> bool {
        self.last.as_ref() == Some(&snapshot.etag)
    }

    /// The answer once it changes, or as it is when the wait ends; `Ok(None)` when the gateway
    /// is stopping, and an `error` event when Anaplan cannot answer.
    async fn changed(&self) -> Result<Option<Served>, Event> {
        if self.service.is_stopping() {
            return Ok(None);
        }
        let unchanged = |snapshot: &Snapshot| self.has(snapshot);
        let wait_for = WaitFor {
            wait: Duration::MAX,
            unchanged: &unchanged,
        };
        match self.service.task_when_changed(&self.task, wait_for).await {
            Ok((served, Some(_))) => Ok(Some(served)),
            Ok((served, None)) => {
                // Too many requests are held: look again in a while rather than at once.
                tokio::time::sleep(HELD_ELSEWHERE).await;
                Ok(Some(served))
            }
            Err(error) => Err(error_event(ApiError::from(error))),
        }
    }
}

fn status_event(snapshot: &Snapshot) -> Event {
    let data = std::str::from_utf8(&snapshot.body).unwrap_or_default();
    let id = snapshot.etag.to_str().unwrap_or_default();
    Event::default().event("status").id(id).data(data)
}

/// The problem+json an error would have answered, as an `error` event that ends the stream.
fn error_event(error: ApiError) -> Event {
    let problem = serde_json::to_string(&error.problem()).unwrap_or_default();
    Event::default().event("error").data(problem)
}
