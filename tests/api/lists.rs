//! Task lists: `GET /tasks/{kind}` finds an object's tasks again, newest first, cached as a
//! status is.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

fn list_path() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks")
}

fn list_route() -> String {
    format!("/tasks/import?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}")
}

fn anaplan_list() -> Reply {
    Reply::ok(json!({
        "meta": {"paging": {"currentPageSize": 3, "totalSize": 3, "offset": 0}},
        "tasks": [
            {"taskId": task_id(1), "taskState": "COMPLETE", "creationTime": 1_700_000_000_000_i64},
            {"taskId": task_id(3), "taskState": "IN_PROGRESS", "creationTime": 1_700_000_200_000_i64},
            {"taskId": task_id(2), "taskState": "CANCELLED", "creationTime": 1_700_000_100_000_i64}
        ]
    }))
}

#[tokio::test(start_paused = true)]
async fn an_objects_tasks_come_newest_first_and_normalised() {
    let app = spawn_app().await;
    app.anaplan.on(&list_path(), anaplan_list());
    let response = app.get(&list_route()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    let body: serde_json::Value = response.json().await.unwrap();
    let tasks = body["tasks"].as_array().unwrap();
    let ids: Vec<_> = tasks.iter().map(|task| task["taskId"].clone()).collect();
    assert_eq!(
        ids,
        [json!(task_id(3)), json!(task_id(2)), json!(task_id(1))]
    );
    assert_eq!(tasks[0]["state"], "running");
    assert_eq!(tasks[1]["state"], "cancelled");
    // Anaplan lists no verdict: the state says so, and the status route has it.
    assert_eq!(tasks[2]["state"], "unknown");
    assert_eq!(tasks[2]["upstreamState"], "COMPLETE");
    assert_eq!(tasks[0]["createdAt"], "2023-11-14T22:16:40.000Z");
    assert!(body["fetchedAt"].is_string() && body["nextPollAt"].is_string());
}

#[tokio::test(start_paused = true)]
async fn a_list_costs_one_call_per_interval() {
    let app = spawn_app().await;
    app.anaplan.on(&list_path(), anaplan_list());
    for _ in 0..20 {
        assert_eq!(app.get(&list_route()).await.status(), 200);
    }
    assert_eq!(app.anaplan.calls(Method::GET, &list_path()), 1);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(app.get(&list_route()).await.status(), 200);
    until("the refresh", || {
        app.anaplan.calls(Method::GET, &list_path()) == 2
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn read_requests_and_bad_ids_get_a_400_and_no_call() {
    let app = spawn_app().await;
    for route in [
        format!("/tasks/view-read?modelId={MODEL}&objectId={IMPORT}"),
        format!("/tasks/import?modelId={MODEL}"),
        format!("/tasks/nonsense?modelId={MODEL}&objectId={IMPORT}"),
        format!("/tasks/import?modelId=short&objectId={IMPORT}"),
    ] {
        let response = app.get(&route).await;
        assert_eq!(response.status(), 400, "{route}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(app.anaplan.total_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_listed_task_whose_status_was_asked_carries_its_verdict() {
    let app = spawn_app().await;
    app.anaplan.on(&list_path(), anaplan_list());
    let unknown: serde_json::Value = app.get(&list_route()).await.json().await.unwrap();
    assert_eq!(unknown["tasks"][2]["state"], "unknown");
    // A caller asks for the finished task's status: it succeeded.
    app.anaplan.on(
        &import_path(&task_id(1)),
        Reply::ok(fixture("import_complete.json")),
    );
    let status = app.get(&import_route(&task_id(1))).await;
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["state"], "succeeded");
    // From the list's next poll on, the list says so too.
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(app.get(&list_route()).await.status(), 200);
    until("the refresh", || {
        app.anaplan.calls(Method::GET, &list_path()) == 2
    })
    .await;
    // The refresh's answer lands a moment after Anaplan sends it.
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = app.get(&list_route()).await.json().await.unwrap();
        if listed["tasks"][2]["state"] != "unknown" {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(listed["tasks"][2]["taskId"], json!(task_id(1)));
    assert_eq!(listed["tasks"][2]["state"], "succeeded");
    assert_eq!(listed["tasks"][2]["upstreamState"], "COMPLETE");
}

/// Anaplan's own examples give a list of one task as `{"task": {…}}`, or as the task bare: each
/// is that task, never an empty list. A `tasks` that is not a list is a 502 that says so.
#[tokio::test(start_paused = true)]
async fn a_list_of_one_task_reads_right_in_every_shape_anaplan_gives_it() {
    let one = json!({"taskId": task_id(4), "taskState": "IN_PROGRESS", "creationTime": 1_700_000_000_000_i64});
    let shapes = [
        json!({"meta": {"schema": "…/objects/task"}, "status": {"code": 200}, "task": one}),
        one.clone(),
        json!({"tasks": [one]}),
    ];
    for shape in shapes {
        let app = spawn_app().await;
        app.anaplan.on(&list_path(), Reply::ok(shape.clone()));
        let body: serde_json::Value = app.get(&list_route()).await.json().await.unwrap();
        let tasks = body["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{shape}");
        assert_eq!(tasks[0]["taskId"], task_id(4));
        assert_eq!(tasks[0]["state"], "running");
    }
    // None listed: the key left out, as Anaplan does.
    let app = spawn_app().await;
    app.anaplan.on(
        &list_path(),
        Reply::ok(json!({"meta": {"paging": {"totalSize": 0}}})),
    );
    let body: serde_json::Value = app.get(&list_route()).await.json().await.unwrap();
    assert_eq!(body["tasks"], json!([]));
    // A task without its id, or something that is neither shape: unreadable, never empty.
    for unreadable in [
        json!({"task": {}}),
        json!({"taskState": "COMPLETE"}),
        json!({"items": []}),
    ] {
        let app = spawn_app().await;
        app.anaplan.on(&list_path(), Reply::ok(unreadable.clone()));
        assert_eq!(app.get(&list_route()).await.status(), 502, "{unreadable}");
    }
    // Not a list: unreadable, and said so; the next request is served normally.
    let app = spawn_app().await;
    app.anaplan.script(
        &list_path(),
        vec![
            Reply::ok(json!({"tasks": {"taskId": task_id(4)}})),
            anaplan_list(),
        ],
    );
    let response = app.get(&list_route()).await;
    assert_eq!(response.status(), 502);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:upstream-error"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.get(&list_route()).await.status(), 200);
}
