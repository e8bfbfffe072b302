//! The replicated log as one node sees it: the stable part in [`Storage`] followed by the
//! [`Unstable`] part, with the commit and apply cursors.

use std::collections::VecDeque;

use crate::log_unstable::Unstable;
use crate::message::{Entry, EntryType, Index, Snapshot, Term};
use crate::storage::{limit_size, Storage, StorageError};

/// The log of one node.
pub struct RaftLog<S: Storage> {
    /// What the application has persisted.
    pub store: S,
    /// What it has not persisted yet.
    pub unstable: Unstable,
    /// The highest index known to be committed.
    /// Invariant: `applied <= committed <= last_index()`, and `committed` never decreases.
    pub committed: Index,
    /// The highest index handed to the application to apply.
    /// Invariant: `applied <= committed`.
    pub applied: Index,
    /// The most bytes of committed entries handed out at once.
    pub max_applying_size_bytes: u64,
    /// Indexes of the configuration-change entries that are not known committed, ascending
    /// (a truncated one may linger until the commit index passes it, which costs at most one
    /// needless sync). [`crate::RawNode::ready`] fsyncs a commit index that passes one of them.
    pub uncommitted_conf_changes: VecDeque<Index>,
    /// How many entries the last [`RaftLog::append`] replaced (a divergent suffix cut off).
    pub truncated_by_last_append: u64,
}

impl<S: Storage> RaftLog<S> {
    /// Forgets the configuration changes at or below `committed` and says whether there were
    /// any: whether the commit index has newly passed a configuration change.
    pub fn take_committed_conf_changes(&mut self, committed: Index) -> bool {
        let mut any = false;
        while self
            .uncommitted_conf_changes
            .front()
            .is_some_and(|&index| index <= committed)
        {
            self.uncommitted_conf_changes.pop_front();
            any = true;
        }
        any
    }

    /// Opens the log over `store`, with the cursors just before its first entry.
    pub fn new(store: S, max_applying_size_bytes: u64) -> RaftLog<S> {
        let first_index = store
            .first_index()
            .unwrap_or_else(|error| panic!("storage has no first index: {error}"));
        let last_index = store
            .last_index()
            .unwrap_or_else(|error| panic!("storage has no last index: {error}"));
        // The stored log may hold configuration changes beyond the commit index that the
        // hard state will restore: remember them all (the caller drops the committed ones).
        let uncommitted_conf_changes = store
            .entries(first_index, last_index + 1, u64::MAX)
            .unwrap_or_default()
            .iter()
            .filter(|entry| entry.entry_type == EntryType::ConfChange)
            .map(|entry| entry.index)
            .collect();
        RaftLog {
            store,
            unstable: Unstable::new(last_index + 1),
            committed: first_index - 1,
            applied: first_index - 1,
            max_applying_size_bytes,
            uncommitted_conf_changes,
            truncated_by_last_append: 0,
        }
    }

    /// The first index that `entries` can return.
    pub fn first_index(&self) -> Index {
        match self.unstable.maybe_first_index() {
            Some(index) => index,
            None => self
                .store
                .first_index()
                .unwrap_or_else(|error| panic!("storage has no first index: {error}")),
        }
    }

    /// The index of the last entry.
    pub fn last_index(&self) -> Index {
        match self.unstable.maybe_last_index() {
            Some(index) => index,
            None => self
                .store
                .last_index()
                .unwrap_or_else(|error| panic!("storage has no last index: {error}")),
        }
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> Term {
        let last = self.last_index();
        self.term(last)
            .unwrap_or_else(|error| panic!("term of the last index {last} is unknown: {error}"))
    }

    /// The term of the entry at `index`, valid for `[first_index() - 1, last_index()]`.
    pub fn term(&self, index: Index) -> Result<Term, StorageError> {
        let dummy = self.first_index() - 1;
        if index < dummy {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        if let Some(term) = self.unstable.maybe_term(index) {
            return Ok(term);
        }
        self.store.term(index)
    }

    /// The term at `index`, or zero when the index is out of range.
    pub fn term_or_zero(&self, index: Index) -> Term {
        self.term(index).unwrap_or(0)
    }

    /// Whether the entry at `index` has term `term`.
    pub fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index) == Ok(term)
    }

