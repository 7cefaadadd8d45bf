//! `redis` steps: send one command (e.g. `FLUSHDB`, the clear-cache repair) to a Redis server.

use super::Render;
use crate::config::RedisStep;

/// A Redis command and its server, templates filled in.
pub(super) struct Command {
    url: String,
    args: Vec<String>,
}

impl Command {
    pub(super) fn new(step: &RedisStep, render: &Render<'_>) -> Result<Command, String> {
        Ok(Command {
            url: render(&step.url)?,
            args: step
                .command
                .iter()
                .map(|a| render(a))
                .collect::<Result<_, _>>()?,
        })
    }

    pub(super) fn command(&self) -> Vec<String> {
        ["redis".to_string(), super::redact_url(&self.url)]
            .into_iter()
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// Connects, sends the command and returns the reply as text.
    pub(super) async fn send(&self) -> Result<String, String> {
        let server = super::redact_url(&self.url);
        let (name, args) = self
            .args
            .split_first()
            .ok_or_else(|| "empty Redis command".to_string())?;
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| format!("invalid Redis url {server}: {e}"))?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to Redis {server}: {e}"))?;
        let mut command = redis::cmd(name);
        for arg in args {
            command.arg(arg);
        }
        let reply: redis::Value = command
            .query_async(&mut connection)
            .await
            .map_err(|e| format!("Redis {name} failed: {e}"))?;
        Ok(format!("{}\n", reply_text(&reply)))
    }
}

fn reply_text(reply: &redis::Value) -> String {
    match reply {
        redis::Value::Okay => "OK".to_string(),
        redis::Value::Nil => "(nil)".to_string(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => format!("{other:?}"),
    }
}
