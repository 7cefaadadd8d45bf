//! Fields of a JSON log line that was cut (it was longer than `max_line_bytes`): the object no
//! longer parses, but a field that starts before the cut — the message, typically, ahead of a
//! long stack trace — can still be read, up to its end or to the cut.

/// The value of the top-level field `name` in the cut JSON text `text`, as text: the first
/// `"name": "..."` of the outer object, decoded, up to its closing quote or, when the cut came
/// first, to the cut; or the first `"name": 123` (a number, as written: levels and epoch times
/// can be numbers). Fields of nested objects (`{"ctx":{"level":"debug"},"level":"error"}`) and
/// text inside strings are passed over. `None` when no such field starts in `text`.
pub fn field(text: &str, name: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                // A string: to its closing quote (escapes skipped); cut inside it, nothing more.
                let start = i;
                loop {
                    match bytes.get(i) {
                        None => return None,
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let string = text.get(start..i)?;
                i += 1;
                if depth != 1 || string != name {
                    continue;
                }
                // A key when a colon follows (a value that reads like the name is not).
                let rest = text.get(i..)?.trim_start();
                let Some(value) = rest.strip_prefix(':').map(str::trim_start) else {
                    continue;
                };
                if let Some(body) = value.strip_prefix('"') {
                    return Some(decode(body));
                }
                let number: String = value
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                    .collect();
                if number.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                    return Some(number);
                }
            }
            _ => {}
        }
    }
    None
}

/// One decoded piece of a JSON string.
enum Piece {
    Char(char),
    /// A `\uXXXX` escape: a UTF-16 unit.
    Unit(u16),
}

/// Decodes the body of a JSON string (after its opening quote) to its closing quote or to the
/// end of `body`. Each escape is decoded on its own: one the cut split is dropped, an invalid
/// one kept as written, a lone surrogate becomes U+FFFD.
fn decode(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    // A high surrogate waiting for its low half.
    let mut high: Option<u16> = None;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        let (piece, len) = match c {
            '"' => break,
            '\\' => match rest.as_bytes().get(1) {
                None => break,                         // cut after the backslash
                Some(b'u') if rest.len() < 6 => break, // cut inside the escape
                Some(b'u') => match rest
                    .get(2..6)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    Some(hex) => (
                        Piece::Unit(u16::from_str_radix(hex, 16).unwrap_or(0xFFFD)),
                        6,
                    ),
                    None => (Piece::Char('\\'), 1),
                },
                Some(&e) => match e {
                    b'n' => (Piece::Char('\n'), 2),
                    b't' => (Piece::Char('\t'), 2),
                    b'r' => (Piece::Char('\r'), 2),
                    b'b' => (Piece::Char('\u{8}'), 2),
                    b'f' => (Piece::Char('\u{c}'), 2),
                    b'"' | b'\\' | b'/' => (Piece::Char(char::from(e)), 2),
                    _ => (Piece::Char('\\'), 1), // invalid: kept as written
                },
            },
            c => (Piece::Char(c), c.len_utf8()),
        };
        match (piece, high) {
            (Piece::Unit(low @ 0xDC00..0xE000), Some(h)) => {
                let code = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                high = None;
            }
            (Piece::Unit(u @ 0xD800..0xDC00), before) => {
                if before.is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                high = Some(u);
            }
            (piece, before) => {
                if before.is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                high = None;
                out.push(match piece {
                    Piece::Char(c) => c,
                    Piece::Unit(u) => {
                        char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER)
                    }
                });
            }
        }
        rest = rest.get(len..).unwrap_or("");
    }
    // A high surrogate left at the end is half a character the cut split: dropped.
    out
}

#[cfg(test)]
mod tests {
    use super::field;
    use proptest::prelude::*;

