//! The HTTP API callers use: task and model status, start, cancel, and the OpenAPI document
//! with Swagger UI.
//!
//! [`Api`] (in [`fast_path`]) answers fresh cached task answers itself and hands everything else
//! to the [`router`]: the [`routes`] read their parameters with [`params`], answer with the
//! [`headers`] built in one place, and fail with an [`error`]; a status route's GET, which may be
//! held for minutes, is served [`lean`]. [`starts`] starts tasks, [`events`] streams a task's
//! changes and [`dumps`] its failure dump; [`files`] and [`uploads`] carry files both ways;
//! [`alm`] documents ALM's kinds; [`docs`] describes them.

pub mod access;
pub mod alm;
pub mod batch;
pub mod docs;
pub mod dumps;
pub mod error;
pub mod events;
pub mod fast_path;
pub mod files;
pub mod headers;
pub mod lean;
pub mod model_actions;
pub mod names;
pub mod params;
pub mod routes;
pub mod runs;
pub mod starts;
pub mod uploads;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};
pub use fast_path::Api;
use lean::lean_routes;

use crate::service::StatusService;

/// The documented routes; the router and the OpenAPI document both come from here.
fn documented_routes() -> OpenApiRouter<StatusService> {
    let router = OpenApiRouter::with_openapi(docs::ApiDoc::openapi());
    let router = alm::documented_routes(router);
    runs::documented_routes(router)
        .routes(lean_routes!(routes::get_task))
        .routes(routes!(routes::cancel_task))
        .routes(routes!(batch::task_statuses))
        .routes(routes!(events::task_events))
        .routes(routes!(routes::list_tasks, starts::start_task))
        .routes(routes!(dumps::import_dump))
        .routes(routes!(dumps::process_dump))
        .routes(lean_routes!(routes::get_model_status))
        .routes(routes!(model_actions::open_model))
        .routes(routes!(model_actions::close_model))
        .routes(routes!(files::export_file))
        .routes(routes!(files::read_page))
        .routes(routes!(files::read_data))
        .routes(routes!(files::alm_report))
        .routes(routes!(uploads::upload_file))
}

/// The API routes, with `/openapi.json`, Swagger UI at `/docs`, and problem+json for the rest;
/// `keys_required` when callers are configured.
pub fn router(service: StatusService, keys_required: bool) -> axum::Router {
    let model_id_optional = service.default_model().is_some();
    let service_max_batch = service.max_batch();
    let (router, mut document) = documented_routes().with_state(service).split_for_parts();
    docs::event_stream(&mut document);
    docs::start_body_optional(&mut document);
    docs::max_batch(&mut document, service_max_batch);
    if model_id_optional {
        docs::model_id_optional(&mut document);
    }
    if keys_required {
        docs::keys_required(&mut document);
    }
    // No online validator: Swagger UI would otherwise send the document's address to an outside
    // host from every browser that opens the docs.
    let swagger_ui = SwaggerUi::new("/docs")
        .url("/openapi.json", document)
        .config(utoipa_swagger_ui::Config::default().validator_url("none"));
    router
        .merge(swagger_ui)
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|request: axum::extract::Request| async move {
            alm::method_refused(request.method(), request.uri().path())
        })
}

/// The OpenAPI document as served when no default model is configured (the checked-in one).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = documented_routes().into_openapi();
    docs::event_stream(&mut document);
    docs::start_body_optional(&mut document);
    document
}
