//! Callers with keys at run time: a request's `Authorization: Bearer` key is hashed and compared
//! with every caller's hash in constant time; each caller's models, right to cancel and
//! allowance of cold lookups are checked before anything goes upstream. The callers file
//! ([`crate::config::CallersSettings`]) is read again every few seconds and swapped in when its
//! content changed (a mounted Secret is replaced, not edited); a file that no longer reads keeps
//! the callers it had, with a log line.
//!
//! Each caller's allowance of cold lookups is its own, so one broken loop cannot spend the
//! tenant's budget for all, and it is kept across readings of the file while the caller's name
//! and allowance stay, so changing the file refills nobody's allowance.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::digest::{SHA256, digest};
use governor::Quota;
use governor::clock::Clock;

use crate::clock::{Bucket, TokioClock};
use crate::config::{AllowedModels, CallerList, CallerSpec, CallersSettings};
use crate::ids::{ModelId, WorkspaceId};

/// How often the file is looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// One caller, as the file describes it, with its allowance.
pub struct Caller {
    name: Arc<str>,
    key_sha256: [u8; 32],
    /// `None`: every model (`*`).
    models: Option<AllowedModels>,
    may_cancel: bool,
    may_start: bool,
    may_write: bool,
    cold_lookups: Arc<ColdLookups>,
    /// The caller's series of the fresh-hit metrics, looked up once: a hit then costs no
    /// registry lookup.
    hit_metrics: OnceLock<(metrics::Counter, metrics::Histogram)>,
}

/// A caller's allowance of cold lookups.
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
            .field("may_start", &self.may_start)
            .field("may_write", &self.may_write)
            .finish_non_exhaustive()
    }
}

/// Why a request with a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The caller may not read that model (or not in that workspace).
    Model,
    /// The caller may read only some models, so not the tenant's CloudWorks runs.
    Tenant,
    /// The caller may not cancel.
    Cancel,
    /// The caller may not start tasks.
    Start,
    /// The caller may not upload files.
    Write,
    /// The caller looked up more unknown keys this second than it may; there is room again
    /// after this long.
    ColdLookups(Duration),
}

/// Why a request has no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No `Authorization: Bearer` key.
    NoKey,
    /// A key no caller has.
    UnknownKey,
}

impl Caller {
    /// The caller's name, as metrics and logs carry it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Whether the caller may read `model` in `workspace` (when given), and the workspace to
    /// ask in: the one given, or the one the caller's entry names for the model. What is the
    /// tenant's (no model: CloudWorks runs) only a caller of every model may read.
    pub fn may_read(
        &self,
        model: Option<ModelId>,
        workspace: Option<WorkspaceId>,
    ) -> Result<Option<WorkspaceId>, Refused> {
        match (&self.models, model) {
            (Some(models), Some(model)) => {
                models.admit(model, workspace).map_err(|_| Refused::Model)
            }
            (Some(_), None) => Err(Refused::Tenant),
            (None, _) => Ok(workspace),
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

    /// Whether the caller may start tasks.
    pub fn may_start(&self) -> Result<(), Refused> {
        if self.may_start {
            Ok(())
        } else {
            Err(Refused::Start)
        }
    }

    /// Whether the caller may upload files (`mayWrite`).
    pub fn may_write(&self) -> Result<(), Refused> {
        match self.may_write {
            true => Ok(()),
            false => Err(Refused::Write),
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

/// The callers in force, and where they come from.
pub struct Callers {
    settings: CallersSettings,
    roster: ArcSwap<Roster>,
}

impl std::fmt::Debug for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callers")
            .field("path", &self.settings.path)
            .field("callers", &self.roster.load().callers.len())
            .finish()
    }
}

struct Roster {
    callers: Vec<Arc<Caller>>,
    /// The file's content they were read from, to tell whether it changed.
    read_from: Vec<u8>,
}

impl Callers {
    /// The callers read at start.
    pub fn new(settings: &CallersSettings) -> Self {
        let roster = roster(settings.first.clone(), None);
        Self {
            settings: settings.clone(),
            roster: ArcSwap::from_pointee(roster),
        }
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
        let path = self.settings.path.display();
        let list = match self.settings.read_again() {
            Ok(list) => list,
            Err(problem) => {
                tracing::warn!(%path, %problem, "callers file unreadable or invalid: keeping the callers in force");
                return;
            }
        };
        let current = self.roster.load();
        if list.content == current.read_from {
            return;
        }
        let roster = roster(list, Some(&current));
        let names: Vec<&str> = roster.callers.iter().map(|c| &*c.name).collect();
        tracing::info!(callers = ?names, "callers file read again");
        self.roster.store(Arc::new(roster));
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

/// The callers of `list`; each keeps its allowance from `current` when it is already there with
/// the same allowance.
fn roster(list: CallerList, current: Option<&Roster>) -> Roster {
    let callers = (list.callers.into_iter())
        .map(|spec| Arc::new(caller(spec, current)))
        .collect();
    Roster {
        callers,
        read_from: list.content,
    }
}

fn caller(spec: CallerSpec, current: Option<&Roster>) -> Caller {
    let kept = current
        .into_iter()
        .flat_map(|roster| &roster.callers)
        .find(|caller| caller.name == spec.name && caller.cold_lookups.quota == spec.cold_lookups);
    let cold_lookups = match kept {
        Some(caller) => caller.cold_lookups.clone(),
        None => {
            let (bucket, clock) = crate::clock::bucket(spec.cold_lookups);
            Arc::new(ColdLookups {
                quota: spec.cold_lookups,
                bucket,
                clock,
            })
        }
    };
    Caller {
        name: spec.name,
        key_sha256: spec.key_sha256,
        models: spec.models,
        may_cancel: spec.may_cancel,
        may_start: spec.may_start,
        may_write: spec.may_write,
        cold_lookups,
        hit_metrics: OnceLock::new(),
    }
}

#[cfg(test)]
mod tests;
