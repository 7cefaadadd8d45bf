//! Templated runbook arguments: `{{ incident.labels.x }}`, `{{ check.name }}` fill whole argv
//! elements (never a shell string) and the string values of built-in steps; an undefined name is
//! an error, not an empty string.

use minijinja::{Environment, UndefinedBehavior, Value};

/// Renders every argv element that contains a template against `context`.
pub fn render_argv(argv: &[String], context: &Value) -> Result<Vec<String>, String> {
    let env = strict_environment();
    argv.iter()
        .map(|arg| render_with(&env, arg, context))
        .collect()
}

/// Renders one value (a URL, a path, a statement) if it contains a template.
pub fn render_str(text: &str, context: &Value) -> Result<String, String> {
    render_with(&strict_environment(), text, context)
}

/// Renders one word of a `shell = true` step: every templated value is single-quoted for
/// `sh`, so `{{ incident.labels.x }}` cannot inject shell syntax even from a hostile value.
pub fn render_shell_str(text: &str, context: &Value) -> Result<String, String> {
    let mut env = strict_environment();
    env.set_formatter(|out, _state, value| {
        let text = value.to_string();
        out.write_str(&shell_quote(&text))
            .map_err(minijinja::Error::from)
    });
    render_with(&env, text, context)
}

/// Renders a SQL statement: templated values go in as written (they may be numbers, names or
/// parts of literals), so each must be a plain word — ASCII letters, digits and `_ . : @ / + -`,
/// not starting or ending with `-` and without `--` — and anything else (quotes, `;`, spaces:
/// an incident title carrying a log line, say) fails the step instead of reaching the server.
pub fn render_sql_str(text: &str, context: &Value) -> Result<String, String> {
    let mut env = strict_environment();
    env.set_formatter(|out, _state, value| {
        let text = value.to_string();
        if !is_plain_word(&text) {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "value `{text}` is not a plain word (letters, digits, _ . : @ / + -), so it cannot go into SQL"
                ),
            ));
        }
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    render_with(&env, text, context)
}

/// Bytes of a templated value that go into a URL as they are: ASCII letters, digits and
/// `- . _ ~`; every other byte is percent-encoded.
const URL_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Renders the URL of an `http` step. A templated value in the authority (`http://{{ addr }}/`)
/// must be a host and port — ASCII letters, digits and `. - : [ ]` — or the step fails; one in
/// the path, query or fragment is percent-encoded. Either way a value (an incident label, a
/// title carrying a log line) cannot add a query parameter, a path segment, a fragment or
/// credentials; a value of dots only (`..` is a path segment, even encoded) fails the step.
pub fn render_url_str(text: &str, context: &Value) -> Result<String, String> {
    render_placed(text, context, |url, value| {
        if !value.is_empty() && value.bytes().all(|b| b == b'.') {
            return Err(format!(
                "value `{value}` would be a relative path segment in a URL"
            ));
        }
        // The authority runs from after `scheme://` (or the start) to the first `/ ? #`.
        let authority = url.find("://").map_or(0, |i| i + 3);
        let in_authority = !url
            .get(authority..)
            .unwrap_or_default()
            .contains(['/', '?', '#']);
        if !in_authority {
            return Ok(percent_encoding::utf8_percent_encode(value, URL_VALUE).to_string());
        }
        let host = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
        if host {
            Ok(value.to_string())
        } else {
            Err(format!("value `{value}` is not a host and port"))
        }
    })
}

/// Renders a JSON body of an `http` step: a templated value inside a JSON string is escaped
/// for it (`"`, `\\`, control characters), so it cannot end the string and add fields; outside a
/// string a value must be a number, `true`, `false` or `null`, or the step fails.
pub fn render_json_str(text: &str, context: &Value) -> Result<String, String> {
    render_placed(text, context, |body, value| {
        if in_json_string(body) {
            let quoted = serde_json::Value::String(value.to_string()).to_string();
            return Ok(quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string());
        }
        match serde_json::from_str::<serde_json::Value>(value) {
            Ok(
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) | serde_json::Value::Null,
            ) => Ok(value.trim().to_string()),
            _ => Err(format!(
                "value `{value}` outside a JSON string must be a number, true, false or null"
            )),
        }
    })
}

