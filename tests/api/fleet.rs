//! A fleet of replicas sharing one Redis: one poll per task per interval and one token for the
//! whole fleet, a 429 seen by one pauses every replica, and Redis faults cost callers nothing. Tests need a Redis: `GATEWAY_TEST_REDIS_URL` when set, else a
//! `redis-server` of their own on a free port; without either they are skipped, with a reason,
//! except under `CI=true`, where a missing Redis fails them. Real time: Redis answers over a
//! real socket, which paused time would race.

#![allow(
    clippy::disallowed_methods,
    reason = "a real Redis over a real socket: real time"
)]

use std::time::Duration;

use clap::Parser;
use reqwest::Method;

use crate::helpers::*;

/// A Redis for one test, stopped when dropped if the test started it.
pub(crate) struct TestRedis {
    pub(crate) url: String,
    pub(crate) server: Option<std::process::Child>,
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts `redis-server` on `port`, keeping nothing on disk; waits until it answers.
fn start_redis_server(port: u16) -> Option<std::process::Child> {
    redis_server_on(port, &["--port", &port.to_string()])
}

/// Starts `redis-server` with `args` (on loopback, keeping nothing on disk); waits until `port`
/// takes connections, failing after 10 s.
fn redis_server_on(port: u16, args: &[&str]) -> Option<std::process::Child> {
    let server = std::process::Command::new("redis-server")
        .args(args)
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start ({args:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

pub(crate) fn redis() -> Option<TestRedis> {
    if let Ok(url) = std::env::var("GATEWAY_TEST_REDIS_URL") {
        return Some(TestRedis { url, server: None });
    }
    let port = free_port();
    match start_redis_server(port) {
        Some(server) => Some(TestRedis {
            url: format!("redis://127.0.0.1:{port}"),
            server: Some(server),
        }),
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true: these tests need GATEWAY_TEST_REDIS_URL or redis-server")
        }
        None => {
            eprintln!("skipped: no GATEWAY_TEST_REDIS_URL and no redis-server installed");
            None
        }
    }
}

/// A prefix of its own for each test, so tests sharing one server do not meet.
pub(crate) fn prefix(test: &str) -> String {
    format!("test-{test}-{}", std::process::id())
}

async fn replica(anaplan: &Simulator, redis: &str, prefix: &str) -> TestApp {
    replica_with(anaplan, redis, prefix, &[]).await
}

pub(crate) async fn replica_with(
    anaplan: &Simulator,
    redis: &str,
    prefix: &str,
    extra: &[&str],
) -> TestApp {
    replica_as(anaplan, BASIC, redis, prefix, extra).await
}

async fn replica_as(
    anaplan: &Simulator,
    credentials: &[&str],
    redis: &str,
    prefix: &str,
    extra: &[&str],
) -> TestApp {
    let mut args = vec!["--redis-url", redis, "--redis-prefix", prefix];
    args.extend(extra);
    let settings = settings_for(anaplan, credentials, &args);
    spawn_app_for(anaplan.clone(), settings).await
}

/// Every value the fleet keeps in Redis under `prefix`, as bytes.
async fn stored_values(redis: &str, prefix: &str) -> Vec<Vec<u8>> {
    let client = redis::Client::open(redis).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut values = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let mut read = redis::cmd(if kind == "hash" { "HGETALL" } else { "GET" });
        let found: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => read.arg(&key).query_async(&mut connection).await.unwrap(),
            _ => vec![read.arg(&key).query_async(&mut connection).await.unwrap()],
        };
        values.extend(found);
    }
    values
}

/// Asks `app` for task `n`, which Anaplan reports in progress.
async fn ask_new_task(app: &TestApp, n: usize) {
    let reply = Reply::ok(fixture("task_in_progress.json"));
    app.anaplan.on(&import_path(&task_id(n)), reply);
    assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
}

#[tokio::test]
async fn the_fleet_shares_one_token_never_stored_in_plain_text() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("token");
    let mut fleet = Vec::new();
    for n in 0..3 {
        let app = replica(&anaplan, &redis.url, &prefix).await;
        // Each replica polls a task of its own, so each needs a token.
        ask_new_task(&app, n).await;
        fleet.push(app);
    }
    assert_eq!(anaplan.authentications(), 1, "one login for the fleet");
    let secrets = anaplan.secrets_issued();
    assert!(!secrets.is_empty());
    let stored = stored_values(&redis.url, &prefix).await;
    assert!(!stored.is_empty());
    for value in &stored {
        let text = String::from_utf8_lossy(value);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a token stored in plain text"
            );
        }
        assert!(!text.contains(PASSWORD));
    }

    // Anaplan rejects the token: one replica logs in again, and the others take its new token.
    anaplan.revoke_tokens();
    for (n, app) in fleet.iter().enumerate() {
        ask_new_task(app, 10 + n).await;
    }
    assert_eq!(anaplan.authentications(), 2, "one new login for the fleet");
}

