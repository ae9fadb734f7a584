//! The long-poll benchmark, on loopback: 10 000 requests held with `Prefer: wait` on 100 running
//! tasks of the simulated Anaplan, then every task moves.
//!
//! Measures the gateway's memory per held request (RSS while held, less RSS before), the upstream
//! calls per task while they are held (one per poll interval is the target), the time from the
//! poll that brought each task's change to each of its waiters' answers (p99 under 5 ms is the
//! target) and the gateway's CPU time per answer. Each held request has a connection of its own,
//! kept after its answer as a caller that asks again keeps it; the same is then run with every
//! connection closed after its answer, whose closing shares the cores with the answers still to
//! give. Then a 50 MB failure dump (five 10 MB chunks) read by a slow reader: the gateway's RSS
//! while it streams, against before. Last, the same 10 000 requests held over h2c, 200 streams on
//! each of 50 connections: the memory per held stream. Run it with `bench/run.sh waiting`. It reports figures; it
//! never fails on the machine's speed.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::{Reply, Simulator};
use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TASKS: usize = 100;
const WAITERS_PER_TASK: usize = 100;
/// The dump: this many chunks of `CHUNK_MIB` MiB.
const DUMP_CHUNKS: usize = 5;
const CHUNK_MIB: usize = 10;

fn task(n: usize) -> String {
    format!("7A17{n:028X}")
}

/// What the held requests cost and how fast they were answered.
struct Held {
    rss_before_kib: u64,
    rss_held_kib: u64,
    /// The gateway's CPU time from the tasks moving to the last answer, per answer.
    cpu_per_answer: Duration,
    /// The same for this process: the clients and the simulated Anaplan.
    bench_cpu_per_answer: Duration,
    calls_per_task: f64,
    intervals: f64,
    waits_after_poll: Vec<Duration>,
}

/// How a held request's connection ends.
#[derive(Clone, Copy)]
enum Connections {
    /// Kept after the answer, as a caller that asks again keeps it.
    Kept,
    /// Closed at once after the answer.
    Closed,
}