/// True when `json` (a JSON text cut anywhere) ends inside a string.
fn in_json_string(json: &str) -> bool {
    let (mut inside, mut escaped) = (false, false);
    for b in json.bytes() {
        match (inside, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => inside = !inside,
            _ => {}
        }
    }
    inside
}

/// Renders `text`, each templated value written by `place` from the text rendered before it
/// and the value itself; `place` may refuse a value, which fails the rendering.
fn render_placed(
    text: &str,
    context: &Value,
    mut place: impl FnMut(&str, &str) -> Result<String, String>,
) -> Result<String, String> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    // Values are rendered as numbered markers first, so that where each one lands is known.
    const MARK: char = '\u{1}';
    if text.contains(MARK) {
        return Err(format!("template `{text}`: cannot hold U+0001"));
    }
    let values = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut env = strict_environment();
    let kept = std::sync::Arc::clone(&values);
    env.set_formatter(move |out, _state, value| {
        let mut kept = kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.push(value.to_string());
        write!(out, "{MARK}{}{MARK}", kept.len() - 1).map_err(minijinja::Error::from)
    });
    let marked = render_with(&env, text, context)?;
    let values = values
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rendered = String::with_capacity(marked.len());
    for (i, part) in marked.split(MARK).enumerate() {
        if i % 2 == 0 {
            rendered.push_str(part);
            continue;
        }
        let value = part
            .parse::<usize>()
            .ok()
            .and_then(|n| values.get(n))
            .ok_or_else(|| format!("template `{text}`: a value went missing"))?;
        let placed = place(&rendered, value).map_err(|e| format!("template `{text}`: {e}"))?;
        rendered.push_str(&placed);
    }
    Ok(rendered)
}

/// Whether `text` can stand in a SQL statement as written without changing its syntax.
fn is_plain_word(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '@' | '/' | '+' | '-'))
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
}

