//! The demo's example requests, as paths with their query: what it prints, and what its tests
//! ask.

use crate::simulator::cloudworks::{DEMO_INTEGRATION, DEMO_RUN};
use crate::simulator::scenario::tasks::{DemoTask, NAMED, TASKS};
use crate::simulator::scenario::{BUSY_MODEL, IDLE_MODEL};

/// An export and a view read that finished before the demo started: the export's output file
/// and the read's pages can be collected at once.
pub(super) const DEMO_EXPORT: &str = "7F7F582EBD4146068FE4061831C8F0F7";
pub(super) const DEMO_VIEW_READ: &str = "8A08B0739F0E47BB92E2326C603D86E8";
/// The file the demo's import reads, which the printed upload writes.
pub(super) const DEMO_FILE: &str = "113000000000";

/// The demo's task of that id.
pub(super) fn demo_task(id: &str) -> &'static DemoTask {
    TASKS
        .iter()
        .find(|task| task.task_id == id)
        .expect("a task of the scenario")
}

/// `&objectId=` for a task filed under an object; nothing for ALM's.
fn object_query(task: &DemoTask) -> String {
    match task.object_id {
        "" => String::new(),
        object => format!("&objectId={object}"),
    }
}

/// The demo's first import asked for by its name instead of its id.
pub fn named_path() -> String {
    let task = &TASKS[0];
    let name = NAMED.iter().find(|(_, id, _)| *id == task.object_id);
    let name = name.map(|(_, _, name)| name.replace(' ', "%20"));
    format!(
        "/tasks/{}/{}?modelId={BUSY_MODEL}&objectName={}",
        task.kind,
        task.task_id,
        name.unwrap_or_default()
    )
}

/// The reports the demo's ALM report tasks made: the comparison's and the summary's.
pub fn report_paths() -> [String; 2] {
    let report = |kind: &str| {
        let task = TASKS
            .iter()
            .find(|task| task.kind == kind)
            .map(|t| t.task_id);
        let task = task.unwrap_or_default();
        format!("/tasks/{kind}/{task}/report?modelId={BUSY_MODEL}")
    };
    [
        report("alm-comparison-report"),
        report("alm-summary-report"),
    ]
}

/// The example requests the demo prints, as paths with their query.
pub fn example_paths() -> Vec<String> {
    let mut paths: Vec<String> = TASKS
        .iter()
        .map(|t| {
            format!(
                "/tasks/{}/{}?modelId={BUSY_MODEL}{}",
                t.kind,
                t.task_id,
                object_query(t)
            )
        })
        .collect();
    paths.push(format!(
        "/tasks/integration-run/{DEMO_RUN}?objectId={DEMO_INTEGRATION}"
    ));
    paths.push(format!("/models/{BUSY_MODEL}/status"));
    paths.push(format!("/models/{IDLE_MODEL}/status"));
    paths
}

/// The demo's CloudWorks integration's runs, newest first.
pub fn runs_path() -> String {
    format!("/tasks/integration-run?objectId={DEMO_INTEGRATION}")
}

/// What the demo's export and view read leave to collect, as paths with their query: the
/// export's file, the read's first page, and all the read's pages.
pub fn download_paths() -> [String; 3] {
    let task = |task: &DemoTask, below: &str| {
        format!(
            "/tasks/{}/{}/{below}?modelId={BUSY_MODEL}&objectId={}",
            task.kind, task.task_id, task.object_id
        )
    };
    [
        task(demo_task(DEMO_EXPORT), "file"),
        task(demo_task(DEMO_VIEW_READ), "pages/0"),
        task(demo_task(DEMO_VIEW_READ), "data"),
    ]
}

/// The upload the demo prints: the file its import reads.
pub fn upload_path() -> String {
    format!("/models/{BUSY_MODEL}/files/{DEMO_FILE}")
}

/// The demo's batch, as `POST /tasks/status` takes it: its first import, its export and its
/// CloudWorks run.
pub fn batch_body() -> String {
    let item = |task: &DemoTask| {
        serde_json::json!({"kind": task.kind, "taskId": task.task_id,
            "objectId": task.object_id, "modelId": BUSY_MODEL})
    };
    let export = TASKS.iter().find(|task| task.kind == "export");
    let run = serde_json::json!({"kind": "integration-run", "taskId": DEMO_RUN,
        "objectId": DEMO_INTEGRATION});
    let tasks: Vec<_> = [Some(item(&TASKS[0])), export.map(item), Some(run)]
        .into_iter()
        .flatten()
        .collect();
    serde_json::json!({ "tasks": tasks }).to_string()
}

/// The demo's held batch, as a shell line: its first import asked once for its `etag`, then
/// held with it as `ifNoneMatch` until the import changes.
pub fn held_batch_line(base: &str, curl: &str) -> String {
    let task = &TASKS[0];
    let item = format!(
        r#"{{"kind":"{}","taskId":"{}","objectId":"{}","modelId":"{BUSY_MODEL}""#,
        task.kind, task.task_id, task.object_id
    );
    let post = format!("{curl} -s -X POST -H 'Content-Type: application/json'");
    let url = format!("'{base}/tasks/status'");
    // The etag as the answer's JSON spells it, `W/\"…\"`, goes into the held body as it is.
    let tag = r#"sed 's/.*"etag":"\(W\/\\"[0-9a-f]*\\"\)".*/\1/'"#;
    let held = format!(r#"{{"tasks":[{item},"ifNoneMatch":"$tag"}}]}}"#).replace('"', "\\\"");
    format!(
        "tag=$({post} -d '{{\"tasks\":[{item}}}]}}' {url} | {tag}); \
         {post} -i -H 'Prefer: wait=20' -d \"{held}\" {url}"
    )
}
