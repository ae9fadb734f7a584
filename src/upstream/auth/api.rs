//! Anaplan's auth API (`/token/authenticate`, `/token/refresh`): how a login or renewal is sent
//! and how its answer is read, whatever the credential method.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use secrecy::SecretString;

use super::token::{Issued, Token, expiry};
use crate::upstream::error::UpstreamError;
use crate::upstream::gate::RateLimitGate;
use crate::upstream::response::{retry_after, transport_error};
use crate::upstream::wire::TokenEnvelope;

/// Pause after a 429 from the auth API that carried no usable `Retry-After`.
const DEFAULT_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(10);

/// The auth API's endpoints, reached with the gateway's one HTTP client.
pub struct AuthApi {
    http: reqwest::Client,
    authenticate_url: Url,
    refresh_url: Url,
    timeout: Duration,
    /// Shared with the Integration API client: a 429 here pauses every upstream call.
    gate: Arc<RateLimitGate>,
}

impl AuthApi {
    /// The auth API at `auth_url`.
    pub fn new(
        http: reqwest::Client,
        auth_url: &Url,
        timeout: Duration,
        gate: Arc<RateLimitGate>,
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
            timeout,
            gate,
        }
    }

    /// `POST /token/authenticate`, with the credentials `sign` puts on the request.
    pub async fn authenticate(
        &self,
        sign: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Issued, UpstreamError> {
        let request = sign(self.http.post(self.authenticate_url.clone()));
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

    /// `POST /token/refresh`: the same token, valid for longer.
    pub async fn refresh(&self, token: &Token) -> Result<Issued, UpstreamError> {
        let request = self
            .http
            .post(self.refresh_url.clone())
            .header(AUTHORIZATION, token.header_value());
        let result = self.exchange(request).await;
        metrics::counter!("anaplan_gateway_token_refreshes_total",
            "outcome" => if result.is_ok() { "ok" } else { "error" })
        .increment(1);
        if let Err(err) = &result {
            tracing::warn!(error = %err, "token refresh failed; authenticating again");
        }
        result
    }

    async fn exchange(&self, request: RequestBuilder) -> Result<Issued, UpstreamError> {
        if let Some(retry_after) = self.gate.remaining(tokio::time::Instant::now()) {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        let response = request
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| transport_error(&err))?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => {
                return Err(UpstreamError::Unauthorized);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = retry_after(response.headers(), DEFAULT_RATE_LIMIT_PAUSE);
                self.gate.close_for(retry_after);
                return Err(UpstreamError::RateLimited { retry_after });
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
        Ok(Issued {
            value: SecretString::from(info.token_value),
            expires_at: expiry(info.expires_at),
        })
    }
}