    /// Raft §5.4.1: a log is at least as up to date as another when its last term is higher,
    /// or equal with an index at least as large.
    pub fn is_up_to_date(&self, last_index: Index, term: Term) -> bool {
        term > self.last_term() || (term == self.last_term() && last_index >= self.last_index())
    }

    /// Follower side of Raft §5.3: accepts entries after (`index`, `log_term`) if the logs match
    /// there, appending what is new and replacing a conflicting suffix. Returns the last index
    /// now known to match the leader's, or `None` when the logs do not match at `index`.
    pub fn maybe_append(
        &mut self,
        index: Index,
        log_term: Term,
        committed: Index,
        entries: &[Entry],
    ) -> Option<Index> {
        self.truncated_by_last_append = 0;
        if !self.match_term(index, log_term) {
            return None;
        }
        let last_new = index + entries.len() as u64;
        let conflict = self.find_conflict(entries);
        if conflict != 0 {
            assert!(
                conflict > self.committed,
                "entry {conflict} conflicts with committed entry (committed {})",
                self.committed
            );
            let start = (conflict - (index + 1)) as usize;
            self.append(&entries[start..]);
        }
        self.commit_to(committed.min(last_new));
        Some(last_new)
    }

    /// Appends entries (possibly replacing an uncommitted suffix) and returns the new last index.
    pub fn append(&mut self, entries: &[Entry]) -> Index {
        let Some(first) = entries.first() else {
            self.truncated_by_last_append = 0;
            return self.last_index();
        };
        assert!(
            first.index > self.committed,
            "appending at index {} would overwrite committed entries (committed {})",
            first.index,
            self.committed
        );
        let replaced_from = first.index;
        self.truncated_by_last_append = (self.last_index() + 1).saturating_sub(replaced_from);
        while self
            .uncommitted_conf_changes
            .back()
            .is_some_and(|&index| index >= replaced_from)
        {
            self.uncommitted_conf_changes.pop_back();
        }
        self.uncommitted_conf_changes.extend(
            entries
                .iter()
                .filter(|entry| entry.entry_type == EntryType::ConfChange)
                .map(|entry| entry.index),
        );
        self.unstable.truncate_and_append(entries);
        self.last_index()
    }

    /// The index of the first entry whose term differs from ours, or the first new entry past
    /// our last index, or zero when all of them are already present.
    pub fn find_conflict(&self, entries: &[Entry]) -> Index {
        for entry in entries {
            if !self.match_term(entry.index, entry.term) {
                return entry.index;
            }
        }
        0
    }

