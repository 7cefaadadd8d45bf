//! `redis` steps: send one command (e.g. `FLUSHDB`, the clear-cache repair) to a Redis server.
//! Only the step's timeout bounds the command (a blocking one may wait that long); a step that is
//! abandoned (timeout, emergency stop, shutdown) drops its connection, which ends the command on
//! the server. The reply is kept as text up to `REPLY_CAP` bytes.

use super::Render;
use crate::config::RedisStep;
use redis::AsyncConnectionConfig;

/// Bytes of a reply kept as the step's output (room is left for the note saying it was cut).
const REPLY_CAP: usize = super::STEP_OUTPUT_CAP - 256;

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
        // The step's timeout bounds connecting and waiting for the reply, not the client's
        // own defaults (0.5 s for a reply would fail every blocking command).
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        // The connection is this step's alone: dropping it (with this future) stops its task
        // and closes the socket, so the server ends a command still running for it.
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
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
        Ok(reply_text(&reply, REPLY_CAP))
    }
}

/// The reply as text, one line per value (arrays and sets element by element, maps key and
/// value), at most `cap` bytes, with a note saying how much was left out.
fn reply_text(reply: &redis::Value, cap: usize) -> String {
    let mut text = Capped {
        text: String::new(),
        cap,
        left_out: 0,
    };
    write_reply(reply, &mut text);
    if text.left_out > 0 {
        format!(
            "{}\n(reply cut: {} more bytes not kept)\n",
            text.text.trim_end_matches('\n'),
            text.left_out
        )
    } else {
        text.text
    }
}

/// Text up to `cap` bytes; counts the bytes it had no room for.
struct Capped {
    text: String,
    cap: usize,
    left_out: usize,
}

impl Capped {
    fn push(&mut self, s: &str) {
        let room = self.cap.saturating_sub(self.text.len());
        let mut end = s.len().min(room);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.left_out += s.len() - end;
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        // Only what can be kept is converted (a huge value is not copied whole).
        let room = self.cap.saturating_sub(self.text.len());
        let mut kept = bytes.get(..room).unwrap_or(bytes);
        if let Err(e) = std::str::from_utf8(kept)
            && e.error_len().is_none()
        {
            kept = &kept[..e.valid_up_to()]; // A character cut in two at the cap.
        }
        self.push(&String::from_utf8_lossy(kept));
        self.left_out += bytes.len() - kept.len();
    }
}

fn write_reply(reply: &redis::Value, out: &mut Capped) {
    match reply {
        redis::Value::Array(items) | redis::Value::Set(items) => {
            if items.is_empty() {
                out.push("(empty)\n");
            }
            for item in items {
                write_reply(item, out);
            }
        }
        redis::Value::Map(pairs) => {
            for (key, value) in pairs {
                write_reply(key, out);
                write_reply(value, out);
            }
        }
        redis::Value::BulkString(bytes) => {
            out.push_bytes(bytes);
            out.push("\n");
        }
        redis::Value::Okay => out.push("OK\n"),
        redis::Value::Nil => out.push("(nil)\n"),
        redis::Value::Int(n) => out.push(&format!("{n}\n")),
        redis::Value::SimpleString(s) => {
            out.push(s);
            out.push("\n");
        }
        other => out.push(&format!("{other:?}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_lines_and_cut_at_the_cap() {
        let reply = redis::Value::Array(vec![
            redis::Value::BulkString(b"a".to_vec()),
            redis::Value::Int(2),
            redis::Value::Nil,
        ]);
        assert_eq!(reply_text(&reply, 100), "a\n2\n(nil)\n");
        let big = redis::Value::BulkString("é".repeat(1000).into_bytes());
        let text = reply_text(&big, 101);
        assert!(text.starts_with(&"é".repeat(50)), "{text}");
        assert!(
            text.ends_with("(reply cut: 1900 more bytes not kept)\n"),
            "{text}"
        );
    }
}
