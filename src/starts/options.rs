//! What a start may say besides its ids, per kind: read strictly from the caller's JSON (an
//! unknown field, a field the kind does not take, or a value Anaplan would not take is refused
//! before anything goes upstream) and written as Anaplan's start body.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ModelId, RevisionId, TaskKind};

/// The locale Anaplan documents as the only one it supports.
const DEFAULT_LOCALE: &str = "en_US";
/// Mapping parameters one start may carry: more than any model has dimensions to prompt for.
const MAX_MAPPING_PARAMETERS: usize = 100;
/// The longest dimension or item name taken.
const MAX_NAME: usize = 255;

/// The body of an import or process start.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportStart {
    /// The locale of the task's messages; `en_US` when left out (Anaplan's only supported one).
    pub locale_name: Option<String>,
    /// For an import mapping set to prompt at run time: which item of which dimension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_parameters: Option<Vec<MappingParameter>>,
}

/// One run-time mapping: the dimension and the item of it to import into.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MappingParameter {
    /// The dimension's name, for example `Version`: at least one character that is not a
    /// space, and no control character.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "Version"
    )]
    pub entity_type: String,
    /// The item's name, for example `Actual`, as the dimension's is written.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "Actual"
    )]
    pub entity_name: String,
}

/// The body of an export or delete-action start.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportStart {
    /// The locale of the task's messages; `en_US` when left out.
    pub locale_name: Option<String>,
}

/// The body of a view's large read.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ViewReadStart {
    /// The layout of the pages; `TABULAR_MULTI_COLUMN` when left out.
    pub export_type: Option<ExportType>,
}

/// How a view's large read lays out its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExportType {
    /// One column per column of the view.
    TabularMultiColumn,
    /// One row per cell.
    TabularSingleItems,
    /// The grid, page by page.
    GridAllPages,
}

/// The body of an ALM sync or report start: which revision of which model to bring into (or
/// compare with) which revision of the model the task runs in. Every field is required.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlmStart {
    /// The source model (32 hex characters).
    #[schema(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "E7F7A2B0C1D2E3F405162738495A6B7C"
    )]
    pub source_model_id: String,
    /// The source model's revision tag (32 hex characters).
    #[schema(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "E7F7A2B0C1D2E3F405162738495A33BE"
    )]
    pub source_revision_id: String,
    /// The revision tag of the model the task runs in (32 hex characters).
    #[schema(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "7957A2B0C1D2E3F405162738495A62C4"
    )]
    pub target_revision_id: String,
}

/// A start's options, checked for its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOptions {
    /// An import or a process.
    Import(ImportStart),
    /// An export or a delete action.
    Export(ExportStart),
    /// A view's large read.
    ViewRead(ViewReadStart),
    /// What takes nothing: a list's large read, a CloudWorks integration's run.
    Nothing,
    /// An ALM sync or report: the revisions, which have no default.
    Alm(AlmStart),
}

impl StartOptions {
    /// What an empty body asks for: every default of `kind`.
    pub fn defaults(kind: TaskKind) -> Self {
        match kind {
            TaskKind::Import | TaskKind::Process => StartOptions::Import(ImportStart::default()),
            TaskKind::Export | TaskKind::Action => StartOptions::Export(ExportStart::default()),
            TaskKind::ViewRead => StartOptions::ViewRead(ViewReadStart::default()),
            TaskKind::ListRead | TaskKind::IntegrationRun => StartOptions::Nothing,
            TaskKind::AlmSync | TaskKind::AlmComparisonReport | TaskKind::AlmSummaryReport => {
                StartOptions::Alm(AlmStart::default())
            }
        }
    }

