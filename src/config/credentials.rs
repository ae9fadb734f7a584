//! The credentials: exactly one method, basic, certificate or OAuth, chosen by which settings are
//! given, with its files required and readable.

use std::path::PathBuf;

use reqwest::Url;
use secrecy::SecretString;

use super::cli::RawSettings;
use super::parse::base_url;
use super::problems::{Problems, setting_name};

/// Where the password comes from.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// Given directly.
    Inline(SecretString),
    /// Read from this file at every authentication, so a rotated Secret needs no restart.
    File(PathBuf),
}

/// Basic-auth credentials for Anaplan's auth API.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The Anaplan user name.
    pub username: String,
    /// Where the password comes from.
    pub password: PasswordSource,
}

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

/// An OAuth 2.0 client and the refresh token it trades for access tokens.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The registered client's id (not a secret).
    pub client_id: String,
    /// The file holding the refresh token; a rotated one is written back to it when writable.
    pub refresh_token_file: PathBuf,
    /// The tenant region's OAuth host, for `/oauth/token`.
    pub url: Url,
}

/// How the gateway logs in to Anaplan.
#[derive(Debug, Clone)]
pub enum CredentialMethod {
    /// A user name and password.
    Basic(Credentials),
    /// A CA certificate and its private key (Anaplan's payload v2).
    Certificate(CertificateFiles),
    /// An OAuth 2.0 refresh token.
    OAuth(OAuthSettings),
}

impl CredentialMethod {
    /// The method's name, as `check` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            CredentialMethod::Basic(_) => "basic",
            CredentialMethod::Certificate(_) => "certificate",
            CredentialMethod::OAuth(_) => "oauth",
        }
    }
}

/// The one configured method. `fallback` (the demo's user) stands in when no method is given.
pub fn credentials(
    raw: &RawSettings,
    problems: &mut Problems,
    fallback: Option<Credentials>,
) -> Option<CredentialMethod> {
    let basic = raw.username.is_some() || raw.password.is_some() || raw.password_file.is_some();
    let certificate = raw.certificate_file.is_some()
        || raw.private_key_file.is_some()
        || raw.private_key_passphrase_file.is_some();
    let oauth = raw.oauth_client_id.is_some() || raw.oauth_refresh_token_file.is_some();
    let given: Vec<(&str, &str)> = [
        (basic, "basic"),
        (certificate, "certificate"),
        (oauth, "oauth"),
    ]
    .into_iter()
    .filter(|(given, _)| *given)
    .map(|(_, name)| (name, first_setting(name)))
    .collect();
    if let [(first, _), (second, id), ..] = given.as_slice() {
        let both = format!("configure one credential method, not both {first} and {second}");
        problems.add(id, both);
        return None;
    }
    match given.first().map(|(name, _)| *name) {
        Some("certificate") => certificate_method(raw, problems),
        Some("oauth") => oauth_method(raw, problems),
        Some(_) => basic_credentials(raw, problems).map(CredentialMethod::Basic),
        None => match fallback {
            Some(fallback) => Some(CredentialMethod::Basic(fallback)),
            None => basic_credentials(raw, problems).map(CredentialMethod::Basic),
        },
    }
}

/// The setting a method's problems are named after.
fn first_setting(method: &str) -> &'static str {
    match method {
        "certificate" => "certificate_file",
        "oauth" => "oauth_client_id",
        _ => "username",
    }
}

/// The basic-auth credentials: a user name, and a password given inline or in a file.
fn basic_credentials(raw: &RawSettings, problems: &mut Problems) -> Option<Credentials> {
    let username = raw.username.as_deref().map(str::trim).unwrap_or_default();
    if username.is_empty() {
        let others = format!(
            "required (or use a certificate: {}, or OAuth: {})",
            setting_name("certificate_file"),
            setting_name("oauth_client_id")
        );
        problems.add("username", others);
    }
    let password = match (&raw.password, &raw.password_file) {
        (Some(_), Some(_)) => {
            let both = format!(
                "set either it or {}, not both",
                setting_name("password_file")
            );
            problems.add("password", both);
            None
        }
        (Some(secret), None) => Some(PasswordSource::Inline(secret.clone())),
        (None, Some(path)) => {
            readable(problems, "password_file", path).map(|path| PasswordSource::File(path.clone()))
        }
        (None, None) => {
            let either = format!("required, or {}", setting_name("password_file"));
            problems.add("password", either);
            None
        }
    };
    Some(Credentials {
        username: username.to_owned(),
        password: password?,
    })
    .filter(|_| !username.is_empty())
}

/// Both files required and readable. Whether they make a usable pair (an RSA key that belongs
/// to a certificate still valid) is checked where certificates are understood, at start too.
fn certificate_method(raw: &RawSettings, problems: &mut Problems) -> Option<CredentialMethod> {
    let certificate = required(problems, "certificate_file", &raw.certificate_file)
        .and_then(|path| readable(problems, "certificate_file", path));
    let private_key = required(problems, "private_key_file", &raw.private_key_file)
        .and_then(|path| readable(problems, "private_key_file", path));
    let passphrase = match &raw.private_key_passphrase_file {
        Some(path) => Some(readable(problems, "private_key_passphrase_file", path)?.clone()),
        None => None,
    };
    Some(CredentialMethod::Certificate(CertificateFiles {
        certificate: certificate?.clone(),
        private_key: private_key?.clone(),
        passphrase,
    }))
}

fn oauth_method(raw: &RawSettings, problems: &mut Problems) -> Option<CredentialMethod> {
    let client_id = raw.oauth_client_id.as_deref().map(str::trim);
    let client_id = match client_id {
        Some(id) if !id.is_empty() => Some(id.to_owned()),
        _ => {
            problems.add(
                "oauth_client_id",
                "required with ANAPLAN_OAUTH_REFRESH_TOKEN_FILE",
            );
            None
        }
    };
    let file = required(
        problems,
        "oauth_refresh_token_file",
        &raw.oauth_refresh_token_file,
    )
    .and_then(|path| readable(problems, "oauth_refresh_token_file", path));
    let url = problems.check("oauth_url", base_url(&raw.oauth_url));
    Some(CredentialMethod::OAuth(OAuthSettings {
        client_id: client_id?,
        refresh_token_file: file?.clone(),
        url: url?,
    }))
}

fn required<'a>(
    problems: &mut Problems,
    id: &str,
    path: &'a Option<PathBuf>,
) -> Option<&'a PathBuf> {
    if path.is_none() {
        problems.add(id, "required for this credential method");
    }
    path.as_ref()
}

fn readable<'a>(problems: &mut Problems, id: &str, path: &'a PathBuf) -> Option<&'a PathBuf> {
    let opened = std::fs::File::open(path);
    problems
        .check(
            id,
            opened.map_err(|err| format!("cannot read {}: {err}", path.display())),
        )
        .map(|_| path)
}
