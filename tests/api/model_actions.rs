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
        format!("/models/{MODEL}/status")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "closing", "the status asked after the close");
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("close")), 1);
    // Closing already: nothing more is sent.
    let again = post(&app, "close").await;
    assert_eq!(again.status(), 202);
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("close")), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_goes_only_to_a_closed_model_and_once_in_five_minutes() {
    let app = spawn_app().await;
    // Open already: nothing is sent, however often asked.
    app.anaplan.on(&status_path(), step("Open"));
    for _ in 0..3 {
        let response = post(&app, "open").await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["state"], "open");
    }
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 0);
    // Closed: one open, however many callers ask at once, and none again for five minutes.
    app.anaplan.on(&status_path(), step("Closed"));
    app.anaplan.on(&action_path("open"), Reply::status(202));
    // Past the longest poll interval: the gateway has asked for the status again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let asks = (0..20).map(|_| post(&app, "open"));
    let answers = futures_util::future::join_all(asks).await;
    assert!(answers.iter().all(|answer| answer.status() == 202));
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 1);
    tokio::time::sleep(Duration::from_secs(4 * 60)).await;
    assert_eq!(post(&app, "open").await.status(), 202);
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 1);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(post(&app, "open").await.status(), 202);
    assert_eq!(app.anaplan.calls(Method::POST, &action_path("open")), 2);
}

#[tokio::test(start_paused = true)]
async fn opening_and_closing_need_may_start_and_bad_ids_never_go_upstream() {
    let file = crate::callers::callers_file(
        "model-actions",
        &format!(
            r#"{{"callers": [{{"name": "reader", "keySha256": "{}", "models": ["*"]}}]}}"#,
            crate::callers::sha256_hex("reader-key")
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
        let bad = app
            .http
            .post(app.url("/models/not-a-model/open"))
            .bearer_auth("reader-key");
        assert_eq!(bad.send().await.unwrap().status(), 400);
    }
    assert_eq!(app.anaplan.api_calls(), 0);
}
