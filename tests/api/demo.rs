//! The demo: the real app in front of the built-in simulated Anaplan answers every example.

use anaplan_gateway::config::Cli;
use anaplan_gateway::simulator::scenario;
use anaplan_gateway::{demo, server};
use clap::Parser;
use serde_json::Value;

#[tokio::test]
async fn every_printed_example_answers_as_the_contract_shows() {
    let base = spawn_demo(&[]).await;
    let model_states = ask_every_example(&base).await;
    assert_eq!(model_states, ["processing", "open"]);

    let http = reqwest::Client::new();
    let list_read = &scenario::tasks::TASKS[6];
    let cancel = format!(
        "{base}/tasks/{}/{}?modelId={}&objectId={}",
        list_read.kind,
        list_read.task_id,
        scenario::BUSY_MODEL,
        list_read.object_id
    );
    let cancelled: Value = http
        .delete(&cancel)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["state"], "cancelling");

    let runs = http
        .get(format!("{base}{}", demo::runs_path()))
        .send()
        .await
        .unwrap();
    let runs = runs.json::<Value>().await.unwrap();
    assert_eq!(runs["tasks"][0]["state"], "running", "{runs}");
}

/// The demo's gateway and simulated Anaplan, on loopback ports, with `extra` settings (other
/// credentials, say); returns the API's base URL.
pub async fn spawn_demo(extra: &[&str]) -> String {
    let local = ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
    let args = std::iter::once("anaplan-gateway")
        .chain(local)
        .chain(extra.iter().copied());
    let cli = Cli::try_parse_from(args).unwrap();
    let mut settings = demo::settings(&cli.args).unwrap();
    demo::point_at_simulator(&mut settings).await.unwrap();
    let app = server::build(&settings).unwrap();
    let (api, admin) = server::bind(&settings).await.unwrap();
    let base = format!("http://{}", api.local_addr().unwrap());
    tokio::spawn(server::serve(
        app,
        api,
        admin,
        std::future::pending(),
        settings.shutdown_timeout,
        settings.connections,
    ));
    base
}

/// Asks for every example the demo prints: each answers 200, every task with its state and
/// when it was fetched, with every task kind among them; returns the models' states.
pub async fn ask_every_example(base: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let (mut kinds, mut model_states) = (Vec::new(), Vec::new());
    for path in demo::example_paths() {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        let state = body["state"].as_str().unwrap().to_owned();
        match body["kind"].as_str() {
            Some(kind) => {
                assert!(body["fetchedAt"].is_string(), "{body}");
                kinds.push(kind.to_owned());
            }
            None => model_states.push(state),
        }
    }
    kinds.sort();
    kinds.dedup();
    let all = [
        "action",
        "alm-comparison-report",
        "alm-summary-report",
        "alm-sync",
        "export",
        "import",
        "integration-run",
        "list-read",
        "process",
        "view-read",
    ];
    assert_eq!(kinds, all);
    model_states
}

#[tokio::test(start_paused = true)]
async fn the_printed_downloads_answer_and_a_running_tasks_once_it_has_succeeded() {
    let base = spawn_demo(&[]).await;
    // A new connection each time: the gateway closes idle ones while the clock moves on.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    let [file, page, data] = demo::download_paths();
    // The demo's running export: 409 until it has succeeded, 30 s in.
    let running = file.replace(demo_export_id(), scenario::tasks::TASKS[2].task_id);
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    assert_eq!(get(&running).await.unwrap().status(), 409);
    // The printed ones finished before the demo started.
    let file = get(&file).await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().len(), 3 * 2000);
    let page = get(&page).await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.starts_with("Request,Page,Row\n"), "{page}");
    let data = get(&data).await.unwrap();
    assert_eq!(data.status(), 200);
    let data = data.text().await.unwrap();
    assert_eq!(
        data.matches("Request,Page,Row").count(),
        100,
        "every page, in order"
    );
    assert!(data.starts_with(&page));
    tokio::time::advance(std::time::Duration::from_secs(30)).await;
    assert_eq!(get(&running).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_printed_named_request_answers_with_the_id_and_the_name() {
    let base = spawn_demo(&[]).await;
    let answer = reqwest::get(format!("{base}{}", demo::named_path()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let task: Value = answer.json().await.unwrap();
    assert_eq!(task["objectId"], scenario::tasks::TASKS[0].object_id);
    assert_eq!(task["objectName"], "Import Employees.csv");
}

#[tokio::test(start_paused = true)]
async fn the_printed_alm_reports_answer_as_text_and_as_json() {
    let base = spawn_demo(&[]).await;
    let http = reqwest::Client::new();
    // The reports finished as the demo started: a moment later they are there to collect.
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    let [comparison, summary] = demo::report_paths();
    let comparison = http
        .get(format!("{base}{comparison}"))
        .send()
        .await
        .unwrap();
    assert_eq!(comparison.status(), 200);
    let text = comparison.text().await.unwrap();
    assert!(text.starts_with("Type\tName\tChange\n"), "{text}");
    let summary = http.get(format!("{base}{summary}")).send().await.unwrap();
    assert_eq!(summary.status(), 200);
    let summary: Value = summary.json().await.unwrap();
    assert!(summary["summaryReport"]["totals"].is_object(), "{summary}");
}

/// The task id in the printed export download.
fn demo_export_id() -> &'static str {
    let [file, _, _] = demo::download_paths();
    scenario::tasks::TASKS
        .iter()
        .find(|task| file.contains(task.task_id))
        .map(|task| task.task_id)
        .unwrap()
}
