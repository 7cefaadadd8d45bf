//! Users and bearer tokens (API tokens and dashboard sessions) in the store. Only argon2 hashes
//! of passwords and SHA-256 digests of tokens are stored.

use super::{Store, StoreError, ms, time};
use crate::config::Role;
use crate::security::tokens::TokenKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A user stored by `homeostat user add` or `POST /api/admin/users`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoredUser {
    /// Login name.
    pub name: String,
    /// Argon2 PHC string (never serialised).
    #[serde(skip)]
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot log in and their sessions stop working.
    pub disabled: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// A stored bearer token, without its secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoredToken {
    /// Id (for revoking).
    pub id: String,
    /// `api` or `session`.
    pub kind: String,
    /// Name given at creation (for sessions: the user name).
    pub name: String,
    /// Role it grants.
    pub role: Role,
    /// For sessions: the user it belongs to.
    pub owner: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Fields of a new token.
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    /// Api or session.
    pub kind: TokenKind,
    /// Display name.
    pub name: &'a str,
    /// SHA-256 digest of the secret.
    pub digest: &'a str,
    /// Role granted.
    pub role: Role,
    /// Session owner.
    pub owner: Option<&'a str>,
    /// Creator.
    pub created_by: &'a str,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str =
    "id, kind, name, role, owner, created_by, created_at, expires_at, revoked_at";

fn role(text: &str) -> Result<Role, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

impl Store {
    /// Adds a user; false when the name is taken.
    pub async fn add_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<bool, StoreError> {
        let insert = sqlx::query(
            "INSERT INTO users (name, password_hash, role, disabled, created_at) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(password_hash.to_string())
        .bind(role.as_str().to_string())
        .bind(ms(Utc::now()));
        let inserted = self.write_one(insert).await?;
        Ok(inserted == 1)
    }

    /// One stored user.
    pub async fn user(&self, name: &str) -> Result<Option<StoredUser>, StoreError> {
        let row = sqlx::query(
            "SELECT name, password_hash, role, disabled, created_at FROM users WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(decode_user).transpose()
    }

    /// Every stored user, by name.
    pub async fn list_users(&self) -> Result<Vec<StoredUser>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, password_hash, role, disabled, created_at FROM users ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode_user).collect()
    }

    /// Disables a user and revokes its sessions; false when there is no such user.
    pub async fn disable_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET disabled = 1 WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE owner = $2 AND revoked_at IS NULL")
            .bind(ms(Utc::now()))
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Stores a token (its digest) and returns its id.
    pub async fn add_token(&self, new: &NewToken<'_>) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO tokens (kind, name, digest, role, owner, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.kind.as_str().to_string())
        .bind(new.name.to_string())
        .bind(new.digest.to_string())
        .bind(new.role.as_str().to_string())
        .bind(new.owner.map(str::to_string))
        .bind(new.created_by.to_string())
        .bind(ms(Utc::now()))
        .bind(new.expires_at.map(ms))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        tx.commit().await?;
        Ok(id.to_string())
    }

    /// The live token with this digest at `now`: not revoked, not expired, and for sessions
    /// owned by a user that is not disabled.
    pub async fn live_token(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE digest = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) \
             AND (kind <> 'session' OR NOT EXISTS \
                  (SELECT 1 FROM users u WHERE u.name = tokens.owner AND u.disabled <> 0))"
        ))
        .bind(digest.to_string())
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(decode_token).transpose()
    }

    /// Tokens of `kind`, newest first.
    pub async fn list_tokens(&self, kind: TokenKind) -> Result<Vec<StoredToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE kind = $1 ORDER BY id DESC"
        ))
        .bind(kind.as_str().to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode_token).collect()
    }

    /// Revokes a token by id; false when there is no such live token.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let revoke =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ms(Utc::now()))
                .bind(id);
        Ok(self.write_one(revoke).await? == 1)
    }
}

fn decode_user(row: &AnyRow) -> Result<StoredUser, StoreError> {
    Ok(StoredUser {
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        role: role(&row.try_get::<String, _>("role")?)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: time(row.try_get("created_at")?)?,
    })
}

fn decode_token(row: &AnyRow) -> Result<StoredToken, StoreError> {
    let optional_time = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(name)?.map(time).transpose()
    };
    Ok(StoredToken {
        id: row.try_get::<i64, _>("id")?.to_string(),
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        role: role(&row.try_get::<String, _>("role")?)?,
        owner: row.try_get("owner")?,
        created_by: row.try_get("created_by")?,
        created_at: time(row.try_get("created_at")?)?,
        expires_at: optional_time("expires_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}
