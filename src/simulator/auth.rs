//! The simulated auth API: logins with basic authentication, refreshes that extend a token's
//! life, tokens it can revoke, and failures or delays on demand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

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

/// `POST /token/authenticate`.
pub async fn authenticate(State(world): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(failure) = failure(&world, |auth| &mut auth.authentications).await {
        return failure;
    }
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_basic);
    let Some((user, password)) = credentials else {
        return refused("FAILURE_BAD_HEADER");
    };
    let mut world = lock(&world);
    world.auth.passwords_seen.push(password);
    if user != world.username {
        return refused("FAILURE_BAD_CREDENTIAL");
    }
    let auth = &mut world.auth;
    auth.issued += 1;
    let token = format!("token-{}", auth.issued);
    auth.valid_tokens.push(token.clone());
    let body = token_body(&token, auth.token_lifetime);
    (StatusCode::CREATED, Json(body)).into_response()
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
