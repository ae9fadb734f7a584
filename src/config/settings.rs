//! The checked settings the gateway runs with, and the checks that make them from the raw text:
//! all problems at once, one line each, naming the setting as clap describes it.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;

use super::allowed::AllowedModels;
use super::callers::CallersSettings;
use super::cli::{LogFormat, RawSettings};
use super::credentials::{CredentialMethod, Credentials, credentials};
use super::parse::{
    address, backlog, base_url, chunk_size, duration, flag, origins, positive, rate,
};
use super::problems::{Problems, setting_name};
use crate::connections::ConnectionLimits;
use crate::ids::{ModelId, WorkspaceId};

/// How the gateway reaches Anaplan.
#[derive(Debug, Clone)]
pub struct AnaplanSettings {
    /// Integration API base, without a trailing slash.
    pub api_url: Url,
    /// Auth API base, without a trailing slash.
    pub auth_url: Url,
    /// CloudWorks' host, without its `/2/0` or a trailing slash.
    pub cloudworks_url: Url,
    /// How the gateway logs in: the one identity all callers share.
    pub credentials: CredentialMethod,
    /// Bound on one upstream request, retries included.
    pub timeout: Duration,
    /// Upstream requests in flight at most, transfers' parts aside.
    pub concurrency: usize,
    /// Transfers' parts (file chunks, pages, dumps) in flight at most: their own lane, so slow
    /// transfers never hold the permits status polls need.
    pub transfers: usize,
    /// The budget of Integration API calls (`GATEWAY_UPSTREAM_RATE`).
    pub rate: governor::Quota,
    /// Default workspace for callers that leave it out.
    pub default_workspace: Option<WorkspaceId>,
    /// Default model for callers that leave it out.
    pub default_model: Option<ModelId>,
}

/// How often Anaplan is asked, and how long old answers may stand in for new ones.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    /// Least time between two upstream status calls for one key.
    pub interval: Duration,
    /// Ceiling the interval grows to for long-running tasks.
    pub max_interval: Duration,
    /// Oldest an answer may be and still be served while Anaplan fails.
    pub max_stale: Duration,
}

/// Bounds on requests held for a change (`Prefer: wait`).
#[derive(Debug, Clone, Copy)]
pub struct WaitLimits {
    /// The longest a request is held.
    pub max_wait: Duration,
    /// The most requests held at once.
    pub max_waiting: usize,
}

/// Bounds on the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most keys kept.
    pub max_entries: u64,
    /// Most bytes of cached answers kept.
    pub max_bytes: u64,
}

/// Checked settings the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API listener.
    pub listen: SocketAddr,
    /// Admin listener (health, metrics).
    pub admin_listen: SocketAddr,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Upstream and credentials.
    pub anaplan: AnaplanSettings,
    /// Poll etiquette.
    pub polling: PollPolicy,
    /// Cache bounds.
    pub cache: CacheLimits,
    /// How long, and how many, requests may be held for a change.
    pub waiting: WaitLimits,
    /// The models the gateway may ask about.
    pub allowed_models: AllowedModels,
    /// Callers with keys (`GATEWAY_CALLERS_FILE`); none: the API is open.
    pub callers: Option<CallersSettings>,
    /// Whether a start must carry an `Idempotency-Key`.
    pub require_idempotency_key: bool,
    /// The most tasks one batch may ask about (`GATEWAY_MAX_BATCH`).
    pub max_batch: usize,
    /// An upload's chunk size before compression, in bytes.
    pub upload_chunk: usize,
    /// How long a model's list of objects is kept to resolve names.
    pub names_ttl: Duration,
    /// Bounds on the API listener's connections.
    pub connections: ConnectionLimits,
    /// The API listener's backlog: connections the kernel queues while the cap is reached.
    pub listen_backlog: u32,
    /// Origins whose browser pages may read the API (`GATEWAY_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// Drain bound after SIGTERM.
    pub shutdown_timeout: Duration,
    /// The Redis or Valkey server a fleet shares, if any.
    pub shared: Option<SharedSettings>,
}

/// Where a fleet keeps the state its replicas share.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    /// `redis://` or `rediss://` (TLS), with no password in it.
    pub url: Url,
    /// The password, read from this file once, at start.
    pub password_file: Option<std::path::PathBuf>,
    /// The CA certificates (PEM) a `rediss://` server's certificate must chain to, instead of
    /// the system's roots: an in-cluster Redis usually has a private CA.
    pub ca_file: Option<std::path::PathBuf>,
    /// Prefix of every key.
    pub prefix: String,
}

/// What runs: the settings' defaults differ where the demo needs them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Demo,
}

