//! Models opened and closed on the simulated Anaplan: an open loads the model (`Loading` for
//! `TAKES`, then `Open`), a close closes it (`Closing`, then `Closed`), and an open of a model
//! that is open or loading is refused with 404, as Anaplan's fair use refuses repeated opens.
//! A model nobody opened or closed answers its status as the scenario or the script says.

use std::collections::HashMap;

use axum::http::Method;
use serde_json::json;
use tokio::time::Instant;

use super::reply::Reply;

/// How long loading or closing a model takes.
const TAKES: std::time::Duration = std::time::Duration::from_secs(3);

/// The last open or close of each model, by model id.
#[derive(Default)]
pub struct Models {
    acted: HashMap<String, (bool, Instant)>,
}

impl Models {
    /// The answer to an open, a close, or the status of a model opened or closed, if `path`
    /// (below `/2/0`) is one.
    pub fn reply(&mut self, method: &Method, path: &str) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["workspaces", _, "models", model, "open"]) => {
                if matches!(self.step(model), Some("Loading" | "Open")) {
                    return Some(Reply::not_found());
                }
                self.acted.insert(model.to_string(), (true, Instant::now()));
                Some(Reply::status(202))
            }
            ("POST", ["workspaces", _, "models", model, "close"]) => {
                self.acted
                    .insert(model.to_string(), (false, Instant::now()));
                Some(Reply::status(204))
            }
            ("GET", ["workspaces", _, "models", model, "status"]) => {
                let step = self.step(model)?;
                Some(Reply::ok(json!({"requestStatus": {
                    "currentStep": step, "progress": -1.0, "tooltip": null,
                    "exportTaskType": null, "taskId": null, "creationTime": null
                }})))
            }
            _ => None,
        }
    }

    /// The model's `currentStep` since its last open or close; none if it had neither.
    fn step(&self, model: &str) -> Option<&'static str> {
        let (opened, at) = self.acted.get(model)?;
        let done = at.elapsed() >= TAKES;
        Some(match (opened, done) {
            (true, false) => "Loading",
            (true, true) => "Open",
            (false, false) => "Closing",
            (false, true) => "Closed",
        })
    }
}
