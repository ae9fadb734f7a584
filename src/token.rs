//! The one Anaplan token every caller shares.
//!
//! Anaplan asks for one token per 35-minute session rather than one per call. The token is
//! refreshed with `/token/refresh` when less than [`REFRESH_MARGIN`] of it is left, in the
//! background: no caller waits for that, and all keep using the still-valid token until the new
//! one lands (or the renewal fails). Only a caller that finds no valid token waits for one. A
//! token Anaplan rejected is replaced once, however many requests saw the rejection.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{Credentials, PasswordSource};
use crate::upstream::{UpstreamError, wire::TokenEnvelope};

/// Anaplan's documented token lifetime, assumed when `expiresAt` is missing.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(35 * 60);
/// Refresh when less than this is left (Anaplan Connect refreshes at 5 minutes too).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// First pause after a failed authentication; it doubles while failures repeat.
const AUTH_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// Longest pause between failed authentications.
const MAX_AUTH_RETRY_PAUSE: Duration = Duration::from_secs(5 * 60);

/// A token and when it runs out. `Debug` shows only the generation.
pub struct Token {
    value: SecretString,
    expires_at: Instant,
    /// Tells apart the token a request used from a newer one that replaced it.
    generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The `Authorization` header value, marked sensitive so no HTTP layer prints it.
    pub fn header_value(&self) -> HeaderValue {
        let mut value =
            HeaderValue::from_str(&format!("AnaplanAuthToken {}", self.value.expose_secret()))
                .unwrap_or_else(|_| HeaderValue::from_static("AnaplanAuthToken invalid"));
        value.set_sensitive(true);
        value
    }

    fn is_usable(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    fn needs_refresh(&self, now: Instant) -> bool {
        now + REFRESH_MARGIN >= self.expires_at
    }
}

/// Holds, refreshes and replaces the shared token.
pub struct TokenManager {
    http: reqwest::Client,
    authenticate_url: Url,
    refresh_url: Url,
    credentials: Credentials,
    timeout: Duration,
    current: RwLock<Option<Arc<Token>>>,
    /// Held by the one task renewing the token; counts authentications.
    renewal: Arc<Mutex<u64>>,
    /// Failed authentications in a row, and until when the last one is remembered.
    failure: std::sync::Mutex<(u32, Option<(Instant, UpstreamError)>)>,
}

impl TokenManager {
    /// A manager that authenticates against `auth_url` with `credentials`.
    pub fn new(
        http: reqwest::Client,
        auth_url: &Url,
        credentials: Credentials,
        timeout: Duration,
    ) -> Self {
        let endpoint = |path: &str| {
            let mut url = auth_url.clone();
            url.path_segments_mut()
                .expect("validated as an http(s) URL")
                .pop_if_empty()
                .extend(["token", path]);
            url
        };
        Self {
            http,
            authenticate_url: endpoint("authenticate"),
            refresh_url: endpoint("refresh"),
            credentials,
            timeout,
            current: RwLock::new(None),
            renewal: Arc::new(Mutex::new(0)),
            failure: std::sync::Mutex::new((0, None)),
        }
    }

    fn current(&self) -> Option<Arc<Token>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A token to call the Integration API with: the current one while it is valid (starting
    /// its renewal in the background once it is due), or a new one, waited for.
    pub async fn token(self: &Arc<Self>) -> Result<Arc<Token>, UpstreamError> {
        let now = Instant::now();
        match self.current() {
            Some(token) if !token.needs_refresh(now) => Ok(token),
            Some(token) if token.is_usable(now) => {
                self.renew_in_background(now);
                Ok(token)
            }
            _ => {
                let generation = self.renewal.clone().lock_owned().await;
                self.renew(generation, None).await
            }
        }
    }

    /// Starts a renewal unless one is under way or a failed authentication is still remembered,
    /// so an auth API that is down is asked once per pause, not once per request.
    fn renew_in_background(self: &Arc<Self>, now: Instant) {
        if self.failure_in_force(now).is_some() {
            return;
        }
        let Ok(generation) = self.renewal.clone().try_lock_owned() else {
            return;
        };
        let manager = self.clone();
        // Its outcome is logged where the auth calls are made; callers keep the valid token.
        tokio::spawn(
            async move {
                let _ = manager.renew(generation, None).await;
            }
            .in_current_span(),
        );
    }

    /// Replaces `rejected` after Anaplan answered 401 to it; if another request already replaced
    /// it, that newer token is returned without calling Anaplan again.
    pub async fn replace_rejected(&self, rejected: &Token) -> Result<Arc<Token>, UpstreamError> {
        let generation = self.renewal.clone().lock_owned().await;
        self.renew(generation, Some(rejected.generation)).await
    }

    async fn renew(
        &self,
        mut generation: OwnedMutexGuard<u64>,
        rejected: Option<u64>,
    ) -> Result<Arc<Token>, UpstreamError> {
        let now = Instant::now();
        let current = self.current();
        // Another task may have renewed while this one waited for the lock.
        if let Some(token) = &current {
            let replaced = rejected.is_some_and(|old| old != token.generation);
            let fresh = rejected.is_none() && !token.needs_refresh(now);
            if replaced || fresh {
                return Ok(token.clone());
            }
        }
        let refreshed = match current {
            Some(token) if rejected.is_none() && token.is_usable(now) => {
                self.refresh(&token).await.ok()
            }
            _ => None,
        };
        // A refresh keeps the token's value, so it keeps its generation: a 401 to that value
        // must still lead to a new authentication.
        let (value, expires_at) = match refreshed {
            Some(renewed) => renewed,
            None => {
                let authenticated = self.authenticate().await?;
                *generation += 1;
                authenticated
            }
        };
        let token = Arc::new(Token {
            value,
            expires_at,
            generation: *generation,
        });
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token.clone());
        Ok(token)
    }

