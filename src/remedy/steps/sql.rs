//! `sql` steps: run a statement on PostgreSQL (e.g. terminate idle connections, the
//! connection-reset repair); the output counts affected rows and lists first-column values.
//! A statement abandoned before it finished (timeout, emergency stop, shutdown) is cancelled on
//! the server too, from a separate connection: closing the client socket alone would leave a
//! long statement running there.

use super::Render;
use crate::config::SqlStep;
use futures::TryStreamExt;
use sqlx::{Connection, Either, Row};

/// First-column values kept in the output.
const VALUES_KEPT: usize = 100;
/// How long cancelling an abandoned statement may take (connecting included).
const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A statement and its database, templates filled in.
pub(super) struct Statement {
    url: String,
    statement: String,
}

impl Statement {
    /// `render_sql` fills the statement's templates (plain words only), `render` the URL's.
    pub(super) fn new(
        step: &SqlStep,
        render: &Render<'_>,
        render_sql: &Render<'_>,
    ) -> Result<Statement, String> {
        Ok(Statement {
            url: render(&step.url)?,
            statement: render_sql(&step.statement)?,
        })
    }

    pub(super) fn command(&self) -> Vec<String> {
        vec![
            "sql".to_string(),
            super::redact_url(&self.url),
            self.statement.clone(),
        ]
    }

    /// Runs the statement (simple query protocol, so values come back as text).
    pub(super) async fn run(&self) -> Result<String, String> {
        let server = super::redact_url(&self.url);
        let mut connection = sqlx::PgConnection::connect(&self.url)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL {server}: {e}"))?;
        // The server process of this connection, named by pid and start time (so a later
        // session that reuses the pid is never cancelled).
        let (pid, started): (i32, i64) = sqlx::query_as(
            "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::bigint \
             FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .fetch_one(&mut connection)
        .await
        .map_err(|e| format!("cannot identify the PostgreSQL session {server}: {e}"))?;
        let mut guard = CancelOnDrop {
            url: self.url.clone(),
            pid,
            started,
            armed: true,
        };
        let (mut affected, mut rows, mut values) = (0u64, 0u64, Vec::new());
        {
            let mut results = sqlx::raw_sql(&self.statement).fetch_many(&mut connection);
            while let Some(item) = results
                .try_next()
                .await
                .map_err(|e| format!("statement failed: {e}"))?
            {
                match item {
                    Either::Left(done) => affected += done.rows_affected(),
                    Either::Right(row) => {
                        rows += 1;
                        if values.len() < VALUES_KEPT && !row.is_empty() {
                            let value: Option<String> = row.try_get_unchecked(0).unwrap_or(None);
                            values.push(value.unwrap_or_else(|| "NULL".to_string()));
                        }
                    }
                }
            }
        }
        guard.armed = false;
        // Closing politely is best effort; the statement has already run.
        let _ = connection.close().await;
        let mut output = format!("{affected} rows affected, {rows} rows returned\n");
        for value in values {
            output.push_str(&value);
            output.push('\n');
        }
        Ok(output)
    }
}

/// While armed, dropping it (the step's future was dropped: timeout, emergency stop, shutdown)
/// cancels the statement of session `pid` (started at `started`, microseconds since the epoch)
/// from a new connection, in the background.
struct CancelOnDrop {
    url: String,
    pid: i32,
    started: i64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (url, pid, started) = (self.url.clone(), self.pid, self.started);
        runtime.spawn(async move {
            let cancel = async {
                let mut connection = sqlx::PgConnection::connect(&url).await?;
                let cancelled: Option<(bool,)> = sqlx::query_as(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                     WHERE pid = $1 AND (extract(epoch FROM backend_start) * 1000000)::bigint = $2",
                )
                .bind(pid)
                .bind(started)
                .fetch_optional(&mut connection)
                .await?;
                let _ = connection.close().await;
                Ok::<_, sqlx::Error>(cancelled.is_some_and(|(done,)| done))
            };
            match tokio::time::timeout(CANCEL_TIMEOUT, cancel).await {
                Ok(Ok(true)) => {
                    tracing::info!(pid, "cancelled the statement of an abandoned sql step")
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(pid, error = %e, "cannot cancel the statement of an abandoned sql step"),
                Err(_) => tracing::warn!(pid, "cancelling the statement of an abandoned sql step timed out"),
            }
        });
    }
}
