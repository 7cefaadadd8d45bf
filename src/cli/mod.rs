//! Client commands: talk to a running daemon over its HTTP API and print what it says.

pub mod analyze;
pub mod status;
