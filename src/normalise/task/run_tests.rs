//! CloudWorks runs, whose state no field gives: each way CloudWorks writes a run, read right.

use super::*;
use crate::address::{Scope, Tenant};
use crate::ids::{ObjectId, TaskId, TaskKind};
use crate::upstream::runs::RunEnvelope;
use serde_json::json;

const INTEGRATION: &str = "0123456789abcdef0123456789abcdef";

fn run(body: Value) -> TaskStatus {
    let kind = TaskKind::IntegrationRun;
    let integration = ObjectId::parse_for(kind, "objectId", INTEGRATION).unwrap();
    let id = TaskId::parse("taskId", "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70").unwrap();
    let at = TaskAddress::new(Scope::Tenant(Tenant::Default), kind, Some(integration), id);
    let envelope: RunEnvelope = serde_json::from_value(json!({"run": body})).unwrap();
    TaskStatus::from_wire(&at, WireTaskStatus::Run(envelope.run))
}

fn ended(fields: Value) -> Value {
    let mut body = json!({"id": "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70", "integrationId": INTEGRATION,
        "startDate": "2026-08-11T18:07:06.000Z", "endDate": "2026-08-11T18:07:51.000Z"});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    body
}

#[test]
fn a_run_without_an_end_is_running_whatever_else_it_says() {
    for body in [
        json!({"message": "Running", "startDate": "2026-08-11T18:07:06.000Z"}),
        json!({"success": true, "message": "Success"}),
        json!({}),
    ] {
        let status = run(body.clone());
        assert_eq!(status.state, TaskState::Running, "{body}");
        assert!(status.result.is_none() && !status.terminal);
    }
    let started = run(json!({"startDate": "2026-08-11T18:07:06.000Z"}));
    assert_eq!(
        started.created_at.unwrap().timestamp_millis(),
        1_786_471_626_000
    );
    assert!(started.model_id.is_none() && started.workspace_id.is_none());
}

#[test]
fn success_is_succeeded_and_code_38_is_a_partial_success_with_warnings() {
    let clean = run(ended(
        json!({"success": true, "message": "Success", "executionErrorCode": null}),
    ));
    assert_eq!(clean.state, TaskState::Succeeded);
    let result = clean.result.unwrap();
    assert_eq!(result.object_id.as_deref(), Some(INTEGRATION));
    assert!(!result.warnings && result.error.is_none());

    // Numbers and flags as text, as other Anaplan answers send them.
    let partial = ended(json!({"success": "true", "executionErrorCode": "38",
        "message": "2 rows successful, 1 ignored", "triggerSource": "scheduled"}));
    let partial = run(partial);
    assert_eq!(partial.state, TaskState::Succeeded);
    assert_eq!(
        partial.upstream_state.as_deref(),
        Some("2 rows successful, 1 ignored")
    );
    let result = partial.result.unwrap();
    assert!(result.warnings);
    assert_eq!(result.details[0].values["executionErrorCode"], 38);
    assert_eq!(result.details[0].values["triggerSource"], "scheduled");
}

#[test]
fn a_cancelled_run_is_cancelled_and_any_other_end_failed_with_its_message() {
    let cancelled = run(ended(json!({"success": false, "message": "Cancelled"})));
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(cancelled.result.unwrap().error.is_none());
    for (fields, message) in [
        (
            json!({"success": false, "message": "Process failed", "executionErrorCode": 12}),
            "Process failed",
        ),
        (
            json!({"message": "Anaplan model was deleted"}),
            "Anaplan model was deleted",
        ),
    ] {
        let failed = run(ended(fields));
        assert_eq!(failed.state, TaskState::Failed);
        assert_eq!(failed.successful, Some(false));
        let error = failed.result.unwrap().error.unwrap();
        assert_eq!(error.message.as_deref(), Some(message));
    }
}

#[test]
fn a_run_its_schedule_started_is_never_taken_for_a_callers_lost_start() {
    let listed = |source: &str| {
        let envelope: RunEnvelope =
            serde_json::from_value(json!({"run": {"id": "x", "triggerSource": source}})).unwrap();
        WireTaskStatus::Run(envelope.run).may_be_a_callers_start()
    };
    assert!(listed("manual"));
    assert!(!listed("scheduled"));
    assert!(!listed("scheduled_inf"));
}
