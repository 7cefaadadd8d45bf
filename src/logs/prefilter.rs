//! A cheap first pass for the classifier. Most log lines match no category, and nearly every
//! category pattern needs some literal word ("refused", "timed out", "ENOSPC") to appear in
//! a line it matches. A sampled scan for those words ([`WordScan`]) rules out most lines; the
//! few it lets through get one exact Aho-Corasick scan (ASCII case-insensitive), and only a
//! line holding a word runs the full pattern set.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_syntax::hir::{Class, Hir, HirKind};

use super::wordscan::{GramCounts, WordScan};

/// One line in this many that the prefilter sees is counted for [`Prefilter::observe`].
const SAMPLE_EVERY: u64 = 64;
/// After this many counted lines the spots are chosen again, and the old counts halved.
const RECHOOSE_EVERY: u64 = 4_096;

/// The required words of a set of patterns; says "maybe" for every line when some pattern
/// requires none (e.g. `\d{3} \w+`), so it is never wrong, only sometimes useless.
#[derive(Clone, Debug)]
pub struct Prefilter {
    /// `None` when some pattern has no required word: every line may match.
    words: Option<Words>,
}

/// The required words, as a quick scan and an exact one.
#[derive(Clone, Debug)]
struct Words {
    quick: WordScan,
    exact: AhoCorasick,
    /// Gram counts of the counted lines, for the quick scan's choice of spots.
    seen: GramCounts,
    /// Lines offered to [`Prefilter::observe`].
    offered: u64,
}

impl Prefilter {
    /// Finds, for each pattern, words one of which every match contains. Patterns that do not
    /// parse are treated as requiring nothing (the regex compiler reports them).
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Prefilter {
        let mut words: Vec<Vec<u8>> = Vec::new();
        for p in patterns {
            match regex_syntax::parse(p).ok().as_ref().and_then(required) {
                Some(any_of) => words.extend(any_of),
                None => return Prefilter { words: None },
            }
        }
        // A full DFA: a few hundred KiB for a few hundred words, and one table lookup per byte.
        let exact = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&words)
            .ok();
        Prefilter {
            words: exact.map(|exact| Words {
                quick: WordScan::new(words.iter().map(Vec::as_slice)),
                exact,
                seen: GramCounts::default(),
                offered: 0,
            }),
        }
    }

    /// True when every pattern has required words, i.e. the prefilter can rule lines out.
    pub fn is_selective(&self) -> bool {
        self.words.is_some()
    }

    /// Lets the quick scan learn which parts of its words this log rarely contains, so that
    /// it lets fewer lines through to the exact scan: one line in [`SAMPLE_EVERY`] is counted,
    /// and the spots are chosen again after 64, 128, 256 … [`RECHOOSE_EVERY`] counted lines,
    /// then every [`RECHOOSE_EVERY`] with the older counts halved. Which lines pass stays
    /// exact whatever it learns.
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

    /// False only when no pattern can match `line`. Lines with non-ASCII bytes always pass:
    /// Unicode case folding (`K` also matches the Kelvin sign) is beyond an ASCII scan.
    pub fn may_match(&self, line: &str) -> bool {
        match &self.words {
            Some(w) => {
                !line.is_ascii() || (w.quick.may_contain(line.as_bytes()) && w.exact.is_match(line))
            }
            None => true,
        }
    }
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

/// The ASCII members of a class, lower-cased and without repeats, when there are at most ten
/// (`[-_ ]`, `[0-9]`, `\d`); non-ASCII members are left out, as lines with non-ASCII bytes
/// always pass. `None` for a larger class or one without ASCII members.
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
        for c in start..=end.min(0x7f) {
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

/// The ASCII byte a class stands for when its ASCII members are one letter in its cases (and
/// any other members are non-ASCII case variants such as the Kelvin sign).
fn one_letter(class: &Class) -> Option<u8> {
    let mut ascii: Option<u8> = None;
    let mut add = |c: u32| -> Option<()> {
        let Ok(b) = u8::try_from(c) else {
            return Some(()); // Non-ASCII: only lines with non-ASCII bytes, which always pass.
        };
        if !b.is_ascii() {
            return Some(());
        }
        let b = b.to_ascii_lowercase();
        match ascii {
            Some(a) if a != b => None,
            _ => {
                ascii = Some(b);
                Some(())
            }
        }
    };
    let mut members = 0usize;
    match class {
        Class::Unicode(u) => {
            for r in u.iter() {
                members += (r.end() as usize).saturating_sub(r.start() as usize) + 1;
                if members > 4 {
                    return None;
                }
                for c in u32::from(r.start())..=u32::from(r.end()) {
                    add(c)?;
                }
            }
        }
        Class::Bytes(b) => {
            for r in b.iter() {
                members += usize::from(r.end()).saturating_sub(usize::from(r.start())) + 1;
                if members > 4 {
                    return None;
                }
                for c in r.start()..=r.end() {
                    add(u32::from(c))?;
                }
            }
        }
    }
    ascii
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
        let statuses = words(r#"] "[^"]*" 5\d\d "#).unwrap_or_default();
        assert_eq!(statuses.len(), 100);
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
        for c in crate::logs::category::builtin_categories() {
            for p in &c.patterns {
                let w = words(p).unwrap_or_else(|| panic!("{p}: no required word"));
                assert!(w.iter().all(|w| w.len() >= LONG), "{p}: {w:?}");
                all.extend(w);
            }
        }
        assert!(all.len() < 400, "{} words", all.len());
    }

    #[test]
    fn rules_out_only_lines_no_pattern_can_match() {
        let patterns = [r"(?i)out of memory", r"\bENOSPC\b", r"(?i)deadlock(ed)?"];
        let pre = Prefilter::new(patterns);
        assert!(pre.is_selective());
        assert!(pre.may_match("java.lang.OutOfMemoryError: OUT OF MEMORY"));
        assert!(pre.may_match("write failed: ENOSPC"));
        assert!(pre.may_match("Deadlock found when trying to get lock"));
        assert!(!pre.may_match("session opened for user root"));
        // The Kelvin sign folds to `k` under (?i): non-ASCII lines always pass.
        assert!(Prefilter::new([r"(?i)kill"]).may_match("\u{212A}ill -9"));
        assert!(!Prefilter::new([r"\d+", "x"]).is_selective());
    }

    #[test]
    fn learning_the_log_never_changes_which_lines_pass() {
        let patterns = [
            r"(?i)connection refused",
            r"(?i)connection reset",
            r"\bENOSPC\b",
            r"(?i)kill",
        ];
        let mut pre = Prefilter::new(patterns);
        // A log where "connection" is everywhere: the scan learns to watch "refus"/"reset".
        for i in 0..200_000 {
            pre.observe(&format!("connection {i} opened from 10.0.0.{}", i % 250));
        }
        for line in [
            "Connection refused",
            "connection reset by peer",
            "ENOSPC",
            "oom-KILL",
        ] {
            assert!(pre.may_match(line), "{line}");
        }
        for line in ["connection 7 opened", "connection closed", "kil l"] {
            assert!(!pre.may_match(line), "{line}");
        }
    }
}
