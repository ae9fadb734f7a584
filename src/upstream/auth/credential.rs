//! What a credential method is: a way to obtain a token, and to renew one. Basic, certificate and
//! OAuth are implementations; when each is used is the token's lifecycle, apart.

use futures_util::future::BoxFuture;
use secrecy::{SecretSlice, SecretString};

use super::api::AuthApi;
use super::token::{Issued, Token};
use crate::upstream::error::UpstreamError;

/// A way to obtain an Anaplan token. Each method is one implementation; the token's lifecycle
/// around it is [`TokenManager`](super::TokenManager)'s.
pub trait Credential: Send + Sync {
    /// The method's name, as operators configure it.
    fn method(&self) -> &'static str;

    /// Obtains a new token.
    fn login<'a>(&'a self, auth: &'a AuthApi) -> BoxFuture<'a, Result<Issued, UpstreamError>>;

    /// Whether a renewal is a new login (OAuth trades its refresh token for both), so the
    /// lifecycle does not follow a failed renewal with a login at once.
    fn renews_by_login(&self) -> bool {
        false
    }

    /// What every replica of a fleet holds of these credentials, read once: the key that seals
    /// the fleet's shared token is derived from it. `None` when it cannot be read.
    fn fleet_secret(&self) -> Option<SecretSlice<u8>>;

    /// The newest refresh token, for a method that has one (OAuth), to share with the fleet.
    fn refresh_token(&self) -> Option<SecretString> {
        None
    }

    /// Takes the newest refresh token from the fleet, for a method that has one.
    fn adopt_refresh_token(&self, _newest: SecretString) {}

    /// Renews a token that is still valid; Anaplan's `/token/refresh` unless the method has its own.
    fn renew<'a>(
        &'a self,
        auth: &'a AuthApi,
        token: &'a Token,
    ) -> BoxFuture<'a, Result<Issued, UpstreamError>> {
        Box::pin(auth.refresh(token))
    }
}