#[tokio::test]
async fn a_rotated_oauth_refresh_token_reaches_every_replica() {
    let Some(redis) = redis() else { return };
    let (anaplan, file) = crate::credentials::anaplan_with_oauth("fleet").await;
    // Tokens due for renewal a second after they are issued.
    anaplan.set_token_lifetime(Duration::from_secs(5 * 60 + 1));
    let prefix = prefix("oauth");
    let mut fleet = Vec::new();
    for n in 0..2 {
        // A file of its own for each replica, as each pod mounts the same Secret.
        let own = file.with_file_name(format!("refresh-token-{n}"));
        std::fs::copy(&file, &own).unwrap();
        let flags = crate::credentials::oauth_flags(&own);
        let flags = crate::credentials::strs(&flags);
        fleet.push(replica_as(&anaplan, &flags, &redis.url, &prefix, &[]).await);
    }
    ask_new_task(&fleet[0], 1).await;
    ask_new_task(&fleet[1], 2).await;
    assert_eq!(anaplan.oauth_exchanges(), 1, "one trade for the fleet");
    // Each replica in turn renews: each time with the refresh token the other was handed last.
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        ask_new_task(&fleet[round % 2], 10 + round).await;
        until("the renewal", || anaplan.oauth_exchanges() == round + 2).await;
    }
    assert_eq!(anaplan.spent_refresh_tokens_reused(), 0);
}

/// A one-second poll interval, so a test sees several intervals in real time.
const ONE_SECOND: &[&str] = &["--poll-interval", "1s", "--poll-max-interval", "1s"];

#[tokio::test]
async fn a_fleet_polls_each_task_once_per_interval_and_logs_in_once() {
    let Some(redis) = redis() else { return };
    for replicas in [1, 3] {
        let anaplan = start_anaplan().await;
        let prefix = prefix(&format!("floor-{replicas}"));
        let mut fleet = Vec::new();
        for _ in 0..replicas {
            fleet.push(replica_with(&anaplan, &redis.url, &prefix, ONE_SECOND).await);
        }
        anaplan.on(
            &import_path(TASK),
            Reply::ok(fixture("task_in_progress.json")),
        );
        let route = import_route(TASK);
        let started = std::time::Instant::now();
        // Callers keep asking, several at once on each replica, as a busy fleet's do: one of
        // them asks the moment each answer falls due.
        let callers = fleet.iter().cycle().take(8 * replicas).map(|app| async {
            let mut shared = 0;
            while started.elapsed() < Duration::from_millis(4500) {
                let response = app.get(&route).await;
                assert_eq!(response.status(), 200);
                shared += usize::from(cache_status(&response).ends_with("detail=shared"));
            }
            shared
        });
        let shared: usize = futures_util::future::join_all(callers)
            .await
            .into_iter()
            .sum();
        // One poll per interval for the whole fleet, however the polls fall: never one per
        // replica, and never an interval skipped while callers keep asking.
        let elapsed = started.elapsed().as_secs() as usize;
        let polls = anaplan.calls(Method::GET, &import_path(TASK));
        assert!(
            (elapsed..=elapsed + 1).contains(&polls),
            "{replicas} replicas: {polls} polls in {elapsed} s"
        );
        assert!(
            replicas == 1 || shared > 0,
            "replicas answered from the shared tier"
        );
        assert_eq!(anaplan.authentications(), 1, "one token for the fleet");
    }
}

