//! Models opened and closed through the gateway: sent only when the model's status says there is
//! something to do, an open at most once per model in five minutes (Anaplan's fair use), the
//! status after it in the answer, a starter's right.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn status_path() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/status")
}

fn action_path(action: &str) -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/{action}")
}

fn route(action: &str) -> String {
    format!("/models/{MODEL}/{action}?workspaceId={WORKSPACE}")
}

fn step(step: &str) -> Reply {
    Reply::ok(json!({"requestStatus": {"currentStep": step, "progress": -1.0}}))
}

async fn post(app: &TestApp, action: &str) -> reqwest::Response {
    app.http.post(app.url(&route(action))).send().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_close_is_sent_once_and_answered_with_the_status_after_it() {
    let app = spawn_app().await;
    app.anaplan
        .script(&status_path(), vec![step("Open"), step("Closing")]);
    let response = post(&app, "close").await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers()["location"],
        format!("/models/{MODEL}/status?workspaceId={WORKSPACE}")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "closing", "the status asked after the close");
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("close")), 1);
    // Closing already: 200 with the status, and nothing more sent.
    let again = post(&app, "close").await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("close")), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_goes_only_to_a_closed_model_and_once_in_five_minutes() {
    let app = spawn_app().await;
    // Open already: nothing is sent, however often asked.
    app.anaplan.on(&status_path(), step("Open"));
    for _ in 0..3 {
        let response = post(&app, "open").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["state"], "open");
    }
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 0);
    // Closed: one open, however many callers ask at once; the others are told it was just sent.
    app.anaplan.on(&status_path(), step("Closed"));
    app.anaplan.on(&action_path("open"), Reply::status(202));
    // Past the longest poll interval: the gateway has asked for the status again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let asks = (0..20).map(|_| post(&app, "open"));
    let answers = futures_util::future::join_all(asks).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 202 || s == 409),
        "{statuses:?}"
    );
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 1);
    // Still closed four minutes on: no open yet, and when one may go.
    tokio::time::sleep(Duration::from_secs(4 * 60)).await;
    let early = post(&app, "open").await;
    assert_eq!(early.status(), 409);
    let wait: u64 = early.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=60).contains(&wait), "{wait}");
    let problem: Value = early.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:model-opened-recently"
    );
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 1);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(post(&app, "open").await.status(), 202);
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 2);
}

#[tokio::test(start_paused = true)]
async fn an_open_that_failed_does_not_count_against_the_next() {
    let app = spawn_app().await;
    app.anaplan.on(&status_path(), step("Closed"));
    app.anaplan.script(
        &action_path("open"),
        vec![Reply::status(500), Reply::status(202)],
    );
    assert_eq!(post(&app, "open").await.status(), 502);
    assert_eq!(
        post(&app, "open").await.status(),
        202,
        "the failed open gave its turn back"
    );
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 2);
}

#[tokio::test(start_paused = true)]
async fn opening_and_closing_need_may_start_and_bad_ids_never_go_upstream() {
    let file = crate::callers::callers_file(
        "model-actions",
        &format!(
            r#"{{"callers": [
  {{"name": "reader", "keySha256": "{}", "models": ["*"]}},
  {{"name": "ops", "keySha256": "{}", "models": ["*"], "mayStart": true}}
]}}"#,
            crate::callers::sha256_hex("reader-key"),
            crate::callers::sha256_hex("ops-key")
        ),
    );
    let app = spawn_app_with(&["--callers-file", file.to_str().unwrap()]).await;
    for action in ["open", "close"] {
        let request = app
            .http
            .post(app.url(&route(action)))
            .bearer_auth("reader-key");
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:anaplan-gateway:problem:caller-not-allowed"
        );
        let bad = app
            .http
            .post(app.url("/models/not-a-model/open"))
            .bearer_auth("ops-key");
        assert_eq!(bad.send().await.unwrap().status(), 400);
    }
    assert_eq!(app.anaplan.api_calls(), 0);
    app.anaplan.on(&status_path(), step("Open"));
    let allowed = app
        .http
        .post(app.url(&route("close")))
        .bearer_auth("ops-key");
    assert_eq!(allowed.send().await.unwrap().status(), 202);
}

/// Anaplan answers a repeated open with 404 (its fair use); for a model whose status was just
/// read, that is the refusal of a repeat, not a missing model.
#[tokio::test(start_paused = true)]
async fn anaplans_refusal_of_a_repeated_open_is_409_not_a_missing_model() {
    let app = spawn_app().await;
    app.anaplan.on(&status_path(), step("Closed"));
    assert_eq!(post(&app, "open").await.status(), 202);
    // Six minutes on the status still says closed, and Anaplan (which loaded it) refuses again.
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    let refused = post(&app, "open").await;
    assert_eq!(refused.status(), 409);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:model-opened-recently"
    );
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 2);
}
