//! The one shared token: reused, refreshed before it runs out, replaced once after a 401, and
//! the password file re-read at every authentication.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;

fn in_progress(app: &TestApp, task: &str) {
    app.anaplan.on(
        &import_path(task),
        Reply::ok(fixture("task_in_progress.json")),
    );
}

#[tokio::test]
async fn all_callers_share_one_token() {
    let app = spawn_app().await;
    for n in 1..=5 {
        in_progress(&app, &task_id(n));
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
    }
    assert_eq!(app.anaplan.authentications(), 1);
    assert_eq!(app.anaplan.refreshes(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_token_is_refreshed_before_it_runs_out() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    assert_eq!(app.anaplan.authentications(), 1);

    // 29 minutes on, more than 5 minutes are left: the token is used as it is.
    tokio::time::advance(Duration::from_secs(29 * 60)).await;
    in_progress(&app, &task_id(2));
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    assert_eq!(app.anaplan.refreshes(), 0);

    // 31 minutes on, under 5 minutes are left: one refresh, no new authentication.
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    for n in 3..=6 {
        in_progress(&app, &task_id(n));
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
    }
    until("the refresh", || app.anaplan.refreshes() >= 1).await;
    assert_eq!(app.anaplan.refreshes(), 1);
    assert_eq!(app.anaplan.authentications(), 1);
}

/// Renewal runs in the background: no caller waits for a slow auth API while the token is still
/// valid, and all of them together start one renewal.
#[tokio::test(start_paused = true)]
async fn no_caller_waits_for_a_renewal_while_the_token_is_valid() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);

    // Under 5 minutes left, and the auth API takes 20 s to answer.
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    app.anaplan.delay_auth(Duration::from_secs(20));
    let asked = tokio::time::Instant::now();
    for n in 2..=4 {
        in_progress(&app, &task_id(n));
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
    }
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    until("the renewal", || app.anaplan.refreshes() == 1).await;
    assert_eq!(app.anaplan.authentications(), 1);
}

/// While the auth API is down, callers keep the still-valid token, and the auth API is asked
/// once per pause after a failure, not once per request.
#[tokio::test(start_paused = true)]
async fn a_failing_renewal_is_not_retried_for_every_request() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);

    app.anaplan.set_auth_down(true);
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    in_progress(&app, &task_id(2));
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    // The refresh fails, and so does the authentication tried after it.
    until("the failed renewal", || app.anaplan.authentications() == 2).await;
    for n in 3..=8 {
        in_progress(&app, &task_id(n));
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.anaplan.refreshes(), 1);
    assert_eq!(app.anaplan.authentications(), 2);

    // After the pause (5 s), one more try, which now succeeds.
    app.anaplan.set_auth_down(false);
    tokio::time::advance(Duration::from_secs(3)).await;
    in_progress(&app, &task_id(9));
    assert_eq!(app.get(&import_route(&task_id(9))).await.status(), 200);
    until("the second renewal", || app.anaplan.refreshes() == 2).await;
    assert_eq!(app.anaplan.authentications(), 2, "the refresh succeeded");
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_replaced_by_a_new_authentication() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    tokio::time::advance(Duration::from_secs(36 * 60)).await;
    in_progress(&app, &task_id(2));
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    assert_eq!(
        app.anaplan.authentications(),
        2,
        "a dead token is not refreshed"
    );
    assert_eq!(app.anaplan.refreshes(), 0);
}

#[tokio::test]
async fn a_401_is_answered_by_one_reauthentication_and_one_replay() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);

    app.anaplan.revoke_tokens();
    in_progress(&app, &task_id(2));
    let response = app.get(&import_route(&task_id(2))).await;
    assert_eq!(
        response.status(),
        200,
        "the caller never sees the gateway's 401"
    );
    assert_eq!(app.anaplan.authentications(), 2);
    // The first try got the 401 before the simulated Anaplan counted it; the replay is the one call.
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(&task_id(2))), 1);
}

#[tokio::test]
async fn a_401_in_the_middle_of_a_burst_costs_one_reauthentication() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(0));
    assert_eq!(app.get(&import_route(&task_id(0))).await.status(), 200);
    app.anaplan.revoke_tokens();

    let mut callers = Vec::new();
    for n in 1..=40 {
        in_progress(&app, &task_id(n));
        let http = app.http.clone();
        let url = app.url(&import_route(&task_id(n)));
        callers.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap().status()
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 200);
    }
    assert_eq!(
        app.anaplan.authentications(),
        2,
        "one at start, one after the revocation"
    );
}

