//! How a setting's text is read: durations, addresses, counts and base URLs, each refused with
//! a reason a person can act on.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;

/// The longest any duration setting may be: longer ones are mistakes, and overflow clocks.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest any count setting may be.
const MAX_COUNT: u64 = 1 << 30;

pub fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(value) if value > MAX_DURATION => Err(format!("`{text}` is longer than a day")),
        Ok(value) if !value.is_zero() => Ok(value),
        Ok(_) => Err("must be more than zero".into()),
        Err(_) => Err(format!(
            "`{text}` is not a duration; use for example 5s, 1500ms or 2m"
        )),
    }
}

pub fn address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an address; use for example 127.0.0.1:8080"))
}

/// `true` or `false`, as a flag's value.
pub fn flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{text}` is neither true nor false")),
    }
}

pub fn positive(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(value @ 1..=MAX_COUNT) => Ok(value),
        _ => Err(format!(
            "`{text}` is not a whole number from 1 to {MAX_COUNT}"
        )),
    }
}

/// An upload's chunk size: `10MiB`, `512KiB` or bytes, from 1 MiB to 50 MiB (Anaplan's bound
/// on a chunk's uncompressed data).
pub fn chunk_size(text: &str) -> Result<usize, String> {
    const MIB: u64 = 1024 * 1024;
    const MAX_CHUNK: u64 = 50 * MIB;
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let unit = match unit.trim() {
        "" | "B" => Some(1),
        "KiB" => Some(1024),
        "MiB" => Some(MIB),
        _ => None,
    };
    let bytes = unit.and_then(|unit| digits.parse::<u64>().ok()?.checked_mul(unit));
    match bytes {
        Some(bytes @ MIB..=MAX_CHUNK) => Ok(bytes as usize),
        _ => Err(format!(
            "`{text}` is not a size from 1MiB to 50MiB; use for example 10MiB"
        )),
    }
}

/// A listen backlog: 1 to 65535 connections.
pub fn backlog(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(value @ 1..=65535) => Ok(value),
        _ => Err(format!("`{text}` is not a whole number from 1 to 65535")),
    }
}

/// Browser origins, comma-separated: each `http` or `https`, a host and maybe a port, nothing
/// after (`https://dash.example.com`, `http://localhost:3000`).
pub fn origins(text: &str) -> Result<Vec<String>, String> {
    let origin = |item: &str| {
        let url = Url::parse(item).ok().filter(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && !item.ends_with('/')
        });
        url.map(|url| url.origin().ascii_serialization())
            .ok_or_else(|| {
                format!("`{item}` is not an origin; use for example https://dash.example.com")
            })
    };
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(origin)
        .collect()
}

pub fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim().trim_end_matches('/'))
        .map_err(|err| format!("`{text}` is not a URL ({err})"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(format!("`{text}` must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must not carry a query or fragment"));
    }
    // Credentials in a URL would be logged with it; they belong in ANAPLAN_USERNAME/PASSWORD.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials (use ANAPLAN_USERNAME and ANAPLAN_PASSWORD_FILE)".into(),
        );
    }
    Ok(url)
}

/// Reads `N/s` or `N/m` (calls per second or per minute, N at least 1).
pub fn rate(text: &str) -> Result<governor::Quota, String> {
    let expected = || format!("`{text}` is not a rate such as 10/s or 600/m");
    let (count, per) = text.trim().split_once('/').ok_or_else(expected)?;
    let count = count.trim().parse().map_err(|_| expected())?;
    match per.trim() {
        "s" => Ok(governor::Quota::per_second(count)),
        "m" => Ok(governor::Quota::per_minute(count)),
        _ => Err(expected()),
    }
}
