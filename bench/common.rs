//! What the benchmarks share: the simulated import every task answers with, routes, `wrk`,
//! starting the release gateway, asking for many tasks and uploading a file.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anaplan_gateway::simulator::files::generated_chunk;
use anaplan_gateway::simulator::{Options, Reply, Simulator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
pub const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
pub const IMPORT: &str = "112000000009";
pub const WRK_CONNECTIONS: &str = "32";

/// A running import, as Anaplan documents it: every task the benchmark asks about answers so.
pub fn running_import() -> Reply {
    running_at(0.35)
}

/// A running import at `progress` (0..1): a task moves when its progress does.
pub fn running_at(progress: f64) -> Reply {
    Reply::ok(json!({
        "meta": {"schema": "https://api.anaplan.com/2/0/objects/task"},
        "status": {"code": 200, "message": "Success"},
        "task": {"type": "taskInformation", "taskId": "0", "currentStep": "Importing data...",
                 "progress": progress, "taskState": "IN_PROGRESS", "creationTime": 1571258347545_i64}
    }))
}

pub fn import_path(task: &str) -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks/{task}")
}

pub fn free_port() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn task_route(api: SocketAddr, task: &str) -> String {
    format!(
        "http://{api}/tasks/import/{task}?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}"
    )
}

/// Requests per second and p50/p99 in ms from `wrk --latency`.
pub fn wrk(url: &str, seconds: &str) -> (f64, f64, f64) {
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

/// Starts the gateway against the fake upstream, with `settings` as extra variables; returns it with its addresses once `/readyz`
/// answers, and how long that took from the spawn.
pub async fn start_gateway(
    http: &reqwest::Client,
    upstream: SocketAddr,
    settings: &[(&str, String)],
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
        // The simulator is no tenant to protect: the budget must not be what is measured.
        .env("GATEWAY_UPSTREAM_RATE", "1000000/s")
        .envs(std::env::vars().filter(|(name, _)| name.starts_with("GATEWAY_")))
        .envs(settings.iter().map(|(name, value)| (name, value)))
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

/// (a) and (b): a warm cached answer against the same process's /livez, alternated three times
/// each so drift on a busy machine hits both alike; the median pair by ratio, and the upstream
/// calls the cached task cost meanwhile.
pub async fn cached_against_livez(
    http: &reqwest::Client,
    anaplan: &Simulator,
    api: SocketAddr,
    admin: SocketAddr,
    seconds: &str,
) -> ((f64, f64, f64), (f64, f64, f64), usize) {
    let cached = task_route(api, &format!("{:032X}", 1));
    assert_eq!(http.get(&cached).send().await.unwrap().status(), 200);
    let livez = format!("http://{admin}/livez");
    wrk(&cached, "2s");
    wrk(&livez, "2s");
    let calls_before = anaplan.api_calls();
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push((wrk(&cached, seconds), wrk(&livez, seconds)));
    }
    let cached_upstream = anaplan.api_calls() - calls_before;
    runs.sort_by(|(a1, b1), (a2, b2)| (a1.0 / b1.0).total_cmp(&(a2.0 / b2.0)));
    (runs[1].0, runs[1].1, cached_upstream)
}

/// The simulated Anaplan every task of which answers as a running import, and a client with
/// enough idle connections for the callers.
pub async fn simulated_anaplan() -> (Simulator, reqwest::Client) {
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
    (anaplan, http)
}

/// A `/proc/{pid}/status` figure in KiB: `VmRSS:` (resident now) or `VmHWM:` (its peak).
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// The simulated Anaplan's token for `bench@example.com`, as a plain client logs in.
pub async fn anaplan_token(http: &reqwest::Client, anaplan: SocketAddr) -> String {
    let login = http
        .post(format!("http://{anaplan}/token/authenticate"))
        .basic_auth("bench@example.com", Some("bench"))
        .send()
        .await
        .unwrap();
    let login: serde_json::Value = login.json().await.unwrap();
    login["tokenInfo"]["tokenValue"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The simulated Anaplan's address, when this benchmark's binary was started again as a plain
/// relay (`relay {address}`) rather than to measure.
pub fn relay_asked() -> Option<SocketAddr> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "relay")?;
    args.get(at + 1)?.parse().ok()
}

/// This benchmark's binary started again as a plain relay in front of `anaplan`, in a process of
/// its own as the gateway is: a copy through it crosses as many processes and loopback hops as a
/// copy through the gateway. The relay prints its address, then serves until it is stopped.
pub async fn relay_process(anaplan: SocketAddr) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let mut relay = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["relay", &anaplan.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the benchmark starts again as a relay");
    let stdout = relay.stdout.take().unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .unwrap();
    (
        relay,
        line.trim().parse().expect("the relay prints its address"),
    )
}

/// Serves as the relay `serve` makes, printing its address for [`relay_process`].
pub async fn serve_relay<Serving>(serve: impl FnOnce(reqwest::Client) -> Serving) -> !
where
    Serving: std::future::Future<Output = SocketAddr>,
{
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    println!("{}", serve(http).await);
    std::future::pending().await
}

/// The median of alternated runs (through the gateway, plain), by their ratio.
pub fn median_pair(mut runs: Vec<(Duration, Duration)>) -> (Duration, Duration) {
    runs.sort_by(|(t1, d1), (t2, d2)| {
        (d1.as_secs_f64() / t1.as_secs_f64()).total_cmp(&(d2.as_secs_f64() / t2.as_secs_f64()))
    });
    runs[runs.len() / 2]
}

/// Settings for a gateway that holds 10 000 and more requests at once: a long wait, and room
/// for every held request, each a connection of its own.
pub fn holding_many() -> [(&'static str, String); 3] {
    [
        ("GATEWAY_MAX_WAIT", "60s".to_owned()),
        ("GATEWAY_MAX_WAITING", "20000".to_owned()),
        ("GATEWAY_MAX_CONNECTIONS", "20000".to_owned()),
    ]
}

/// A client that opens a connection per request, as callers on many pods would: one per held
/// request.
pub fn connection_per_request() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap()
}

/// The CPU time `pid` has used so far (user and system), from `/proc`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    // utime and stime: the 14th and 15th fields, counted after the command's closing bracket.
    let after_command = stat.rsplit(')').next().unwrap_or_default();
    let ticks: u64 = (after_command.split_whitespace().skip(11).take(2))
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    // The kernel's USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The gateway's default upload chunk, which the upload benchmarks' files are cut into.
pub const CHUNK_BYTES: usize = 10 * 1024 * 1024;
/// What an uploading writer hands the socket at a time.
const PIECE: usize = 64 * 1024;

/// Sends `file` (`chunks` generated chunks of CSV rows) to `address` as a `PUT` of `path` at
/// `pace` bytes a second (as fast as the socket takes it with none), and reads the answer; the
/// gateway's highest RSS meanwhile (with `pid`).
pub async fn upload_file(
    address: SocketAddr,
    path: &str,
    file: &str,
    chunks: usize,
    pace: Option<u64>,
    pid: Option<u32>,
) -> u64 {
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        chunks * CHUNK_BYTES
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let (started, mut written, mut highest) = (Instant::now(), 0usize, 0);
    for n in 0..chunks {
        let chunk = generated_chunk(file, n, CHUNK_BYTES);
        for piece in chunk.chunks(PIECE) {
            socket.write_all(piece).await.unwrap();
            written += piece.len();
            if let Some(pid) = pid {
                highest = highest.max(rss_kib(pid, "VmRSS:"));
            }
            if let Some(pace) = pace {
                let due = Duration::from_secs_f64(written as f64 / pace as f64);
                tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
            }
        }
    }
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    highest
}

/// Asks for `count` distinct tasks from the `from`th on, `concurrency` at a time.
pub async fn ask_many(
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
