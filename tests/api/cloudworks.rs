//! CloudWorks integration runs (`integration-run`), on CloudWorks' API with the same token: the
//! tenant's, filed under their integration. Their state derived as CloudWorks gives none;
//! started once, listed, waited for, cancelled by integration (never another's run) and their
//! dumps streamed.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use anaplan_gateway::simulator::Reply;
use anaplan_gateway::simulator::cloudworks::{RunEnd, RunPlan};

use crate::callers::{callers_file, sha256_hex};
use crate::helpers::*;

const INTEGRATION: &str = "0123456789abcdef0123456789abcdef";
const OTHER_INTEGRATION: &str = "fedcba9876543210fedcba9876543210";

fn route() -> String {
    format!("/tasks/integration-run?objectId={INTEGRATION}")
}

async fn start(app: &TestApp) -> reqwest::Response {
    app.http.post(app.url(&route())).send().await.unwrap()
}

/// Starts a run of [`INTEGRATION`] that ends as `ends` after 20 s; where to watch it and its id.
async fn started(app: &TestApp, ends: RunEnd) -> (String, String) {
    app.anaplan.plan_runs(RunPlan {
        runs_for: Duration::from_secs(20),
        ends,
    });
    let response = start(app).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let run: Value = response.json().await.unwrap();
    (location, run["taskId"].as_str().unwrap().to_owned())
}

/// Calls of `method` to CloudWorks' `path`.
fn calls(app: &TestApp, method: Method, path: &str) -> usize {
    app.anaplan.cloudworks_calls(method, path)
}

