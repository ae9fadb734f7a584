//! Configuration: every setting is an environment variable and a `--flag` of the same meaning,
//! described once, in [`RawSettings`] (name, variable, default, help).
//!
//! clap collects the raw text; [`Settings`] (in `settings.rs`) then checks all of it at once, so a
//! bad start prints one clear line per problem, each naming the variable and flag as clap knows
//! them. Secrets stay in `SecretString` and never reach `--help` (`hide_env_values`), logs or
//! `Debug`. The callers file (`GATEWAY_CALLERS_FILE`) is read at start like every setting; the
//! gateway reads it again while it runs ([`crate::callers`]).

mod allowed;
mod callers;
mod cli;
mod credentials;
mod parse;
mod problems;
mod settings;

pub use allowed::{AllowedModels, NotAllowed};
pub use callers::{CallerList, CallerSpec, CallersSettings, parse_callers};
pub use cli::{Cli, Command, LogFormat, RawSettings};
pub use credentials::{
    CertificateFiles, CredentialMethod, Credentials, OAuthSettings, PasswordSource,
};
pub use problems::setting_name;
pub use settings::{
    AnaplanSettings, CacheLimits, PollPolicy, Settings, SharedSettings, WaitLimits,
};
