//! A line's number skeleton: the line with every run of ASCII digits written as one `0`
//! (`took 125 ms on cpu3` → `took 0 ms on cpu0`). Most log lines that are not exact repeats of
//! a recent line differ from one only in their numbers: in the Loghub samples about nine in ten
//! of them share their skeleton with a line seen shortly before.
//!
//! Two lines with the same skeleton are masked alike (see [`super::mask`]): every rule of the
//! masker depends on which classes of bytes a word holds and where its punctuation is, never on
//! how many digits a run has or which they are. The one exception is a literal token that keeps
//! a digit (the key of `x1=5`): the twins' literals then differ in text. [`has_digit_literal`]
//! tells that case apart, so the clusterer only counts a line into its twin's cluster when
//! masking it would have given the twin's tokens. The classifier can likewise tell from a
//! skeleton which categories its lines may match, often none (see
//! [`super::prefilter::Prefilter::skeleton_candidates`]).

use super::mask::Token;

/// Writes the number skeleton of `line` into `buf` and returns it (a prefix of `buf`, which is
/// kept between calls and only grows). The skeleton of UTF-8 text is UTF-8 text: only ASCII
/// digits change.
///
/// Eight bytes at a time (SWAR): a word's digits are found and written as `0` with a few
/// integer operations, a word with no digit after a digit is written whole, and the others in
/// runs of kept bytes; no branch per byte.
pub fn write<'b>(line: &[u8], buf: &'b mut Vec<u8>) -> &'b [u8] {
    // Room for whole words: the skeleton is never longer than the line.
    if buf.len() < line.len() + WORD {
        buf.resize(line.len() + WORD, 0);
    }
    let mut len = 0;
    // High bit of the lowest byte set when the byte before the word at hand is a digit.
    let mut carry = 0u64;
    let mut words = line.chunks_exact(WORD);
    for word in &mut words {
        let mut bytes = [0u8; WORD];
        bytes.copy_from_slice(word);
        len = put(u64::from_le_bytes(bytes), HIGH, &mut carry, buf, len);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut bytes = [0u8; WORD];
        bytes[..rest.len()].copy_from_slice(rest);
        let valid = HIGH & (1u64 << (rest.len() * 8)).wrapping_sub(1);
        len = put(u64::from_le_bytes(bytes), valid, &mut carry, buf, len);
    }
    buf.get(..len).unwrap_or_default()
}

/// Bytes per word of [`write`].
const WORD: usize = 8;
/// A byte of `0x01` in every lane.
const ONES: u64 = u64::from_le_bytes([0x01; WORD]);
/// The high bit of every byte.
const HIGH: u64 = ONES * 0x80;

/// Writes the skeleton of the bytes of `x` (eight bytes, little-endian) whose high bit is set in
/// `valid` at `out[len..]` and returns the new length; `carry` says whether the byte before `x`
/// was a digit, and is updated for the next word. `out` has room for eight bytes at `len`.
fn put(x: u64, valid: u64, carry: &mut u64, out: &mut [u8], len: usize) -> usize {
    // `t` is 0..=9 in the lanes of digits; adding 0x76 (0x80 - 10) to a lane below 0x80 sets
    // its high bit exactly when it is 10 or more, and never carries into the next lane.
    let t = x ^ (ONES * u64::from(b'0'));
    let other = (((t & !HIGH) + ONES * 0x76) | t) & HIGH;
    let digits = !other & HIGH;
    // A digit that follows a digit is dropped; the others are kept, digits as `0`.
    let mut keep = valid & !(digits & ((digits << 8) | *carry));
    *carry = digits >> ((WORD - 1) * 8);
    let zeroed = x & !((digits >> 7) * 0x0F);
    if keep == HIGH {
        store(out, len, zeroed);
        return len + WORD;
    }
    let mut len = len;
    while keep != 0 {
        // A run of kept bytes: written as a whole word, of which the next run overwrites the
        // bytes beyond it.
        let first = keep.trailing_zeros() / 8;
        let run = (!(keep >> (first * 8)) & HIGH).trailing_zeros() / 8;
        store(out, len, zeroed >> (first * 8));
        len += run as usize;
        keep &= u64::MAX.checked_shl((first + run) * 8).unwrap_or(0);
    }
    len
}

/// Writes the eight bytes of `word` (little-endian) at `out[at..]`, when they fit.
fn store(out: &mut [u8], at: usize, word: u64) {
    if let Some(dst) = out.get_mut(at..at + WORD) {
        dst.copy_from_slice(&word.to_le_bytes());
    }
}

/// True when a literal token of the masked `line` holds a digit: a line with the same skeleton
/// may then be masked into other literals.
pub fn has_digit_literal(tokens: &[Token], line: &str) -> bool {
    tokens.iter().any(|t| match t {
        Token::Wild => false,
        Token::Lit { .. } => t.bytes(line.as_bytes()).iter().any(u8::is_ascii_digit),
    })
}

