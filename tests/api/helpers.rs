//! The test harness: the simulated Anaplan (the crate's own, scripted call by call) and the real
//! app in front of it. `spawn_app` builds the app exactly as production does, on loopback port 0,
//! and stops it when dropped.

#![allow(dead_code)] // tests/metrics.rs uses only part of the harness.

use std::net::SocketAddr;
use std::time::Duration;

use anaplan_gateway::config::{Cli, Settings};
use anaplan_gateway::server;
pub use anaplan_gateway::simulator::{Options, Reply, Simulator};
use clap::Parser;
use serde_json::Value;

pub const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
pub const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
pub const TASK: &str = "1B1D84DDD53847BAA621810B593C3FC1";
pub const IMPORT: &str = "112000000009";
pub const USERNAME: &str = "svc@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

/// A fixture from `tests/fixtures`: Anaplan's documented JSON.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Starts a simulated Anaplan that accepts the test user, with nothing scripted yet.
pub async fn start_anaplan() -> Simulator {
    let options = Options {
        username: USERNAME.into(),
        scenario: None,
        ..Options::default()
    };
    Simulator::start(options).await.unwrap()
}

/// The app under test, stopped when dropped.
pub struct TestApp {
    pub address: SocketAddr,
    pub admin_address: SocketAddr,
    pub anaplan: Simulator,
    pub http: reqwest::Client,
    pub service: anaplan_gateway::service::StatusService,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Settings pointing at `anaplan`, with extra flags.
pub fn settings(anaplan: &Simulator, extra: &[&str]) -> Settings {
    settings_for(anaplan, BASIC, extra)
}

/// The test user's basic credentials, as flags.
pub const BASIC: &[&str] = &["--username", USERNAME, "--password", PASSWORD];

/// Settings pointing at `anaplan`, logging in with the `credentials` flags, with extra flags.
pub fn settings_for(anaplan: &Simulator, credentials: &[&str], extra: &[&str]) -> Settings {
    let cli = Cli::try_parse_from(gateway_args(anaplan, credentials, extra)).unwrap();
    Settings::for_serve(&cli.args).unwrap()
}

/// The command line of a gateway in front of `anaplan`, on loopback ports chosen by the system.
pub fn gateway_args(anaplan: &Simulator, credentials: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["anaplan-gateway", "--listen", "127.0.0.1:0"]
        .into_iter()
        .chain(["--admin-listen", "127.0.0.1:0"])
        .map(str::to_owned)
        .collect();
    args.extend([
        "--api-url".into(),
        format!("http://{}/2/0", anaplan.address),
    ]);
    args.extend(["--auth-url".into(), format!("http://{}", anaplan.address)]);
    let cloudworks = format!("http://{}/cloudworks", anaplan.address);
    args.extend(["--cloudworks-url".into(), cloudworks]);
    args.extend(["--oauth-url".into(), format!("http://{}", anaplan.address)]);
    args.extend(credentials.iter().chain(extra).map(|arg| arg.to_string()));
    // Tests move the paused clock by minutes while their client keeps connections open: idle
    // ones are cut only where a test asks for it.
    if !extra.contains(&"--header-timeout") {
        args.extend(["--header-timeout".into(), "1h".into()]);
    }
    // Tests that count calls ask far more than Anaplan would allow in their few virtual seconds:
    // the budget binds only where a test asks for it.
    if !extra.contains(&"--upstream-rate") {
        args.extend(["--upstream-rate".into(), "1000000/s".into()]);
    }
    args
}

/// A credentials fixture from `tests/fixtures/credentials`.
pub fn credential_file(name: &str) -> String {
    format!(
        "{}/tests/fixtures/credentials/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The basic credentials of settings made by [`settings`].
pub fn basic(settings: &mut Settings) -> &mut anaplan_gateway::config::Credentials {
    match &mut settings.anaplan.credentials {
        anaplan_gateway::config::CredentialMethod::Basic(credentials) => credentials,
        _ => panic!("the test settings use basic credentials"),
    }
}

/// Starts a simulated Anaplan and the app in front of it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a simulated Anaplan and the app with extra flags.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let anaplan = start_anaplan().await;
    let settings = settings(&anaplan, extra);
    spawn_app_for(anaplan, settings).await
}

/// Starts the app with `settings` in front of `anaplan`.
pub async fn spawn_app_for(anaplan: Simulator, settings: Settings) -> TestApp {
    let app = server::build(&settings).unwrap();
    let service = app.service.clone();
    let (api, admin) = server::bind(&settings).await.unwrap();
    let address = api.local_addr().unwrap();
    let admin_address = admin.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(
        app,
        api,
        admin,
        async {
            let _ = stopped.await;
        },
        settings.shutdown_timeout,
        settings.connections,
    ));
    TestApp {
        address,
        admin_address,
        anaplan,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        service,
        stop: Some(stop),
        served: Some(served),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    /// Signals shutdown, as SIGTERM does.
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Lets the gateway's background work run until `done` holds, failing after 5 s of real time.
/// The paused clock does not move meanwhile: yielding keeps the runtime busy.
#[allow(
    clippy::disallowed_methods,
    reason = "the bound is on real time: paused time stands still"
)]
pub async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
    }
}

