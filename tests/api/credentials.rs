//! Certificate and OAuth credentials against the simulated Anaplan, which checks them as Anaplan
//! does: a certificate login's signature, freshness and single use; an OAuth refresh token that
//! rotates at every use. Logins are counted, and no secret reaches a log or an answer.

use std::path::PathBuf;
use std::time::Duration;

use anaplan_gateway::simulator::OAuthClient;
use reqwest::Method;

use crate::demo::{ask_every_example, spawn_demo};
use crate::helpers::*;

const CLIENT: &str = "gateway-client";

fn certificate_flags() -> Vec<String> {
    vec![
        "--certificate-file".into(),
        credential_file("certificate.pem"),
        "--private-key-file".into(),
        credential_file("private-key-encrypted.pem"),
        "--private-key-passphrase-file".into(),
        credential_file("passphrase.txt"),
    ]
}

/// A simulated Anaplan that trusts the certificate `trusted` (a fixture's name).
async fn anaplan_trusting(trusted: &str) -> Simulator {
    let options = Options {
        username: USERNAME.into(),
        certificate: Some(std::fs::read(credential_file(trusted)).unwrap()),
        ..Options::default()
    };
    Simulator::start(options).await.unwrap()
}

/// A simulated Anaplan with a rotating OAuth client, and a file holding its refresh token.
pub async fn anaplan_with_oauth(name: &str) -> (Simulator, PathBuf) {
    let folder = std::env::temp_dir().join(format!("gateway-oauth-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("refresh-token");
    std::fs::write(&file, "first-refresh-token\n").unwrap();
    let client = OAuthClient {
        client_id: CLIENT.into(),
        refresh_token: "first-refresh-token".into(),
        rotate: true,
    };
    let options = Options {
        username: USERNAME.into(),
        oauth: Some(client),
        ..Options::default()
    };
    (Simulator::start(options).await.unwrap(), file)
}

pub fn oauth_flags(file: &std::path::Path) -> Vec<String> {
    let file = file.display().to_string();
    vec![
        "--oauth-client-id".into(),
        CLIENT.into(),
        "--oauth-refresh-token-file".into(),
        file,
    ]
}

pub fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

fn in_progress(app: &TestApp, n: usize) {
    let reply = Reply::ok(fixture("task_in_progress.json"));
    app.anaplan.on(&import_path(&task_id(n)), reply);
}

#[tokio::test]
async fn every_task_kind_answers_with_a_certificate_and_with_oauth_in_the_demo() {
    ask_every_example(&spawn_demo(&strs(&certificate_flags())).await).await;
    let folder = std::env::temp_dir().join(format!("gateway-demo-oauth-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("refresh-token");
    std::fs::write(&file, "demo-refresh-token\n").unwrap();
    ask_every_example(&spawn_demo(&strs(&oauth_flags(&file))).await).await;
}

#[tokio::test(start_paused = true)]
async fn one_certificate_login_per_token_lifetime() {
    let anaplan = anaplan_trusting("certificate.pem").await;
    let settings = settings_for(&anaplan, &strs(&certificate_flags()), &[]);
    let app = spawn_app_for(anaplan, settings).await;
    for n in 1..=10 {
        in_progress(&app, n);
        assert_eq!(app.get(&import_route(&task_id(n))).await.status(), 200);
        tokio::time::advance(Duration::from_secs(150)).await;
    }
    assert_eq!(app.anaplan.authentications(), 1, "25 minutes, one login");
    assert!(app.anaplan.certificate_refusals().is_empty());
    // Past the renewal margin the token is refreshed, not replaced by a second login.
    tokio::time::advance(Duration::from_secs(6 * 60)).await;
    in_progress(&app, 11);
    assert_eq!(app.get(&import_route(&task_id(11))).await.status(), 200);
    until("the renewal", || app.anaplan.refreshes() == 1).await;
    assert_eq!(app.anaplan.authentications(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_certificate_pauses_logins() {
    // The simulated Anaplan trusts another certificate than the one presented.
    let anaplan = anaplan_trusting("expired-certificate.pem").await;
    let settings = settings_for(&anaplan, &strs(&certificate_flags()), &[]);
    let app = spawn_app_for(anaplan, settings).await;
    for n in 1..=5 {
        let response = app.get(&import_route(&task_id(n))).await;
        assert_eq!(response.status(), 502);
        let body = response.text().await.unwrap();
        assert!(body.contains("credentials-refused"), "{body}");
    }
    assert_eq!(
        app.anaplan.authentications(),
        1,
        "one login, then the pause"
    );
    assert_eq!(
        app.anaplan.certificate_refusals(),
        ["certificate not trusted"]
    );
    tokio::time::advance(Duration::from_secs(6)).await;
    app.get(&import_route(&task_id(6))).await;
    assert_eq!(
        app.anaplan.authentications(),
        2,
        "tried again after the pause"
    );
    let path = import_path(&task_id(6));
    assert_eq!(app.anaplan.calls(Method::GET, &path), 0);
}

#[tokio::test(start_paused = true)]
async fn oauth_tokens_are_renewed_with_the_rotated_refresh_token_kept_on_disk() {
    let (anaplan, file) = anaplan_with_oauth("renew").await;
    let settings = settings_for(&anaplan, &strs(&oauth_flags(&file)), &[]);
    let app = spawn_app_for(anaplan, settings).await;
    in_progress(&app, 1);
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    assert_eq!(app.anaplan.oauth_exchanges(), 1);
    let rotated = app.anaplan.current_refresh_token().unwrap();
    assert_ne!(rotated, "first-refresh-token");
    let kept = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        kept.trim_end(),
        rotated,
        "the rotated token replaced the file's"
    );

    // Ten minutes later nothing more; past the renewal margin one more exchange, with the token
    // kept last time, and never with a spent one.
    tokio::time::advance(Duration::from_secs(10 * 60)).await;
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    assert_eq!(app.anaplan.oauth_exchanges(), 1);
    tokio::time::advance(Duration::from_secs(21 * 60)).await;
    in_progress(&app, 2);
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    until("the renewal", || app.anaplan.oauth_exchanges() == 2).await;
    until("the file", || {
        let kept = std::fs::read_to_string(&file).unwrap_or_default();
        Some(kept.trim_end().to_owned()) == app.anaplan.current_refresh_token()
    })
    .await;
    assert_eq!(app.anaplan.spent_refresh_tokens_reused(), 0);
    assert_eq!(
        app.anaplan.refreshes() + app.anaplan.authentications(),
        0,
        "never /token/*"
    );
}

/// Runs `anaplan-gateway check` in front of `anaplan`.
async fn run_check(anaplan: &Simulator, credentials: &[&str]) -> std::process::Output {
    let args = gateway_args(anaplan, credentials, &[]);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .env_clear()
        .arg("check")
        .args(&args[1..])
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn check_says_whom_the_gateway_acts_as_or_why_it_cannot_log_in() {
    let anaplan = anaplan_trusting("certificate.pem").await;
    let output = run_check(&anaplan, &strs(&certificate_flags())).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for line in [
        "method: certificate",
        &format!("user: {USERNAME}"),
        "token expires: ",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
    assert!(
        stdout.contains("certificate: ") && stdout.contains("CN=gateway-test"),
        "{stdout}"
    );
    assert!(stdout.contains("certificate expires: "), "{stdout}");

    let refusing = anaplan_trusting("expired-certificate.pem").await;
    let output = run_check(&refusing, &strs(&certificate_flags())).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("certificate credentials failed"),
        "{stderr}"
    );

    let (oauth, file) = anaplan_with_oauth("check").await;
    let output = run_check(&oauth, &strs(&oauth_flags(&file))).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("method: oauth"));
}

#[tokio::test]
async fn no_key_passphrase_token_or_signature_reaches_a_log() {
    let anaplan = anaplan_trusting("certificate.pem").await;
    let (oauth, file) = anaplan_with_oauth("logs").await;
    let runs = [(anaplan, certificate_flags()), (oauth, oauth_flags(&file))];
    for (anaplan, flags) in runs {
        let (gateway, api) = spawn_gateway_process_with(&anaplan, &strs(&flags)).await;
        let url = format!("http://{api}{}", import_route(TASK));
        let answer = reqwest::get(url).await.unwrap().text().await.unwrap();
        let logs = stop_for_logs(gateway).await + &answer;
        assert!(logs.contains("authenticated with Anaplan"), "{logs}");
        let mut secrets = anaplan.secrets_issued();
        secrets.push("correct horse battery staple".into());
        // Every line of the key, in both forms the test gives it.
        for file in ["private-key.pem", "private-key-encrypted.pem"] {
            let key = std::fs::read_to_string(credential_file(file)).unwrap();
            secrets.extend(
                key.lines()
                    .filter(|line| !line.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
        secrets.push("first-refresh-token".into());
        assert!(secrets.len() > 3);
        for secret in secrets {
            assert!(!logs.contains(&secret), "{secret} in the logs");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_oauth_renewal_is_not_followed_at_once_by_a_second_trade() {
    let (anaplan, file) = anaplan_with_oauth("failed-renewal").await;
    anaplan.set_token_lifetime(Duration::from_secs(6 * 60));
    let settings = settings_for(&anaplan, &strs(&oauth_flags(&file)), &[]);
    let app = spawn_app_for(anaplan, settings).await;
    in_progress(&app, 1);
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    let kept = app.anaplan.current_refresh_token();

    // Due for renewal, and the OAuth endpoint fails: one trade, then the login pause.
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    app.anaplan.set_auth_down(true);
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    until("the failed renewal", || app.anaplan.oauth_exchanges() == 2).await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(app.anaplan.oauth_exchanges(), 2, "no second trade at once");
    assert_eq!(app.anaplan.current_refresh_token(), kept);

    // After the pause the same refresh token (never spent) is traded again.
    app.anaplan.set_auth_down(false);
    tokio::time::advance(Duration::from_secs(6)).await;
    in_progress(&app, 2);
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    until("the renewal", || app.anaplan.oauth_exchanges() == 3).await;
    assert_eq!(app.anaplan.spent_refresh_tokens_reused(), 0);
}
