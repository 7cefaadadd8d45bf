//! The stored clusters of one log source, by template. A source's miner starts empty at every
//! start, so without this each restart would store every template again beside its old row.
//! A cluster saved for the first time joins the stored row whose template it fits word by word
//! (the row's literal words are the cluster's, or variables in it; `<*>` stands for any word,
//! or for the rest of a word after its `key=`), and the row keeps the generalisation of both.

use super::mask::WILDCARD;
use crate::store::MAX_TEMPLATE_ROWS;
use std::collections::HashMap;

/// Rows of one list ([`StoredTemplates::by_first`] or, for a template that starts with a
/// variable, [`StoredTemplates::by_len`]) compared with a new template at most (the newest ones).
const SCAN: usize = 256;

/// Where a template is filed: its word count, and its first word when that is a literal
/// (`None` when it holds a variable: `<*>`, `key=<*>`).
type FirstWord = (usize, Option<Box<str>>);

/// Stored rows of one source and their templates, split into words.
#[derive(Default)]
pub struct StoredTemplates {
    /// Row → template words.
    words: HashMap<i64, Box<[Box<str>]>>,
    /// Word count → rows, oldest first.
    by_len: HashMap<usize, Vec<i64>>,
    /// Word count and literal first word → rows, oldest first. A template that starts with a
    /// literal fits only rows that start with the same word or with a variable, so these two
    /// lists are all it needs to look through, however many rows share its length.
    by_first: HashMap<FirstWord, Vec<i64>>,
}

/// Where the template `words` is filed in [`StoredTemplates::by_first`].
fn first_word(words: &[impl AsRef<str>]) -> FirstWord {
    let first = words
        .first()
        .map(AsRef::as_ref)
        .filter(|w| !variable(w))
        .map(Box::from);
    (words.len(), first)
}

/// How `general` stands for `word`: the same word, a variable, or `key=<*>` for `key=...`.
fn fits(general: &str, word: &str) -> bool {
    general == word
        || general == WILDCARD
        || general
            .strip_suffix(WILDCARD)
            .is_some_and(|key| key.ends_with('=') && word.starts_with(key))
}

/// Whether `word` holds a variable.
fn variable(word: &str) -> bool {
    word.ends_with(WILDCARD)
}

/// The template of a row (`stored`) and of a new cluster (`new`) joined: `None` when a literal
/// word of the row is neither the cluster's word nor a variable in it, or when an all-variable
/// row would take a template with literals (as the miner matches lines to templates); else the
/// more general word at each place, and how many literal words the two share.
fn join(stored: &[Box<str>], new: &[&str]) -> Option<(String, usize)> {
    if stored.len() != new.len() {
        return None;
    }
    let all_variable = stored.iter().all(|w| variable(w));
    if all_variable && !new.iter().all(|w| variable(w)) {
        return None;
    }
    let mut joined = String::new();
    let mut shared = 0;
    for (s, n) in stored.iter().zip(new) {
        let word = if fits(s, n) {
            shared += usize::from(!variable(s));
            &**s
        } else if fits(n, s) {
            n
        } else {
            return None;
        };
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(word);
    }
    Some((joined, shared))
}

impl StoredTemplates {
    /// The rows of a source, oldest first.
    pub fn new(rows: impl IntoIterator<Item = (i64, String)>) -> StoredTemplates {
        let mut stored = StoredTemplates::default();
        for (row, template) in rows {
            stored.remember(row, &template);
        }
        stored
    }

