//! Basic authentication: `POST /token/authenticate` with the user name and password.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::api::AuthApi;
use super::credential::Credential;
use super::token::Issued;
use crate::config::{Credentials, PasswordSource};
use crate::secret_file;
use crate::upstream::error::UpstreamError;

/// A user name and a password, the password read from its file at every login when it has one.
pub struct Basic {
    credentials: Credentials,
}

impl Basic {
    /// Logs in with `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }

    /// The password, read from its file at every login so a rotated Secret is used.
    async fn password(&self) -> Result<SecretString, UpstreamError> {
        match &self.credentials.password {
            PasswordSource::Inline(secret) => Ok(secret.clone()),
            PasswordSource::File(path) => {
                secret_file::read_async(path).await.map_err(|err| {
                    tracing::error!(path = %path.display(), error = %err, "cannot read ANAPLAN_PASSWORD_FILE");
                    UpstreamError::Unauthorized
                })
            }
        }
    }
}

impl Credential for Basic {
    fn method(&self) -> &'static str {
        "basic"
    }

    /// The user name and the password as it is now.
    fn fleet_secret(&self) -> Option<SecretSlice<u8>> {
        let password = match &self.credentials.password {
            PasswordSource::Inline(secret) => secret.clone(),
            PasswordSource::File(path) => secret_file::read(path).ok()?,
        };
        let user = &self.credentials.username;
        let secret = format!("{user}\0{}", password.expose_secret());
        Some(SecretSlice::from(secret.into_bytes()))
    }

    fn login<'a>(&'a self, auth: &'a AuthApi) -> BoxFuture<'a, Result<Issued, UpstreamError>> {
        async move {
            let password = self.password().await?;
            let user = &self.credentials.username;
            auth.authenticate(|request| request.basic_auth(user, Some(password.expose_secret())))
                .await
        }
        .boxed()
    }
}
