//! The fleet benchmark, on loopback: N = 1, 2 and 4 release gateways sharing one Redis, in front
//! of one simulated Anaplan, with many callers on the same tasks spread over the replicas.
//!
//! Measures, for each N: upstream status calls per task over four poll intervals (the target is
//! one replica's figure) and logins; with two replicas, the latency of a replica's first answer
//! from the shared tier (a task another replica just polled), and the local hit ratio to `/livez`
//! with sharing on. Redis is `GATEWAY_BENCH_REDIS_URL`, else a `redis-server` of its own on a free
//! port. Run it with `bench/run.sh fleet`. It reports figures; it never fails on the machine's
//! speed.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::{Reply, Simulator};
use common::*;

const REPLICAS: [usize; 3] = [1, 2, 4];
/// Tasks every caller asks about, at random.
const TASKS: usize = 20;
const CALLERS: usize = 64;
/// Four intervals of the default 5-s poll interval.
const INTERVAL: Duration = Duration::from_secs(5);
const RUN: Duration = Duration::from_secs(20);
/// First answers from the shared tier timed, one at a time.
const SHARED_SAMPLES: usize = 2000;
/// Callers woken by another replica's poll, timed one at a time.
const WOKEN_SAMPLES: usize = 200;
const WRK_SECONDS: &str = "5s";

/// What one fleet size cost Anaplan.
struct FleetRun {
    replicas: usize,
    answers: usize,
    status_calls: usize,
    logins: usize,
}

/// A Redis for the run: the one named, or a `redis-server` of this process's, stopped on drop.
struct BenchRedis {
    url: String,
    server: Option<std::process::Child>,
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

fn redis() -> BenchRedis {
    if let Ok(url) = std::env::var("GATEWAY_BENCH_REDIS_URL") {
        return BenchRedis { url, server: None };
    }
    let port = free_port().port();
    let server = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed by bench/run.sh");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    BenchRedis {
        url: format!("redis://127.0.0.1:{port}"),
        server: Some(server),
    }
}

/// A fleet of `replicas` gateways sharing `redis` under a prefix of their own.
async fn start_fleet(
    http: &reqwest::Client,
    anaplan: &Simulator,
    redis: &str,
    replicas: usize,
) -> Vec<(tokio::process::Child, SocketAddr, SocketAddr)> {
    let settings = [
        ("GATEWAY_REDIS_URL", redis.to_owned()),
        (
            "GATEWAY_REDIS_PREFIX",
            format!("bench-{replicas}-{}", std::process::id()),
        ),
    ];
    let mut fleet = Vec::new();
    for _ in 0..replicas {
        let (gateway, api, admin, _) = start_gateway(http, anaplan.address, &settings).await;
        fleet.push((gateway, api, admin));
    }
    fleet
}

/// `CALLERS` callers, each on one replica in turn, asking about `TASKS` tasks for `RUN`.
async fn run_fleet(
    http: &reqwest::Client,
    anaplan: &Simulator,
    redis: &str,
    replicas: usize,
) -> FleetRun {
    let fleet = start_fleet(http, anaplan, redis, replicas).await;
    let apis: Arc<Vec<SocketAddr>> = Arc::new(fleet.iter().map(|(_, api, _)| *api).collect());
    let (calls_before, logins_before) = (anaplan.api_calls(), anaplan.authentications());
    let answers = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + RUN;
    let workers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (http, apis, answers) = (http.clone(), apis.clone(), answers.clone());
            tokio::spawn(async move {
                let api = apis[caller % apis.len()];
                let mut n = caller;
                while Instant::now() < until {
                    let task = format!("F1EE7{:027X}", n % TASKS);
                    let response = http.get(task_route(api, &task)).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    answers.fetch_add(1, Ordering::Relaxed);
                    n += 7;
                }
            })
        })
        .collect();
    futures_util::future::join_all(workers).await;
    let run = FleetRun {
        replicas,
        answers: answers.load(Ordering::Relaxed),
        status_calls: anaplan.api_calls() - calls_before,
        logins: anaplan.authentications() - logins_before,
    };
    drop(fleet);
    run
}