    /// Reads a start's body for `kind`; an empty body takes every default. The error says
    /// what was wrong, for a 400.
    pub fn read(kind: TaskKind, body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return match kind.is_alm() {
                true => Err(format!(
                    "the body: a {kind} start names sourceModelId, sourceRevisionId and \
                     targetRevisionId"
                )),
                false => Ok(Self::defaults(kind)),
            };
        }
        let options = match kind {
            TaskKind::Import | TaskKind::Process => StartOptions::Import(parse(body)?),
            TaskKind::Export | TaskKind::Action => {
                let checked: ImportStart = parse(body)?;
                if checked.mapping_parameters.is_some() {
                    return Err(format!("mappingParameters: a {kind} start takes none"));
                }
                StartOptions::Export(ExportStart {
                    locale_name: checked.locale_name,
                })
            }
            TaskKind::ViewRead => StartOptions::ViewRead(parse(body)?),
            TaskKind::ListRead | TaskKind::IntegrationRun => {
                match parse::<serde_json::Map<_, _>>(body)? {
                    fields if fields.is_empty() => StartOptions::Nothing,
                    _ => {
                        return Err(format!(
                            "a {kind} start takes no fields: send `{{}}` or nothing"
                        ));
                    }
                }
            }
            TaskKind::AlmSync | TaskKind::AlmComparisonReport | TaskKind::AlmSummaryReport => {
                StartOptions::Alm(parse(body)?)
            }
        };
        options.check()?;
        Ok(options)
    }

    /// The values Anaplan takes, beyond what the schema's types say.
    fn check(&self) -> Result<(), String> {
        let locale = match self {
            StartOptions::Import(options) => options.locale_name.as_deref(),
            StartOptions::Export(options) => options.locale_name.as_deref(),
            _ => None,
        };
        if locale.is_some_and(|locale| !is_locale(locale)) {
            return Err("localeName must be a locale such as en_US".into());
        }
        if let StartOptions::Alm(alm) = self {
            ModelId::parse("sourceModelId", &alm.source_model_id).map_err(|e| e.to_string())?;
            for (field, id) in [
                ("sourceRevisionId", &alm.source_revision_id),
                ("targetRevisionId", &alm.target_revision_id),
            ] {
                RevisionId::parse(field, id).map_err(|e| e.to_string())?;
            }
        }
        let mappings = match self {
            StartOptions::Import(options) => options.mapping_parameters.as_deref(),
            _ => None,
        };
        let mappings = mappings.unwrap_or_default();
        if mappings.len() > MAX_MAPPING_PARAMETERS {
            return Err(format!(
                "mappingParameters: at most {MAX_MAPPING_PARAMETERS}"
            ));
        }
        let is_name = |name: &str| {
            let length = name.chars().count();
            !name.trim().is_empty() && length <= MAX_NAME && !name.chars().any(char::is_control)
        };
        if !mappings
            .iter()
            .all(|m| is_name(&m.entity_type) && is_name(&m.entity_name))
        {
            return Err(format!(
                "mappingParameters: entityType and entityName must be names of 1 to {MAX_NAME} \
                 characters"
            ));
        }
        Ok(())
    }

    /// Anaplan's start body, defaults filled in (`localeName` before `mappingParameters`, as
    /// Anaplan asks); none for a list read.
    pub fn upstream_body(&self) -> Option<Bytes> {
        let locale = |given: &Option<String>| given.clone().or(Some(DEFAULT_LOCALE.into()));
        let body = match self {
            StartOptions::Import(options) => serde_json::to_vec(&ImportStart {
                locale_name: locale(&options.locale_name),
                mapping_parameters: options.mapping_parameters.clone(),
            }),
            StartOptions::Export(options) => serde_json::to_vec(&ExportStart {
                locale_name: locale(&options.locale_name),
            }),
            StartOptions::ViewRead(options) => serde_json::to_vec(&ViewReadStart {
                export_type: options.export_type.or(Some(ExportType::TabularMultiColumn)),
            }),
            StartOptions::Nothing => return None,
            StartOptions::Alm(alm) => serde_json::to_vec(alm),
        };
        body.ok().map(Bytes::from)
    }
}

/// Reads JSON strictly, saying where it was wrong: a field given as `null` is refused too (a
/// field left out takes its default; `null` is no value Anaplan takes).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("the body: {err}"))?;
    // serde would read a struct from an array too: only an object is a start's body.
    let Some(fields) = value.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    if let Some((field, _)) = fields.iter().find(|(_, value)| value.is_null()) {
        return Err(format!("{field}: null is not a value; leave the field out"));
    }
    serde_json::from_value(value).map_err(|err| format!("the body: {err}"))
}

fn is_locale(text: &str) -> bool {
    let (language, region) = text.split_once('_').unwrap_or((text, "AA"));
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && (2..=8).contains(&region.len())
        && region.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests;
