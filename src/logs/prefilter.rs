//! A cheap first pass for the classifier. Most log lines match no category, and nearly every
//! category pattern needs some literal word ("refused", "timed out", "ENOSPC") to appear in
//! a line it matches. A sampled scan for those words ([`WordScan`]) rules out most lines; the
//! few it lets through get one exact Aho-Corasick scan (ASCII case-insensitive), and the words
//! found name the only categories whose patterns need to run.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_syntax::hir::{Class, Hir, HirKind};

use super::skeleton;
use super::wordscan::{GramCounts, WordScan};
use crate::model::CategoryId;

/// One line in this many that the prefilter sees is counted for [`Prefilter::observe`].
const SAMPLE_EVERY: u64 = 64;
/// After this many counted lines the spots are chosen again, and the old counts halved.
const RECHOOSE_EVERY: u64 = 4_096;
/// Categories with a lower id than this are ruled in or out by their words; later ones (a
/// config would need hundreds of categories) are candidates for every line.
const GATED: usize = 256;

/// Non-ASCII characters that match an ASCII letter under `(?i)` (simple case folding): the
/// Kelvin sign (`k`) and the long s (`s`). A line holding one may match a pattern without
/// holding its words in ASCII, so every category is a candidate for it.
const ASCII_FOLDS: [(char, u8); 2] = [('\u{212A}', b'k'), ('\u{17F}', b's')];

/// The categories whose patterns may match a line, from their required words. Never wrong when
/// it rules a category out; a category with a pattern that requires no word (e.g. `\d{3} \w+`)
/// is a candidate for every line.
#[derive(Clone, Debug)]
pub struct Prefilter {
    /// Number of categories.
    count: usize,
    /// Categories (below [`GATED`]) that every line may match.
    always: Bits,
    /// The required words of the other categories; `None` when there are none.
    words: Option<Words>,
}

/// The required words, as a quick scan and an exact one.
#[derive(Clone, Debug)]
struct Words {
    quick: WordScan,
    exact: AhoCorasick,
    /// The number skeletons of the words (see [`Prefilter::skeleton_candidates`]).
    skeletal: AhoCorasick,
    /// The categories requiring each word of `skeletal` (by its pattern index there).
    skeletal_owners: Vec<Bits>,
    /// The category requiring each word of `exact` (by its pattern index there).
    owner: Vec<u8>,
    /// Gram counts of the counted lines, for the quick scan's choice of spots.
    seen: GramCounts,
    /// Lines offered to [`Prefilter::observe`].
    offered: u64,
}

/// A set of categories below [`GATED`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits([u64; GATED / 64]);

impl Bits {
    fn insert(&mut self, id: usize) {
        if let Some(word) = self.0.get_mut(id / 64) {
            *word |= 1 << (id % 64);
        }
    }

    /// Adds every id of `other`.
    fn add(&mut self, other: &Bits) {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a |= b);
    }

    fn contains(&self, id: usize) -> bool {
        self.0
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// Every id below `count` (and below [`GATED`]).
    fn below(count: usize) -> Bits {
        let mut bits = Bits::default();
        (0..count.min(GATED)).for_each(|id| bits.insert(id));
        bits
    }

    /// The first id in the set, taken out of it.
    fn pop_first(&mut self) -> Option<usize> {
        for (i, word) in self.0.iter_mut().enumerate() {
            if *word != 0 {
                let bit = word.trailing_zeros() as usize;
                *word &= *word - 1;
                return Some(i * 64 + bit);
            }
        }
        None
    }
}

/// The candidate categories of one line, in priority order (ascending id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidates {
    /// Candidates below [`GATED`] not yet returned.
    gated: Bits,
    /// The next id from [`GATED`] on (all of them are candidates), and the end of those.
    next: usize,
    end: usize,
}

impl Iterator for Candidates {
    type Item = CategoryId;

