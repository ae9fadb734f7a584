//! Certificate authentication, Anaplan's payload v2: `POST /token/authenticate` with
//! `Authorization: CACertificate <base64 of the PEM certificate>` and a body carrying 8 bytes of
//! big-endian Unix seconds and 100 random bytes, and their RSASSA-PKCS1-v1_5 SHA-512 signature.
//!
//! Both files are read again at every login, so a rotated Secret needs no restart; the same
//! reading checks them at start. Signing uses `aws-lc-rs`, which rustls already brings in.

mod files;
mod key;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA512, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderValue};

pub use files::CertificateProblem;
pub use files::leaf_certificate;
use files::{read, read_secret};
use key::{MIN_KEY_BITS, private_key};

use super::api::AuthApi;
use super::credential::Credential;
use super::token::Issued;
use crate::config::CertificateFiles;
use crate::upstream::error::UpstreamError;

/// Random bytes after the timestamp: Anaplan asks for at least 100.
const RANDOM_BYTES: usize = 100;
/// A certificate this close to its end is warned about in the log and shown in a metric.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A certificate and its key, read and checked. Never printed: it holds the key.
pub struct LoadedCertificate {
    pem: Vec<u8>,
    key: RsaKeyPair,
    /// The certificate's subject, as RFC 4514 text.
    pub subject: String,
    /// When the certificate runs out.
    pub not_after: SystemTime,
}

impl LoadedCertificate {
    /// Reads both files and checks them: an RSA key of 2048 bits or more that belongs to a
    /// certificate still valid.
    pub fn load(files: &CertificateFiles) -> Result<Self, CertificateProblem> {
        let pem = read(&files.certificate).map_err(CertificateProblem::Certificate)?;
        let certificate = leaf_certificate(&pem).map_err(CertificateProblem::Certificate)?;
        let tbs = &certificate.tbs_certificate;
        let not_after = tbs.validity.not_after.to_system_time();
        let subject = tbs.subject.to_string();
        if not_after <= SystemTime::now() {
            let ended = httpdate::fmt_http_date(not_after);
            return Err(CertificateProblem::Certificate(format!(
                "the certificate ({subject}) expired on {ended}"
            )));
        }
        let passphrase = match &files.passphrase {
            Some(path) => Some(read_secret(path).map_err(CertificateProblem::Passphrase)?),
            None => None,
        };
        let key_pem = read(&files.private_key).map_err(CertificateProblem::PrivateKey)?;
        let key = private_key(&key_pem, passphrase.as_ref())?;
        let bits = key.public_modulus_len() * 8;
        if bits < MIN_KEY_BITS {
            return Err(CertificateProblem::PrivateKey(format!(
                "an RSA key of {bits} bits; Anaplan needs {MIN_KEY_BITS} or more"
            )));
        }
        let certified = tbs.subject_public_key_info.subject_public_key.raw_bytes();
        if key.public_key().as_ref() != certified {
            return Err(CertificateProblem::PrivateKey(format!(
                "the key does not belong to the certificate ({subject})"
            )));
        }
        Ok(Self {
            pem,
            key,
            subject,
            not_after,
        })
    }

    /// Logs a warning within 30 days of the certificate's end, and sets the expiry metric.
    pub fn warn_if_expiring(&self) {
        let left = self
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        metrics::gauge!("anaplan_gateway_certificate_expiry_seconds").set(left.as_secs_f64());
        if expires_soon(self.not_after, SystemTime::now()) {
            tracing::warn!(subject = %self.subject, days_left = left.as_secs() / 86_400,
                "the Anaplan certificate expires within 30 days: renew it");
        }
    }

    /// The signature of `data`: RSASSA-PKCS1-v1_5 with SHA-512.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA512,
                &SystemRandom::new(),
                data,
                &mut signature,
            )
            .map_err(|_| UpstreamError::BadBody("the payload could not be signed".into()))?;
        Ok(signature)
    }

    /// `CACertificate <base64 of the PEM file>`, marked sensitive.
    fn authorization(&self) -> HeaderValue {
        let value = format!("CACertificate {}", BASE64.encode(&self.pem));
        let mut header = HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static("CACertificate"));
        header.set_sensitive(true);
        header
    }
}

/// Whether a certificate that ends at `not_after` is within the warning at `now`.
pub fn expires_soon(not_after: SystemTime, now: SystemTime) -> bool {
    not_after
        .duration_since(now)
        .is_ok_and(|left| left < EXPIRY_WARNING)
}

/// The v2 payload: `unix_seconds` as 8 big-endian bytes, then `random`.
pub fn payload(unix_seconds: u64, random: &[u8]) -> Vec<u8> {
    let mut data = unix_seconds.to_be_bytes().to_vec();
    data.extend_from_slice(random);
    data
}

/// Logs in with a certificate and its key.
pub struct Certificate {
    files: CertificateFiles,
}

impl Certificate {
    /// Logs in with `files`, read again at every login.
    pub fn new(files: CertificateFiles) -> Self {
        Self { files }
    }

    /// The certificate as it is now, read and checked.
    pub async fn load(&self) -> Result<LoadedCertificate, UpstreamError> {
        let files = self.files.clone();
        let loaded = tokio::task::spawn_blocking(move || LoadedCertificate::load(&files)).await;
        match loaded {
            Ok(Ok(loaded)) => Ok(loaded),
            Ok(Err(problem)) => {
                // The gateway keeps running: the problem is retried after the login pause.
                tracing::error!(problem = %problem, "the Anaplan certificate cannot be used");
                Err(UpstreamError::Unauthorized)
            }
            Err(_) => Err(UpstreamError::Unreachable("the gateway is stopping".into())),
        }
    }
}

