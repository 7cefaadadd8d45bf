//! `homeostat secret set|list|rm|rotate-key|init-key`: secrets sealed under the master key
//! (`HOMEOSTAT_MASTER_KEY` or `[security] master_key_file`). Values come from stdin and are
//! never printed.

use super::store_admin::{audit, open_store, read_stdin_value};
use crate::config::Config;
use crate::security::secrets::{MASTER_KEY_ENV, MasterKey};
use crate::store::Vault;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// `homeostat secret ...`
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Create or replace a secret; the value is read from stdin.
    Set {
        /// Name, used as `{{ secrets.NAME }}`.
        name: String,
    },
    /// List secret names (never values).
    List,
    /// Delete a secret.
    Rm {
        /// Name.
        name: String,
    },
    /// Write a new random master key to FILE (mode 0600) and re-encrypt every secret under it.
    RotateKey {
        /// Where to write the new key; must not exist.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Write a new random master key to FILE (mode 0600) for a store without secrets yet.
    InitKey {
        /// Where to write the key; must not exist.
        file: PathBuf,
    },
}

fn master_key(config: &Config) -> Result<MasterKey> {
    let file = config
        .security
        .master_key_file
        .as_ref()
        .map(|f| PathBuf::from(f.get_ref()));
    Ok(MasterKey::load(
        std::env::var(MASTER_KEY_ENV).ok(),
        file.as_deref(),
    )?)
}

/// Runs a secret command.
pub async fn run(config: &Config, command: SecretCommand) -> Result<()> {
    if let SecretCommand::InitKey { file } = &command {
        MasterKey::write_new_file(file)?;
        println!(
            "wrote {}; set `[security] master_key_file` to it (or its contents in {MASTER_KEY_ENV})",
            file.display()
        );
        return Ok(());
    }
    let store = open_store(config).await?;
    let vault = Vault::open(store.clone(), master_key(config)?)
        .await
        .context("opening the secrets")?;
    match command {
        SecretCommand::Set { name } => {
            let value = read_stdin_value("secret value")?;
            vault.set(&name, &value).await?;
            audit(&store, "secret.set", &name, "ok").await?;
            println!("stored secret {name}");
        }
        SecretCommand::List => {
            for name in vault.names().await? {
                println!("{name}");
            }
        }
        SecretCommand::Rm { name } => {
            if !vault.remove(&name).await? {
                bail!("no secret `{name}`");
            }
            audit(&store, "secret.rm", &name, "ok").await?;
            println!("removed secret {name}");
        }
        SecretCommand::RotateKey { new_key_file } => {
            let new_key = MasterKey::write_new_file(&new_key_file)?;
            let (_, count) = vault.rotate(new_key).await?;
            audit(&store, "secret.rotate_key", "master key", "ok").await?;
            println!(
                "re-encrypted {count} secret(s) under the key in {}; point {MASTER_KEY_ENV} or master_key_file at it now",
                new_key_file.display()
            );
        }
        SecretCommand::InitKey { .. } => {}
    }
    store.close().await;
    Ok(())
}
