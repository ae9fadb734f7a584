//! Anaplan refusing for a while: a 429 pauses every upstream call for its `Retry-After`, and a
//! failure (5xx) is remembered per key, with stale answers standing in meanwhile.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_seconds_pauses_every_key() {
    let app = spawn_app().await;
    let limited = Reply::Status(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "30".into())],
    );
    app.anaplan.on(&import_path(&task_id(1)), limited);
    let first = app.get(&import_route(&task_id(1))).await;
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "30");
    assert_eq!(first.headers()["content-type"], "application/problem+json");

    // Another task during the pause: no upstream call at all.
    app.anaplan.on(
        &import_path(&task_id(2)),
        Reply::ok(fixture("task_in_progress.json")),
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    let other = app.get(&import_route(&task_id(2))).await;
    assert_eq!(other.status(), 503);
    let retry_after: u64 = other.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (19..=20).contains(&retry_after),
        "{retry_after} s left of the pause"
    );
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&task_id(2))), 0);

    // Once it has passed, calls go through again.
    tokio::time::advance(Duration::from_secs(21)).await;
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&task_id(2))), 1);
}

#[tokio::test(start_paused = true)]
async fn a_429_with_an_http_date_is_honoured_and_cached_answers_stand_in() {
    let app = spawn_app().await;
    cached_then_stale(&app).await;
    let until = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(20));
    app.anaplan.on(
        &import_path(TASK),
        Reply::Status(
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", until)],
        ),
    );
    // The stale answer is served at once while the refresh meets the 429.
    let stale = app.get(&import_route(TASK)).await;
    assert_eq!(stale.status(), 200);
    assert!(cache_status(&stale).contains("stale"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);

    // During the pause callers keep getting the stale answer, and Anaplan hears nothing.
    for _ in 0..10 {
        tokio::time::advance(Duration::from_secs(1)).await;
        let response = app.get(&import_route(TASK)).await;
        assert_eq!(response.status(), 200);
        assert!(cache_status(&response).contains("stale"));
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
    // A task with no cached answer gets 503 with the time left.
    let fresh = app.get(&import_route(&task_id(9))).await;
    assert_eq!(fresh.status(), 503);
    let retry_after: u64 = fresh.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((8..=11).contains(&retry_after), "{retry_after}");
}

#[tokio::test(start_paused = true)]
async fn a_500_with_a_cached_answer_serves_it_stale_and_is_remembered() {
    let app = spawn_app().await;
    cached_then_stale(&app).await;
    app.anaplan.on(&import_path(TASK), Reply::status(500));
    let mut callers = Vec::new();
    for _ in 0..50 {
        let (http, url) = (app.http.clone(), app.url(&import_route(TASK)));
        callers.push(tokio::spawn(async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), cache_status(&response))
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for caller in callers {
        let (status, cache) = caller.await.unwrap();
        assert_eq!(status, 200);
        assert!(cache.contains("stale"), "{cache}");
    }
    // One refresh failed; the wave of callers after it cost nothing more (a 500 is not retried).
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
}

#[tokio::test(start_paused = true)]
async fn a_500_without_a_cached_answer_is_a_502_and_is_remembered() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), Reply::status(500));
    for _ in 0..20 {
        let response = app.get(&import_route(TASK)).await;
        assert_eq!(response.status(), 502);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 502);
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
    // After the interval one new attempt is made; repeated failures double the pause.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(app.get(&import_route(TASK)).await.status(), 502);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(app.get(&import_route(TASK)).await.status(), 502);
    assert_eq!(
        app.anaplan.calls(Method::GET, &import_path(TASK)),
        2,
        "the second failure paused 10 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_remembered_503_tells_the_time_its_pause_has_left() {
    let app = spawn_app().await;
    let path = import_path(TASK);
    app.anaplan.on(&path, Reply::status(503));
    let first = app.get(&import_route(TASK)).await;
    assert_eq!(first.status(), 503);
    let calls = app.anaplan.calls(Method::GET, &path);
    assert_eq!(
        first.headers()["retry-after"],
        "5",
        "the first pause: one interval"
    );

    tokio::time::advance(Duration::from_secs(3)).await;
    let remembered = app.get(&import_route(TASK)).await;
    assert_eq!(remembered.status(), 503);
    assert_eq!(
        remembered.headers()["retry-after"],
        "2",
        "what is left of the pause"
    );
    assert_eq!(
        app.anaplan.calls(Method::GET, &path),
        calls,
        "no new call meanwhile"
    );
}

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_is_not_asked_again_before_it() {
    let app = spawn_app().await;
    let path = import_path(TASK);
    let unavailable = Reply::Status(
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        vec![("retry-after", "120".into())],
    );
    app.anaplan.on(&path, unavailable);
    let first = app.get(&import_route(TASK)).await;
    assert_eq!(first.status(), 503);
    assert_eq!(
        first.headers()["retry-after"],
        "120",
        "Anaplan's pause, not the gateway's"
    );
    let calls = app.anaplan.calls(Method::GET, &path);
    tokio::time::advance(Duration::from_secs(100)).await;
    let later = app.get(&import_route(TASK)).await;
    assert_eq!(later.headers()["retry-after"], "20");
    assert_eq!(
        app.anaplan.calls(Method::GET, &path),
        calls,
        "not asked again meanwhile"
    );
}
