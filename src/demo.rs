//! `anaplan-gateway demo`: the gateway in front of the [simulated Anaplan](crate::simulator) built
//! into the binary, playing the demo's [scenario](crate::simulator::scenario): tasks of every kind
//! that finish over two minutes, one busy model and one idle. No credentials, no network; given a
//! certificate or an OAuth refresh token, the simulator accepts those instead.

use std::net::SocketAddr;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{CredentialMethod, Credentials, PasswordSource, RawSettings, Settings};
use crate::simulator::scenario::tasks::{NAMED, TASKS};
use crate::simulator::scenario::{BUSY_MODEL, IDLE_MODEL};
use crate::simulator::{FileContent, OAuthClient, Options, Scenario, Simulator};
use crate::{secret_file, server};

mod paths;
use paths::{DEMO_EXPORT, DEMO_FILE, demo_task};
pub use paths::{
    batch_body, download_paths, example_paths, held_batch_line, named_path, report_paths,
    runs_path, upload_path,
};

/// The user the demo logs in as, and its password (the demo's own, printed for trying `check`).
const DEMO_USER: &str = "demo@example.com";
const DEMO_PASSWORD: &str = "demo";

/// Starts the simulated Anaplan with the demo's scenario, accepting `credentials`, whatever the
/// method; returns its address.
pub async fn spawn_simulator(credentials: &CredentialMethod) -> anyhow::Result<SocketAddr> {
    let mut options = Options {
        username: DEMO_USER.into(),
        scenario: Some(Scenario::demo()),
        ..Options::default()
    };
    match credentials {
        CredentialMethod::Basic(basic) => {
            options.username = basic.username.clone();
            // The simulator checks the password as Anaplan would, so a wrong one fails.
            options.password = Some(match &basic.password {
                PasswordSource::Inline(password) => password.clone(),
                PasswordSource::File(file) => {
                    secret_file::read(file).context("reading the password file")?
                }
            });
        }
        CredentialMethod::Certificate(files) => {
            let pem = std::fs::read(&files.certificate).context("reading the certificate")?;
            options.certificate = Some(pem);
        }
        CredentialMethod::OAuth(oauth) => {
            let token = secret_file::read(&oauth.refresh_token_file)
                .context("reading the refresh token")?;
            options.oauth = Some(OAuthClient {
                client_id: oauth.client_id.clone(),
                refresh_token: token.expose_secret().to_owned(),
                rotate: true,
            });
        }
    }
    let simulator = Simulator::start(options).await?;
    // The demo's export writes its output file: three chunks to collect once it has succeeded.
    let file = FileContent::Generated {
        chunks: 3,
        chunk_size: 2000,
    };
    simulator.put_file(demo_task(DEMO_EXPORT).object_id, file);
    simulator.list_file(DEMO_FILE, "Employees.csv");
    for (collection, id, name) in NAMED {
        simulator.list_object(collection, id, name);
    }
    Ok(simulator.address)
}

/// The demo's settings: the raw settings with the demo's defaults, and the simulator's
/// credentials (its URLs are set once it runs).
pub fn settings(raw: &RawSettings) -> Result<Settings, Vec<String>> {
    let credentials = Credentials {
        username: DEMO_USER.into(),
        password: PasswordSource::Inline(SecretString::from(DEMO_PASSWORD.to_owned())),
    };
    Settings::for_demo(raw, credentials)
}

/// Starts the simulated Anaplan for `settings` and points them at it.
pub async fn point_at_simulator(settings: &mut Settings) -> anyhow::Result<()> {
    let simulator = spawn_simulator(&settings.anaplan.credentials)
        .await
        .context("starting the simulated Anaplan")?;
    settings.anaplan.api_url = format!("http://{simulator}/2/0").parse()?;
    settings.anaplan.auth_url = format!("http://{simulator}").parse()?;
    settings.anaplan.cloudworks_url = format!("http://{simulator}/cloudworks").parse()?;
    if let CredentialMethod::OAuth(oauth) = &mut settings.anaplan.credentials {
        oauth.url = format!("http://{simulator}").parse()?;
        // The simulator hands out its own refresh tokens: rotate a copy, never the given file.
        let name = format!("anaplan-gateway-demo-refresh-token-{}", std::process::id());
        let copy = std::env::temp_dir().join(name);
        std::fs::copy(&oauth.refresh_token_file, &copy).context("copying the refresh token")?;
        oauth.refresh_token_file = copy;
    }
    Ok(())
}

/// Runs the demo with `settings` until Ctrl-C or SIGTERM.
pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    point_at_simulator(&mut settings).await?;
    server::run(&settings, |api, admin| {
        print_examples(&settings, api, admin)
    })
    .await
}

