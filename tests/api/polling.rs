//! The cache in front of Anaplan: upstream calls counted while many callers poll.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;

/// `callers` clients each polling `route` every `every` for `duration` (in tokio time).
async fn poll_for(app: &TestApp, route: &str, callers: usize, every: Duration, duration: Duration) {
    let deadline = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let http = app.http.clone();
        let url = app.url(route);
        tasks.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                let response = http.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                tokio::time::sleep(every).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_hundred_callers_for_ten_seconds_cost_at_most_three_upstream_calls() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    poll_for(
        &app,
        &import_route(TASK),
        100,
        Duration::from_millis(500),
        Duration::from_secs(10),
    )
    .await;
    let calls = app.anaplan.calls(Method::GET, &import_path(TASK));
    assert!(
        (2..=3).contains(&calls),
        "{calls} upstream calls at the default 5 s interval"
    );
}

#[tokio::test(start_paused = true)]
async fn a_finished_task_is_kept_and_never_fetched_again() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("import_complete.json")),
    );
    poll_for(
        &app,
        &import_route(TASK),
        5,
        Duration::from_secs(5),
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(
        response.headers()["cache-control"],
        "max-age=86400, immutable"
    );
}

#[tokio::test(start_paused = true)]
async fn headers_tell_the_age_and_when_the_answer_goes_stale() {
    let app = spawn_app().await;
    app.anaplan.script(
        &import_path(TASK),
        vec![
            Reply::ok(fixture("task_not_started.json")),
            Reply::ok(fixture("task_in_progress.json")),
        ],
    );
    let first = app.get(&import_route(TASK)).await;
    assert_eq!(first.headers()["cache-control"], "max-age=5");
    assert!(
        first.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("fwd=miss")
    );
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["state"], "queued");

    tokio::time::advance(Duration::from_secs(3)).await;
    let hit = app.get(&import_route(TASK)).await;
    assert_eq!(hit.headers()["age"], "3");
    assert_eq!(hit.headers()["cache-control"], "max-age=2");
    assert_eq!(hit.headers()["cache-status"], "anaplan-gateway; hit");

    // Past the interval: the last answer at once, marked stale, while one refresh runs.
    tokio::time::advance(Duration::from_secs(3)).await;
    let stale = app.get(&import_route(TASK)).await;
    assert_eq!(stale.headers()["age"], "6");
    assert_eq!(stale.headers()["cache-control"], "max-age=0");
    assert!(
        stale.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("detail=stale")
    );
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["state"], "queued");

    tokio::time::sleep(Duration::from_millis(50)).await;
    let refreshed: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    assert_eq!(refreshed["state"], "running");
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
}

/// Fresh hits are answered ahead of the router: with the routed answer's body and headers, the
/// caller's request id, and however the query spells the ids.
#[tokio::test(start_paused = true)]
async fn a_fresh_hit_answers_as_the_routed_answer_did() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let routed = app.get(&import_route(TASK)).await;
    assert_eq!(routed.status(), 200);
    let routed_type = routed.headers()["content-type"].clone();
    let routed_body = routed.bytes().await.unwrap();

    let spellings = [
        import_route(TASK),
        // Percent-encoded, reordered, with a parameter the gateway ignores.
        format!(
            "/tasks/import/{TASK}?objectId=%31{}&extra=a+b&workspaceId={WORKSPACE}&modelId={MODEL}",
            &IMPORT[1..]
        ),
    ];
    for (n, route) in spellings.iter().enumerate() {
        let request_id = format!("caller-{n}");
        let hit = app
            .http
            .get(app.url(route))
            .header("x-request-id", &request_id)
            .send()
            .await
            .unwrap();
        assert_eq!(hit.status(), 200, "{route}");
        assert_eq!(hit.headers()["cache-status"], "anaplan-gateway; hit");
        assert_eq!(hit.headers()["x-request-id"], request_id.as_str());
        assert_eq!(hit.headers()["content-type"], routed_type);
        assert_eq!(hit.headers()["cache-control"], "max-age=5");
        assert_eq!(hit.bytes().await.unwrap(), routed_body, "{route}");
    }
    // Whatever is not a GET of a valid task goes to the router, cached or not.
    let head = app.http.head(app.url(&import_route(TASK))).send().await;
    assert_eq!(head.unwrap().status(), 200);
    let extra_segment = app.get(&format!("/tasks/import/{TASK}/x?objectId=1")).await;
    assert_eq!(extra_segment.status(), 404);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
}

