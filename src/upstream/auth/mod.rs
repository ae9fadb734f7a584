//! The one Anaplan token every caller shares: when it is obtained, renewed and replaced.
//!
//! *How* a token is obtained is a [`Credential`] ([`basic`], [`certificate`], [`oauth`]); *when* is
//! decided here, the same for every method. Anaplan asks for one token per 35-minute session
//! rather than one per call. The token is renewed when less than [`REFRESH_MARGIN`] of it is left,
//! in the background: no caller waits for that, and all keep using the still-valid token until the
//! new one lands (or the renewal fails). Only a caller that finds no valid token waits for one. A
//! token Anaplan rejected is replaced once, however many requests saw the rejection. A failed
//! login is not tried again until its pause ends (doubling up to 5 minutes), since repeated bad
//! logins can lock the account.
//!
//! In a fleet sharing Redis, the replicas share one token ([`fleet`]): a replica that needs one
//! first reads the fleet's; only the replica holding the renewal lease obtains a new one, and
//! stores it only over the generation it saw. While Redis does not answer, each replica holds
//! its own token, as one process alone does.

mod api;
mod basic;
pub mod certificate;
mod credential;
mod fleet;
mod fleet_renewal;
mod oauth;
mod token;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;
use tracing::Instrument;

pub use api::AuthApi;
pub use basic::Basic;
pub use certificate::Certificate;
pub use credential::Credential;
pub use oauth::OAuth;
pub use token::{Issued, REFRESH_MARGIN, TOKEN_LIFETIME, Token};

use crate::backoff::{Backoff, FailureStreak};
use crate::shared::SharedState;
use crate::upstream::error::UpstreamError;
use fleet::FleetTokens;

/// Pauses between failed logins: 5 s, doubling while failures repeat, up to 5 minutes.
const LOGIN_BACKOFF: Backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(5 * 60));

/// Whom the gateway acts as, after one login.
#[derive(Debug)]
pub struct Identity {
    /// The credential method used.
    pub method: &'static str,
    /// The Anaplan user, as `/token/validate` names it.
    pub user: String,
    /// When the token obtained runs out.
    pub expires_at: std::time::SystemTime,
}

/// Holds, renews and replaces the shared token.
pub struct TokenManager {
    auth: AuthApi,
    credential: Box<dyn Credential>,
    /// The token in use; a std `RwLock` since it is only cloned out, never held across an await.
    current: RwLock<Option<Arc<Token>>>,
    /// Held by the one task renewing the token (an async mutex: held across the auth call);
    /// counts logins, which number the token's generations.
    renewal: Arc<Mutex<u64>>,
    /// Failed logins in a row, and the last one while its pause lasts.
    failures: std::sync::Mutex<FailureStreak<UpstreamError>>,
    /// The fleet's token store, when replicas share Redis.
    fleet: Option<FleetTokens>,
}

impl TokenManager {
    /// A manager that obtains tokens from `auth` with `credential`, sharing them with the fleet
    /// through `shared` when given.
    pub fn new(
        auth: AuthApi,
        credential: Box<dyn Credential>,
        shared: Option<Arc<SharedState>>,
    ) -> Self {
        let fleet = shared.and_then(|state| match credential.fleet_secret() {
            Some(secret) => Some(FleetTokens::new(state, &secret, auth.timeout())),
            None => {
                tracing::warn!("the credentials could not be read to seal a shared token: this replica keeps a token of its own");
                None
            }
        });
        Self {
            auth,
            credential,
            current: RwLock::new(None),
            renewal: Arc::new(Mutex::new(0)),
            failures: std::sync::Mutex::default(),
            fleet,
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
            Some(token) if !token.needs_renewal(now) => Ok(token),
            Some(token) if token.is_usable(now) => {
                self.renew_in_background(now);
                Ok(token)
            }
            _ => {
                let generation = self.renewal.clone().lock_owned().await;
                self.renew_detached(generation, None).await
            }
        }
    }

    /// Starts a renewal unless one is under way or a failed login is still remembered, so an
    /// auth API that is down is asked once per pause, not once per request.
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
    pub async fn replace_rejected(
        self: &Arc<Self>,
        rejected: &Arc<Token>,
    ) -> Result<Arc<Token>, UpstreamError> {
        let generation = self.renewal.clone().lock_owned().await;
        self.renew_detached(generation, Some(rejected.clone()))
            .await
    }

