//! The memory of sub-configurations known to be dead ends.
//!
//! A sub-configuration is one component of the search state: which of the component's operations
//! are linearized, and the component's model state. Once the search proves that a
//! sub-configuration cannot be completed, no configuration that contains it can be, whatever the
//! other components hold; keying the memory per component is what keeps independent keys from
//! multiplying the search.

use rustc_hash::FxHashMap;

/// One remembered dead end; the linearized set lives in `FailureMemo::words`.
struct MemoEntry {
    component: u32,
    state: u32,
    /// Start of this entry's linearized set in `FailureMemo::words`.
    words_start: u32,
    /// Next entry with the same hash, or `NO_ENTRY`.
    next: u32,
}

const NO_ENTRY: u32 = u32::MAX;

/// A hash set of (component, linearized set, state) triples, stored in flat arrays so that a
/// lookup allocates nothing.
#[derive(Default)]
pub(crate) struct FailureMemo {
    /// First entry of each hash chain.
    heads: FxHashMap<u64, u32>,
    entries: Vec<MemoEntry>,
    /// The linearized sets of all entries, back to back; each has the length of its component's
    /// bitset.
    words: Vec<u64>,
}

impl FailureMemo {
    pub(crate) fn contains(
        &self,
        hash: u64,
        component: u32,
        state: u32,
        linearized: &[u64],
    ) -> bool {
        let mut index = match self.heads.get(&hash) {
            Some(&index) => index,
            None => return false,
        };
        while index != NO_ENTRY {
            let entry = &self.entries[index as usize];
            if entry.component == component && entry.state == state {
                let start = entry.words_start as usize;
                if &self.words[start..start + linearized.len()] == linearized {
                    return true;
                }
            }
            index = entry.next;
        }
        false
    }

    pub(crate) fn insert(&mut self, hash: u64, component: u32, state: u32, linearized: &[u64]) {
        if self.contains(hash, component, state, linearized) {
            return;
        }
        let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 memo entries");
        let next = self.heads.insert(hash, index).unwrap_or(NO_ENTRY);
        let words_start = u32::try_from(self.words.len()).expect("fewer than 2^32 memo words");
        self.words.extend_from_slice(linearized);
        self.entries.push(MemoEntry {
            component,
            state,
            words_start,
            next,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_exact_triples() {
        let mut memo = FailureMemo::default();
        memo.insert(7, 0, 1, &[0b101]);
        assert!(memo.contains(7, 0, 1, &[0b101]));
        assert!(!memo.contains(7, 0, 1, &[0b100]));
        assert!(!memo.contains(7, 1, 1, &[0b101]));
        assert!(!memo.contains(7, 0, 2, &[0b101]));
        memo.insert(7, 0, 2, &[0b101]);
        assert!(memo.contains(7, 0, 2, &[0b101]));
        assert!(memo.contains(7, 0, 1, &[0b101]));
        assert_eq!(memo.entries.len(), 2);
    }
}
