//! What a certificate login reads, and why it may be unusable (each problem names the setting it
//! concerns, for operators).

use std::path::Path;

use secrecy::SecretString;

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

/// A secret file's text, such as the key's passphrase.
pub fn read_secret(path: &Path) -> Result<SecretString, String> {
    crate::secret_file::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

/// The first certificate in a PEM file: the leaf, when the file carries its chain too (as
/// `kubernetes.io/tls` Secrets often do).
pub fn leaf_certificate(pem: &[u8]) -> Result<x509_cert::Certificate, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use x509_cert::der::Decode;
    let first = CertificateDer::pem_slice_iter(pem).next();
    let der = first
        .ok_or("no PEM certificate in the file")?
        .map_err(|err| format!("not a PEM certificate ({err})"))?;
    x509_cert::Certificate::from_der(&der).map_err(|err| format!("not a certificate ({err})"))
}
