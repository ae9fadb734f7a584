//! Anaplan slow, rate-limiting, failing or gone: the gateway keeps answering honestly and keeps
//! its upstream calls few. Every fault is injected by the simulated Anaplan and the upstream calls
//! counted.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;

#[tokio::test(start_paused = true)]
async fn two_hundred_concurrent_callers_share_one_upstream_call() {
    let app = spawn_app().await;
    let slow = Reply::After(
        Duration::from_millis(800),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    app.anaplan.on(&import_path(TASK), slow);
    let started = tokio::time::Instant::now();
    let mut callers = Vec::new();
    for _ in 0..200 {
        let (http, url) = (app.http.clone(), app.url(&import_route(TASK)));
        callers.push(tokio::spawn(async move {
            let response = http.get(url).send().await.unwrap();
            (
                response.status(),
                cache_status(&response),
                started.elapsed(),
            )
        }));
    }
    let mut collapsed = 0;
    for caller in callers {
        let (status, cache, elapsed) = caller.await.unwrap();
        assert_eq!(status, 200);
        // Waiters on the fetch, or callers that came after it and hit its answer.
        assert!(
            cache.contains("collapsed") || cache.contains("hit") || cache.contains("stored"),
            "{cache}"
        );
        collapsed += usize::from(cache.contains("collapsed"));
        assert!(
            elapsed < Duration::from_millis(850),
            "answered {elapsed:?} after the start"
        );
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
    assert!(
        collapsed >= 100,
        "{collapsed} callers waited on the one fetch"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_hanging_up_cancels_nothing_and_causes_no_second_call() {
    let app = spawn_app().await;
    let slow = Reply::After(
        Duration::from_secs(2),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    app.anaplan.on(&import_path(TASK), slow);

    // The first caller gives up after 100 ms, mid-fetch.
    let impatient =
        tokio::time::timeout(Duration::from_millis(100), app.get(&import_route(TASK))).await;
    assert!(impatient.is_err());
    // A second caller arrives while the fetch is still under way and gets its outcome.
    let patient = app.get(&import_route(TASK)).await;
    assert_eq!(patient.status(), 200);
    assert!(cache_status(&patient).contains("collapsed"));
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);

    // Even with nobody waiting, a fetch completes and lands in the cache.
    let other = task_id(7);
    app.anaplan.on(
        &import_path(&other),
        Reply::After(
            Duration::from_secs(2),
            Box::new(Reply::ok(fixture("task_in_progress.json"))),
        ),
    );
    let gave_up =
        tokio::time::timeout(Duration::from_millis(100), app.get(&import_route(&other))).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = app.get(&import_route(&other)).await;
    assert!(
        cache_status(&later).contains("hit"),
        "{}",
        cache_status(&later)
    );
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&other)), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_upstream_is_a_504_within_the_timeout_or_a_stale_answer() {
    let app = spawn_app_with(&["--timeout", "3s"]).await;
    app.anaplan.on(&import_path(&task_id(1)), Reply::Stall);
    let started = tokio::time::Instant::now();
    let response = app.get(&import_route(&task_id(1))).await;
    assert_eq!(response.status(), 504);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    cached_then_stale(&app).await;
    app.anaplan.on(&import_path(TASK), Reply::Stall);
    let started = tokio::time::Instant::now();
    let stale = app.get(&import_route(TASK)).await;
    assert_eq!(stale.status(), 200);
    assert!(cache_status(&stale).contains("stale"));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "nobody waits on a stalled Anaplan"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reset_connection_is_retried_with_backoff_then_a_502_or_a_stale_answer() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(&task_id(1)), Reply::Reset);
    let response = app.get(&import_route(&task_id(1))).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        app.anaplan.calls(Method::GET, &import_path(&task_id(1))),
        3,
        "one try and two retries"
    );

    // A reset followed by an answer: the retry gets it and the caller never knows.
    app.anaplan.script(
        &import_path(&task_id(2)),
        vec![Reply::Reset, Reply::ok(fixture("task_in_progress.json"))],
    );
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&task_id(2))), 2);

    cached_then_stale(&app).await;
    app.anaplan.on(&import_path(TASK), Reply::Reset);
    let stale = app.get(&import_route(TASK)).await;
    assert_eq!(stale.status(), 200);
    assert!(cache_status(&stale).contains("stale"));
}

