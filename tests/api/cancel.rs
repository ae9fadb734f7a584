//! Cancel: a DELETE cancels upstream and answers as Anaplan then reports the task; it is
//! idempotent, and what it learns is never undone by an older poll.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn cancel_deletes_upstream_and_answers_as_anaplan_reports() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let before: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(before["state"], "running");

    // This DELETE answers with the task; the cache keeps that answer for pollers.
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_cancelling.json")),
    );
    let response = app.delete(&import_route(TASK)).await;
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelling");
    assert_eq!(app.anaplan.calls(Method::DELETE, &import_path(TASK)), 1);

    let after: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(after["state"], "cancelling");
    assert_eq!(
        app.anaplan.calls(Method::GET, &import_path(TASK)),
        1,
        "served from the cache"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_without_a_body_asks_for_the_status_no_sooner_than_the_floor() {
    let app = spawn_app().await;
    let view_path =
        format!("/workspaces/{WORKSPACE}/models/{MODEL}/views/101000000014/readRequests/{TASK}");
    app.anaplan
        .on(&view_path, Reply::ok(fixture("view_read_in_progress.json")));
    let route = format!(
        "/tasks/view-read/{TASK}?modelId={MODEL}&objectId=101000000014&workspaceId={WORKSPACE}"
    );
    assert_eq!(app.get(&route).await.status(), 200);

    app.anaplan.script(
        &view_path,
        vec![
            Reply::status(204),
            Reply::ok(fixture("list_read_cancelled.json")),
        ],
    );
    let started = tokio::time::Instant::now();
    let response = app.delete(&route).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "cancelled");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the status call waited for the floor"
    );
    assert_eq!(app.anaplan.calls(Method::GET, &view_path), 2);
}

#[tokio::test(start_paused = true)]
async fn a_poll_that_started_before_a_cancel_does_not_undo_it() {
    let app = spawn_app().await;
    let slow = Reply::After(
        Duration::from_secs(2),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    app.anaplan.on(&import_path(TASK), slow);
    let (http, url) = (app.http.clone(), app.url(&import_route(TASK)));
    let poll = tokio::spawn(async move {
        http.get(url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_cancelled.json")),
    );
    let cancelled: Value = app.delete(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    // The older poll lands afterwards; its waiter gets the newer, finished answer.
    assert_eq!(poll.await.unwrap()["state"], "cancelled");
    let after: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(after["state"], "cancelled");
}

#[tokio::test(start_paused = true)]
async fn an_older_poll_never_replaces_a_newer_answer() {
    let app = spawn_app().await;
    let slow = Reply::After(
        Duration::from_secs(2),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    app.anaplan.on(&import_path(TASK), slow);
    let (http, url) = (app.http.clone(), app.url(&import_route(TASK)));
    let poll = tokio::spawn(async move { http.get(url).send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The cancel answers `cancelling`, not yet finished; the poll sent before it lands later.
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_cancelling.json")),
    );
    let cancelling: Value = app.delete(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(cancelling["state"], "cancelling");
    assert_eq!(poll.await.unwrap(), 200);
    let after: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(
        after["state"], "cancelling",
        "the older `running` answer was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancels_follow_up_never_joins_a_poll_begun_before_it() {
    let app = spawn_app().await;
    // A poll is under way (Anaplan takes 2 s) when the cancel comes; the cancel's answer carries
    // no task, so the gateway must ask again, with a call made after the cancel.
    let slow = Reply::After(
        Duration::from_secs(2),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    app.anaplan.script(
        &import_path(TASK),
        vec![slow, Reply::ok(fixture("task_cancelling.json"))],
    );
    let (http, url) = (app.http.clone(), app.url(&import_route(TASK)));
    let poll = tokio::spawn(async move { http.get(url).send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The DELETE answers without a body, and itself counts as a call of that path.
    let after_delete = Reply::ok(fixture("task_cancelling.json"));
    app.anaplan
        .script(&import_path(TASK), vec![Reply::status(204), after_delete]);
    let response = app.delete(&import_route(TASK)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["state"], "cancelling",
        "the answer comes from a status call made after the cancel, not the older poll"
    );
    assert_eq!(poll.await.unwrap(), 200);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_task_known_to_be_finished_answers_its_final_status_without_a_call() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("import_complete.json")),
    );
    let finished: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(finished["state"], "succeeded");

    for _ in 0..2 {
        let response = app.delete(&import_route(TASK)).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, finished, "the final status, as it was");
    }
    assert_eq!(app.anaplan.calls(Method::DELETE, &import_path(TASK)), 0);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
}

#[tokio::test(start_paused = true)]
async fn anaplans_already_complete_refusal_answers_the_final_status() {
    let app = spawn_app().await;
    let refusal = json!({"status": {"code": 400, "message": "Task is already complete"}});
    app.anaplan.script(
        &import_path(TASK),
        vec![
            Reply::Json(reqwest::StatusCode::BAD_REQUEST, refusal),
            Reply::ok(fixture("import_failed.json")),
        ],
    );
    let response = app.delete(&import_route(TASK)).await;
    assert_eq!(response.status(), 200, "a cancel is idempotent");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "failed");
    assert_eq!(body["terminal"], true);
    assert_eq!(app.anaplan.calls(Method::DELETE, &import_path(TASK)), 1);
}
