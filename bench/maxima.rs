//! The memory model's benchmark, on loopback: one gateway at the chart's default bounds (read
//! from `helm/anaplan-gateway/values.yaml`), with every bound reached at once: the cache filled
//! past its byte bound, every connection open, every held request held (each HTTP/1.1 connection
//! holding one long-poll, the rest as h2c streams on a few connections), and every transfer an
//! upload from a slow writer.
//!
//! Reports the gateway's RSS after each step and its highest, against the chart's memory limit
//! and the README's memory model (which the chart checks at render time). Run it with
//! `bench/run.sh maxima`. It reports figures; it never fails on the machine's speed.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::task::JoinHandle;

const VALUES: &str = include_str!("../helm/anaplan-gateway/values.yaml");
/// Distinct tasks asked for: more than the cache's byte bound holds at the default.
const TASKS_ASKED: u64 = 150_000;
/// Tasks the held requests wait on.
const HELD_TASKS: usize = 16;
/// The connections that carry the h2c streams.
const H2_CONNECTIONS: usize = 16;
/// Connections kept free of held requests: the uploads', and one for asking tags.
const SPARE_CONNECTIONS: usize = 4;
/// Each upload's file: chunks of the default 10 MiB; the slow writer's pace, bytes a second.
const UPLOAD_CHUNKS: usize = 6;
const SLOW_WRITER: u64 = 50_000_000;

/// A value of the chart's `gateway:` block (or of `resources.limits` for `memory`), as written.
fn chart_default(key: &str) -> String {
    let mut section = "";
    let mut in_limits = false;
    for line in VALUES.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line.trim_end_matches(':');
            in_limits = false;
        }
        // A comment after the value, and quotes around it, are not the value.
        let trimmed = line.split(" #").next().unwrap_or_default().trim();
        if section == "resources" && line.starts_with("  ") && !line.starts_with("    ") {
            in_limits = trimmed == "limits:";
        }
        let wanted = match key {
            "memory" => in_limits && line.starts_with("    "),
            _ => section == "gateway" && line.starts_with("  ") && !line.starts_with("   "),
        };
        if let Some(value) = trimmed.strip_prefix(&format!("{key}:")).filter(|_| wanted) {
            return value.trim().trim_matches('"').to_owned();
        }
    }
    panic!("values.yaml has no default for {key}");
}

/// `192Mi`, `10MiB` or `1Gi` in MiB.
fn mib_of(quantity: &str) -> u64 {
    let digits: String = quantity.chars().take_while(char::is_ascii_digit).collect();
    let number: u64 = digits.parse().expect("a number");
    match &quantity[digits.len()..] {
        "Mi" | "MiB" => number,
        "Gi" | "GiB" => number * 1024,
        unit => panic!("unit {unit} of {quantity}"),
    }
}

fn task(n: usize) -> String {
    format!("3A{n:030X}")
}

/// `count` long-polls held on the held tasks, each on a connection of its own.
async fn hold_over_http1(api: SocketAddr, tags: &[String], count: usize) -> Vec<JoinHandle<()>> {
    let http = connection_per_request();
    (0..count)
        .map(|index| {
            let n = index % HELD_TASKS;
            let request = (http.get(task_route(api, &task(n))))
                .header("if-none-match", tags[n].clone())
                .header("prefer", "wait=60");
            tokio::spawn(async move {
                let _ = request.send().await;
            })
        })
        .collect()
}