#[tokio::test]
async fn a_replica_waiting_on_anothers_poll_is_answered_by_it() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("wake");
    let (first, second) = (
        replica(&anaplan, &redis.url, &prefix).await,
        replica(&anaplan, &redis.url, &prefix).await,
    );
    // Warm both replicas' tokens and workspaces with another task.
    anaplan.on(
        &import_path(&task_id(9)),
        Reply::ok(fixture("task_in_progress.json")),
    );
    assert_eq!(first.get(&import_route(&task_id(9))).await.status(), 200);
    assert_eq!(second.get(&import_route(&task_id(9))).await.status(), 200);
    let slow = Reply::After(
        Duration::from_millis(500),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    anaplan.on(&import_path(TASK), slow);
    let route = import_route(TASK);
    let on_first = first.get(&route);
    let on_second = async {
        // Asks while the first replica's poll is under way.
        tokio::time::sleep(Duration::from_millis(150)).await;
        second.get(&route).await
    };
    let (from_first, from_second) = tokio::join!(on_first, on_second);
    // Whichever took the floor asked Anaplan; the other was woken with its answer.
    let mut statuses = [cache_status(&from_first), cache_status(&from_second)];
    statuses.sort();
    assert_eq!(
        statuses,
        [
            "anaplan-gateway; fwd=miss; stored",
            "anaplan-gateway; hit; detail=shared"
        ]
    );
    assert_eq!(anaplan.calls(Method::GET, &import_path(TASK)), 1);
    assert_eq!(
        from_first.headers()["etag"],
        from_second.headers()["etag"],
        "every replica tags an answer alike"
    );
    let (first_body, second_body) = (
        from_first.text().await.unwrap(),
        from_second.text().await.unwrap(),
    );
    assert_eq!(
        first_body, second_body,
        "the very answer the other replica fetched"
    );
    // From then on the second replica answers from its own memory.
    let again = second.get(&import_route(TASK)).await;
    assert_eq!(cache_status(&again), "anaplan-gateway; hit");
}

#[tokio::test]
async fn a_failure_seen_by_one_replica_is_answered_by_all_without_a_call() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("failure");
    let (first, second) = (
        replica(&anaplan, &redis.url, &prefix).await,
        replica(&anaplan, &redis.url, &prefix).await,
    );
    anaplan.on(&import_path(TASK), Reply::status(423));
    let failed = first.get(&import_route(TASK)).await;
    let status = failed.status();
    assert!(status.is_client_error() || status.is_server_error());
    let body = failed.text().await.unwrap();
    // The first replica took the task's floor before it called: the second one waits for that
    // call's outcome, or finds it stored, and never calls itself.
    let response = second.get(&import_route(TASK)).await;
    assert_eq!(response.status(), status);
    assert_eq!(response.text().await.unwrap(), body);
    assert_eq!(anaplan.calls(Method::GET, &import_path(TASK)), 1);
}

#[tokio::test]
async fn a_429_seen_by_one_replica_pauses_every_replica() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("pause");
    let (first, second) = (
        replica(&anaplan, &redis.url, &prefix).await,
        replica(&anaplan, &redis.url, &prefix).await,
    );
    let too_many = Reply::Status(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "30".into())],
    );
    anaplan.on(&import_path(&task_id(1)), too_many);
    for n in 2..40 {
        anaplan.on(
            &import_path(&task_id(n)),
            Reply::ok(fixture("task_in_progress.json")),
        );
    }
    assert_eq!(first.get(&import_route(&task_id(1))).await.status(), 503);

    // The pause reaches Redis from a task of its own: the other replica soon sees it, and from
    // then on sends nothing upstream. Each try is a new task, so a try before would be counted.
    for n in 2..40 {
        let response = second.get(&import_route(&task_id(n))).await;
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(anaplan.calls(Method::GET, &import_path(&task_id(n))), 0);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the second replica never saw the first one's 429");
}

#[tokio::test]
async fn without_its_redis_a_replica_goes_on_alone() {
    // Nothing listens on this port: every call to Redis fails at once.
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    // This one takes connections and never answers: every call to Redis runs out its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("redis://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept() {
            held.push(connection);
        }
    });
    for redis in [nowhere, hanging] {
        let anaplan = start_anaplan().await;
        let app = replica(&anaplan, &redis, &prefix("alone")).await;
        anaplan.on(
            &import_path(TASK),
            Reply::ok(fixture("task_in_progress.json")),
        );
        let started = std::time::Instant::now();
        assert_eq!(app.get(&import_route(TASK)).await.status(), 200, "{redis}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bounded by the Redis timeout, not hanging on it"
        );
        let ready = reqwest::get(format!("http://{}/readyz", app.admin_address)).await;
        assert_eq!(
            ready.unwrap().status(),
            200,
            "/readyz does not depend on Redis"
        );
    }
}

