//! `homeostat user add|list|disable|hash`: stored users (argon2 hashes) managed offline.

use super::store_admin::{audit, open_store, read_stdin_value};
use crate::config::{Config, Role};
use crate::security::password;
use anyhow::{Result, bail};

/// `homeostat user ...`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a stored user; the password is read from stdin.
    Add {
        /// Login name.
        name: String,
        /// Role: viewer, runner, editor or admin.
        #[arg(long)]
        role: Role,
    },
    /// List config and stored users.
    List,
    /// Disable a stored user and end its sessions.
    Disable {
        /// Login name.
        name: String,
    },
    /// Print the argon2 hash of the password on stdin (for `[[user]] password_hash`).
    Hash,
}

/// Runs a user command.
pub async fn run(config: &Config, command: UserCommand) -> Result<()> {
    if let UserCommand::Hash = command {
        let value = read_stdin_value("password")?;
        println!(
            "{}",
            password::hash_async(value)
                .await
                .map_err(anyhow::Error::msg)?
        );
        return Ok(());
    }
    let store = open_store(config).await?;
    match command {
        UserCommand::Add { name, role } => {
            if config.user.iter().any(|u| u.name.get_ref() == &name) {
                bail!("user `{name}` is defined in the config file");
            }
            let value = read_stdin_value("password")?;
            if value.chars().count() < crate::api::MIN_PASSWORD_LEN {
                bail!(
                    "the password needs at least {} characters",
                    crate::api::MIN_PASSWORD_LEN
                );
            }
            let hash = password::hash_async(value)
                .await
                .map_err(anyhow::Error::msg)?;
            if !store.add_user(&name, &hash, role).await? {
                bail!("user `{name}` exists");
            }
            audit(&store, "user.add", &name, "ok").await?;
            println!("added {name} ({})", role.as_str());
        }
        UserCommand::List => {
            println!("{:<24} {:<8} {:<7} STATE", "NAME", "ROLE", "SOURCE");
            for u in &config.user {
                println!(
                    "{:<24} {:<8} {:<7} enabled",
                    u.name.get_ref(),
                    u.role.as_str(),
                    "config"
                );
            }
            for u in store.list_users().await? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                println!(
                    "{:<24} {:<8} {:<7} {state}",
                    u.name,
                    u.role.as_str(),
                    "store"
                );
            }
        }
        UserCommand::Disable { name } => {
            if !store.disable_user(&name).await? {
                bail!("no stored user `{name}`");
            }
            audit(&store, "user.disable", &name, "ok").await?;
            println!("disabled {name}");
        }
        UserCommand::Hash => {}
    }
    store.close().await;
    Ok(())
}
