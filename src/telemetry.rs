//! Logs and metrics.
//!
//! Logs are JSON lines (or text for a terminal) filtered by `RUST_LOG`; every request's id (see
//! [`crate::envelope`]) is on its log lines and on those of the upstream calls it starts.
//! Nothing here ever records a header, so no token, password or caller's Authorization reaches a
//! log.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::callers::Caller;
use crate::config::LogFormat;

/// Latency buckets in seconds: from a cache hit to a slow Anaplan.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const HTTP_REQUESTS: &str = "anaplan_gateway_http_requests_total";
const HTTP_DURATION: &str = "anaplan_gateway_http_request_duration_seconds";

/// The levels `RUST_LOG` may name (or their numbers, 0 for off to 5 for trace).
const LEVELS: [&str; 12] = [
    "off", "error", "warn", "info", "debug", "trace", "0", "1", "2", "3", "4", "5",
];

/// The log filter `RUST_LOG` asks for (`info` when unset). A value that would log nothing
/// useful is refused rather than taken silently: a word that is no level (`verbose`) would
/// otherwise be read as a target's name, turning every other log off.
pub fn log_filter(rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let Some(value) = rust_log.filter(|value| !value.trim().is_empty()) else {
        return Ok(EnvFilter::new("info"));
    };
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "RUST_LOG: `{directive}` names no level: give one of {} (for example `info`), \
                 or target=level (for example `anaplan_gateway=debug`)",
                LEVELS[..6].join(", ")
            ));
        }
    }
    EnvFilter::try_new(value).map_err(|err| format!("RUST_LOG: `{value}` is not a filter ({err})"))
}

/// Starts logging with `filter`; a second call (as in tests) changes nothing.
pub fn init_logging(format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        // Colour codes only where a person reads them, not in a file or a pipe.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; the handle then renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe_metrics();
        handle
    })
}

/// Drains the histograms' sample buffers now and then: the recorder keeps every sample until
/// upkeep runs, so without it memory grows with traffic when nobody scrapes `/metrics`.
pub fn spawn_metrics_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            metrics_handle().run_upkeep();
        }
    })
}

/// Counts and times every routed request by route template (never by raw path, which holds ids):
/// a layer on each route, since only the router knows the template.
#[derive(Clone, Copy)]
pub struct HttpMetricsLayer;

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics { inner }
    }
}

/// A route counted and timed: see [`HttpMetricsLayer`].
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
}

impl<S> tower::Service<Request> for HttpMetrics<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let asked = Asked {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: request.method().clone(),
            caller: request.extensions().get::<Arc<Caller>>().cloned(),
            started: Instant::now(),
        };
        let answer = self.inner.call(request);
        Counted {
            answer,
            asked: Some(asked),
        }
    }
}

/// A routed request's answer, counted when it is given. Written out rather than an `async` block
/// so that a held request keeps only these few fields beside the route's own future.
pub struct Counted<F> {
    answer: F,
    asked: Option<Asked>,
}

/// What a request's series are labelled with, and when it started.
struct Asked {
    route: Option<MatchedPath>,
    method: axum::http::Method,
    caller: Option<Arc<Caller>>,
    started: Instant,
}

impl<F, E> Future for Counted<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Poll::Ready(mut answer) = Pin::new(&mut this.answer).poll(context) else {
            return Poll::Pending;
        };
        if let (Ok(response), Some(asked)) = (&mut answer, this.asked.take()) {
            asked.count(response);
        }
        Poll::Ready(answer)
    }
}

impl Asked {
    fn count(self, response: &mut Response) {
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        if crate::spans::exporting() {
            let route = crate::spans::Route(route.to_owned());
            response.extensions_mut().insert(route);
        }
        // Not kept for a method a caller made up: callers could grow what is kept at will.
        let routed = matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE"
        );
        if self.caller.is_none() && routed {
            let took = self.started.elapsed();
            return count_routed(route, &self.method, response.status(), took);
        }
        let route = metrics::SharedString::from(route.to_owned());
        let status = response.status().as_u16().to_string();
        let mut labels = vec![
            metrics::Label::new("route", route.clone()),
            metrics::Label::new("method", self.method.as_str().to_owned()),
            metrics::Label::new("status", status),
        ];
        let mut duration_labels = vec![metrics::Label::new("route", route)];
        // With callers configured, each series is the caller's too (names come from the file),
        // and looked up each time: callers come and go with the file.
        if let Some(caller) = self.caller {
            let caller = metrics::SharedString::from(caller.name().clone());
            labels.push(metrics::Label::new("caller", caller.clone()));
            duration_labels.push(metrics::Label::new("caller", caller));
        }
        metrics::counter!(HTTP_REQUESTS, labels).increment(1);
        let took = self.started.elapsed().as_secs_f64();
        metrics::histogram!(HTTP_DURATION, duration_labels).record(took);
    }
}

/// Counts a routed answer without a caller in a series looked up in the registry once (labelling
/// and finding a series again cost more than the rest of the counting) and kept for good: a few
/// per route and method. A series' first answer writes it; every other only reads.
fn count_routed(route: &str, method: &Method, status: StatusCode, took: Duration) {
    type ByRoute = HashMap<String, HashMap<(Method, StatusCode), RouteMetrics>>;
    static SERIES: LazyLock<RwLock<ByRoute>> = LazyLock::new(RwLock::default);
    let answer = (method.clone(), status);
    let found = SERIES.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(series) = found
        .get(route)
        .and_then(|by_answer| by_answer.get(&answer))
    {
        return series.record(took);
    }
    drop(found);
    let mut series = SERIES.write().unwrap_or_else(PoisonError::into_inner);
    let by_answer = series.entry(route.to_owned()).or_default();
    let kept = |text: &str| -> &'static str { String::leak(text.to_owned()) };
    let made = || RouteMetrics::new(kept(route), kept(method.as_str()), kept(status.as_str()));
    by_answer.entry(answer).or_insert_with(made).record(took);
}