/// `'text'` with every `'` written as `'\''`: one word for `sh`, whatever the text.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn strict_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn render_with(env: &Environment<'_>, text: &str, context: &Value) -> Result<String, String> {
    if text.contains("{{") || text.contains("{%") {
        env.render_str(text, context)
            .map_err(|e| format!("template `{text}`: {e}"))
    } else {
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_in_a_json_body_stays_one_value() {
        let body = r#"{"pool": "{{ v }}", "note": "x\"{{ v }}", "n": {{ n }}}"#;
        let fill =
            |v: &str, n: &str| render_json_str(body, &minijinja::context! { v => v, n => n });
        let hostile = "a\", \"admin\": true, \"x\": \"\\\n";
        let json = fill(hostile, "7").expect("renders");
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(parsed["pool"], hostile, "{json}");
        assert_eq!(parsed["note"], format!("x\"{hostile}"), "{json}");
        assert_eq!(parsed["n"], 7);
        assert!(parsed.get("admin").is_none(), "{json}");
        for n in ["1.5e3", "true", "null", " 2 "] {
            assert!(fill("p", n).is_ok(), "{n}");
        }
        for n in ["1, \"admin\": true", "\"s\"", "[1]", ""] {
            let err = fill("p", n).expect_err("not a scalar");
            assert!(err.contains("must be a number"), "{err}");
        }
    }

    #[test]
    fn a_value_in_a_url_stays_one_value() {
        let url = "http://127.0.0.1:8080/pools/{{ v }}/reset?service={{ v }}";
        let fill = |v: &str| render_url_str(url, &minijinja::context! { v => v });
        // A log line in a title cannot add a parameter, a segment, a fragment or a user.
        assert_eq!(
            fill("a&force=1/../admin#x@evil"),
            Ok("http://127.0.0.1:8080/pools/a%26force%3D1%2F..%2Fadmin%23x%40evil/reset?service=a%26force%3D1%2F..%2Fadmin%23x%40evil".into())
        );
        assert_eq!(
            fill("db-1.internal_x~"),
            Ok(
                "http://127.0.0.1:8080/pools/db-1.internal_x~/reset?service=db-1.internal_x~"
                    .into()
            )
        );
        assert_eq!(
            fill("é ü"),
            Ok("http://127.0.0.1:8080/pools/%C3%A9%20%C3%BC/reset?service=%C3%A9%20%C3%BC".into())
        );
        for dots in [".", ".."] {
            let err = fill(dots).expect_err("a relative path segment");
            assert!(err.contains("relative path segment"), "{err}");
        }
        // In the authority a value is a host and port, or nothing.
        let host = "http://{{ v }}/reset?x={{ v }}";
        let at = |v: &str| render_url_str(host, &minijinja::context! { v => v });
        assert_eq!(
            at("127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080/reset?x=127.0.0.1%3A8080".into())
        );
        assert_eq!(
            at("[::1]:80"),
            Ok("http://[::1]:80/reset?x=%5B%3A%3A1%5D%3A80".into())
        );
        for bad in ["evil.com/x?", "user@evil.com", "h#f", "h p"] {
            let err = at(bad).expect_err("not a host");
            assert!(err.contains("not a host and port"), "{err}");
        }
        // The text around the templates is the user's own and stays as written.
        assert_eq!(
            render_url_str("http://h/a?b=c&d=%20", &minijinja::context! {}),
            Ok("http://h/a?b=c&d=%20".into())
        );
    }

    #[test]
    fn fills_whole_elements_and_rejects_undefined_names() {
        let context = minijinja::context! { incident => minijinja::context! { labels => minijinja::context! { service => "api; rm -rf /" } } };
        let argv = vec![
            "systemctl".to_string(),
            "restart".to_string(),
            "{{ incident.labels.service }}".to_string(),
        ];
        assert_eq!(
            render_argv(&argv, &context),
            Ok(vec![
                "systemctl".into(),
                "restart".into(),
                "api; rm -rf /".into()
            ])
        );
        let missing = vec!["{{ incident.labels.nope }}".to_string()];
        assert!(render_argv(&missing, &context).is_err());
        assert!(render_argv(&["{{ unclosed".to_string()], &context).is_err());
    }

    #[test]
    fn sql_templates_take_plain_words_only() {
        for ok in ["42", "svc-one", "db.example.com:5432", "a_b/c+d@e", ""] {
            let context = minijinja::context! { v => ok };
            assert_eq!(
                render_sql_str("SELECT {{ v }}", &context),
                Ok(format!("SELECT {ok}")),
                "{ok}"
            );
        }
        for bad in [
            "1; DROP TABLE t",
            "x' OR '1'='1",
            "1 --",
            "5--",
            "a--b",
            "1)",
            "a b",
            "é",
            "x\ny",
            "7-",
            // A leading `-` could meet one in the statement (`x = -{{ v }}`) and start a comment.
            "-3",
        ] {
            let context = minijinja::context! { v => bad };
            let rendered = render_sql_str("DELETE FROM t WHERE x = {{ v }}", &context);
            assert!(rendered.is_err(), "{bad}: {rendered:?}");
        }
        // Numbers from the context are words too.
        let context = minijinja::context! { n => 7 };
        assert_eq!(render_sql_str("x > {{ n }}", &context), Ok("x > 7".into()));
    }

    #[test]
    fn shell_templates_quote_every_value() {
        let context = minijinja::context! { v => "x'; rm -rf / #" };
        let word = render_shell_str("systemctl restart {{ v }}", &context).expect("render");
        assert_eq!(word, r"systemctl restart 'x'\''; rm -rf / #'");
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "printf %s {}",
                    render_shell_str("{{ v }}", &context).expect("render")
                ),
            ])
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'; rm -rf / #");
    }
}
