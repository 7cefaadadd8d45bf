//! Memory of recent exact lines. Real logs repeat many messages verbatim ("session closed for
//! user root", "Connection reset by peer"): about half the lines of the Loghub samples repeat
//! an earlier line exactly, within a few hundred lines. A repeated line gets the category and
//! cluster its twin got without being classified and masked again.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::category::CategoryId;
use super::miner::ClusterRef;

/// Number of remembered lines (direct-mapped: a line's hash picks its one slot); a power of
/// two.
const SLOTS: usize = 4096;

/// Lines longer than this are not remembered: long lines rarely repeat, and it bounds memory
/// (at most `SLOTS` × this many bytes of text).
const MAX_LINE: usize = 256;

/// What an earlier, identical line was found to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recalled {
    /// Its category, if any.
    pub category: Option<CategoryId>,
    /// The cluster it joined.
    pub cluster: ClusterRef,
}

struct Entry {
    hash: u64,
    line: String,
    recalled: Recalled,
}

/// A fixed-size cache from exact line text to [`Recalled`]; allocated on first use.
#[derive(Default)]
pub struct LineMemo {
    slots: Vec<Option<Entry>>,
    /// Random per memo, so crafted input cannot aim lines at one slot.
    seed: RandomState,
}

impl LineMemo {
    /// The hash `line` is filed under, or `None` when such a line is not remembered.
    pub fn key(&self, line: &str) -> Option<u64> {
        (line.len() <= MAX_LINE).then(|| self.seed.hash_one(line.as_bytes()))
    }

    /// What the identical line remembered under `key` was found to be.
    pub fn recall(&self, key: u64, line: &str) -> Option<Recalled> {
        let entry = self.slots.get(slot_of(key))?.as_ref()?;
        (entry.hash == key && entry.line == line).then_some(entry.recalled)
    }

    /// Remembers `line` (filed under `key`), replacing whatever held its slot.
    pub fn remember(&mut self, key: u64, line: &str, recalled: Recalled) {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let Some(slot) = self.slots.get_mut(slot_of(key)) else {
            return;
        };
        match slot {
            Some(entry) => {
                entry.hash = key;
                entry.line.clear();
                entry.line.push_str(line);
                entry.recalled = recalled;
            }
            None => {
                *slot = Some(Entry {
                    hash: key,
                    line: line.to_owned(),
                    recalled,
                });
            }
        }
    }
}

fn slot_of(key: u64) -> usize {
    // SLOTS is a power of two; the high bits of the hash are the best mixed.
    (key >> (u64::BITS - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::miner::TemplateMiner;

    fn a_cluster() -> ClusterRef {
        TemplateMiner::new(Default::default())
            .add_located("worker 1 started", 0)
            .0
    }

    #[test]
    fn recalls_only_the_exact_line() {
        let mut memo = LineMemo::default();
        let line = "session closed for user root";
        let key = memo.key(line).expect("short lines are remembered");
        assert_eq!(memo.recall(key, line), None);
        let got = Recalled {
            category: Some(3),
            cluster: a_cluster(),
        };
        memo.remember(key, line, got);
        assert_eq!(memo.recall(key, line), Some(got));
        let other = "session closed for user rooT";
        let other_key = memo.key(other).expect("short");
        assert_eq!(memo.recall(other_key, other), None);
        // Same slot, different text: never a false recall.
        assert_eq!(memo.recall(key, other), None);
        assert_eq!(memo.key(&"x".repeat(MAX_LINE + 1)), None);
    }

    #[test]
    fn stays_bounded_under_unique_lines() {
        let mut memo = LineMemo::default();
        let cluster = a_cluster();
        for i in 0..50_000 {
            let line = format!("unique line {i}");
            if let Some(key) = memo.key(&line) {
                memo.remember(
                    key,
                    &line,
                    Recalled {
                        category: Some(i),
                        cluster,
                    },
                );
            }
        }
        assert_eq!(memo.slots.len(), SLOTS);
        let last = "unique line 49999";
        let key = memo.key(last).expect("short");
        assert_eq!(
            memo.recall(key, last).and_then(|r| r.category),
            Some(49_999)
        );
    }
}