    #[test]
    fn reads_a_field_up_to_its_end_or_the_cut() {
        let line =
            r#"{"level":"error","message":"disk \"data\" full\n", "stack":"at a.b(C.java:1)\n at"#;
        assert_eq!(
            field(line, "message").as_deref(),
            Some("disk \"data\" full\n")
        );
        // The cut came inside the field: what there is of it.
        assert_eq!(
            field(line, "stack").as_deref(),
            Some("at a.b(C.java:1)\n at")
        );
        assert_eq!(field(line, "level").as_deref(), Some("error"));
        assert_eq!(field(line, "missing"), None);
        // Numbers, as written: pino levels, epoch times.
        let line = r#"{"level":50,"time":1700000000123,"msg":"x"#;
        assert_eq!(field(line, "level").as_deref(), Some("50"));
        assert_eq!(field(line, "time").as_deref(), Some("1700000000123"));
    }

    #[test]
    fn escapes_are_decoded_one_by_one() {
        // A surrogate pair, a lone surrogate, an invalid escape: the rest still decoded.
        assert_eq!(
            field(r#"{"m":"\ud83d\ude00 \ud83d x \q \u00e9\n"#, "m").as_deref(),
            Some("\u{1F600} \u{FFFD} x \\q \u{e9}\n")
        );
        // Cut right after a high surrogate (ensure_ascii writers): the half is dropped.
        assert_eq!(field(r#"{"m":"ok \ud83d"#, "m").as_deref(), Some("ok "));
        assert_eq!(field(r#"{"m":"ok \ud83d\u"#, "m").as_deref(), Some("ok "));
        assert_eq!(field(r#"{"m":"a\u+0e9"#, "m").as_deref(), Some("a\\u+0e9"));
    }

    #[test]
    fn a_cut_escape_is_dropped_and_odd_input_never_panics() {
        assert_eq!(field(r#"{"message":"a\"#, "message").as_deref(), Some("a"));
        assert_eq!(
            field(r#"{"message":"a\\"#, "message").as_deref(),
            Some("a\\")
        );
        assert_eq!(
            field(r#"{"message":"a\u00e9 b\u00"#, "message").as_deref(),
            Some("a\u{e9} b")
        );
        // A key that is a value elsewhere, or not followed by a string or a number, is skipped.
        assert_eq!(
            field(r#"{"x":"message","message":[7],"message":"yes"#, "message").as_deref(),
            Some("yes")
        );
        // Only the outer object's fields: not a nested object's, nor text inside a string.
        assert_eq!(
            field(
                r#"{"ctx":{"level":"debug","a":[{"level":"info"}]},"m":""level":"x"","level":"error","#,
                "level"
            )
            .as_deref(),
            Some("error")
        );
        assert_eq!(field(r#"{"ctx":{"level":"debug"#, "level"), None);
        for text in [
            "",
            "\"",
            "\"message\"",
            "\"message\":",
            "\"message\":\"\\",
            "é\"message\":\"é",
        ] {
            let _ = field(text, "message");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_reads_any_message_cut_anywhere(
            message in "\\PC{0,40}",
            cut in 0usize..240,
            ascii in any::<bool>(),
        ) {
            let line = if ascii {
                // As ensure_ascii writers (Python's json) write it: every non-ASCII char escaped.
                let mut escaped = String::new();
                for unit in message.encode_utf16() {
                    match unit {
                        0x20..=0x7E if unit != 0x22 && unit != 0x5C => escaped.push(char::from(unit as u8)),
                        _ => escaped.push_str(&format!("\\u{unit:04x}")),
                    }
                }
                format!("{{\"level\":\"error\",\"message\":\"{escaped}\"}}")
            } else {
                serde_json::json!({ "level": "error", "message": message }).to_string()
            };
            let mut at = cut.min(line.len());
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            let read = field(&line[..at], "message");
            // Whatever was read is a prefix of the message (an escape split by the cut dropped).
            if let Some(read) = read {
                prop_assert!(message.starts_with(&read), "{read:?} of {message:?}");
            }
            prop_assert_eq!(field(&line, "message"), Some(message));
        }
    }
}
