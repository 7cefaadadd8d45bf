//! A quick "might this line contain one of these words?" test (ASCII case-insensitive) that is
//! never wrong when it says no. It looks at every second position of a line only: a word of
//! five bytes or more, wherever it starts, covers an even position with four of its bytes, so
//! a bitmap of those 4-byte grams (two per word) answers for the long words; the few short
//! words are searched by their rarest byte with `memchr`. Nothing in the scan depends on the
//! previous byte, so it runs several times faster than an automaton stepping byte by byte;
//! what it lets through is checked exactly by the caller.

/// Bytes per gram.
const GRAM: usize = 4;
/// Every `STRIDE`-th position of a line is looked at.
const STRIDE: usize = 2;
/// Words at least this long are found by their grams; shorter ones by their rarest byte.
pub const LONG: usize = GRAM + STRIDE - 1;
/// log2 of the bits in the gram bitmap (16 KiB: stays in the L1 cache).
const BITS_LOG2: u32 = 17;
/// log2 of the counters of [`GramCounts`].
const COUNTS_LOG2: u32 = 16;
/// ASCII letters fold to lower case under `| FOLD`; other bytes fold consistently too, which
/// is all a filter needs (the exact check comes after).
const FOLD: u32 = 0x2020_2020;

/// The words to look for, prepared for the scan.
#[derive(Clone, Debug)]
pub struct WordScan {
    /// The words at least [`LONG`] bytes long.
    long: Vec<Vec<u8>>,
    /// One bit per folded gram (hashed) that some long word has at offset 0 or 1 of its chosen
    /// spot.
    grams: Box<[u64]>,
    /// Words shorter than [`LONG`].
    short: Vec<ShortWord>,
}

/// A short word and the rarest of its bytes, which the search runs on.
#[derive(Clone, Debug)]
struct ShortWord {
    word: Vec<u8>,
    /// Offset of the rarest byte in `word`.
    at: usize,
}

/// How often each gram (hashed) occurred in the text seen so far: lets a [`WordScan`] watch
/// for the spots of its words that this log rarely contains ("connection" is everywhere in
/// some logs, so "connection refused" is best watched at "refus").
#[derive(Clone, Debug)]
pub struct GramCounts {
    counts: Box<[u16]>,
}

impl Default for GramCounts {
    fn default() -> Self {
        GramCounts {
            counts: vec![0u16; 1usize << COUNTS_LOG2].into_boxed_slice(),
        }
    }
}

impl GramCounts {
    /// Counts every gram of `text`.
    pub fn observe(&mut self, text: &[u8]) {
        for gram in text.windows(GRAM) {
            let c = &mut self.counts[count_of(fold(gram))];
            *c = c.saturating_add(1);
        }
    }

    /// Halves every count, so that the recent text weighs more than the old.
    pub fn decay(&mut self) {
        for c in self.counts.iter_mut() {
            *c /= 2;
        }
    }

    fn of(&self, gram: &[u8]) -> u32 {
        u32::from(self.counts[count_of(fold(gram))])
    }
}

impl WordScan {
    /// Prepares `words` (each non-empty; empty ones are ignored), watching each long word at
    /// the spot that looks rarest in general.
    pub fn new<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> WordScan {
        let mut scan = WordScan {
            long: Vec::new(),
            grams: vec![0u64; (1usize << BITS_LOG2) / 64].into_boxed_slice(),
            short: Vec::new(),
        };
        for word in words {
            if word.len() >= LONG {
                scan.long.push(word.to_vec());
            } else if let Some(at) = (0..word.len()).min_by_key(|&i| commonness(&word[i..=i])) {
                scan.short.push(ShortWord {
                    word: word.to_vec(),
                    at,
                });
            }
        }
        scan.choose_spots(&GramCounts::default());
        scan
    }

    /// Watches each long word at the spot rarest in the text `seen` has counted (ties: the
    /// rarest-looking in general).
    pub fn choose_spots(&mut self, seen: &GramCounts) {
        self.grams.fill(0);
        for word in &self.long {
            // Any STRIDE consecutive grams of the word cover every placement of it.
            let best = (0..=word.len() - LONG)
                .min_by_key(|&o| {
                    let spot = &word[o..o + LONG];
                    let counted: u32 = (0..STRIDE).map(|g| seen.of(&spot[g..g + GRAM])).sum();
                    (counted, commonness(spot))
                })
                .unwrap_or(0);
            for g in 0..STRIDE {
                let bit = bit_of(fold(&word[best + g..best + g + GRAM]));
                self.grams[bit / 64] |= 1 << (bit % 64);
            }
        }
    }

