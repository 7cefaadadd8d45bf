//! Access control, secrets and audit: password hashing, API tokens and sessions, login lockout,
//! encrypted secrets, redaction of sensitive values, the hash-chained audit log, and webhook
//! primitives (HMAC signatures, IP allow-lists).

pub mod audit;
pub mod lockout;
pub mod password;
pub mod redact;
pub mod secrets;
pub mod tokens;
pub mod webhook;
