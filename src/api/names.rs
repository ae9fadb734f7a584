//! Objects named by their names: a request that gives `objectName` instead of `objectId` has
//! its object filled in once the request is admitted, so a caller the gateway refuses costs
//! Anaplan no list call.

use axum::http::Uri;

use super::error::ApiError;
use super::params;
use crate::service::{Lookup, StatusService};

/// Fills in the object `request` names by `objectName` in `uri`, if it does.
pub async fn named(
    service: &StatusService,
    uri: &Uri,
    request: &mut impl Lookup,
) -> Result<(), ApiError> {
    if let Some(name) = params::object_name(uri)? {
        service.name_object(request, &name).await?;
    }
    Ok(())
}