    fn next(&mut self) -> Option<CategoryId> {
        if let Some(id) = self.gated.pop_first() {
            return Some(id);
        }
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

impl Prefilter {
    /// Finds, for each pattern (parsed, with the category it belongs to), words one of which
    /// every match contains. `count` is the number of categories.
    pub fn new<'a>(
        count: usize,
        patterns: impl IntoIterator<Item = (CategoryId, &'a Hir)>,
    ) -> Self {
        let mut always = Bits::default();
        let mut gated: Vec<(CategoryId, Vec<Vec<u8>>)> = Vec::new();
        for (id, hir) in patterns {
            if id >= GATED {
                continue; // a candidate for every line anyway
            }
            match required(hir) {
                Some(any_of) => gated.push((id, any_of)),
                None => always.insert(id),
            }
        }
        let mut words: Vec<Vec<u8>> = Vec::new();
        let mut owner = Vec::new();
        for (id, any_of) in gated {
            // A category that every line may match needs no words. Ids are below GATED = 256.
            if !always.contains(id) {
                owner.extend(std::iter::repeat_n(id as u8, any_of.len()));
                words.extend(any_of);
            }
        }
        let mut skeletons: std::collections::BTreeMap<Vec<u8>, Bits> = Default::default();
        for (word, &id) in words.iter().zip(&owner) {
            let mut buf = Vec::new();
            let skeleton = skeleton::write(word, &mut buf).to_vec();
            skeletons
                .entry(skeleton)
                .or_default()
                .insert(usize::from(id));
        }
        let (skeletons, skeletal_owners): (Vec<Vec<u8>>, Vec<Bits>) = skeletons.into_iter().unzip();
        let exact = (!words.is_empty())
            .then(|| Some((find_words(&words)?, find_words(&skeletons)?)))
            .flatten();
        let words = match exact {
            Some((exact, skeletal)) => Some(Words {
                quick: WordScan::new(words.iter().map(Vec::as_slice)),
                exact,
                skeletal,
                skeletal_owners,
                owner,
                seen: GramCounts::default(),
                offered: 0,
            }),
            None => {
                // No words (or too many to build a scan of): every category is a candidate.
                always = Bits::below(count);
                None
            }
        };
        Prefilter {
            count,
            always,
            words,
        }
    }

    /// True when every category can be ruled out by its words (none is a candidate for
    /// every line).
    pub fn is_selective(&self) -> bool {
        self.words.is_some() && self.always == Bits::default() && self.count <= GATED
    }

    /// The categories that a line whose number skeleton (see [`super::skeleton`]) is
    /// `skeleton` may match: every candidate of such a line is among them. Every word a line
    /// holds is found, as its own skeleton, in the line's skeleton (a run of digits in the word
    /// is part of a run in the line, and both become one `0`).
    pub fn skeleton_candidates(&self, skeleton: &[u8]) -> Candidates {
        let gated = match &self.words {
            Some(w) if std::str::from_utf8(skeleton).is_ok_and(|s| !folds_to_ascii(s)) => {
                let mut found = self.always;
                for m in w.skeletal.find_overlapping_iter(skeleton) {
                    if let Some(owners) = w.skeletal_owners.get(m.pattern().as_usize()) {
                        found.add(owners);
                    }
                }
                found
            }
            _ => Bits::below(self.count),
        };
        Candidates {
            gated,
            next: GATED,
            end: self.count,
        }
    }

    /// Lets the quick scan learn which parts of its words this log rarely contains, so that
    /// it lets fewer lines through to the exact scan: one line in [`SAMPLE_EVERY`] is counted,
    /// and the spots are chosen again after 64, 128, 256 … [`RECHOOSE_EVERY`] counted lines,
    /// then every [`RECHOOSE_EVERY`] with the older counts halved. Which categories a line
    /// may match stays exact whatever it learns.
    pub fn observe(&mut self, line: &str) {
        let Some(w) = &mut self.words else { return };
        w.offered += 1;
        if !w.offered.is_multiple_of(SAMPLE_EVERY) {
            return;
        }
        w.seen.observe(line.as_bytes());
        let counted = w.offered / SAMPLE_EVERY;
        if counted.is_multiple_of(RECHOOSE_EVERY) {
            w.quick.choose_spots(&w.seen);
            w.seen.decay();
        } else if counted >= 64 && counted.is_power_of_two() {
            w.quick.choose_spots(&w.seen);
        }
    }

    /// The categories whose patterns may match `line`, in priority order; no other
    /// category's pattern can match it.
    pub fn candidates(&self, line: &str) -> Candidates {
        let gated = match &self.words {
            None => self.always,
            Some(_) if folds_to_ascii(line) => Bits::below(self.count),
            Some(w) => {
                let mut found = self.always;
                if w.quick.may_contain(line.as_bytes()) {
                    for m in w.exact.find_overlapping_iter(line) {
                        if let Some(&id) = w.owner.get(m.pattern().as_usize()) {
                            found.insert(usize::from(id));
                        }
                    }
                }
                found
            }
        };
        Candidates {
            gated,
            next: GATED,
            end: self.count,
        }
    }
}

/// An exact scan for `words` (ASCII case-insensitive); `None` when it cannot be built. A full
/// DFA: a few hundred KiB for a few hundred words, and one table lookup per byte.
fn find_words<W: AsRef<[u8]>>(words: &[W]) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(words)
        .ok()
}

/// True when `line` holds a non-ASCII character that `(?i)` matches to an ASCII letter.
fn folds_to_ascii(line: &str) -> bool {
    !line.is_ascii() && ASCII_FOLDS.iter().any(|&(c, _)| line.contains(c))
}

/// Words, one of which every match of `hir` contains; `None` when there is no such set.
fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(word) = exact(hir) {
        return (!word.is_empty()).then(|| vec![word]);
    }
    match hir.kind() {
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for s in subs {
                all.extend(required(s)?);
            }
            Some(all)
        }
        HirKind::Concat(subs) => {
            // Runs of exact pieces and small classes form words (a class multiplies the run's
            // alternatives); other pieces offer their own required words.
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut run: Vec<Vec<u8>> = vec![Vec::new()];
            let offer = |cand: Vec<Vec<u8>>, best: &mut Option<Vec<Vec<u8>>>| {
                if best.as_ref().is_none_or(|b| score(&cand) > score(b)) {
                    *best = Some(cand);
                }
            };
            for s in subs {
                if let Some(word) = exact(s) {
                    run.iter_mut().for_each(|r| r.extend_from_slice(&word));
                    continue;
                }
                if let HirKind::Class(class) = s.kind()
                    && let Some(bytes) = ascii_members(class)
                    && run.len() * bytes.len() <= MAX_ALTERNATIVES
                {
                    run = run
                        .iter()
                        .flat_map(|r| bytes.iter().map(move |&b| [r.as_slice(), &[b]].concat()))
                        .collect();
                    continue;
                }
                let done = std::mem::replace(&mut run, vec![Vec::new()]);
                if !done[0].is_empty() {
                    offer(done, &mut best);
                }
                if let Some(cand) = required(s) {
                    offer(cand, &mut best);
                }
            }
            if !run[0].is_empty() {
                offer(run, &mut best);
            }
            best
        }
        _ => None,
    }
}