/// One route's request counter and latency histogram, looked up once, for answers given
/// ahead of routing (the fast path) under the labels the router would have used.
#[derive(Clone)]
pub struct RouteMetrics {
    route: &'static str,
    method: &'static str,
    status: &'static str,
    count: metrics::Counter,
    duration: metrics::Histogram,
}

impl RouteMetrics {
    /// The series of `route` (a route template) answered with `method` and `status`.
    pub fn new(route: &'static str, method: &'static str, status: &'static str) -> Self {
        Self {
            route,
            method,
            status,
            count: metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status),
            duration: metrics::histogram!(HTTP_DURATION, "route" => route),
        }
    }

    /// The route template the series is labelled with.
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// Counts one answer that took `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        self.count.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }

    /// Counts one answer to `caller` (with callers configured) that took `elapsed`, in the
    /// caller's own series, which the caller keeps once looked up.
    pub fn record_for(&self, caller: &Caller, elapsed: Duration) {
        let (count, duration) = caller.hit_metrics(|name| {
            let name = metrics::SharedString::from(name.clone());
            let count = metrics::counter!(HTTP_REQUESTS, "route" => self.route,
                "method" => self.method, "status" => self.status, "caller" => name.clone());
            let duration =
                metrics::histogram!(HTTP_DURATION, "route" => self.route, "caller" => name);
            (count, duration)
        });
        count.increment(1);
        duration.record(elapsed.as_secs_f64());
    }
}

/// The `# HELP` line of every metric family the gateway records.
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template"
    );
    describe_counter!(
        "anaplan_gateway_cache_answers_total",
        "Status answers by how they were obtained: hit, stale, miss, collapsed or shared (from another replica)"
    );
    describe_counter!(
        "anaplan_gateway_upstream_requests_total",
        "Calls to Anaplan's Integration API, by endpoint and outcome"
    );
    describe_histogram!(
        "anaplan_gateway_upstream_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time a call to Anaplan's Integration API took, retries included, by endpoint"
    );
    describe_counter!(
        "anaplan_gateway_upstream_rate_limited_total",
        "429 answers from Anaplan"
    );
    describe_counter!(
        "anaplan_gateway_transfer_bytes_total",
        "Bytes streamed through the gateway, by direction: download (export files and read pages)"
    );
    describe_counter!(
        "anaplan_gateway_task_statuses_total",
        "Task and read statuses Anaplan answered, by kind"
    );
    describe_counter!(
        "anaplan_gateway_task_starts_total",
        "Starts asked for, by kind and outcome: started, replayed (a repeat of an Idempotency-Key), refused (nothing started), unknown (the answer was lost and the task list did not tell)"
    );
    describe_counter!(
        "anaplan_gateway_unauthenticated_requests_total",
        "API requests refused with 401: no caller's key, or an unknown one (GATEWAY_CALLERS_FILE)"
    );
    describe_gauge!(
        "anaplan_gateway_upstream_budget_per_second",
        "The budget of Integration API calls a second (GATEWAY_UPSTREAM_RATE); for the whole fleet when it shares Redis"
    );
    describe_counter!(
        "anaplan_gateway_upstream_budget_calls_total",
        "Integration API calls the budget (GATEWAY_UPSTREAM_RATE) let through"
    );
    describe_counter!(
        "anaplan_gateway_upstream_budget_waits_total",
        "Integration API calls that waited for the budget before going out, by whom they were for (caller or refresh)"
    );
    describe_counter!(
        "anaplan_gateway_upstream_budget_refused_total",
        "Calls refused because the budget had no room within their bound, by whom they were for (caller or refresh)"
    );
    describe_gauge!(
        "anaplan_gateway_rate_limit_backoff_seconds",
        metrics::Unit::Seconds,
        "The pause after Anaplan's last 429; 0 once calls go out again"
    );
    describe_counter!(
        "anaplan_gateway_token_authentications_total",
        "Logins to Anaplan's auth API, by outcome"
    );
    describe_gauge!(
        "anaplan_gateway_shared_state_up",
        "1 while the fleet's shared state (GATEWAY_REDIS_URL) answers, 0 while this replica goes on alone"
    );
    describe_gauge!(
        "anaplan_gateway_certificate_expiry_seconds",
        metrics::Unit::Seconds,
        "Seconds until the Anaplan certificate runs out, as of its last reading (certificate logins only)"
    );
    describe_counter!(
        "anaplan_gateway_token_refreshes_total",
        "Token renewals with Anaplan's auth API, by outcome"
    );
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn rust_log_is_read_or_refused_never_silently_dropped() {
        for given in [
            None,
            Some(""),
            Some("debug"),
            Some("hyper=3"),
            Some("anaplan_gateway=debug,WARN"),
        ] {
            assert!(log_filter(given).is_ok(), "{given:?}");
        }
        for given in ["verbose", "info,hyper=chatty", "anaplan_gateway"] {
            let problem = log_filter(Some(given)).unwrap_err();
            assert!(problem.starts_with("RUST_LOG: "), "{problem}");
        }
    }
}