impl Credential for Certificate {
    fn method(&self) -> &'static str {
        "certificate"
    }

    /// The private key file as it is now (and its passphrase): what only the fleet holds.
    fn fleet_secret(&self) -> Option<secrecy::SecretSlice<u8>> {
        let mut secret = std::fs::read(&self.files.private_key).ok()?;
        if let Some(passphrase) = &self.files.passphrase {
            secret.push(0);
            secret.extend(std::fs::read(passphrase).ok()?);
        }
        Some(secret.into())
    }

    fn login<'a>(&'a self, auth: &'a AuthApi) -> BoxFuture<'a, Result<Issued, UpstreamError>> {
        async move {
            let loaded = self.load().await?;
            loaded.warn_if_expiring();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let mut random = [0u8; RANDOM_BYTES];
            aws_lc_rs::rand::fill(&mut random)
                .map_err(|_| UpstreamError::BadBody("no random bytes".into()))?;
            let data = payload(now.as_secs(), &random);
            let signature = loaded.sign(&data)?;
            let body = serde_json::json!({
                "encodedDataFormat": "v2",
                "encodedData": BASE64.encode(&data),
                "encodedSignedData": BASE64.encode(&signature),
            });
            let authorization = loaded.authorization();
            auth.authenticate(|request| request.header(AUTHORIZATION, authorization).json(&body))
                .await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        let root = env!("CARGO_MANIFEST_DIR");
        PathBuf::from(format!("{root}/tests/fixtures/credentials/{name}"))
    }

    fn files(certificate: &str, key: &str, passphrase: Option<&str>) -> CertificateFiles {
        CertificateFiles {
            certificate: fixture(certificate),
            private_key: fixture(key),
            passphrase: passphrase.map(fixture),
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_timestamp_is_eight_big_endian_bytes_of_unix_seconds() {
        let data = payload(1_750_736_826, &[7; RANDOM_BYTES]);
        assert_eq!(data[..8], [0x00, 0x00, 0x00, 0x00, 0x68, 0x5a, 0x1f, 0xba]);
        assert_eq!(data.len(), 8 + RANDOM_BYTES);
    }

    #[test]
    fn signatures_are_the_bytes_openssl_gives() {
        let vector = std::fs::read_to_string(fixture("signature-vector.txt")).unwrap();
        let field = |name: &str| {
            let line = vector.lines().find(|line| line.starts_with(name)).unwrap();
            hex(line[name.len()..].trim())
        };
        let (data, expected) = (field("data:"), field("signature:"));
        assert_eq!(data, payload(1_750_736_826, &(0..100).collect::<Vec<u8>>()));
        for key in ["private-key.pem", "private-key-pkcs1.pem"] {
            let loaded = LoadedCertificate::load(&files("certificate.pem", key, None)).unwrap();
            assert_eq!(loaded.sign(&data).unwrap(), expected, "{key}");
        }
        let encrypted = files(
            "certificate.pem",
            "private-key-encrypted.pem",
            Some("passphrase.txt"),
        );
        let loaded = LoadedCertificate::load(&encrypted).unwrap();
        assert_eq!(loaded.sign(&data).unwrap(), expected, "encrypted PKCS#8");
        assert!(
            loaded.subject.contains("CN=gateway-test"),
            "{}",
            loaded.subject
        );
    }

    #[test]
    fn unusable_keys_and_certificates_are_refused_naming_their_file() {
        let cases = [
            (
                files("certificate.pem", "ec-private-key.pem", None),
                "private_key_file",
                "EC key",
            ),
            (
                files("certificate.pem", "short-private-key.pem", None),
                "private_key_file",
                "shorter than 2048 bits",
            ),
            (
                files("certificate.pem", "other-private-key.pem", None),
                "private_key_file",
                "does not belong",
            ),
            (
                files("expired-certificate.pem", "private-key.pem", None),
                "certificate_file",
                "expired",
            ),
            (
                files("certificate.pem", "private-key-encrypted.pem", None),
                "private_key_passphrase_file",
                "encrypted",
            ),
            (
                files(
                    "certificate.pem",
                    "private-key-encrypted.pem",
                    Some("certificate.pem"),
                ),
                "private_key_passphrase_file",
                "does not decrypt",
            ),
            (
                files("private-key.pem", "private-key.pem", None),
                "certificate_file",
                "no PEM certificate",
            ),
            (
                files("missing.pem", "private-key.pem", None),
                "certificate_file",
                "cannot read",
            ),
        ];
        for (files, setting, why) in cases {
            let Err(problem) = LoadedCertificate::load(&files) else {
                panic!("{files:?} was accepted");
            };
            assert_eq!(problem.setting(), setting, "{problem}");
            assert!(problem.to_string().contains(why), "{problem}");
        }
    }

    #[test]
    fn a_certificate_is_warned_about_within_thirty_days_of_its_end() {
        let now = SystemTime::now();
        assert!(expires_soon(now + Duration::from_secs(29 * 86_400), now));
        assert!(!expires_soon(now + Duration::from_secs(31 * 86_400), now));
        assert!(
            !expires_soon(now - Duration::from_secs(1), now),
            "expired is refused, not warned"
        );
    }
}
