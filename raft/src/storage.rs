//! The stable log as Raft reads it: the [`Storage`] trait and an in-memory [`MemStorage`].
//!
//! Raft never writes to storage itself. The application persists what a `Ready` hands it (into
//! its WAL, and into a `Storage` such as [`MemStorage`]); Raft then reads the log back through
//! this trait. `MemStorage` is what the key-value service rebuilds from its WAL and snapshot
//! files at start-up.

use crate::message::{ConfState, Entry, HardState, Index, Snapshot, Term};

/// Why storage could not answer; all of these are operating conditions, not bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The requested index is older than the first index: compacted into a snapshot.
    #[error("requested index is unavailable due to compaction")]
    Compacted,
    /// The requested index is beyond the last index.
    #[error("requested entry at index is unavailable")]
    Unavailable,
    /// A snapshot older than the one already applied was offered.
    #[error("requested snapshot is older than the existing snapshot")]
    SnapshotOutOfDate,
    /// The snapshot is being produced; ask again later.
    #[error("snapshot is temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
}

/// The state Raft needs to restart: the last hard state and the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RaftState {
    /// Term, vote and commit index as last persisted.
    pub hard_state: HardState,
    /// The configuration as of the last applied configuration change or snapshot.
    pub conf_state: ConfState,
}

/// Read access to the stable log.
///
/// The log holds a "dummy" position at `first_index() - 1` whose term is known (the snapshot's
/// index and term), so that `term(first_index() - 1)` always answers.
pub trait Storage {
    /// The persisted hard state and configuration.
    fn initial_state(&self) -> Result<RaftState, StorageError>;

    /// Entries in `[low, high)`, stopping once their total [`Entry::size_bytes`] would exceed
    /// `max_size_bytes`, but always returning at least one entry when the range is non-empty.
    fn entries(
        &self,
        low: Index,
        high: Index,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError>;

    /// The term of the entry at `index`, for `index` in `[first_index() - 1, last_index()]`.
    fn term(&self, index: Index) -> Result<Term, StorageError>;

    /// The index of the first entry that may be read with [`Storage::entries`].
    fn first_index(&self) -> Result<Index, StorageError>;

    /// The index of the last entry (or the snapshot's index when the log is empty).
    fn last_index(&self) -> Result<Index, StorageError>;

    /// The most recent snapshot. `request_index` is the index the leader would like it to cover
    /// at least (a hint; zero means any).
    fn snapshot(&self, request_index: Index) -> Result<Snapshot, StorageError>;
}

/// Trims `entries` so that their total size stays within `max_size_bytes`, keeping at least one.
pub(crate) fn limit_size(entries: &mut Vec<Entry>, max_size_bytes: u64) {
    if entries.len() <= 1 {
        return;
    }
    let mut total: u64 = 0;
    let mut keep = 0;
    for entry in entries.iter() {
        total = total.saturating_add(entry.size_bytes());
        if keep > 0 && total > max_size_bytes {
            break;
        }
        keep += 1;
    }
    entries.truncate(keep);
}

/// An in-memory [`Storage`] that the application also writes to.
///
/// It keeps two configurations apart: the one of the snapshot (as of the snapshot's index, sent
/// to followers that need it) and the latest one the application applied (reported by
/// [`Storage::initial_state`], so that a restarted node resumes with it). Overwriting the
/// snapshot's configuration with a later one would hand followers a snapshot whose
/// configuration already includes changes that the entries after it apply again.
///
/// Invariant: `entries[0]` is the dummy entry at the snapshot's index and term, so
/// `entries[k].index == entries[0].index + k` for every k.
#[derive(Clone, Debug)]
pub struct MemStorage {
    hard_state: HardState,
    /// The latest configuration applied (or installed with a snapshot).
    conf_state: ConfState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl Default for MemStorage {
    fn default() -> MemStorage {
        MemStorage::new()
    }
}

impl MemStorage {
    /// An empty log: first index 1, last index 0.
    pub fn new() -> MemStorage {
        MemStorage {
            hard_state: HardState::default(),
            conf_state: ConfState::default(),
            snapshot: Snapshot::default(),
            entries: vec![Entry::default()],
        }
    }

    /// An empty log whose configuration is `conf_state` (how a brand-new cluster bootstraps).
    ///
    /// The bootstrap configuration lives here, not in the log. A node that joins later must
    /// therefore either start from this same configuration (it is not a member of it, so it
    /// does not campaign) and be caught up by the log or a snapshot, or start empty and be
    /// caught up by a snapshot: an empty node replaying the log from index 1 would apply its
    /// own addition to an empty configuration and take itself for the only voter. (Clusters
    /// that bootstrap with configuration-change entries in the log, as etcd does, have no such
    /// constraint.)
    pub fn new_with_conf_state(conf_state: ConfState) -> MemStorage {
        let mut storage = MemStorage::new();
        storage.snapshot.metadata.conf_state = conf_state.clone();
        storage.conf_state = conf_state;
        storage
    }

