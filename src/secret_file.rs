//! Secrets kept in files (mounted Secrets: a password, a passphrase, a refresh token), read whole
//! at each use so a rotated Secret needs no restart; a trailing newline is not part of the secret.

use std::path::Path;

use secrecy::SecretString;

/// Reads the secret in `path`.
pub fn read(path: &Path) -> std::io::Result<SecretString> {
    std::fs::read_to_string(path).map(secret)
}

/// Reads the secret in `path` without blocking the runtime.
pub async fn read_async(path: &Path) -> std::io::Result<SecretString> {
    tokio::fs::read_to_string(path).await.map(secret)
}

fn secret(text: String) -> SecretString {
    SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned())
}
