//! Many tasks in one request (`POST /tasks/status`): each item answered as it would be alone,
//! in order, a bad one beside good ones, rights per item, one poll per task per interval
//! however many batches ask; a held batch woken by one task's change, 304 at the wait's end,
//! and answered at once when the gateway stops.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::callers::{callers_file, sha256_hex};
use crate::helpers::*;

/// A batch item for the import task `task`.
fn item(task: &str) -> Value {
    json!({"kind": "import", "taskId": task, "objectId": IMPORT, "modelId": MODEL,
           "workspaceId": WORKSPACE})
}

async fn batch(app: &TestApp, items: Vec<Value>) -> reqwest::Response {
    let request = app.http.post(app.url("/tasks/status"));
    request
        .json(&json!({ "tasks": items }))
        .send()
        .await
        .unwrap()
}

async fn tasks(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["tasks"].as_array().unwrap().clone()
}

/// `items` held with `Prefer: wait=N`, answered with when it came.
fn held(
    app: &TestApp,
    items: Vec<Value>,
    wait: u64,
) -> tokio::task::JoinHandle<(reqwest::Response, tokio::time::Instant)> {
    let request = app.http.post(app.url("/tasks/status"));
    let request = request.header("prefer", format!("wait={wait}"));
    sent_and_timed(request.json(&json!({ "tasks": items })))
}

/// Every item with the tag its answer carries.
fn tagged(items: &[Value], answers: &[Value]) -> Vec<Value> {
    let pairs = items.iter().zip(answers);
    let tag = |(item, answer): (&Value, &Value)| {
        let mut item = item.clone();
        item["ifNoneMatch"] = answer["etag"].clone();
        item
    };
    pairs.map(tag).collect()
}

#[tokio::test(start_paused = true)]
async fn fifty_items_on_twenty_tasks_from_three_callers_cost_one_poll_per_task() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items: Vec<Value> = (0..50).map(|n| item(&task_id(n % 20))).collect();
    let batches = (0..3).map(|_| batch(&app, items.clone()));
    for response in join_all(batches).await {
        let answers = tasks(response).await;
        assert_eq!(answers.len(), 50);
        for (n, answer) in answers.iter().enumerate() {
            assert_eq!(answer["taskId"], task_id(n % 20), "in the request's order");
            assert_eq!(answer["state"], "running");
            assert!(
                answer["etag"].as_str().unwrap().starts_with("W/"),
                "{answer}"
            );
        }
    }
    let polls = |n| app.anaplan.calls(Method::GET, &import_path(&task_id(n)));
    assert!((0..20).all(|n| polls(n) == 1), "one poll per task");
    assert_eq!(app.anaplan.api_calls(), 20);

    tokio::time::advance(Duration::from_secs(6)).await;
    for _ in 0..3 {
        tasks(batch(&app, items.clone()).await).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!((0..20).all(|n| polls(n) == 2), "one more poll per interval");
}

#[tokio::test(start_paused = true)]
async fn a_bad_item_is_its_own_problem_beside_good_ones_and_costs_nothing() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items = vec![
        item(&task_id(1)),
        json!({"kind": "import", "taskId": "nope", "objectId": IMPORT, "modelId": MODEL}),
        json!({"kind": "imports", "taskId": task_id(2), "objectId": IMPORT, "modelId": MODEL}),
        json!({"kind": "import", "taskId": task_id(3), "objectId": 112000000009_u64, "modelId": MODEL}),
        json!({"kind": "import", "taskId": task_id(4), "modelId": MODEL}),
        json!("not an item"),
        item(&task_id(5)),
    ];
    let answers = tasks(batch(&app, items).await).await;
    assert_eq!(answers.len(), 7);
    assert_eq!(answers[0]["state"], "running");
    assert_eq!(answers[6]["state"], "running");
    for bad in &answers[1..6] {
        assert_eq!(bad["problem"]["status"], 400, "{bad}");
        assert!(bad.get("state").is_none());
    }
    let detail = answers[1]["problem"]["detail"].as_str().unwrap();
    assert!(detail.contains("taskId"), "{detail}");
    assert_eq!(app.anaplan.api_calls(), 2, "the good items' polls alone");
}

