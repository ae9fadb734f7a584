//! The token as a fleet of replicas shares it through Redis, and how: when a replica takes it and
//! when it renews it for the fleet is the token's lifecycle, in the parent module. It is sealed with AES-256-GCM under a key derived (PBKDF2-HMAC-SHA256) from the
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

use super::token::{Issued, TOKEN_LIFETIME, Token};
use crate::shared::{FleetToken, SharedState, now_ms};

/// Binds a sealed token to its purpose, so no other sealed value can stand in for it.
const CONTEXT: &[u8] = b"anaplan-gateway fleet token v1";
/// Slows down guessing a password from a sealed token; paid once, at start.
const KEY_ROUNDS: NonZeroU32 = NonZeroU32::new(100_000).expect("not zero");
/// How long the fleet keeps its token: long past the token's own life, since an OAuth refresh
/// token rides with it.
pub const KEPT: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The fleet's token store and the key that seals what goes into it.
pub struct FleetTokens {
    /// Where the token is shared.
    pub state: Arc<SharedState>,
    key: LessSafeKey,
    /// How long one replica may renew for the fleet: two auth calls (a refresh, then a login)
    /// and a margin. Released as soon as the renewal ends.
    pub lease: Duration,
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
    pub fn seal(&self, issued: &Issued, refresh_token: Option<&SecretString>) -> Option<Vec<u8>> {
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
    pub fn open(&self, stored: &FleetToken) -> Option<Opened> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SharedSettings;

    fn store(secret: &str) -> FleetTokens {
        let settings = SharedSettings {
            url: "redis://127.0.0.1:1".parse().unwrap(),
            password_file: None,
            ca_file: None,
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
