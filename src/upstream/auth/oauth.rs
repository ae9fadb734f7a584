//! OAuth 2.0 with a refresh token a person obtained once: the gateway trades it at
//! `{ANAPLAN_OAUTH_URL}/oauth/token` for access tokens, at login and at every renewal (never with
//! `/token/refresh`). A rotatable client hands out a new refresh token at every use and the old
//! one dies, so the newest is kept: written back atomically to its file when that is writable,
//! and in memory always; one is never sent twice, since the token's lifecycle renews one at a time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::api::AuthApi;
use super::credential::Credential;
use super::token::Issued;
use crate::config::OAuthSettings;
use crate::secret_file;
use crate::upstream::error::UpstreamError;

/// Logs in by trading a refresh token.
pub struct OAuth {
    client_id: String,
    token_url: Url,
    file: PathBuf,
    /// The newest refresh token, once one was read or handed out; a std `Mutex` since it is
    /// only swapped, never held across an await.
    newest: Mutex<Option<SecretString>>,
    /// Whether a rotated refresh token can be written back to its file.
    writable: bool,
}

impl OAuth {
    /// The client of `settings`; says in the log when a rotated refresh token cannot be kept
    /// across a restart.
    pub fn new(settings: &OAuthSettings) -> Self {
        let mut token_url = settings.url.clone();
        token_url
            .path_segments_mut()
            .expect("validated as an http(s) URL")
            .pop_if_empty()
            .extend(["oauth", "token"]);
        let writable = can_replace(&settings.refresh_token_file);
        if !writable {
            tracing::warn!(file = %settings.refresh_token_file.display(),
                "ANAPLAN_OAUTH_REFRESH_TOKEN_FILE cannot be written: a rotated refresh token is kept in memory only, and lost on restart");
        }
        Self {
            client_id: settings.client_id.clone(),
            token_url,
            file: settings.refresh_token_file.clone(),
            newest: Mutex::new(None),
            writable,
        }
    }

    /// The refresh token to send: the newest handed out, else the file's.
    async fn refresh_token(&self) -> Result<SecretString, UpstreamError> {
        if let Some(newest) = self
            .newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(newest);
        }
        secret_file::read_async(&self.file).await.map_err(|err| {
            tracing::error!(file = %self.file.display(), error = %err, "cannot read ANAPLAN_OAUTH_REFRESH_TOKEN_FILE");
            UpstreamError::Unauthorized
        })
    }

    /// Keeps a rotated refresh token: on disk first where possible, so a restart finds it.
    async fn keep(&self, rotated: SecretString) {
        if self.writable {
            let (file, token) = (self.file.clone(), rotated.clone());
            let written =
                tokio::task::spawn_blocking(move || replace(&file, token.expose_secret())).await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::error!(file = %self.file.display(),
                    "the rotated refresh token could not be written: it is kept in memory only");
            }
        }
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(rotated);
    }

    async fn trade(&self, auth: &AuthApi) -> Result<Issued, UpstreamError> {
        let refresh_token = self.refresh_token().await?;
        let traded = auth
            .oauth_token(&self.token_url, &self.client_id, &refresh_token)
            .await;
        if let Err(UpstreamError::Unauthorized) = &traded {
            // Refused: the next login reads the file again, where an operator may have put a
            // new refresh token.
            *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let tokens = traded?;
        if let Some(rotated) = tokens.refresh_token
            && rotated.expose_secret() != refresh_token.expose_secret()
        {
            self.keep(rotated).await;
        }
        Ok(Issued {
            value: tokens.access,
            expires_at: tokens.expires_at,
        })
    }
}

impl Credential for OAuth {
    fn method(&self) -> &'static str {
        "oauth"
    }

    /// The client id and the refresh token first given (the Secret every replica mounts): a
    /// rotated one goes to the fleet sealed under this key.
    fn fleet_secret(&self) -> Option<SecretSlice<u8>> {
        let refresh_token = secret_file::read(&self.file).ok()?;
        let secret = format!("{}\0{}", self.client_id, refresh_token.expose_secret());
        Some(SecretSlice::from(secret.into_bytes()))
    }

    fn refresh_token(&self) -> Option<SecretString> {
        self.newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn adopt_refresh_token(&self, newest: SecretString) {
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(newest);
    }

    fn login<'a>(&'a self, auth: &'a AuthApi) -> BoxFuture<'a, Result<Issued, UpstreamError>> {
        self.trade(auth).boxed()
    }

    /// An access token is renewed by trading the refresh token again: a login.
    fn renews_by_login(&self) -> bool {
        true
    }
}

/// Whether `path` can be replaced atomically: a file can be made beside it.
fn can_replace(path: &Path) -> bool {
    let probe = sibling(path, "probe");
    let made = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    made && std::fs::OpenOptions::new().append(true).open(path).is_ok()
}

/// A temporary file beside `path`, in the same directory so a rename over `path` is atomic.
fn sibling(path: &Path, purpose: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let process = std::process::id();
    path.with_file_name(format!(".{name}.{purpose}.{process}"))
}

/// Writes `text` to a new file beside `path`, readable by its owner only, flushes it to disk, and
/// renames it over `path`: a reader sees the old token or the new one, never half of one.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = sibling(path, "new");
    // A leftover from a crash is removed; `create_new` then never follows a planted link.
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_token_replaces_the_file_whole() {
        let folder = std::env::temp_dir().join(format!("oauth-replace-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join("refresh-token");
        std::fs::write(&file, "first\n").unwrap();
        assert!(can_replace(&file));
        replace(&file, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "second\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
        }
        let left: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&folder).unwrap();
        assert!(
            !can_replace(&folder.join("refresh-token")),
            "a missing folder is not writable"
        );
    }
}
