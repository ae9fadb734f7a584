//! The integration tests: the real app on loopback, in front of the simulated Anaplan, as one test
//! binary sharing one harness ([`helpers`]). Only `tests/metrics.rs` runs apart, because it
//! reads exact values from the process-wide metrics recorder.

mod alm;
mod batch;
mod callers;
mod cancel;
mod cli;
mod cloudworks;
mod conditional;
mod cors;
mod credentials;
mod demo;
mod dumps;
mod events;
mod faults;
mod files;
mod fleet;
mod fleet_starts;
mod guards;
mod h2c;
mod helpers;
mod keep_alive;
mod lists;
mod model_actions;
mod names;
mod openapi;
mod polling;
mod properties;
mod rate_limits;
mod spans;
mod starts;
mod tasks;
mod token;
mod trace;
mod uploads;
mod validation;