    async fn authenticate(&self) -> Result<(SecretString, Instant), UpstreamError> {
        // After a failure, wait before trying again: repeated bad logins can lock the account.
        if let Some(error) = self.failure_in_force(Instant::now()) {
            return Err(error);
        }
        let result = self.try_authenticate().await;
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => *failure = (0, None),
            Err(error) => {
                failure.0 += 1;
                let pause = match error {
                    UpstreamError::RateLimited { retry_after } => *retry_after,
                    _ => AUTH_RETRY_PAUSE.saturating_mul(2u32.saturating_pow(failure.0 - 1)),
                }
                .min(MAX_AUTH_RETRY_PAUSE);
                failure.1 = Some((Instant::now() + pause, error.clone()));
            }
        }
        result
    }

    /// The last failed authentication's error while its pause lasts.
    fn failure_in_force(&self, now: Instant) -> Option<UpstreamError> {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        let (until, error) = failure.1.as_ref()?;
        (now < *until).then(|| error.clone())
    }

    async fn try_authenticate(&self) -> Result<(SecretString, Instant), UpstreamError> {
        let password = self.password().await?;
        let request = self
            .http
            .post(self.authenticate_url.clone())
            .basic_auth(&self.credentials.username, Some(password.expose_secret()));
        let result = self.exchange(request).await;
        metrics::counter!("anaplan_gateway_token_authentications_total",
            "outcome" => if result.is_ok() { "ok" } else { "error" })
        .increment(1);
        match &result {
            Ok(_) => tracing::info!("authenticated with Anaplan"),
            Err(err) => tracing::warn!(error = %err, "authentication with Anaplan failed"),
        }
        result
    }

    async fn refresh(&self, token: &Token) -> Result<(SecretString, Instant), UpstreamError> {
        let request = self
            .http
            .post(self.refresh_url.clone())
            .header(reqwest::header::AUTHORIZATION, token.header_value());
        let result = self.exchange(request).await;
        metrics::counter!("anaplan_gateway_token_refreshes_total",
            "outcome" => if result.is_ok() { "ok" } else { "error" })
        .increment(1);
        if let Err(err) = &result {
            tracing::warn!(error = %err, "token refresh failed; authenticating again");
        }
        result
    }

    /// The password, read from its file at every authentication so a rotated Secret is used.
    async fn password(&self) -> Result<SecretString, UpstreamError> {
        match &self.credentials.password {
            PasswordSource::Inline(secret) => Ok(secret.clone()),
            PasswordSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|err| {
                    tracing::error!(path = %path.display(), error = %err, "cannot read ANAPLAN_PASSWORD_FILE");
                    UpstreamError::Unauthorized
                })?;
                Ok(SecretString::from(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            }
        }
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(SecretString, Instant), UpstreamError> {
        let response = request
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| crate::upstream::transport_error(&err))?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => {
                return Err(UpstreamError::Unauthorized);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(UpstreamError::RateLimited {
                    retry_after: crate::upstream::retry_after(response.headers()),
                });
            }
            status => {
                return Err(UpstreamError::Server {
                    status: status.as_u16(),
                });
            }
        }
        // Fixed wording: a parse error could quote the token.
        let body: TokenEnvelope = response
            .json()
            .await
            .map_err(|_| UpstreamError::BadBody("the token answer could not be read".into()))?;
        let info = body.token_info;
        // A token no header can carry would be rejected on every call: refuse it here, once.
        if info.token_value.is_empty() || HeaderValue::from_str(&info.token_value).is_err() {
            return Err(UpstreamError::BadBody(
                "the token answer carries no usable token".into(),
            ));
        }
        Ok((
            SecretString::from(info.token_value),
            expiry(info.expires_at),
        ))
    }
}

/// Turns Anaplan's `expiresAt` (ms since the epoch) into a monotonic deadline, never later than
/// the documented lifetime. A new token that seems to expire within the refresh margin means the
/// clocks disagree; the documented lifetime is assumed rather than renewing on every call.
fn expiry(expires_at_ms: Option<i64>) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64);
    let left = expires_at_ms
        .map(|at| Duration::from_millis(at.saturating_sub(now_ms).max(0) as u64))
        .filter(|left| *left > REFRESH_MARGIN)
        .unwrap_or(TOKEN_LIFETIME)
        .min(TOKEN_LIFETIME);
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_capped_at_the_documented_lifetime_and_defaults_to_it() {
        let now = Instant::now();
        let far = expiry(Some(i64::MAX));
        assert!(far <= now + TOKEN_LIFETIME + Duration::from_secs(1));
        let missing = expiry(None);
        assert!(missing >= now + TOKEN_LIFETIME - Duration::from_secs(1));
        let skewed = expiry(Some(0));
        assert!(
            skewed >= now + TOKEN_LIFETIME - Duration::from_secs(1),
            "clock skew is not churn"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token {
            value: SecretString::from("very-secret-token".to_owned()),
            expires_at: Instant::now(),
            generation: 3,
        };
        assert!(!format!("{token:?}").contains("very-secret-token"));
        let header = token.header_value();
        assert_eq!(header, "AnaplanAuthToken very-secret-token");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("very-secret-token"));
    }
}
