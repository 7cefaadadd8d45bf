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