/// An upload of the import's file from the shell, streamed as it is piped.
fn print_upload(base: &str, curl: &str) {
    let path = upload_path();
    println!(
        "\nUpload the file the import reads (streamed to Anaplan in compressed chunks, then \
         completed; answered with the chunk and byte counts):\n\n  \
         printf 'Employee,Salary\\nAnn Example,100\\n' | {curl} -s -T - '{base}{path}'"
    );
}

/// Many tasks in one request, and a batch held until one of its tasks changes.
fn print_batches(base: &str, curl: &str) {
    println!(
        "\nAsk about many tasks in one request (each item answered as it would be alone, with \
         its etag):\n\n  {curl} -s -X POST -H 'Content-Type: application/json' -d '{}' \
         '{base}/tasks/status'",
        batch_body()
    );
    println!(
        "\nOr hold a batch until any of its tasks changes (each item carries its etag as \
         ifNoneMatch; up to 20 s):\n\n  {}",
        held_batch_line(base, curl)
    );
}

/// Closing the idle model and waking it again.
fn print_model_actions(base: &str, curl: &str) {
    println!(
        "\nClose the idle model, then wake it (202 with the model's status and its Location; an \
         open goes only to a closed model, at most once in five minutes):\n\n  \
         {curl} -si -X POST '{base}/models/{IDLE_MODEL}/close'\n  \
         {curl} -si -X POST '{base}/models/{IDLE_MODEL}/open'"
    );
}

/// What the demo's export and view read leave to collect.
fn print_downloads(base: &str, curl: &str) {
    let [file, page, data] = download_paths();
    println!(
        "\nCollect what finished tasks left, with the gateway's token: an export's file, a view \
         read's first page, and all its pages (a running task's are 409 until it succeeds):\n\n  {curl} -s '{base}{file}'\n  \
         {curl} -s '{base}{page}'\n  {curl} -s '{base}{data}'"
    );
    let [comparison, summary] = report_paths();
    println!(
        "\nThe reports two ALM report tasks made (the comparison as tab-separated text, the \
         summary as JSON):\n\n  {curl} -s '{base}{comparison}'\n  {curl} -s '{base}{summary}'"
    );
}

/// A start with an `Idempotency-Key` of this run's own, and its repeat.
fn print_start(base: &str, curl: &str) {
    let key = format!("demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    let start = format!(
        "{curl} -si -X POST -H 'Idempotency-Key: {key}' -H 'Content-Type: application/json' \
         -d '{{\"localeName\": \"en_US\"}}' '{base}/tasks/import?modelId={BUSY_MODEL}&objectId=112000000009'"
    );
    println!(
        "\nStart an import (202, with the task and its Location to watch it at), then send the \
         same start again: the key makes it the same start, answered the same (Idempotent-Replayed: \
         true), never a second task:\n\n  {start}\n  {start}"
    );
}

/// The examples, for the addresses the listeners were bound to (a port 0 given is a real one by
/// then).
fn print_examples(settings: &Settings, api: SocketAddr, admin: SocketAddr) {
    let base = format!("http://{api}");
    // With callers configured every request needs a caller's key: the lines send the one in
    // GATEWAY_CALLER_KEY (the file holds only its hash).
    let curl = match settings.callers {
        Some(_) => "curl -H \"Authorization: Bearer $GATEWAY_CALLER_KEY\"",
        None => "curl",
    };
    println!(
        "anaplan-gateway demo: a simulated Anaplan with tasks that finish over the next two minutes."
    );
    println!(
        "Ask again every few seconds to watch them move (the gateway polls Anaplan at most every {}):\n",
        humantime::format_duration(settings.polling.interval)
    );
    for path in example_paths() {
        println!("  {curl} -s '{base}{path}'");
    }
    let list_read = &TASKS[6];
    println!("\nCancel the list read (it runs for two minutes otherwise):\n");
    println!(
        "  {curl} -s -X DELETE '{base}/tasks/{}/{}?modelId={BUSY_MODEL}&objectId={}'",
        list_read.kind, list_read.task_id, list_read.object_id
    );
    println!(
        "\nSee the headers (ETag, Age, Cache-Control, Cache-Status):\n\n  {curl} -si '{base}{}'",
        example_paths()[0]
    );
    println!(
        "\nWait for it to change instead of asking again (held until it does, up to 20 s):\n\n  \
         tag=$({curl} -s -o /dev/null -D - '{base}{path}' | tr -d '\\r' | sed -n 's/^etag: //p'); \
         {curl} -si -H \"If-None-Match: $tag\" -H 'Prefer: wait=20' '{base}{path}'",
        path = example_paths()[0]
    );
    println!(
        "\nOr be told each change as it comes, until it finishes (Server-Sent Events):\n\n  \
         {curl} -sN '{base}{}'",
        example_paths()[0].replacen('?', "/events?", 1)
    );
    println!(
        "\nAn import's runs, newest first, and the rows its failed run rejected (its failure \
         dump, read with the gateway's token):\n\n  {curl} -s '{base}/tasks/import?modelId={BUSY_MODEL}&objectId=112000000009'\n  \
         {curl} -s '{base}/tasks/import/3D3D84DDD53847BAA621810B593C3FC3/dump?modelId={BUSY_MODEL}&objectId=112000000009'"
    );
    println!(
        "\nOr name the import instead of giving its id (the answer carries both):\n\n  \
         {curl} -s '{base}{}'",
        named_path()
    );
    println!(
        "\nA CloudWorks integration's runs, newest first (the run above is one: the tenant's, \
         so no modelId):\n\n  {curl} -s '{base}{}'",
        runs_path()
    );
    print_batches(&base, curl);
    print_model_actions(&base, curl);
    print_upload(&base, curl);
    print_start(&base, curl);
    print_downloads(&base, curl);
    println!(
        "\nAPI docs: {base}/docs   health: http://{}/readyz   metrics: http://{}/metrics",
        admin, admin
    );
    print_simulator(settings, api, admin);
    println!("Press Ctrl-C to stop.\n");
}

