//! Tasks and large read requests, from their wire shapes to the normalised [`TaskStatus`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::progress;
use crate::schema::{Detail, ListedTask, NestedResult, TaskResult, TaskState, TaskStatus};
use crate::upstream::wire::{WireDetail, WireReadRequest, WireResult, WireTask};
use crate::upstream::{TaskLocator, WireTaskStatus};

/// Maps `taskState` / `requestState`; `COMPLETE` needs `successful` to say which way it went.
fn task_state(raw: Option<&str>, successful: Option<bool>) -> TaskState {
    match (raw, successful) {
        (Some("NOT_STARTED"), _) => TaskState::Queued,
        (Some("IN_PROGRESS"), _) => TaskState::Running,
        (Some("COMPLETE"), Some(true)) => TaskState::Succeeded,
        (Some("COMPLETE"), Some(false)) => TaskState::Failed,
        (Some("CANCELLING"), _) => TaskState::Cancelling,
        (Some("CANCELLED"), _) => TaskState::Cancelled,
        // Includes COMPLETE without a verdict: keep polling until Anaplan gives one.
        _ => TaskState::Unknown,
    }
}

/// Whether the task worked, once that is known.
fn verdict(state: TaskState) -> Option<bool> {
    match state {
        TaskState::Succeeded => Some(true),
        TaskState::Failed | TaskState::Cancelled => Some(false),
        _ => None,
    }
}

fn millis_to_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms?)
}

/// A detail value: whole numbers become JSON numbers, the rest stay (or become) strings.
fn detail_value(raw: &Value) -> Value {
    match raw {
        Value::String(text) => match text.parse::<i64>() {
            Ok(number) if number.to_string() == *text => Value::Number(Number::from(number)),
            _ => raw.clone(),
        },
        Value::Number(number) if number.is_i64() || number.is_u64() => raw.clone(),
        Value::Null => Value::Null,
        other => Value::String(other.to_string()),
    }
}

/// Anaplan's flat `[key, value, key, value…]` list as an object.
fn detail_values(raw: &[Value]) -> Map<String, Value> {
    raw.chunks_exact(2)
        .map(|pair| {
            let key = match &pair[0] {
                Value::String(key) => key.clone(),
                other => other.to_string(),
            };
            (key, detail_value(&pair[1]))
        })
        .collect()
}

impl From<WireDetail> for Detail {
    fn from(wire: WireDetail) -> Self {
        Detail {
            kind: wire.kind,
            message: wire.local_message_text,
            occurrences: wire.occurrences,
            values: detail_values(wire.values.as_deref().unwrap_or_default()),
        }
    }
}

fn details(raw: Option<Vec<WireDetail>>) -> Vec<Detail> {
    raw.unwrap_or_default()
        .into_iter()
        .map(Detail::from)
        .collect()
}

impl From<WireResult> for NestedResult {
    fn from(wire: WireResult) -> Self {
        NestedResult {
            object_id: wire.object_id,
            object_name: wire.object_name,
            successful: wire.successful,
            failure_dump_available: wire.failure_dump_available.unwrap_or(false),
            details: details(wire.details),
        }
    }
}

impl From<WireResult> for TaskResult {
    fn from(wire: WireResult) -> Self {
        let mut result = TaskResult {
            object_id: wire.object_id,
            object_name: wire.object_name,
            successful: wire.successful,
            failure_dump_available: wire.failure_dump_available.unwrap_or(false),
            warnings: false,
            details: details(wire.details),
            nested_results: wire
                .nested_results
                .unwrap_or_default()
                .into_iter()
                .map(NestedResult::from)
                .collect(),
        };
        let nested_warned = result.nested_results.iter().any(|nested| {
            nested.failure_dump_available || nested.details.iter().any(counts_trouble)
        });
        let warned = result.failure_dump_available
            || result.details.iter().any(counts_trouble)
            || nested_warned;
        result.warnings = result.successful == Some(true) && warned;
        result
    }
}

