//! `[[category]]`: log categories of the user's own, and changes to (or removal of) built-in
//! ones, merged over the built-in pack; `problems()` checks patterns and runbooks with spans.

use super::check::SpanError;
use super::pack::CategoryOverride;
use crate::model::{Category, Severity};
use regex_automata::meta;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use toml::Spanned;

/// Largest compiled size of one category pattern, in bytes (the `regex` size limit): a hostile
/// or careless pattern is a config error instead of a memory hog. All patterns together are
/// bounded by the `regex` default for a set (10 MiB).
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// One `[[category]]` table. A name that is not built-in adds a category, checked before every
/// built-in one; a built-in name changes that built-in in its place: the fields given replace
/// the built-in's, the fields left out keep the built-in's values.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Machine name (letters, digits, `-`, `_`, `.`), used in `[[log.alert]] category`,
    /// fingerprints (`log:<source>:<category>`) and labels. A built-in name (see the README's
    /// Log analysis section) changes that built-in.
    pub name: Spanned<String>,
    /// Regexes (`regex` crate syntax, `(?i)` for case-insensitive); any one found in a line
    /// puts it in the category. Required for a new category; for a built-in they replace all
    /// of its patterns. A pattern must not match the empty string (it would match every line),
    /// and each must compile within 1 MiB (a Unicode `\w` takes about 50 KiB; `(?-u)\w` or
    /// `\S` far less), all patterns together (built-in ones too) within 10 MiB.
    pub patterns: Option<Spanned<Vec<Spanned<String>>>>,
    /// `info`, `warning`, `error` or `critical`. `critical` and `error` lines fail (and have
    /// the log source's default alert); `warning` and `info` only warn. Default for a new
    /// category: `error`.
    pub severity: Option<Severity>,
    /// What an operator should check first (shown by `homeostat analyze` and `analyze-error`).
    /// Default for a new category: none.
    pub advice: Option<String>,
    /// Candidate runbooks suggested for the category's lines; each must be a `[[runbook]]`.
    /// Default for a new category: none.
    pub runbooks: Option<Vec<Spanned<String>>>,
    /// `true` removes the built-in category of this name (no other key may be given then).
    /// Default `false`.
    #[serde(default)]
    pub disabled: bool,
}

impl CategoryConfig {
    /// The change this table makes to the category pack.
    pub fn to_override(&self) -> CategoryOverride {
        CategoryOverride {
            name: self.name.get_ref().clone(),
            patterns: self
                .patterns
                .as_ref()
                .map(|ps| ps.get_ref().iter().map(|p| p.get_ref().clone()).collect()),
            severity: self.severity,
            advice: self.advice.clone(),
            runbooks: self
                .runbooks
                .as_ref()
                .map(|rs| rs.iter().map(|r| r.get_ref().clone()).collect()),
            disabled: self.disabled,
        }
    }

    /// Problems serde cannot see: patterns that do not compile, are too large or match the
    /// empty string; a new category without patterns; runbooks that are not defined; a
    /// `disabled` that removes nothing or comes with other keys. (Names are checked by the
    /// caller, across tables.)
    pub fn problems(
        &self,
        builtin: &[Category],
        runbooks: &HashMap<&str, Range<usize>>,
    ) -> Vec<SpanError> {
        let mut problems = Vec::new();
        let name = self.name.get_ref();
        let is_builtin = builtin.iter().any(|c| &c.name == name);
        if self.disabled {
            if !is_builtin {
                problems.push((
                    self.name.span(),
                    format!("`disabled = true` but `{name}` is not a built-in category"),
                ));
            }
            let given = self.patterns.is_some()
                || self.severity.is_some()
                || self.advice.is_some()
                || self.runbooks.is_some();
            if given {
                problems.push((
                    self.name.span(),
                    format!(
                        "category `{name}` is disabled: remove its other keys (or `disabled = true`)"
                    ),
                ));
            }
            return problems;
        }
        match &self.patterns {
            None if !is_builtin => problems.push((
                self.name.span(),
                format!("new category `{name}` needs `patterns` (a list of regexes)"),
            )),
            None => {}
            Some(patterns) if patterns.get_ref().is_empty() => problems.push((
                patterns.span(),
                "`patterns` is empty: give at least one regex (to turn a built-in category off, use `disabled = true`)".to_string(),
            )),
            Some(patterns) => {
                for pattern in patterns.get_ref() {
                    if let Some(problem) = pattern_problem(pattern.get_ref()) {
                        problems.push((pattern.span(), problem));
                    }
                }
            }
        }
        for runbook in self.runbooks.iter().flatten() {
            if !runbooks.contains_key(runbook.get_ref().as_str()) {
                problems.push((
                    runbook.span(),
                    format!("runbook `{}` is not a defined runbook", runbook.get_ref()),
                ));
            }
        }
        problems
    }
}

