//! What starting a task needs beside the call itself: the start's [`options`] per kind, the
//! caller's `Idempotency-Key`, the [`records`] that make a key's start happen once (in a fleet
//! too), and the window in which a start whose answer was lost may have created its task.
//!
//! A start is sent at most once. When its outcome is lost on the way back, the task it may have
//! created is looked for in the object's task list: the only task created within the start's
//! window that no other start claims is the one; none or several, and the caller is told so
//! with the candidates, never a guess.

pub mod options;
pub mod records;

use std::time::Duration;

use crate::ids::IdError;

pub use options::StartOptions;
pub use records::{KeyRecord, RecordState, Records, StartAnswer, Stored, Unavailable};

/// The longest `Idempotency-Key`.
const MAX_KEY: usize = 255;
/// Slack on each side of a start's window: Anaplan's `Date` tells its clock to the second.
const WINDOW_SLACK_MS: i64 = 2_000;

/// A caller's `Idempotency-Key`, as the draft defines it: 1 to 255 visible ASCII characters,
/// given bare or in double quotes (a structured-field string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Reads the header's value: a value that starts with a double quote must end with one.
    pub fn parse(value: &[u8]) -> Result<Self, IdError> {
        let bare = match value {
            [b'"', inner @ .., b'"'] => inner,
            [b'"', ..] => b"",
            bare => bare,
        };
        let visible = bare.iter().all(|b| (0x21..=0x7e).contains(b));
        match (1..=MAX_KEY).contains(&bare.len()) && visible {
            true => Ok(Self(String::from_utf8_lossy(bare).into_owned())),
            false => Err(IdError::Malformed {
                param: "Idempotency-Key",
                expected: "1 to 255 visible ASCII characters, bare or in double quotes",
            }),
        }
    }

    /// The key as one caller's: two callers' equal keys are different keys.
    pub fn scoped(&self, caller: Option<&str>) -> String {
        let caller = caller.unwrap_or("");
        format!("{}:{caller}:{}", caller.len(), self.0)
    }
}

/// When a start's task may have been created, on Anaplan's clock (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from_ms: i64,
    to_ms: i64,
}

impl Window {
    /// The window of a start sent at `sent_at_ms` (the gateway's clock) and given up after
    /// `bound`, with Anaplan's clock `offset_ms` ahead of the gateway's.
    pub fn of_start(sent_at_ms: i64, offset_ms: i64, bound: Duration) -> Self {
        let sent = sent_at_ms.saturating_add(offset_ms);
        let bound = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
        Self {
            from_ms: sent.saturating_sub(WINDOW_SLACK_MS),
            to_ms: sent.saturating_add(bound).saturating_add(WINDOW_SLACK_MS),
        }
    }

    /// Whether a task created at `creation_ms` may be the start's; one whose creation time
    /// Anaplan did not give may be.
    pub fn holds(&self, creation_ms: Option<i64>) -> bool {
        creation_ms.is_none_or(|at| (self.from_ms..=self.to_ms).contains(&at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_visible_ascii_bare_or_quoted() {
        let key = |text: &str| IdempotencyKey::parse(text.as_bytes()).map(|key| key.0);
        assert_eq!(key("nightly-2026-12-06"), Ok("nightly-2026-12-06".into()));
        assert_eq!(key("\"8e03978e-40d5\""), Ok("8e03978e-40d5".into()));
        assert_eq!(key(&"k".repeat(255)).map(|k| k.len()), Ok(255));
        for bad in [
            "",
            "\"\"",
            "\"open",
            "two words",
            "tab\there",
            "é",
            &"k".repeat(256),
        ] {
            assert!(key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_key_is_the_callers_own() {
        let key = IdempotencyKey::parse(b"b:c").unwrap();
        let other = IdempotencyKey::parse(b"c").unwrap();
        assert_ne!(key.scoped(Some("a")), other.scoped(Some("a:b")));
        assert_ne!(key.scoped(Some("a")), key.scoped(None));
    }

    #[test]
    fn the_window_runs_from_the_send_to_the_bound_with_slack_on_anaplans_clock() {
        let window = Window::of_start(1_000_000, 60_000, Duration::from_secs(30));
        assert!(!window.holds(Some(1_057_999)));
        assert!(window.holds(Some(1_058_000)));
        assert!(window.holds(Some(1_092_000)));
        assert!(!window.holds(Some(1_092_001)));
        assert!(
            window.holds(None),
            "a task without a creation time may be the one"
        );
    }
}
