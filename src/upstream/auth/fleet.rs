//! The token as a fleet of replicas shares it through Redis: one login for the fleet, renewals by
//! the one replica holding the renewal lease, and each new token stored only over the generation
//! its renewer saw. It is sealed with AES-256-GCM under a key derived (PBKDF2-HMAC-SHA256) from the
//! credentials every replica already holds, so a reader of Redis without them cannot use it. With
//! the token goes its expiry and, for OAuth, the newest refresh token, so a rotated one reaches
//! every replica in the same atomic write.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::pbkdf2;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::time::Instant;

use super::TokenManager;
use super::token::{Issued, TOKEN_LIFETIME, Token};
use crate::shared::{FleetLook, FleetToken, Renewal, SharedState, Written, now_ms};
use crate::upstream::error::UpstreamError;

/// Binds a sealed token to its purpose, so no other sealed value can stand in for it.
const CONTEXT: &[u8] = b"anaplan-gateway fleet token v1";
/// Slows down guessing a password from a sealed token; paid once, at start.
const KEY_ROUNDS: NonZeroU32 = NonZeroU32::new(100_000).expect("not zero");
/// How long the fleet keeps its token: long past the token's own life, since an OAuth refresh
/// token rides with it.
const KEPT: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// How often a replica waiting on another's renewal looks for its token.
const LOOK_AGAIN: Duration = Duration::from_millis(100);

/// The fleet's token store and the key that seals what goes into it.
pub struct FleetTokens {
    state: Arc<SharedState>,
    key: LessSafeKey,
    /// How long one replica may renew for the fleet: two auth calls (a refresh, then a login)
    /// and a margin. Released as soon as the renewal ends.
    lease: Duration,
    /// Whether a token sealed under other credentials was reported, so it is said once.
    reported_foreign: AtomicBool,
}

/// A token read from the fleet.
pub struct Opened {
    /// The token; its generation is this replica's, given when it is held.
    pub token: Token,
    /// The newest OAuth refresh token, when the method has one.
    pub refresh_token: Option<SecretString>,
}

/// What is sealed: the token, its expiry (wall clock, ms) and the newest refresh token.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plain {
    token: String,
    expires_ms: i64,
    refresh_token: Option<String>,
}

impl FleetTokens {
    /// A store on `state` sealing with a key derived from `secret` (the credentials), for auth
    /// calls bounded by `auth_timeout`.
    pub fn new(state: Arc<SharedState>, secret: &SecretSlice<u8>, auth_timeout: Duration) -> Self {
        let mut key = [0; 32];
        let algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
        pbkdf2::derive(
            algorithm,
            KEY_ROUNDS,
            CONTEXT,
            secret.expose_secret(),
            &mut key,
        );
        let key = UnboundKey::new(&AES_256_GCM, &key).expect("a 256-bit key");
        Self {
            state,
            key: LessSafeKey::new(key),
            lease: auth_timeout * 2 + Duration::from_secs(5),
            reported_foreign: AtomicBool::new(false),
        }
    }

