//! One redaction layer for everything stored or logged: known secret values, bearer and API
//! tokens, passwords in URLs and `password=` pairs, and PII (e-mail addresses, card numbers that
//! pass the Luhn check, phone numbers). Secret values are registered process-wide when the vault
//! reads or writes them, so every writer (store, audit, log lines) sees the same set.

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

/// Secret values shorter than this are not redacted by value (they would hit ordinary text);
/// the pattern rules still apply.
pub const MIN_SECRET_LEN: usize = 8;

/// What replaces a secret value.
pub const SECRET_MARK: &str = "[REDACTED]";

struct Known {
    values: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(|| {
    RwLock::new(Known {
        values: Vec::new(),
        matcher: None,
    })
});

struct Rule {
    regex: Regex,
    replace: fn(&Captures) -> String,
}

fn rule(pattern: &str, replace: fn(&Captures) -> String) -> Rule {
    Rule {
        regex: Regex::new(pattern).unwrap_or_else(|e| unreachable!("built-in pattern: {e}")),
        replace,
    }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // scheme://user:password@host
        rule(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@", |c| {
            format!("{}:{SECRET_MARK}@", &c[1])
        }),
        // Authorization: Bearer xxx / Basic xxx (long enough not to catch "basic functionality")
        rule(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}", |c| {
            format!("{} {SECRET_MARK}", &c[1])
        }),
        // Homeostat API tokens and sessions.
        rule(r"\bhst_[0-9a-f]{16,}", |_| SECRET_MARK.to_string()),
        // password=..., DB_PASSWORD=..., "db_password": "...", api_key: ..., client_secret=...
        rule(
            r#"(?i)((?:\b|_)(?:[a-z0-9]+_)*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|secret[_-]?access[_-]?key))("?\s*[=:]\s*"?)[^\s"'&,;]+"#,
            |c| format!("{}{}{SECRET_MARK}", &c[1], &c[2]),
        ),
        // --password VALUE, -p=VALUE style flags
        rule(
            r"(?i)(--(?:password|passwd|secret|token|api-key))(\s+|=)[^\s-]\S*",
            |c| format!("{}{}{SECRET_MARK}", &c[1], &c[2]),
        ),
        // E-mail addresses, but not systemd template units (wg-quick@wg0.service).
        rule(
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.([A-Za-z]{2,})\b",
            |c| {
                if SYSTEMD_UNITS.contains(&c[1].to_ascii_lowercase().as_str()) {
                    c[0].to_string()
                } else {
                    "[EMAIL]".to_string()
                }
            },
        ),
        // Card numbers start with 2-6 (Mastercard, Visa, Amex, Discover...); Unix timestamps in
        // ms or ns start with 1 and are left alone.
        rule(r"\b[2-6](?:[ -]?\d){12,18}\b", |c| {
            if luhn(&c[0]) {
                "[CARD]".to_string()
            } else {
                c[0].to_string()
            }
        }),
        rule(
            r"(?:\+\d{1,3}[ .-]?)?\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b|\+\d{1,3}(?:[ .-]?\d{2,4}){3,5}\b",
            |_| "[PHONE]".to_string(),
        ),
    ]
});

/// Unit suffixes that make `name@instance.suffix` a systemd unit, not an e-mail address.
const SYSTEMD_UNITS: [&str; 9] = [
    "service", "socket", "timer", "target", "mount", "path", "slice", "scope", "device",
];

/// Whether the digits of `text` (spaces and dashes ignored) pass the Luhn check.
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Registers a secret value: from now on it is replaced wherever it appears.
pub fn register_secret(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    if known.values.iter().any(|v| v == value) {
        return;
    }
    known.values.push(value.to_string());
    // Longest first, so a secret containing another is replaced whole.
    known.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    known.matcher = AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&known.values)
        .ok();
}

/// `text` with every sensitive value replaced.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
        if let Some(matcher) = &known.matcher
            && matcher.is_match(text)
        {
            out = Cow::Owned(matcher.replace_all(text, &vec![SECRET_MARK; known.values.len()]));
        }
    }
    for rule in RULES.iter() {
        if let Cow::Owned(replaced) = rule
            .regex
            .replace_all(&out, |c: &Captures| (rule.replace)(c))
        {
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// A `tracing` writer that redacts each formatted log line before it reaches stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_replaced_everywhere() {
        register_secret("s3cr3t-value-xyz");
        register_secret("admin12"); // too short: ignored by value
        assert_eq!(
            redact("echo s3cr3t-value-xyz and again s3cr3t-value-xyz"),
            format!("echo {SECRET_MARK} and again {SECRET_MARK}")
        );
        assert_eq!(redact("bootstrap-admin12"), "bootstrap-admin12");
    }

    #[test]
    fn tokens_urls_and_password_pairs_are_replaced() {
        let cases = [
            (
                "Authorization: Bearer abcdefgh12345678",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "postgres://app:pa55w0rd@db:5432/x",
                "postgres://app:[REDACTED]@db:5432/x",
            ),
            ("token hst_0123456789abcdef0123", "token [REDACTED]"),
            (
                "login password=hunter22 user=bob",
                "login password=[REDACTED] user=bob",
            ),
            (r#"{"api_key": "k-123"}"#, r#"{"api_key": "[REDACTED]"}"#),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn pii_is_replaced_and_ordinary_numbers_are_not() {
        assert_eq!(redact("mail bob.smith@example.com now"), "mail [EMAIL] now");
        assert_eq!(redact("card 4111 1111 1111 1111 ok"), "card [CARD] ok");
        assert_eq!(
            redact("card 4111111111111112 ok"),
            "card 4111111111111112 ok"
        );
        assert_eq!(redact("call +44 20 7946 0958"), "call [PHONE]");
        assert_eq!(redact("call (555) 123-4567"), "call [PHONE]");
        for benign in [
            "2026-11-22T10:00:00Z took 1234 ms",
            "pid 12345 exited with 137",
            "GET /api/v1/incidents/42 200 0.004",
            "127.0.0.1:9780",
            "at 1700000000003 ms, basic functionality",
            "systemctl restart wg-quick@wg0.service postgresql@14-main.service",
            "password_hash_algorithm argon2",
        ] {
            assert_eq!(redact(benign), benign);
        }
    }

    #[test]
    fn luhn_accepts_valid_card_numbers_only() {
        assert!(luhn("4111-1111-1111-1111"));
        assert!(luhn("5500 0000 0000 0004"));
        assert!(!luhn("1234567890123"));
    }
}
