//! The token as a fleet of replicas shares it through Redis: sealed with AES-256-GCM under a key
//! derived (HKDF-SHA256) from the credentials every replica already holds, so a reader of Redis
//! without them cannot use it. With the token goes its expiry and, for OAuth, the newest refresh
//! token, so a rotated one reaches every replica in the same atomic write.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::time::Instant;

use super::token::{TOKEN_LIFETIME, Token};
use crate::shared::{FleetToken, SharedState, now_ms};

/// Binds a sealed token to its purpose, so no other sealed value can stand in for it.
const CONTEXT: &[u8] = b"anaplan-gateway fleet token v1";

/// The fleet's token store and the key that seals what goes into it.
pub struct FleetTokens {
    /// Where the token is shared.
    pub state: Arc<SharedState>,
    key: LessSafeKey,
}

/// A token read from the fleet.
pub struct Opened {
    /// The token, numbered by the fleet's generation.
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
    /// A store on `state` sealing with a key derived from `secret` (the credentials).
    pub fn new(state: Arc<SharedState>, secret: &SecretSlice<u8>) -> Self {
        let pseudo_random = Salt::new(HKDF_SHA256, CONTEXT).extract(secret.expose_secret());
        let okm = pseudo_random
            .expand(&[CONTEXT], &AES_256_GCM)
            .expect("an AES-256 key is well within HKDF-SHA256's output");
        let key = LessSafeKey::new(UnboundKey::from(okm));
        Self { state, key }
    }

    /// Seals `token` (and the newest refresh token) under a fresh random nonce.
    pub fn seal(&self, token: &Token, refresh_token: Option<&SecretString>) -> Vec<u8> {
        let now = Instant::now();
        let left = token.expires_at.saturating_duration_since(now);
        let plain = Plain {
            token: token.value.expose_secret().to_owned(),
            expires_ms: now_ms() + i64::try_from(left.as_millis()).unwrap_or(0),
            refresh_token: refresh_token.map(|t| t.expose_secret().to_owned()),
        };
        let mut sealed = vec![0; NONCE_LEN];
        if aws_lc_rs::rand::fill(&mut sealed).is_err() {
            return Vec::new();
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed).expect("NONCE_LEN bytes");
        let mut in_out = serde_json::to_vec(&plain).unwrap_or_default();
        drop(plain);
        if self
            .key
            .seal_in_place_append_tag(nonce, Aad::from(CONTEXT), &mut in_out)
            .is_err()
        {
            return Vec::new();
        }
        sealed.extend_from_slice(&in_out);
        sealed
    }

    /// Opens a token the fleet stores; `None` when it was sealed with other credentials (or is
    /// damaged), which the caller treats as no token.
    pub fn open(&self, stored: &FleetToken) -> Option<Opened> {
        let (nonce, sealed) = stored.sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(CONTEXT), &mut in_out)
            .ok()?;
        let plain: Plain = serde_json::from_slice(plain).ok()?;
        let left = Duration::from_millis(u64::try_from(plain.expires_ms - now_ms()).unwrap_or(0));
        Some(Opened {
            token: Token {
                value: SecretString::from(plain.token),
                expires_at: Instant::now() + left.min(TOKEN_LIFETIME),
                generation: stored.generation,
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
            prefix: "test".into(),
        };
        let state = Arc::new(SharedState::new(&settings).unwrap());
        FleetTokens::new(state, &SecretSlice::from(secret.as_bytes().to_vec()))
    }

    fn token(value: &str) -> Token {
        Token {
            value: SecretString::from(value.to_owned()),
            expires_at: Instant::now() + Duration::from_secs(600),
            generation: 0,
        }
    }

    #[tokio::test]
    async fn a_sealed_token_opens_only_with_the_same_credentials() {
        let ours = store("svc@example.com\0password");
        let refresh = SecretString::from("refresh-me".to_owned());
        let sealed = ours.seal(&token("token-value-123"), Some(&refresh));
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("token-value-123") && !text.contains("refresh-me"));
        let stored = FleetToken {
            generation: 7,
            sealed,
        };
        let opened = ours.open(&stored).expect("the same credentials open it");
        assert_eq!(opened.token.value.expose_secret(), "token-value-123");
        assert_eq!(opened.token.generation, 7);
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
