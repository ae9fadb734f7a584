//! A simulated Anaplan on a loopback port: the auth API at its root and the Integration API under
//! `/2/0`, speaking Anaplan's documented JSON. The demo runs the gateway in front of it, the tests
//! script it call by call, and the benchmark measures against it, so a new Anaplan behaviour is
//! taught once, here.
//!
//! Every Integration API call needs a token it issued (401 otherwise), is counted, and is answered
//! by the first that knows the path: the replies scripted for it (the last one repeats), the
//! tasks started on it ([`StartPlan`]), the demo's [`Scenario`], the reply set for any task,
//! else 404.

mod alm;
mod auth;
mod certificate;
pub mod cloudworks;
pub mod files;
mod models;
mod reply;
pub mod scenario;
mod starts;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use files::FileContent;
pub use reply::Reply;
pub use scenario::Scenario;
pub use starts::StartPlan;
pub use world::OAuthClient;
use world::{AuthState, World};

/// How the simulated Anaplan behaves at the start.
#[derive(Default)]
pub struct Options {
    /// The user it knows: basic logins with this name are accepted, and every token acts as it.
    pub username: String,
    /// The password basic logins must carry, as Anaplan checks it; `None`: any password (each
    /// is recorded, for tests to look at).
    pub password: Option<secrecy::SecretString>,
    /// The demo's scenario, if any.
    pub scenario: Option<Scenario>,
    /// A certificate (PEM) whose logins are accepted.
    pub certificate: Option<Vec<u8>>,
    /// An OAuth client whose refresh token is accepted.
    pub oauth: Option<OAuthClient>,
}

/// A running simulated Anaplan; cheap to clone. It stops with the runtime that started it.
#[derive(Clone)]
pub struct Simulator {
    /// Where it listens: the auth API at `http://{address}`, the Integration API under `/2/0`.
    pub address: SocketAddr,
    world: Arc<Mutex<World>>,
}

