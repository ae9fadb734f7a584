//! How the simulated auth API checks a certificate login, as Anaplan does: the certificate is the
//! one it trusts, the payload is v2, fresh (its timestamp within five minutes) and never seen
//! before, and its signature verifies with the certificate's public key.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::upstream::auth::certificate::leaf_certificate;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA512, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// How far a payload's timestamp may be from the clock.
const FRESH_SECONDS: u64 = 5 * 60;
/// Timestamp and at least 100 random bytes.
const LEAST_PAYLOAD: usize = 8 + 100;

/// Why a certificate login was refused.
pub type Refusal = &'static str;

/// Checks `Authorization: CACertificate <certificate>` with its `body` against `trusted` (PEM);
/// `seen` remembers every payload (and signature) accepted, so none is accepted twice.
pub fn verify(
    trusted: &[u8],
    certificate: &str,
    body: &[u8],
    seen: &mut HashSet<String>,
) -> Result<(), Refusal> {
    let presented = BASE64
        .decode(certificate.trim())
        .map_err(|_| "certificate not base64")?;
    if presented != trusted {
        return Err("certificate not trusted");
    }
    let body: Value = serde_json::from_slice(body).map_err(|_| "body not JSON")?;
    if body["encodedDataFormat"] != "v2" {
        return Err("payload not v2");
    }
    let encoded = body["encodedData"].as_str().ok_or("no encodedData")?;
    let data = BASE64
        .decode(encoded)
        .map_err(|_| "encodedData not base64")?;
    if data.len() < LEAST_PAYLOAD {
        return Err("payload too short");
    }
    let seconds = u64::from_be_bytes(data[..8].try_into().map_err(|_| "no timestamp")?);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if now.abs_diff(seconds) > FRESH_SECONDS {
        return Err("payload not fresh");
    }
    let signed = body["encodedSignedData"]
        .as_str()
        .ok_or("no encodedSignedData")?;
    let signature = BASE64
        .decode(signed)
        .map_err(|_| "encodedSignedData not base64")?;
    let certificate = leaf_certificate(trusted).map_err(|_| "bad certificate")?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let key = UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA512,
        spki.subject_public_key.raw_bytes(),
    );
    key.verify(&data, &signature)
        .map_err(|_| "signature does not verify")?;
    if !seen.insert(encoded.to_owned()) {
        return Err("payload reused");
    }
    seen.insert(signed.to_owned());
    Ok(())
}