#[tokio::test]
async fn a_failed_login_is_not_tried_again_by_every_replica() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("login");
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(replica(&anaplan, &redis.url, &prefix).await);
    }
    anaplan.fail_auth(Some(Reply::status(401)));
    for (n, app) in fleet.iter().enumerate() {
        anaplan.on(
            &import_path(&task_id(n)),
            Reply::ok(fixture("task_in_progress.json")),
        );
        let response = app.get(&import_route(&task_id(n))).await;
        assert!(!response.status().is_success());
    }
    // Repeated bad logins can lock the account: one for the fleet while its pause lasts.
    assert_eq!(anaplan.authentications(), 1);
}

#[tokio::test]
async fn sharing_resumes_when_redis_comes_back() {
    let Some(mut redis) = redis() else { return };
    let Some(port) = redis
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        return;
    };
    if redis.server.is_none() {
        eprintln!(
            "skipped: restarting a server given by GATEWAY_TEST_REDIS_URL is not this test's to do"
        );
        return;
    }
    let anaplan = start_anaplan().await;
    let prefix = prefix("restart");
    let (first, second) = (
        replica(&anaplan, &redis.url, &prefix).await,
        replica(&anaplan, &redis.url, &prefix).await,
    );
    for n in 1..60 {
        anaplan.on(
            &import_path(&task_id(n)),
            Reply::ok(fixture("task_in_progress.json")),
        );
    }
    // Redis stops mid-traffic: answers go on.
    if let Some(mut server) = redis.server.take() {
        server.kill().unwrap();
        server.wait().unwrap();
    }
    for n in 1..4 {
        assert_eq!(first.get(&import_route(&task_id(n))).await.status(), 200);
    }
    // It comes back on the same port, empty: a 429 is shared again.
    redis.server = start_redis_server(port);
    let too_many = Reply::Status(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "30".into())],
    );
    anaplan.on(&import_path(&task_id(10)), too_many);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut n = 11;
    loop {
        // The first replica asks until its 429 lands in Redis again.
        assert_eq!(first.get(&import_route(&task_id(10))).await.status(), 503);
        let response = second.get(&import_route(&task_id(n))).await;
        if response.status() == 503 {
            assert_eq!(anaplan.calls(Method::GET, &import_path(&task_id(n))), 0);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sharing never resumed"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two replicas sharing `redis` that poll each second, and the tag of TASK as both asked it
/// before it moved in Anaplan.
async fn two_replicas_and_a_task_that_moved(
    anaplan: &Simulator,
    redis: &TestRedis,
    test: &str,
) -> (TestApp, TestApp, reqwest::header::HeaderValue) {
    let prefix = prefix(test);
    let (first, second) = (
        replica_with(anaplan, &redis.url, &prefix, ONE_SECOND).await,
        replica_with(anaplan, &redis.url, &prefix, ONE_SECOND).await,
    );
    let mut running = fixture("task_in_progress.json");
    anaplan.on(&import_path(TASK), Reply::ok(running.clone()));
    let tag = first.get(&import_route(TASK)).await.headers()["etag"].clone();
    assert_eq!(second.get(&import_route(TASK)).await.headers()["etag"], tag);
    running["task"]["progress"] = serde_json::json!(0.9);
    anaplan.on(&import_path(TASK), Reply::ok(running));
    (first, second, tag)
}

#[tokio::test]
async fn requests_held_on_two_replicas_are_answered_by_one_poll() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let (first, second, tag) = two_replicas_and_a_task_that_moved(&anaplan, &redis, "held").await;

    let hold = |app: &TestApp| {
        let request = (app.http.get(app.url(&import_route(TASK))))
            .header("if-none-match", tag.clone())
            .header("prefer", "wait=10");
        async move { request.send().await.unwrap() }
    };
    let (on_first, on_second) = tokio::join!(hold(&first), hold(&second));
    for response in [&on_first, &on_second] {
        assert_eq!(response.status(), 200);
        assert_ne!(response.headers()["etag"], tag);
    }
    assert_eq!(on_first.headers()["etag"], on_second.headers()["etag"]);
    // The first answer, then one poll for both replicas' waiters.
    assert_eq!(anaplan.calls(Method::GET, &import_path(TASK)), 2);
}

#[tokio::test]
async fn the_fleet_keeps_one_budget_of_upstream_calls() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    anaplan.answer_any_task(Reply::ok(fixture("task_in_progress.json")));
    let prefix = prefix("budget");
    let two_a_second = ["--upstream-rate", "2/s", "--timeout", "30s"];
    let fleet = [
        replica_with(&anaplan, &redis.url, &prefix, &two_a_second).await,
        replica_with(&anaplan, &redis.url, &prefix, &two_a_second).await,
    ];
    // Ten made-up ids on each replica at once: alone, each replica would let two go at once
    // and two a second after; together they share one budget.
    let started = std::time::Instant::now();
    let routes: Vec<String> = (0..20).map(|n| import_route(&task_id(n))).collect();
    let asks = routes
        .iter()
        .enumerate()
        .map(|(n, route)| fleet[n % 2].get(route));
    let burst = futures_util::future::join_all(asks);
    let _ = tokio::time::timeout(Duration::from_millis(2500), burst).await;
    let took = started.elapsed().as_secs_f64();
    let calls = anaplan.api_calls();
    assert!(
        calls as f64 <= 2.0 + 2.0 * took + 1.0,
        "{calls} calls in {took:.1} s"
    );
    assert!(calls >= 4, "the budget let calls through: {calls}");
}