impl Settings {
    /// Checks everything needed to serve against a real Anaplan tenant.
    pub fn for_serve(raw: &RawSettings) -> Result<Self, Vec<String>> {
        let mut problems = Problems::default();
        let credentials = credentials(raw, &mut problems, None);
        let settings = Self::check(raw, &mut problems, credentials, Mode::Serve);
        match settings {
            Some(settings) if problems.0.is_empty() => Ok(settings),
            _ => Err(problems.0),
        }
    }

    /// Checks everything for the demo, with its defaults (admin listener on loopback, text logs)
    /// and, unless a certificate or OAuth is configured, `demo_user`'s basic credentials.
    pub fn for_demo(raw: &RawSettings, demo_user: Credentials) -> Result<Self, Vec<String>> {
        let mut problems = Problems::default();
        let credentials = credentials(raw, &mut problems, Some(demo_user));
        match Self::check(raw, &mut problems, credentials, Mode::Demo) {
            Some(settings) if problems.0.is_empty() => Ok(settings),
            _ => Err(problems.0),
        }
    }

    fn check(
        raw: &RawSettings,
        problems: &mut Problems,
        credentials: Option<CredentialMethod>,
        mode: Mode,
    ) -> Option<Self> {
        let admin_default = match mode {
            Mode::Serve => "0.0.0.0:9090",
            Mode::Demo => "127.0.0.1:9090",
        };
        let admin_listen = raw.admin_listen.as_deref().unwrap_or(admin_default);
        let log_format = raw.log_format.unwrap_or(match mode {
            Mode::Serve => LogFormat::Json,
            Mode::Demo => LogFormat::Text,
        });
        let listen = problems.check("listen", address(&raw.listen));
        let admin_listen = problems.check("admin_listen", address(admin_listen));
        let polling = poll_policy(raw, problems);
        let concurrency =
            problems.check("upstream_concurrency", positive(&raw.upstream_concurrency));
        let rate_default = match mode {
            Mode::Serve => "10/s",
            Mode::Demo => "1000/s",
        };
        let rate = problems.check(
            "upstream_rate",
            rate(raw.upstream_rate.as_deref().unwrap_or(rate_default)),
        );
        let max_entries = problems.check("cache_max_entries", positive(&raw.cache_max_entries));
        let max_mib = problems.check("cache_max_mib", positive(&raw.cache_max_mib));
        let shutdown_timeout = problems.check("shutdown_timeout", duration(&raw.shutdown_timeout));
        let max_wait = problems.check("max_wait", duration(&raw.max_wait));
        let header_timeout = problems.check("header_timeout", duration(&raw.header_timeout));
        let max_connections = problems.check("max_connections", positive(&raw.max_connections));
        let allowed_models = match raw.allowed_models.as_deref() {
            None => Some(AllowedModels::default()),
            Some(text) => problems.check("allowed_models", AllowedModels::parse(text)),
        };
        let callers = match (&raw.callers_file, rate) {
            (None, _) => Some(None),
            (Some(path), Some(rate)) => problems
                .check("callers_file", CallersSettings::load(path, half_of(rate)))
                .map(Some),
            // The budget is wrong too: that is the problem to fix first.
            (Some(_), None) => None,
        };
        let max_waiting = problems.check("max_waiting", positive(&raw.max_waiting));
        let max_batch = problems.check("max_batch", positive(&raw.max_batch));
        let max_transfers = problems.check("max_transfers", positive(&raw.max_transfers));
        let upload_chunk = problems.check("upload_chunk", chunk_size(&raw.upload_chunk));
        let names_ttl = problems.check("names_ttl", duration(&raw.names_ttl));
        let cors_origins = match raw.cors_origins.as_deref() {
            Some(text) => problems.check("cors_origins", origins(text)),
            None => Some(Vec::new()),
        };
        let listen_backlog = match raw.listen_backlog.as_deref() {
            Some(text) => problems.check("listen_backlog", backlog(text)),
            None => Some(kernel_backlog()),
        };
        let require_idempotency_key = problems.check(
            "require_idempotency_key",
            flag(&raw.require_idempotency_key),
        );
        let api_url = problems.check("api_url", base_url(&raw.api_url));
        let auth_url = problems.check("auth_url", base_url(&raw.auth_url));
        let cloudworks_url = problems.check("cloudworks_url", base_url(&raw.cloudworks_url));
        let timeout = problems.check("timeout", duration(&raw.timeout));
        let shared = shared_settings(raw, problems);
        let default_workspace = optional_id(problems, "workspace_id", &raw.workspace_id, |text| {
            WorkspaceId::parse("workspaceId", text)
        });
        let default_model = optional_id(problems, "model_id", &raw.model_id, |text| {
            ModelId::parse("modelId", text)
        });
        Some(Self {
            listen: listen?,
            admin_listen: admin_listen?,
            log_format,
            anaplan: AnaplanSettings {
                api_url: api_url?,
                auth_url: auth_url?,
                cloudworks_url: cloudworks_url?,
                credentials: credentials?,
                timeout: timeout?,
                concurrency: usize::try_from(concurrency?).ok()?,
                transfers: usize::try_from(max_transfers?).ok()?,
                rate: rate?,
                default_workspace: default_workspace?,
                default_model: default_model?,
            },
            polling: polling?,
            cache: CacheLimits {
                max_entries: max_entries?,
                max_bytes: max_mib?.saturating_mul(1024 * 1024),
            },
            waiting: WaitLimits {
                max_wait: max_wait?,
                max_waiting: usize::try_from(max_waiting?).ok()?,
            },
            allowed_models: allowed_models?,
            callers: callers?,
            require_idempotency_key: require_idempotency_key?,
            max_batch: usize::try_from(max_batch?).ok()?,
            upload_chunk: upload_chunk?,
            names_ttl: names_ttl?,
            listen_backlog: listen_backlog?,
            cors_origins: cors_origins?,
            connections: ConnectionLimits {
                header_timeout: header_timeout?,
                max: usize::try_from(max_connections?).ok()?,
                per_peer: None,
            },
            shutdown_timeout: shutdown_timeout?,
            shared: shared?,
        })
    }
}

