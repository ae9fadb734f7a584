//! The checked settings the gateway runs with, and the checks that make them from the raw text:
//! all problems at once, one line each, naming the setting as clap describes it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use clap::CommandFactory;
use reqwest::Url;
use secrecy::SecretString;

use super::cli::{Cli, LogFormat, RawSettings};
use crate::ids::{ModelId, WorkspaceId};

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

/// How the gateway reaches Anaplan.
#[derive(Debug, Clone)]
pub struct AnaplanSettings {
    /// Integration API base, without a trailing slash.
    pub api_url: Url,
    /// Auth API base, without a trailing slash.
    pub auth_url: Url,
    /// The one service account all callers share.
    pub credentials: Credentials,
    /// Bound on one upstream request, retries included.
    pub timeout: Duration,
    /// Upstream requests in flight at most.
    pub concurrency: usize,
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
    /// Drain bound after SIGTERM.
    pub shutdown_timeout: Duration,
}

/// Collects one line per problem, each naming the setting's variable and flag.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Notes a problem with the setting whose clap id (its field in [`RawSettings`]) is `id`.
    fn add(&mut self, id: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("{}: {problem}", setting_name(id)));
    }

    fn check<T, E: std::fmt::Display>(&mut self, id: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|problem| self.add(id, problem)).ok()
    }
}

/// `VARIABLE (--flag)`, as clap describes the setting: named once, where it is declared.
fn setting_name(id: &str) -> String {
    static COMMAND: OnceLock<clap::Command> = OnceLock::new();
    let command = COMMAND.get_or_init(Cli::command);
    let Some(arg) = command.get_arguments().find(|arg| arg.get_id() == id) else {
        return id.to_owned();
    };
    let variable = arg.get_env().map(|env| env.to_string_lossy().into_owned());
    match (variable, arg.get_long()) {
        (Some(variable), Some(flag)) => format!("{variable} (--{flag})"),
        (None, Some(flag)) => format!("--{flag}"),
        _ => id.to_owned(),
    }
}

/// What runs: the settings' defaults differ where the demo needs them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Demo,
}

/// The longest any duration setting may be: longer ones are mistakes, and overflow clocks.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest any count setting may be.
const MAX_COUNT: u64 = 1 << 30;

fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(value) if value > MAX_DURATION => Err(format!("`{text}` is longer than a day")),
        Ok(value) if !value.is_zero() => Ok(value),
        Ok(_) => Err("must be more than zero".into()),
        Err(_) => Err(format!(
            "`{text}` is not a duration; use for example 5s, 1500ms or 2m"
        )),
    }
}

fn address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an address; use for example 127.0.0.1:8080"))
}

fn positive(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(value @ 1..=MAX_COUNT) => Ok(value),
        _ => Err(format!(
            "`{text}` is not a whole number from 1 to {MAX_COUNT}"
        )),
    }
}

fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim().trim_end_matches('/'))
        .map_err(|err| format!("`{text}` is not a URL ({err})"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(format!("`{text}` must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must not carry a query or fragment"));
    }
    // Credentials in a URL would be logged with it; they belong in ANAPLAN_USERNAME/PASSWORD.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials (use ANAPLAN_USERNAME and ANAPLAN_PASSWORD_FILE)".into(),
        );
    }
    Ok(url)
}

impl Settings {
    /// Checks everything needed to serve against a real Anaplan tenant.
    pub fn for_serve(raw: &RawSettings) -> Result<Self, Vec<String>> {
        let mut problems = Problems::default();
        let credentials = basic_credentials(raw, &mut problems);
        let settings = Self::check(raw, &mut problems, credentials, Mode::Serve);
        match settings {
            Some(settings) if problems.0.is_empty() => Ok(settings),
            _ => Err(problems.0),
        }
    }

