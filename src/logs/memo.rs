//! Memory of recent exact lines. Real logs repeat many messages verbatim ("session closed for
//! user root", "Connection reset by peer"): about half the lines of the Loghub samples repeat
//! an earlier line exactly, within a few hundred lines. A repeated line gets the category and
//! cluster its twin got without being classified and masked again.
//!
//! The same memo also keeps lines' number skeletons (see [`super::skeleton`]), which repeat
//! far more often still.
//!
//! A memo keeps the lines and a small value for each (its category, say); what else a line led
//! to (its cluster) is kept under the same [`MemoSlot`] in a [`SlotValues`], which may live on
//! another thread.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

/// Number of remembered lines (direct-mapped: a line's hash picks its one slot); a power of
/// two.
const SLOTS: usize = 4096;

/// Lines longer than this are not remembered: long lines rarely repeat, and it bounds memory
/// (at most `SLOTS` × this many bytes of text).
const MAX_LINE: usize = 256;

/// Where the memo keeps a line: the key of what else that line led to, in a [`SlotValues`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoSlot(u16);

/// What a slot holds besides its text.
#[derive(Clone, Copy)]
struct Held<V> {
    hash: u64,
    /// Length of the text.
    len: u16,
    value: V,
}

/// A fixed-size cache from exact line text to a value `V`; allocated on first use.
pub struct LineMemo<V> {
    /// What each slot holds; small, so that a miss costs one cache line.
    held: Vec<Option<Held<V>>>,
    /// `MAX_LINE` bytes of text per slot. At a place known from the slot alone, so the text is
    /// fetched alongside the slot's entry, not after it (about half the lines that reach the
    /// memo are recalled, and both fetches tend to miss the cache).
    text: Vec<u8>,
    /// Random per memo, so crafted input cannot aim lines at one slot.
    seed: RandomState,
}

impl<V> Default for LineMemo<V> {
    fn default() -> Self {
        LineMemo {
            held: Vec::new(),
            text: Vec::new(),
            seed: RandomState::default(),
        }
    }
}

impl<V: Copy> LineMemo<V> {
    /// The hash `line` is filed under, or `None` when such a line is not remembered.
    pub fn key(&self, line: &[u8]) -> Option<u64> {
        (line.len() <= MAX_LINE).then(|| self.seed.hash_one(line))
    }

    /// Where the identical line remembered under `key` is kept, and its value.
    pub fn recall(&self, key: u64, line: &[u8]) -> Option<(MemoSlot, V)> {
        let slot = slot_of(key);
        let at = usize::from(slot.0);
        let held = (*self.held.get(at)?)?;
        let text = self
            .text
            .get(at * MAX_LINE..at * MAX_LINE + usize::from(held.len))?;
        (held.hash == key && text == line).then_some((slot, held.value))
    }

    /// Remembers `line` (filed under `key`) and its value, replacing whatever held its slot;
    /// returns the slot. A line longer than the memo keeps only empties the slot.
    pub fn remember(&mut self, key: u64, line: &[u8], value: V) -> MemoSlot {
        if self.held.is_empty() {
            self.held = vec![None; SLOTS];
            self.text = vec![0; SLOTS * MAX_LINE];
        }
        let slot = slot_of(key);
        let at = usize::from(slot.0);
        let text = (line.len() <= MAX_LINE)
            .then(|| self.text.get_mut(at * MAX_LINE..at * MAX_LINE + line.len()))
            .flatten();
        let held = match (text, u16::try_from(line.len())) {
            (Some(text), Ok(len)) => {
                text.copy_from_slice(line);
                Some(Held {
                    hash: key,
                    len,
                    value,
                })
            }
            _ => None,
        };
        if let Some(h) = self.held.get_mut(at) {
            *h = held;
        }
        slot
    }
}

fn slot_of(key: u64) -> MemoSlot {
    // SLOTS is a power of two (at most 2^16); the high bits of the hash are the best mixed.
    MemoSlot((key >> (u64::BITS - SLOTS.trailing_zeros())) as u16)
}

/// A value per [`MemoSlot`], kept apart from the memo: the memo's owner hands slots to the
/// holder of this table (possibly on another thread) in the order it remembered lines, so a
/// recalled slot always finds the value its line led to. Allocated on first use.
pub struct SlotValues<T> {
    values: Vec<Option<T>>,
}

impl<T> Default for SlotValues<T> {
    fn default() -> Self {
        SlotValues { values: Vec::new() }
    }
}

impl<T: Copy> SlotValues<T> {
    /// The value last set for `slot`.
    pub fn get(&self, slot: MemoSlot) -> Option<T> {
        self.values.get(usize::from(slot.0)).copied().flatten()
    }

    /// Sets the value for `slot`, or clears it (`None`).
    pub fn set(&mut self, slot: MemoSlot, value: Option<T>) {
        if self.values.is_empty() {
            self.values.resize_with(SLOTS, || None);
        }
        if let Some(v) = self.values.get_mut(usize::from(slot.0)) {
            *v = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_only_the_exact_line() {
        let mut memo = LineMemo::<Option<usize>>::default();
        let line = "session closed for user root";
        let key = memo
            .key(line.as_bytes())
            .expect("short lines are remembered");
        assert_eq!(memo.recall(key, line.as_bytes()), None);
        let slot = memo.remember(key, line.as_bytes(), Some(3));
        assert_eq!(memo.recall(key, line.as_bytes()), Some((slot, Some(3))));
        let other = b"session closed for user rooT";
        let other_key = memo.key(other).expect("short");
        assert_eq!(memo.recall(other_key, other), None);
        // Same slot, different text: never a false recall.
        assert_eq!(memo.recall(key, other), None);
        assert_eq!(memo.key("x".repeat(MAX_LINE + 1).as_bytes()), None);
        // Remembering a line too long to keep empties its slot and spills into no other.
        let long = "y".repeat(MAX_LINE + 1);
        let slot = memo.remember(key, long.as_bytes(), Some(4));
        assert_eq!(memo.recall(key, line.as_bytes()), None);
        assert_eq!(memo.recall(key, long.as_bytes()), None);
        assert!(memo.text.len() == SLOTS * MAX_LINE && usize::from(slot.0) < SLOTS);
    }

    #[test]
    fn stays_bounded_under_unique_lines() {
        let mut memo = LineMemo::default();
        let mut values = SlotValues::default();
        for i in 0..50_000 {
            let line = format!("unique line {i}");
            if let Some(key) = memo.key(line.as_bytes()) {
                let slot = memo.remember(key, line.as_bytes(), Some(i));
                values.set(slot, Some(i));
            }
        }
        assert_eq!(memo.held.len(), SLOTS);
        assert_eq!(values.values.len(), SLOTS);
        let last = b"unique line 49999";
        let key = memo.key(last).expect("short");
        let (slot, category) = memo.recall(key, last).expect("the last line is remembered");
        assert_eq!(category, Some(49_999));
        assert_eq!(values.get(slot), Some(49_999));
    }
}
