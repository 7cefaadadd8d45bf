//! Homeostat: watches services, finds what is broken, fixes what it safely can, asks a human for
//! the rest, and keeps the record. The library holds everything; `main.rs` is only the CLI.

pub mod api;
pub mod app;
pub mod bus;
pub mod checks;
pub mod cli;
pub mod config;
pub mod demo;
pub mod detect;
pub mod incidents;
pub mod logs;
pub mod model;
pub mod process;
pub mod queue;
pub mod remedy;
pub mod reports;
pub mod security;
pub mod store;
pub mod telemetry;
pub mod web;
