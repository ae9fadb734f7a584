use super::*;
use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::normalise::fixture;
use crate::upstream::wire::{ReadRequestEnvelope, TaskEnvelope};
use serde_json::json;

fn address(kind: TaskKind, object: &str, task: &str) -> TaskAddress {
    let model = crate::address::ModelAddress::new(
        WorkspaceId::parse("w", "8a8196b15b7dbae6015b8694411d13fe").unwrap(),
        ModelId::parse("m", "75A40874E6B64FA3AE0743278996850F").unwrap(),
    );
    let object = ObjectId::parse("o", object).unwrap();
    let model = crate::address::Scope::Model(model);
    TaskAddress::new(model, kind, Some(object), TaskId::parse("t", task).unwrap())
}

fn task_fixture(kind: TaskKind, fixture: &str) -> TaskStatus {
    let at = address(kind, "112000000009", "1B1D84DDD53847BAA621810B593C3FC1");
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

/// Anaplan writes a task's progress as 1, 1.0 or "1.0", and -1.0 where it has none to give.
#[test]
fn progress_in_each_form_anaplan_writes_it() {
    for (raw, expected) in [
        ("1", Some(1.0)),
        ("1.0", Some(1.0)),
        ("\"0.25\"", Some(0.25)),
        ("-1.0", None),
        ("-1", None),
        ("null", None),
    ] {
        let body = format!(r#"{{"task":{{"taskState":"IN_PROGRESS","progress":{raw}}}}}"#);
        let task = task_fixture(TaskKind::Import, &body);
        assert_eq!(task.progress, expected, "progress {raw}");
        assert_eq!(task.state, TaskState::Running);
    }
}

/// A status with its envelope (`meta`, `status`) and one without it read the same.
#[test]
fn a_task_with_or_without_its_envelope_reads_the_same() {
    let task = r#"{"taskId":"0690AA1C761F48549C3442A02F91D962","taskState":"COMPLETE","progress":1,
        "result":{"objectId":117000000019,"successful":true,"failureDumpAvailable":false}}"#;
    let bare = task_fixture(TaskKind::Action, &format!(r#"{{"task":{task}}}"#));
    let enveloped = task_fixture(
        TaskKind::Action,
        &format!(
            r#"{{"meta":{{"schema":"x"}},"status":{{"code":200,"message":"Success"}},"task":{task}}}"#
        ),
    );
    assert_eq!(
        serde_json::to_value(&bare).unwrap(),
        serde_json::to_value(&enveloped).unwrap()
    );
    assert_eq!(bare.state, TaskState::Succeeded);
    assert_eq!(
        bare.result.unwrap().object_id.as_deref(),
        Some("117000000019")
    );
}

/// An ALM task's status, filed under the model.
fn alm(kind: TaskKind, body: serde_json::Value) -> TaskStatus {
    let mut at = address(kind, "1", "48B7A0D1C2E34F5061728394A5B6B4FC");
    at.object.id = None;
    let envelope: TaskEnvelope = serde_json::from_value(body).unwrap();
    TaskStatus::from_wire(&at, WireTaskStatus::Task(envelope.task))
}

#[test]
fn alm_tasks_read_their_revisions_their_failures_and_no_object() {
    let report = alm(
        TaskKind::AlmComparisonReport,
        json!({"task": {"taskId": "48B7A0D1C2E34F5061728394A5B6B4FC", "currentStep": "Complete.",
            "result": {"successful": true, "targetRevisionId": "7957A2B0C1D2E3F405162738495A62C4",
                "sourceRevisionId": "E7F7A2B0C1D2E3F405162738495A33BE",
                "reportFileUrl": "https://api.anaplan.com/2/0/models/M/alm/comparisonReports/T/S"},
            "taskState": "COMPLETE", "creationTime": 1_614_870_183_373_i64}}),
    );
    assert_eq!(report.state, TaskState::Succeeded);
    assert_eq!(report.object_id, None);
    let result = report.result.unwrap();
    assert_eq!(
        result.source_revision_id.as_deref(),
        Some("E7F7A2B0C1D2E3F405162738495A33BE")
    );
    assert!(result.error.is_none());
    let created = report.created_at.unwrap().timestamp_millis();
    assert_eq!(
        created, 1_614_870_183_373,
        "creationTime is epoch milliseconds"
    );

    // A failure that gives its error without `successful` is still a failure, not "unknown".
    let failed = alm(
        TaskKind::AlmSync,
        json!({"task": {"taskId": "9CF4A0D1C2E34F5061728394A5B6A18E", "currentStep": "Failed.",
            "result": {"error": {"title": "Model Synchronization Failed",
                "messageText": "Your current workspace size is 998.9 MB.", "subtitle": "Too big."}},
            "taskState": "COMPLETE"}}),
    );
    assert_eq!(failed.state, TaskState::Failed);
    let error = failed.result.unwrap().error.unwrap();
    assert_eq!(error.title.as_deref(), Some("Model Synchronization Failed"));
    assert_eq!(error.subtitle.as_deref(), Some("Too big."));

    let bare = alm(
        TaskKind::AlmSync,
        json!({"task": {"taskId": "9CF4A0D1C2E34F5061728394A5B6A18E", "taskState": "COMPLETE",
            "result": {"successful": false, "error": "Sync failed"}}}),
    );
    assert_eq!(bare.state, TaskState::Failed);
    let error = bare.result.unwrap().error.unwrap();
    assert_eq!(error.message.as_deref(), Some("Sync failed"));
}
