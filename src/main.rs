//! `anaplan-gateway`: parse the configuration, build, serve.

use std::process::ExitCode;
use std::time::Duration;

use anaplan_gateway::config::{
    Cli, Command, CredentialMethod, LogFormat, RawSettings, Settings, setting_name,
};
use anaplan_gateway::upstream::auth::certificate::LoadedCertificate;
use anaplan_gateway::{demo, server, spans, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.args).await,
        Command::Demo => demo(&cli.args).await,
        Command::Healthcheck => healthcheck(&cli.args).await,
        Command::Check => check(&cli.args).await,
    }
}

async fn serve(raw: &RawSettings) -> ExitCode {
    let settings = match Settings::for_serve(raw) {
        Ok(settings) => settings,
        Err(problems) => return configuration_problems(problems),
    };
    if let Err(problem) = start_logging(settings.log_format) {
        return configuration_problems(vec![problem]);
    }
    if let Err(problem) = usable_credentials(&settings) {
        return configuration_problems(vec![problem]);
    }
    if let Err(problem) = export_spans() {
        return configuration_problems(vec![problem]);
    }
    let served = server::run(&settings, |api, admin| {
        tracing::info!(%api, %admin, anaplan = %settings.anaplan.api_url,
            "anaplan-gateway listening");
    })
    .await;
    flush_spans().await;
    report(served)
}

async fn demo(raw: &RawSettings) -> ExitCode {
    let settings = match demo::settings(raw) {
        Ok(settings) => settings,
        Err(problems) => return configuration_problems(problems),
    };
    if let Err(problem) = start_logging(settings.log_format) {
        return configuration_problems(vec![problem]);
    }
    if let Err(problem) = usable_credentials(&settings) {
        return configuration_problems(vec![problem]);
    }
    if let Err(problem) = export_spans() {
        return configuration_problems(vec![problem]);
    }
    let served = demo::run(settings).await;
    flush_spans().await;
    report(served)
}

/// Exports spans when `OTEL_EXPORTER_OTLP_ENDPOINT` says where to, and says so.
fn export_spans() -> Result<(), String> {
    if spans::export_from_env().map_err(|err| format!("{err:#}"))? {
        tracing::info!("exporting spans over OTLP/HTTP");
    }
    Ok(())
}

/// Sends the spans not yet exported before the process ends.
async fn flush_spans() {
    let _ = tokio::task::spawn_blocking(spans::flush).await;
}

/// Logs in once with the configured credentials and prints whom the gateway acts as; on any
/// failure, one line and exit status 1.
async fn check(raw: &RawSettings) -> ExitCode {
    let settings = match Settings::for_serve(raw) {
        Ok(settings) => settings,
        Err(problems) => {
            eprintln!("anaplan-gateway: check: {}", problems.join("; "));
            return ExitCode::FAILURE;
        }
    };
    let certificate = match usable_credentials(&settings) {
        Ok(certificate) => certificate,
        Err(problem) => {
            eprintln!("anaplan-gateway: check: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let checked = async {
        let client = anaplan_gateway::upstream::AnaplanClient::new(&settings.anaplan, None)
            .map_err(|err| format!("{err:#}"))?;
        client.check().await.map_err(|err| err.to_string())
    };
    match checked.await {
        Ok(identity) => {
            println!("method: {}", identity.method);
            println!("user: {}", identity.user);
            println!(
                "token expires: {}",
                httpdate::fmt_http_date(identity.expires_at)
            );
            if let Some(certificate) = certificate {
                println!("certificate: {}", certificate.subject);
                let ends = httpdate::fmt_http_date(certificate.not_after);
                println!("certificate expires: {ends}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "anaplan-gateway: check: {} credentials failed: {err}",
                settings.anaplan.credentials.name()
            );
            ExitCode::FAILURE
        }
    }
}

/// A certificate and key checked as a pair now (an RSA key that belongs to a certificate still
/// valid), so an unusable pair stops the start with one line naming the setting. A certificate
/// near its end is logged and counted, now that logging and metrics are up.
fn usable_credentials(settings: &Settings) -> Result<Option<LoadedCertificate>, String> {
    let CredentialMethod::Certificate(files) = &settings.anaplan.credentials else {
        return Ok(None);
    };
    let certificate = LoadedCertificate::load(files)
        .map_err(|problem| format!("{}: {problem}", setting_name(problem.setting())))?;
    telemetry::metrics_handle();
    certificate.warn_if_expiring();
    Ok(Some(certificate))
}

/// Starts logging as `RUST_LOG` asks; a value that would silently log nothing is a problem.
fn start_logging(format: LogFormat) -> Result<(), String> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = telemetry::log_filter(rust_log.as_deref())?;
    telemetry::init_logging(format, filter);
    Ok(())
}

/// One line per problem, and exit status 2, for every subcommand alike.
fn configuration_problems(problems: Vec<String>) -> ExitCode {
    for problem in problems {
        eprintln!("anaplan-gateway: configuration: {problem}");
    }
    ExitCode::from(2)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("anaplan-gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Probes `/readyz` on the admin listener; an unspecified host (0.0.0.0, ::) is probed on loopback.
async fn healthcheck(raw: &RawSettings) -> ExitCode {
    let admin_listen = raw.admin_listen.as_deref().unwrap_or("0.0.0.0:9090");
    let Ok(mut address) = admin_listen.trim().parse::<std::net::SocketAddr>() else {
        eprintln!(
            "anaplan-gateway: healthcheck: GATEWAY_ADMIN_LISTEN `{admin_listen}` is not an address"
        );
        return ExitCode::FAILURE;
    };
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{address}/readyz");
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!(
                "anaplan-gateway: healthcheck: {url} answered {}",
                response.status()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!(
                "anaplan-gateway: healthcheck: {url} did not answer: {}",
                anaplan_gateway::upstream::innermost_cause(&err)
            );
            ExitCode::FAILURE
        }
    }
}
