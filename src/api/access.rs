//! Who may ask about what: the gateway's allow-list of models (`GATEWAY_ALLOWED_MODELS`) and,
//! with callers configured (`GATEWAY_CALLERS_FILE`), each caller's key, models, rights to cancel
//! to start and to upload, and allowance of cold lookups. All of it is checked before anything goes upstream.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header;

use super::error::ApiError;
use crate::callers::{Caller, Callers, Refused};
use crate::service::{Lookup, StatusService};

/// Paths anyone may read: the API's description, so Swagger UI loads and its "Authorize" works.
fn is_open(path: &str) -> bool {
    path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/")
}

/// The caller the request's key names: `Ok(None)` when no callers are configured or the path is
/// open to all.
pub fn authenticate(
    callers: Option<&Callers>,
    request: &Request,
) -> Result<Option<Arc<Caller>>, ApiError> {
    let Some(callers) = callers else {
        return Ok(None);
    };
    if is_open(request.uri().path()) {
        return Ok(None);
    }
    let authorization = request.headers().get(header::AUTHORIZATION);
    match callers.authenticate(authorization.map(|value| value.as_bytes())) {
        Ok(caller) => Ok(Some(caller)),
        Err(why) => {
            metrics::counter!("anaplan_gateway_unauthenticated_requests_total").increment(1);
            Err(ApiError::Unauthenticated(why))
        }
    }
}

/// The caller a routed request was authenticated as, if callers are configured.
pub fn caller(request: &Request) -> Option<&Arc<Caller>> {
    request.extensions().get::<Arc<Caller>>()
}

/// Lets a request through: the gateway's allow-list (which may fill in the workspace), then the
/// caller's models, then, when answering would need Anaplan (the lookup is cold), one of the
/// caller's cold lookups.
pub fn admit(
    service: &StatusService,
    request: &Request,
    lookup: &mut impl Lookup,
) -> Result<(), ApiError> {
    admit_caller(service, caller(request), lookup)
}

/// [`admit`], for the request's caller as found already (a batch's, once for all its items).
pub fn admit_caller(
    service: &StatusService,
    caller: Option<&Arc<Caller>>,
    lookup: &mut impl Lookup,
) -> Result<(), ApiError> {
    service.admit(lookup.model(), lookup.workspace_mut())?;
    let Some(caller) = caller else {
        return Ok(());
    };
    let refused = |refused| refusal(caller, refused);
    let workspace = (caller.may_read(lookup.model(), lookup.workspace())).map_err(refused)?;
    *lookup.workspace_mut() = workspace;
    // A request that names its object by name is counted once the name is resolved.
    if !lookup.awaits_name() && service.is_cold(lookup) {
        caller.cold_lookup().map_err(refused)?;
    }
    Ok(())
}

/// Whether the request's caller may cancel (anyone may without callers configured); the
/// caller's name, for the log.
pub fn may_cancel(request: &Request) -> Result<Option<Arc<str>>, ApiError> {
    may(request, Caller::may_cancel)
}

/// Whether the request's caller may start tasks (anyone may without callers configured); the
/// caller's name, for the log and to scope its `Idempotency-Key`s.
pub fn may_start(request: &Request) -> Result<Option<Arc<str>>, ApiError> {
    may(request, Caller::may_start)
}

/// Whether the request's caller may upload files (anyone may without callers configured).
pub fn may_write(request: &Request) -> Result<(), ApiError> {
    may(request, Caller::may_write).map(drop)
}

/// Whether the request's caller has `right`; its name.
fn may(
    request: &Request,
    right: fn(&Caller) -> Result<(), Refused>,
) -> Result<Option<Arc<str>>, ApiError> {
    let Some(caller) = caller(request) else {
        return Ok(None);
    };
    right(caller).map_err(|refused| refusal(caller, refused))?;
    Ok(Some(caller.name().clone()))
}

/// A caller's refusal as the API answers it.
pub fn refusal(caller: &Caller, refused: Refused) -> ApiError {
    ApiError::CallerRefused {
        caller: caller.name().clone(),
        refused,
    }
}