#[tokio::test]
async fn refused_credentials_are_a_502_without_secrets() {
    let anaplan = start_anaplan().await;
    let mut settings = settings(&anaplan, &[]);
    basic(&mut settings).username = "someone-else@example.com".into();
    let app = spawn_app_for(anaplan, settings).await;
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(body.contains("credentials"));
    assert!(!body.contains(PASSWORD));
}

#[tokio::test]
async fn the_password_file_is_read_again_at_each_authentication() {
    let dir = std::env::temp_dir().join(format!("anaplan-gateway-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "first-password\n").unwrap();

    let anaplan = start_anaplan().await;
    let mut settings = settings(&anaplan, &[]);
    basic(&mut settings).password = anaplan_gateway::config::PasswordSource::File(file.clone());
    let app = spawn_app_for(anaplan, settings).await;

    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    std::fs::write(&file, "rotated-password").unwrap();
    app.anaplan.revoke_tokens();
    in_progress(&app, &task_id(2));
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);

    assert_eq!(
        app.anaplan.passwords_seen(),
        ["first-password", "rotated-password"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_401_after_a_refresh_still_leads_to_a_new_authentication() {
    let app = spawn_app().await;
    in_progress(&app, &task_id(1));
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    in_progress(&app, &task_id(2));
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    until("the refresh", || app.anaplan.refreshes() == 1).await;
    // One more round trip, so the refreshed token is in place before it is revoked.
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    assert_eq!(
        app.anaplan.refreshes(),
        1,
        "refreshed, keeping the token's value"
    );

    app.anaplan.revoke_tokens();
    in_progress(&app, &task_id(3));
    assert_eq!(app.get(&import_route(&task_id(3))).await.status(), 200);
    assert_eq!(app.anaplan.authentications(), 2);
}

#[tokio::test(start_paused = true)]
async fn refused_credentials_are_not_tried_again_for_every_request() {
    let anaplan = start_anaplan().await;
    let mut settings = settings(&anaplan, &[]);
    basic(&mut settings).username = "locked-out@example.com".into();
    let app = spawn_app_for(anaplan, settings).await;
    for n in 1..=10 {
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 502);
    }
    assert_eq!(
        app.anaplan.authentications(),
        1,
        "repeated bad logins can lock the account"
    );
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(app.get(&import_route(&task_id(11))).await.status(), 502);
    assert_eq!(
        app.anaplan.authentications(),
        2,
        "tried again after the pause"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_from_the_auth_api_pauses_integration_api_calls_too() {
    let app = spawn_app().await;
    app.anaplan.set_token_lifetime(Duration::from_secs(6 * 60));
    for n in 1..=2 {
        in_progress(&app, &task_id(n));
    }
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);

    // The token is due for renewal, and the auth API answers 429: the tenant is rate-limited.
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    let too_many = Reply::Status(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "60".into())],
    );
    app.anaplan.fail_auth(Some(too_many));
    // This call still uses the valid token and starts the renewal in the background.
    app.get(&import_route(&task_id(1))).await;
    until("the renewal to be refused", || app.anaplan.refreshes() >= 1).await;

    // Once the gateway has read the 429 (it may take a few turns of the runtime), a task nobody
    // asked about yet is answered 503 with nothing sent to the Integration API. Each try asks
    // about a new task, so a try before the pause would show as a call, not pass unnoticed.
    for n in 2..200 {
        in_progress(&app, &task_id(n));
        let response = app.get(&import_route(&task_id(n))).await;
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
            let path = import_path(&task_id(n));
            assert_eq!(
                app.anaplan.calls(Method::GET, &path),
                0,
                "nothing went upstream"
            );
            // The pause holds for the whole Retry-After, for every key.
            tokio::time::advance(Duration::from_secs(50)).await;
            let still = app.get(&import_route(&task_id(n + 1))).await;
            assert_eq!(still.status(), 503);
            assert_eq!(
                app.anaplan
                    .calls(Method::GET, &import_path(&task_id(n + 1))),
                0
            );
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the auth API's 429 never paused the Integration API");
}
