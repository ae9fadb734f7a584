//! Configuration problems: one line each, naming the setting's variable and flag as clap
//! describes them, so a setting is named in one place only.

use std::sync::OnceLock;

use clap::CommandFactory;

use super::cli::Cli;

/// Collects one line per problem, each naming the setting's variable and flag.
#[derive(Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// Notes a problem with the setting whose clap id (its field in [`RawSettings`]) is `id`.
    pub fn add(&mut self, id: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("{}: {problem}", setting_name(id)));
    }

    pub fn check<T, E: std::fmt::Display>(&mut self, id: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|problem| self.add(id, problem)).ok()
    }
}

/// `VARIABLE (--flag)`, as clap describes the setting: named once, where it is declared.
pub fn setting_name(id: &str) -> String {
    static COMMAND: OnceLock<clap::Command> = OnceLock::new();
    let command = COMMAND.get_or_init(Cli::command);
    let Some(arg) = command.get_arguments().find(|arg| arg.get_id() == id) else {
        // A renamed field would otherwise name its problems by a bare id: tests catch it here.
        debug_assert!(false, "no setting `{id}` in the command line");
        return id.to_owned();
    };
    let variable = arg.get_env().map(|env| env.to_string_lossy().into_owned());
    match (variable, arg.get_long()) {
        (Some(variable), Some(flag)) => format!("{variable} (--{flag})"),
        (None, Some(flag)) => format!("--{flag}"),
        _ => id.to_owned(),
    }
}