/// `count` long-polls held as h2c streams, spread over `H2_CONNECTIONS` connections.
async fn hold_over_h2c(api: SocketAddr, tags: &[String], count: usize) -> Vec<JoinHandle<()>> {
    let connections: Vec<reqwest::Client> = (0..H2_CONNECTIONS)
        .map(|_| {
            let client = reqwest::Client::builder().http2_prior_knowledge();
            client.timeout(Duration::from_secs(90)).build().unwrap()
        })
        .collect();
    (0..count)
        .map(|index| {
            let n = index % HELD_TASKS;
            let request = (connections[index % H2_CONNECTIONS].get(task_route(api, &task(n))))
                .header("if-none-match", tags[n].clone())
                .header("prefer", "wait=60");
            tokio::spawn(async move {
                let _ = request.send().await;
            })
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let max_connections: usize = chart_default("maxConnections").parse().unwrap();
    let max_waiting: usize = chart_default("maxWaiting").parse().unwrap();
    let max_transfers: usize = chart_default("maxTransfers").parse().unwrap();
    let cache_mib: u64 = chart_default("cacheMaxMib").parse().unwrap();
    let chunk = chart_default("uploadChunk");
    let limit = chart_default("memory");
    let (anaplan, http) = simulated_anaplan().await;
    let settings = [
        ("GATEWAY_MAX_CONNECTIONS", max_connections.to_string()),
        ("GATEWAY_MAX_WAITING", max_waiting.to_string()),
        ("GATEWAY_MAX_TRANSFERS", max_transfers.to_string()),
        ("GATEWAY_CACHE_MAX_MIB", cache_mib.to_string()),
        ("GATEWAY_UPLOAD_CHUNK", chunk.clone()),
        ("GATEWAY_MAX_WAIT", "60s".to_owned()),
    ];
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &settings).await;
    let pid = gateway.id().unwrap();
    let rss_idle = rss_kib(pid, "VmRSS:");

    // The cache past its bound; the fill's connections closed again.
    let filling = reqwest::Client::new();
    ask_many(&filling, api, 1_000_000, TASKS_ASKED, 64).await;
    drop(filling);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_cache = rss_kib(pid, "VmRSS:");

    // Every connection open and every held request held.
    let tagger = reqwest::Client::new();
    let mut tags = Vec::new();
    for n in 0..HELD_TASKS {
        let response = tagger.get(task_route(api, &task(n))).send().await.unwrap();
        tags.push(response.headers()["etag"].to_str().unwrap().to_owned());
    }
    let over_http1 = max_connections.saturating_sub(H2_CONNECTIONS + SPARE_CONNECTIONS);
    let over_h2c = max_waiting.saturating_sub(over_http1);
    let mut held = hold_over_http1(api, &tags, over_http1).await;
    held.extend(hold_over_h2c(api, &tags, over_h2c).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_held = rss_kib(pid, "VmRSS:");

    // Every transfer an upload from a slow writer, while all that is held.
    let path = |file: &str| format!("/models/{MODEL}/files/{file}?workspaceId={WORKSPACE}");
    let uploads: Vec<_> = (0..max_transfers)
        .map(|n| {
            let file = format!("11300000{n:04}");
            anaplan.list_file(&file, &format!("upload-{n}.csv"));
            let path = path(&file);
            tokio::spawn(async move {
                upload_file(
                    api,
                    &path,
                    &file,
                    UPLOAD_CHUNKS,
                    Some(SLOW_WRITER),
                    Some(pid),
                )
                .await
            })
        })
        .collect();
    let mut rss_uploading = 0;
    for upload in uploads {
        rss_uploading = rss_uploading.max(upload.await.unwrap());
    }
    // The kernel updates the peak lazily: the highest sample counts too.
    let rss_highest = rss_kib(pid, "VmHWM:").max(rss_uploading);
    let still_held = held.iter().filter(|waiter| !waiter.is_finished()).count();
    for waiter in held {
        waiter.abort();
    }
    drop(gateway);

    let limit_mib = mib_of(&limit);
    let connections_mib = (max_connections * 32).div_ceil(1024) as u64;
    let held_mib = (max_waiting * 12).div_ceil(1024) as u64;
    let transfers_mib = max_transfers as u64 * 2 * mib_of(&chunk);
    let model = 24 + cache_mib + connections_mib + held_mib + transfers_mib;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "anaplan-gateway memory at the chart's defaults ({} cores; maxConnections {max_connections}, maxWaiting {max_waiting}, maxTransfers {max_transfers}, cacheMaxMib {cache_mib}, uploadChunk {chunk}, limit {limit})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| step | RSS |");
    println!("|---|---|");
    println!("| idle | {:.1} MiB |", mib(rss_idle));
    println!(
        "| {TASKS_ASKED} distinct tasks asked (cache past its bound) | {:.1} MiB |",
        mib(rss_cache)
    );
    println!(
        "| and {over_http1} long-polls held over HTTP/1.1 and {over_h2c} over h2c on {H2_CONNECTIONS} connections ({still_held} still held after the uploads) | {:.1} MiB |",
        mib(rss_held)
    );
    println!(
        "| and {max_transfers} uploads of {UPLOAD_CHUNKS} chunks from slow writers: highest while uploading | {:.1} MiB |",
        mib(rss_uploading)
    );
    println!();
    println!("| measure | figure | bound |");
    println!("|---|---|---|");
    println!(
        "| highest RSS (VmHWM) | {:.1} MiB | the model's {model} MiB (base 24 + cache {cache_mib} + connections {connections_mib} + held {held_mib} + transfers {transfers_mib}); the limit {limit_mib} MiB: {} |",
        mib(rss_highest),
        if mib(rss_highest) < limit_mib as f64 {
            "under"
        } else {
            "OVER"
        }
    );
}
