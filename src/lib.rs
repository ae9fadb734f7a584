//! `anaplan-gateway`: one small, caching, coalescing HTTP API in front of Anaplan's Integration
//! API v2, for the status of every task kind and of models.
//!
//! The layers, outside in: [`api`] (HTTP: who may ask, with [`callers::Callers`]; parameters, the fast
//! path, routes, headers, problem+json, OpenAPI) → [`service`] (what a request does) with [`workspaces`] (which
//! workspace a model lives in), [`waiting`] (requests held until an answer changes) and [`starts`]
//! (a start's options, keys and records) → [`cache`] (polling etiquette, coalescing, stale answers) →
//! [`upstream`] (the Anaplan client, with its [`upstream::auth`] token, and the pauses a fleet
//! shares through [`shared`]). [`normalise`] turns Anaplan's shapes into [`schema`]; [`ids`]
//! checks every id first. [`server`] runs the listeners (their connections bounded by
//! [`connections`]), [`admin`] serves health and metrics,
//! [`telemetry`] logs and counts, [`demo`] runs the gateway in front of the [`simulator`] of
//! Anaplan, [`config`] reads the settings, [`secret_file`] the secrets they point to, and
//! [`backoff`] paces retries after failures; [`clock`] reads rate limits from tokio's clock.

pub mod address;
pub mod admin;
pub mod api;
pub mod backoff;
pub mod cache;
pub mod callers;
pub mod clock;
pub mod config;
pub mod connections;
pub mod demo;
pub mod envelope;
pub mod ids;
pub mod normalise;
pub mod schema;
pub mod secret_file;
pub mod server;
pub mod service;
pub mod shared;
pub mod simulator;
pub mod spans;
pub mod starts;
pub mod telemetry;
pub mod trace;
pub mod upstream;
pub mod waiting;
pub mod workspaces;
