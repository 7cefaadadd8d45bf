//! `homeostat token create|list|revoke`: API tokens managed offline. The secret is printed once
//! and only its SHA-256 digest is stored.

use super::store_admin::{actor, audit, open_store};
use crate::config::{Config, Role};
use crate::security::tokens::{self, TokenKind};
use crate::store::NewToken;
use anyhow::{Result, bail};

/// `homeostat token ...`
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once).
    Create {
        /// Role it grants.
        #[arg(long)]
        role: Role,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. `30d`; default: until revoked.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// Runs a token command.
pub async fn run(config: &Config, command: TokenCommand) -> Result<()> {
    let store = open_store(config).await?;
    match command {
        TokenCommand::Create {
            role,
            name,
            expires,
        } => {
            let expires_at =
                crate::api::token_expiry(expires.as_deref()).map_err(anyhow::Error::msg)?;
            let secret = tokens::generate();
            let id = store
                .add_token(&NewToken {
                    kind: TokenKind::Api,
                    name: &name,
                    digest: &tokens::digest(&secret),
                    role,
                    owner: None,
                    created_by: &actor(),
                    expires_at,
                })
                .await?;
            audit(
                &store,
                "token.create",
                &format!("token {id} ({name})"),
                "ok",
            )
            .await?;
            eprintln!(
                "token {id} `{name}` ({}); shown once, store it now:",
                role.as_str()
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:<6} {:<24} {:<8} {:<26} STATE",
                "ID", "NAME", "ROLE", "EXPIRES"
            );
            for t in store.list_tokens(TokenKind::Api).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                let expires = t.expires_at.map_or("never".to_string(), |e| e.to_rfc3339());
                println!(
                    "{:<6} {:<24} {:<8} {:<26} {state}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    expires
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_token(&id).await? {
                bail!("no live token {id}");
            }
            audit(&store, "token.revoke", &format!("token {id}"), "ok").await?;
            println!("revoked token {id} (a running daemon stops accepting it within 2 s)");
        }
    }
    store.close().await;
    Ok(())
}
