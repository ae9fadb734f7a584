//! Callers with keys (`GATEWAY_CALLERS_FILE`): who may ask the gateway about what. Off by
//! default: a sidecar on loopback needs none.
//!
//! The file names each caller, the SHA-256 of its API key (never the key itself), the models it
//! may read (`*` for all) and whether it may cancel. A request's `Authorization: Bearer` key is
//! hashed and compared with every caller's hash in constant time. The file is read again every
//! few seconds and swapped in when its content changed (a mounted Secret is replaced, not
//! edited); a file that no longer reads keeps the callers it had, with a log line.
//!
//! Each caller also has its own allowance of cold lookups (keys the gateway holds nothing for,
//! so each costs an Anaplan call): one broken loop cannot spend the tenant's budget for all.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::digest::{SHA256, digest};
use governor::Quota;
use governor::clock::Clock;
use serde::Deserialize;

use super::allowed::AllowedModels;
use crate::clock::{Bucket, TokioClock};
use crate::ids::{ModelId, WorkspaceId};

/// How often the file is looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

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
    /// Distinct keys the gateway holds nothing for that this caller may make it look up per
    /// second; by default half the upstream budget.
    #[serde(default)]
    cold_lookups_per_second: Option<NonZeroU32>,
}

/// One caller, as the file describes it.
pub struct Caller {
    name: Arc<str>,
    key_sha256: [u8; 32],
    /// `None`: every model (`*`).
    models: Option<AllowedModels>,
    may_cancel: bool,
    cold_lookups: Arc<ColdLookups>,
    /// The caller's series of the fresh-hit metrics, looked up once: a hit then costs no
    /// registry lookup.
    hit_metrics: OnceLock<(metrics::Counter, metrics::Histogram)>,
}

/// A caller's allowance of cold lookups: kept across reloads of the file while the caller's
/// name and allowance stay, so changing the file refills nobody's allowance.
struct ColdLookups {
    quota: Quota,
    bucket: Bucket,
    clock: TokioClock,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .field("may_cancel", &self.may_cancel)
            .finish_non_exhaustive()
    }
}

/// Why a request with a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The caller may not read that model (or not in that workspace).
    Model,
    /// The caller may not cancel.
    Cancel,
    /// The caller looked up more unknown keys this second than it may; there is room again
    /// after this long.
    ColdLookups(Duration),
}

impl Caller {
    /// The caller's name, as metrics and logs carry it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Whether the caller may read `model` in `workspace` (when given), and the workspace to
    /// ask in: the one given, or the one the caller's entry names for the model.
    pub fn may_read(
        &self,
        model: ModelId,
        workspace: Option<WorkspaceId>,
    ) -> Result<Option<WorkspaceId>, Refused> {
        match &self.models {
            Some(models) => models.admit(model, workspace).map_err(|_| Refused::Model),
            None => Ok(workspace),
        }
    }

    /// The caller's series of the fresh-hit metrics, made by `make` (from the caller's name)
    /// the first time.
    pub fn hit_metrics(
        &self,
        make: impl FnOnce(&Arc<str>) -> (metrics::Counter, metrics::Histogram),
    ) -> &(metrics::Counter, metrics::Histogram) {
        self.hit_metrics.get_or_init(|| make(&self.name))
    }

    /// Whether the caller may cancel tasks.
    pub fn may_cancel(&self) -> Result<(), Refused> {
        if self.may_cancel {
            Ok(())
        } else {
            Err(Refused::Cancel)
        }
    }

    /// Spends one of the caller's cold lookups for this second.
    pub fn cold_lookup(&self) -> Result<(), Refused> {
        let ColdLookups { bucket, clock, .. } = &*self.cold_lookups;
        bucket
            .check()
            .map_err(|not_until| Refused::ColdLookups(not_until.wait_time_from(clock.now())))
    }
}

/// The callers in force, and the file they came from.
pub struct Callers {
    path: PathBuf,
    /// Callers' cold lookups by default.
    default_cold_lookups: Quota,
    roster: ArcSwap<Roster>,
}

impl std::fmt::Debug for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callers")
            .field("path", &self.path)
            .field("callers", &self.roster.load().callers.len())
            .finish()
    }
}

struct Roster {
    callers: Vec<Arc<Caller>>,
    /// The file's content they were read from, to tell whether it changed.
    read_from: Vec<u8>,
}

/// Why a request has no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No `Authorization: Bearer` key.
    NoKey,
    /// A key no caller has.
    UnknownKey,
}