    /// Seals `issued` (and the newest refresh token) under a fresh random nonce; `None` if the
    /// system's randomness fails, when nothing is shared.
    fn seal(&self, issued: &Issued, refresh_token: Option<&SecretString>) -> Option<Vec<u8>> {
        let left = issued.expires_at.saturating_duration_since(Instant::now());
        let plain = Plain {
            token: issued.value.expose_secret().to_owned(),
            expires_ms: now_ms() + i64::try_from(left.as_millis()).unwrap_or(0),
            refresh_token: refresh_token.map(|t| t.expose_secret().to_owned()),
        };
        let mut in_out = serde_json::to_vec(&plain).ok()?;
        let mut sealed = vec![0; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut sealed).ok()?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed).ok()?;
        (self.key)
            .seal_in_place_append_tag(nonce, Aad::from(CONTEXT), &mut in_out)
            .ok()?;
        sealed.extend_from_slice(&in_out);
        Some(sealed)
    }

    /// Opens a token the fleet stores; `None` when it was sealed with other credentials (said
    /// once in the log) or is damaged, which the caller treats as no token.
    fn open(&self, stored: &FleetToken) -> Option<Opened> {
        let opened = self.try_open(stored);
        if opened.is_none() && !self.reported_foreign.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the fleet's token was sealed with other credentials: replicas sharing Redis must hold the same ones"
            );
        }
        opened
    }

    fn try_open(&self, stored: &FleetToken) -> Option<Opened> {
        let (nonce, sealed) = stored.sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = sealed.to_vec();
        let plain = (self.key)
            .open_in_place(nonce, Aad::from(CONTEXT), &mut in_out)
            .ok()?;
        let plain: Plain = serde_json::from_slice(plain).ok()?;
        let left = u64::try_from(plain.expires_ms.saturating_sub(now_ms())).unwrap_or(0);
        let left = Duration::from_millis(left).min(TOKEN_LIFETIME);
        Some(Opened {
            token: Token {
                value: SecretString::from(plain.token),
                expires_at: Instant::now() + left,
                generation: 0,
            },
            refresh_token: plain.refresh_token.map(SecretString::from),
        })
    }
}

impl TokenManager {
    /// The fleet's token when it is good, else a new one obtained by this replica while it holds
    /// the fleet's renewal lease; while another replica renews, the valid token in use goes on.
    /// `None` when Redis does not answer (or another renewal takes too long): renew alone.
    pub(super) async fn renew_with_fleet(
        &self,
        fleet: &FleetTokens,
        generation: &mut u64,
        current: Option<&Arc<Token>>,
        rejected: Option<&Token>,
    ) -> Result<Option<Arc<Token>>, UpstreamError> {
        let give_up_at = Instant::now() + fleet.lease;
        let mut lease = None;
        let outcome = loop {
            let Some(look) = fleet.state.fleet_token().await else {
                break Ok(None);
            };
            let now = Instant::now();
            let FleetLook {
                token: stored,
                login_failure,
            } = look;
            let seen = stored.as_ref().map_or(0, |stored| stored.generation);
            let opened = stored.as_ref().and_then(|stored| fleet.open(stored));
            let good = opened.as_ref().is_some_and(|opened| {
                let token = &opened.token;
                let value = token.value.expose_secret();
                !token.needs_renewal(now)
                    && rejected.is_none_or(|old| old.value.expose_secret() != value)
            });
            // The valid token in use, unless Anaplan rejected it.
            let keep_current = current.filter(|token| rejected.is_none() && token.is_usable(now));
            if good {
                break Ok(opened.map(|opened| self.adopt(generation, opened)));
            }
            if let Some((failure, pause)) = login_failure {
                // Another replica's login just failed: the same credentials would fail here too.
                if let Some(token) = keep_current {
                    break Ok(Some(token.clone()));
                }
                let error = serde_json::from_slice::<UpstreamError>(&failure)
                    .unwrap_or(UpstreamError::Unauthorized);
                break Err(error.with_remaining(pause));
            }
            if lease.is_some() {
                let renewed = self.renew_for_fleet(fleet, generation, opened, seen, rejected);
                break renewed.await.map(Some);
            }
            match fleet.state.take_renewal(fleet.lease).await {
                None => break Ok(None),
                // Looks again under the lease: a renewal that just ended may have stored a newer
                // token, whose refresh token must be the one traded next.
                Some(Renewal::Taken(taken)) => {
                    lease = Some(taken);
                    continue;
                }
                Some(Renewal::Held) => {}
            }
            if let Some(token) = keep_current {
                break Ok(Some(token.clone()));
            }
            if now >= give_up_at {
                break Ok(None);
            }
            tokio::time::sleep(LOOK_AGAIN).await;
        };
        if let Some(lease) = lease {
            fleet.state.release_renewal(lease).await;
        }
        outcome
    }