#[tokio::test(start_paused = true)]
async fn what_is_not_a_batch_is_400_and_nothing_reaches_anaplan() {
    let app = spawn_app_with(&["--max-batch", "3"]).await;
    let too_many: Vec<Value> = (0..4).map(|n| item(&task_id(n))).collect();
    let bodies = [
        json!({"tasks": []}).to_string(),
        json!({ "tasks": too_many }).to_string(),
        json!({"task": [item(&task_id(1))]}).to_string(),
        "not json".to_owned(),
        String::new(),
    ];
    for body in bodies {
        let request = app.http.post(app.url("/tasks/status")).body(body.clone());
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].is_string());
    }
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_callers_rights_are_checked_item_by_item() {
    let key = "batch-7d2e0f1a";
    let content = format!(
        r#"{{"callers": [{{"name": "orders", "keySha256": "{}", "models": ["{MODEL}"]}}]}}"#,
        sha256_hex(key)
    );
    let file = callers_file("batch", &content);
    let app = spawn_app_with(&["--callers-file", file.to_str().unwrap()]).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let other_model = "95A40874E6B64FA3AE0743278996850F";
    let mut elsewhere = item(&task_id(2));
    elsewhere["modelId"] = json!(other_model);
    let request = app.http.post(app.url("/tasks/status")).bearer_auth(key);
    let request = request.json(&json!({"tasks": [item(&task_id(1)), elsewhere]}));
    let answers = tasks(request.send().await.unwrap()).await;
    assert_eq!(answers[0]["state"], "running");
    assert_eq!(answers[1]["problem"]["status"], 403, "{}", answers[1]);
    assert_eq!(app.anaplan.api_calls(), 1);

    let anonymous = batch(&app, vec![item(&task_id(1))]).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(start_paused = true)]
async fn a_held_batch_is_woken_by_one_tasks_change_and_marks_it() {
    let app = spawn_app().await;
    let (moving, still) = (task_id(1), task_id(2));
    app.anaplan.on(&import_path(&still), running_at(0.5));
    app.anaplan.script(
        &import_path(&moving),
        vec![running_at(0.1), running_at(0.1), running_at(0.6)],
    );
    let items = vec![item(&moving), item(&still)];
    let first = tasks(batch(&app, items.clone()).await).await;
    let asked = tokio::time::Instant::now();
    let (response, answered_at) = held(&app, tagged(&items, &first), 20).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["preference-applied"], "wait=20");
    let answers = tasks(response).await;
    assert_eq!(answers[0]["changed"], true);
    assert_eq!(answers[0]["progress"], 0.6);
    assert_eq!(answers[1]["changed"], false);
    // Polled at 5 s (unchanged) and 10 s (changed): answered by that poll, not at the wait's end.
    let waited = answered_at - asked;
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&moving)), 3);
}

#[tokio::test(start_paused = true)]
async fn a_held_batch_nothing_changes_in_is_304_when_the_wait_ends() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items = vec![item(&task_id(1)), item(&task_id(2))];
    let first = tasks(batch(&app, items.clone()).await).await;
    let asked = tokio::time::Instant::now();
    let (response, answered_at) = held(&app, tagged(&items, &first), 12).await.unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["preference-applied"], "wait=12");
    assert!(answered_at - asked >= Duration::from_secs(12));
    // Each task kept its interval while the batch waited: polled at 5 and 10 s.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&task_id(1))), 3);

    // A tag that is not the current one answers at once, marked changed.
    let mut stale = tagged(&items, &first);
    stale[1]["ifNoneMatch"] = json!("W/\"old\"");
    let (response, _) = held(&app, stale, 12).await.unwrap();
    let answers = tasks(response).await;
    assert_eq!(
        (answers[0]["changed"].clone(), answers[1]["changed"].clone()),
        (json!(false), json!(true))
    );
}

