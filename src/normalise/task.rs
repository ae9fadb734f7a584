//! Tasks, large read requests and CloudWorks runs, from their wire shapes to the normalised
//! [`TaskStatus`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::progress;
use crate::address::TaskAddress;
use crate::schema::{
    Detail, ListedTask, NestedResult, TaskError, TaskResult, TaskState, TaskStatus,
};
use crate::upstream::WireTaskStatus;
use crate::upstream::runs::WireRun;
use crate::upstream::wire::{WireDetail, WireReadRequest, WireResult, WireTask};

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

/// What a task's result says of how it went: `successful`, or, where only an ALM `error` is
/// given, that it failed.
fn verdict_of(result: Option<&WireResult>) -> Option<bool> {
    let result = result?;
    result.successful.or(result.error.as_ref().map(|_| false))
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
            error: wire.error.as_ref().and_then(task_error),
            source_revision_id: wire.source_revision_id,
            target_revision_id: wire.target_revision_id,
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

/// An ALM failure's explanation: Anaplan's object, or a bare message.
fn task_error(raw: &Value) -> Option<TaskError> {
    let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
    match raw {
        Value::String(message) => Some(TaskError {
            title: None,
            message: Some(message.clone()),
            subtitle: None,
        }),
        Value::Object(_) => Some(TaskError {
            title: text("title"),
            message: text("messageText").or_else(|| text("message")),
            subtitle: text("subtitle"),
        }),
        _ => None,
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

/// The parts every kind shares, from the address the caller asked about.
fn task_frame(at: &TaskAddress, state: TaskState, upstream_state: Option<String>) -> TaskStatus {
    TaskStatus {
        kind: at.kind(),
        task_id: at.id.to_string(),
        workspace_id: at.model().map(|model| model.workspace.to_string()),
        model_id: at.model().map(|model| model.model.to_string()),
        object_id: at.object.id.map(|id| id.to_string()),
        object_name: None,
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

fn from_task(at: &TaskAddress, wire: WireTask) -> TaskStatus {
    let successful = verdict_of(wire.result.as_deref());
    let state = task_state(wire.task_state.as_deref(), successful);
    TaskStatus {
        progress: progress(wire.progress),
        current_step: wire.current_step,
        created_at: millis_to_time(wire.creation_time),
        result: wire.result.map(|result| TaskResult::from(*result)),
        ..task_frame(at, state, wire.task_state)
    }
}

fn from_read_request(at: &TaskAddress, wire: WireReadRequest) -> TaskStatus {
    // Anaplan sends `successful: true` while in progress too; only COMPLETE gives it meaning.
    let state = task_state(wire.request_state.as_deref(), wire.successful);
    TaskStatus {
        available_pages: wire.available_pages,
        ..task_frame(at, state, wire.request_state)
    }
}

/// CloudWorks' `executionErrorCode` for a partial success: the run worked, with rows it could
/// not load.
const PARTIAL_SUCCESS: i64 = 38;

/// A run's state, which CloudWorks gives no field for: no `endDate` is running; then `success`
/// is succeeded, a `message` that says cancelled is cancelled, and anything else failed.
fn run_state(run: &WireRun) -> TaskState {
    let message = run.message.as_deref().unwrap_or_default();
    let cancelled = message.to_ascii_lowercase().contains("cancel");
    match (&run.end_date, run.success) {
        (None, _) => TaskState::Running,
        (Some(_), Some(true)) => TaskState::Succeeded,
        (Some(_), _) if cancelled => TaskState::Cancelled,
        (Some(_), _) => TaskState::Failed,
    }
}

/// A finished run's outcome: its integration, partial success as warnings, a failure's message
/// as `error`, and CloudWorks' own words in one detail.
fn run_result(run: &WireRun, state: TaskState) -> TaskResult {
    let successful = state == TaskState::Succeeded;
    let code = run.execution_error_code;
    let mut values = Map::new();
    values.extend(code.map(|code| ("executionErrorCode".to_owned(), Value::from(code))));
    let trigger = run.trigger_source.clone();
    values.extend(trigger.map(|source| ("triggerSource".to_owned(), Value::from(source))));
    TaskResult {
        object_id: run.integration_id.clone(),
        object_name: None,
        successful: Some(successful),
        failure_dump_available: false,
        warnings: successful && code == Some(PARTIAL_SUCCESS),
        details: vec![Detail {
            kind: Some("integrationRun".to_owned()),
            message: run.message.clone(),
            occurrences: None,
            values,
        }],
        nested_results: Vec::new(),
        error: (state == TaskState::Failed).then(|| TaskError {
            title: None,
            message: run.message.clone(),
            subtitle: code.map(|code| format!("executionErrorCode {code}")),
        }),
        source_revision_id: None,
        target_revision_id: None,
    }
}

fn from_run(at: &TaskAddress, run: WireRun) -> TaskStatus {
    let state = run_state(&run);
    TaskStatus {
        created_at: millis_to_time(run.started_ms()),
        result: state.is_terminal().then(|| run_result(&run, state)),
        ..task_frame(at, state, run.message)
    }
}

impl ListedTask {
    /// A task as an object's task list shows it.
    fn from_wire(wire: WireTaskStatus) -> Self {
        let created_at = millis_to_time(wire.created_ms());
        let task_id = wire.id().unwrap_or_default().to_owned();
        let (state, upstream_state) = match wire {
            WireTaskStatus::Task(task) => {
                let successful = verdict_of(task.result.as_deref());
                let state = task_state(task.task_state.as_deref(), successful);
                (state, task.task_state)
            }
            WireTaskStatus::ReadRequest(request) => {
                let state = task_state(request.request_state.as_deref(), request.successful);
                (state, request.request_state)
            }
            WireTaskStatus::Run(run) => (run_state(&run), run.message),
        };
        ListedTask {
            task_id,
            state,
            upstream_state,
            created_at,
        }
    }

    /// An object's tasks, newest first (undated ones last).
    pub fn newest_first(wire: Vec<WireTaskStatus>) -> Vec<Self> {
        let mut tasks: Vec<Self> = wire.into_iter().map(Self::from_wire).collect();
        tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
        tasks
    }
}

impl TaskStatus {
    /// Normalises a task or read request that `at` asked for.
    pub fn from_wire(at: &TaskAddress, wire: WireTaskStatus) -> Self {
        match wire {
            WireTaskStatus::Task(task) => from_task(at, task),
            WireTaskStatus::ReadRequest(request) => from_read_request(at, request),
            WireTaskStatus::Run(run) => from_run(at, run),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod run_tests;
