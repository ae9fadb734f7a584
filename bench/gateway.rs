//! The gateway's benchmark, on loopback: the release binary in front of the simulated Anaplan.
//!
//! Measures start-to-ready time; requests per second and p50/p99 latency of (a) a cached task
//! answer and (b) the same process's `/livez`, with `wrk`; (c) a cold burst of 64 concurrent
//! callers on one uncached task, timed from the moment the upstream answers; and the gateway's
//! RSS idle, with 100 000 and with 200 000 distinct tasks asked for. Run it with `bench/run.sh`.
//! It reports figures and targets; it never fails on the machine's speed. `GATEWAY_*` variables
//! in its environment are passed to the gateway, to measure other settings.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::{Options, Reply, Simulator};
use serde_json::json;

const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
const IMPORT: &str = "112000000009";
/// Burst task ids start with this; they are answered after `SLOW_ANSWER`.
const SLOW_PREFIX: &str = "5105";
const SLOW_ANSWER: Duration = Duration::from_millis(200);
const BURST_CALLERS: usize = 64;
const BURSTS: u32 = 5;
const WRK_SECONDS: &str = "10s";
const WRK_CONNECTIONS: &str = "32";

/// A running import, as Anaplan documents it: every task the benchmark asks about answers so.
fn running_import() -> Reply {
    Reply::ok(json!({
        "meta": {"schema": "https://api.anaplan.com/2/0/objects/task"},
        "status": {"code": 200, "message": "Success"},
        "task": {"type": "taskInformation", "taskId": "0", "currentStep": "Importing data...",
                 "progress": 0.35, "taskState": "IN_PROGRESS", "creationTime": 1571258347545_i64}
    }))
}

fn import_path(task: &str) -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks/{task}")
}

fn free_port() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn task_route(api: SocketAddr, task: &str) -> String {
    format!(
        "http://{api}/tasks/import/{task}?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}"
    )
}

/// Requests per second and p50/p99 in ms from `wrk --latency`.
fn wrk(url: &str, seconds: &str) -> (f64, f64, f64) {
    let output = std::process::Command::new("wrk")
        .args([
            "-t1",
            "-c",
            WRK_CONNECTIONS,
            "-d",
            seconds,
            "--latency",
            url,
        ])
        .output()
        .expect("wrk is installed by bench/run.sh");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(1))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let millis = |value: String| {
        let number: f64 = value
            .trim_end_matches(|c: char| c.is_alphabetic())
            .parse()
            .unwrap_or(f64::NAN);
        match value.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.') {
            "us" => number / 1000.0,
            "s" => number * 1000.0,
            _ => number,
        }
    };
    let rps = field("Requests/sec:").parse().unwrap_or(0.0);
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    (rps, millis(field("50%")), millis(field("99%")))
}

/// Asks for `count` distinct tasks, `concurrency` at a time.
async fn ask_many(
    http: &reqwest::Client,
    api: SocketAddr,
    from: u64,
    count: u64,
    concurrency: usize,
) {
    let next = Arc::new(AtomicU64::new(from));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, next) = (http.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= from + count {
                    break;
                }
                let url = task_route(api, &format!("{n:032X}"));
                let response = http.get(url).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
}

