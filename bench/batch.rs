//! The batch benchmark, on loopback: fifty running tasks of the simulated Anaplan watched by 200
//! orchestrators, first as 50 held long-polls each (10 000 held requests), then as one held batch
//! each (200 held requests of 50 items), each way in a gateway of its own; then every task moves.
//!
//! Side by side, for each way: the gateway's memory while all are held (RSS, less RSS before),
//! its CPU time from the first held request to the last answer, the upstream calls per task (one
//! per poll interval is the target), and how long after the poll that brought the change the
//! watchers were answered. Run it with `bench/run.sh batch`. It reports figures; it never fails
//! on the machine's speed.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::Simulator;
use common::*;
use serde_json::{Value, json};

const TASKS: usize = 50;
const ORCHESTRATORS: usize = 200;

fn task(n: usize) -> String {
    format!("B47C{n:028X}")
}

fn item(n: usize) -> Value {
    json!({"kind": "import", "taskId": task(n), "objectId": IMPORT, "modelId": MODEL,
           "workspaceId": WORKSPACE})
}

/// The gateway's CPU time so far (user and system), from `/proc/{pid}/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's closing parenthesis come the fields from the third (the state) on:
    // utime and stime, the 14th and 15th, are the 12th and 13th of those.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    // The kernel's clock ticks per second, as `getconf CLK_TCK` gives it on Linux.
    Duration::from_millis(ticks * 10)
}

/// What one way of watching cost.
struct Cost {
    held: usize,
    rss_before_kib: u64,
    rss_held_kib: u64,
    cpu: Duration,
    calls_per_task: f64,
    intervals: f64,
    answered_after_poll: Vec<Duration>,
}

/// How the orchestrators watch: a long-poll per task, or one batch of all.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    LongPolls,
    Batches,
}

async fn watch(anaplan: &Simulator, api: SocketAddr, pid: u32, way: Way) -> Cost {
    let http = connection_per_request();
    anaplan.answer_any_task(running_at(0.35));
    let status = format!("http://{api}/tasks/status");
    let items: Vec<Value> = (0..TASKS).map(item).collect();
    let first: Value = (http
        .post(&status)
        .json(&json!({ "tasks": items }))
        .send()
        .await)
        .unwrap()
        .json()
        .await
        .unwrap();
    let tags: Vec<String> = (first["tasks"].as_array().unwrap().iter())
        .map(|task| task["etag"].as_str().unwrap().to_owned())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_before_kib, cpu_before) = (rss_kib(pid, "VmRSS:"), cpu_time(pid));
    let calls_before = anaplan.api_calls();
    let held_from = Instant::now();
    let mut watchers = Vec::new();
    for _ in 0..ORCHESTRATORS {
        match way {
            Way::LongPolls => {
                for (n, tag) in tags.iter().enumerate() {
                    let request = (http.get(task_route(api, &task(n))))
                        .header("if-none-match", tag)
                        .header("prefer", "wait=60");
                    watchers.push(tokio::spawn(answered(request)));
                }
            }
            Way::Batches => {
                let tagged: Vec<Value> = (items.iter().zip(&tags))
                    .map(|(item, tag)| {
                        let mut item = item.clone();
                        item["ifNoneMatch"] = json!(tag);
                        item
                    })
                    .collect();
                let request = (http.post(&status))
                    .header("prefer", "wait=60")
                    .json(&json!({ "tasks": tagged }));
                watchers.push(tokio::spawn(answered(request)));
            }
        }
    }
    // All held (none can be answered before the tasks move), then memory; then every task
    // moves, and each task's next poll brings the change.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_held_kib = rss_kib(pid, "VmRSS:");
    anaplan.answer_any_task(running_at(0.6));
    let moved_at = Instant::now();
    let held = watchers.len();
    let mut answers = Vec::new();
    for watcher in watchers {
        answers.push(watcher.await.unwrap());
    }
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let intervals = held_from.elapsed().as_secs_f64() / 5.0;
    let calls = anaplan.api_calls() - calls_before;
    // A watcher is answered by the first poll that brought a change it waits on: the first
    // made after the tasks moved.
    let first_poll = (0..TASKS)
        .filter_map(|n| anaplan.answered_at(&import_path(&task(n))))
        .map(|at| at.into_std())
        .filter(|at| *at >= moved_at)
        .min()
        .expect("polled after the tasks moved");
    let mut answered_after_poll: Vec<Duration> = (answers.into_iter())
        .map(|at| at.saturating_duration_since(first_poll))
        .collect();
    answered_after_poll.sort();
    Cost {
        held,
        rss_before_kib,
        rss_held_kib,
        cpu,
        calls_per_task: calls as f64 / TASKS as f64,
        intervals,
        answered_after_poll,
    }
}

/// Sends a held request; when it was answered (with a change: 200).
async fn answered(request: reqwest::RequestBuilder) -> Instant {
    let response = request.send().await.unwrap();
    let at = Instant::now();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    at
}

#[tokio::main]
async fn main() {
    let (anaplan, http) = simulated_anaplan().await;
    let settings = holding_many();
    let mut costs = Vec::new();
    for way in [Way::LongPolls, Way::Batches] {
        let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
        costs.push(watch(&anaplan, api, gateway.id().unwrap(), way).await);
        drop(gateway);
    }
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let p = |cost: &Cost, q: f64| {
        let waits = &cost.answered_after_poll;
        ms(waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)])
    };
    println!(
        "anaplan-gateway batch benchmark ({} cores; {TASKS} running tasks watched by \
         {ORCHESTRATORS} orchestrators)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| measure | {TASKS} long-polls each | one held batch each |");
    println!("|---|---|---|");
    let [polls, batches] = [&costs[0], &costs[1]];
    println!("| requests held | {} | {} |", polls.held, batches.held);
    println!(
        "| gateway memory while held (RSS less RSS before) | {:.1} MiB ({:.1} → {:.1}) | {:.1} MiB ({:.1} → {:.1}) |",
        mib(polls.rss_held_kib.saturating_sub(polls.rss_before_kib)),
        mib(polls.rss_before_kib),
        mib(polls.rss_held_kib),
        mib(batches.rss_held_kib.saturating_sub(batches.rss_before_kib)),
        mib(batches.rss_before_kib),
        mib(batches.rss_held_kib)
    );
    println!(
        "| gateway CPU time, first held request to last answer | {:.2} s | {:.2} s |",
        polls.cpu.as_secs_f64(),
        batches.cpu.as_secs_f64()
    );
    println!(
        "| upstream calls per task (a batch is answered at its first change, so fewer tasks are \
         asked again) | {:.2} in {:.1} intervals | {:.2} in {:.1} intervals |",
        polls.calls_per_task, polls.intervals, batches.calls_per_task, batches.intervals
    );
    println!(
        "| answered after the first poll that brought a change | p50 {:.1} ms, p99 {:.1} ms | p50 {:.1} ms, p99 {:.1} ms |",
        p(polls, 0.5),
        p(polls, 0.99),
        p(batches, 0.5),
        p(batches, 0.99)
    );
}
