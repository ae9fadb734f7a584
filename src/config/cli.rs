//! The command line: subcommands, and every setting as an environment variable and a `--flag`,
//! each described once, here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// The command line: a subcommand (serving by default) and the settings shared by all of them.
#[derive(Debug, Parser)]
#[command(name = "anaplan-gateway", version, about, long_about = None)]
pub struct Cli {
    /// What to run; without one the gateway serves.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The settings, from flags or the environment.
    #[command(flatten)]
    pub args: RawSettings,
}

/// The gateway's subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Serve the API in front of Anaplan (the default).
    Serve,
    /// Serve the API in front of a simulated Anaplan built into the binary: no credentials needed.
    Demo,
    /// Probe the admin listener's /readyz and exit 0 when ready, 1 otherwise (for Docker HEALTHCHECK).
    Healthcheck,
    /// Authenticate once with the configured credentials and print who the gateway acts as; exit 0,
    /// or print one line and exit 1 (before a deploy, or as a Helm test).
    Check,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// The settings as given, before they are checked.
#[derive(Debug, Clone, Args)]
pub struct RawSettings {
    /// API listener (loopback by default: a sidecar serves only its pod).
    #[arg(
        long,
        env = "GATEWAY_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,
    /// Health and metrics listener; serves no Anaplan data [default: 0.0.0.0:9090; for the demo,
    /// 127.0.0.1:9090].
    #[arg(long, env = "GATEWAY_ADMIN_LISTEN", global = true)]
    pub admin_listen: Option<String>,
    /// Least time between two upstream status calls for one running task or one model.
    #[arg(
        long,
        env = "GATEWAY_POLL_INTERVAL",
        default_value = "5s",
        global = true
    )]
    pub poll_interval: String,
    /// Ceiling of the poll interval for long-running tasks (it grows with the task's age).
    #[arg(
        long,
        env = "GATEWAY_POLL_MAX_INTERVAL",
        default_value = "60s",
        global = true
    )]
    pub poll_max_interval: String,
    /// How long past its poll time a cached answer may still stand in while Anaplan is slow or failing.
    #[arg(long, env = "GATEWAY_MAX_STALE", default_value = "5m", global = true)]
    pub max_stale: String,
    /// Most transfers (uploads, export files, read pages, failure dumps) in flight at once; past it 503.
    #[arg(
        long,
        env = "GATEWAY_MAX_TRANSFERS",
        default_value = "8",
        global = true
    )]
    pub max_transfers: String,
    /// An upload's chunk size before compression, from 1MiB to 50MiB (Anaplan's bound): each
    /// upload holds about two.
    #[arg(
        long,
        env = "GATEWAY_UPLOAD_CHUNK",
        default_value = "10MiB",
        global = true
    )]
    pub upload_chunk: String,
    /// How long a model's list of imports (exports, processes, files…) is kept to resolve
    /// `objectName`s, for example `5m`; a name not in it is listed again once.
    #[arg(long, env = "GATEWAY_NAMES_TTL", default_value = "5m", global = true)]
    pub names_ttl: String,
    /// Refuses a start (`POST /tasks/{kind}`) without an `Idempotency-Key` (400): `true` or `false`.
    #[arg(
        long,
        env = "GATEWAY_REQUIRE_IDEMPOTENCY_KEY",
        default_value = "false",
        global = true
    )]
    pub require_idempotency_key: String,
    /// The only models the gateway may ask Anaplan about: `modelId` or `workspaceId/modelId`,
    /// comma-separated. Unset: every model the gateway's Anaplan user can see.
    #[arg(long, env = "GATEWAY_ALLOWED_MODELS", global = true)]
    pub allowed_models: Option<String>,
    /// A JSON file of callers, each with the SHA-256 of its API key, the models it may read and
    /// whether it may cancel: every API request then needs `Authorization: Bearer <key>`. Read
    /// again when it changes. Unset: any caller that reaches the gateway may ask.
    #[arg(long, env = "GATEWAY_CALLERS_FILE", global = true)]
    pub callers_file: Option<std::path::PathBuf>,
    /// A connection whose request headers have not all arrived by then is closed, and so is a
    /// keep-alive connection idle that long.
    #[arg(
        long,
        env = "GATEWAY_HEADER_TIMEOUT",
        default_value = "10s",
        global = true
    )]
    pub header_timeout: String,
    /// Most open connections on the API listener; past it new ones wait in the listen backlog.
    #[arg(
        long,
        env = "GATEWAY_MAX_CONNECTIONS",
        default_value = "4096",
        global = true
    )]
    pub max_connections: String,
    /// Connections the API listener's kernel queue holds while the gateway is at its connection
    /// cap (1 to 65535); unset: the kernel's own bound (`net.core.somaxconn`).
    #[arg(long, env = "GATEWAY_LISTEN_BACKLOG", global = true)]
    pub listen_backlog: Option<String>,
    /// Origins whose browser pages may read the API (CORS), comma-separated, such as
    /// `https://dash.example.com`; unset: none.
    #[arg(long, env = "GATEWAY_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// Longest a request with `Prefer: wait=N` and `If-None-Match` is held for a change.
    #[arg(long, env = "GATEWAY_MAX_WAIT", default_value = "25s", global = true)]
    pub max_wait: String,
    /// Most requests held for a change at once; past it a waiting request is answered at once.
    #[arg(
        long,
        env = "GATEWAY_MAX_WAITING",
        default_value = "10000",
        global = true
    )]
    pub max_waiting: String,
    /// Most tasks one `POST /tasks/status` may ask about.
    #[arg(long, env = "GATEWAY_MAX_BATCH", default_value = "100", global = true)]
    pub max_batch: String,
    /// The most Integration API calls per second (`N/s`) or minute (`N/m`), with a burst of the
    /// same size. Default: 10/s (the demo: 1000/s, since its Anaplan is simulated).
    #[arg(long, env = "GATEWAY_UPSTREAM_RATE", global = true)]
    pub upstream_rate: Option<String>,
    /// Most upstream requests in flight at once, across all tasks and models.
    #[arg(
        long,
        env = "GATEWAY_UPSTREAM_CONCURRENCY",
        default_value = "8",
        global = true
    )]
    pub upstream_concurrency: String,
    /// Most tasks and models kept in the cache.
    #[arg(
        long,
        env = "GATEWAY_CACHE_MAX_ENTRIES",
        default_value = "100000",
        global = true
    )]
    pub cache_max_entries: String,
    /// Most memory, in MiB, that cached answers may take.
    #[arg(
        long,
        env = "GATEWAY_CACHE_MAX_MIB",
        default_value = "32",
        global = true
    )]
    pub cache_max_mib: String,
    /// How long in-flight requests may take to finish after SIGTERM before the gateway exits.
    #[arg(
        long,
        env = "GATEWAY_SHUTDOWN_TIMEOUT",
        default_value = "20s",
        global = true
    )]
    pub shutdown_timeout: String,
    /// Log format: json (one object per line) or text [default: json; for the demo, text].
    #[arg(long, env = "GATEWAY_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Integration API base URL (regional hosts differ).
    #[arg(
        long,
        env = "ANAPLAN_API_URL",
        default_value = "https://api.anaplan.com/2/0",
        global = true
    )]
    pub api_url: String,
    /// Auth API base URL (`/token/authenticate`, `/token/refresh`).
    #[arg(
        long,
        env = "ANAPLAN_AUTH_URL",
        default_value = "https://auth.anaplan.com",
        global = true
    )]
    pub auth_url: String,
    /// CloudWorks API host (integration runs), without its `/2/0`; it takes the same token.
    #[arg(
        long,
        env = "ANAPLAN_CLOUDWORKS_URL",
        default_value = "https://api.cloudworks.anaplan.com",
        global = true
    )]
    pub cloudworks_url: String,
    /// Anaplan user name for basic authentication.
    #[arg(long, env = "ANAPLAN_USERNAME", global = true)]
    pub username: Option<String>,
    /// Anaplan password (prefer ANAPLAN_PASSWORD_FILE).
    #[arg(
        long,
        env = "ANAPLAN_PASSWORD",
        hide_env_values = true,
        value_parser = parse_secret,
        global = true
    )]
    pub password: Option<SecretString>,
    /// File holding the password (a mounted Secret); re-read at each authentication.
    #[arg(long, env = "ANAPLAN_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// PEM certificate for certificate authentication (with ANAPLAN_PRIVATE_KEY_FILE); re-read at
    /// each authentication.
    #[arg(long, env = "ANAPLAN_CERTIFICATE_FILE", global = true)]
    pub certificate_file: Option<PathBuf>,
    /// The certificate's RSA private key, PEM (PKCS#8 or PKCS#1, 2048 bits or more); re-read at
    /// each authentication.
    #[arg(long, env = "ANAPLAN_PRIVATE_KEY_FILE", global = true)]
    pub private_key_file: Option<PathBuf>,
    /// File holding the passphrase of an encrypted PKCS#8 private key.
    #[arg(long, env = "ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE", global = true)]
    pub private_key_passphrase_file: Option<PathBuf>,
    /// OAuth 2.0 client id, for refresh-token authentication (with ANAPLAN_OAUTH_REFRESH_TOKEN_FILE).
    #[arg(long, env = "ANAPLAN_OAUTH_CLIENT_ID", global = true)]
    pub oauth_client_id: Option<String>,
    /// File holding the OAuth refresh token; a rotated one is written back to it when writable.
    #[arg(long, env = "ANAPLAN_OAUTH_REFRESH_TOKEN_FILE", global = true)]
    pub oauth_refresh_token_file: Option<PathBuf>,
    /// OAuth host of the tenant's region (`/oauth/token`).
    #[arg(
        long,
        env = "ANAPLAN_OAUTH_URL",
        default_value = "https://us1a.app.anaplan.com",
        global = true
    )]
    pub oauth_url: String,
    /// `redis://` or `rediss://` URL of a Redis or Valkey server the replicas of a fleet share
    /// (an ACL user may be given in it; the password goes in GATEWAY_REDIS_PASSWORD_FILE).
    #[arg(long, env = "GATEWAY_REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// File holding the Redis password (a mounted Secret).
    #[arg(long, env = "GATEWAY_REDIS_PASSWORD_FILE", global = true)]
    pub redis_password_file: Option<PathBuf>,
    /// File of CA certificates (PEM) that a rediss:// server's certificate must chain to, instead
    /// of the system's roots (an in-cluster Redis with a private CA).
    #[arg(long, env = "GATEWAY_REDIS_CA_FILE", global = true)]
    pub redis_ca_file: Option<PathBuf>,
    /// Prefix of every key the gateway keeps in Redis, so several fleets can share one server.
    #[arg(
        long,
        env = "GATEWAY_REDIS_PREFIX",
        default_value = "anaplan-gateway",
        global = true
    )]
    pub redis_prefix: String,
    /// Bound on one upstream request, retries included.
    #[arg(long, env = "ANAPLAN_TIMEOUT", default_value = "30s", global = true)]
    pub timeout: String,
    /// Workspace for callers that leave `workspaceId` out: for the default model when
    /// ANAPLAN_MODEL_ID is set, else for every model (else it is found from the model).
    #[arg(long, env = "ANAPLAN_WORKSPACE_ID", global = true)]
    pub workspace_id: Option<String>,
    /// Model for callers that leave `modelId` out.
    #[arg(long, env = "ANAPLAN_MODEL_ID", global = true)]
    pub model_id: Option<String>,
}

fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_owned()))
}