/// Anaplan's answer for a running task at `progress` (0..1).
pub fn running_at(progress: f64) -> Reply {
    let mut body = fixture("task_in_progress.json");
    body["task"]["progress"] = serde_json::json!(progress);
    Reply::ok(body)
}

/// The upstream path of an import task.
pub fn import_path(task: &str) -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks/{task}")
}

/// The gateway path of an import task, with the workspace given.
pub fn import_route(task: &str) -> String {
    format!("/tasks/import/{task}?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}")
}

/// A 32-hex task id made from a number, for many distinct tasks.
pub fn task_id(n: usize) -> String {
    format!("{n:032X}")
}

/// The `Cache-Status` header of an answer.
pub fn cache_status(response: &reqwest::Response) -> String {
    response.headers()["cache-status"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Caches one answer for TASK, then lets it go stale.
pub async fn cached_then_stale(app: &TestApp) {
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    tokio::time::advance(Duration::from_secs(6)).await;
}

/// Stops a gateway process as Kubernetes would (SIGTERM) and returns all it logged.
pub async fn stop_for_logs(gateway: tokio::process::Child) -> String {
    let pid = gateway.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let output = gateway.wait_with_output().await.unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// Runs the gateway's binary in front of `anaplan`, as an operator would, and waits until it is
/// ready; returns the process (killed when dropped) and its API address.
pub async fn spawn_gateway_process(anaplan: &Simulator) -> (tokio::process::Child, SocketAddr) {
    spawn_gateway_process_with(anaplan, BASIC).await
}

/// As [`spawn_gateway_process`], logging in with the `credentials` flags, logging at debug.
pub async fn spawn_gateway_process_with(
    anaplan: &Simulator,
    credentials: &[&str],
) -> (tokio::process::Child, SocketAddr) {
    spawn_gateway_process_in(anaplan, credentials, &[]).await
}

/// As [`spawn_gateway_process_with`], with the environment variables `env` set.
pub async fn spawn_gateway_process_in(
    anaplan: &Simulator,
    credentials: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr) {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (api, admin) = (free_port(), free_port());
    let gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .env_clear()
        .args(["--listen", &api.to_string()])
        .args(["--admin-listen", &admin.to_string()])
        .env("RUST_LOG", "trace")
        .envs(env.iter().copied())
        .args(&gateway_args(anaplan, credentials, &[])[5..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..400 {
        let readyz = http.get(format!("http://{admin}/readyz")).send().await;
        if readyz.is_ok_and(|r| r.status() == 200) {
            return (gateway, api);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway did not become ready");
}

/// A process stopped when the test ends, whether it passes or fails.
pub struct Stopped(pub std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo as `command` gives it and returns it with every line it printed up to its
/// last example (at most a minute's wait).
#[allow(clippy::disallowed_methods, reason = "a real process: real time")]
pub fn printed_examples(mut command: std::process::Command) -> (Stopped, Vec<String>) {
    let mut demo = Stopped(
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = std::io::BufReader::new(demo.0.stdout.take().unwrap());
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut output: Vec<String> = Vec::new();
    while !output.iter().any(|line| line.contains("Press Ctrl-C")) {
        let line = printed.recv_timeout(Duration::from_secs(60));
        output.push(line.expect("the demo printed its examples"));
    }
    (demo, output)
}

/// Runs `line` as a shell runs it, with `env` added to the environment.
pub fn shell(line: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new("sh");
    command.args(["-c", line]);
    command.envs(env.iter().copied());
    command.output().unwrap()
}

/// The value of the first sample of `/metrics` text whose line starts with `prefix`, or 0.
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Sends `request` in a task of its own: its answer, and when the answer came.
pub fn sent_and_timed(
    request: reqwest::RequestBuilder,
) -> tokio::task::JoinHandle<(reqwest::Response, tokio::time::Instant)> {
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        (response, tokio::time::Instant::now())
    })
}

/// Every held request answered 304 within 100 ms of `stopped_at` (the gateway shutting down):
/// their answers.
pub async fn all_304_at_once(
    waiters: impl IntoIterator<
        Item = tokio::task::JoinHandle<(reqwest::Response, tokio::time::Instant)>,
    >,
    stopped_at: tokio::time::Instant,
) -> Vec<reqwest::Response> {
    let mut answers = Vec::new();
    for waiter in waiters {
        let (response, answered_at) = waiter.await.unwrap();
        assert_eq!(response.status(), 304);
        assert!(answered_at - stopped_at < Duration::from_millis(100));
        answers.push(response);
    }
    answers
}
