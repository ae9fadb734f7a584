//! The binary as an operator meets it: help, exit statuses, the healthcheck, log output.

#![allow(clippy::disallowed_methods, reason = "a real process: real time")]

use std::process::{Command, Output, Stdio};

use crate::helpers::{Stopped, printed_examples, shell};
use std::time::Duration;

fn gateway(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"));
    // Only what the test gives: no setting leaks in from the environment running the tests.
    command.env_clear().args(args);
    command
}

fn run(args: &[&str]) -> Output {
    gateway(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_help_shows_the_demos_defaults() {
    let help = text(&run(&["demo", "--help"]).stdout);
    assert!(help.contains("for the demo, 127.0.0.1:9090"), "{help}");
    assert!(help.contains("for the demo, text"), "{help}");
}

#[test]
fn bad_settings_exit_2_with_one_line_each_for_the_demo_as_for_serving() {
    for subcommand in ["demo", "serve"] {
        let output = run(&[subcommand, "--poll-interval", "5x"]);
        assert_eq!(output.status.code(), Some(2), "{subcommand}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("GATEWAY_POLL_INTERVAL (--poll-interval): `5x` is not a duration"),
            "{stderr}"
        );
    }
}

/// The demo started with `env`: its exit status and what it wrote to standard error.
fn demo_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut demo = gateway(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let output = demo.envs(env.iter().copied()).output().unwrap();
    (output.status.code(), text(&output.stderr))
}

#[test]
fn an_endpoint_spans_cannot_go_to_stops_the_start_without_quoting_it() {
    let endpoint = "http://user:secret@[bad host/";
    let (status, stderr) = demo_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)]);
    assert_eq!(status, Some(2));
    let line = "OTEL_EXPORTER_OTLP_ENDPOINT: not a URL spans can be exported to";
    assert!(stderr.contains(line), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn spans_asked_for_over_grpc_stop_the_start() {
    let (status, stderr) = demo_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert_eq!(status, Some(2));
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL: `grpc` is not exported here"),
        "{stderr}"
    );
}

#[test]
fn a_failing_healthcheck_says_why() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = format!("127.0.0.1:{port}");
    let output = run(&["healthcheck", "--admin-listen", &admin]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("http://{admin}/readyz")),
        "{stderr}"
    );
    assert!(stderr.contains("did not answer"), "{stderr}");
}

