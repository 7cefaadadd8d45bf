//! Every end-to-end test in one binary, so the crate and its dependencies are linked once
//! rather than once per file. Each module tells the story of one area; run one area with
//! `cargo test --test it remediation::`, one test by (part of) its name as before.

mod common;

mod access;
mod analyze_cli;
mod api;
mod architecture;
mod checks;
mod config_errors;
mod crash;
mod daemon;
mod dashboard;
mod demo;
mod incidents;
mod log_robustness;
mod log_sources;
mod queue;
mod remediation;
mod report;
mod secrets;
mod steps;
mod store;
