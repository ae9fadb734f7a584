//! The RSA private key in a PEM file: PKCS#8, PKCS#1, or encrypted PKCS#8 with its passphrase.
//! EC keys and keys shorter than 2048 bits are refused, since Anaplan takes neither.

use aws_lc_rs::signature::RsaKeyPair;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};

use super::files::CertificateProblem;

/// Anaplan takes RSA keys of 2048 bits or more.
pub const MIN_KEY_BITS: usize = 2048;
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// The RSA key in a PEM file: PKCS#8, PKCS#1, or encrypted PKCS#8 with `passphrase`.
pub fn private_key(
    pem: &[u8],
    passphrase: Option<&SecretString>,
) -> Result<RsaKeyPair, CertificateProblem> {
    let refused = |why: &str| CertificateProblem::PrivateKey(why.to_owned());
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(der)) => rsa_from_pkcs8(der.secret_pkcs8_der()),
        Ok(PrivateKeyDer::Pkcs1(der)) => {
            RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(rejected)
        }
        Ok(PrivateKeyDer::Sec1(_)) => Err(refused("an EC key; Anaplan takes RSA keys only")),
        Ok(_) => Err(refused("not a key Anaplan takes; use an RSA key")),
        Err(_) => encrypted_private_key(pem, passphrase),
    }
}

fn encrypted_private_key(
    pem: &[u8],
    passphrase: Option<&SecretString>,
) -> Result<RsaKeyPair, CertificateProblem> {
    let text = std::str::from_utf8(pem).unwrap_or_default();
    let not_a_key = || {
        CertificateProblem::PrivateKey("no PEM private key (PKCS#8 or PKCS#1) in the file".into())
    };
    let (label, document) = pkcs8::Document::from_pem(text).map_err(|_| not_a_key())?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(not_a_key());
    }
    let Some(passphrase) = passphrase else {
        return Err(CertificateProblem::Passphrase(
            "required: the private key is encrypted".into(),
        ));
    };
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|err| CertificateProblem::PrivateKey(format!("not a PKCS#8 key ({err})")))?;
    let decrypted = encrypted
        .decrypt(passphrase.expose_secret().as_bytes())
        .map_err(|_| CertificateProblem::Passphrase("does not decrypt the private key".into()))?;
    rsa_from_pkcs8(decrypted.as_bytes())
}

/// Why aws-lc-rs refused an RSA key, in an operator's words.
fn rejected(err: aws_lc_rs::error::KeyRejected) -> CertificateProblem {
    CertificateProblem::PrivateKey(match err.to_string().as_str() {
        "TooSmall" => format!(
            "an RSA key shorter than {MIN_KEY_BITS} bits; Anaplan needs {MIN_KEY_BITS} or more"
        ),
        other => format!("not a usable RSA key ({other})"),
    })
}

fn rsa_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, CertificateProblem> {
    let algorithm = pkcs8::PrivateKeyInfo::try_from(der).map(|info| info.algorithm.oid.to_string());
    match algorithm.as_deref() {
        Ok(RSA_ENCRYPTION) => RsaKeyPair::from_pkcs8(der).map_err(rejected),
        Ok(EC_PUBLIC_KEY) => Err(CertificateProblem::PrivateKey(
            "an EC key; Anaplan takes RSA keys only".into(),
        )),
        _ => Err(CertificateProblem::PrivateKey(
            "not an RSA key; Anaplan takes RSA keys only".into(),
        )),
    }
}