    /// Fast backtracking: the largest index at or below `index` whose term is at most `term`,
    /// with its term. A leader whose entry at index i has term t can skip every follower entry
    /// with a term above t, since none of them can match (the log matching property).
    pub fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut index = index.min(self.last_index());
        loop {
            match self.term(index) {
                Ok(found) if found > term => index -= 1,
                Ok(found) => return (index, found),
                Err(_) => return (index, 0),
            }
        }
    }

    /// The unstable entries that the application must persist.
    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    /// Whether there are committed entries not yet handed to the application.
    pub fn has_next_committed_entries(&self) -> bool {
        let low = self.applied.max(self.first_index() - 1) + 1;
        self.committed + 1 > low && !self.has_pending_snapshot()
    }

    /// Committed entries not yet applied, bounded by `max_applying_size_bytes`.
    pub fn next_committed_entries(&self) -> Vec<Entry> {
        if self.has_pending_snapshot() {
            // The snapshot is applied first; the entries after it come in a later Ready.
            return Vec::new();
        }
        let low = self.applied.max(self.first_index() - 1) + 1;
        let high = self.committed + 1;
        if low >= high {
            return Vec::new();
        }
        self.slice(low, high, self.max_applying_size_bytes)
            .unwrap_or_else(|error| panic!("committed entries [{low}, {high}) unreadable: {error}"))
    }

    /// Whether a snapshot waits to be persisted and applied.
    pub fn has_pending_snapshot(&self) -> bool {
        self.unstable.snapshot.is_some()
    }

    /// The newest snapshot: the unstable one, or storage's.
    pub fn snapshot(&self, request_index: Index) -> Result<Snapshot, StorageError> {
        if let Some(snapshot) = &self.unstable.snapshot {
            return Ok(snapshot.clone());
        }
        self.store.snapshot(request_index)
    }

    /// Raises the commit index. It never goes back; it may not pass the last index.
    pub fn commit_to(&mut self, to_commit: Index) {
        if self.committed < to_commit {
            let last = self.last_index();
            assert!(
                to_commit <= last,
                "commit {to_commit} is out of range [{}, {last}]: was the log corrupted, truncated or lost?",
                self.committed
            );
            self.committed = to_commit;
        }
    }

    /// Raft §5.4.2: commits up to `max_index` only if that entry is from `term`, the leader's
    /// current term; earlier-term entries are committed indirectly.
    pub fn maybe_commit(&mut self, max_index: Index, term: Term) -> bool {
        if max_index > self.committed && self.term_or_zero(max_index) == term {
            self.commit_to(max_index);
            return true;
        }
        false
    }

    /// The application applied entries up to `index`.
    pub fn applied_to(&mut self, index: Index) {
        if index == 0 {
            return;
        }
        assert!(
            self.committed >= index && index >= self.applied,
            "applied {index} is out of range [applied {}, committed {}]",
            self.applied,
            self.committed
        );
        self.applied = index;
    }

    /// The application persisted entries up to (`index`, `term`).
    pub fn stable_to(&mut self, index: Index, term: Term) {
        self.unstable.stable_to(index, term);
    }

    /// The application persisted the snapshot at `index`.
    pub fn stable_snapshot_to(&mut self, index: Index) {
        self.unstable.stable_snapshot_to(index);
    }

    /// Replaces the log with a snapshot; everything up to its index is committed.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.committed = snapshot.metadata.index;
        self.uncommitted_conf_changes.clear();
        self.unstable.restore(snapshot);
    }

    /// Entries from `index` to the end, bounded by `max_size_bytes`.
    pub fn entries(&self, index: Index, max_size_bytes: u64) -> Result<Vec<Entry>, StorageError> {
        let last = self.last_index();
        if index > last {
            return Ok(Vec::new());
        }
        self.slice(index, last + 1, max_size_bytes)
    }

    /// Entries in `[low, high)` from storage and the unstable part, bounded by `max_size_bytes`
    /// (at least one entry when the range is non-empty).
    pub fn slice(
        &self,
        low: Index,
        high: Index,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        if low >= high {
            return Ok(Vec::new());
        }
        let first = self.first_index();
        if low < first {
            return Err(StorageError::Compacted);
        }
        let last = self.last_index();
        assert!(
            high <= last + 1,
            "slice [{low}, {high}) out of bound [{first}, {last}]"
        );
        let mut out = Vec::new();
        if low < self.unstable.offset {
            let stored_high = high.min(self.unstable.offset);
            out = self.store.entries(low, stored_high, max_size_bytes)?;
            // Storage stopped early because of the size limit: do not add unstable entries.
            if (out.len() as u64) < stored_high - low {
                return Ok(out);
            }
        }
        if high > self.unstable.offset {
            let unstable_low = low.max(self.unstable.offset);
            out.extend_from_slice(self.unstable.slice(unstable_low, high));
        }
        limit_size(&mut out, max_size_bytes);
        Ok(out)
    }

    /// Every entry from the first index, for tests and debugging.
    pub fn all_entries(&self) -> Vec<Entry> {
        self.entries(self.first_index(), u64::MAX)
            .unwrap_or_else(|error| panic!("log unreadable: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    fn log_with(terms: &[Term]) -> RaftLog<MemStorage> {
        let mut log = RaftLog::new(MemStorage::new(), u64::MAX);
        let entries: Vec<Entry> = terms
            .iter()
            .enumerate()
            .map(|(k, &t)| entry(k as u64 + 1, t))
            .collect();
        log.append(&entries);
        log
    }

    #[test]
    fn find_conflict_cases() {
        let log = log_with(&[1, 2, 3]);
        assert_eq!(log.find_conflict(&[]), 0);
        assert_eq!(log.find_conflict(&[entry(1, 1), entry(2, 2)]), 0);
        assert_eq!(
            log.find_conflict(&[entry(2, 2), entry(3, 3), entry(4, 4)]),
            4
        );
        assert_eq!(log.find_conflict(&[entry(2, 1), entry(3, 4)]), 2);
    }

    #[test]
    fn find_conflict_by_term_skips_higher_terms() {
        let log = log_with(&[1, 1, 4, 4, 5, 5]);
        assert_eq!(log.find_conflict_by_term(6, 3), (2, 1));
        assert_eq!(log.find_conflict_by_term(6, 4), (4, 4));
        assert_eq!(log.find_conflict_by_term(6, 9), (6, 5));
        assert_eq!(log.find_conflict_by_term(2, 0), (0, 0));
    }

    #[test]
    fn maybe_append_replaces_conflicting_suffix() {
        let mut log = log_with(&[1, 2, 3]);
        assert_eq!(log.maybe_append(3, 2, 3, &[entry(4, 4)]), None);
        assert_eq!(log.maybe_append(1, 1, 1, &[entry(2, 4)]), Some(2));
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.term(2), Ok(4));
        assert_eq!(log.committed, 1);
    }

    #[test]
    #[should_panic(expected = "conflicts with committed entry")]
    fn maybe_append_never_truncates_committed() {
        let mut log = log_with(&[1, 2, 3]);
        log.commit_to(3);
        log.maybe_append(1, 1, 3, &[entry(2, 9)]);
    }

    #[test]
    fn commit_only_current_term_by_counting() {
        let mut log = log_with(&[1, 2]);
        assert!(!log.maybe_commit(2, 3));
        assert!(log.maybe_commit(2, 2));
        assert_eq!(log.committed, 2);
        assert!(!log.maybe_commit(1, 1), "the commit index never goes back");
    }

    #[test]
    fn up_to_date_compares_term_then_index() {
        let log = log_with(&[1, 2, 3]);
        assert!(log.is_up_to_date(1, 4));
        assert!(log.is_up_to_date(3, 3));
        assert!(!log.is_up_to_date(2, 3));
        assert!(!log.is_up_to_date(9, 2));
    }

    #[test]
    fn slice_spans_storage_and_unstable() {
        let mut storage = MemStorage::new();
        storage.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        let mut log = RaftLog::new(storage, u64::MAX);
        log.append(&[entry(3, 2), entry(4, 2)]);
        assert_eq!(
            log.slice(2, 5, u64::MAX).unwrap(),
            vec![entry(2, 1), entry(3, 2), entry(4, 2)]
        );
        let one = entry(1, 1).size_bytes();
        assert_eq!(log.slice(1, 5, one).unwrap(), vec![entry(1, 1)]);
        assert_eq!(log.slice(1, 5, 3 * one).unwrap().len(), 3);
    }

    #[test]
    fn committed_entries_stop_at_size_limit_and_apply() {
        let mut log = log_with(&[1, 1, 1]);
        log.max_applying_size_bytes = entry(1, 1).size_bytes();
        log.commit_to(3);
        assert_eq!(log.next_committed_entries(), vec![entry(1, 1)]);
        log.applied_to(1);
        assert_eq!(log.next_committed_entries(), vec![entry(2, 1)]);
        log.applied_to(3);
        assert!(!log.has_next_committed_entries());
    }
}