impl Simulator {
    /// Starts it on a loopback port.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        let runs = match options.scenario.is_some() {
            true => cloudworks::Runs::demo(),
            false => cloudworks::Runs::default(),
        };
        let world = Arc::new(Mutex::new(World {
            username: options.username,
            password: options.password,
            scenario: options.scenario,
            runs,
            auth: AuthState {
                trusted_certificate: options.certificate,
                oauth: options.oauth,
                ..AuthState::default()
            },
            ..World::default()
        }));
        let app = Router::new()
            .route("/token/authenticate", post(auth::authenticate))
            .route("/token/refresh", post(auth::refresh))
            .route("/token/validate", get(auth::validate))
            .route("/oauth/token", post(auth::oauth_token))
            .fallback(integration_api)
            .with_state(world.clone());
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { address, world })
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scripts the replies for a path under `/2/0` (the last reply repeats).
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.world()
            .scripts
            .insert(format!("/2/0{path}"), replies.into());
    }

    /// Scripts one reply that repeats.
    pub fn on(&self, path: &str, reply: Reply) {
        self.script(path, vec![reply]);
    }

    /// Scripts the answers to starts (POSTs) on a path under `/2/0` (the last repeats), apart
    /// from its other methods: `Reply::Lost` creates the task and loses the answer,
    /// any other reply is answered without creating one.
    pub fn script_starts(&self, path: &str, replies: Vec<Reply>) {
        self.world()
            .start_scripts
            .insert(format!("/2/0{path}"), replies.into());
    }

    /// Answers every task path that nothing else knows with `reply`.
    pub fn answer_any_task(&self, reply: Reply) {
        self.world().any_task = Some(reply);
    }

    /// How tasks started from now on move.
    pub fn plan_starts(&self, plan: StartPlan) {
        self.world().starts.plan = plan;
    }

    /// How CloudWorks runs started from now on move.
    pub fn plan_runs(&self, plan: cloudworks::RunPlan) {
        self.world().runs.plan = plan;
    }

    /// Scripts the replies for a path under CloudWorks' `/cloudworks/2/0` (the last repeats).
    pub fn script_cloudworks(&self, path: &str, replies: Vec<Reply>) {
        let path = format!("/cloudworks/2/0{path}");
        self.world().scripts.insert(path, replies.into());
    }

    /// Keeps `content` as the model file `id` (an export's output is the file of the export's id).
    pub fn put_file(&self, id: &str, content: FileContent) {
        self.world().files.put(id, content);
    }

    /// Lists the file `id`, named `name`, among the models' files, for uploads to write.
    pub fn list_file(&self, id: &str, name: &str) {
        self.world().files.list(id, name);
    }

    /// Every call's `traceparent` and its path (below `/2/0`), in order.
    pub fn traceparents(&self) -> Vec<(String, String)> {
        let seen = self.world().traceparents.clone();
        let below = |(path, trace): (String, String)| {
            (path.strip_prefix("/2/0").unwrap_or(&path).to_owned(), trace)
        };
        seen.into_iter().map(below).collect()
    }

    /// Lists the object `id` of `collection` (`imports`, `exports`, `actions`, `processes`,
    /// `views`, `lists`), named `name`, in every model.
    pub fn list_object(&self, collection: &str, id: &str, name: &str) {
        let named = (collection.to_owned(), id.to_owned(), name.to_owned());
        self.world().named.push(named);
    }

    /// Pages the models' lists of imports (exports, …) by `size` objects.
    pub fn page_names(&self, size: usize) {
        self.world().names_page = Some(size);
    }

    /// What uploads wrote to the file `id`.
    pub fn uploaded(&self, id: &str) -> Option<files::Upload> {
        self.world().files.upload(id)
    }

    /// Ids of every task started so far, in order.
    pub fn started_tasks(&self) -> Vec<String> {
        self.world().starts.ids()
    }

    /// The bodies POSTed to a path under `/2/0`, in order.
    pub fn posted(&self, path: &str) -> Vec<String> {
        let path = format!("/2/0{path}");
        let world = self.world();
        let posted = world.posted.iter().filter(|(to, _)| *to == path);
        posted.map(|(_, body)| body.clone()).collect()
    }

    /// Calls of `method` to a path under `/2/0`.
    pub fn calls(&self, method: Method, path: &str) -> usize {
        let key = (method, format!("/2/0{path}"));
        self.world().calls.get(&key).copied().unwrap_or(0)
    }

    /// Calls of `method` to a path under CloudWorks' `/cloudworks/2/0`.
    pub fn cloudworks_calls(&self, method: Method, path: &str) -> usize {
        let key = (method, format!("/cloudworks/2/0{path}"));
        self.world().calls.get(&key).copied().unwrap_or(0)
    }

    /// Every call to the Integration API and CloudWorks.
    pub fn api_calls(&self) -> usize {
        self.world().calls.values().sum()
    }

    /// Every call to the Integration API and the auth API.
    pub fn total_calls(&self) -> usize {
        let world = self.world();
        world.calls.values().sum::<usize>() + world.auth.authentications + world.auth.refreshes
    }

    /// When the last answer to a path under `/2/0` was sent.
    pub fn answered_at(&self, path: &str) -> Option<Instant> {
        self.world()
            .answered_at
            .get(&format!("/2/0{path}"))
            .copied()
    }

    /// Every Authorization header the Integration API received.
    pub fn forwarded_authorization(&self) -> Vec<String> {
        self.world().forwarded_authorization.clone()
    }

    /// The most Integration API calls that were in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.world().most_in_flight
    }

    /// Logins so far.
    pub fn authentications(&self) -> usize {
        self.world().auth.authentications
    }

    /// Token refreshes so far.
    pub fn refreshes(&self) -> usize {
        self.world().auth.refreshes
    }

    /// Makes the auth API (authenticate and refresh) answer only after `delay`.
    pub fn delay_auth(&self, delay: Duration) {
        self.world().auth.delay = delay;
    }

    /// Makes the auth API answer 503, or answer again.
    pub fn set_auth_down(&self, down: bool) {
        self.fail_auth(down.then(|| Reply::status(503)));
    }

    /// Makes the auth API answer with `failure` (a 429, say), or answer again with `None`.
    pub fn fail_auth(&self, failure: Option<Reply>) {
        self.world().auth.failure = failure;
    }

    /// The passwords logins came with.
    pub fn passwords_seen(&self) -> Vec<String> {
        self.world().auth.passwords_seen.clone()
    }

    /// Why certificate logins were refused, in order.
    pub fn certificate_refusals(&self) -> Vec<&'static str> {
        self.world().auth.certificate_refusals.clone()
    }

    /// OAuth refresh-token exchanges so far.
    pub fn oauth_exchanges(&self) -> usize {
        self.world().auth.oauth_exchanges
    }

    /// The refresh token the OAuth client holds now.
    pub fn current_refresh_token(&self) -> Option<String> {
        Some(self.world().auth.oauth.as_ref()?.refresh_token.clone())
    }

    /// How often a refresh token already spent by rotation was offered again.
    pub fn spent_refresh_tokens_reused(&self) -> usize {
        self.world().auth.spent_refresh_tokens_reused
    }

    /// Every token issued and still valid, and every certificate payload accepted: what must
    /// never appear in a log.
    pub fn secrets_issued(&self) -> Vec<String> {
        let world = self.world();
        let auth = &world.auth;
        let spent = auth.spent_refresh_tokens.iter();
        let current = auth.oauth.iter().map(|client| &client.refresh_token);
        (auth.valid_tokens.iter().chain(auth.seen_payloads.iter()))
            .chain(spent)
            .chain(current)
            .cloned()
            .collect()
    }

    /// Revokes every token issued so far: the next API call with one gets a 401.
    pub fn revoke_tokens(&self) {
        self.world().auth.valid_tokens.clear();
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.world().auth.token_lifetime = lifetime;
    }
}

