//! Anaplan's clock as its answers' `Date` headers tell it: how far it is from the gateway's, so a
//! task's `creationTime` (Anaplan's clock) can be set against when the gateway sent a start.

use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::header::HeaderValue;

/// No `Date` seen yet.
const UNKNOWN: i64 = i64::MIN;

/// The last offset seen between Anaplan's clock and the gateway's.
#[derive(Debug)]
pub struct ServerClock {
    /// Anaplan's time minus the gateway's, in milliseconds; [`UNKNOWN`] before any answer.
    offset_ms: AtomicI64,
}

impl Default for ServerClock {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(UNKNOWN),
        }
    }
}

impl ServerClock {
    /// Notes an answer's `Date` (whole seconds, so the offset is known to about a second).
    pub fn observe(&self, date: &HeaderValue) {
        let Some(at) = date
            .to_str()
            .ok()
            .and_then(|text| httpdate::parse_http_date(text).ok())
        else {
            return;
        };
        let server = chrono::DateTime::<chrono::Utc>::from(at).timestamp_millis();
        let offset = server - chrono::Utc::now().timestamp_millis();
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Anaplan's time minus the gateway's, in milliseconds; zero before any answer came.
    pub fn offset_ms(&self) -> i64 {
        match self.offset_ms.load(Ordering::Relaxed) {
            UNKNOWN => 0,
            offset => offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_an_hour_ahead_is_an_hour_of_offset() {
        let clock = ServerClock::default();
        assert_eq!(clock.offset_ms(), 0);
        let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        let date = HeaderValue::from_str(&httpdate::fmt_http_date(ahead)).unwrap();
        clock.observe(&date);
        let offset = clock.offset_ms();
        assert!((3_598_000..=3_600_000).contains(&offset), "{offset}");
        clock.observe(&HeaderValue::from_static("not a date"));
        assert_eq!(
            clock.offset_ms(),
            offset,
            "an unreadable Date changes nothing"
        );
    }
}