/// The kernel's bound on a listener's backlog (`net.core.somaxconn`), which a larger backlog
/// would be cut to anyway; 4096, Linux's default, where it cannot be read.
fn kernel_backlog() -> u32 {
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap_or_default();
    somaxconn.trim().parse().unwrap_or(4096).clamp(1, 65535)
}

/// A caller's cold lookups by default: half the upstream budget (half the rate, half the
/// burst), so one caller's broken loop leaves the rest for the others.
fn half_of(rate: governor::Quota) -> governor::Quota {
    let half_burst = std::num::NonZeroU32::new(rate.burst_size().get() / 2);
    let half = governor::Quota::with_period(rate.replenish_interval().saturating_mul(2))
        .expect("a budget's interval is more than zero");
    half.allow_burst(half_burst.unwrap_or(std::num::NonZeroU32::MIN))
}

/// The shared server, when one is given: `Some(None)` when none is.
fn shared_settings(raw: &RawSettings, problems: &mut Problems) -> Option<Option<SharedSettings>> {
    let Some(text) = raw.redis_url.as_deref() else {
        return Some(None);
    };
    let url = problems.check("redis_url", redis_url(text))?;
    let prefix = raw.redis_prefix.trim();
    if prefix.is_empty() || prefix.contains(['{', '}']) {
        problems.add(
            "redis_prefix",
            "must be text without braces (they make Redis hash tags)",
        );
        return None;
    }
    if let Some(path) = &raw.redis_password_file {
        problems.check(
            "redis_password_file",
            std::fs::File::open(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display())),
        )?;
    }
    if let Some(path) = &raw.redis_ca_file {
        let readable = std::fs::File::open(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()));
        problems.check("redis_ca_file", readable)?;
        if url.scheme() != "rediss" {
            problems.add("redis_ca_file", "is for a rediss:// URL (TLS) only");
            return None;
        }
    }
    Some(Some(SharedSettings {
        url,
        password_file: raw.redis_password_file.clone(),
        ca_file: raw.redis_ca_file.clone(),
        prefix: prefix.to_owned(),
    }))
}

fn redis_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|err| format!("`{text}` is not a URL ({err})"))?;
    if !matches!(url.scheme(), "redis" | "rediss") || url.host().is_none() {
        return Err("must be a redis:// or rediss:// URL with a host".into());
    }
    // A password in a URL would travel with it; it belongs in a mounted file.
    if url.password().is_some() {
        return Err("must not carry a password (use GATEWAY_REDIS_PASSWORD_FILE)".into());
    }
    Ok(url)
}

fn poll_policy(raw: &RawSettings, problems: &mut Problems) -> Option<PollPolicy> {
    let interval = problems.check("poll_interval", duration(&raw.poll_interval));
    let max_interval = problems.check("poll_max_interval", duration(&raw.poll_max_interval));
    let max_stale = problems.check("max_stale", duration(&raw.max_stale));
    if let (Some(interval), Some(max_interval)) = (interval, max_interval)
        && max_interval < interval
    {
        let floor = format!(
            "must be at least {} ({})",
            setting_name("poll_interval"),
            raw.poll_interval
        );
        problems.add("poll_max_interval", floor);
    }
    Some(PollPolicy {
        interval: interval?,
        max_interval: max_interval?,
        max_stale: max_stale?,
    })
}

/// An optional default id: `Some(None)` when unset, `None` when given but refused.
fn optional_id<T>(
    problems: &mut Problems,
    id: &str,
    text: &Option<String>,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Option<Option<T>> {
    let Some(text) = text else {
        return Some(None);
    };
    let checked = parse(text.trim()).map_err(|err| format!("`{text}`: {err}"));
    problems.check(id, checked).map(Some)
}

#[cfg(test)]
mod tests;
