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
}
