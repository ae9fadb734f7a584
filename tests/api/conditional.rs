//! Conditional requests: every status answer carries a weak `ETag` over what a caller cares about
//! (not the poll times), and `If-None-Match` with it answers `304 Not Modified` while the answer is
//! unchanged, on the fast path and through the router alike.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde_json::json;

use crate::helpers::*;

fn etag(response: &reqwest::Response) -> String {
    response.headers()[ETAG].to_str().unwrap().to_owned()
}

async fn get_if_none_match(app: &TestApp, route: &str, tags: &str) -> reqwest::Response {
    let request = app.http.get(app.url(route)).header(IF_NONE_MATCH, tags);
    request.send().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_answer_is_304_with_its_tag_and_no_body() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let first = app.get(&import_route(TASK)).await;
    assert_eq!(first.status(), 200);
    let tag = etag(&first);
    assert!(tag.starts_with("W/\"") && tag.ends_with('"'), "{tag}");

    // A fresh hit, answered ahead of routing, and the same through the router (a lower-case
    // task id is no fast hit): both 304, with the tag and the cache headers, and no body.
    let lower_case = import_route(&TASK.to_lowercase());
    for route in [import_route(TASK), lower_case] {
        let response = get_if_none_match(&app, &route, &tag).await;
        assert_eq!(response.status(), 304, "{route}");
        assert_eq!(etag(&response), tag);
        for name in ["age", "cache-control", "cache-status"] {
            assert!(response.headers().contains_key(name), "{name}");
        }
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // Weak comparison, lists and `*`; another tag is a 200 with the body.
    let strong = tag.trim_start_matches("W/");
    for tags in [strong.to_owned(), format!("W/\"other\", {tag}"), "*".into()] {
        assert_eq!(
            get_if_none_match(&app, &import_route(TASK), &tags)
                .await
                .status(),
            304
        );
    }
    let other = get_if_none_match(&app, &import_route(TASK), "W/\"other\"").await;
    assert_eq!(other.status(), 200);
    assert!(!other.bytes().await.unwrap().is_empty());
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
}

#[tokio::test(start_paused = true)]
async fn the_tag_changes_with_the_task_not_with_the_poll_times() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let first = app.get(&import_route(TASK)).await;
    let tag = etag(&first);
    let first_body: serde_json::Value = first.json().await.unwrap();

    // Polled again, unchanged but for the poll times: still 304.
    refreshed(&app, 2).await;
    let again = get_if_none_match(&app, &import_route(TASK), &tag).await;
    assert_eq!(again.status(), 304);
    let body: serde_json::Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_ne!(body["fetchedAt"], first_body["fetchedAt"]);

    // Progress moves: a new tag, and the new answer.
    app.anaplan.on(&import_path(TASK), running_at(0.6));
    refreshed(&app, 3).await;
    let moved = get_if_none_match(&app, &import_route(TASK), &tag).await;
    assert_eq!(moved.status(), 200);
    assert_ne!(etag(&moved), tag);
    let body: serde_json::Value = moved.json().await.unwrap();
    assert_eq!(body["progress"], json!(0.6));
}

