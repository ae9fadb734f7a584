//! Configuration: every setting is an environment variable and a `--flag` of the same meaning,
//! described once, in [`RawSettings`] (name, variable, default, help).
//!
//! clap collects the raw text; [`Settings`] (in `settings.rs`) then checks all of it at once, so a
//! bad start prints one clear line per problem, each naming the variable and flag as clap knows
//! them. Secrets stay in `SecretString` and never reach `--help` (`hide_env_values`), logs or
//! `Debug`. [`Callers`] (`GATEWAY_CALLERS_FILE`) is read at start like every setting, and again
//! while the gateway runs.

mod allowed;
mod callers;
mod cli;
mod credentials;
mod parse;
mod problems;
mod settings;

pub use allowed::{AllowedModels, NotAllowed};
pub use callers::{Caller, Callers, Refused, Unauthenticated};
pub use cli::{Cli, Command, LogFormat, RawSettings};
pub use credentials::{
    CertificateFiles, CredentialMethod, Credentials, OAuthSettings, PasswordSource,
};
pub use problems::setting_name;
pub use settings::{
    AnaplanSettings, CacheLimits, PollPolicy, Settings, SharedSettings, WaitLimits,
};
