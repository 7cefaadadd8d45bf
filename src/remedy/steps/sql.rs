//! `sql` steps: run a statement on PostgreSQL (e.g. terminate idle connections, the
//! connection-reset repair); the output counts affected rows and lists first-column values.

use super::Render;
use crate::config::SqlStep;
use futures::TryStreamExt;
use sqlx::{Connection, Either, Row};

/// First-column values kept in the output.
const VALUES_KEPT: usize = 100;

/// A statement and its database, templates filled in.
pub(super) struct Statement {
    url: String,
    statement: String,
}

impl Statement {
    pub(super) fn new(step: &SqlStep, render: &Render<'_>) -> Result<Statement, String> {
        Ok(Statement {
            url: render(&step.url)?,
            statement: render(&step.statement)?,
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
