//! The simulated auth API: logins with basic authentication or a certificate, OAuth refresh-token
//! exchanges, refreshes that extend a token's life, validation, tokens it can revoke, and
//! failures or delays on demand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::certificate::verify;
use super::world::{AuthState, World, bearer};

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts an auth API call and plays its delay; the failure to answer with, if one is set.
async fn failure(world: &Shared, count: fn(&mut AuthState) -> &mut usize) -> Option<Response> {
    let (delay, failure) = {
        let mut world = lock(world);
        *count(&mut world.auth) += 1;
        (world.auth.delay, world.auth.failure.clone())
    };
    tokio::time::sleep(delay).await;
    Some(failure?.play("/token".into()).await)
}

fn token_body(token: &str, lifetime: Duration) -> Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    json!({
        "meta": {"validationUrl": "https://auth.anaplan.com/token/validate"},
        "status": "SUCCESS",
        "statusMessage": "Login successful",
        "tokenInfo": {"expiresAt": now_ms + lifetime.as_millis() as u64, "tokenId": "id",
                      "tokenValue": token, "refreshTokenId": "r"}
    })
}

fn refused(status: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"status": status}))).into_response()
}

/// `POST /token/authenticate`, with basic credentials or a certificate.
pub async fn authenticate(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(failure) = failure(&world, |auth| &mut auth.authentications).await {
        return failure;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut world = lock(&world);
    let accepted = if let Some(certificate) = authorization.strip_prefix("CACertificate ") {
        let auth = &mut world.auth;
        let trusted = auth.trusted_certificate.clone().unwrap_or_default();
        let verified = verify(&trusted, certificate, &body, &mut auth.seen_payloads);
        verified
            .map_err(|refusal| auth.certificate_refusals.push(refusal))
            .is_ok()
    } else {
        let Some((user, password)) = decode_basic(authorization) else {
            return refused("FAILURE_BAD_HEADER");
        };
        let right_password =
            (world.password.as_ref()).is_none_or(|expected| expected.expose_secret() == password);
        world.auth.passwords_seen.push(password);
        user == world.username && right_password
    };
    if !accepted {
        return refused("FAILURE_BAD_CREDENTIAL");
    }
    let auth = &mut world.auth;
    let token = auth.issue("token");
    let body = token_body(&token, auth.token_lifetime);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `POST /oauth/token` with `grant_type=refresh_token`: an access token, and from a rotating
/// client a new refresh token, the old one spent.
pub async fn oauth_token(State(world): State<Shared>, body: Bytes) -> Response {
    if let Some(failure) = failure(&world, |auth| &mut auth.oauth_exchanges).await {
        return failure;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut world = lock(&world);
    let auth = &mut world.auth;
    let offered = body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(client) = auth.oauth.clone().filter(|client| {
        body["grant_type"] == "refresh_token"
            && body["client_id"] == client.client_id.as_str()
            && offered == client.refresh_token
    }) else {
        if auth.spent_refresh_tokens.contains(&offered) {
            auth.spent_refresh_tokens_reused += 1;
        }
        let refusal =
            json!({"error": "invalid_grant", "error_description": "refresh token refused"});
        return (StatusCode::BAD_REQUEST, Json(refusal)).into_response();
    };
    let access = auth.issue("access");
    let mut answer = json!({"access_token": access, "token_type": "Bearer",
        "expires_in": auth.token_lifetime.as_secs(), "scope": "openid offline_access"});
    if client.rotate {
        let rotated = format!("refresh-{}", auth.issued);
        auth.spent_refresh_tokens.push(client.refresh_token);
        answer["refresh_token"] = Value::from(rotated.clone());
        if let Some(client) = auth.oauth.as_mut() {
            client.refresh_token = rotated;
        }
    }
    Json(answer).into_response()
}

/// `GET /token/validate`: whom the token acts as.
pub async fn validate(State(world): State<Shared>, headers: HeaderMap) -> Response {
    let world = lock(&world);
    if !world.auth.accepts(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({
        "status": "SUCCESS",
        "tokenInfo": {"tokenId": "id"},
        "userInfo": {"userGuid": "8a81b09d5e8c6f27015ece3402487d33", "userId": world.username,
                     "customerGuid": "8a81b09d5e8c6f27015ece3402487d34"}
    }))
    .into_response()
}

/// `POST /token/refresh`: Anaplan keeps the token's value and extends its life.
pub async fn refresh(State(world): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(failure) = failure(&world, |auth| &mut auth.refreshes).await {
        return failure;
    }
    let world = lock(&world);
    if !world.auth.accepts(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body = token_body(&bearer(&headers), world.auth.token_lifetime);
    (StatusCode::OK, Json(body)).into_response()
}

/// Decodes `Basic base64(user:password)`.
fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