    /// Obtains a new token for the fleet, renewing the fleet's own when it is still valid, and
    /// stores it over generation `seen` only; a failed login is kept for the fleet while its pause
    /// lasts.
    async fn renew_for_fleet(
        &self,
        fleet: &FleetTokens,
        generation: &mut u64,
        opened: Option<Opened>,
        seen: u64,
        rejected: Option<&Token>,
    ) -> Result<Arc<Token>, UpstreamError> {
        let now = Instant::now();
        let fleet_token = opened.map(|opened| {
            // The newest refresh token is the fleet's: an older one may be spent already.
            if let Some(refresh_token) = opened.refresh_token {
                self.credential.adopt_refresh_token(refresh_token);
            }
            opened.token
        });
        let own = self.current();
        let renewable = (fleet_token.as_ref())
            .or(own.as_deref())
            .filter(|token| rejected.is_none() && token.is_usable(now));
        let issued = match self.obtain(renewable).await {
            Ok(issued) => issued,
            Err(error) => {
                if let Some(pause) = self.login_pause_left() {
                    let failure = serde_json::to_vec(&error).unwrap_or_default();
                    fleet.state.fail_login(failure, pause).await;
                }
                return Err(error);
            }
        };
        let refresh_token = self.credential.refresh_token();
        if let Some(sealed) = fleet.seal(&issued, refresh_token.as_ref())
            && let Some(Written::Newer(newer)) = fleet.state.write_token(seen, &sealed, KEPT).await
            && let Some(opened) = fleet.open(&newer)
            && opened.token.is_usable(Instant::now())
        {
            // Another replica stored a newer token first: that one is the fleet's.
            return Ok(self.adopt(generation, opened));
        }
        Ok(self.hold(generation, issued))
    }

    /// Makes the fleet's token the one in use, with its refresh token.
    fn adopt(&self, generation: &mut u64, opened: Opened) -> Arc<Token> {
        if let Some(refresh_token) = opened.refresh_token {
            self.credential.adopt_refresh_token(refresh_token);
        }
        let issued = Issued {
            value: opened.token.value,
            expires_at: opened.token.expires_at,
        };
        self.hold(generation, issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SharedSettings;

    fn store(secret: &str) -> FleetTokens {
        let settings = SharedSettings {
            url: "redis://127.0.0.1:1".parse().unwrap(),
            password_file: None,
            prefix: "test".into(),
        };
        let state = Arc::new(SharedState::new(&settings).unwrap());
        let secret = SecretSlice::from(secret.as_bytes().to_vec());
        FleetTokens::new(state, &secret, Duration::from_secs(30))
    }

    #[tokio::test]
    async fn a_sealed_token_opens_only_with_the_same_credentials() {
        let ours = store("svc@example.com\0password");
        let refresh = SecretString::from("refresh-me".to_owned());
        let issued = Issued {
            value: SecretString::from("token-value-123".to_owned()),
            expires_at: Instant::now() + Duration::from_secs(600),
        };
        let sealed = ours.seal(&issued, Some(&refresh)).unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("token-value-123") && !text.contains("refresh-me"));
        let stored = FleetToken {
            generation: 7,
            sealed,
        };
        let opened = ours.open(&stored).expect("the same credentials open it");
        assert_eq!(opened.token.value.expose_secret(), "token-value-123");
        assert_eq!(opened.refresh_token.unwrap().expose_secret(), "refresh-me");
        let left = opened.token.expires_at - Instant::now();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
        assert!(store("someone else").open(&stored).is_none());
        let mut damaged = stored.clone();
        damaged.sealed[NONCE_LEN] ^= 1;
        assert!(ours.open(&damaged).is_none());
        let short = FleetToken {
            generation: 1,
            sealed: vec![1, 2, 3],
        };
        assert!(ours.open(&short).is_none());
    }
}