/// Compiles a category's patterns into one regex that matches where any of them does (the
/// classifier's, and config validation's check that they compile together). The regex
/// engine's own literal prefilter is off: the classifier's prefilter chose the line for its
/// words already, so a second search for literals would mostly repeat that work (measured: the
/// 1 M benchmark lines take 5 % fewer instructions without it).
pub fn compile_patterns(patterns: &[String]) -> Result<meta::Regex, regex::Error> {
    meta::Regex::builder()
        .configure(meta::Config::new().auto_prefilter(false))
        .build_many(patterns)
        .map_err(|e| match e.size_limit() {
            Some(limit) => regex::Error::CompiledTooBig(limit),
            None => regex::Error::Syntax(e.to_string()),
        })
}

/// Why `pattern` cannot be a category pattern, if it cannot.
fn pattern_problem(pattern: &str) -> Option<String> {
    match regex::RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
    {
        Err(e) => Some(format!("invalid pattern: {e}")),
        Ok(re) if re.is_match("") => Some(format!(
            "pattern `{pattern}` matches the empty string, so it would match every line"
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use crate::model::Severity;
    use std::path::Path;

    fn config(text: &str) -> Config {
        match Config::parse(text, Path::new("h.toml")) {
            Ok(config) => config,
            Err(e) => panic!("config rejected: {e}\n{text}"),
        }
    }

    /// Every issue of an invalid config as `h.toml:line:col: message`.
    fn issues(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new("h.toml")) {
            Ok(_) => panic!("config accepted:\n{text}"),
            Err(ConfigError::Invalid { issues }) => issues.iter().map(|i| i.to_string()).collect(),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// The name of the category `line` falls in under `config`.
    fn category_of(config: &Config, line: &str) -> Option<String> {
        // The first category in priority order with a pattern found in the line.
        config
            .categories()
            .into_iter()
            .find(|c| {
                c.patterns
                    .iter()
                    .any(|p| regex::Regex::new(p).expect("compiles").is_match(line))
            })
            .map(|c| c.name)
    }

    const RUNBOOK: &str = "[[runbook]]\nname = \"restart-vpn\"\nsteps = [ { run = [\"true\"] } ]\n";

    #[test]
    fn new_category_is_added_with_defaults_and_checked_before_builtins() {
        let config = config(&format!(
            "{RUNBOOK}[[category]]\nname = \"payment_gateway_down\"\n\
             patterns = ['(?i)payment gateway .* unreachable', 'PGW-5\\d\\d']\n\
             runbooks = [\"restart-vpn\"]\n"
        ));
        // The line also says "connection refused": the user's category wins.
        let line = "Payment gateway eu-1 unreachable: connection refused";
        assert_eq!(
            category_of(&config, line).as_deref(),
            Some("payment_gateway_down")
        );
        assert_eq!(
            category_of(&config, "error PGW-503 from upstream").as_deref(),
            Some("payment_gateway_down")
        );
        assert_eq!(
            category_of(
                &config,
                "dial tcp 10.0.0.1:443: connect: connection refused"
            )
            .as_deref(),
            Some("connection_refused")
        );
        let categories = config.categories();
        let added = &categories[0];
        assert_eq!(added.name, "payment_gateway_down");
        assert_eq!(added.severity, Severity::Error);
        assert_eq!(added.advice, "");
        assert_eq!(added.runbooks, ["restart-vpn"]);
        assert_eq!(
            categories.len(),
            super::super::pack::builtin_categories().len() + 1
        );
    }

    #[test]
    fn builtin_override_keeps_omitted_fields_and_its_place() {
        let builtin = super::super::pack::builtin_categories();
        let position = |name: &str, cs: &[crate::model::Category]| {
            cs.iter().position(|c| c.name == name).expect("present")
        };
        let config = config(
            "[[category]]\nname = \"connection_refused\"\nadvice = \"Is the VPN up?\"\nseverity = \"critical\"\n",
        );
        let categories = config.categories();
        let original = &builtin[position("connection_refused", &builtin)];
        let changed = &categories[position("connection_refused", &categories)];
        assert_eq!(changed.advice, "Is the VPN up?");
        assert_eq!(changed.severity, Severity::Critical);
        assert_eq!(changed.patterns, original.patterns);
        assert_eq!(changed.runbooks, original.runbooks);
        assert_eq!(
            position("connection_refused", &categories),
            position("connection_refused", &builtin),
            "a change does not move the category"
        );
        // Still loses to the earlier built-in OOM on a line that has both.
        assert_eq!(
            category_of(
                &config,
                "Out of memory: Killed process 1 (x); connection refused"
            )
            .as_deref(),
            Some("out_of_memory")
        );
    }

    #[test]
    fn builtin_patterns_are_replaced_not_extended() {
        let config = config(
            "[[category]]\nname = \"connection_refused\"\npatterns = ['backend \\d+ refused us']\n",
        );
        assert_eq!(
            category_of(&config, "backend 7 refused us").as_deref(),
            Some("connection_refused")
        );
        assert_eq!(
            category_of(&config, "Error: connect ECONNREFUSED 1.2.3.4:5"),
            None
        );
    }

    #[test]
    fn disabled_builtin_is_gone_and_cannot_be_alerted_on() {
        let config = config("[[category]]\nname = \"rate_limited\"\ndisabled = true\n");
        assert!(config.categories().iter().all(|c| c.name != "rate_limited"));
        assert_eq!(category_of(&config, "HTTP/1.1 429 Too Many Requests"), None);
        let found = issues(
            "[[category]]\nname = \"rate_limited\"\ndisabled = true\n\
             [[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\n\
             [[log.alert]]\ncategory = \"rate_limited\"\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("h.toml:8:12: unknown category `rate_limited`"),
            "{found:#?}"
        );
    }

    #[test]
    fn alerts_accept_user_categories() {
        let config = config(
            "[[category]]\nname = \"pgw\"\npatterns = ['PGW-5\\d\\d']\nseverity = \"warning\"\n\
             [[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\n\
             [[log.alert]]\ncategory = \"pgw\"\ncount = 2\n",
        );
        let rules = config.log[0].rules(&config.categories());
        let pgw = rules
            .iter()
            .find(|r| r.category == "pgw")
            .expect("pgw rule");
        assert_eq!((pgw.count, pgw.severity), (2, Severity::Warning));
    }

    #[test]
    fn realistic_patterns_fit_the_size_limit() {
        let builtin = super::super::pack::builtin_categories();
        let wordy = [
            r"(?i)\w+ failed for user \w+@[\w.]+ from \S+",
            r"(?i)^\[\w+\] \w+(\.\w+)*: (timeout|refused|unreachable) after \d+ ?ms",
        ];
        for pattern in builtin
            .iter()
            .flat_map(|c| &c.patterns)
            .map(String::as_str)
            .chain(wordy)
        {
            assert_eq!(super::pattern_problem(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn patterns_too_large_together_are_reported_at_their_category() {
        // Each fits the limit (about 950 KiB), twelve of them do not fit one category's set;
        // in twelve categories they would.
        let mut text = String::from("[[category]]\nname = \"small\"\npatterns = ['x']\n");
        text.push_str("[[category]]\nname = \"big\"\npatterns = [");
        text.push_str(&["'\\w{18}'"; 12].join(", "));
        text.push_str("]\n");
        let found = issues(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .starts_with("h.toml:5:8: the patterns of category `big` do not compile together"),
            "{found:#?}"
        );
        let apart: String = (0..12)
            .map(|i| format!("[[category]]\nname = \"big{i}\"\npatterns = ['\\w{{18}}']\n"))
            .collect();
        config(&apart);
    }

    #[test]
    fn bad_categories_are_reported_at_file_line_col() {
        // Serde stops at a value of the wrong kind, so it is reported alone.
        let found =
            issues("[[category]]\nname = \"sev\"\npatterns = ['x']\nseverity = \"fatal\"\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("h.toml:4:12: ") && found[0].contains("unknown variant `fatal`"),
            "{found:#?}"
        );
        let found = issues(concat!(
            "[[runbook]]\nname = \"restart-vpn\"\nsteps = [ { run = [\"true\"] } ]\n", // 1-3
            "[[category]]\nname = \"pgw\"\npatterns = ['PGW-(5', 'ok']\n",             // 4-6
            "[[category]]\nname = \"pgw\"\npatterns = ['a*', 'x|']\n",                 // 7-9
            "[[category]]\nname = \"vpn\"\nrunbooks = [\"restart-vpn\", \"nope\"]\n",  // 10-12
            "[[category]]\nname = \"crash\"\npatterns = []\n",                         // 13-15
            "[[category]]\nname = \"not_builtin\"\ndisabled = true\n",                 // 16-18
            "[[category]]\nname = \"disk_full\"\ndisabled = true\nadvice = \"x\"\n",   // 19-22
            "[[category]]\nname = \"big\"\npatterns = ['\\w{1000}\\w{1000}']\n",       // 23-25
            "[[category]]\nname = \"bad name\"\npatterns = ['x']\n",                   // 26-28
        ));
        let expect = [
            ("6:13", "invalid pattern: regex parse error"),
            ("8:8", "duplicate category name `pgw`"),
            ("9:13", "pattern `a*` matches the empty string"),
            ("9:19", "pattern `x|` matches the empty string"),
            ("11:8", "new category `vpn` needs `patterns`"),
            ("12:28", "runbook `nope` is not a defined runbook"),
            ("15:12", "`patterns` is empty"),
            ("17:8", "`not_builtin` is not a built-in category"),
            (
                "20:8",
                "category `disk_full` is disabled: remove its other keys",
            ),
            ("25:13", "exceeds size limit"),
            ("27:8", "category name `bad name`: use letters"),
        ];
        for (at, text) in expect {
            assert!(
                found
                    .iter()
                    .any(|i| i.starts_with(&format!("h.toml:{at}: ")) && i.contains(text)),
                "expected h.toml:{at} containing {text:?}, got {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }
}