#[test]
fn text_logs_written_to_a_file_carry_no_colour_codes() {
    let mut demo = Stopped(
        gateway(&[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("GATEWAY_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // Once it has printed its examples it is serving; then stop it as Kubernetes does, and it
    // logs its shutdown.
    // Its output is read on a thread of its own, so waiting for a line is bounded.
    let stdout = std::io::BufReader::new(demo.0.stdout.take().unwrap());
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout) {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut logs = String::new();
    while !logs.contains("Press Ctrl-C to stop.") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match printed.recv_timeout(left) {
            Ok(line) => logs.extend([line.as_str(), "\n"]),
            Err(why) => panic!("the demo printed no examples ({why:?}): {logs}"),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.0.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // It has exited: the rest of its output comes until the reader sees its end.
    while let Ok(line) = printed.recv_timeout(Duration::from_secs(10)) {
        logs.extend([line.as_str(), "\n"]);
    }
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in: {logs:?}");
}

fn fixture_path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/credentials/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn unusable_credentials_stop_the_start_with_one_line_naming_the_setting() {
    let (certificate, expired) = (
        fixture_path("certificate.pem"),
        fixture_path("expired-certificate.pem"),
    );
    let (key, ec_key) = (
        fixture_path("private-key.pem"),
        fixture_path("ec-private-key.pem"),
    );
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec![
                "--certificate-file",
                &certificate,
                "--private-key-file",
                &ec_key,
            ],
            "ANAPLAN_PRIVATE_KEY_FILE (--private-key-file): an EC key",
        ),
        (
            vec!["--certificate-file", &expired, "--private-key-file", &key],
            "ANAPLAN_CERTIFICATE_FILE (--certificate-file): the certificate",
        ),
        (
            vec![
                "--certificate-file",
                &certificate,
                "--username",
                "svc@example.com",
            ],
            "configure one credential method, not both basic and certificate",
        ),
        (
            vec!["--oauth-client-id", "client"],
            "ANAPLAN_OAUTH_REFRESH_TOKEN_FILE (--oauth-refresh-token-file): required",
        ),
    ];
    for (args, expected) in cases {
        let output = run(&[&["serve"], args.as_slice()].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(expected),
            "{expected} missing from:\n{stderr}"
        );
        assert!(
            stderr
                .lines()
                .all(|line| line.starts_with("anaplan-gateway: configuration: "))
        );
    }
}

#[test]
fn a_password_in_the_environment_never_shows_in_help() {
    let output = gateway(&["--help"])
        .env("ANAPLAN_PASSWORD", "hunter2-in-env")
        .env("ANAPLAN_USERNAME", "svc@example.com")
        .output()
        .unwrap();
    let help = text(&output.stdout);
    assert!(help.contains("ANAPLAN_PASSWORD"), "{help}");
    assert!(
        help.contains("svc@example.com"),
        "other values do show: {help}"
    );
    assert!(!help.contains("hunter2-in-env"), "{help}");
}

#[test]
fn the_demos_printed_lines_work_as_printed_with_a_callers_file() {
    let key = "a-callers-key-for-this-test";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let callers = std::env::temp_dir().join(format!("demo-callers-{}.json", std::process::id()));
    let file =
        format!(r#"{{"callers": [{{"name": "me", "keySha256": "{hash}", "models": ["*"]}}]}}"#);
    std::fs::write(&callers, file).unwrap();
    let mut command = gateway(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    command.env("GATEWAY_CALLERS_FILE", &callers);
    let (_demo, output) = printed_examples(command);
    let first = output
        .iter()
        .find(|line| line.trim_start().starts_with("curl"))
        .unwrap();
    assert!(first.contains("$GATEWAY_CALLER_KEY"), "{first}");
    // The example answers with the caller's key, as printed ...
    let answer = shell(first.trim(), &[("GATEWAY_CALLER_KEY", key)]);
    assert!(
        text(&answer.stdout).contains("\"taskId\""),
        "{}",
        text(&answer.stdout)
    );
    // ... and `check` logs in to the simulated Anaplan, which refuses a wrong password.
    let check = output
        .iter()
        .find(|line| line.trim_end().ends_with(" check"))
        .unwrap();
    assert!(shell(check.trim(), &[]).status.success(), "{check}");
    let wrong = check.replace("ANAPLAN_PASSWORD=demo", "ANAPLAN_PASSWORD=wrong");
    assert_eq!(shell(wrong.trim(), &[]).status.code(), Some(1));
    let _ = std::fs::remove_file(&callers);
}

/// The demo on free ports, and the lines it printed.
/// What a line the demo printed writes to standard output when run in the shell as printed.
fn run_printed(line: &str) -> String {
    text(&shell(line.trim(), &[]).stdout)
}

/// The demo's printed lines that `wanted` picks: exactly `count` of them.
fn printed(output: &[String], count: usize, wanted: impl Fn(&str) -> bool) -> Vec<&String> {
    let lines: Vec<&String> = output.iter().filter(|line| wanted(line)).collect();
    assert_eq!(lines.len(), count, "{output:?}");
    lines
}

fn demo_lines() -> (Stopped, Vec<String>) {
    let command = gateway(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    printed_examples(command)
}

#[test]
fn the_demos_start_and_its_repeat_work_as_printed() {
    let (_demo, output) = demo_lines();
    let starts = printed(&output, 2, |line| {
        line.contains("-X POST") && line.contains("/tasks/") && !line.contains("/tasks/status")
    });
    assert_eq!(starts[0], starts[1], "the repeat is the same line");
    let first = run_printed(starts[0]);
    assert!(first.starts_with("HTTP/1.1 202"), "{first}");
    let location = first
        .lines()
        .find_map(|line| line.strip_prefix("location: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(location.starts_with("/tasks/import/"), "{first}");
    let repeat = run_printed(starts[1]);
    assert!(repeat.starts_with("HTTP/1.1 202"), "{repeat}");
    assert!(
        repeat.contains(&format!("location: {location}")),
        "{repeat}"
    );
    assert!(repeat.contains("idempotent-replayed: true"), "{repeat}");
}

#[test]
fn the_demos_batch_and_held_batch_work_as_printed() {
    let (_demo, output) = demo_lines();
    let batches = printed(&output, 2, |line| line.contains("/tasks/status"));
    let answer = run_printed(batches[0]);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let tasks = answer["tasks"].as_array().unwrap();
    let kinds: Vec<&str> = tasks
        .iter()
        .map(|task| task["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["import", "export", "integration-run"]);
    assert!(
        tasks.iter().all(|task| task["etag"].is_string()),
        "{answer}"
    );

    // The import runs: held until its next poll brings a change, well within the wait.
    let held = run_printed(batches[1]);
    assert!(held.starts_with("HTTP/1.1 200"), "{held}");
    assert!(held.contains("preference-applied: wait=20"), "{held}");
    assert!(held.contains("\"changed\":true"), "{held}");
}

#[test]
fn the_demos_upload_works_as_printed() {
    let (_demo, output) = demo_lines();
    let uploads = printed(&output, 1, |line| line.contains(" -T - "));
    let answer = run_printed(uploads[0]);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["fileId"], "113000000000");
    assert_eq!(answer["chunks"], 1);
    assert_eq!(answer["bytes"], "Employee,Salary\nAnn Example,100\n".len());
}

#[test]
fn the_demos_close_and_open_work_as_printed() {
    let (_demo, output) = demo_lines();
    let actions = printed(&output, 2, |line| {
        line.contains("-X POST") && line.contains("/models/")
    });
    let closed = run_printed(actions[0]);
    assert!(closed.starts_with("HTTP/1.1 202"), "{closed}");
    assert!(closed.contains("location: /models/"), "{closed}");
    // Closed by the time the status after the close was asked: the open is sent.
    assert!(closed.contains("\"state\":\"closed\""), "{closed}");
    let opened = run_printed(actions[1]);
    assert!(
        opened.starts_with("HTTP/1.1 202"),
        "an open was sent: {opened}"
    );
}
