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

fn in_progress(progress: f64) -> Reply {
    let mut body = fixture("task_in_progress.json");
    body["task"]["progress"] = json!(progress);
    Reply::ok(body)
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_answer_is_304_with_its_tag_and_no_body() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), in_progress(0.35));
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
    app.anaplan.on(&import_path(TASK), in_progress(0.35));
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
    app.anaplan.on(&import_path(TASK), in_progress(0.6));
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

#[tokio::test(start_paused = true)]
async fn model_status_is_conditional_too() {
    let app = spawn_app().await;
    let status_path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/status");
    let route = format!("/models/{MODEL}/status?workspaceId={WORKSPACE}");
    app.anaplan
        .on(&status_path, Reply::ok(fixture("model_status_open.json")));
    let tag = etag(&app.get(&route).await);
    assert_eq!(get_if_none_match(&app, &route, &tag).await.status(), 304);
}
