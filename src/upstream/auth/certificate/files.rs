//! What a certificate login reads: the files, and why they may be unusable (each problem names
//! the setting it concerns, for operators).

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Where the certificate, its key and the key's passphrase are read from.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// The PEM certificate.
    pub certificate: PathBuf,
    /// Its RSA private key, PEM: PKCS#8, PKCS#1, or encrypted PKCS#8.
    pub private_key: PathBuf,
    /// The passphrase of an encrypted PKCS#8 key.
    pub passphrase: Option<PathBuf>,
}

/// Why a certificate and key cannot be used; the setting each concerns names it to operators.
#[derive(Debug, thiserror::Error)]
pub enum CertificateProblem {
    /// The certificate file is unreadable, not a certificate, or expired.
    #[error("{0}")]
    Certificate(String),
    /// The key file is unreadable, not an RSA key of 2048 bits or more, or not the certificate's.
    #[error("{0}")]
    PrivateKey(String),
    /// The passphrase file is unreadable, missing or wrong.
    #[error("{0}")]
    Passphrase(String),
}

impl CertificateProblem {
    /// The setting (its clap id) the problem concerns.
    pub fn setting(&self) -> &'static str {
        match self {
            CertificateProblem::Certificate(_) => "certificate_file",
            CertificateProblem::PrivateKey(_) => "private_key_file",
            CertificateProblem::Passphrase(_) => "private_key_passphrase_file",
        }
    }
}

/// A file's bytes.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

/// A secret file's text; a trailing newline is not part of the secret.
pub fn read_secret(path: &Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}
