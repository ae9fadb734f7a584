//! The fast path: a `GET` for a task whose answer is fresh in the cache is answered here, ahead
//! of routing, because routing costs more than the rest of such a hit (it copies and decodes the
//! path parameters into the request). Everything else, valid or not, goes to the router.
//!
//! It takes its route template and method from the routed handler's own OpenAPI description, and
//! reads the request with the same [`params`] function, so the two cannot disagree.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use futures_util::future::{Either, Ready, ready};
use tokio::time::Instant;
use tower::Service;
use utoipa::Path;

use super::access;
use super::headers::respond;
use super::params;
use super::routes::__path_get_task;
use crate::callers::{Caller, Callers};
use crate::service::StatusService;
use crate::telemetry::RouteMetrics;

/// The API as one service: fresh task answers here, the rest through the router. It is cloned
/// for every request, so all but the router sit behind one shared pointer.
#[derive(Clone)]
pub struct Api {
    hits: Arc<Hits>,
    routes: axum::Router,
}

/// What answering a hit takes.
struct Hits {
    service: StatusService,
    /// The callers with keys, when configured: every request but the docs names one.
    callers: Option<Arc<Callers>>,
    /// What a task path starts with: the route template up to its first parameter.
    task_prefix: &'static str,
    /// The hit's metric series, labelled as the router labels the task route.
    metrics: RouteMetrics,
}

impl Api {
    /// The API for `service`, with `routes` (the router, with any per-route middleware) for
    /// whatever is not a fresh hit, open to `callers` only when given.
    pub fn new(
        service: StatusService,
        routes: axum::Router,
        callers: Option<Arc<Callers>>,
    ) -> Self {
        let template = __path_get_task::path();
        debug_assert!(__path_get_task::methods().contains(&utoipa::openapi::HttpMethod::Get));
        let prefix = &template[..template.find('{').unwrap_or(template.len())];
        let hits = Hits {
            service,
            callers,
            task_prefix: String::leak(prefix.to_owned()),
            metrics: RouteMetrics::new(String::leak(template), "GET", "200"),
        };
        Self {
            hits: Arc::new(hits),
            routes,
        }
    }

    /// The answer to `GET /tasks/{kind}/{taskId}` when it is a fresh hit at `now`; `None` leaves
    /// the request to the router.
    fn fresh_hit(
        &self,
        request: &Request,
        caller: Option<&Caller>,
        now: Instant,
    ) -> Option<Response> {
        let (uri, hits) = (request.uri(), &*self.hits);
        if request.method() != Method::GET || !uri.path().starts_with(hits.task_prefix) {
            return None;
        }
        // A request that asks to be held until the answer changes is the router's.
        if request.headers().contains_key("prefer") {
            return None;
        }
        let task = params::task_request_as_given(uri, hits.service.default_model()).ok()?;
        // A caller that may not read the model is told so by the router, and one whose entry
        // names the model's workspace is asked about it there.
        if let Some(caller) = caller
            && caller.may_read(task.model, task.workspace) != Ok(task.workspace)
        {
            return None;
        }
        let hit = hits.service.fresh_task(&task, now)?;
        let mut response = respond(&hit, now, request.headers().get(header::IF_NONE_MATCH));
        if crate::spans::exporting() {
            let route = crate::spans::Route(hits.metrics.route().to_owned());
            response.extensions_mut().insert(route);
        }
        Some(response)
    }
}

impl Service<Request> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.routes, context)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let now = Instant::now();
        let caller = match access::authenticate(self.hits.callers.as_deref(), &request) {
            Ok(caller) => caller,
            Err(unauthenticated) => {
                return Either::Left(ready(Ok(unauthenticated.into_response())));
            }
        };
        match self.fresh_hit(&request, caller.as_deref(), now) {
            Some(response) => {
                let metrics = &self.hits.metrics;
                match &caller {
                    Some(caller) => metrics.record_for(caller, now.elapsed()),
                    None => metrics.record(now.elapsed()),
                }
                Either::Left(ready(Ok(response)))
            }
            None => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                Either::Right(self.routes.call(request))
            }
        }
    }
}
