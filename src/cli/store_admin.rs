//! What the offline admin commands (`user`, `token`, `secret`, `audit`) share: they work on the
//! store named in the config directly (no daemon needed) and record themselves in the audit log
//! as `cli:<os user>`.

use crate::config::Config;
use crate::security::audit::AuditRecord;
use crate::store::Store;
use anyhow::{Context, Result};
use std::io::Read;

/// The store of `config`.
pub async fn open_store(config: &Config) -> Result<Store> {
    Store::connect(config.store.url.get_ref())
        .await
        .with_context(|| format!("opening the store {}", config.store.url.get_ref()))
}

/// The audit actor of this command line: `cli:$USER`.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

/// Appends an audit entry for a CLI action.
pub async fn audit(store: &Store, action: &str, target: &str, outcome: &str) -> Result<()> {
    store
        .append_audit(&AuditRecord::new(actor(), "admin", action, target, outcome))
        .await
        .context("writing the audit log")?;
    Ok(())
}

/// Everything on stdin with one trailing newline removed (values are never taken from argv,
/// where `ps` and shell history would show them).
pub fn read_stdin_value(what: &str) -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text)
        .to_string();
    anyhow::ensure!(!value.is_empty(), "the {what} on stdin is empty");
    Ok(value)
}