#[tokio::test(start_paused = true)]
async fn stopping_answers_held_batches_at_once_each_one_waiter() {
    let mut app = spawn_app_with(&["--max-waiting", "2"]).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items: Vec<Value> = (0..30).map(|n| item(&task_id(n))).collect();
    let first = tasks(batch(&app, items.clone()).await).await;
    let tagged = tagged(&items, &first);
    // Two held batches of thirty tasks each fill two places, not sixty.
    let waiters = [
        held(&app, tagged.clone(), 20),
        held(&app, tagged.clone(), 20),
    ];
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = tokio::time::Instant::now();
    app.shut_down();
    for response in all_304_at_once(waiters, stopped_at).await {
        assert_eq!(response.headers()["preference-applied"], "wait=20");
    }
}

#[tokio::test(start_paused = true)]
async fn items_read_as_their_own_routes_read_them_named_lower_case_or_cloudworks() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    app.anaplan
        .list_object("imports", IMPORT, "Import Employees.csv");
    let lower = task_id(10).to_lowercase();
    let named = json!({"kind": "import", "taskId": task_id(11), "objectName": "Import Employees.csv",
                       "modelId": MODEL, "workspaceId": WORKSPACE});
    let run = json!({"kind": "integration-run", "taskId": "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70",
                     "objectId": "0123456789abcdef0123456789abcdef"});
    let answers = tasks(batch(&app, vec![item(&lower), named.clone(), run]).await).await;
    assert_eq!(answers[0]["taskId"], task_id(10), "read in Anaplan's case");
    assert_eq!(answers[1]["objectId"], IMPORT);
    assert_eq!(answers[1]["objectName"], "Import Employees.csv");
    // CloudWorks has no such run: the item's own 404, as the run's route would answer.
    assert_eq!(answers[2]["problem"]["status"], 404, "{}", answers[2]);

    // A named item is held on its object's task, as a numbered one is.
    let mut tagged = named;
    tagged["ifNoneMatch"] = answers[1]["etag"].clone();
    let (response, _) = held(&app, vec![tagged], 7).await.unwrap();
    assert_eq!(response.status(), 304);
}

#[tokio::test(start_paused = true)]
async fn a_held_batch_with_a_problem_item_is_answered_at_once() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items = vec![item(&task_id(1)), item("nope")];
    let first = tasks(batch(&app, items.clone()).await).await;
    let mut tagged = tagged(&items, &first);
    tagged[1]["ifNoneMatch"] = json!("W/\"0\"");
    let asked = tokio::time::Instant::now();
    let (response, answered_at) = held(&app, tagged, 20).await.unwrap();
    assert_eq!(answered_at, asked, "a problem is news: no wait");
    let answers = tasks(response).await;
    assert_eq!(answers[0]["changed"], false);
    assert_eq!(answers[1]["problem"]["status"], 400);
    assert_eq!(answers[1]["changed"], true);
}

#[tokio::test(start_paused = true)]
async fn past_the_bound_a_held_batch_is_answered_at_once_and_the_document_says_the_most() {
    let app = spawn_app_with(&["--max-waiting", "1", "--max-batch", "7"]).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let items = vec![item(&task_id(1))];
    let first = tasks(batch(&app, items.clone()).await).await;
    let holding = held(&app, tagged(&items, &first), 20);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (second, _) = held(&app, tagged(&items, &first), 20).await.unwrap();
    assert_eq!(second.status(), 304);
    assert!(!second.headers().contains_key("preference-applied"));
    let (first, _) = holding.await.unwrap();
    assert_eq!(first.headers()["preference-applied"], "wait=20");

    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(
        document["components"]["schemas"]["Batch"]["properties"]["tasks"]["maxItems"],
        7
    );
}