/// Where the simulated Anaplan listens, with a `check` against it and, in a fleet, a second
/// replica in front of it: both lines work as printed. With credentials of the operator's own,
/// which are never printed, only the address is.
fn print_simulator(settings: &Settings, api: SocketAddr, admin: SocketAddr) {
    let anaplan = &settings.anaplan;
    let auth_url = anaplan.auth_url.as_str().trim_end_matches('/');
    let login = match &anaplan.credentials {
        CredentialMethod::Basic(basic) if is_demo_password(&basic.password) => format!(
            "ANAPLAN_USERNAME={} ANAPLAN_PASSWORD={DEMO_PASSWORD}",
            basic.username
        ),
        _ => {
            println!(
                "\nThe simulated Anaplan is at {auth_url} (API {}).",
                anaplan.api_url
            );
            return;
        }
    };
    let this = std::env::current_exe().map_or_else(
        |_| "anaplan-gateway".to_owned(),
        |path| path.display().to_string(),
    );
    let anaplan_env = format!(
        "ANAPLAN_API_URL={} ANAPLAN_AUTH_URL={auth_url} {login}",
        anaplan.api_url
    );
    println!(
        "\nThe simulated Anaplan is at {auth_url}; log in to it as the gateway does (a wrong \
         password fails):\n\n  {anaplan_env} {this} check"
    );
    if let Some(shared) = &settings.shared {
        let mut redis = format!(
            "GATEWAY_REDIS_URL={} GATEWAY_REDIS_PREFIX={}",
            shared.url, shared.prefix
        );
        // Paths only: the files' content stays where it is.
        if let Some(file) = &shared.password_file {
            redis += &format!(" GATEWAY_REDIS_PASSWORD_FILE={}", file.display());
        }
        if let Some(file) = &shared.ca_file {
            redis += &format!(" GATEWAY_REDIS_CA_FILE={}", file.display());
        }
        println!(
            "\nA second replica of this fleet, in front of the same simulated Anaplan (one token \
             and one poll per task for both):\n\n  {redis} GATEWAY_LISTEN={} \
             GATEWAY_ADMIN_LISTEN={} GATEWAY_POLL_INTERVAL={}ms GATEWAY_UPSTREAM_RATE={} \
             {anaplan_env} {this} serve",
            next_port(api),
            next_port(admin),
            settings.polling.interval.as_millis(),
            rate(anaplan.rate),
        );
    }
}

/// `quota` as `GATEWAY_UPSTREAM_RATE` reads it: calls a second, or a minute when fewer.
fn rate(quota: governor::Quota) -> String {
    let per_second = 1.0 / quota.replenish_interval().as_secs_f64();
    if per_second >= 1.0 {
        format!("{}/s", per_second.round())
    } else {
        format!("{}/m", (per_second * 60.0).round().max(1.0))
    }
}

/// Whether `password` is the demo's own, which may be printed.
fn is_demo_password(password: &PasswordSource) -> bool {
    matches!(password, PasswordSource::Inline(secret) if secret.expose_secret() == DEMO_PASSWORD)
}

/// `address` with the next port: where a second replica on the same machine listens.
fn next_port(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip(), address.port().wrapping_add(1))
}