    /// Checks everything but the credentials, which the demo's simulator supplies, with the
    /// demo's defaults (admin listener on loopback, text logs).
    pub fn for_demo(raw: &RawSettings, credentials: Credentials) -> Result<Self, Vec<String>> {
        let mut problems = Problems::default();
        match Self::check(raw, &mut problems, Some(credentials), Mode::Demo) {
            Some(settings) if problems.0.is_empty() => Ok(settings),
            _ => Err(problems.0),
        }
    }

    fn check(
        raw: &RawSettings,
        problems: &mut Problems,
        credentials: Option<Credentials>,
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
        let max_entries = problems.check("cache_max_entries", positive(&raw.cache_max_entries));
        let max_mib = problems.check("cache_max_mib", positive(&raw.cache_max_mib));
        let shutdown_timeout = problems.check("shutdown_timeout", duration(&raw.shutdown_timeout));
        let api_url = problems.check("api_url", base_url(&raw.api_url));
        let auth_url = problems.check("auth_url", base_url(&raw.auth_url));
        let timeout = problems.check("timeout", duration(&raw.timeout));
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
                credentials: credentials?,
                timeout: timeout?,
                concurrency: usize::try_from(concurrency?).ok()?,
                default_workspace: default_workspace?,
                default_model: default_model?,
            },
            polling: polling?,
            cache: CacheLimits {
                max_entries: max_entries?,
                max_bytes: max_mib?.saturating_mul(1024 * 1024),
            },
            shutdown_timeout: shutdown_timeout?,
        })
    }
}

/// The basic-auth credentials: a user name, and a password given inline or in a file.
fn basic_credentials(raw: &RawSettings, problems: &mut Problems) -> Option<Credentials> {
    let username = raw.username.as_deref().map(str::trim).unwrap_or_default();
    if username.is_empty() {
        problems.add("username", "required");
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
        (None, Some(path)) => problems
            .check(
                "password_file",
                std::fs::metadata(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display())),
            )
            .map(|_| PasswordSource::File(path.clone())),
        (None, None) => {
            problems.add(
                "password",
                format!("required, or {}", setting_name("password_file")),
            );
            None
        }
    };
    Some(Credentials {
        username: username.to_owned(),
        password: password?,
    })
    .filter(|_| !username.is_empty())
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
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("anaplan-gateway").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn every_problem_is_one_line_naming_the_variable() {
        let raw = cli(&[
            "--poll-interval",
            "5x",
            "--listen",
            "nowhere",
            "--api-url",
            "ftp://example.com",
        ])
        .args;
        // The environment of the test process must not leak in: these are unset in CI.
        let problems = Settings::for_serve(&raw).unwrap_err();
        let joined = problems.join("\n");
        for variable in [
            "GATEWAY_POLL_INTERVAL (--poll-interval)",
            "GATEWAY_LISTEN (--listen)",
            "ANAPLAN_API_URL (--api-url)",
            "ANAPLAN_USERNAME (--username): required",
            "ANAPLAN_PASSWORD (--password): required",
        ] {
            assert!(
                joined.contains(variable),
                "{variable} missing from:\n{joined}"
            );
        }
        assert!(problems.iter().all(|line| !line.contains('\n')));
    }

    #[test]
    fn durations_take_the_documented_forms() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert!(duration("0s").is_err());
        assert!(duration("2000years").is_err());
        assert!(positive("18446744073709551615").is_err());
        let with_secret = base_url("https://user:hunter2@api.anaplan.com/2/0").unwrap_err();
        assert!(!with_secret.contains("hunter2"), "{with_secret}");
        assert!(duration("five").is_err());
    }

    #[test]
    fn the_password_never_shows_in_debug_or_help() {
        let raw = cli(&[
            "--username",
            "svc@example.com",
            "--password",
            "hunter2-secret",
        ])
        .args;
        let settings = Settings::for_serve(&raw).unwrap();
        assert!(!format!("{raw:?}").contains("hunter2-secret"));
        assert!(!format!("{settings:?}").contains("hunter2-secret"));
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("ANAPLAN_PASSWORD"));
    }
}
