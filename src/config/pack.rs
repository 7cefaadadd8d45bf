//! The built-in log category pack — the embedded `categories.toml`, parsed once — and how the
//! `[[category]]` tables merge over it.

use crate::model::{Category, Severity};
use serde::Deserialize;
use std::sync::LazyLock;

/// The pack's source, embedded in the binary.
const PACK: &str = include_str!("categories.toml");

/// The pack file: its `[[category]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    category: Vec<Category>,
}

/// The pack, parsed on first use.
static BUILTIN: LazyLock<Vec<Category>> = LazyLock::new(|| match toml::from_str::<Pack>(PACK) {
    Ok(pack) => pack.category,
    // The embedded pack is fixed and covered by tests, so this cannot happen.
    Err(e) => panic!("built-in category pack does not parse: {e}"),
});

/// The built-in category pack, in priority order (more specific families first).
pub fn builtin_categories() -> Vec<Category> {
    BUILTIN.clone()
}

/// A user's change to the category pack (one `[[category]]` table): a new category, or a
/// built-in one changed or turned off. `None` means the field was not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CategoryOverride {
    /// The category's name; the name of a built-in category changes that built-in.
    pub name: String,
    /// All the patterns (a built-in's own are replaced, not extended).
    pub patterns: Option<Vec<String>>,
    /// The severity (a new category without one is [`Severity::Error`]).
    pub severity: Option<Severity>,
    /// The advice (a new category without one has none).
    pub advice: Option<String>,
    /// The candidate runbooks (a new category without them has none).
    pub runbooks: Option<Vec<String>>,
    /// Removes the category of this name (the other fields are ignored).
    pub disabled: bool,
}

impl CategoryOverride {
    /// Sets the fields this override gives.
    fn apply(&self, category: &mut Category) {
        if let Some(patterns) = &self.patterns {
            category.patterns.clone_from(patterns);
        }
        if let Some(severity) = self.severity {
            category.severity = severity;
        }
        if let Some(advice) = &self.advice {
            category.advice.clone_from(advice);
        }
        if let Some(runbooks) = &self.runbooks {
            category.runbooks.clone_from(runbooks);
        }
    }
}

/// `builtin` with `overrides` applied, in priority order: first the new categories (in
/// `overrides` order), then the built-ins in their own order, changed ones in their place and
/// disabled ones left out. A change keeps the built-in's value of every field it does not give.
/// Disabling an unknown name does nothing; a repeated name changes the category again (config
/// validation rejects both).
pub fn merge_categories(builtin: Vec<Category>, overrides: &[CategoryOverride]) -> Vec<Category> {
    let mut builtin: Vec<Option<Category>> = builtin.into_iter().map(Some).collect();
    let mut added: Vec<Option<Category>> = Vec::new();
    for o in overrides {
        let found = builtin
            .iter_mut()
            .chain(added.iter_mut())
            .find(|c| c.as_ref().is_some_and(|c| c.name == o.name));
        match found {
            Some(slot) if o.disabled => *slot = None,
            Some(Some(category)) => o.apply(category),
            Some(None) => {}
            None if o.disabled => {}
            None => {
                let mut category = Category {
                    name: o.name.clone(),
                    patterns: Vec::new(),
                    severity: Severity::Error,
                    advice: String::new(),
                    runbooks: Vec::new(),
                };
                o.apply(&mut category);
                added.push(Some(category));
            }
        }
    }
    added.into_iter().chain(builtin).flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::category::compile_patterns;

    #[test]
    fn the_pack_parses_and_every_category_compiles() {
        let pack = builtin_categories();
        assert!(!pack.is_empty());
        for c in &pack {
            assert!(!c.patterns.is_empty(), "{}", c.name);
            compile_patterns(&c.patterns).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
    }
}
