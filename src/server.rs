//! Builds the app from settings and runs its two listeners until shutdown.
//!
//! Tests build the very same app (see `tests/api/helpers.rs`), bound to port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::HeaderName;
use futures_util::future::Either;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::admin::{self, Readiness};
use crate::api::Api;
use crate::callers::Callers;
use crate::config::Settings;
use crate::connections::{self, ConnectionLimits};
use crate::envelope::{REQUEST_ID, Spans, enveloped};
use crate::service::StatusService;
use crate::{api, telemetry};

/// Connections the admin listener keeps open at once: enough for probes and a scraper.
const ADMIN_CONNECTIONS: usize = 64;
/// Connections the admin listener keeps open from one address once its places run short: the
/// kubelet's probes and a scraper each need a few; idle connections from one pod (it binds every
/// address, so any pod can reach it) cannot take every place from the kubelet.
const ADMIN_CONNECTIONS_PER_PEER: usize = 8;

/// The gateway's services and shared state, ready to serve. [`serve`] wraps both services in
/// request ids and tracing.
#[derive(Clone)]
pub struct App {
    /// The API: fresh task answers from the cache, the rest through its router.
    pub api: Api,
    /// Health and metrics.
    pub admin: Router,
    /// The shared state behind the API.
    pub service: StatusService,
    /// Readiness, as `/readyz` reports it.
    pub readiness: Readiness,
    /// Callers with keys, read again while the app serves.
    pub callers: Option<Arc<Callers>>,
    /// The origins whose browser pages may read the API, if any.
    pub cors: Option<tower_http::cors::CorsLayer>,
}

/// Builds the app for `settings`.
pub fn build(settings: &Settings) -> anyhow::Result<App> {
    telemetry::metrics_handle();
    let service = StatusService::new(settings).context("building the Anaplan client")?;
    let readiness = Readiness::default();
    let keys_required = settings.callers.is_some();
    let routes = with_route_metrics(api::router(service.clone(), keys_required));
    let callers = settings.callers.as_ref().map(|c| Arc::new(Callers::new(c)));
    Ok(App {
        api: Api::new(service.clone(), routes, callers.clone()),
        admin: with_route_metrics(admin::router(readiness.clone())),
        service,
        readiness,
        callers,
        cors: cors(&settings.cors_origins),
    })
}

/// Lets the pages of `origins` read the API from a browser (status, lists, events, with the
/// headers that tell of caching and waiting); none when no origin is named. Preflights are
/// answered here, before any key is asked for.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    if origins.is_empty() {
        return None;
    }
    let origins = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    let layer = tower_http::cors::CorsLayer::new()
        .allow_origin(origins.collect::<Vec<_>>())
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            HeaderName::from_static("prefer"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::AGE,
            header::CACHE_CONTROL,
            header::RETRY_AFTER,
            HeaderName::from_static("cache-status"),
            HeaderName::from_static("preference-applied"),
            REQUEST_ID,
        ]);
    Some(layer)
}

/// Metrics by route template, which only the router knows: hence a layer on each route.
fn with_route_metrics(router: Router) -> Router {
    router.layer(telemetry::HttpMetricsLayer)
}

/// Binds both listeners, failing with a line naming the address that could not be bound.
pub async fn bind(settings: &Settings) -> anyhow::Result<(TcpListener, TcpListener)> {
    let api = listen(settings.listen, settings.listen_backlog)
        .with_context(|| format!("GATEWAY_LISTEN: cannot listen on {}", settings.listen))?;
    let admin = TcpListener::bind(settings.admin_listen)
        .await
        .with_context(|| {
            format!(
                "GATEWAY_ADMIN_LISTEN: cannot listen on {}",
                settings.admin_listen
            )
        })?;
    Ok((api, admin))
}

/// A listener on `address` whose kernel queue holds `backlog` connections (the runtime's own
/// `bind` leaves it at 128): a burst past the connection cap then waits instead of being dropped.
fn listen(address: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Serves until `shutdown` resolves, then stops accepting, reports not ready, and lets requests
/// in flight finish for at most `drain`. Connections are bounded by `limits`.
pub async fn serve(
    app: App,
    api: TcpListener,
    admin: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
    limits: ConnectionLimits,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let upkeep = telemetry::spawn_metrics_upkeep();
    let reloads = app.callers.as_ref().map(Callers::spawn_reloads);
    let readiness = app.readiness.clone();
    let service = app.service.clone();
    tokio::spawn(async move {
        shutdown.await;
        readiness.set(false);
        // Held requests are answered at once with what is known, so the drain does not wait.
        service.stop_waiting();
        tracing::info!("shutting down: draining requests in flight");
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // The admin listener has places of its own, so probes get through however many API
    // connections are open.
    let admin_limits = ConnectionLimits {
        max: ADMIN_CONNECTIONS,
        per_peer: Some(ADMIN_CONNECTIONS_PER_PEER),
        ..limits
    };
    // Without origins to allow, nothing stands between the envelope and the API.
    let api_server = match app.cors {
        Some(cors) => {
            let with_cors = ServiceBuilder::new()
                .map_response(|response: axum::http::Response<_>| response.map(Body::new))
                .layer(cors)
                .service(app.api);
            let with_cors = enveloped(with_cors, Spans::Exported);
            Either::Left(connections::serve(api, with_cors, limits, stopped.clone()))
        }
        None => {
            let api_only = enveloped(app.api, Spans::Exported);
            Either::Right(connections::serve(api, api_only, limits, stopped.clone()))
        }
    };
    let admin_server = connections::serve(
        admin,
        enveloped(app.admin, Spans::NotExported),
        admin_limits,
        stopped.clone(),
    );
    app.readiness.set(true);
    let both = async { tokio::join!(api_server, admin_server) };
    let drain_expired = async {
        until_stopped(stopped).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        _ = both => {}
        () = drain_expired => {
            tracing::warn!(drain_s = drain.as_secs_f64(), "requests still in flight after the drain bound; exiting");
        }
    };
    upkeep.abort();
    if let Some(reloads) = reloads {
        reloads.abort();
    }
    Ok(())
}

/// Builds, binds, calls `announce` once listening, and serves until SIGTERM or Ctrl-C.
pub async fn run(
    settings: &Settings,
    announce: impl FnOnce(SocketAddr, SocketAddr),
) -> anyhow::Result<()> {
    let app = build(settings)?;
    let (api, admin) = bind(settings).await?;
    announce(api.local_addr()?, admin.local_addr()?);
    serve(
        app,
        api,
        admin,
        shutdown_signal(),
        settings.shutdown_timeout,
        settings.connections,
    )
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