    /// Renews apart from the caller: a caller that gives up (its request timed out) must not cut
    /// a renewal short, which could leave a fleet's renewal lease held or a rotated refresh token
    /// unshared.
    async fn renew_detached(
        self: &Arc<Self>,
        generation: OwnedMutexGuard<u64>,
        rejected: Option<Arc<Token>>,
    ) -> Result<Arc<Token>, UpstreamError> {
        let manager = self.clone();
        let renewal = async move { manager.renew(generation, rejected.as_deref()).await };
        tokio::spawn(renewal.in_current_span())
            .await
            .unwrap_or_else(|_| Err(UpstreamError::Unreachable("the gateway is stopping".into())))
    }

    async fn renew(
        &self,
        mut generation: OwnedMutexGuard<u64>,
        rejected: Option<&Token>,
    ) -> Result<Arc<Token>, UpstreamError> {
        let now = Instant::now();
        let current = self.current();
        // Another task may have renewed while this one waited for the lock.
        if let Some(token) = &current {
            let replaced = rejected.is_some_and(|old| old.generation != token.generation);
            let fresh = rejected.is_none() && !token.needs_renewal(now);
            if replaced || fresh {
                return Ok(token.clone());
            }
        }
        if let Some(fleet) = &self.fleet
            && let Some(token) = self
                .renew_with_fleet(fleet, &mut generation, current.as_ref(), rejected)
                .await?
        {
            return Ok(token);
        }
        let renewable = current
            .as_ref()
            .filter(|token| rejected.is_none() && token.is_usable(now));
        let issued = self.obtain(renewable.map(|token| &**token)).await?;
        Ok(self.hold(&mut generation, issued))
    }

    /// A new token: `renewable` renewed, or a login.
    async fn obtain(&self, renewable: Option<&Token>) -> Result<Issued, UpstreamError> {
        Ok(match renewable {
            // A method that renews by logging in again (OAuth) goes straight to its login: a
            // failed renewal must not be followed at once by a second use of the same secret.
            Some(token) if !self.credential.renews_by_login() => {
                match self.credential.renew(&self.auth, token).await {
                    Ok(renewed) => renewed,
                    Err(_) => self.login().await?,
                }
            }
            _ => self.login().await?,
        })
    }

    /// Makes `issued` the token in use. A token is one generation while its value stays (a
    /// refresh may keep it), so a 401 to that value still leads to a new login; a new value is a
    /// new generation.
    fn hold(&self, generation: &mut u64, issued: Issued) -> Arc<Token> {
        let same_value = self
            .current()
            .is_some_and(|token| token.value.expose_secret() == issued.value.expose_secret());
        if !same_value {
            *generation += 1;
        }
        let token = Arc::new(Token {
            value: issued.value,
            expires_at: issued.expires_at,
            generation: *generation,
        });
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token.clone());
        token
    }

    async fn login(&self) -> Result<Issued, UpstreamError> {
        if let Some(error) = self.failure_in_force(Instant::now()) {
            return Err(error);
        }
        let result = self.credential.login(&self.auth).await;
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => failures.clear(),
            Err(error) => {
                // A 429 pauses logins for at least its Retry-After.
                let at_least = error.asked_pause();
                failures.record(error.clone(), LOGIN_BACKOFF, at_least, Instant::now());
            }
        }
        result
    }

    /// Logs in once, and asks Anaplan whom the token acts as: what `anaplan-gateway check` shows.
    pub async fn check(&self) -> Result<Identity, UpstreamError> {
        let issued = self.credential.login(&self.auth).await?;
        let token = Token {
            value: issued.value,
            expires_at: issued.expires_at,
            generation: 0,
        };
        let user = self.auth.validate(&token).await?;
        let left = token.expires_at.saturating_duration_since(Instant::now());
        Ok(Identity {
            method: self.credential.method(),
            user,
            expires_at: std::time::SystemTime::now() + left,
        })
    }

    /// What is left of the last failed login's pause.
    fn login_pause_left(&self) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Some(failures.in_force(now)?.until - now)
    }

    /// The last failed login's error while its pause lasts.
    fn failure_in_force(&self, now: Instant) -> Option<UpstreamError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let failure = failures.in_force(now)?;
        Some(failure.error.with_remaining(failure.until - now))
    }
}