/// `line` with every run of digits replaced by another run of one to six digits, chosen by
/// `seed`: a line with the same skeleton, for tests.
#[cfg(test)]
pub(crate) fn renumber(line: &str, seed: u64) -> String {
    let mut out = String::new();
    let mut n = seed;
    let mut in_run = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_run {
                n = n
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let digits = 1 + (n >> 60) as usize % 6;
                (0..digits)
                    .for_each(|k| out.push(char::from(b'0' + (n >> (k * 4) & 0xf) as u8 % 10)));
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::logs::{MaskConfig, Masker};

    fn skeleton(line: &str) -> String {
        let mut buf = b"left over from a longer line".to_vec();
        let skeleton = write(line.as_bytes(), &mut buf).to_vec();
        String::from_utf8(skeleton).expect("the skeleton of UTF-8 text is UTF-8")
    }

    #[test]
    fn every_run_of_digits_becomes_one_zero() {
        assert_eq!(skeleton("took 125 ms on cpu3"), "took 0 ms on cpu0");
        assert_eq!(skeleton("10.0.0.255:8080"), "0.0.0.0:0");
        assert_eq!(skeleton("blk_-6952295868487656571 é9ü"), "blk_-0 é0ü");
        assert_eq!(skeleton("no numbers here"), "no numbers here");
        assert_eq!(skeleton(""), "");
        assert_eq!(skeleton("٣ arabic digits stay"), "٣ arabic digits stay");
        // Runs across the eight-byte words.
        assert_eq!(skeleton("abcdefg12345678x9"), "abcdefg0x0");
        assert_eq!(skeleton("1234567890123456"), "0");
    }

    #[test]
    fn tells_a_literal_with_a_digit_apart() {
        let masker = Masker::new(MaskConfig::default());
        let mut tokens = Vec::new();
        let line = masker.mask("x1=5 done in 3 ms", &mut tokens);
        assert!(has_digit_literal(&tokens, line));
        let line = masker.mask("job=5 done in 3 ms", &mut tokens);
        assert!(!has_digit_literal(&tokens, line));
    }

    /// A word of a generated log line: words, numbers and the punctuated shapes the masker
    /// looks into, each possibly holding digits.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z]{1,9}",
            "[0-9]{1,12}",
            "[a-z]{0,3}[0-9]{1,5}[a-z]{0,3}",
            "[0-9a-f]{1,16}",
            "[a-z]{1,5}[=:][0-9a-z\"']{0,6}",
            "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(:[0-9]{1,5})?",
            "/[a-z0-9/._-]{0,12}",
            "[(\\[\"'<#-]{0,2}[a-z0-9.,;:/@\\\\_-]{1,10}[)\\]\"'>,;.:!?]{0,2}",
            "(ms|KB|bytes|s|%|Jan|Monday)",
            "[a-z]{1,4}://[a-z0-9.:/]{0,10}",
        ]
    }

    /// The skeleton by its definition, a byte at a time.
    fn plain(line: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &b) in line.iter().enumerate() {
            let after_digit = i > 0 && line[i - 1].is_ascii_digit();
            match (b.is_ascii_digit(), after_digit) {
                (true, true) => {}
                (true, false) => out.push(b'0'),
                (false, _) => out.push(b),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn eight_bytes_at_a_time_is_the_skeleton(
            line in prop::collection::vec(prop_oneof![b'0'..=b'9', any::<u8>()], 0..80),
        ) {
            let mut buf = vec![b'x'; 3];
            prop_assert_eq!(write(&line, &mut buf), &plain(&line)[..]);
            prop_assert_eq!(write(&line[..line.len() / 2], &mut buf), &plain(&line[..line.len() / 2])[..]);
        }

        /// The claim the skeleton memo rests on: lines with the same skeleton are masked into
        /// the same token texts, unless a literal keeps a digit.
        #[test]
        fn lines_with_one_skeleton_are_masked_alike(
            words in prop::collection::vec(word(), 1..24),
            seed in any::<u64>(),
        ) {
            let line = words.join(" ");
            let twin = super::renumber(&line, seed);
            prop_assert_eq!(skeleton(&line), skeleton(&twin));
            let masker = Masker::new(MaskConfig::default());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let line = masker.mask(&line, &mut a);
            let twin = masker.mask(&twin, &mut b);
            if !has_digit_literal(&a, line) {
                let texts = |v: &[Token], src: &str| v.iter().map(|t| t.text(src).to_owned()).collect::<Vec<_>>();
                prop_assert_eq!(texts(&a, line), texts(&b, twin));
                prop_assert!(!has_digit_literal(&b, twin));
            }
        }
    }
}