    /// The persisted hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Records the hard state.
    pub fn set_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    /// Records the configuration the application applied last, which `initial_state` reports.
    /// The snapshot already taken keeps the configuration as of its own index.
    pub fn set_conf_state(&mut self, conf_state: ConfState) {
        self.conf_state = conf_state;
    }

    fn offset(&self) -> Index {
        self.entries[0].index
    }

    /// Appends entries, replacing any existing suffix they conflict with. Entries before the
    /// first index are ignored (already compacted). A gap after the last index is refused.
    pub fn append(&mut self, new_entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first_new) = new_entries.first() else {
            return Ok(());
        };
        let first = self.offset() + 1;
        let last_new = first_new.index + new_entries.len() as u64 - 1;
        if last_new < first {
            return Ok(());
        }
        // Skip what has been compacted away already.
        let skip = first.saturating_sub(first_new.index) as usize;
        let new_entries = &new_entries[skip..];
        let start = new_entries[0].index;
        let last = self.offset() + self.entries.len() as u64 - 1;
        if start > last + 1 {
            return Err(StorageError::Unavailable);
        }
        let keep = (start - self.offset()) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(new_entries);
        Ok(())
    }

    /// Installs a snapshot, discarding the whole log. An older snapshot is refused.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        if snapshot.metadata.index < self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        self.entries = vec![Entry {
            term: snapshot.metadata.term,
            index: snapshot.metadata.index,
            ..Entry::default()
        }];
        if self.hard_state.commit < snapshot.metadata.index {
            self.hard_state.commit = snapshot.metadata.index;
        }
        if self.hard_state.term < snapshot.metadata.term {
            self.hard_state.term = snapshot.metadata.term;
        }
        self.conf_state = snapshot.metadata.conf_state.clone();
        self.snapshot = snapshot;
        Ok(())
    }

    /// Records a snapshot of the application state as of `index` (which must be applied, hence
    /// in the log) and returns it. `conf_state` is the configuration as of `index`; without it,
    /// the one last recorded with [`MemStorage::set_conf_state`] is used, which is right when
    /// `index` is the applied index. The configuration `initial_state` reports is unchanged.
    pub fn create_snapshot(
        &mut self,
        index: Index,
        conf_state: Option<ConfState>,
        data: Vec<u8>,
    ) -> Result<Snapshot, StorageError> {
        if index <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        let last = self.offset() + self.entries.len() as u64 - 1;
        assert!(
            index <= last,
            "snapshot index {index} is beyond the last index {last}"
        );
        let term = self.entries[(index - self.offset()) as usize].term;
        self.snapshot.metadata.index = index;
        self.snapshot.metadata.term = term;
        self.snapshot.metadata.conf_state = conf_state.unwrap_or_else(|| self.conf_state.clone());
        self.snapshot.data = data;
        Ok(self.snapshot.clone())
    }

    /// Discards entries before `compact_index`; `compact_index` becomes the dummy position.
    pub fn compact(&mut self, compact_index: Index) -> Result<(), StorageError> {
        let offset = self.offset();
        if compact_index <= offset {
            return Err(StorageError::Compacted);
        }
        let last = offset + self.entries.len() as u64 - 1;
        assert!(
            compact_index <= last,
            "compact index {compact_index} is beyond the last index {last}"
        );
        let keep_from = (compact_index - offset) as usize;
        self.entries.drain(..keep_from);
        // The dummy entry keeps only its index and term.
        self.entries[0].data = Vec::new();
        self.entries[0].entry_type = crate::message::EntryType::Normal;
        Ok(())
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        Ok(RaftState {
            hard_state: self.hard_state,
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: Index,
        high: Index,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let offset = self.offset();
        if low <= offset {
            return Err(StorageError::Compacted);
        }
        let last = offset + self.entries.len() as u64 - 1;
        if high > last + 1 {
            return Err(StorageError::Unavailable);
        }
        if low >= high {
            return Ok(Vec::new());
        }
        let mut out = self.entries[(low - offset) as usize..(high - offset) as usize].to_vec();
        limit_size(&mut out, max_size_bytes);
        Ok(out)
    }

    fn term(&self, index: Index) -> Result<Term, StorageError> {
        let offset = self.offset();
        if index < offset {
            return Err(StorageError::Compacted);
        }
        self.entries
            .get((index - offset) as usize)
            .map(|entry| entry.term)
            .ok_or(StorageError::Unavailable)
    }

    fn first_index(&self) -> Result<Index, StorageError> {
        Ok(self.offset() + 1)
    }

    fn last_index(&self) -> Result<Index, StorageError> {
        Ok(self.offset() + self.entries.len() as u64 - 1)
    }

    fn snapshot(&self, _request_index: Index) -> Result<Snapshot, StorageError> {
        Ok(self.snapshot.clone())
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

    fn storage_with(entries: &[(Index, Term)]) -> MemStorage {
        let mut storage = MemStorage::new();
        storage.entries = entries.iter().map(|&(i, t)| entry(i, t)).collect();
        storage
    }

    #[test]
    fn term_covers_dummy_to_last() {
        let storage = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        assert_eq!(storage.term(2), Err(StorageError::Compacted));
        assert_eq!(storage.term(3), Ok(3));
        assert_eq!(storage.term(5), Ok(5));
        assert_eq!(storage.term(6), Err(StorageError::Unavailable));
        assert_eq!(storage.first_index(), Ok(4));
        assert_eq!(storage.last_index(), Ok(5));
    }

    #[test]
    fn entries_respect_range_and_size() {
        let storage = storage_with(&[(3, 3), (4, 4), (5, 5), (6, 6)]);
        assert_eq!(
            storage.entries(3, 5, u64::MAX),
            Err(StorageError::Compacted)
        );
        assert_eq!(
            storage.entries(4, 8, u64::MAX),
            Err(StorageError::Unavailable)
        );
        assert_eq!(
            storage.entries(4, 7, u64::MAX),
            Ok(vec![entry(4, 4), entry(5, 5), entry(6, 6)])
        );
        let one = entry(4, 4).size_bytes();
        assert_eq!(storage.entries(4, 7, 0), Ok(vec![entry(4, 4)]));
        assert_eq!(
            storage.entries(4, 7, 2 * one),
            Ok(vec![entry(4, 4), entry(5, 5)])
        );
    }

    #[test]
    fn append_truncates_conflicting_suffix_and_skips_compacted() {
        let mut storage = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        storage.append(&[entry(4, 6), entry(5, 6)]).unwrap();
        assert_eq!(storage.entries, vec![entry(3, 3), entry(4, 6), entry(5, 6)]);
        storage
            .append(&[
                entry(2, 3),
                entry(3, 3),
                entry(4, 6),
                entry(5, 6),
                entry(6, 6),
            ])
            .unwrap();
        assert_eq!(storage.last_index(), Ok(6));
        assert_eq!(
            storage.append(&[entry(8, 6)]),
            Err(StorageError::Unavailable)
        );
    }

    #[test]
    fn compact_and_snapshot() {
        let mut storage = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        assert_eq!(storage.compact(3), Err(StorageError::Compacted));
        storage.compact(4).unwrap();
        assert_eq!(storage.first_index(), Ok(5));
        assert_eq!(storage.term(4), Ok(4));
        let snapshot = storage
            .create_snapshot(
                5,
                Some(ConfState::with_voters([1, 2, 3])),
                b"state".to_vec(),
            )
            .unwrap();
        assert_eq!((snapshot.metadata.index, snapshot.metadata.term), (5, 5));
        assert_eq!(
            storage.create_snapshot(4, None, Vec::new()),
            Err(StorageError::SnapshotOutOfDate)
        );
        let mut other = MemStorage::new();
        other.apply_snapshot(snapshot.clone()).unwrap();
        assert_eq!(other.first_index(), Ok(6));
        assert_eq!(other.last_index(), Ok(5));
        assert_eq!(other.hard_state().commit, 5);
        assert_eq!(
            other.initial_state().unwrap().conf_state,
            ConfState::with_voters([1, 2, 3])
        );
        let older = Snapshot {
            metadata: crate::message::SnapshotMetadata {
                index: 4,
                term: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            other.apply_snapshot(older),
            Err(StorageError::SnapshotOutOfDate)
        );
    }

    #[test]
    fn a_later_configuration_does_not_rewrite_the_snapshot_taken_before_it() {
        let mut storage = MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3]));
        storage
            .append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        storage.create_snapshot(2, None, Vec::new()).unwrap();
        // Entry 3 adds node 4; the application records the new configuration.
        storage.set_conf_state(ConfState::with_voters([1, 2, 3, 4]));
        // A follower restoring the snapshot at 2 then applies entry 3 itself: the snapshot
        // must not contain node 4 already.
        assert_eq!(
            storage.snapshot(0).unwrap().metadata.conf_state,
            ConfState::with_voters([1, 2, 3])
        );
        assert_eq!(
            storage.initial_state().unwrap().conf_state,
            ConfState::with_voters([1, 2, 3, 4])
        );
        let next = storage.create_snapshot(3, None, Vec::new()).unwrap();
        assert_eq!(
            next.metadata.conf_state,
            ConfState::with_voters([1, 2, 3, 4])
        );
    }
}
