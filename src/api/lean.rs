//! A route handler that keeps nothing of the request its function has let go of.
//!
//! axum serves a function as a handler through a future that captures the request's parts and
//! body for as long as the function's answer is awaited, even once the function has them no
//! more. A status request held until its answer changes is awaited for minutes, so its GET is
//! served by [`Lean`] instead: the function's own future, and nothing beside it.

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::Map;
use utoipa_axum::router::UtoipaMethodRouter;

use super::error::ApiError;
use crate::service::StatusService;

/// A handler function taking the state and the request, served without axum's wrapper.
#[derive(Clone, Copy)]
pub struct Lean<F>(pub F);

/// What tells `Lean`'s handler apart from axum's own for the same function.
pub enum LeanHandler {}

/// What `Lean` turns its function's answer into.
type Answered = fn(Result<Response, ApiError>) -> Response;

impl<F, Fut> Handler<LeanHandler, StatusService> for Lean<F>
where
    F: FnOnce(State<StatusService>, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    type Future = Map<Fut, Answered>;

    fn call(self, request: Request, state: StatusService) -> Self::Future {
        (self.0)(State(state), request).map(IntoResponse::into_response as Answered)
    }
}

/// `routes!` for one GET handler, served as [`Lean`].
macro_rules! lean_routes {
    ($handler:path) => {
        $crate::api::lean::get(
            ::utoipa_axum::routes!($handler),
            $crate::api::lean::Lean($handler),
        )
    };
}
pub(crate) use lean_routes;

/// `documented` (what `routes!` made of one GET handler) with that GET served by `lean`.
pub fn get<F>(
    documented: UtoipaMethodRouter<StatusService>,
    lean: Lean<F>,
) -> UtoipaMethodRouter<StatusService>
where
    Lean<F>: Handler<LeanHandler, StatusService>,
{
    let (schemas, paths, _) = documented;
    // The document must say what is routed: a GET, and nothing else.
    debug_assert!(paths.paths.values().all(|item| {
        let others = [
            &item.put,
            &item.post,
            &item.delete,
            &item.patch,
            &item.options,
        ];
        item.get.is_some() && others.iter().all(|other| other.is_none())
    }));
    (schemas, paths, axum::routing::get(lean))
}
