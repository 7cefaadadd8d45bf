//! Fields of a JSON log line that was cut (it was longer than `max_line_bytes`): the object no
//! longer parses, but a string field that starts before the cut — the message, typically,
//! ahead of a long stack trace — can still be read, up to its end or to the cut.

/// The string value of the top-level-looking field `field` in the cut JSON text `text`: the
/// first `"field": "..."` found, decoded (escapes included), up to its closing quote or, when
/// the cut came first, to the cut. `None` when no such field starts in `text`.
pub fn string_field(text: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\"");
    let mut from = 0;
    while let Some(at) = text.get(from..)?.find(&key) {
        let after = from + at + key.len();
        from = after;
        let rest = text.get(after..)?.trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let Some(body) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        return Some(decode(body));
    }
    None
}

/// Decodes the body of a JSON string (after its opening quote) to its closing quote or to the
/// end of `body`; an escape cut in half is dropped, an invalid one kept as it stands.
fn decode(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut end = bytes.len();
    let mut escape = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                end = i;
                break;
            }
            b'\\' => {
                escape = Some(i);
                i += 2;
            }
            _ => i += 1,
        }
    }
    // An escape the cut split (`\`, `\u12`) is dropped.
    if let Some(at) = escape {
        let whole = match bytes.get(at + 1) {
            Some(b'u') => at + 6 <= end,
            Some(_) => at + 2 <= end,
            None => false,
        };
        if !whole {
            end = at;
        }
    }
    let raw = body.get(..end).unwrap_or(body);
    serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::string_field;
    use proptest::prelude::*;

    #[test]
    fn reads_a_field_up_to_its_end_or_the_cut() {
        let line =
            r#"{"level":"error","message":"disk \"data\" full\n", "stack":"at a.b(C.java:1)\n at"#;
        assert_eq!(
            string_field(line, "message").as_deref(),
            Some("disk \"data\" full\n")
        );
        // The cut came inside the field: what there is of it.
        assert_eq!(
            string_field(line, "stack").as_deref(),
            Some("at a.b(C.java:1)\n at")
        );
        assert_eq!(string_field(line, "level").as_deref(), Some("error"));
        assert_eq!(string_field(line, "missing"), None);
    }

    #[test]
    fn a_cut_escape_is_dropped_and_odd_input_never_panics() {
        assert_eq!(
            string_field(r#"{"message":"a\"#, "message").as_deref(),
            Some("a")
        );
        assert_eq!(
            string_field(r#"{"message":"a\\"#, "message").as_deref(),
            Some("a\\")
        );
        assert_eq!(
            string_field(r#"{"message":"a\u00e9 b\u00"#, "message").as_deref(),
            Some("a\u{e9} b")
        );
        // A key that is a value elsewhere, or not followed by a string, is skipped.
        assert_eq!(
            string_field(r#"{"x":"message","message":7,"message":"yes"#, "message").as_deref(),
            Some("yes")
        );
        for text in [
            "",
            "\"",
            "\"message\"",
            "\"message\":",
            "\"message\":\"\\",
            "é\"message\":\"é",
        ] {
            let _ = string_field(text, "message");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_reads_any_message_cut_anywhere(
            message in "\\PC{0,40}",
            cut in 0usize..120,
        ) {
            let line = serde_json::json!({ "level": "error", "message": message }).to_string();
            let mut at = cut.min(line.len());
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            let read = string_field(&line[..at], "message");
            // Whatever was read is a prefix of the message (an escape split by the cut dropped).
            if let Some(read) = read {
                prop_assert!(message.starts_with(&read), "{read:?} of {message:?}");
            }
            prop_assert_eq!(string_field(&line, "message"), Some(message));
        }
    }
}