/// Whether a detail counts rows that failed, were ignored or warned (`failedCount`,
/// `ignoredCount`, `warningsRowCount` and the like, above zero).
fn counts_trouble(detail: &Detail) -> bool {
    detail.values.iter().any(|(key, value)| {
        let key = key.to_ascii_lowercase();
        let troubled = ["fail", "ignor", "warn"]
            .iter()
            .any(|word| key.contains(word));
        troubled && key.ends_with("count") && value.as_f64().is_some_and(|count| count > 0.0)
    })
}

/// The parts every kind shares, from the locator the caller asked with.
fn task_frame(at: &TaskLocator, state: TaskState, upstream_state: Option<String>) -> TaskStatus {
    TaskStatus {
        kind: at.kind,
        task_id: at.task.to_string(),
        workspace_id: at.workspace.to_string(),
        model_id: at.model.to_string(),
        object_id: at.object.to_string(),
        state,
        terminal: state.is_terminal(),
        successful: verdict(state),
        progress: None,
        current_step: None,
        upstream_state,
        created_at: None,
        available_pages: None,
        result: None,
    }
}

fn from_task(at: &TaskLocator, wire: WireTask) -> TaskStatus {
    let successful = wire.result.as_ref().and_then(|result| result.successful);
    let state = task_state(wire.task_state.as_deref(), successful);
    TaskStatus {
        progress: progress(wire.progress),
        current_step: wire.current_step,
        created_at: millis_to_time(wire.creation_time),
        result: wire.result.map(TaskResult::from),
        ..task_frame(at, state, wire.task_state)
    }
}

fn from_read_request(at: &TaskLocator, wire: WireReadRequest) -> TaskStatus {
    // Anaplan sends `successful: true` while in progress too; only COMPLETE gives it meaning.
    let state = task_state(wire.request_state.as_deref(), wire.successful);
    TaskStatus {
        available_pages: wire.available_pages,
        ..task_frame(at, state, wire.request_state)
    }
}

impl ListedTask {
    /// A task as an object's task list shows it.
    fn from_wire(wire: WireTask) -> Self {
        let successful = wire.result.as_ref().and_then(|result| result.successful);
        ListedTask {
            task_id: wire.task_id.unwrap_or_default(),
            state: task_state(wire.task_state.as_deref(), successful),
            upstream_state: wire.task_state,
            created_at: millis_to_time(wire.creation_time),
        }
    }

    /// An object's tasks, newest first (undated ones last).
    pub fn newest_first(wire: Vec<WireTask>) -> Vec<Self> {
        let mut tasks: Vec<Self> = wire.into_iter().map(Self::from_wire).collect();
        tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
        tasks
    }
}

