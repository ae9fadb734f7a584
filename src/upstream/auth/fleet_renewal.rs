//! A fleet's shared token: taken from the fleet, or renewed for it by one replica at a time, in
//! named steps: look at the fleet's token, take the renewal lease (or wait for its holder),
//! renew and store.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::TokenManager;
use super::fleet::{FleetTokens, KEPT, Opened};
use super::token::{Issued, Token};
use crate::shared::{FleetLook, Renewal, Written};
use crate::upstream::error::UpstreamError;

/// How often a replica waiting on another's renewal for the fleet looks for its token.
const FLEET_LOOK_AGAIN: Duration = Duration::from_millis(100);

/// A fleet's shared token: taken from the fleet, or renewed for it by one replica at a time.
/// What one look at the fleet's token found.
enum Found {
    /// A token good for a while yet, and not the one Anaplan rejected: the fleet's token.
    Good(Opened),
    /// Another replica's login just failed, and would fail here too: its error, for its pause.
    LoginFailed(UpstreamError),
    /// A token to renew (or none): what was opened of it, and the generation seen.
    Due { opened: Option<Opened>, seen: u64 },
}

impl TokenManager {
    /// The fleet's token when it is good, else a new one obtained by this replica while it holds
    /// the fleet's renewal lease; while another replica renews, the valid token in use goes on.
    /// `None` when Redis does not answer (or another renewal takes too long): renew alone.
    ///
    /// Each round is three steps: look at the fleet's token ([`Self::look`]); renew it when this
    /// replica holds the lease; else take the lease, or wait for the replica that holds it.
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
            let Some(found) = self.look(fleet, rejected).await else {
                break Ok(None);
            };
            let now = Instant::now();
            // The valid token in use, unless Anaplan rejected it.
            let keep_current = current.filter(|token| rejected.is_none() && token.is_usable(now));
            let (opened, seen) = match found {
                Found::Good(opened) => break Ok(Some(self.adopt(generation, opened))),
                Found::LoginFailed(error) => break keep_current.cloned().map(Some).ok_or(error),
                Found::Due { opened, seen } => (opened, seen),
            };
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
            // Another replica renews: the valid token in use goes on meanwhile, else wait.
            if let Some(token) = keep_current {
                break Ok(Some(token.clone()));
            }
            if now >= give_up_at {
                break Ok(None);
            }
            tokio::time::sleep(FLEET_LOOK_AGAIN).await;
        };
        if let Some(lease) = lease {
            fleet.state.release_renewal(lease).await;
        }
        outcome
    }

    /// One look at the fleet's token; `None` when Redis does not answer.
    async fn look(&self, fleet: &FleetTokens, rejected: Option<&Token>) -> Option<Found> {
        let FleetLook {
            token: stored,
            login_failure,
        } = fleet.state.fleet_token().await?;
        let now = Instant::now();
        let seen = stored.as_ref().map_or(0, |stored| stored.generation);
        let opened = stored.as_ref().and_then(|stored| fleet.open(stored));
        let good = opened.as_ref().is_some_and(|opened| {
            let token = &opened.token;
            let value = token.value.expose_secret();
            !token.needs_renewal(now)
                && rejected.is_none_or(|old| old.value.expose_secret() != value)
        });
        Some(match (opened, login_failure) {
            (Some(opened), _) if good => Found::Good(opened),
            (_, Some((failure, pause))) => {
                let error = serde_json::from_slice::<UpstreamError>(&failure)
                    .unwrap_or(UpstreamError::Unauthorized);
                Found::LoginFailed(error.with_remaining(pause))
            }
            (opened, None) => Found::Due { opened, seen },
        })
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