/// Starts the gateway against the fake upstream; returns it with its addresses once `/readyz`
/// answers, and how long that took from the spawn.
async fn start_gateway(
    http: &reqwest::Client,
    upstream: SocketAddr,
) -> (tokio::process::Child, SocketAddr, SocketAddr, Duration) {
    let (api, admin) = (free_port(), free_port());
    let started = Instant::now();
    let gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .env_clear()
        .env("GATEWAY_LISTEN", api.to_string())
        .env("GATEWAY_ADMIN_LISTEN", admin.to_string())
        .env("ANAPLAN_API_URL", format!("http://{upstream}/2/0"))
        .env("ANAPLAN_AUTH_URL", format!("http://{upstream}"))
        .env("ANAPLAN_USERNAME", "bench@example.com")
        .env("ANAPLAN_PASSWORD", "bench")
        .envs(std::env::vars().filter(|(name, _)| name.starts_with("GATEWAY_")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the gateway binary starts");
    let readyz = format!("http://{admin}/readyz");
    while !http
        .get(&readyz)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    (gateway, api, admin, started.elapsed())
}

/// The figures one run measures.
struct Figures {
    ready_after: Duration,
    cached: (f64, f64, f64),
    livez: (f64, f64, f64),
    cached_upstream: usize,
    wait_p50: Duration,
    wait_max: Duration,
    burst_upstream: usize,
    rss_idle: u64,
    rss_after_load: u64,
    rss_100k: u64,
    rss_200k: u64,
    rss_peak: u64,
}

#[tokio::main]
async fn main() {
    let options = Options {
        username: "bench@example.com".into(),
        scenario: None,
        ..Options::default()
    };
    let anaplan = Simulator::start(options).await.unwrap();
    anaplan.answer_any_task(running_import());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    // Start to ready, median of five starts; the last gateway started is the one measured.
    let mut starts = Vec::new();
    let mut running = None;
    for _ in 0..5 {
        drop(running.take());
        let (gateway, api, admin, ready_after) = start_gateway(&http, anaplan.address).await;
        starts.push(ready_after);
        running = Some((gateway, api, admin));
    }
    starts.sort();
    let (mut gateway, api, admin) = running.expect("started five times");
    let pid = gateway.id().unwrap();
    let rss_idle = rss_kib(pid, "VmRSS:");
    let (cached, livez, cached_upstream) = cached_against_livez(&http, &anaplan, api, admin).await;
    let rss_after_load = rss_kib(pid, "VmRSS:");
    let (wait_p50, wait_max, burst_upstream) = cold_bursts(&http, &anaplan, api).await;
    // Memory: 100 000 distinct tasks, then 100 000 more.
    ask_many(&http, api, 1_000_000, 100_000, 64).await;
    let rss_100k = rss_kib(pid, "VmRSS:");
    ask_many(&http, api, 2_000_000, 100_000, 64).await;
    let rss_200k = rss_kib(pid, "VmRSS:");
    let rss_peak = rss_kib(pid, "VmHWM:");
    gateway.kill().await.ok();
    report(&Figures {
        ready_after: starts[2],
        cached,
        livez,
        cached_upstream,
        wait_p50,
        wait_max,
        burst_upstream,
        rss_idle,
        rss_after_load,
        rss_100k,
        rss_200k,
        rss_peak,
    });
}

/// (a) and (b): a warm cached answer against the same process's /livez, alternated three times
/// each so drift on a busy machine hits both alike; the median pair by ratio, and the upstream
/// calls the cached task cost meanwhile.
async fn cached_against_livez(
    http: &reqwest::Client,
    anaplan: &Simulator,
    api: SocketAddr,
    admin: SocketAddr,
) -> ((f64, f64, f64), (f64, f64, f64), usize) {
    let cached = task_route(api, &format!("{:032X}", 1));
    assert_eq!(http.get(&cached).send().await.unwrap().status(), 200);
    let livez = format!("http://{admin}/livez");
    wrk(&cached, "2s");
    wrk(&livez, "2s");
    let calls_before = anaplan.api_calls();
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push((wrk(&cached, WRK_SECONDS), wrk(&livez, WRK_SECONDS)));
    }
    let cached_upstream = anaplan.api_calls() - calls_before;
    runs.sort_by(|(a1, b1), (a2, b2)| (a1.0 / b1.0).total_cmp(&(a2.0 / b2.0)));
    (runs[1].0, runs[1].1, cached_upstream)
}

/// (c): cold bursts of 64 callers on one uncached task each, over warm connections; each
/// caller's wait from the moment Anaplan answered, and the upstream calls the bursts cost.
async fn cold_bursts(
    http: &reqwest::Client,
    anaplan: &Simulator,
    api: SocketAddr,
) -> (Duration, Duration, usize) {
    let warm: Vec<_> = (0..BURST_CALLERS)
        .map(|_| http.get(format!("http://{api}/warm-connection")).send())
        .collect();
    futures_util::future::join_all(warm).await;
    let mut waits = Vec::new();
    let before = anaplan.api_calls();
    for burst in 0..BURSTS {
        let task = format!("{SLOW_PREFIX}{burst:028X}");
        let slow = Reply::After(SLOW_ANSWER, Box::new(running_import()));
        anaplan.on(&import_path(&task), slow);
        let callers: Vec<_> = (0..BURST_CALLERS)
            .map(|_| {
                let (http, url) = (http.clone(), task_route(api, &task));
                tokio::spawn(async move {
                    let response = http.get(url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    Instant::now()
                })
            })
            .collect();
        let done = futures_util::future::join_all(callers).await;
        let answered = anaplan
            .answered_at(&import_path(&task))
            .expect("the upstream answered")
            .into_std();
        waits.extend(
            done.into_iter()
                .map(|at| at.unwrap().saturating_duration_since(answered)),
        );
    }
    waits.sort();
    let burst_upstream = anaplan.api_calls() - before;
    (
        waits[waits.len() / 2],
        *waits.last().unwrap(),
        burst_upstream,
    )
}

fn report(figures: &Figures) {
    let (cached_rps, cached_p50, cached_p99) = figures.cached;
    let (livez_rps, livez_p50, livez_p99) = figures.livez;
    let ratio = cached_rps / livez_rps;
    let mark = |ok: bool| if ok { "meets" } else { "MISSES" };
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "anaplan-gateway benchmark ({} cores, wrk -t1 -c{WRK_CONNECTIONS} -d{WRK_SECONDS})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| start to ready, median of 5 | {:.1} ms | under 100 ms: {} |",
        ms(figures.ready_after),
        mark(figures.ready_after < Duration::from_millis(100))
    );
    println!(
        "| (a) cached task answer (median run) | {cached_rps:.0} req/s, p50 {cached_p50:.3} ms, p99 {cached_p99:.3} ms | |"
    );
    println!(
        "| (b) /livez, same process (median run) | {livez_rps:.0} req/s, p50 {livez_p50:.3} ms, p99 {livez_p99:.3} ms | |"
    );
    println!(
        "| (a)/(b), median of 3 alternating runs | {ratio:.2} | 0.9 or better: {} |",
        mark(ratio >= 0.9)
    );
    println!(
        "| upstream calls for the cached task during the runs | {} in 3 x {WRK_SECONDS} of (a) | one per poll interval (5 s) while asked |",
        figures.cached_upstream
    );
    println!(
        "| RSS after the load runs | {:.1} MiB | |",
        mib(figures.rss_after_load)
    );
    println!(
        "| (c) {BURST_CALLERS} cold callers, wait after the upstream answer | p50 {:.2} ms, max {:.2} ms ({BURSTS} bursts) | within 5 ms: {} |",
        ms(figures.wait_p50),
        ms(figures.wait_max),
        mark(figures.wait_max <= Duration::from_millis(5))
    );
    println!(
        "| upstream calls for the {BURSTS} bursts | {} | {BURSTS} |",
        figures.burst_upstream
    );
    println!("| RSS idle | {:.1} MiB | |", mib(figures.rss_idle));
    println!(
        "| RSS with 100 000 tasks asked | {:.1} MiB | under 64 MiB: {} |",
        mib(figures.rss_100k),
        mark(figures.rss_100k < 64 * 1024)
    );
    println!(
        "| RSS with 200 000 tasks asked | {:.1} MiB | flat beyond the cache bound |",
        mib(figures.rss_200k)
    );
    println!("| peak RSS | {:.1} MiB | |", mib(figures.rss_peak));
}