    /// The row a cluster saved for the first time joins, and the row's template then: the
    /// fitting row sharing the most literal words (on a tie, the one created last).
    pub fn find(&self, template: &str) -> Option<(i64, String)> {
        let new: Vec<&str> = template.split(' ').collect();
        let (len, first) = first_word(&new);
        let lists: [Option<&Vec<i64>>; 2] = match first {
            Some(word) => [
                self.by_first.get(&(len, Some(word))),
                self.by_first.get(&(len, None)),
            ],
            // A variable first word fits any first word: every row of the length may fit.
            None => [self.by_len.get(&len), None],
        };
        let mut best: Option<(usize, i64, String)> = None;
        for &row in lists
            .into_iter()
            .flatten()
            .flat_map(|l| l.iter().rev().take(SCAN))
        {
            let Some((joined, shared)) = self.words.get(&row).and_then(|w| join(w, &new)) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| (shared, row) > (b.0, b.1)) {
                best = Some((shared, row, joined));
            }
        }
        best.map(|(_, row, joined)| (row, joined))
    }

    /// The template row `row` gets when a cluster of `template` is saved into it: the two
    /// joined; `None` when the row is not remembered (any more) or they do not fit, and the row
    /// keeps the template it has.
    pub fn joined(&self, row: i64, template: &str) -> Option<String> {
        let new: Vec<&str> = template.split(' ').collect();
        self.words
            .get(&row)
            .and_then(|w| join(w, &new))
            .map(|(joined, _)| joined)
    }

    /// Forgets row `row` (the store no longer has it).
    pub fn forget(&mut self, row: i64) {
        if let Some(words) = self.words.remove(&row) {
            if let Some(rows) = self.by_first.get_mut(&first_word(&words)) {
                rows.retain(|&r| r != row);
            }
            if let Some(rows) = self.by_len.get_mut(&words.len()) {
                rows.retain(|&r| r != row);
            }
        }
    }

    /// Remembers the template a row has now.
    pub fn remember(&mut self, row: i64, template: &str) {
        let words: Box<[Box<str>]> = template.split(' ').map(Box::from).collect();
        let filed = first_word(&words);
        let len = words.len();
        let mut new_len = true;
        if let Some(old) = self.words.insert(row, words) {
            let old_filed = first_word(&old);
            if old_filed == filed {
                return;
            }
            if let Some(rows) = self.by_first.get_mut(&old_filed) {
                rows.retain(|&r| r != row);
            }
            new_len = old.len() != len;
            if new_len && let Some(rows) = self.by_len.get_mut(&old.len()) {
                rows.retain(|&r| r != row);
            }
        }
        self.by_first.entry(filed).or_default().push(row);
        if new_len {
            self.by_len.entry(len).or_default().push(row);
        }
        if self.words.len() > MAX_TEMPLATE_ROWS {
            for rows in self.by_len.values_mut() {
                for row in rows.drain(..rows.len() / 2) {
                    self.words.remove(&row);
                }
            }
            let words = &self.words;
            self.by_first.retain(|_, rows| {
                rows.retain(|row| words.contains_key(row));
                !rows.is_empty()
            });
            self.by_len.retain(|_, rows| !rows.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cluster_joins_the_row_whose_template_fits_it() {
        let stored = StoredTemplates::new([
            (1, "connection from <*> closed after <*> ms".to_string()),
            (2, "user=<*> logged in".to_string()),
            (3, "<*> <*>".to_string()),
        ]);
        // More specific than the row: joins it, the row keeps its template.
        assert_eq!(
            stored.find("connection from alice closed after <*> ms"),
            Some((1, "connection from <*> closed after <*> ms".to_string()))
        );
        assert_eq!(
            stored.find("user=bob logged in"),
            Some((2, "user=<*> logged in".to_string()))
        );
        // More general in one place than the row: joins it, and the row generalises.
        assert_eq!(
            stored.find("connection <*> <*> closed after <*> ms"),
            Some((1, "connection <*> <*> closed after <*> ms".to_string()))
        );
        // A different literal, another length, or literals against an all-variable row: none.
        assert_eq!(
            stored.find("connection from alice opened after <*> ms"),
            None
        );
        assert_eq!(stored.find("user=bob logged in twice"), None);
        assert_eq!(stored.find("hello world"), None);
        assert_eq!(stored.find("<*> <*>"), Some((3, "<*> <*>".to_string())));
        // `key=<*>` stands for the value of that key only.
        assert_eq!(stored.find("group=bob logged in"), None);
    }

    #[test]
    fn the_row_sharing_most_words_wins_and_saves_generalise_it() {
        let mut stored = StoredTemplates::new([
            (1, "job <*> <*> done".to_string()),
            (2, "job <*> nightly done".to_string()),
        ]);
        assert_eq!(
            stored.find("job 7 nightly done").map(|f| f.0),
            Some(2),
            "three shared literal words beat two"
        );
        assert_eq!(
            stored.joined(2, "job <*> <*> done").as_deref(),
            Some("job <*> <*> done")
        );
        assert_eq!(
            stored.joined(9, "job <*> weekly done"),
            None,
            "a row not remembered keeps its template"
        );
        stored.remember(2, "job <*> <*> done <*>");
        assert_eq!(stored.words.len(), 2);
        assert_eq!(stored.find("job 7 nightly done").map(|f| f.0), Some(1));
    }

    #[test]
    fn any_number_of_rows_of_one_length_is_searched_by_first_word() {
        // 1,000 templates of three words, far more than one scan looks at: the oldest one is
        // still found, and one with a variable first word (filed apart) too.
        let mut stored =
            StoredTemplates::new((0..1000).map(|row| (row, format!("step{row} finished <*>"))));
        stored.remember(1000, "<*> started late");
        assert_eq!(
            stored.find("step0 finished quickly"),
            Some((0, "step0 finished <*>".to_string()))
        );
        assert_eq!(stored.find("step7 started late").map(|f| f.0), Some(1000));
        // A template starting with a variable may fit a row starting with any word.
        assert_eq!(
            stored.find("<*> finished <*>").map(|f| f.1),
            Some("<*> finished <*>".to_string())
        );
        // A row whose first word becomes a variable is filed anew.
        stored.remember(0, "<*> finished <*>");
        assert_eq!(stored.find("step0 finished quickly").map(|f| f.0), Some(0));
        assert_eq!(stored.find("stepX started late").map(|f| f.0), Some(1000));
        // A forgotten row is found no more.
        stored.forget(0);
        assert_eq!(stored.find("step0 finished quickly"), None);
        assert_eq!(stored.find("<*> finished <*>").map(|f| f.0), Some(999));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut stored = StoredTemplates::default();
        for row in 0..(MAX_TEMPLATE_ROWS as i64 * 3) {
            stored.remember(row, &format!("event {row} happened"));
        }
        let kept = stored.words.len();
        assert!(kept <= MAX_TEMPLATE_ROWS && kept > 0, "{kept}");
        let filed: usize = stored.by_first.values().map(Vec::len).sum();
        assert_eq!(filed, kept, "the first-word lists hold no forgotten rows");
        let last = MAX_TEMPLATE_ROWS as i64 * 3 - 1;
        assert_eq!(
            stored.find(&format!("event {last} happened")).map(|f| f.0),
            Some(last),
            "the newest rows are kept"
        );
    }
}
