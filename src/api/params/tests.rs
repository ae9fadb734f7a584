use super::*;

const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
const TASK: &str = "1B1D84DDD53847BAA621810B593C3FC1";

fn uri(text: &str) -> Uri {
    text.parse().unwrap()
}

#[test]
fn query_ids_are_borrowed_unless_encoded() {
    let ids = QueryIds::parse(Some("objectId=112&modelId=AB&other=x&&workspaceId"));
    assert!(matches!(ids.object_id, Some(Cow::Borrowed("112"))));
    assert!(matches!(ids.model_id, Some(Cow::Borrowed("AB"))));
    assert!(matches!(ids.workspace_id, Some(Cow::Borrowed(""))));

    let ids = QueryIds::parse(Some("object%49d=%31%312&modelId=A+B&modelId=CD"));
    assert_eq!(ids.object_id.as_deref(), Some("112"));
    assert_eq!(ids.model_id.as_deref(), Some("CD"), "the last value wins");

    let ids = QueryIds::parse(Some("modelId=A+B"));
    assert_eq!(ids.model_id.as_deref(), Some("A B"));
    assert!(QueryIds::parse(None).model_id.is_none());
    assert!(QueryIds::parse(Some("=&==&modelId")).object_id.is_none());
}

#[test]
fn task_paths_are_read_percent_decoded_and_task_ids_upper_case() {
    let encoded = format!(
        "/tasks/%69mport/{}%31?modelId={MODEL}&objectId=1",
        &TASK[..31]
    );
    let request = task_request(&uri(&encoded), None).unwrap();
    assert_eq!(request.kind, TaskKind::Import);
    assert_eq!(request.task.as_str(), TASK);

    let lower = format!(
        "/tasks/import/{}?modelId={MODEL}&objectId=1",
        TASK.to_lowercase()
    );
    let request = task_request(&uri(&lower), None).unwrap();
    assert_eq!(
        request.task.as_str(),
        TASK,
        "Anaplan spells task ids in upper case"
    );
}

#[test]
fn a_missing_model_takes_the_default_and_a_missing_object_is_named() {
    let default = ModelId::parse("modelId", MODEL).unwrap();
    let path = format!("/tasks/export/{TASK}?objectId=7");
    assert_eq!(
        task_request(&uri(&path), Some(default)).unwrap().model,
        Some(default)
    );
    let missing = task_request(&uri(&path), None).unwrap_err();
    assert_eq!(missing, IdError::Missing { param: "modelId" });
    let path = format!("/tasks/export/{TASK}?modelId={MODEL}");
    let missing = task_request(&uri(&path), None).unwrap_err();
    assert_eq!(
        missing,
        IdError::Missing {
            param: "objectId (or objectName)"
        }
    );
}

#[test]
fn undecodable_segments_fail_the_id_checks() {
    let path = format!("/tasks/import/%FF{}?modelId={MODEL}&objectId=1", &TASK[1..]);
    assert!(task_request(&uri(&path), None).is_err());
    let path = format!("/models/{}%2F/status", &MODEL[..31]);
    assert!(model_request(&uri(&path)).is_err());
    let path = format!("/models/{MODEL}/status?workspaceId=xyz");
    let err = model_request(&uri(&path)).unwrap_err();
    assert!(matches!(
        err,
        IdError::Malformed {
            param: "workspaceId",
            ..
        }
    ));
}
