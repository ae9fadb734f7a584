//! The callers file (`GATEWAY_CALLERS_FILE`) as configuration: read and checked here, at start
//! and whenever it is read again; [`crate::callers`] checks requests' keys against it while the
//! gateway runs. Off by default: a sidecar on loopback needs none.
//!
//! The file names each caller, the SHA-256 of its API key (never the key itself), the models it
//! may read (`*` for all), whether it may cancel or start tasks, and its allowance of cold lookups (keys the
//! gateway holds nothing for, so each costs an Anaplan call).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use governor::Quota;
use serde::Deserialize;

use super::allowed::AllowedModels;

/// The callers file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallersFile {
    callers: Vec<CallerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CallerEntry {
    name: String,
    key_sha256: String,
    models: Vec<String>,
    #[serde(default)]
    may_cancel: bool,
    #[serde(default)]
    may_start: bool,
    #[serde(default)]
    may_write: bool,
    /// Distinct keys the gateway holds nothing for that this caller may make it look up per
    /// second; by default half the upstream budget.
    #[serde(default)]
    cold_lookups_per_second: Option<NonZeroU32>,
}

/// One caller, as the file describes it.
#[derive(Clone)]
pub struct CallerSpec {
    /// Its name, as metrics and logs carry it.
    pub name: Arc<str>,
    /// The SHA-256 of its key.
    pub key_sha256: [u8; 32],
    /// The models it may read; `None`: every model (`*`).
    pub models: Option<AllowedModels>,
    /// Whether it may cancel tasks.
    pub may_cancel: bool,
    /// Whether it may start tasks.
    pub may_start: bool,
    /// Whether it may upload files.
    pub may_write: bool,
    /// Its allowance of cold lookups.
    pub cold_lookups: Quota,
}

impl std::fmt::Debug for CallerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerSpec")
            .field("name", &self.name)
            .field("may_cancel", &self.may_cancel)
            .field("may_start", &self.may_start)
            .field("may_write", &self.may_write)
            .finish_non_exhaustive()
    }
}

/// The callers one reading of the file found, with the content they were read from (to tell
/// whether it changed since).
#[derive(Clone)]
pub struct CallerList {
    /// The callers, each named once.
    pub callers: Vec<CallerSpec>,
    /// The file's content.
    pub content: Vec<u8>,
}

// The content holds every caller's key hash: `Debug` names the callers only.
impl std::fmt::Debug for CallerList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerList")
            .field("callers", &self.callers)
            .finish_non_exhaustive()
    }
}

/// Where the callers come from, and the callers read there at start.
#[derive(Debug, Clone)]
pub struct CallersSettings {
    /// The file, read again while the gateway runs.
    pub path: PathBuf,
    /// Callers' cold lookups a second, unless the file says otherwise.
    pub default_cold_lookups: Quota,
    /// What the file held at start.
    pub first: CallerList,
}

impl CallersSettings {
    /// Reads the callers in `path`; callers' cold lookups default to `default_cold_lookups` a
    /// second. The error says what is wrong with the file, never what is in it.
    pub fn load(path: &Path, default_cold_lookups: Quota) -> Result<Self, String> {
        Ok(Self {
            path: path.to_owned(),
            default_cold_lookups,
            first: read_callers(path, default_cold_lookups)?,
        })
    }

    /// Reads the file again.
    pub fn read_again(&self) -> Result<CallerList, String> {
        read_callers(&self.path, self.default_cold_lookups)
    }
}

/// The callers in the file at `path`.
fn read_callers(path: &Path, default_cold_lookups: Quota) -> Result<CallerList, String> {
    let content =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    parse_callers(content, default_cold_lookups)
}

/// The callers in `content`.
pub fn parse_callers(content: Vec<u8>, default_cold_lookups: Quota) -> Result<CallerList, String> {
    let file: CallersFile = serde_json::from_slice(&content).map_err(|err| {
        // Line and column only: serde's message may quote the file, and the file holds hashes.
        format!(
            "not a callers file (JSON: {{\"callers\": [...]}}): error at line {} column {}",
            err.line(),
            err.column()
        )
    })?;
    let callers = (file.callers.into_iter())
        .map(|entry| caller(entry, default_cold_lookups))
        .collect::<Result<Vec<_>, _>>()?;
    if callers.is_empty() {
        return Err("names no caller".into());
    }
    let mut names: Vec<&str> = callers.iter().map(|c| &*c.name).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("names a caller twice".into());
    }
    Ok(CallerList { callers, content })
}

fn caller(entry: CallerEntry, default_cold_lookups: Quota) -> Result<CallerSpec, String> {
    let name = entry.name.trim();
    // Names become metric labels and log fields: short and plain.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(format!(
            "caller name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    let key_sha256 = hex_sha256(&entry.key_sha256)
        .ok_or_else(|| format!("caller {name}: keySha256 must be 64 hex digits"))?;
    let models = if entry.models.iter().any(|model| model.trim() == "*") {
        None
    } else {
        let models = AllowedModels::parse(&entry.models.join(","))
            .map_err(|problem| format!("caller {name}: models {problem}"))?;
        Some(models)
    };
    Ok(CallerSpec {
        name: name.into(),
        key_sha256,
        models,
        may_cancel: entry.may_cancel,
        may_start: entry.may_start,
        may_write: entry.may_write,
        cold_lookups: (entry.cold_lookups_per_second)
            .map_or(default_cold_lookups, Quota::per_second),
    })
}

fn hex_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim().as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests;
