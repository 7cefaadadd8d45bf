//! Failure lines: whether a log line reports something going wrong. A line a category of
//! severity `warning` or worse explains is one; so is a line whose own level (a JSON `level`
//! field, a format's `level` group) is `error` or worse; a line with no level it names is one
//! when it carries a failure word ("error", "failed", "exception", "refused", ...). Clusters
//! count their failure lines, so that the top *failure* clusters are templates of failures and
//! not the busiest templates (an access log's `200` lines would win those).

use crate::model::Severity;
use regex::Regex;
use std::sync::LazyLock;

/// The JSON fields tried, in this order, for a line's level.
pub const LEVEL_FIELDS: [&str; 5] = ["level", "severity", "lvl", "loglevel", "log.level"];

/// Words that make a line without a known level a failure line (whole words, any case), and
/// exception and error class names (`NullPointerException`, `TypeError`).
static FAILURE_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:errors?|err|fatal|fail|fails|failed|failing|failures?|exceptions?|traceback|panic|panicked|crash|crashed|critical|crit|severe|emerg|refused|denied|unable|cannot|can't|could not|couldn't|timeout|timed out|abort|aborted|declined|rejected|segfault|segmentation fault|unreachable|corrupt|corrupted)\b|\w(?-i:Exception|Error)\b",
    )
    .ok()
});

/// What a level name says: `Some(true)` for `error` and worse (`err`, `fatal`, `critical`,
/// `alert`, `emerg`, `panic`, `severe`; syslog numbers 0–3; pino/bunyan/Python numbers 50 and
/// up; 40 is a warning to pino and an error to Python, so it says nothing),
/// `Some(false)` for a milder level it knows, `None` for text that is no level it knows.
pub fn level_is_failure(level: &str) -> Option<bool> {
    let level = level.trim();
    if let Ok(n) = level.parse::<u32>() {
        // Syslog 0-7; pino/bunyan 10-60 and Python 10-50 in steps of ten, which disagree at
        // 40 (warn, or error): that one and numbers of neither scheme say nothing.
        return match n {
            0..=3 => Some(true),
            4..=7 | 10 | 20 | 30 => Some(false),
            50.. => Some(true),
            _ => None,
        };
    }
    let mut lower = [0u8; 16];
    let word = lower.get_mut(..level.len())?;
    word.copy_from_slice(level.as_bytes());
    word.make_ascii_lowercase();
    match &*word {
        b"error" | b"err" | b"fatal" | b"critical" | b"crit" | b"alert" | b"emerg"
        | b"emergency" | b"panic" | b"severe" | b"dpanic" => Some(true),
        b"warn" | b"warning" | b"notice" | b"info" | b"information" | b"informational"
        | b"debug" | b"trace" | b"verbose" | b"fine" | b"finer" | b"finest" | b"config" => {
            Some(false)
        }
        _ => None,
    }
}

/// Whether a line reports a failure: `category` is the severity of the category that explained
/// it, `level` the level its format gave.
pub fn is_failure(message: &str, category: Option<Severity>, level: Option<&str>) -> bool {
    if category.is_some_and(|s| s != Severity::Info) {
        return true;
    }
    if let Some(known) = level.and_then(level_is_failure) {
        return known;
    }
    FAILURE_WORDS
        .as_ref()
        .is_some_and(|words| words.is_match(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_in_any_case_and_as_numbers() {
        for level in [
            "ERROR", "error", "Err", "FATAL", "crit", "50", "60", "3", " panic ",
        ] {
            assert_eq!(level_is_failure(level), Some(true), "{level}");
        }
        for level in ["INFO", "warn", "Warning", "debug", "30", "20", "6"] {
            assert_eq!(level_is_failure(level), Some(false), "{level}");
        }
        for level in [
            "",
            "loud",
            "a level name far too long to be one",
            "40",
            "17",
        ] {
            assert_eq!(level_is_failure(level), None, "{level}");
        }
    }

    #[test]
    fn failure_words_mark_lines_without_a_level() {
        for line in [
            "connection refused by 10.0.0.1:5432",
            "ERROR: deadlock detected",
            "Traceback (most recent call last):",
            "java.lang.NullPointerException: boom",
            "TypeError: undefined is not a function",
            "upstream timed out (110: Connection timed out)",
            "job 17 failed after 3 attempts",
            "could not open file \"pg_wal/0001\"",
        ] {
            assert!(is_failure(line, None, None), "{line}");
        }
        for line in [
            "GET /index.html 200 512",
            "Received block blk_123 of size 67108864 from /10.0.0.1",
            "terrorist-free zone: errorless failover-free", // no whole failure word
            "user alice logged in",
            "the terror of errorless code", // "error" only inside words
        ] {
            assert!(!is_failure(line, None, None), "{line}");
        }
    }

    #[test]
    fn a_category_or_a_level_decides_before_the_words() {
        assert!(is_failure("all fine", Some(Severity::Warning), None));
        assert!(!is_failure("all fine", Some(Severity::Info), None));
        assert!(is_failure("all fine", None, Some("error")));
        // The line's own level says it is no failure, whatever words it has.
        assert!(!is_failure("retrying after error", None, Some("info")));
        // An unknown level leaves it to the words.
        assert!(is_failure("request failed", None, Some("loud")));
    }
}
