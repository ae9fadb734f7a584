//! The gateway's benchmark, on loopback: the release binary in front of the simulated Anaplan.
//!
//! Measures start-to-ready time; requests per second and p50/p99 latency of (a) a cached task
//! answer and (b) the same process's `/livez`, with `wrk`; (c) a cold burst of 64 concurrent
//! callers on one uncached task, timed from the moment the upstream answers; and the gateway's
//! RSS idle, with 100 000 and with 200 000 distinct tasks asked for. Run it with `bench/run.sh`.
//! It reports figures and targets; it never fails on the machine's speed. `GATEWAY_*` variables
//! in its environment are passed to the gateway, to measure other settings.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::{Reply, Simulator};
use common::*;

/// Burst task ids start with this; they are answered after `SLOW_ANSWER`.
const SLOW_PREFIX: &str = "5105";
const SLOW_ANSWER: Duration = Duration::from_millis(200);
const BURST_CALLERS: usize = 64;
const BURSTS: u32 = 5;
const WRK_SECONDS: &str = "10s";

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
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
    let (anaplan, http) = simulated_anaplan().await;
    // Start to ready, median of five starts; the last gateway started is the one measured.
    let mut starts = Vec::new();
    let mut running = None;
    for _ in 0..5 {
        drop(running.take());
        let (gateway, api, admin, ready_after) = start_gateway(&http, anaplan.address, &[]).await;
        starts.push(ready_after);
        running = Some((gateway, api, admin));
    }
    starts.sort();
    let (mut gateway, api, admin) = running.expect("started five times");
    let pid = gateway.id().unwrap();
    let rss_idle = rss_kib(pid, "VmRSS:");
    let (cached, livez, cached_upstream) =
        cached_against_livez(&http, &anaplan, api, admin, WRK_SECONDS).await;
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