/// Lets the answer go stale, asks (which serves it stale and refreshes it), and waits until the
/// refresh, Anaplan's `calls`-th, has landed.
async fn refreshed(app: &TestApp, calls: usize) {
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    until("the refresh", || {
        app.anaplan.calls(Method::GET, &import_path(TASK)) == calls
    })
    .await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Asks with `If-None-Match: tag` and `Prefer: wait=seconds`, from a task of its own.
fn held(
    app: &TestApp,
    route: &str,
    tag: &str,
    seconds: u64,
) -> tokio::task::JoinHandle<(reqwest::Response, tokio::time::Instant)> {
    let request = (app.http.get(app.url(route)))
        .header(IF_NONE_MATCH, tag)
        .header("prefer", format!("wait={seconds}"));
    sent_and_timed(request)
}

fn preference_applied(response: &reqwest::Response) -> &str {
    response.headers()["preference-applied"].to_str().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_held_request_is_answered_by_the_poll_that_brings_a_change() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = etag(&app.get(&import_route(TASK)).await);
    let asked = tokio::time::Instant::now();
    // Many callers hold; Anaplan's answer moves before the next poll.
    let waiters: Vec<_> = (0..50)
        .map(|_| held(&app, &import_route(TASK), &tag, 20))
        .collect();
    app.anaplan.on(&import_path(TASK), running_at(0.6));
    for waiter in waiters {
        let (response, answered_at) = waiter.await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(preference_applied(&response), "wait=20");
        assert_ne!(etag(&response), tag);
        // At the next poll (5 s after the first), not at the end of the wait.
        let waited = answered_at - asked;
        assert!(
            waited >= Duration::from_secs(4) && waited < Duration::from_secs(6),
            "{waited:?}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["progress"], json!(0.6));
    }
    // Waiting is asking, once per interval however many wait.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_answer_is_304_when_the_wait_ends_and_the_task_is_polled_meanwhile() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = etag(&app.get(&import_route(TASK)).await);
    let asked = tokio::time::Instant::now();
    let (response, answered_at) = held(&app, &import_route(TASK), &tag, 12).await.unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(preference_applied(&response), "wait=12");
    assert!(answered_at - asked >= Duration::from_secs(12));
    // Polled at 5 and 10 s while it waited: a waiter keeps its task polled.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 3);
}

#[tokio::test(start_paused = true)]
async fn a_wait_is_capped_and_a_finished_task_is_answered_at_once() {
    let app = spawn_app_with(&["--max-wait", "2s"]).await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = etag(&app.get(&import_route(TASK)).await);
    let (response, _) = held(&app, &import_route(TASK), &tag, 600).await.unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(preference_applied(&response), "wait=2");

    let finished = task_id(2);
    app.anaplan.on(
        &import_path(&finished),
        Reply::ok(fixture("import_complete.json")),
    );
    let tag = etag(&app.get(&import_route(&finished)).await);
    let asked = tokio::time::Instant::now();
    let (response, answered_at) = held(&app, &import_route(&finished), &tag, 20)
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(answered_at, asked, "a finished task never changes: no wait");
}

#[tokio::test(start_paused = true)]
async fn past_the_bound_a_waiting_request_is_answered_at_once() {
    let app = spawn_app_with(&["--max-waiting", "1"]).await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = etag(&app.get(&import_route(TASK)).await);
    let first = held(&app, &import_route(TASK), &tag, 20);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (second, _) = held(&app, &import_route(TASK), &tag, 20).await.unwrap();
    assert_eq!(second.status(), 304);
    assert!(!second.headers().contains_key("preference-applied"));
    let (first, _) = first.await.unwrap();
    assert_eq!(preference_applied(&first), "wait=20");
}

#[tokio::test(start_paused = true)]
async fn shutting_down_answers_every_held_request_at_once() {
    let mut app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.35));
    let tag = etag(&app.get(&import_route(TASK)).await);
    let waiters: Vec<_> = (0..5)
        .map(|_| held(&app, &import_route(TASK), &tag, 20))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = tokio::time::Instant::now();
    app.shut_down();
    all_304_at_once(waiters, stopped_at).await;
}

#[tokio::test(start_paused = true)]
async fn model_status_is_conditional_and_can_be_held() {
    let app = spawn_app().await;
    let status_path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/status");
    let route = format!("/models/{MODEL}/status?workspaceId={WORKSPACE}");
    app.anaplan
        .on(&status_path, Reply::ok(fixture("model_status_open.json")));
    let tag = etag(&app.get(&route).await);
    assert_eq!(get_if_none_match(&app, &route, &tag).await.status(), 304);
    app.anaplan.on(
        &status_path,
        Reply::ok(fixture("model_status_updating.json")),
    );
    let (response, _) = held(&app, &route, &tag, 20).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_ne!(etag(&response), tag);
}
