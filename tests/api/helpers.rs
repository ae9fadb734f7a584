//! The test harness: a fake Anaplan at the HTTP boundary and the real app in front of it.
//!
//! The fake answers each path with a scripted reply (the last one repeats), counts every call,
//! issues tokens and can revoke them, and can stall or reset a connection. `spawn_app` builds the
//! app exactly as production does, on loopback port 0, and stops it when dropped.

#![allow(dead_code)] // tests/metrics.rs uses only part of the harness.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anaplan_gateway::config::{Cli, Settings};
use anaplan_gateway::server;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use serde_json::{Value, json};
use tokio::net::TcpListener;

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

/// How the fake answers one call.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON body with a status.
    Json(StatusCode, Value),
    /// A status with headers and Anaplan's error body.
    Status(StatusCode, Vec<(&'static str, String)>),
    /// Never answers.
    Stall,
    /// Sends headers, then drops the connection mid-body.
    Reset,
    /// Waits, then replies.
    After(Duration, Box<Reply>),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json(StatusCode::OK, body)
    }

    pub fn status(code: u16) -> Self {
        Reply::Status(StatusCode::from_u16(code).unwrap(), Vec::new())
    }
}

#[derive(Default)]
struct FakeState {
    scripts: HashMap<String, VecDeque<Reply>>,
    calls: HashMap<(Method, String), usize>,
    authentications: usize,
    refreshes: usize,
    passwords_seen: Vec<String>,
    valid_tokens: Vec<String>,
    issued: usize,
    token_lifetime_ms: i64,
    forwarded_authorization: Vec<String>,
    in_flight: usize,
    most_in_flight: usize,
    /// How the auth API answers: after this delay, and with this failure while it is set.
    auth_delay: Duration,
    auth_failure: Option<Reply>,
}

/// A fake Anaplan (Integration API under `/2/0`, auth API at the root).
#[derive(Clone)]
pub struct FakeAnaplan {
    pub address: SocketAddr,
    state: Arc<Mutex<FakeState>>,
}

impl FakeAnaplan {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            token_lifetime_ms: 35 * 60 * 1000,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/token/authenticate", post(authenticate))
            .route("/token/refresh", post(refresh))
            .fallback(api)
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Scripts the replies for a path under `/2/0` (the last reply repeats).
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.lock()
            .scripts
            .insert(format!("/2/0{path}"), replies.into());
    }

    /// Scripts one reply that repeats.
    pub fn on(&self, path: &str, reply: Reply) {
        self.script(path, vec![reply]);
    }

    /// Calls of `method` to a path under `/2/0`.
    pub fn calls(&self, method: Method, path: &str) -> usize {
        let key = (method, format!("/2/0{path}"));
        self.lock().calls.get(&key).copied().unwrap_or(0)
    }

    /// Every call to the Integration API and the auth API.
    pub fn total_calls(&self) -> usize {
        let state = self.lock();
        state.calls.values().sum::<usize>() + state.authentications + state.refreshes
    }

    pub fn authentications(&self) -> usize {
        self.lock().authentications
    }

    pub fn refreshes(&self) -> usize {
        self.lock().refreshes
    }

    /// Makes the auth API (authenticate and refresh) answer only after `delay`.
    pub fn delay_auth(&self, delay: Duration) {
        self.lock().auth_delay = delay;
    }

    /// Makes the auth API answer 503, or answer again.
    pub fn set_auth_down(&self, down: bool) {
        self.fail_auth(down.then(|| Reply::status(503)));
    }

    /// Makes the auth API answer with `failure` (for example a 429), or answer again with `None`.
    pub fn fail_auth(&self, failure: Option<Reply>) {
        self.lock().auth_failure = failure;
    }

    pub fn passwords_seen(&self) -> Vec<String> {
        self.lock().passwords_seen.clone()
    }

    /// Every Authorization header the Integration API received.
    pub fn forwarded_authorization(&self) -> Vec<String> {
        self.lock().forwarded_authorization.clone()
    }

    /// The most Integration API calls that were in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.lock().most_in_flight
    }

    /// Revokes every token issued so far: the next API call with one gets a 401.
    pub fn revoke_tokens(&self) {
        self.lock().valid_tokens.clear();
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime_ms = lifetime.as_millis() as i64;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn token_body(token: &str, lifetime_ms: i64) -> Value {
    json!({
        "meta": {"validationUrl": "https://auth.anaplan.com/token/validate"},
        "status": "SUCCESS",
        "statusMessage": "Login successful",
        "tokenInfo": {"expiresAt": now_ms() + lifetime_ms, "tokenId": "id", "tokenValue": token, "refreshTokenId": "r"}
    })
}

/// Counts an auth API call and plays its delay; the failure to answer with, if one is set.
async fn auth_api_failure(
    state: &Mutex<FakeState>,
    count: fn(&mut FakeState) -> &mut usize,
) -> Option<Response> {
    let (delay, failure) = {
        let mut state = state.lock().unwrap();
        *count(&mut state) += 1;
        (state.auth_delay, state.auth_failure.clone())
    };
    tokio::time::sleep(delay).await;
    Some(play(failure?, "/token").await)
}

async fn authenticate(State(state): State<Arc<Mutex<FakeState>>>, headers: HeaderMap) -> Response {
    if let Some(failure) = auth_api_failure(&state, |s| &mut s.authentications).await {
        return failure;
    }
    let mut state = state.lock().unwrap();
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_basic);
    let Some((user, password)) = credentials else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "FAILURE_BAD_HEADER"})),
        )
            .into_response();
    };
    state.passwords_seen.push(password.clone());
    if user != USERNAME {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "FAILURE_BAD_CREDENTIAL"})),
        )
            .into_response();
    }
    state.issued += 1;
    let token = format!("token-{}", state.issued);
    state.valid_tokens.push(token.clone());
    (
        StatusCode::CREATED,
        Json(token_body(&token, state.token_lifetime_ms)),
    )
        .into_response()
}