#[tokio::test]
async fn the_fleets_budget_leaves_half_its_bucket_to_callers_with_no_answer() {
    use anaplan_gateway::config::SharedSettings;
    use anaplan_gateway::shared::{Ask, SharedState, Turn};
    let Some(redis) = redis() else { return };
    let shared = SharedState::new(&SharedSettings {
        url: redis.url.parse().unwrap(),
        password_file: None,
        ca_file: None,
        prefix: prefix("budget-script"),
    })
    .unwrap();
    // The first call connects.
    let _ = shared.pause_left().await;
    // Four calls a second, four at once.
    let every = Duration::from_millis(250);
    let ask = |max_wait, leave| Ask {
        every,
        burst: 4,
        max_wait,
        leave,
    };
    let refresh = ask(Duration::ZERO, every * 2);
    let caller = ask(Duration::from_secs(1), Duration::ZERO);
    let at_once = Some(Turn::After(Duration::ZERO));
    // Refreshes take half the bucket, no more ...
    assert_eq!(shared.budget_turn(refresh).await, at_once);
    assert_eq!(shared.budget_turn(refresh).await, at_once);
    assert!(matches!(
        shared.budget_turn(refresh).await,
        Some(Turn::Refused(_))
    ));
    // ... callers the rest, then a turn reserved within their bound, or a refusal past it.
    assert_eq!(shared.budget_turn(caller).await, at_once);
    assert_eq!(shared.budget_turn(caller).await, at_once);
    let Some(Turn::After(wait)) = shared.budget_turn(caller).await else {
        panic!("a turn within the caller's bound")
    };
    assert!(
        wait > Duration::from_millis(150) && wait <= every,
        "{wait:?}"
    );
    let hurried = ask(Duration::from_millis(100), Duration::ZERO);
    let Some(Turn::Refused(until)) = shared.budget_turn(hurried).await else {
        panic!("no turn within 100 ms")
    };
    assert!(
        until > Duration::from_millis(400) && until <= every * 2,
        "{until:?}"
    );
}

/// Sends `signal` (`STOP`, `CONT`) to the test's own redis-server.
fn signal_redis(server: &std::process::Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &server.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal}");
}