#[tokio::test(start_paused = true)]
async fn long_running_tasks_are_polled_less_often_as_they_age() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    // One caller polling every second for ten minutes: 5 s intervals at first, growing to
    // a tenth of the age, capped at 60 s.
    poll_for(
        &app,
        &import_route(TASK),
        1,
        Duration::from_secs(1),
        Duration::from_secs(600),
    )
    .await;
    let calls = app.anaplan.calls(Method::GET, &import_path(TASK));
    // A fixed 5 s interval would make 120 calls; the schedule makes about 30.
    assert!(
        (20..=40).contains(&calls),
        "{calls} upstream calls in ten minutes"
    );
    let response = app.get(&import_route(TASK)).await;
    let max_age: u64 = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .trim_start_matches("max-age=")
        .parse()
        .unwrap();
    assert!(max_age <= 60, "the interval never exceeds the ceiling");
}

#[tokio::test(start_paused = true)]
async fn models_are_polled_once_per_interval() {
    let app = spawn_app().await;
    let status_path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/status");
    app.anaplan
        .on(&status_path, Reply::ok(fixture("model_status_export.json")));
    let route = format!("/models/{MODEL}/status?workspaceId={WORKSPACE}");
    poll_for(
        &app,
        &route,
        50,
        Duration::from_millis(250),
        Duration::from_secs(20),
    )
    .await;
    let calls = app.anaplan.calls(Method::GET, &status_path);
    assert!(
        (4..=5).contains(&calls),
        "{calls} model-status calls in 20 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_occasional_caller_gets_news_not_an_answer_long_out_of_date() {
    let app = spawn_app().await;
    app.anaplan.script(
        &import_path(TASK),
        vec![
            Reply::ok(fixture("task_in_progress.json")),
            Reply::ok(fixture("import_complete.json")),
        ],
    );
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    // Nobody asks for 45 s: the next caller waits for the new answer rather than the old one.
    tokio::time::advance(Duration::from_secs(45)).await;
    let response = app.get(&import_route(TASK)).await;
    assert!(
        response.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("fwd=miss")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "succeeded");
}

#[tokio::test(start_paused = true)]
async fn the_polling_floor_holds_when_the_cache_evicts() {
    // Room for one answer: polling two tasks in turn evicts one with every fetch.
    let app = spawn_app_with(&["--cache-max-entries", "1", "--cache-max-mib", "1"]).await;
    let (first, second) = (task_id(1), task_id(2));
    for task in [&first, &second] {
        app.anaplan.on(
            &import_path(task),
            Reply::ok(fixture("task_in_progress.json")),
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        for task in [&first, &second] {
            assert_eq!(app.get(&import_route(task)).await.status(), 200);
            // Run the cache's housekeeping now, as sustained traffic would, so it evicts.
            assert!(app.service.cache().len() <= 1);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        app.service.cache().len() <= 1,
        "the cache stays within its bound"
    );
    for task in [&first, &second] {
        let calls = app.anaplan.calls(Method::GET, &import_path(task));
        assert!(
            calls <= 3,
            "{calls} calls in 10 s for one task despite evictions"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_tasks_age_survives_the_eviction_of_its_answer() {
    // Room for one answer: asking for a second task evicts the first.
    let app = spawn_app_with(&["--cache-max-entries", "1", "--cache-max-mib", "1"]).await;
    let (old, other) = (task_id(1), task_id(2));
    for task in [&old, &other] {
        app.anaplan.on(
            &import_path(task),
            Reply::ok(fixture("task_in_progress.json")),
        );
    }
    assert_eq!(app.get(&import_route(&old)).await.status(), 200);
    // Ten minutes on, the task is polled once a minute (a tenth of its age).
    tokio::time::advance(Duration::from_secs(600)).await;
    let aged = app.get(&import_route(&old)).await;
    assert_eq!(aged.headers()["cache-control"], "max-age=60");

    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(app.get(&import_route(&other)).await.status(), 200);
    assert!(app.service.cache().len() <= 1, "the first task was evicted");
    let after_eviction = app.get(&import_route(&old)).await;
    assert_eq!(
        after_eviction.headers()["cache-control"],
        "max-age=60",
        "its interval still follows its age"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lower_case_task_id_finds_its_task() {
    let app = spawn_app().await;
    let in_progress = Reply::ok(fixture("task_in_progress.json"));
    app.anaplan.on(&import_path(TASK), in_progress);
    let upper: Value = app.get(&import_route(TASK)).await.json().await.unwrap();
    let lower = app.get(&import_route(&TASK.to_lowercase())).await;
    assert_eq!(
        lower.status(),
        200,
        "read in Anaplan's case, not sent upstream as given"
    );
    assert_eq!(lower.json::<Value>().await.unwrap(), upper);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
}
