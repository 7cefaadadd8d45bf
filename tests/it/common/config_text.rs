//! Config texts built from their varying parts: a `[[runbook]]` table from its name, steps and
//! keys, every value written as TOML (so templates need no `{{{{` and argv no `\"`).

use std::fmt;
use std::path::Path;

/// `text` as a TOML string (quoted and escaped).
pub fn quoted(text: &str) -> String {
    toml::Value::from(text).to_string()
}

/// A TOML array of strings: an argv, a list of runbook names.
pub fn strings(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|item| quoted(item)).collect();
    format!("[{}]", items.join(", "))
}

/// `path` as text for an argv or a config value (the tests' temporary paths are UTF-8).
pub fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 test path")
}

/// One `[[runbook]]` table; rendered by `Display`.
#[derive(Clone, Debug)]
pub struct Runbook {
    name: String,
    keys: Vec<String>,
    steps: Vec<String>,
    rollback: Vec<String>,
}

impl Runbook {
    /// A runbook named `name` with no steps yet.
    pub fn new(name: &str) -> Runbook {
        Runbook {
            name: name.to_string(),
            keys: Vec::new(),
            steps: Vec::new(),
            rollback: Vec::new(),
        }
    }

    /// Its name (what a check's `remedy` lists).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a step running `argv`.
    pub fn run(self, argv: &[&str]) -> Runbook {
        self.run_with(argv, "")
    }

    /// Adds a step running `sh -c script`.
    pub fn shell(self, script: &str) -> Runbook {
        self.run(&["sh", "-c", script])
    }

    /// Adds a step running `argv` with more step keys (TOML, e.g. `timeout = "2m"`).
    pub fn run_with(mut self, argv: &[&str], keys: &str) -> Runbook {
        self.steps.push(step(argv, keys));
        self
    }

    /// Adds a rollback step running `argv`.
    pub fn rollback(mut self, argv: &[&str]) -> Runbook {
        self.rollback.push(step(argv, ""));
        self
    }

    /// `verify = { check = CHECK, within = WITHIN }`: the repair succeeds once `check` is ok.
    pub fn verify(self, check: &str, within: &str) -> Runbook {
        let table = format!(
            "{{ check = {}, within = {} }}",
            quoted(check),
            quoted(within)
        );
        self.set_toml("verify", &table)
    }

    /// Sets `key` to `value` (a string, number or boolean).
    pub fn set(self, key: &str, value: impl Into<toml::Value>) -> Runbook {
        let value = value.into().to_string();
        self.set_toml(key, &value)
    }

    /// Sets `key` to a value written as TOML.
    pub fn set_toml(mut self, key: &str, value: &str) -> Runbook {
        self.keys.push(format!("{key} = {value}"));
        self
    }
}

fn step(argv: &[&str], keys: &str) -> String {
    if keys.is_empty() {
        format!("{{ run = {} }}", strings(argv))
    } else {
        format!("{{ run = {}, {keys} }}", strings(argv))
    }
}

impl fmt::Display for Runbook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[[runbook]]\nname = {}", quoted(&self.name))?;
        for key in &self.keys {
            writeln!(f, "{key}")?;
        }
        writeln!(f, "steps = [ {} ]", self.steps.join(", "))?;
        if !self.rollback.is_empty() {
            writeln!(f, "rollback = [ {} ]", self.rollback.join(", "))?;
        }
        Ok(())
    }
}