#[tokio::test]
async fn a_redis_stall_leaves_no_floor_that_stops_the_fleets_polls() {
    let Some(redis) = redis() else { return };
    let Some(server) = &redis.server else {
        eprintln!(
            "skipped: stalling a server given by GATEWAY_TEST_REDIS_URL is not this test's to do"
        );
        return;
    };
    let anaplan = start_anaplan().await;
    let prefix = prefix("stall");
    let app = replica_with(&anaplan, &redis.url, &prefix, ONE_SECOND).await;
    anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let route = import_route(TASK);
    let asking = std::sync::atomic::AtomicBool::new(true);
    // Callers keep asking while Redis stalls and after: a claim sent during the stall runs in
    // Redis once it resumes, after the replica gave up waiting for it.
    let callers = async {
        while asking.load(std::sync::atomic::Ordering::Relaxed) {
            assert_eq!(app.get(&route).await.status(), 200);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let stall = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        signal_redis(server, "STOP");
        tokio::time::sleep(Duration::from_secs(3)).await;
        signal_redis(server, "CONT");
        // Polls go on within a few intervals, not after a lease (ANAPLAN_TIMEOUT, 30 s).
        tokio::time::sleep(Duration::from_secs(4)).await;
        let before = anaplan.calls(Method::GET, &import_path(TASK));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = anaplan.calls(Method::GET, &import_path(TASK));
        asking.store(false, std::sync::atomic::Ordering::Relaxed);
        after - before
    };
    let ((), polls) = tokio::join!(callers, stall);
    assert!(
        (3..=6).contains(&polls),
        "{polls} polls in the 5 s after Redis resumed (one a second expected)"
    );
}

#[tokio::test]
async fn a_poll_longer_than_its_floors_hold_keeps_the_floor() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("hold");
    // An interval longer than the call, so its answer is still fresh when it lands.
    let interval = &["--poll-interval", "10s"];
    let (first, second) = (
        replica_with(&anaplan, &redis.url, &prefix, interval).await,
        replica_with(&anaplan, &redis.url, &prefix, interval).await,
    );
    // Anaplan takes 7 s to answer: longer than a floor holds unless its holder renews it (3 s).
    let slow = Reply::After(
        Duration::from_secs(7),
        Box::new(Reply::ok(fixture("task_in_progress.json"))),
    );
    anaplan.on(&import_path(TASK), slow);
    let route = import_route(TASK);
    let later = async {
        // Past the first floor's 3 s by far, even if the first replica's claim came late.
        tokio::time::sleep(Duration::from_secs(5)).await;
        second.get(&route).await
    };
    let (one, two) = tokio::join!(first.get(&route), later);
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (200, 200));
    assert_eq!(
        anaplan.calls(Method::GET, &import_path(TASK)),
        1,
        "the second replica waited for the first one's poll"
    );
    assert!(cache_status(&two).ends_with("detail=shared"));
}

/// Starts `redis-server` serving TLS only, with the fixture's server certificate signed by a
/// private CA; `None` where it cannot be started, and a failure where it starts without serving
/// TLS within 10 s (a build without TLS).
fn start_tls_redis_server() -> Option<(TestRedis, String)> {
    let port = free_port();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/redis-tls");
    let tls_port = port.to_string();
    let cert = format!("{fixtures}/server.pem");
    let key = format!("{fixtures}/server-key.pem");
    let ca = format!("{fixtures}/ca.pem");
    let tls = [
        "--port",
        "0",
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ];
    let server = redis_server_on(port, &tls)?;
    let redis = TestRedis {
        url: format!("rediss://127.0.0.1:{port}"),
        server: Some(server),
    };
    Some((redis, format!("{fixtures}/ca.pem")))
}

#[tokio::test]
async fn a_rediss_server_with_a_private_ca_is_trusted_through_the_ca_file() {
    // Needs redis-server, as every fleet test does (skipped without it, failed under CI=true).
    if redis().is_none() {
        return;
    }
    let Some((redis, ca_file)) = start_tls_redis_server() else {
        panic!("redis-server is installed but did not start with TLS");
    };
    // Without the CA, the server's certificate is not trusted: each replica logs in alone.
    let anaplan = start_anaplan().await;
    let untrusted = prefix("tls-untrusted");
    for _ in 0..2 {
        let app = replica(&anaplan, &redis.url, &untrusted).await;
        ask_new_task(&app, 1).await;
    }
    assert_eq!(
        anaplan.authentications(),
        2,
        "no shared token without the CA"
    );
    // With it, the fleet shares one token over TLS.
    let anaplan = start_anaplan().await;
    let trusted = prefix("tls-trusted");
    let with_ca = ["--redis-ca-file", ca_file.as_str()];
    for n in 1..3 {
        let app = replica_with(&anaplan, &redis.url, &trusted, &with_ca).await;
        ask_new_task(&app, n).await;
    }
    assert_eq!(anaplan.authentications(), 1, "one token shared over TLS");
}

