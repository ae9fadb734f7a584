//! Server-Sent Events on `/tasks/{kind}/{taskId}/events`: one `status` event per change with the
//! ETag as its id, `Last-Event-ID` resuming without a repeat, the stream ending after a finished
//! state or on shutdown, and one poll per interval however many listen.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// An event as it came: its name, id and data.
#[derive(Debug)]
struct Event {
    name: String,
    id: String,
    data: Value,
}

/// The longest a stream may send nothing: longer than its keep-alive and any poll interval.
const NOTHING_FOR: Duration = Duration::from_secs(120);

/// Reads a stream's events as they come.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(app: &TestApp, task: &str, last_event_id: Option<&str>) -> Self {
        let route = import_route(task).replacen('?', "/events?", 1);
        let mut request = app.http.get(app.url(&route));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, skipping keep-alive comments; `None` once the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}:")))
                        .map(|value| value.trim_start().to_owned())
                };
                let Some(data) = field("data") else { continue };
                return Some(Event {
                    name: field("event").unwrap_or_default(),
                    id: field("id").unwrap_or_default(),
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            // Bounded: a stream that stops sending fails the test instead of hanging it (the
            // tests' clock is paused, so the bound costs no real time).
            let chunk = tokio::time::timeout(NOTHING_FOR, self.response.chunk())
                .await
                .expect("the stream sent nothing, not even a keep-alive")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_sends_each_change_once_and_ends_when_the_task_finishes() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let mut events = Events::open(&app, TASK, None).await;
    let first = events.next().await.unwrap();
    assert_eq!(first.name, "status");
    assert_eq!(first.data["progress"], json!(0.35));
    let direct = app.get(&import_route(TASK)).await;
    assert_eq!(first.id, direct.headers()["etag"].to_str().unwrap());

    app.anaplan.on(&import_path(TASK), running_at(0.6));
    let second = events.next().await.unwrap();
    assert_eq!(second.data["progress"], json!(0.6));
    assert_ne!(second.id, first.id);

    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("import_complete.json")),
    );
    let last = events.next().await.unwrap();
    assert_eq!(last.data["terminal"], json!(true));
    assert!(
        events.next().await.is_none(),
        "the stream ends once finished"
    );
    // The first answer, then one poll per change: nothing polled twice in an interval.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 3);
}

#[tokio::test(start_paused = true)]
async fn last_event_id_resumes_without_repeating_the_answer_held() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = app.get(&import_route(TASK)).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut events = Events::open(&app, TASK, Some(&tag)).await;
    app.anaplan.on(&import_path(TASK), running_at(0.7));
    let next = events.next().await.unwrap();
    assert_eq!(next.data["progress"], json!(0.7), "not the answer it had");
}

#[tokio::test(start_paused = true)]
async fn many_listeners_cost_one_poll_per_interval() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let mut listeners = Vec::new();
    for _ in 0..20 {
        let mut events = Events::open(&app, TASK, None).await;
        assert!(events.next().await.is_some());
        listeners.push(events);
    }
    tokio::time::sleep(Duration::from_secs(21)).await;
    app.anaplan.on(&import_path(TASK), running_at(0.9));
    for events in &mut listeners {
        assert_eq!(events.next().await.unwrap().data["progress"], json!(0.9));
    }
    // Polled at 0, 5, 10, 15, 20 and 25 s: one call per interval for twenty listeners.
    let calls = app.anaplan.calls(Method::GET, &import_path(TASK));
    assert!((5..=7).contains(&calls), "{calls}");
}

#[tokio::test(start_paused = true)]
async fn shutting_down_ends_every_stream() {
    let mut app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let mut events = Events::open(&app, TASK, None).await;
    assert!(events.next().await.is_some());
    app.shut_down();
    assert!(events.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_task_that_cannot_be_read_is_a_problem_not_a_stream() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), Reply::not_found());
    let route = import_route(TASK).replacen('?', "/events?", 1);
    let response = app.get(&route).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let bad = app
        .get("/tasks/import/not-a-task/events?modelId=x&objectId=1")
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_has_the_final_answer_is_told_there_is_no_more() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("import_complete.json")),
    );
    let mut events = Events::open(&app, TASK, None).await;
    let last = events.next().await.unwrap();
    assert!(events.next().await.is_none());
    // Reconnecting with the final answer's id (as EventSource does): 204, so it stops.
    let route = import_route(TASK).replacen('?', "/events?", 1);
    let again = (app.http.get(app.url(&route)))
        .header("last-event-id", &last.id)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204);
    // An id is compared exactly: `*` names no answer, so the answer is sent.
    let mut starred = Events::open(&app, TASK, Some("*")).await;
    assert_eq!(starred.next().await.unwrap().id, last.id);
}