async fn integration_api(State(world): State<Arc<Mutex<World>>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let request = Request::from_parts(parts, ());
    let reply = {
        let mut world = world.lock().unwrap_or_else(|p| p.into_inner());
        if method == Method::POST {
            let body = String::from_utf8_lossy(&body).into_owned();
            world.posted.push((path.clone(), body));
        }
        let authorization = request.headers().get(header::AUTHORIZATION);
        if let Some(value) = authorization.and_then(|value| value.to_str().ok()) {
            world.forwarded_authorization.push(value.to_owned());
        }
        let trace = request.headers().get("traceparent");
        if let Some(value) = trace.and_then(|value| value.to_str().ok()) {
            world.traceparents.push((path.clone(), value.to_owned()));
        }
        if !world.auth.accepts(request.headers()) {
            None
        } else {
            *world
                .calls
                .entry((method.clone(), path.clone()))
                .or_default() += 1;
            world.in_flight += 1;
            world.most_in_flight = world.most_in_flight.max(world.in_flight);
            let gzip = request
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes() == b"application/x-gzip");
            let accept = request.headers().get(header::ACCEPT);
            let accept = accept
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            let query = request.uri().query().unwrap_or_default();
            let call = world::Call {
                gzip,
                accept,
                query,
            };
            Some(world.reply_for(&method, &path, &body, call))
        }
    };
    let Some(reply) = reply else {
        return Reply::status(401).play(path).await;
    };
    // Counted out when the reply is done, or when the client hangs up and the reply is dropped.
    let in_flight = InFlight(world.clone());
    let response = reply.play(path.clone()).await;
    let mut world = in_flight.0.lock().unwrap_or_else(|p| p.into_inner());
    world.answered_at.insert(path, Instant::now());
    drop(world);
    response
}

struct InFlight(Arc<Mutex<World>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut world = self.0.lock().unwrap_or_else(|p| p.into_inner());
        world.in_flight -= 1;
    }
}