#[test]
fn a_ca_file_is_refused_for_a_plain_redis_url() {
    let cli = anaplan_gateway::config::Cli::try_parse_from([
        "anaplan-gateway",
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-ca-file",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/redis-tls/ca.pem"
        ),
        "--username",
        "u",
        "--password",
        "p",
    ])
    .unwrap();
    let problems = anaplan_gateway::config::Settings::for_serve(&cli.args).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("rediss://")),
        "{problems:?}"
    );
}

/// A free loopback port whose next port is free too (as far as one can tell before using them).
fn port_and_next_free() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[tokio::test]
async fn the_demos_second_replica_works_as_printed() {
    let Some(redis) = redis() else { return };
    let prefix = prefix("demo-fleet");
    // The demo prints the second replica's ports as its own plus one: both must be free.
    let (api, admin) = (port_and_next_free(), port_and_next_free());
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"));
    command.env_clear().args([
        "demo",
        "--listen",
        &format!("127.0.0.1:{api}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
    ]);
    command.envs([
        ("GATEWAY_REDIS_URL", &redis.url),
        ("GATEWAY_REDIS_PREFIX", &prefix),
    ]);
    let (_demo, output) = printed_examples(command);
    let serve = output
        .iter()
        .find(|line| line.trim_end().ends_with(" serve"))
        .unwrap();
    let example = output
        .iter()
        .find(|line| line.trim_start().starts_with("curl"))
        .unwrap();
    // The second replica, run as printed (its words are the variables, the binary and its
    // subcommand, none with a space): its address is in the line.
    let words: Vec<&str> = serve.split_whitespace().collect();
    let program = words.iter().position(|word| !word.contains('=')).unwrap();
    let mut second = std::process::Command::new(words[program]);
    second.env_clear().args(&words[program + 1..]);
    second.envs(
        words[..program]
            .iter()
            .filter_map(|word| word.split_once('=')),
    );
    let _second = Stopped(
        second
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let address = serve
        .split("GATEWAY_LISTEN=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let url = example.split('\'').nth(1).unwrap();
    let path = &url[url.find("/tasks/").unwrap()..];
    let http = reqwest::Client::new();
    // The demo answers first; the second replica's first answer is the one the demo fetched.
    assert_eq!(http.get(url).send().await.unwrap().status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match http.get(format!("http://{address}{path}")).send().await {
            Ok(answer) => break answer,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the second replica never answered: {error}"),
        }
    };
    assert_eq!(answer.status(), 200);
    assert_eq!(cache_status(&answer), "anaplan-gateway; hit; detail=shared");
}

#[tokio::test]
async fn a_batch_held_on_one_replica_and_a_request_on_another_are_answered_by_one_poll() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let test = "held-batch";
    let (first, second, tag) = two_replicas_and_a_task_that_moved(&anaplan, &redis, test).await;

    let item = serde_json::json!({"kind": "import", "taskId": TASK, "objectId": IMPORT,
        "modelId": MODEL, "workspaceId": WORKSPACE, "ifNoneMatch": tag.to_str().unwrap()});
    let batch = (second.http.post(second.url("/tasks/status")))
        .header("prefer", "wait=10")
        .json(&serde_json::json!({ "tasks": [item] }));
    let single = (first.http.get(first.url(&import_route(TASK))))
        .header("if-none-match", tag.clone())
        .header("prefer", "wait=10");
    let (batch, single) = tokio::join!(batch.send(), single.send());
    let (batch, single) = (batch.unwrap(), single.unwrap());
    assert_eq!(single.status(), 200);
    let changed = single.headers()["etag"].to_str().unwrap().to_owned();
    let answer: serde_json::Value = batch.json().await.unwrap();
    assert_eq!(answer["tasks"][0]["changed"], true, "{answer}");
    assert_eq!(answer["tasks"][0]["etag"], changed.as_str());
    // The first answer, then one poll for both replicas' waiters.
    assert_eq!(anaplan.calls(Method::GET, &import_path(TASK)), 2);
}