    /// False only when `text` contains none of the words (ASCII case-insensitive).
    pub fn may_contain(&self, text: &[u8]) -> bool {
        let mut i = 0;
        while let Some(gram) = text.get(i..i + GRAM) {
            let bit = bit_of(fold(gram));
            if self.grams[bit / 64] & (1 << (bit % 64)) != 0 {
                return true;
            }
            i += STRIDE;
        }
        self.short.iter().any(|s| s.occurs_in(text))
    }
}

impl ShortWord {
    fn occurs_in(&self, text: &[u8]) -> bool {
        let rare = self.word[self.at];
        let (lower, upper) = (rare.to_ascii_lowercase(), rare.to_ascii_uppercase());
        memchr::memchr2_iter(lower, upper, text).any(|j| {
            j.checked_sub(self.at)
                .and_then(|start| text.get(start..start + self.word.len()))
                .is_some_and(|w| w.eq_ignore_ascii_case(&self.word))
        })
    }
}

/// The folded gram as a number.
fn fold(gram: &[u8]) -> u32 {
    let mut b = [0u8; GRAM];
    b.copy_from_slice(&gram[..GRAM]);
    u32::from_le_bytes(b) | FOLD
}

/// The bitmap position of a folded gram (multiplicative hashing: the top bits mix best).
fn bit_of(folded: u32) -> usize {
    (folded.wrapping_mul(0x9E37_79B1) >> (32 - BITS_LOG2)) as usize
}

/// The counter of a folded gram.
fn count_of(folded: u32) -> usize {
    (folded.wrapping_mul(0x9E37_79B1) >> (32 - COUNTS_LOG2)) as usize
}

/// How often bytes like these occur in text, roughly: the letters by their English
/// frequency, space and vowels highest, digits middling, punctuation low.
fn commonness(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .map(|&b| match b.to_ascii_lowercase() {
            b' ' => 20,
            b'e' => 13,
            b't' | b'a' | b'o' | b'i' | b'n' => 8,
            b's' | b'r' | b'h' | b'l' | b'd' => 5,
            b'c' | b'u' | b'm' | b'f' | b'p' | b'g' | b'w' | b'y' | b'b' => 2,
            b'0'..=b'9' | b'.' | b':' | b'_' | b'-' | b'/' | b'=' => 3,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan(words: &[&str]) -> WordScan {
        WordScan::new(words.iter().map(|w| w.as_bytes()))
    }

    #[test]
    fn finds_long_and_short_words_anywhere_in_any_case() {
        let s = scan(&["out of memory", "ENOSPC", "kill", "] \""]);
        for line in [
            "OUT OF MEMORY",
            "x out of memory",
            "java.lang.OutOfMemoryError: Out Of Memory!",
            "write: enospc",
            "aENOSPC",
            "Killed",
            "oom-kill",
            "GET / HTTP/1.1] \"500",
            "]] \"",
        ] {
            assert!(s.may_contain(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn says_no_to_text_without_the_words() {
        let s = scan(&["out of memory", "ENOSPC", "kill", "] \""]);
        for line in [
            "",
            "k",
            "session opened for user root",
            "kil",
            "ki ll",
            "] '",
        ] {
            assert!(!s.may_contain(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn learns_to_watch_the_part_of_a_word_the_log_rarely_holds() {
        // Spots are 5 bytes; "timed out" has nothing rare in general, so which part is
        // watched depends on the log.
        let mut s = scan(&["timed out"]);
        let mut seen = GramCounts::default();
        for i in 0..2_000 {
            seen.observe(format!("job {i} timed in").as_bytes());
            seen.observe(format!("sign {i} out").as_bytes());
        }
        s.choose_spots(&seen);
        assert!(s.may_contain(b"read Timed Out after 30 s"));
        for line in ["job 7 timed in", "sign 9 out"] {
            assert!(!s.may_contain(line.as_bytes()), "{line}");
        }
    }

    proptest! {
        /// Never says no to a text that holds a word, wherever the word sits and however its
        /// letters are cased.
        #[test]
        fn never_misses_a_word(
            words in proptest::collection::vec("[a-zA-Z0-9 :._\\]\"-]{1,12}", 1..8),
            pick in 0usize..8,
            before in "[ -~]{0,40}",
            after in "[ -~]{0,40}",
            upper in proptest::bool::ANY,
        ) {
            let s = scan(&words.iter().map(String::as_str).collect::<Vec<_>>());
            let word = &words[pick % words.len()];
            let word = if upper { word.to_ascii_uppercase() } else { word.to_ascii_lowercase() };
            let text = format!("{before}{word}{after}");
            prop_assert!(s.may_contain(text.as_bytes()));
        }
    }
}
