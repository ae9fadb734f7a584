//! Anaplan's auth API (`/token/authenticate`, `/token/refresh`, `/token/validate`) and the OAuth
//! token endpoint: how a login or renewal is sent and how its answer is read, whatever the
//! credential method.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::token::{Issued, TOKEN_LIFETIME, Token, expiry};
use crate::upstream::error::UpstreamError;
use crate::upstream::gate::RateLimitGate;
use crate::upstream::response::{DEFAULT_RATE_LIMIT_PAUSE, retry_after, transport_error};
use crate::upstream::wire::{TokenEnvelope, ValidateEnvelope, WireOAuthTokens};

/// The auth API's endpoints, reached with the gateway's one HTTP client.
pub struct AuthApi {
    http: reqwest::Client,
    authenticate_url: Url,
    refresh_url: Url,
    validate_url: Url,
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
            validate_url: endpoint("validate"),
            timeout,
            gate,
        }
    }

    /// The bound on one call to the auth API.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `POST /token/authenticate`, with the credentials `sign` puts on the request.
    pub async fn authenticate(
        &self,
        sign: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Issued, UpstreamError> {
        let request = sign(self.http.post(self.authenticate_url.clone()));
        let result = self.exchange(request).await;
        count_login(&result);
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

    /// `POST {oauth}/oauth/token` with a refresh token: an access token, and with rotatable
    /// clients a new refresh token (the one sent is then spent).
    pub async fn oauth_token(
        &self,
        token_url: &Url,
        client_id: &str,
        refresh_token: &SecretString,
    ) -> Result<OAuthTokens, UpstreamError> {
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": refresh_token.expose_secret(),
        });
        let request = self.http.post(token_url.clone()).json(&body);
        let result = async {
            let response = self.send(request).await?;
            // Fixed wording: a parse error could quote a token.
            let answer: WireOAuthTokens = response
                .json()
                .await
                .map_err(|_| UpstreamError::BadBody("the OAuth answer could not be read".into()))?;
            let access = usable_token(answer.access_token)?;
            Ok(OAuthTokens {
                expires_at: Instant::now()
                    + answer
                        .expires_in
                        .map_or(TOKEN_LIFETIME, Duration::from_secs)
                        .min(TOKEN_LIFETIME),
                access,
                refresh_token: answer
                    .refresh_token
                    .filter(|t| !t.is_empty())
                    .map(SecretString::from),
            })
        }
        .await;
        count_login(&result);
        result
    }

    /// `GET /token/validate`: whom `token` acts as.
    pub async fn validate(&self, token: &Token) -> Result<String, UpstreamError> {
        let request = self
            .http
            .get(self.validate_url.clone())
            .header(AUTHORIZATION, token.header_value());
        let response = self.send(request).await?;
        let answer: ValidateEnvelope = response.json().await.map_err(|_| {
            UpstreamError::BadBody("the validation answer could not be read".into())
        })?;
        let user = answer
            .user_info
            .and_then(|user| user.user_id.or(user.user_guid));
        user.ok_or_else(|| UpstreamError::BadBody("the validation answer names no user".into()))
    }

    /// Sends a request to the auth or OAuth API, within the pause after a 429 and the timeout,
    /// and classifies its status.
    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, UpstreamError> {
        if let Some(retry_after) = self.gate.pause_left(tokio::time::Instant::now()).await {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        let response = request
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| transport_error(&err))?;
        match response.status() {
            status if status.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => {
                Err(UpstreamError::Unauthorized)
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = retry_after(response.headers(), DEFAULT_RATE_LIMIT_PAUSE);
                self.gate.close_for(retry_after);
                Err(UpstreamError::RateLimited { retry_after })
            }
            status => Err(UpstreamError::Server {
                status: status.as_u16(),
            }),
        }
    }

    async fn exchange(&self, request: RequestBuilder) -> Result<Issued, UpstreamError> {
        let response = self.send(request).await?;
        // Fixed wording: a parse error could quote the token.
        let body: TokenEnvelope = response
            .json()
            .await
            .map_err(|_| UpstreamError::BadBody("the token answer could not be read".into()))?;
        let info = body.token_info;
        Ok(Issued {
            value: usable_token(info.token_value)?,
            expires_at: expiry(info.expires_at),
        })
    }
}

/// An OAuth exchange's tokens. `Debug` is not derived: they are secrets.
pub struct OAuthTokens {
    /// The access token, used as any Anaplan token.
    pub access: SecretString,
    /// When the access token runs out.
    pub expires_at: Instant,
    /// The next refresh token, from a rotatable client.
    pub refresh_token: Option<SecretString>,
}

/// A token no header can carry would be rejected on every call: refuse it here, once.
fn usable_token(value: String) -> Result<SecretString, UpstreamError> {
    if value.is_empty() || HeaderValue::from_str(&value).is_err() {
        return Err(UpstreamError::BadBody(
            "the answer carries no usable token".into(),
        ));
    }
    Ok(SecretString::from(value))
}

fn count_login<T>(result: &Result<T, UpstreamError>) {
    metrics::counter!("anaplan_gateway_token_authentications_total",
        "outcome" => if result.is_ok() { "ok" } else { "error" })
    .increment(1);
    match result {
        Ok(_) => tracing::info!("authenticated with Anaplan"),
        Err(err) => tracing::warn!(error = %err, "authentication with Anaplan failed"),
    }
}