#[tokio::test(start_paused = true)]
async fn stale_answers_are_bounded_by_max_stale() {
    let app = spawn_app_with(&["--max-stale", "30s"]).await;
    cached_then_stale(&app).await;
    app.anaplan.on(&import_path(TASK), Reply::status(500));
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    tokio::time::advance(Duration::from_secs(40)).await;
    let too_old = app.get(&import_route(TASK)).await;
    assert_eq!(
        too_old.status(),
        502,
        "past GATEWAY_MAX_STALE the failure shows"
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_distinct_tasks_respects_the_global_concurrency_limit() {
    let app = spawn_app_with(&["--upstream-concurrency", "3"]).await;
    let mut callers = Vec::new();
    for n in 1..=30 {
        let slow = Reply::After(
            Duration::from_millis(300),
            Box::new(Reply::ok(fixture("task_in_progress.json"))),
        );
        app.anaplan.on(&import_path(&task_id(n)), slow);
        let (http, url) = (app.http.clone(), app.url(&import_route(&task_id(n))));
        callers.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap().status()
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 200);
    }
    assert_eq!(app.anaplan.most_in_flight(), 3);
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let anaplan = start_anaplan().await;
    for n in 1..=5 {
        let slow = Reply::After(
            Duration::from_millis(700),
            Box::new(Reply::ok(fixture("task_in_progress.json"))),
        );
        anaplan.on(&import_path(&task_id(n)), slow);
    }
    let (gateway, api) = spawn_gateway_process(&anaplan).await;
    let http = reqwest::Client::new();
    let requests: Vec<_> = (1..=5)
        .map(|n| {
            let url = format!("http://{api}{}", import_route(&task_id(n)));
            let http = http.clone();
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    // Wait until every request has reached Anaplan, then send SIGTERM mid-flight.
    let reached = || {
        (1..=5)
            .map(|n| anaplan.calls(Method::GET, &import_path(&task_id(n))))
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reached() < 5 {
        let now = tokio::time::Instant::now();
        assert!(
            now < deadline,
            "{} of 5 requests reached Anaplan",
            reached()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = gateway.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());

    for request in requests {
        assert_eq!(
            request.await.unwrap().unwrap(),
            200,
            "no request in flight is lost"
        );
    }
    let output = tokio::time::timeout(Duration::from_secs(10), gateway.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("authenticated with Anaplan"),
        "logs captured:\n{logs}"
    );
    assert!(
        !logs.contains(PASSWORD) && !logs.contains("token-1"),
        "no secret in the logs:\n{logs}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_old_answer_stands_in_when_the_refresh_fails() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    tokio::time::advance(Duration::from_secs(60)).await;
    app.anaplan.on(&import_path(TASK), Reply::status(503));
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 200);
    assert!(cache_status(&response).contains("stale"));
    // The first answer, then one try and two retries of the transient 503.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 4);
}

#[tokio::test(start_paused = true)]
async fn while_anaplan_fails_a_caller_after_a_quiet_spell_gets_the_stale_answer_at_once() {
    let app = spawn_app_with(&["--timeout", "3s"]).await;
    cached_then_stale(&app).await;
    app.anaplan.on(&import_path(TASK), Reply::status(500));
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    // Let the refresh meet the 500; then nobody asks for 20 s, past its remembered pause, and
    // Anaplan stalls.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 2);
    tokio::time::advance(Duration::from_secs(20)).await;
    app.anaplan.on(&import_path(TASK), Reply::Stall);
    let started = tokio::time::Instant::now();
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 200);
    assert!(cache_status(&response).contains("stale"));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "waited {:?} on a failing Anaplan",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_attempt_is_retried_within_the_timeout() {
    let app = spawn_app_with(&["--timeout", "30s"]).await;
    let path = import_path(TASK);
    app.anaplan.script(
        &path,
        vec![Reply::Stall, Reply::ok(fixture("task_in_progress.json"))],
    );
    let started = tokio::time::Instant::now();
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 200, "the second attempt answered");
    assert_eq!(app.anaplan.calls(Method::GET, &path), 2);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "the stalled attempt was given a third of the timeout: {waited:?}"
    );
}

/// Anaplan's 403 (its user may not see that model) is the caller's 403 of its own, never a 502
/// that meshes and clients retry, and the gateway does not try again either.
#[tokio::test(start_paused = true)]
async fn anaplans_403_is_upstream_forbidden_and_never_retried() {
    let app = spawn_app().await;
    let forbidden = Reply::Json(
        reqwest::StatusCode::FORBIDDEN,
        serde_json::json!({"status": {"code": 403, "message": "Forbidden by rule 7"}, "path": "/2/0/…"}),
    );
    app.anaplan.on(&import_path(TASK), forbidden);
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 403);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:upstream-forbidden"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("may not"), "{detail}");
    assert!(
        !detail.contains("rule 7"),
        "Anaplan's own text is never passed on: {detail}"
    );
    assert_ne!(
        problem["type"],
        "urn:anaplan-gateway:problem:caller-not-allowed"
    );
    assert_eq!(
        app.anaplan.calls(reqwest::Method::GET, &import_path(TASK)),
        1
    );
}

/// An answer that cannot be read is a 502 that says what was wrong with it (never the values it
/// held), and the next poll is served normally.
#[tokio::test(start_paused = true)]
async fn an_unreadable_answer_is_a_502_naming_what_was_wrong() {
    let app = spawn_app().await;
    let unreadable = Reply::ok(serde_json::json!({"task": "a task that is only text"}));
    let readable = Reply::ok(fixture("task_in_progress.json"));
    app.anaplan
        .script(&import_path(TASK), vec![unreadable, readable]);
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 502);
    let problem: serde_json::Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("invalid type"), "{detail}");
    assert!(!detail.contains("only text"), "{detail}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
}