async fn refresh(State(state): State<Arc<Mutex<FakeState>>>, headers: HeaderMap) -> Response {
    if let Some(failure) = auth_api_failure(&state, |s| &mut s.refreshes).await {
        return failure;
    }
    let state = state.lock().unwrap();
    let token = bearer(&headers);
    if !state.valid_tokens.contains(&token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // Anaplan keeps the token value and extends it.
    (
        StatusCode::OK,
        Json(token_body(&token, state.token_lifetime_ms)),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AnaplanAuthToken "))
        .unwrap_or_default()
        .to_owned()
}

use axum::Json;

async fn api(State(state): State<Arc<Mutex<FakeState>>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let reply = {
        let mut state = state.lock().unwrap();
        if let Some(value) = request.headers().get(header::AUTHORIZATION) {
            let value = value.to_str().unwrap_or_default().to_owned();
            state.forwarded_authorization.push(value);
        }
        if !state.valid_tokens.contains(&bearer(request.headers())) {
            let body = json!({"status": {"code": 401, "message": "Unauthorized"}});
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
        *state.calls.entry((method, path.clone())).or_default() += 1;
        state.in_flight += 1;
        state.most_in_flight = state.most_in_flight.max(state.in_flight);
        match state.scripts.get_mut(&path) {
            Some(replies) if replies.len() > 1 => replies.pop_front(),
            Some(replies) => replies.front().cloned(),
            None => None,
        }
    };
    // Counted out when the reply is done, or when the client hangs up and the reply is dropped.
    let _in_flight = InFlight(state.clone());
    play(reply.unwrap_or(Reply::status(404)), &path).await
}

struct InFlight(Arc<Mutex<FakeState>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

fn play(reply: Reply, path: &str) -> futures_util::future::BoxFuture<'static, Response> {
    let path = path.to_owned();
    Box::pin(async move {
        match reply {
            Reply::Json(status, body) => (status, Json(body)).into_response(),
            Reply::Status(status, headers) => {
                let body = json!({
                    "status": {"code": status.as_u16(), "message": status.canonical_reason().unwrap_or("")},
                    "path": path, "timestamp": "2026-11-23T10:00:00.000Z"
                });
                let mut response = (status, Json(body)).into_response();
                for (name, value) in headers {
                    response
                        .headers_mut()
                        .insert(name, HeaderValue::from_str(&value).unwrap());
                }
                response
            }
            Reply::Stall => std::future::pending().await,
            Reply::Reset => {
                let failing = futures_util::stream::once(async {
                    Err::<bytes::Bytes, _>(std::io::Error::from(
                        std::io::ErrorKind::ConnectionReset,
                    ))
                });
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, "100")
                    .body(Body::from_stream(failing))
                    .unwrap()
            }
            Reply::After(delay, reply) => {
                tokio::time::sleep(delay).await;
                play(*reply, &path).await
            }
        }
    })
}

/// Decodes `Basic base64(user:password)`.
fn decode_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = header.strip_prefix("Basic ")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, password) = String::from_utf8(bytes)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((user, password))
}

/// The app under test, stopped when dropped.
pub struct TestApp {
    pub address: SocketAddr,
    pub admin_address: SocketAddr,
    pub fake: FakeAnaplan,
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

/// Settings pointing at `fake`, with extra flags.
pub fn settings(fake: &FakeAnaplan, extra: &[&str]) -> Settings {
    let api_url = format!("http://{}/2/0", fake.address);
    let auth_url = format!("http://{}", fake.address);
    let mut args = vec![
        "anaplan-gateway",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
        "--api-url",
        &api_url,
        "--auth-url",
        &auth_url,
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).unwrap();
    Settings::for_serve(&cli.args).unwrap()
}

/// Starts a fake Anaplan and the app in front of it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a fake Anaplan and the app with extra flags.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let fake = FakeAnaplan::start().await;
    let settings = settings(&fake, extra);
    spawn_app_for(fake, settings).await
}

/// Starts the app with `settings` in front of `fake`.
pub async fn spawn_app_for(fake: FakeAnaplan, settings: Settings) -> TestApp {
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
    ));
    TestApp {
        address,
        admin_address,
        fake,
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
