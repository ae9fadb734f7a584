//! Objects named by their names: a request that gives `objectName` instead of `objectId` has
//! its object filled in once the request is admitted, so a caller the gateway refuses costs
//! Anaplan no list call. The caller's cold lookup is counted then, once the object is known.

use std::sync::Arc;

use axum::extract::Request;

use super::access;
use super::error::ApiError;
use super::params;
use crate::callers::Caller;
use crate::service::{Lookup, StatusService};

/// What naming a request's object needs of the request, read before anything is awaited.
pub struct Naming {
    name: Option<String>,
    caller: Option<Arc<Caller>>,
}

impl Naming {
    /// The `objectName` the request gives, checked, and its caller.
    pub fn of(request: &Request) -> Result<Self, ApiError> {
        Ok(Self {
            name: params::object_name(request.uri())?,
            caller: access::caller(request).cloned(),
        })
    }

    /// `name` (checked already, as a batch's item gives it) and the request's caller.
    pub fn named(name: Option<String>, caller: Option<Arc<Caller>>) -> Self {
        Self { name, caller }
    }

    /// Fills in the object `lookup` names, if it names one, and counts the caller's cold
    /// lookup when the answer would need Anaplan.
    pub async fn fill(
        self,
        service: &StatusService,
        lookup: &mut impl Lookup,
    ) -> Result<(), ApiError> {
        let Some(name) = self.name else {
            return Ok(());
        };
        // Boxed: a name's lookup is a large future, and every request (a held one too) would
        // otherwise carry its room for as long as it lives.
        Box::pin(service.name_object(lookup, &name)).await?;
        if let Some(caller) = self.caller
            && service.is_cold(lookup)
        {
            caller
                .cold_lookup()
                .map_err(|refused| access::refusal(&caller, refused))?;
        }
        Ok(())
    }
}
