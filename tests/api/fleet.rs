//! A fleet of replicas sharing one Redis: a 429 seen by one pauses every replica, and Redis
//! faults cost callers nothing. Tests need a Redis: `GATEWAY_TEST_REDIS_URL` when set, else a
//! `redis-server` of their own on a free port; without either they are skipped, with a reason,
//! except under `CI=true`, where a missing Redis fails them. Real time: Redis answers over a
//! real socket, which paused time would race.

use std::time::Duration;

use reqwest::Method;

use crate::helpers::*;

/// A Redis for one test, stopped when dropped if the test started it.
struct TestRedis {
    url: String,
    server: Option<std::process::Child>,
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
    let server = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

fn redis() -> Option<TestRedis> {
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
fn prefix(test: &str) -> String {
    format!("test-{test}-{}", std::process::id())
}

async fn replica(anaplan: &Simulator, redis: &str, prefix: &str) -> TestApp {
    let extra = ["--redis-url", redis, "--redis-prefix", prefix];
    let settings = settings_for(anaplan, BASIC, &extra);
    spawn_app_for(anaplan.clone(), settings).await
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
    // Nothing listens on this port: every call to Redis fails, and callers see nothing of it.
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let anaplan = start_anaplan().await;
    let app = replica(&anaplan, &nowhere, &prefix("alone")).await;
    anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let started = std::time::Instant::now();
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the Redis timeout, not hanging on it"
    );
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
