//! Client commands: offline analysis, and commands that talk to a running daemon over its HTTP
//! API and print what it says.

pub mod analyze;
pub mod client;
pub mod incidents;
pub mod repairs;
pub mod report;
pub mod status;
