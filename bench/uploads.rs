//! The upload benchmark, on loopback: a 1 GiB import file (103 chunks of 10 MiB of CSV rows)
//! uploaded through the gateway to the simulated Anaplan, which keeps every chunk it is given.
//!
//! Measures the gateway's highest RSS rise while a slow writer (about 50 MB/s) sends the file
//! (under two chunks plus 16 MiB is the target: 36 MiB at the default 10 MiB chunks), and the
//! throughput of a fast writer through the gateway against a plain copy through the same loopback:
//! a relay in a process of its own (this binary started again), as the gateway runs, that reads
//! the body, cuts it into the same chunks and puts them to the simulated Anaplan as they are,
//! uncompressed, with nothing else on the way (at least 0.8 of it is the target). Every chunk Anaplan was given is checked against what was sent. Run it with
//! `bench/run.sh uploads`. It reports figures; it never fails on the machine's speed.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

// Not every benchmark uses every shared helper.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anaplan_gateway::simulator::Simulator;
use anaplan_gateway::simulator::files::generated_chunk;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FILE: &str = "113000000000";
const CHUNKS: usize = 103;
/// The slow writer's pace, bytes a second.
const SLOW_WRITER: u64 = 50_000_000;

/// Every chunk the simulated Anaplan was given, against what was sent; then forgotten.
fn check_uploaded(anaplan: &Simulator) {
    let uploaded = anaplan.uploaded(FILE).expect("the file was uploaded");
    assert_eq!(uploaded.chunks.len(), CHUNKS);
    for (n, chunk) in uploaded.chunks.iter().enumerate() {
        assert!(
            *chunk == generated_chunk(FILE, n, CHUNK_BYTES),
            "chunk {n} differs"
        );
    }
    assert!(uploaded.completed);
}

/// A plain copy through the same loopback: a relay that reads a `PUT`'s body as it comes, cuts
/// it into chunks of `CHUNK_BYTES` and puts each to the simulated Anaplan as it is (opened first,
/// completed last), with nothing else on the way (no compression, no checks, no budget).
/// Answers one request per connection; returns its address.
async fn plain_relay(http: reqwest::Client, anaplan: SocketAddr) -> SocketAddr {
    let token = anaplan_token(&http, anaplan).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let file =
                format!("http://{anaplan}/2/0/workspaces/{WORKSPACE}/models/{MODEL}/files/{FILE}");
            let authorization = format!("AnaplanAuthToken {token}");
            let send = |request: reqwest::RequestBuilder| {
                request.header("Authorization", &authorization).send()
            };
            send(http.post(&file).body(r#"{"chunkCount":-1}"#))
                .await
                .unwrap();
            // The head, then the body: whatever the head's read took of it first.
            let mut buffer = vec![0u8; 64 * 1024];
            let mut read = socket.read(&mut buffer).await.unwrap();
            let end = buffer[..read]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap()
                + 4;
            let mut chunk = Vec::with_capacity(CHUNK_BYTES);
            chunk.extend_from_slice(&buffer[end..read]);
            let (mut n, mut total) = (0, chunk.len());
            loop {
                while chunk.len() >= CHUNK_BYTES {
                    let rest = chunk.split_off(CHUNK_BYTES);
                    let full = std::mem::replace(&mut chunk, rest);
                    send(http.put(format!("{file}/chunks/{n}")).body(full))
                        .await
                        .unwrap();
                    n += 1;
                }
                if total == CHUNKS * CHUNK_BYTES {
                    break;
                }
                read = socket.read(&mut buffer).await.unwrap();
                total += read;
                chunk.extend_from_slice(&buffer[..read]);
            }
            send(
                http.post(format!("{file}/complete"))
                    .body(r#"{"id":"113000000000"}"#),
            )
            .await
            .unwrap();
            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    address
}

#[tokio::main]
async fn main() {
    if let Some(anaplan) = relay_asked() {
        serve_relay(|http| plain_relay(http, anaplan)).await;
    }
    let (anaplan, http) = simulated_anaplan().await;
    anaplan.list_file(FILE, "Employees.csv");
    let total = CHUNKS * CHUNK_BYTES;
    let path = format!("/models/{MODEL}/files/{FILE}?workspaceId={WORKSPACE}");

    // A slow writer: the gateway holds the chunk it fills and the chunk it sends, no more.
    let (gateway, api, _, _) = start_gateway(&http, anaplan.address, &[]).await;
    let pid = gateway.id().unwrap();
    let before = rss_kib(pid, "VmRSS:");
    let highest = upload_file(api, &path, FILE, CHUNKS, Some(SLOW_WRITER), Some(pid)).await;
    check_uploaded(&anaplan);
    let rise_mib = highest.saturating_sub(before) as f64 / 1024.0;

    // A fast writer, against the plain copy, alternated three times; the median pair.
    let (_relay, relay) = relay_process(anaplan.address).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        upload_file(api, &path, FILE, CHUNKS, None, None).await;
        let through = started.elapsed();
        check_uploaded(&anaplan);
        let started = Instant::now();
        upload_file(relay, "/", FILE, CHUNKS, None, None).await;
        let direct = started.elapsed();
        check_uploaded(&anaplan);
        runs.push((through, direct));
    }
    drop(gateway);
    let (through, direct) = median_pair(runs);
    let mb_s = |elapsed: Duration| total as f64 / 1_000_000.0 / elapsed.as_secs_f64();
    let ratio = direct.as_secs_f64() / through.as_secs_f64();
    let target_mib = 2.0 * CHUNK_BYTES as f64 / 1024.0 / 1024.0 + 16.0;

    println!(
        "anaplan-gateway upload benchmark ({} cores; an import's file of {CHUNKS} chunks of 10 MiB, {:.2} GiB)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        total as f64 / (1u64 << 30) as f64
    );
    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| upload from a slow writer ({} MB/s): highest RSS rise | {rise_mib:.1} MiB (before {:.1} MiB, highest {:.1} MiB) | under {target_mib:.0} MiB (two chunks plus 16 MiB): {} |",
        SLOW_WRITER / 1_000_000,
        before as f64 / 1024.0,
        highest as f64 / 1024.0,
        if rise_mib < target_mib {
            "meets"
        } else {
            "MISSES"
        }
    );
    println!(
        "| upload from a fast writer: through the gateway (gzip chunks) against a plain copy through the same loopback (a relay, plain chunks) | {:.0} MB/s against {:.0} MB/s: {ratio:.2} | at least 0.8: {} |",
        mb_s(through),
        mb_s(direct),
        if ratio >= 0.8 { "meets" } else { "MISSES" }
    );
}