impl TaskStatus {
    /// Normalises a task or read request that `at` asked for.
    pub fn from_wire(at: &TaskLocator, wire: WireTaskStatus) -> Self {
        match wire {
            WireTaskStatus::Task(task) => from_task(at, task),
            WireTaskStatus::ReadRequest(request) => from_read_request(at, request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
    use crate::normalise::fixture;
    use crate::upstream::wire::{ReadRequestEnvelope, TaskEnvelope};
    use serde_json::json;

    fn locator(kind: TaskKind, object: &str, task: &str) -> TaskLocator {
        TaskLocator {
            kind,
            workspace: WorkspaceId::parse("w", "8a8196b15b7dbae6015b8694411d13fe").unwrap(),
            model: ModelId::parse("m", "75A40874E6B64FA3AE0743278996850F").unwrap(),
            object: ObjectId::parse("o", object).unwrap(),
            task: TaskId::parse("t", task).unwrap(),
        }
    }

    fn task_fixture(kind: TaskKind, fixture: &str) -> TaskStatus {
        let at = locator(kind, "112000000009", "1B1D84DDD53847BAA621810B593C3FC1");
        let wire = if kind.is_read_request() {
            let envelope: ReadRequestEnvelope = serde_json::from_str(fixture).unwrap();
            WireTaskStatus::ReadRequest(envelope.into_request().unwrap())
        } else {
            let envelope: TaskEnvelope = serde_json::from_str(fixture).unwrap();
            WireTaskStatus::Task(envelope.task)
        };
        TaskStatus::from_wire(&at, wire)
    }

    #[test]
    fn a_complete_import_is_succeeded_with_its_details_as_an_object() {
        let task = task_fixture(TaskKind::Import, &fixture("import_complete.json"));
        assert_eq!(task.state, TaskState::Succeeded);
        assert!(task.terminal);
        assert_eq!(task.successful, Some(true));
        assert_eq!(task.upstream_state.as_deref(), Some("COMPLETE"));
        assert_eq!(task.current_step.as_deref(), Some("Complete."));
        assert_eq!(task.progress, Some(1.0));
        assert_eq!(
            task.created_at
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2019-10-16T20:39:07.545Z"
        );
        let result = task.result.unwrap();
        assert_eq!(result.object_id.as_deref(), Some("112000000009"));
        let detail = &result.details[0];
        assert_eq!(detail.kind.as_deref(), Some("hierarchyRowsProcessed"));
        assert_eq!(detail.values["hierarchyName"], json!("Employees"));
        assert_eq!(detail.values["successRowCount"], json!(90));
        assert_eq!(detail.values["ignoredCount"], json!(5));
        assert_eq!(detail.values.len(), 16);
        assert!(result.nested_results.is_empty());
    }

    #[test]
    fn warnings_are_still_success_and_failures_are_failed() {
        let warned = task_fixture(TaskKind::Import, &fixture("import_warnings.json"));
        assert_eq!(warned.state, TaskState::Succeeded);
        assert!(warned.result.as_ref().unwrap().failure_dump_available);
        assert_eq!(
            warned.result.unwrap().details[0].values["warningsRowCount"],
            json!(2)
        );

        let failed = task_fixture(TaskKind::Import, &fixture("import_failed.json"));
        assert_eq!(failed.state, TaskState::Failed);
        assert!(failed.terminal);
        assert_eq!(failed.successful, Some(false));
        assert_eq!(failed.current_step.as_deref(), Some("Failed."));
    }

    #[test]
    fn completed_with_warnings_is_told_from_a_clean_run() {
        let warnings = |name: &str, kind| {
            let task = task_fixture(kind, name);
            task.result.is_some_and(|result| result.warnings)
        };
        // Warned rows and a dump; ignored rows; a process whose action left a dump.
        assert!(warnings(&fixture("import_warnings.json"), TaskKind::Import));
        assert!(warnings(&fixture("import_complete.json"), TaskKind::Import));
        assert!(warnings(
            &fixture("process_complete.json"),
            TaskKind::Process
        ));
        // A clean run, counts of zero, and a failure (not a success with warnings).
        assert!(!warnings(
            &fixture("export_complete.json"),
            TaskKind::Export
        ));
        let zeros = r#"{"task":{"taskState":"COMPLETE","result":{"successful":true,"details":[{"values":["failedCount","0","ignoredCount","0","warningsRowCount","0","successRowCount","9"]}]}}}"#;
        assert!(!warnings(zeros, TaskKind::Import));
        assert!(!warnings(&fixture("import_failed.json"), TaskKind::Import));
    }

    #[test]
    fn every_task_state_maps_and_unknown_states_keep_the_raw_value() {
        for (name, state, terminal) in [
            ("task_not_started.json", TaskState::Queued, false),
            ("task_in_progress.json", TaskState::Running, false),
            ("task_cancelling.json", TaskState::Cancelling, false),
            ("task_cancelled.json", TaskState::Cancelled, true),
            ("export_complete.json", TaskState::Succeeded, true),
            ("action_complete.json", TaskState::Succeeded, true),
        ] {
            let task = task_fixture(TaskKind::Export, &fixture(name));
            assert_eq!((task.state, task.terminal), (state, terminal), "{name}");
        }
        let running = task_fixture(TaskKind::Import, &fixture("task_in_progress.json"));
        assert_eq!(running.successful, None);
        assert!(running.result.is_none());

        let unknown = task_fixture(TaskKind::Import, &fixture("task_unknown_state.json"));
        assert_eq!(unknown.state, TaskState::Unknown);
        assert!(!unknown.terminal);
        assert_eq!(unknown.upstream_state.as_deref(), Some("PAUSED"));
        assert_eq!(unknown.progress, None, "negative progress is no progress");
    }

    #[test]
    fn numbers_and_flags_sent_as_text_are_read() {
        let task = task_fixture(
            TaskKind::Import,
            r#"{"task":{"taskState":"COMPLETE","progress":"1.0","result":{"successful":"true","failureDumpAvailable":"false","details":[{"occurrences":"2","values":[]}]}}}"#,
        );
        assert_eq!(task.state, TaskState::Succeeded);
        assert_eq!(task.progress, Some(1.0));
        assert_eq!(task.result.unwrap().details[0].occurrences, Some(2));
    }

    #[test]
    fn complete_without_a_verdict_is_unknown_and_not_terminal() {
        let task = task_fixture(
            TaskKind::Export,
            r#"{"task":{"taskState":"COMPLETE","taskId":1234}}"#,
        );
        assert_eq!(task.state, TaskState::Unknown);
        assert!(!task.terminal);
    }

    #[test]
    fn a_process_keeps_its_nested_results_even_without_details() {
        let task = task_fixture(TaskKind::Process, &fixture("process_complete.json"));
        let result = task.result.unwrap();
        assert!(result.failure_dump_available);
        assert_eq!(result.nested_results.len(), 3);
        assert_eq!(
            result.nested_results[0].details[0].values["successRowCount"],
            json!(90)
        );
        assert!(result.nested_results[1].details.is_empty());
        assert!(result.nested_results[1].failure_dump_available);
        assert_eq!(
            result.nested_results[2].object_id.as_deref(),
            Some("116000000002"),
            "numeric ids stay strings"
        );
    }

    #[test]
    fn read_requests_report_pages_and_their_verdict_only_when_complete() {
        let running = task_fixture(TaskKind::ViewRead, &fixture("view_read_in_progress.json"));
        assert_eq!(running.state, TaskState::Running);
        assert_eq!(running.successful, None);
        assert_eq!(running.available_pages, Some(50));
        assert!(running.result.is_none());

        let done = task_fixture(TaskKind::ViewRead, &fixture("view_read_complete.json"));
        assert_eq!(
            (done.state, done.successful),
            (TaskState::Succeeded, Some(true))
        );
        assert_eq!(done.available_pages, Some(100));

        let failed = task_fixture(TaskKind::ListRead, &fixture("list_read_failed.json"));
        assert_eq!(failed.state, TaskState::Failed);
        let cancelled = task_fixture(TaskKind::ListRead, &fixture("list_read_cancelled.json"));
        assert_eq!(cancelled.state, TaskState::Cancelled);
    }

    #[test]
    fn only_canonical_whole_numbers_become_numbers() {
        let values = detail_values(&[
            json!("a"),
            json!("12"),
            json!("b"),
            json!("007"),
            json!("c"),
            json!("1.5"),
            json!("d"),
            json!(3),
            json!("dangling"),
        ]);
        assert_eq!(values["a"], json!(12));
        assert_eq!(values["b"], json!("007"));
        assert_eq!(values["c"], json!("1.5"));
        assert_eq!(values["d"], json!(3));
        let numbers = detail_values(&[json!("f"), json!(1.5), json!("t"), json!(true)]);
        assert_eq!(
            numbers["f"],
            json!("1.5"),
            "a number that is not whole becomes text"
        );
        assert_eq!(numbers["t"], json!("true"));
        assert!(!values.contains_key("dangling"));
    }
}
