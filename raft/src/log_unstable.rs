//! Entries and a snapshot that Raft has accepted but the application has not yet persisted.

use crate::message::{Entry, Index, Snapshot, Term};

/// The not-yet-persisted tail of the log.
///
/// Invariant: when `snapshot` is set, `offset == snapshot.metadata.index + 1`; `entries[k]` has
/// index `offset + k`.
#[derive(Clone, Debug, Default)]
pub struct Unstable {
    /// A snapshot received from the leader, to be persisted and applied.
    pub snapshot: Option<Snapshot>,
    /// Entries not yet persisted.
    pub entries: Vec<Entry>,
    /// The index of `entries[0]` (or where it would be).
    pub offset: Index,
}

impl Unstable {
    /// An empty unstable log whose first entry will have index `offset`.
    pub fn new(offset: Index) -> Unstable {
        Unstable {
            snapshot: None,
            entries: Vec::new(),
            offset,
        }
    }

    /// The first index, if only the unstable snapshot determines it.
    pub fn maybe_first_index(&self) -> Option<Index> {
        self.snapshot
            .as_ref()
            .map(|snapshot| snapshot.metadata.index + 1)
    }

    /// The last index, if the unstable part holds entries or a snapshot.
    pub fn maybe_last_index(&self) -> Option<Index> {
        if !self.entries.is_empty() {
            return Some(self.offset + self.entries.len() as u64 - 1);
        }
        self.snapshot
            .as_ref()
            .map(|snapshot| snapshot.metadata.index)
    }

    /// The term at `index`, if the unstable part knows it.
    pub fn maybe_term(&self, index: Index) -> Option<Term> {
        if index < self.offset {
            let snapshot = self.snapshot.as_ref()?;
            return (snapshot.metadata.index == index).then_some(snapshot.metadata.term);
        }
        self.entries
            .get((index - self.offset) as usize)
            .map(|entry| entry.term)
    }

    /// The application persisted entries up to (`index`, `term`): drop them from here. Stale
    /// acknowledgements (the entry was since replaced) are ignored.
    pub fn stable_to(&mut self, index: Index, term: Term) {
        let Some(found) = self.maybe_term(index) else {
            return;
        };
        if found == term && index >= self.offset {
            let persisted = (index + 1 - self.offset) as usize;
            self.entries.drain(..persisted);
            self.offset = index + 1;
        }
    }

    /// The application persisted the snapshot at `index`.
    pub fn stable_snapshot_to(&mut self, index: Index) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|snapshot| snapshot.metadata.index == index)
        {
            self.snapshot = None;
        }
    }

    /// Replaces everything with a snapshot.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.offset = snapshot.metadata.index + 1;
        self.entries.clear();
        self.snapshot = Some(snapshot);
    }

    /// Appends entries, replacing whatever they overlap.
    pub fn truncate_and_append(&mut self, new_entries: &[Entry]) {
        let Some(first) = new_entries.first() else {
            return;
        };
        let after = first.index;
        if after == self.offset + self.entries.len() as u64 {
            // Directly after what we hold.
        } else if after <= self.offset {
            // Replaces the whole unstable part; the caller has checked that nothing committed
            // is overwritten.
            self.offset = after;
            self.entries.clear();
        } else {
            self.entries.truncate((after - self.offset) as usize);
        }
        self.entries.extend_from_slice(new_entries);
    }

    /// Entries in `[low, high)`, which must lie within the unstable part.
    pub fn slice(&self, low: Index, high: Index) -> &[Entry] {
        let upper = self.offset + self.entries.len() as u64;
        assert!(
            self.offset <= low && low <= high && high <= upper,
            "unstable slice [{low}, {high}) out of bounds [{}, {upper})",
            self.offset
        );
        &self.entries[(low - self.offset) as usize..(high - self.offset) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn truncate_and_append_cases() {
        let mut unstable = Unstable::new(5);
        unstable.truncate_and_append(&[entry(5, 1)]);
        unstable.truncate_and_append(&[entry(6, 1), entry(7, 1)]);
        assert_eq!(unstable.maybe_last_index(), Some(7));
        // Overlap in the middle.
        unstable.truncate_and_append(&[entry(6, 2)]);
        assert_eq!(unstable.entries, vec![entry(5, 1), entry(6, 2)]);
        // Replace everything from before the offset.
        unstable.truncate_and_append(&[entry(4, 3)]);
        assert_eq!(unstable.offset, 4);
        assert_eq!(unstable.entries, vec![entry(4, 3)]);
    }

    #[test]
    fn stable_to_ignores_stale_terms() {
        let mut unstable = Unstable::new(5);
        unstable.truncate_and_append(&[entry(5, 1), entry(6, 1)]);
        unstable.stable_to(5, 2);
        assert_eq!(unstable.offset, 5);
        unstable.stable_to(5, 1);
        assert_eq!(unstable.offset, 6);
        assert_eq!(unstable.entries, vec![entry(6, 1)]);
    }

    #[test]
    fn snapshot_terms() {
        let mut unstable = Unstable::new(1);
        let mut snapshot = Snapshot::default();
        snapshot.metadata.index = 10;
        snapshot.metadata.term = 3;
        unstable.restore(snapshot);
        assert_eq!(unstable.maybe_first_index(), Some(11));
        assert_eq!(unstable.maybe_last_index(), Some(10));
        assert_eq!(unstable.maybe_term(10), Some(3));
        assert_eq!(unstable.maybe_term(9), None);
        unstable.stable_snapshot_to(10);
        assert!(unstable.snapshot.is_none());
    }
}
