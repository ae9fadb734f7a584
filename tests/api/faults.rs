//! Anaplan slow, rate-limiting, failing or gone: the gateway keeps answering honestly and keeps
//! its upstream calls few. Every fault is injected by the simulated Anaplan and the upstream calls counted.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;

fn cache_status(response: &reqwest::Response) -> String {
    response.headers()["cache-status"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Caches one answer for TASK, then lets it go stale.
async fn cached_then_stale(app: &TestApp) {
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    tokio::time::advance(Duration::from_secs(6)).await;
}

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
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (api, admin) = (free_port(), free_port());
    for n in 1..=5 {
        let slow = Reply::After(
            Duration::from_millis(700),
            Box::new(Reply::ok(fixture("task_in_progress.json"))),
        );
        anaplan.on(&import_path(&task_id(n)), slow);
    }
    let gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .env_clear()
        .args([
            "--listen",
            &api.to_string(),
            "--admin-listen",
            &admin.to_string(),
        ])
        .args(["--username", USERNAME, "--password", PASSWORD])
        .args(["--api-url", &format!("http://{}/2/0", anaplan.address)])
        .args(["--auth-url", &format!("http://{}", anaplan.address)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("http://{admin}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "the gateway did not become ready");

    let requests: Vec<_> = (1..=5)
        .map(|n| {
            let url = format!("http://{api}{}", import_route(&task_id(n)));
            let http = http.clone();
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    // Wait until every request has reached Anaplan, then send SIGTERM mid-flight.
    while (1..=5)
        .map(|n| anaplan.calls(Method::GET, &import_path(&task_id(n))))
        .sum::<usize>()
        < 5
    {
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
