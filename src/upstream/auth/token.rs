//! The token itself: its secret value, when it runs out, and which generation it is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

/// Anaplan's documented token lifetime, assumed when `expiresAt` is missing.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(35 * 60);
/// Renew when less than this is left (Anaplan Connect refreshes at 5 minutes too).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A token as a credential method obtained it.
pub struct Issued {
    /// The token's value.
    pub value: SecretString,
    /// When it runs out.
    pub expires_at: Instant,
}

/// A token and when it runs out. `Debug` shows only the generation.
pub struct Token {
    pub(super) value: SecretString,
    pub(super) expires_at: Instant,
    /// Tells apart the token a request used from a newer one that replaced it.
    pub(super) generation: u64,
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

    pub(super) fn is_usable(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    pub(super) fn needs_renewal(&self, now: Instant) -> bool {
        now + REFRESH_MARGIN >= self.expires_at
    }
}

/// Turns Anaplan's `expiresAt` (ms since the epoch) into a monotonic deadline, never later than
/// the documented lifetime. A new token that seems to expire within the refresh margin means the
/// clocks disagree; the documented lifetime is assumed rather than renewing on every call.
pub fn expiry(expires_at_ms: Option<i64>) -> Instant {
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