/// How selective a set of alternative words is: its shortest word counts most, then fewer
/// alternatives.
fn score(words: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(words.len()))
}

/// The most alternatives a run of small classes may expand to.
const MAX_ALTERNATIVES: usize = 128;

/// The members of a class, lower-cased and without repeats, when they are at most ten and all
/// ASCII (`[-_ ]`, `[0-9]`, `(?-u:\d)`); `None` otherwise (Unicode `\d` has non-ASCII digits).
fn ascii_members(class: &Class) -> Option<Vec<u8>> {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(u) => u
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Bytes(b) => b
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    let mut members: Vec<u8> = Vec::new();
    for (start, end) in ranges {
        if end > 0x7f {
            return None;
        }
        for c in start..=end {
            let b = u8::try_from(c).ok()?.to_ascii_lowercase();
            if !members.contains(&b) {
                members.push(b);
            }
            if members.len() > 10 {
                return None;
            }
        }
    }
    (!members.is_empty()).then_some(members)
}

/// The text `hir` matches when it matches exactly one text up to ASCII case (a literal, or a
/// class of one letter in its cases, as `(?i)` produces); `None` otherwise.
fn exact(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(lit.0.to_vec()),
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Concat(subs) => {
            let mut word = Vec::new();
            for s in subs {
                word.extend(exact(s)?);
            }
            Some(word)
        }
        HirKind::Class(class) => one_letter(class).map(|b| vec![b]),
        _ => None,
    }
}

