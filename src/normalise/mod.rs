//! From Anaplan's wire shapes to the one normalised schema: [`task`] for the six task kinds,
//! [`model`] for model status.
//!
//! Lenient by design: a state or step Anaplan adds later becomes `unknown` with the raw value
//! kept, missing `details` or `result` is no error, and ids that come as numbers stay strings.

mod model;
mod task;

/// Progress in 0..1, or none where Anaplan gives none or a negative value (-1 means idle).
pub(crate) fn progress(raw: Option<f64>) -> Option<f64> {
    raw.filter(|value| value.is_finite() && *value >= 0.0)
        .map(|value| value.min(1.0))
}

/// Anaplan's documented JSON from `tests/fixtures`, for the unit tests.
#[cfg(test)]
fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