#[tokio::test(start_paused = true)]
async fn a_run_starts_on_cloudworks_and_is_watched_to_its_partial_success() {
    let app = spawn_app().await;
    let (location, id) = started(&app, RunEnd::Partial).await;
    assert_eq!(
        location,
        format!("/tasks/integration-run/{id}?objectId={INTEGRATION}")
    );
    assert_eq!(
        id,
        id.to_ascii_lowercase(),
        "CloudWorks' ids are lower case"
    );
    let run_path = format!("/integrations/run/{id}");
    let start_path = format!("/integrations/{INTEGRATION}/run");
    assert_eq!(calls(&app, Method::POST, &start_path), 1);

    let started: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(
        started["state"], "running",
        "as the start left it: {started}"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stale = app.get(&location).await;
    assert!(
        cache_status(&stale).contains("stale"),
        "a refresh is under way"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    let running: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(running["kind"], "integration-run");
    assert_eq!(running["state"], "running", "no endDate: {running}");
    assert_eq!(running["upstreamState"], "Running");
    assert!(running.get("modelId").is_none() && running.get("workspaceId").is_none());
    assert_eq!(running["objectId"], INTEGRATION);

    tokio::time::sleep(Duration::from_secs(30)).await;
    // Upper case is read as CloudWorks spells its ids.
    let upper = format!(
        "/tasks/integration-run/{}?objectId={INTEGRATION}",
        id.to_uppercase()
    );
    let done: Value = app.get(&upper).await.json().await.unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["successful"], true);
    assert_eq!(
        done["result"]["warnings"], true,
        "code 38 is partial success"
    );
    assert_eq!(done["result"]["objectId"], INTEGRATION);
    assert_eq!(
        done["result"]["details"][0]["values"]["executionErrorCode"],
        38
    );
    assert!(done["result"].get("error").is_none(), "{done}");
    assert!(done["createdAt"].is_string(), "{done}");
    // One integration, however its id is spelt: one key, and CloudWorks' spelling upstream.
    let shouted = format!(
        "/tasks/integration-run/{id}?objectId={}",
        INTEGRATION.to_uppercase()
    );
    let same: Value = app.get(&shouted).await.json().await.unwrap();
    assert_eq!(same["objectId"], INTEGRATION);
    assert_eq!(
        calls(&app, Method::GET, &run_path),
        2,
        "a refresh, then the end"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_carries_cloudworks_message_and_a_cancelled_one_is_cancelled() {
    let app = spawn_app().await;
    let (location, _) = started(&app, RunEnd::Failure).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let failed: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["result"]["error"]["message"], "Process failed");
    assert_eq!(
        failed["result"]["error"]["subtitle"],
        "executionErrorCode 12"
    );
    assert_eq!(failed["result"]["warnings"], false);

    let (location, id) = started(&app, RunEnd::Success).await;
    let cancelled: Value = app.delete(&location).await.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["taskId"], id);
    let cancel = format!("/integrations/{INTEGRATION}/cancel");
    assert_eq!(calls(&app, Method::POST, &cancel), 1);
    // Finished: a second cancel is answered as it is, and nothing is sent.
    assert_eq!(app.delete(&location).await.status(), 200);
    assert_eq!(calls(&app, Method::POST, &cancel), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_never_reaches_the_run_another_integration_has_under_way() {
    let app = spawn_app().await;
    let (_, id) = started(&app, RunEnd::Success).await;
    let elsewhere = format!("/tasks/integration-run/{id}?objectId={OTHER_INTEGRATION}");
    assert_eq!(app.get(&elsewhere).await.status(), 404);
    assert_eq!(app.delete(&elsewhere).await.status(), 404);
    let dump = format!("/tasks/integration-run/{id}/dump?objectId={OTHER_INTEGRATION}");
    assert_eq!(app.get(&dump).await.status(), 404);
    assert_eq!(
        calls(&app, Method::GET, &format!("/integrations/run/{id}/dumps")),
        0
    );

    // A status that does not name its integration cannot show the cancel whose run it stops.
    let status = format!("/integrations/run/{id}");
    let unnamed =
        json!({"run": {"id": id, "message": "Running", "startDate": "2026-12-06T10:00:00Z"}});
    app.anaplan
        .script_cloudworks(&status, vec![Reply::ok(unnamed)]);
    let mine = format!("/tasks/integration-run/{id}?objectId={INTEGRATION}");
    assert_eq!(app.delete(&mine).await.status(), 502);
    for integration in [INTEGRATION, OTHER_INTEGRATION] {
        let cancel = format!("/integrations/{integration}/cancel");
        assert_eq!(calls(&app, Method::POST, &cancel), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn runs_are_listed_newest_first_and_a_second_start_while_one_runs_is_refused() {
    let app = spawn_app().await;
    let empty: Value = app.get(&route()).await.json().await.unwrap();
    assert_eq!(
        empty["tasks"],
        serde_json::json!([]),
        "CloudWorks' `runs: {{}}` is none"
    );

    let (_, first) = started(&app, RunEnd::Success).await;
    let refused = start(&app).await;
    assert_eq!(
        refused.status(),
        409,
        "CloudWorks runs an integration once at a time"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (_, second) = started(&app, RunEnd::Success).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let listed: Value = app.get(&route()).await.json().await.unwrap();
    let tasks = listed["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{listed}");
    assert_eq!(tasks[0]["taskId"], second.as_str());
    assert_eq!(tasks[0]["state"], "running");
    assert_eq!(tasks[1]["taskId"], first.as_str());
    assert_eq!(tasks[1]["state"], "succeeded");
    let history = format!("/integrations/runs/{INTEGRATION}");
    assert_eq!(calls(&app, Method::GET, &history), 2);
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_start_answer_is_lost_is_found_in_the_history_and_never_started_twice() {
    let app = spawn_app().await;
    let run = format!("/integrations/{INTEGRATION}/run");
    app.anaplan
        .script_cloudworks(&run, vec![Reply::Lost(Box::new(Reply::status(502)))]);
    let request = || {
        let request = app.http.post(app.url(&route()));
        request.header("idempotency-key", "nightly-load-1").send()
    };
    let found = request().await.unwrap();
    assert_eq!(found.status(), 202, "{:?}", found.text().await);
    let again = request().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(calls(&app, Method::POST, &run), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_left_rows_behind_streams_its_dump_and_a_clean_one_has_none() {
    let app = spawn_app().await;
    let (location, _) = started(&app, RunEnd::Partial).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let dump_route = location.replacen('?', "/dump?", 1);
    let dump = app.get(&dump_route).await;
    assert_eq!(dump.status(), 200);
    assert!(dump.text().await.unwrap().contains("Invalid number"));

    let (location, _) = started(&app, RunEnd::Success).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let none = app.get(&location.replacen('?', "/dump?", 1)).await;
    assert_eq!(none.status(), 404);
    let problem: Value = none.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("no-dump"),
        "{problem}"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_run_requests_are_refused_before_anything_reaches_cloudworks() {
    let app = spawn_app().await;
    let run = "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70";
    let bad = [
        format!("/tasks/integration-run/{run}?objectId={INTEGRATION}&modelId={MODEL}"),
        format!("/tasks/integration-run/{run}?objectId={INTEGRATION}&workspaceId={WORKSPACE}"),
        format!("/tasks/integration-run/{run}?objectName=Nightly%20load"),
        format!("/tasks/integration-run/{run}?objectId=112000000009"),
        format!("/tasks/integration-run/{run}"),
        format!("/tasks/integration-run/nope?objectId={INTEGRATION}"),
    ];
    for path in bad {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
    }
    let with_model = format!("{}&modelId={MODEL}", route());
    let response = app.http.post(app.url(&with_model)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let detail = response.json::<Value>().await.unwrap()["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("modelId is not taken"),
        "{detail}"
    );
    let fields = app
        .http
        .post(app.url(&route()))
        .body(r#"{"localeName":"en_US"}"#);
    assert_eq!(fields.send().await.unwrap().status(), 400);
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn runs_are_the_tenants_so_only_callers_of_every_model_see_them() {
    let (limited, everything) = ("limited-5b0e9d1c", "everything-6c1f0e2d");
    let content = format!(
        r#"{{"callers": [
  {{"name": "limited", "keySha256": "{}", "models": ["{MODEL}"]}},
  {{"name": "everything", "keySha256": "{}", "models": ["*"]}}
]}}"#,
        sha256_hex(limited),
        sha256_hex(everything)
    );
    let file = callers_file("cloudworks", &content);
    let app = spawn_app_with(&["--callers-file", file.to_str().unwrap()]).await;
    let status =
        format!("/tasks/integration-run/3f0c9a5e7b214d6c8e1a2b3c4d5e6f70?objectId={INTEGRATION}");
    let refused = app
        .http
        .get(app.url(&status))
        .bearer_auth(limited)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let detail = refused.json::<Value>().await.unwrap()["detail"].clone();
    assert!(detail.as_str().unwrap().contains("tenant's"), "{detail}");
    assert_eq!(app.anaplan.api_calls(), 0);
    let allowed = app
        .http
        .get(app.url(&status))
        .bearer_auth(everything)
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.status(),
        404,
        "asked of CloudWorks, which has no such run"
    );

    let guarded = spawn_app_with(&["--allowed-models", MODEL]).await;
    assert_eq!(guarded.get(&status).await.status(), 403);
    assert_eq!(guarded.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_caller_held_for_a_change_is_answered_when_the_run_ends() {
    let app = spawn_app().await;
    let (location, id) = started(&app, RunEnd::Success).await;
    let mut etag = app.get(&location).await.headers()["etag"].clone();
    let mut changes = Vec::new();
    while changes.last() != Some(&Value::from("succeeded")) && changes.len() < 5 {
        let held = app
            .http
            .get(app.url(&location))
            .header("if-none-match", &etag);
        let held = held.header("prefer", "wait=60").send().await.unwrap();
        assert_eq!(held.status(), 200, "each hold ends with a change");
        etag = held.headers()["etag"].clone();
        changes.push(held.json::<Value>().await.unwrap()["state"].clone());
    }
    // Running as CloudWorks reports it (the start's answer said less), then its end.
    assert_eq!(changes, ["running", "succeeded"]);
    let run = format!("/integrations/run/{id}");
    assert_eq!(
        calls(&app, Method::GET, &run),
        4,
        "one poll per 5 s interval over 20 s"
    );
}
