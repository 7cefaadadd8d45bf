//! Client commands: offline analysis, and commands that talk to a running daemon over its HTTP
//! API and print what it says.

pub mod analyze;
pub mod audit;
pub mod client;
pub mod incidents;
pub mod output;
pub mod repairs;
pub mod secrets;
pub mod status;
pub mod store_admin;
pub mod tokens;
pub mod users;
