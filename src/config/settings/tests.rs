use super::*;
use crate::config::Cli;
use clap::Parser;

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("anaplan-gateway").chain(args.iter().copied())).unwrap()
}

#[test]
fn every_problem_is_one_line_naming_the_variable() {
    let raw = cli(&[
        "--poll-interval",
        "5x",
        "--listen",
        "nowhere",
        "--api-url",
        "ftp://example.com",
    ])
    .args;
    // The environment of the test process must not leak in: these are unset in CI.
    let problems = Settings::for_serve(&raw).unwrap_err();
    let joined = problems.join("\n");
    for variable in [
        "GATEWAY_POLL_INTERVAL (--poll-interval)",
        "GATEWAY_LISTEN (--listen)",
        "ANAPLAN_API_URL (--api-url)",
        "ANAPLAN_USERNAME (--username): required",
        "ANAPLAN_PASSWORD (--password): required",
    ] {
        assert!(
            joined.contains(variable),
            "{variable} missing from:\n{joined}"
        );
    }
    assert!(problems.iter().all(|line| !line.contains('\n')));
}

#[test]
fn durations_take_the_documented_forms() {
    assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(duration("1500ms"), Ok(Duration::from_millis(1500)));
    assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
    assert!(duration("0s").is_err());
    assert!(duration("2000years").is_err());
    assert!(positive("18446744073709551615").is_err());
    let with_secret = base_url("https://user:hunter2@api.anaplan.com/2/0").unwrap_err();
    assert!(!with_secret.contains("hunter2"), "{with_secret}");
    assert!(duration("five").is_err());
}

#[test]
fn the_password_never_shows_in_debug_or_help() {
    let raw = cli(&[
        "--username",
        "svc@example.com",
        "--password",
        "hunter2-secret",
    ])
    .args;
    let settings = Settings::for_serve(&raw).unwrap();
    assert!(!format!("{raw:?}").contains("hunter2-secret"));
    assert!(!format!("{settings:?}").contains("hunter2-secret"));
    let help = <Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    assert!(help.contains("ANAPLAN_PASSWORD"));
}

#[test]
fn an_upload_chunk_is_1_to_50_mib() {
    use crate::config::parse::chunk_size;
    assert_eq!(chunk_size("10MiB"), Ok(10 << 20));
    assert_eq!(chunk_size("1024KiB"), Ok(1 << 20));
    assert_eq!(chunk_size(" 52428800 "), Ok(50 << 20));
    for refused in [
        "0MiB",
        "1023KiB",
        "51MiB",
        "10MB",
        "ten",
        "",
        "MiB",
        "99999999999999999999MiB",
    ] {
        assert!(chunk_size(refused).is_err(), "{refused}");
    }
    let raw = cli(&["--upload-chunk", "64MiB"]).args;
    let problems = Settings::for_serve(&raw).unwrap_err().join("\n");
    assert!(
        problems.contains("GATEWAY_UPLOAD_CHUNK (--upload-chunk)"),
        "{problems}"
    );
}

#[test]
fn cors_origins_are_origins_and_nothing_more() {
    use crate::config::parse::origins;
    assert_eq!(
        origins("https://dash.example.com, http://localhost:3000").unwrap(),
        ["https://dash.example.com", "http://localhost:3000"]
    );
    for refused in [
        "dash.example.com",
        "ftp://x.example",
        "https://x.example/path",
        "https://x.example/",
        "*",
    ] {
        assert!(origins(refused).is_err(), "{refused}");
    }
}
