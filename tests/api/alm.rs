//! ALM's tasks (`alm-sync`, `alm-comparison-report`, `alm-summary-report`), filed under the
//! model: started (Anaplan's 201 is the gateway's 202), watched, listed, waited for, never
//! cancelled (405, nothing sent), and a report collected through the gateway.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use anaplan_gateway::simulator::{Reply, StartPlan};

use crate::helpers::*;

const SOURCE_MODEL: &str = "E7F7A2B0C1D2E3F405162738495A6B7C";
const SOURCE_REVISION: &str = "E7F7A2B0C1D2E3F405162738495A33BE";
const TARGET_REVISION: &str = "7957A2B0C1D2E3F405162738495A62C4";

fn revisions() -> String {
    json!({"sourceModelId": SOURCE_MODEL, "sourceRevisionId": SOURCE_REVISION,
           "targetRevisionId": TARGET_REVISION})
    .to_string()
}

/// Where Anaplan files the model's ALM tasks of `collection`.
fn upstream(collection: &str) -> String {
    format!("/models/{MODEL}/alm/{collection}")
}

fn route(kind: &str) -> String {
    format!("/tasks/{kind}?modelId={MODEL}&workspaceId={WORKSPACE}")
}

async fn start(app: &TestApp, kind: &str, body: String) -> reqwest::Response {
    let request = app.http.post(app.url(&route(kind)));
    request.body(body).send().await.unwrap()
}