/// The ASCII byte a class stands for when its members are one letter in its cases, and
/// perhaps the non-ASCII character that `(?i)` folds to that letter (see [`ASCII_FOLDS`]:
/// lines holding one are candidates for every category anyway).
fn one_letter(class: &Class) -> Option<u8> {
    let members: Vec<u32> = match class {
        Class::Unicode(u) => {
            ranges_up_to(u.iter().map(|r| (u32::from(r.start()), u32::from(r.end()))))?
        }
        Class::Bytes(b) => {
            ranges_up_to(b.iter().map(|r| (u32::from(r.start()), u32::from(r.end()))))?
        }
    };
    let letter = u8::try_from(*members.first()?).ok()?.to_ascii_lowercase();
    let chars = matches!(class, Class::Unicode(_));
    let same = |&c: &u32| match u8::try_from(c) {
        Ok(b) if b.is_ascii() => b.to_ascii_lowercase() == letter,
        _ => chars && ASCII_FOLDS.contains(&(char::from_u32(c).unwrap_or('\0'), letter)),
    };
    (letter.is_ascii() && members.iter().all(same)).then_some(letter)
}

/// The members of ranges when there are at most four.
fn ranges_up_to(ranges: impl Iterator<Item = (u32, u32)>) -> Option<Vec<u32>> {
    let mut members = Vec::new();
    for (start, end) in ranges {
        if end.saturating_sub(start) >= 4 {
            return None;
        }
        members.extend(start..=end);
        if members.len() > 4 {
            return None;
        }
    }
    Some(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::wordscan::LONG;

    fn words(p: &str) -> Option<Vec<String>> {
        let hir = regex_syntax::parse(p).ok()?;
        required(&hir).map(|w| {
            w.into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect()
        })
    }

    #[test]
    fn finds_the_words_a_pattern_needs() {
        assert_eq!(
            words(r"(?i)out of memory"),
            Some(vec!["out of memory".into()])
        );
        assert_eq!(words(r"\bENOSPC\b"), Some(vec!["ENOSPC".into()]));
        assert_eq!(
            words(r"(?i)\bKilled process \d+"),
            Some(vec!["killed process ".into()])
        );
        assert_eq!(
            words(r"(?i)connection (refused|reset)"),
            Some(vec!["connection ".into()])
        );
        assert_eq!(
            words(r"(?i)(refused|timed? ?out)"),
            Some(vec!["refused".into(), "time".into()])
        );
        assert_eq!(
            words(r"the table '[^']*' is full"),
            Some(vec!["the table '".into()])
        );
        assert_eq!(
            words(r"(?i)\boom[-_ ]kill"),
            Some(vec![
                "oom kill".into(),
                "oom-kill".into(),
                "oom_kill".into()
            ])
        );
        let statuses = words(r#"] "[^"]*" 5[0-9][0-9] "#).unwrap_or_default();
        assert_eq!(statuses.len(), 100);
        // Unicode `\d` also matches non-ASCII digits: it ends a word.
        assert_eq!(words(r#"] "[^"]*" 5\d\d "#), Some(vec!["] \"".into()]));
        assert!(statuses.contains(&"\" 500 ".into()) && statuses.contains(&"\" 599 ".into()));
        assert_eq!(words(r"\d{3} \w+"), Some(vec![" ".into()]));
        assert_eq!(words(r"\d{3}"), None);
        assert_eq!(words(r"(a|\d)x?"), None);
        assert_eq!(words(r"(?:abc)?"), None);
    }

    #[test]
    fn the_builtin_pack_needs_only_words_the_quick_scan_samples() {
        // Words shorter than the quick scan's sampled spot need a slower scan of their own.
        let mut all = Vec::new();
        for c in crate::config::builtin_categories() {
            for p in &c.patterns {
                let w = words(p).unwrap_or_else(|| panic!("{p}: no required word"));
                assert!(w.iter().all(|w| w.len() >= LONG), "{p}: {w:?}");
                all.extend(w);
            }
        }
        assert!(all.len() < 400, "{} words", all.len());
    }

    /// A prefilter with one category per pattern.
    fn prefilter(patterns: &[&str]) -> Prefilter {
        let hirs: Vec<Hir> = patterns
            .iter()
            .map(|p| regex_syntax::parse(p).expect("parses"))
            .collect();
        Prefilter::new(hirs.len(), hirs.iter().enumerate())
    }

    const NONE: [CategoryId; 0] = [];

    fn candidates(pre: &Prefilter, line: &str) -> Vec<CategoryId> {
        pre.candidates(line).collect()
    }

    #[test]
    fn names_only_the_categories_whose_words_a_line_holds() {
        let pre = prefilter(&[r"(?i)out of memory", r"\bENOSPC\b", r"(?i)deadlock(ed)?"]);
        assert!(pre.is_selective());
        assert_eq!(
            candidates(&pre, "java.lang.OutOfMemoryError: OUT OF MEMORY"),
            [0]
        );
        assert_eq!(candidates(&pre, "write failed: ENOSPC"), [1]);
        assert_eq!(
            candidates(&pre, "Deadlock found (ENOSPC, out of memory)"),
            [0, 1, 2]
        );
        assert_eq!(candidates(&pre, "session opened for user root"), NONE);
        // Non-ASCII lines are ruled out by words like any other...
        assert_eq!(candidates(&pre, "séance ouverte pour root"), NONE);
        // ...but the Kelvin sign matches `k` under (?i): such a line is a candidate for all.
        let kill = prefilter(&[r"(?i)kill", "x"]);
        assert_eq!(candidates(&kill, "\u{212A}ill -9"), [0, 1]);
        assert_eq!(candidates(&kill, "ill -9 \u{e9}"), NONE);
        // Unicode digits are digits to `\d`: it requires no ASCII word.
        let status = prefilter(&[r"status 5\d\d", r"status 5[0-9][0-9]"]);
        assert_eq!(candidates(&status, "status 5\u{663}\u{660}"), [0]);
        assert_eq!(candidates(&status, "status 503"), [0, 1]);
        // A category with a pattern that needs no word is a candidate for every line.
        let loose = prefilter(&["x", r"\d+", "y"]);
        assert!(!loose.is_selective());
        assert_eq!(candidates(&loose, "nothing"), [1]);
        assert_eq!(candidates(&loose, "y 1"), [1, 2]);
    }

    #[test]
    fn only_the_known_characters_fold_to_ascii_letters() {
        for letter in b'a'..=b'z' {
            let hir = regex_syntax::parse(&format!("(?i){}", char::from(letter))).expect("parses");
            let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
                panic!("(?i){} is not a class", char::from(letter));
            };
            for c in class.iter().flat_map(|r| r.start()..=r.end()) {
                assert!(c.is_ascii() || ASCII_FOLDS.contains(&(c, letter)), "{c:?}");
            }
        }
    }

    #[test]
    fn categories_beyond_the_gated_ones_are_candidates_for_every_line() {
        let patterns: Vec<String> = (0..GATED + 2).map(|i| format!("word{i:04}")).collect();
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let pre = prefilter(&refs);
        assert!(!pre.is_selective());
        assert_eq!(candidates(&pre, "word0003"), [3, GATED, GATED + 1]);
        assert_eq!(candidates(&pre, "none"), [GATED, GATED + 1]);
    }

    #[test]
    fn learning_the_log_never_changes_which_lines_pass() {
        let mut pre = prefilter(&[
            r"(?i)connection refused",
            r"(?i)connection reset",
            r"\bENOSPC\b",
            r"(?i)kill",
        ]);
        // A log where "connection" is everywhere: the scan learns to watch "refus"/"reset".
        for i in 0..200_000 {
            pre.observe(&format!("connection {i} opened from 10.0.0.{}", i % 250));
        }
        for (line, want) in [
            ("Connection refused", 0),
            ("connection reset by peer", 1),
            ("ENOSPC", 2),
            ("oom-KILL", 3),
        ] {
            assert_eq!(candidates(&pre, line), [want], "{line}");
        }
        for line in ["connection 7 opened", "connection closed", "kil l"] {
            assert_eq!(candidates(&pre, line), NONE, "{line}");
        }
    }
}