/// One held request on a connection of its own, written and read on the socket itself: the
/// bench's clients share the two cores with the gateway, so they should cost them as little as
/// they can. Returns when the answer's head came (the body read after), with the connection
/// when it is kept.
async fn held_request(
    api: SocketAddr,
    task: String,
    tag: String,
    connections: Connections,
) -> (Instant, Option<TcpStream>) {
    let route = task_route(api, &task);
    let path = route.trim_start_matches(&format!("http://{api}"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {api}\r\nif-none-match: {tag}\r\nprefer: wait=60\r\n\r\n"
    );
    let mut stream = TcpStream::connect(api).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut read = Vec::with_capacity(2048);
    let (answered, head_end) = loop {
        assert!(
            stream.read_buf(&mut read).await.unwrap() > 0,
            "the gateway closed"
        );
        if let Some(end) = read.windows(4).position(|window| window == b"\r\n\r\n") {
            break (Instant::now(), end + 4);
        }
    };
    let head = String::from_utf8_lossy(&read[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length: usize = (head.lines())
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse().ok())
        .expect("a content-length");
    while read.len() < head_end + length {
        assert!(
            stream.read_buf(&mut read).await.unwrap() > 0,
            "the body was cut"
        );
    }
    match connections {
        Connections::Kept => (answered, Some(stream)),
        Connections::Closed => (answered, None),
    }
}

async fn hold_and_move(
    anaplan: &Simulator,
    api: SocketAddr,
    pid: u32,
    connections: Connections,
) -> Held {
    let http = reqwest::Client::new();
    anaplan.answer_any_task(running_at(0.35));
    // First asked 50 ms apart, as tasks started at different times are: each task is polled at
    // a phase of its own, and a poll's waiters are answered together.
    let mut tags = Vec::new();
    for n in 0..TASKS {
        let response = http.get(task_route(api, &task(n))).send().await.unwrap();
        tags.push(response.headers()["etag"].clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_before_kib = rss_kib(pid, "VmRSS:");
    let calls_before = anaplan.api_calls();
    let held_from = Instant::now();
    let mut waiters = Vec::new();
    for (n, tag) in tags.iter().enumerate() {
        let tag = tag.to_str().unwrap();
        for _ in 0..WAITERS_PER_TASK {
            let held = held_request(api, task(n), tag.to_owned(), connections);
            waiters.push(tokio::spawn(async move { (n, held.await) }));
        }
    }
    // All held (none can be answered before the tasks move), then memory; then every task
    // moves, and each task's next poll brings the change to its waiters.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_held_kib = rss_kib(pid, "VmRSS:");
    let (cpu_before, bench_cpu_before) = (cpu_time(pid), cpu_time(std::process::id()));
    anaplan.answer_any_task(running_at(0.6));
    let (mut answered, mut kept) = (Vec::new(), Vec::new());
    for waiter in waiters {
        let (n, (at, connection)) = waiter.await.unwrap();
        answered.push((n, at));
        kept.extend(connection);
    }
    let cpu_per_answer = (cpu_time(pid) - cpu_before) / answered.len() as u32;
    let bench_cpu_per_answer =
        (cpu_time(std::process::id()) - bench_cpu_before) / answered.len() as u32;
    drop(kept);
    let intervals = held_from.elapsed().as_secs_f64() / 5.0;
    let calls = anaplan.api_calls() - calls_before;
    let mut waits_after_poll: Vec<Duration> = answered
        .into_iter()
        .map(|(n, at)| {
            let polled = anaplan.answered_at(&import_path(&task(n))).expect("polled");
            at.saturating_duration_since(polled.into_std())
        })
        .collect();
    waits_after_poll.sort();
    Held {
        rss_before_kib,
        rss_held_kib,
        cpu_per_answer,
        bench_cpu_per_answer,
        calls_per_task: calls as f64 / TASKS as f64,
        intervals,
        waits_after_poll,
    }
}

/// A 50 MB dump read at about 5 MB/s: the gateway's highest RSS while it streams, and before.
async fn slow_dump(anaplan: &Simulator, api: SocketAddr, pid: u32) -> (u64, u64, usize) {
    let dump_task = task(999);
    let dump = format!("{}/dump", import_path(&dump_task));
    let chunks: Vec<_> = (0..DUMP_CHUNKS)
        .map(|n| json!({"id": n.to_string(), "name": format!("Chunk {n}")}))
        .collect();
    anaplan.on(
        &format!("{dump}/chunks"),
        Reply::ok(json!({"chunks": chunks})),
    );
    let row = "E,Example row,with a value that did not fit,123456,Invalid number\n";
    let chunk_text = row.repeat(CHUNK_MIB * 1024 * 1024 / row.len());
    for n in 0..DUMP_CHUNKS {
        anaplan.on(
            &format!("{dump}/chunks/{n}"),
            Reply::Text(chunk_text.clone()),
        );
    }
    let rss_before = rss_kib(pid, "VmRSS:");
    let url = task_route(api, &dump_task).replacen('?', "/dump?", 1);
    let mut response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let (mut read, mut highest) = (0, rss_before);
    while let Some(piece) = response.chunk().await.unwrap() {
        read += piece.len();
        highest = highest.max(rss_kib(pid, "VmRSS:"));
        // A slow reader: the gateway must not buffer what it cannot pass on.
        tokio::time::sleep(Duration::from_micros(piece.len() as u64 / 5)).await;
    }
    (rss_before, highest, read)
}

/// Streams per h2c connection: hyper's bound on a connection's concurrent streams.
const STREAMS_PER_CONNECTION: usize = 200;

/// The same 10 000 requests held over HTTP/2 (h2c, prior knowledge), 200 streams on each of 50
/// connections: the gateway's RSS before and while they are held.
async fn hold_over_h2c(anaplan: &Simulator, api: SocketAddr, pid: u32) -> (u64, u64) {
    anaplan.answer_any_task(running_at(0.35));
    let held_count = TASKS * WAITERS_PER_TASK;
    let connections: Vec<reqwest::Client> = (0..held_count / STREAMS_PER_CONNECTION)
        .map(|_| {
            let client = reqwest::Client::builder().http2_prior_knowledge();
            client.timeout(Duration::from_secs(90)).build().unwrap()
        })
        .collect();
    let mut tags = Vec::new();
    for n in 0..TASKS {
        let response = connections[0]
            .get(task_route(api, &task(n)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        tags.push(response.headers()["etag"].clone());
    }
    // Every connection open before measuring: a connection's own cost is not a stream's.
    for client in &connections {
        client.get(task_route(api, &task(0))).send().await.unwrap();
    }
    let rss_before_kib = rss_kib(pid, "VmRSS:");
    let mut waiters = Vec::new();
    for index in 0..held_count {
        let n = index % TASKS;
        let request = (connections[index % connections.len()].get(task_route(api, &task(n))))
            .header("if-none-match", tags[n].clone())
            .header("prefer", "wait=60");
        waiters.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_held_kib = rss_kib(pid, "VmRSS:");
    anaplan.answer_any_task(running_at(0.6));
    for waiter in waiters {
        waiter.await.unwrap();
    }
    (rss_before_kib, rss_held_kib)
}

#[tokio::main]
async fn main() {
    let (anaplan, http) = simulated_anaplan().await;
    let settings = holding_many();
    // Each part in a gateway of its own, so one's memory does not stand in the other's.
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
    let (dump_before, dump_highest, dump_bytes) =
        slow_dump(&anaplan, api, gateway.id().unwrap()).await;
    drop(gateway);
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
    let held = hold_and_move(&anaplan, api, gateway.id().unwrap(), Connections::Kept).await;
    drop(gateway);
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
    let closing = hold_and_move(&anaplan, api, gateway.id().unwrap(), Connections::Closed);
    let closing = closing.await;
    drop(gateway);
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
    let (h2_before, h2_held) = hold_over_h2c(&anaplan, api, gateway.id().unwrap()).await;
    drop(gateway);

    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let at = |held: &Held, q: f64| {
        let waits = &held.waits_after_poll;
        waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)]
    };
    let held_count = TASKS * WAITERS_PER_TASK;
    let per_held =
        (held.rss_held_kib.saturating_sub(held.rss_before_kib)) as f64 * 1024.0 / held_count as f64;
    println!(
        "anaplan-gateway long-poll benchmark ({} cores; {held_count} requests held on {TASKS} running tasks)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| memory per held request (RSS held {:.1} MiB, before {:.1} MiB) | {per_held:.0} bytes | |",
        held.rss_held_kib as f64 / 1024.0,
        held.rss_before_kib as f64 / 1024.0
    );
    let per_stream = h2_held.saturating_sub(h2_before) as f64 * 1024.0 / held_count as f64;
    println!(
        "| memory per held h2c stream, {held_count} on {} connections (RSS held {:.1} MiB, before {:.1} MiB) | {per_stream:.0} bytes | 4 KiB |",
        held_count / STREAMS_PER_CONNECTION,
        h2_held as f64 / 1024.0,
        h2_before as f64 / 1024.0
    );
    println!(
        "| upstream calls per task while held | {:.2} in {:.1} intervals of 5 s | one per interval: {} |",
        held.calls_per_task,
        held.intervals,
        if held.calls_per_task <= held.intervals.ceil() {
            "meets"
        } else {
            "MISSES"
        }
    );
    for (run, held) in [
        ("connections kept", &held),
        ("connections closed", &closing),
    ] {
        println!(
            "| answer after the poll that brought the change, all {held_count} waiters ({WAITERS_PER_TASK} per poll), {run} | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; CPU per answer: gateway {:.0} µs, bench {:.0} µs | p99 under 5 ms: {} |",
            ms(at(held, 0.5)),
            ms(at(held, 0.99)),
            ms(at(held, 1.0)),
            held.cpu_per_answer.as_secs_f64() * 1e6,
            held.bench_cpu_per_answer.as_secs_f64() * 1e6,
            if at(held, 0.99) < Duration::from_millis(5) {
                "meets"
            } else {
                "MISSES"
            }
        );
    }
    println!(
        "| {} MB dump to a slow reader: highest RSS while streaming | {:.1} MiB (before {:.1} MiB) | flat |",
        dump_bytes / 1_000_000,
        dump_highest as f64 / 1024.0,
        dump_before as f64 / 1024.0
    );
}
