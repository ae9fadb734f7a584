//! Anaplan ids and task kinds, checked against Anaplan's alphabet before anything goes upstream.
//!
//! Ids are stored inline (no heap) so cache keys are `Copy` and hashing them never allocates.
//! Only ids that passed these checks are ever put into an upstream URL.

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

/// Why an id was refused; the caller sees it in the problem `detail`, with the parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The parameter was absent and no default is configured.
    #[error("{param} is required")]
    Missing {
        /// The parameter's name as the caller spells it.
        param: &'static str,
    },
    /// The value is not an id of that kind.
    #[error("{param} must be {expected}")]
    Malformed {
        /// The parameter's name as the caller spells it.
        param: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// The parameter names something a kind's tasks are not filed under.
    #[error("{param} is not taken: {}", kind.filed_under())]
    NotTaken {
        /// The parameter's name as the caller spells it.
        param: &'static str,
        /// The kind asked for.
        kind: TaskKind,
    },
}

/// ASCII text of at most `N` bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct InlineAscii<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineAscii<N> {
    /// Copies `text` if it is 1..=N bytes long and every byte passes `allowed`.
    fn new(text: &str, allowed: impl Fn(u8) -> bool) -> Option<Self> {
        let raw = text.as_bytes();
        if raw.is_empty() || raw.len() > N || !raw.iter().copied().all(allowed) {
            return None;
        }
        let mut bytes = [0; N];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored, so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal, exact: $exact:literal, $allowed:expr, $expected:literal) => {
        id_type!($(#[$doc])* $name, $len, exact: $exact, longest: $len, $allowed, $expected);
    };
    ($(#[$doc:meta])* $name:ident, $len:literal, exact: $exact:literal, longest: $longest:literal, $allowed:expr, $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(InlineAscii<$len>);

        impl $name {
            /// Checks `text` for the parameter `param`.
            pub fn parse(param: &'static str, text: &str) -> Result<Self, IdError> {
                let malformed = IdError::Malformed { param, expected: $expected };
                if ($exact && text.len() != $len) || text.len() > $longest {
                    return Err(malformed);
                }
                InlineAscii::new(text, $allowed).map(Self).ok_or(malformed)
            }

            /// The id as Anaplan spells it.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
    };
}

id_type!(
    /// A task id, or the request id of a large read request: 32 hex characters.
    TaskId, 32, exact: true, |b| b.is_ascii_hexdigit(), "32 hexadecimal characters"
);
id_type!(
    /// A model id: 32 hex characters (upper case in Anaplan; case is kept as given).
    ModelId, 32, exact: true, |b| b.is_ascii_hexdigit(), "32 hexadecimal characters"
);
id_type!(
    /// A workspace id: 32 hex characters (lower case in Anaplan; case is kept as given).
    WorkspaceId, 32, exact: true, |b| b.is_ascii_hexdigit(), "32 hexadecimal characters"
);
id_type!(
    /// An ALM revision tag's id: 32 hex characters.
    RevisionId, 32, exact: true, |b| b.is_ascii_hexdigit(), "32 hexadecimal characters"
);
id_type!(
    /// The id of the object a task is filed under: decimal digits for an import, export, action,
    /// process, view or list (for example `112000000009`), 32 hex characters for a CloudWorks
    /// integration (see [`ObjectId::parse_for`]).
    ObjectId, 32, exact: false, longest: 20, |b| b.is_ascii_digit(), "1 to 20 decimal digits"
);

impl ObjectId {
    /// Checks `text` as the id of what `kind`'s tasks are filed under; an integration's is kept
    /// in lower case.
    pub fn parse_for(kind: TaskKind, param: &'static str, text: &str) -> Result<Self, IdError> {
        if !kind.is_cloudworks() {
            return Self::parse(param, text);
        }
        let integration = (text.len() == 32)
            .then(|| InlineAscii::new(text, |b| b.is_ascii_hexdigit()))
            .flatten();
        // CloudWorks spells its ids in lower case: one spelling, one key.
        let integration = integration.map(|mut id| {
            id.bytes.make_ascii_lowercase();
            id
        });
        integration.map(Self).ok_or(IdError::Malformed {
            param,
            expected: "32 hexadecimal characters (a CloudWorks integration id)",
        })
    }
}

impl TaskId {
    /// The id as Anaplan spells `kind`'s task ids: upper case for the Integration API's, lower
    /// case for CloudWorks' runs. Either service finds nothing for an id in the other case.
    pub fn in_case_of(mut self, kind: TaskKind) -> Self {
        match kind.is_cloudworks() {
            true => self.0.bytes.make_ascii_lowercase(),
            false => self.0.bytes.make_ascii_uppercase(),
        }
        self
    }
}

/// The kinds of asynchronous Anaplan work the gateway reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// An import action's task (`/imports/{objectId}/tasks/{taskId}`).
    Import,
    /// An export action's task (`/exports/{objectId}/tasks/{taskId}`).
    Export,
    /// A delete ("other") action's task (`/actions/{objectId}/tasks/{taskId}`).
    Action,
    /// A process's task (`/processes/{objectId}/tasks/{taskId}`).
    Process,
    /// A large read request on a view (`/views/{objectId}/readRequests/{taskId}`).
    ViewRead,
    /// A large read request on a list (`/lists/{objectId}/readRequests/{taskId}`).
    ListRead,
    /// An ALM model synchronisation (`/models/{modelId}/alm/syncTasks/{taskId}`).
    AlmSync,
    /// An ALM comparison report (`/models/{modelId}/alm/comparisonReportTasks/{taskId}`).
    AlmComparisonReport,
    /// An ALM summary report (`/models/{modelId}/alm/summaryReportTasks/{taskId}`).
    AlmSummaryReport,
    /// A CloudWorks integration's run (`{cloudworks}/integrations/run/{runId}`).
    IntegrationRun,
}

impl TaskKind {
    /// Every kind, in the order the API documents them.
    pub const ALL: [TaskKind; 10] = [
        TaskKind::Import,
        TaskKind::Export,
        TaskKind::Action,
        TaskKind::Process,
        TaskKind::ViewRead,
        TaskKind::ListRead,
        TaskKind::AlmSync,
        TaskKind::AlmComparisonReport,
        TaskKind::AlmSummaryReport,
        TaskKind::IntegrationRun,
    ];

    /// The name used in `/tasks/{kind}/…`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Import => "import",
            TaskKind::Export => "export",
            TaskKind::Action => "action",
            TaskKind::Process => "process",
            TaskKind::ViewRead => "view-read",
            TaskKind::ListRead => "list-read",
            TaskKind::AlmSync => "alm-sync",
            TaskKind::AlmComparisonReport => "alm-comparison-report",
            TaskKind::AlmSummaryReport => "alm-summary-report",
            TaskKind::IntegrationRun => "integration-run",
        }
    }

    /// Parses the path segment; anything else is a 400 naming `kind`.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(IdError::Malformed {
                param: "kind",
                expected: "one of import, export, action, process, view-read, list-read, \
                           alm-sync, alm-comparison-report, alm-summary-report, integration-run",
            })
    }

    /// Large read requests have a `requestState` and pages instead of a task result.
    pub fn is_read_request(self) -> bool {
        matches!(self, TaskKind::ViewRead | TaskKind::ListRead)
    }

    /// Whether the kind's tasks are filed under an object (an import, export, action, process,
    /// view, list or CloudWorks integration) that `objectId` names.
    pub fn filed_under_object(self) -> bool {
        !self.is_alm()
    }

    /// CloudWorks' runs: the tenant's, not a model's, read on CloudWorks' own API.
    pub fn is_cloudworks(self) -> bool {
        self == TaskKind::IntegrationRun
    }

    /// What the kind's tasks are filed under, for a request that names something else.
    pub fn filed_under(self) -> &'static str {
        match self.is_cloudworks() {
            true => {
                "integration runs are filed under the tenant's integration (objectId, by its id), not under a model"
            }
            false => "ALM tasks are filed under the model itself",
        }
    }

    /// Application lifecycle management's tasks: filed under the model, and never cancelled
    /// (Anaplan has no cancel for them).
    pub fn is_alm(self) -> bool {
        matches!(
            self,
            TaskKind::AlmSync | TaskKind::AlmComparisonReport | TaskKind::AlmSummaryReport
        )
    }

    /// ALM reports, whose file is collected once they succeed.
    pub fn is_report(self) -> bool {
        matches!(
            self,
            TaskKind::AlmComparisonReport | TaskKind::AlmSummaryReport
        )
    }

    /// Whether Anaplan lists the kind's tasks: read requests and ALM reports are not listed.
    pub fn keeps_task_list(self) -> bool {
        !self.is_read_request() && !self.is_report()
    }

    /// Where the model lists the objects this kind's tasks are filed under, with their names:
    /// `imports`, …, `views`, `lists`; none for ALM's or CloudWorks'.
    pub fn named_collection(self) -> Option<&'static str> {
        (self.filed_under_object() && !self.is_cloudworks()).then(|| self.upstream_collection().0)
    }

    /// The path below the model that Anaplan files this kind's tasks under; for CloudWorks,
    /// where an integration's runs are listed, `integrations/runs/{integrationId}`.
    pub fn upstream_collection(self) -> (&'static str, &'static str) {
        match self {
            TaskKind::Import => ("imports", "tasks"),
            TaskKind::Export => ("exports", "tasks"),
            TaskKind::Action => ("actions", "tasks"),
            TaskKind::Process => ("processes", "tasks"),
            TaskKind::ViewRead => ("views", "readRequests"),
            TaskKind::ListRead => ("lists", "readRequests"),
            TaskKind::AlmSync => ("alm", "syncTasks"),
            TaskKind::AlmComparisonReport => ("alm", "comparisonReportTasks"),
            TaskKind::AlmSummaryReport => ("alm", "summaryReportTasks"),
            TaskKind::IntegrationRun => ("integrations", "runs"),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_must_be_exactly_32_hex_characters() {
        let good = "1B1D84DDD53847BAA621810B593C3FC1";
        assert_eq!(TaskId::parse("taskId", good).unwrap().as_str(), good);
        assert_eq!(
            ModelId::parse("modelId", "75a40874e6b64fa3ae0743278996850f")
                .unwrap()
                .as_str(),
            "75a40874e6b64fa3ae0743278996850f"
        );
        for bad in [
            "",
            "1B1D84DD",
            "1B1D84DDD53847BAA621810B593C3FC1A",
            "1B1D84DDD53847BAA621810B593C3FCG",
            "../../../../../../../../../../..",
            "1B1D84DDD53847BAA621810B593C3F%2",
        ] {
            let err = TaskId::parse("taskId", bad).unwrap_err();
            assert_eq!(err.to_string(), "taskId must be 32 hexadecimal characters");
        }
    }

    #[test]
    fn object_ids_are_digits_only() {
        assert_eq!(
            ObjectId::parse("objectId", "112000000009")
                .unwrap()
                .as_str(),
            "112000000009"
        );
        for bad in ["", "11200000000x", "-1", "1".repeat(21).as_str(), "12 3"] {
            let import = ObjectId::parse_for(TaskKind::Import, "objectId", bad);
            assert!(import.is_err(), "{bad:?}");
        }
        let integration = "152b8666a0234754afc36f1cde0fd9d2";
        let run = TaskKind::IntegrationRun;
        assert!(ObjectId::parse_for(run, "objectId", integration).is_ok());
        assert!(ObjectId::parse_for(TaskKind::Import, "objectId", integration).is_err());
        assert!(ObjectId::parse_for(run, "objectId", "112000000009").is_err());
    }

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_refused() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(TaskKind::parse("Import").is_err());
        assert!(TaskKind::parse("imports").is_err());
    }
}