/// A replica's first answer from the shared tier: replica 0 polls a new task, its answer lands in
/// Redis, then replica 1 is asked about it, one task at a time; the second request's time, end
/// to end.
async fn shared_tier_latency(http: &reqwest::Client, apis: [SocketAddr; 2]) -> Vec<Duration> {
    let mut times = Vec::new();
    for n in 0..SHARED_SAMPLES {
        let task = format!("5EA4ED{n:026X}");
        let polled = http.get(task_route(apis[0], &task)).send().await.unwrap();
        assert_eq!(polled.status(), 200);
        // The answer is stored apart from the caller's response: let it land.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let url = task_route(apis[1], &task);
        let started = Instant::now();
        let response = http.get(url).send().await.unwrap();
        assert_eq!(
            cache_status(&response),
            "anaplan-gateway; hit; detail=shared"
        );
        response.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// A caller on replica 1 asking while replica 0's poll is under way (Anaplan answers in 50 ms):
/// how long after Anaplan answered replica 0 the caller on replica 1 has its answer.
async fn woken_latency(
    http: &reqwest::Client,
    anaplan: &Simulator,
    apis: [SocketAddr; 2],
) -> Vec<Duration> {
    let mut times = Vec::new();
    for n in 0..WOKEN_SAMPLES {
        let task = format!("3A4E{n:028X}");
        let slow = Reply::After(Duration::from_millis(50), Box::new(running_import()));
        anaplan.on(&import_path(&task), slow);
        let polling = http.get(task_route(apis[0], &task)).send();
        let waiting = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let response = http.get(task_route(apis[1], &task)).send().await.unwrap();
            let status = cache_status(&response);
            response.bytes().await.unwrap();
            (status, Instant::now())
        };
        let (polled, (status, answered)) = tokio::join!(polling, waiting);
        assert_eq!(polled.unwrap().status(), 200);
        assert_eq!(status, "anaplan-gateway; hit; detail=shared");
        let upstream = anaplan.answered_at(&import_path(&task)).expect("polled");
        times.push(answered.saturating_duration_since(upstream.into_std()));
    }
    times.sort();
    times
}

fn cache_status(response: &reqwest::Response) -> String {
    let status = response.headers().get("cache-status");
    status
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let redis = redis();
    let (anaplan, http) = simulated_anaplan().await;
    let mut runs = Vec::new();
    for replicas in REPLICAS {
        runs.push(run_fleet(&http, &anaplan, &redis.url, replicas).await);
    }
    let pair = start_fleet(&http, &anaplan, &redis.url, 2).await;
    let apis = [pair[0].1, pair[1].1];
    let shared = shared_tier_latency(&http, apis).await;
    let woken = woken_latency(&http, &anaplan, apis).await;
    let (_, api, admin) = &pair[0];
    let (cached, livez, _) = cached_against_livez(&http, &anaplan, *api, *admin, WRK_SECONDS).await;
    drop(pair);
    report(&runs, &shared, &woken, cached, livez);
}

fn report(
    runs: &[FleetRun],
    shared: &[Duration],
    woken: &[Duration],
    cached: (f64, f64, f64),
    livez: (f64, f64, f64),
) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let intervals = RUN.as_secs_f64() / INTERVAL.as_secs_f64();
    println!(
        "anaplan-gateway fleet benchmark ({} cores; {CALLERS} callers on {TASKS} tasks for {} s, replicas sharing one Redis)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        RUN.as_secs()
    );
    println!();
    println!("| replicas | answers | upstream status calls | per task per 5-s interval | logins |");
    println!("|---|---|---|---|---|");
    for run in runs {
        println!(
            "| {} | {} | {} | {:.2} | {} |",
            run.replicas,
            run.answers,
            run.status_calls,
            run.status_calls as f64 / TASKS as f64 / intervals,
            run.logins
        );
    }
    let one = runs[0].status_calls;
    let same = runs.iter().all(|run| run.status_calls <= one + TASKS / 4);
    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| upstream calls, any fleet size against one replica | {} | equal to one replica's: {} |",
        runs.iter()
            .map(|run| run.status_calls.to_string())
            .collect::<Vec<_>>()
            .join(" / "),
        if same { "meets" } else { "MISSES" }
    );
    let at = |times: &[Duration], q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)]
    };
    let shared_p99 = at(shared, 0.99);
    println!(
        "| first answer from the shared tier, end to end ({} samples) | p50 {:.3} ms, p99 {:.3} ms | p99 under 1 ms: {} |",
        shared.len(),
        ms(at(shared, 0.5)),
        ms(shared_p99),
        if shared_p99 < Duration::from_millis(1) {
            "meets"
        } else {
            "MISSES"
        }
    );
    println!(
        "| caller on another replica during a poll, answered after Anaplan's answer ({} samples) | p50 {:.2} ms, max {:.2} ms | within milliseconds |",
        woken.len(),
        ms(at(woken, 0.5)),
        ms(at(woken, 1.0)),
    );
    let ratio = cached.0 / livez.0;
    println!(
        "| local hit / /livez with sharing on, median of 3 x {WRK_SECONDS} | {ratio:.2} ({:.0} against {:.0} req/s) | as without sharing (0.9 or better): {} |",
        cached.0,
        livez.0,
        if ratio >= 0.9 { "meets" } else { "MISSES" }
    );
}