/// Starts a task of `kind` and answers where to watch it.
async fn started(app: &TestApp, kind: &str) -> String {
    let response = start(app, kind, revisions()).await;
    assert_eq!(response.status(), 202);
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_sync_starts_with_its_revisions_and_is_watched_to_its_end_without_an_object() {
    let app = spawn_app().await;
    let response = start(&app, "alm-sync", revisions()).await;
    assert_eq!(response.status(), 202, "Anaplan's 201 is a start accepted");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = response.json().await.unwrap();
    let id = app.anaplan.started_tasks()[0].clone();
    assert_eq!(task["kind"], "alm-sync");
    assert_eq!(task["taskId"], id.as_str());
    assert!(task.get("objectId").is_none(), "{task}");
    assert_eq!(
        location,
        format!("/tasks/alm-sync/{id}?modelId={MODEL}&workspaceId={WORKSPACE}")
    );
    let sent: Value = serde_json::from_str(&app.anaplan.posted(&upstream("syncTasks"))[0]).unwrap();
    assert_eq!(sent, serde_json::from_str::<Value>(&revisions()).unwrap());

    tokio::time::sleep(Duration::from_secs(30)).await;
    let done: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["result"]["sourceRevisionId"], SOURCE_REVISION);
    assert_eq!(done["result"]["targetRevisionId"], TARGET_REVISION);
    let status_path = format!("{}/{id}", upstream("syncTasks"));
    assert_eq!(app.anaplan.calls(Method::GET, &status_path), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_sync_carries_anaplans_explanation_in_result_error() {
    let app = spawn_app().await;
    app.anaplan.plan_starts(StartPlan {
        succeeds: false,
        ..StartPlan::default()
    });
    let location = started(&app, "alm-sync").await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let failed: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["successful"], false);
    let error = &failed["result"]["error"];
    assert_eq!(error["title"], "Model Synchronization Failed");
    assert_eq!(error["message"], "Your current workspace size is 998.9 MB.");
    assert!(error["subtitle"].as_str().unwrap().contains("size limit"));
}

#[tokio::test(start_paused = true)]
async fn bad_alm_starts_are_refused_before_anything_reaches_anaplan() {
    let app = spawn_app().await;
    let no_body = start(&app, "alm-sync", String::new()).await;
    assert_eq!(no_body.status(), 400);
    let detail = no_body.json::<Value>().await.unwrap()["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("sourceRevisionId"),
        "{detail}"
    );

    let bad_revision = json!({"sourceModelId": SOURCE_MODEL, "sourceRevisionId": "nope",
                              "targetRevisionId": TARGET_REVISION});
    let response = start(&app, "alm-comparison-report", bad_revision.to_string()).await;
    assert_eq!(response.status(), 400);
    let missing = json!({"sourceModelId": SOURCE_MODEL, "sourceRevisionId": SOURCE_REVISION});
    let response = start(&app, "alm-summary-report", missing.to_string()).await;
    assert_eq!(response.status(), 400);
    let locale = json!({"localeName": "en_US"});
    assert_eq!(
        start(&app, "alm-sync", locale.to_string()).await.status(),
        400
    );

    let with_object = format!("{}&objectId=112000000009", route("alm-sync"));
    let response = app.http.post(app.url(&with_object)).body(revisions());
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 400);
    let detail = response.json::<Value>().await.unwrap()["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("objectId is not taken"),
        "{detail}"
    );
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_alm_task_is_never_cancelled_405_and_nothing_sent() {
    let app = spawn_app().await;
    let location = started(&app, "alm-sync").await;
    let before = app.anaplan.api_calls();
    let response = app.delete(&location).await;
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(
        allow.contains("GET") && !allow.contains("DELETE"),
        "{allow}"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:anaplan-gateway:problem:no-cancel");
    assert!(problem["detail"].as_str().unwrap().contains("alm-sync"));
    assert_eq!(app.anaplan.api_calls(), before);
}

#[tokio::test(start_paused = true)]
async fn a_models_syncs_are_listed_and_none_is_an_empty_list() {
    let app = spawn_app().await;
    let empty: Value = app.get(&route("alm-sync")).await.json().await.unwrap();
    assert_eq!(empty["tasks"], json!([]), "{empty}");
    let report = app.get(&route("alm-comparison-report")).await;
    assert_eq!(
        report.status(),
        405,
        "reports keep no task list: their route only starts"
    );

    let location = started(&app, "alm-sync").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The empty list, past its interval, is answered stale while it is listed again.
    app.get(&route("alm-sync")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let listed: Value = app.get(&route("alm-sync")).await.json().await.unwrap();
    let id = app.anaplan.started_tasks()[0].clone();
    assert_eq!(listed["tasks"][0]["taskId"], id.as_str(), "{listed}");
    assert!(location.contains(&id));
}

#[tokio::test(start_paused = true)]
async fn a_held_request_on_a_sync_is_answered_when_it_changes() {
    let app = spawn_app().await;
    let location = started(&app, "alm-sync").await;
    let first = app.get(&location).await;
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let held = app
        .http
        .get(app.url(&location))
        .header("if-none-match", &tag);
    let held = held.header("prefer", "wait=30").send().await.unwrap();
    assert_eq!(held.status(), 200);
    let changed: Value = held.json().await.unwrap();
    assert_eq!(changed["state"], "running", "{changed}");
}

#[tokio::test(start_paused = true)]
async fn a_comparison_report_is_collected_as_text_once_it_has_succeeded() {
    let app = spawn_app().await;
    let location = started(&app, "alm-comparison-report").await;
    let report = location.replacen('?', "/report?", 1);
    let early = app.get(&report).await;
    assert_eq!(
        early.status(),
        409,
        "a running report has nothing to collect yet"
    );

    tokio::time::sleep(Duration::from_secs(30)).await;
    let response = app.get(&report).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("Type\tName\tChange\n"), "{text}");
    let asked = format!(
        "{}/{TARGET_REVISION}/{SOURCE_REVISION}",
        upstream("comparisonReports")
    );
    assert_eq!(app.anaplan.calls(Method::GET, &asked), 1);
}

#[tokio::test(start_paused = true)]
async fn a_summary_report_is_collected_as_anaplans_json() {
    let app = spawn_app().await;
    let location = started(&app, "alm-summary-report").await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let response = app.get(&location.replacen('?', "/report?", 1)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["summaryReport"]["sourceRevisionId"], SOURCE_REVISION);

    let sync = started(&app, "alm-sync").await;
    let refused = app.get(&sync.replacen('?', "/report?", 1)).await;
    assert_eq!(refused.status(), 400, "a sync makes no report");
}

#[tokio::test(start_paused = true)]
async fn a_syncs_events_follow_it_to_its_end() {
    let app = spawn_app().await;
    let location = started(&app, "alm-sync").await;
    let events = app.get(&location.replacen('?', "/events?", 1)).await;
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    // The stream ends once the sync has finished: its last event is the finished task.
    let text = events.text().await.unwrap();
    let last = text.rsplit("data:").next().unwrap().trim();
    let last: Value = serde_json::from_str(last.lines().next().unwrap()).unwrap();
    assert_eq!(last["kind"], "alm-sync");
    assert_eq!(last["state"], "succeeded", "{text}");
    assert!(text.matches("event: status").count() >= 2, "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_start_whose_answer_is_lost_is_never_sent_again() {
    let app = spawn_app().await;
    // A sync's lost answer is found in the model's sync list.
    let lost = || Reply::Lost(Box::new(Reply::Reset));
    app.anaplan
        .script_starts(&upstream("syncTasks"), vec![lost()]);
    let found = start(&app, "alm-sync", revisions()).await;
    assert_eq!(found.status(), 202);
    let task: Value = found.json().await.unwrap();
    assert_eq!(task["taskId"], app.anaplan.started_tasks()[0].as_str());
    assert_eq!(app.anaplan.posted(&upstream("syncTasks")).len(), 1);

    // Anaplan lists no reports: a report's lost answer is 502 at once, and the start is not sent
    // again, by this request or by its repeat.
    let reports = upstream("comparisonReportTasks");
    app.anaplan.script_starts(&reports, vec![lost()]);
    for _ in 0..2 {
        let request = app.http.post(app.url(&route("alm-comparison-report")));
        let request = request
            .header("idempotency-key", "report-1")
            .body(revisions());
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 502);
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:anaplan-gateway:problem:start-outcome-unknown"
        );
    }
    assert_eq!(app.anaplan.posted(&reports).len(), 1, "one POST, never two");
    assert_eq!(
        app.anaplan.started_tasks().len(),
        2,
        "the lost report was made once"
    );
}