impl Callers {
    /// Reads the callers in `path`; callers' cold lookups default to `default_cold_lookups` a
    /// second. The error says what is wrong with the file, never what is in it.
    pub fn load(path: &Path, default_cold_lookups: Quota) -> Result<Self, String> {
        let content =
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let roster = roster(content, default_cold_lookups, None)?;
        Ok(Self {
            path: path.to_owned(),
            default_cold_lookups,
            roster: ArcSwap::from_pointee(roster),
        })
    }

    /// The caller whose key the request carries (`authorization`: the header's value).
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<Arc<Caller>, Unauthenticated> {
        let key = authorization
            .and_then(bearer_key)
            .ok_or(Unauthenticated::NoKey)?;
        let presented = digest(&SHA256, key);
        let roster = self.roster.load();
        // Every hash is compared, and in constant time: how long this takes says nothing of
        // which caller, if any, matched.
        let mut found = None;
        for caller in &roster.callers {
            let same = aws_lc_rs::constant_time::verify_slices_are_equal(
                presented.as_ref(),
                &caller.key_sha256,
            )
            .is_ok();
            if same && found.is_none() {
                found = Some(caller.clone());
            }
        }
        found.ok_or(Unauthenticated::UnknownKey)
    }

    /// Reads the file again and swaps its callers in if it changed; keeps the callers in force
    /// when it does not read.
    pub fn reload(&self) {
        let content = match std::fs::read(&self.path) {
            Ok(content) => content,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err,
                    "callers file unreadable: keeping the callers in force");
                return;
            }
        };
        if content == self.roster.load().read_from {
            return;
        }
        let current = self.roster.load();
        match roster(content, self.default_cold_lookups, Some(&current)) {
            Ok(roster) => {
                let names: Vec<&str> = roster.callers.iter().map(|c| &*c.name).collect();
                tracing::info!(callers = ?names, "callers file read again");
                self.roster.store(Arc::new(roster));
            }
            Err(problem) => tracing::warn!(path = %self.path.display(), %problem,
                "callers file invalid: keeping the callers in force"),
        }
    }

    /// Reads the file again every [`RELOAD_EVERY`], until the task is aborted.
    pub fn spawn_reloads(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let callers = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                callers.reload();
            }
        })
    }
}

/// The key of an `Authorization: Bearer <key>` header value.
fn bearer_key(value: &[u8]) -> Option<&[u8]> {
    let (scheme, key) = value.split_at_checked(7)?;
    let key = key.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer ") && !key.is_empty()).then_some(key)
}

/// The callers in `content`; each keeps its allowance from `current` when it is already there.
fn roster(
    content: Vec<u8>,
    default_cold_lookups: Quota,
    current: Option<&Roster>,
) -> Result<Roster, String> {
    let file: CallersFile = serde_json::from_slice(&content).map_err(|err| {
        // Line and column only: serde's message may quote the file, and the file holds hashes.
        format!(
            "not a callers file (JSON: {{\"callers\": [...]}}): error at line {} column {}",
            err.line(),
            err.column()
        )
    })?;
    let mut callers = Vec::with_capacity(file.callers.len());
    for entry in file.callers {
        callers.push(Arc::new(caller(entry, default_cold_lookups, current)?));
    }
    if callers.is_empty() {
        return Err("names no caller".into());
    }
    let mut names: Vec<&str> = callers.iter().map(|c| &*c.name).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("names a caller twice".into());
    }
    Ok(Roster {
        callers,
        read_from: content,
    })
}

fn caller(
    entry: CallerEntry,
    default_cold_lookups: Quota,
    current: Option<&Roster>,
) -> Result<Caller, String> {
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
    let quota = (entry.cold_lookups_per_second).map_or(default_cold_lookups, Quota::per_second);
    let kept = current
        .into_iter()
        .flat_map(|roster| &roster.callers)
        .find(|caller| &*caller.name == name && caller.cold_lookups.quota == quota);
    let cold_lookups = match kept {
        Some(caller) => caller.cold_lookups.clone(),
        None => {
            let (bucket, clock) = crate::clock::bucket(quota);
            Arc::new(ColdLookups {
                quota,
                bucket,
                clock,
            })
        }
    };
    Ok(Caller {
        name: name.into(),
        key_sha256,
        models,
        may_cancel: entry.may_cancel,
        cold_lookups,
        hit_metrics: OnceLock::new(),
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
