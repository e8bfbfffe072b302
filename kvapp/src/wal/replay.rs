//! Replaying records into the log they describe. Pure; no I/O.
//!
//! The replay does not depend on which snapshot the caller will restart from: it rebuilds the
//! log as the node last persisted it, then [`ReplayedLog::recover`] cuts it at the chosen
//! snapshot. The rules, record by record:
//!
//! | record | effect on the log |
//! |---|---|
//! | entries starting at `i`, log ends at `last` | `i > last + 1`: corrupt (a gap); otherwise drop the entries from `i` on and append (etcd's WAL: a new leader overwrote an uncommitted suffix, Raft §5.3) |
//! | entries starting at or below an installed snapshot | the part at or below it is covered by the snapshot and skipped |
//! | marker, [`SnapshotSource::Local`] | none: the log is compacted by the snapshot, not changed |
//! | marker, [`SnapshotSource::Leader`] at `s` | the log is replaced: no entries, and the next entry is `s + 1` |
//! | hard state | replaces the hard state |
//!
//! Before the first installed snapshot, the log's start is only known from the oldest kept
//! segment: its first index (from the segment name) says where entries surely begin, and an
//! overwrite may reach below it.

use raft::{Entry, HardState, Index, Term};

use super::record::Record;
use super::{Corruption, Recovered, SnapshotMarker, SnapshotSource, WalError};

/// A record with where it was read.
#[derive(Clone, Debug)]
pub(crate) struct LocatedRecord {
    /// The segment's file name.
    pub(crate) file: String,
    /// The segment's sequence number.
    pub(crate) sequence: u64,
    /// Where the record starts in the file.
    pub(crate) offset: u64,
    /// The record.
    pub(crate) record: Record,
}

/// A snapshot marker found in the WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KnownMarker {
    pub(crate) marker: SnapshotMarker,
    pub(crate) source: SnapshotSource,
    /// The sequence number of the segment that holds it.
    pub(crate) sequence: u64,
}

/// The log as the WAL describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplayedLog {
    /// Entries at or below this index are not in `entries`: they are covered by a snapshot,
    /// or they lie in released segments.
    base: Index,
    /// The term at `base` when `base` is an installed snapshot.
    base_term: Option<Term>,
    /// Consecutive entries from `base + 1`.
    entries: Vec<Entry>,
    /// The last hard state recorded, or the empty one.
    pub(crate) hard_state: HardState,
    /// Every marker, in the order written.
    pub(crate) markers: Vec<KnownMarker>,
}

impl ReplayedLog {
    /// Replays `records` of segments whose oldest has first index `first_index`.
    pub(crate) fn replay<'a>(
        first_index: Index,
        records: impl IntoIterator<Item = &'a LocatedRecord>,
    ) -> Result<ReplayedLog, WalError> {
        let mut log = ReplayedLog {
            base: first_index.saturating_sub(1),
            base_term: None,
            entries: Vec::new(),
            hard_state: HardState::default(),
            markers: Vec::new(),
        };
        for located in records {
            match &located.record {
                Record::Entries(batch) => log.append(batch, located)?,
                Record::HardState(hard_state) => log.hard_state = *hard_state,
                Record::SnapshotMarker { marker, source } => {
                    log.markers.push(KnownMarker {
                        marker: *marker,
                        source: *source,
                        sequence: located.sequence,
                    });
                    match source {
                        SnapshotSource::Local => {}
                        SnapshotSource::Leader => {
                            log.entries.clear();
                            log.base = marker.index;
                            log.base_term = Some(marker.term);
                        }
                    }
                }
            }
        }
        Ok(log)
    }

    fn last_index(&self) -> Index {
        self.base + self.entries.len() as Index
    }

    fn append(&mut self, batch: &[Entry], located: &LocatedRecord) -> Result<(), WalError> {
        let corrupt = |reason| WalError::Corrupt {
            file: located.file.clone(),
            offset: located.offset,
            reason,
        };
        let mut batch = batch;
        if self.base_term.is_some() {
            // Entries the installed snapshot covers; Raft does not send them, but they would be
            // harmless, so they are skipped rather than refused.
            let covered = batch
                .iter()
                .take_while(|entry| entry.index <= self.base)
                .count();
            batch = &batch[covered..];
        }
        let Some(first) = batch.first() else {
            return Ok(());
        };
        if first.index > self.last_index() + 1 {
            return Err(corrupt(Corruption::EntriesGap {
                expected: self.last_index() + 1,
                found: first.index,
            }));
        }
        if first.index <= self.base {
            // Only possible before any installed snapshot: an overwrite reaching below the
            // oldest kept segment's first index. The log restarts there.
            self.entries.clear();
            self.base = first.index - 1;
        } else {
            self.entries
                .truncate((first.index - self.base - 1) as usize);
        }
        let previous_term = self
            .entries
            .last()
            .map(|entry| entry.term)
            .or(self.base_term);
        if let Some(previous_term) = previous_term.filter(|previous| first.term < *previous) {
            return Err(corrupt(Corruption::EntryTermDecreases {
                index: first.index,
                term: first.term,
                previous_term,
            }));
        }
        self.entries.extend_from_slice(batch);
        Ok(())
    }

    /// The snapshots the node can restart from with this log, oldest first: each marker whose
    /// following entries are all here, and the empty snapshot (index 0) when the log is whole
    /// from index 1.
    pub(crate) fn usable_snapshots(&self) -> Vec<SnapshotMarker> {
        let mut usable: Vec<SnapshotMarker> = Vec::new();
        if self.base == 0 {
            usable.push(SnapshotMarker::default());
        }
        for known in &self.markers {
            if known.marker.index >= self.base && !usable.contains(&known.marker) {
                usable.push(known.marker);
            }
        }
        usable.sort();
        usable
    }

    /// The state to restart from `snapshot` (index 0 for none).
    pub(crate) fn recover(&self, snapshot: SnapshotMarker) -> Result<Recovered, WalError> {
        if snapshot.index != 0 {
            let same_index = self
                .markers
                .iter()
                .filter(|known| known.marker.index == snapshot.index);
            let mut found_term = None;
            for known in same_index {
                if known.marker.term == snapshot.term {
                    found_term = Some(snapshot.term);
                    break;
                }
                found_term = Some(known.marker.term);
            }
            match found_term {
                None => return Err(WalError::SnapshotNotFound { snapshot }),
                Some(term) if term != snapshot.term => {
                    return Err(WalError::SnapshotTermMismatch {
                        snapshot,
                        found_term: term,
                    })
                }
                Some(_) => {}
            }
        }
        if self.base > snapshot.index {
            return Err(WalError::EntriesMissing {
                snapshot,
                first_available: self.base + 1,
            });
        }
        let keep_from = (snapshot.index - self.base) as usize;
        let entries = self.entries.get(keep_from..).unwrap_or_default().to_vec();
        let last_index = entries.last().map_or(snapshot.index, |entry| entry.index);
        if self.hard_state.commit > last_index {
            return Err(WalError::CommitBeyondLog {
                commit: self.hard_state.commit,
                last_index,
            });
        }
        Ok(Recovered {
            snapshot,
            hard_state: self.hard_state,
            entries,
            tail_cut: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(first: Index, last: Index, term: Term) -> Record {
        Record::Entries(
            (first..=last)
                .map(|index| Entry {
                    index,
                    term,
                    ..Entry::default()
                })
                .collect(),
        )
    }

    fn marker(index: Index, term: Term, source: SnapshotSource) -> Record {
        Record::SnapshotMarker {
            marker: SnapshotMarker { index, term },
            source,
        }
    }

    fn commit(commit: Index) -> Record {
        Record::HardState(HardState {
            term: 9,
            vote: 1,
            commit,
        })
    }

    fn located(records: Vec<Record>) -> Vec<LocatedRecord> {
        records
            .into_iter()
            .enumerate()
            .map(|(position, record)| LocatedRecord {
                file: "segment".to_string(),
                sequence: 0,
                offset: position as u64,
                record,
            })
            .collect()
    }

    fn terms(recovered: &Recovered) -> Vec<(Index, Term)> {
        recovered
            .entries
            .iter()
            .map(|entry| (entry.index, entry.term))
            .collect()
    }

    #[test]
    fn an_overwrite_truncates_the_suffix() {
        let records = located(vec![entries(1, 5, 1), entries(4, 6, 2), commit(3)]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        let recovered = log.recover(SnapshotMarker::default()).expect("recovers");
        assert_eq!(
            terms(&recovered),
            vec![(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
        );
        assert_eq!(recovered.hard_state.commit, 3);
    }

    #[test]
    fn a_gap_is_corruption_with_the_record_location() {
        let records = located(vec![entries(1, 2, 1), entries(4, 4, 1)]);
        assert_eq!(
            ReplayedLog::replay(1, &records),
            Err(WalError::Corrupt {
                file: "segment".to_string(),
                offset: 1,
                reason: Corruption::EntriesGap {
                    expected: 3,
                    found: 4
                }
            })
        );
    }

    #[test]
    fn terms_may_not_go_down_across_records() {
        let records = located(vec![entries(1, 2, 3), entries(3, 3, 2)]);
        assert!(matches!(
            ReplayedLog::replay(1, &records),
            Err(WalError::Corrupt {
                reason: Corruption::EntryTermDecreases { index: 3, .. },
                ..
            })
        ));
    }

    #[test]
    fn a_local_snapshot_keeps_the_entries_after_it_even_those_written_before_the_marker() {
        let records = located(vec![
            entries(1, 10, 1),
            commit(8),
            marker(6, 1, SnapshotSource::Local),
        ]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        assert_eq!(
            log.usable_snapshots(),
            vec![
                SnapshotMarker::default(),
                SnapshotMarker { index: 6, term: 1 }
            ]
        );
        let recovered = log
            .recover(SnapshotMarker { index: 6, term: 1 })
            .expect("recovers");
        assert_eq!(terms(&recovered), vec![(7, 1), (8, 1), (9, 1), (10, 1)]);
    }

    #[test]
    fn a_leader_snapshot_replaces_the_log_and_older_snapshots_become_unusable() {
        let records = located(vec![
            entries(1, 10, 1),
            marker(4, 1, SnapshotSource::Local),
            marker(20, 3, SnapshotSource::Leader),
            commit(20),
            entries(21, 22, 3),
        ]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        assert_eq!(
            log.usable_snapshots(),
            vec![SnapshotMarker { index: 20, term: 3 }]
        );
        let recovered = log
            .recover(SnapshotMarker { index: 20, term: 3 })
            .expect("recovers");
        assert_eq!(terms(&recovered), vec![(21, 3), (22, 3)]);
        assert_eq!(
            log.recover(SnapshotMarker { index: 4, term: 1 }),
            Err(WalError::EntriesMissing {
                snapshot: SnapshotMarker { index: 4, term: 1 },
                first_available: 21
            })
        );
    }

    #[test]
    fn stale_entries_after_a_leader_snapshot_do_not_come_back() {
        // The node held uncommitted entries 5..=9 of an old term; the leader's snapshot at 7
        // replaced them, and no new entry arrived before the crash.
        let records = located(vec![
            entries(1, 9, 1),
            commit(4),
            marker(7, 2, SnapshotSource::Leader),
            commit(7),
        ]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        let recovered = log
            .recover(SnapshotMarker { index: 7, term: 2 })
            .expect("recovers");
        assert!(recovered.entries.is_empty(), "{:?}", recovered.entries);
    }

    #[test]
    fn the_chosen_snapshot_must_be_in_the_log_with_its_term() {
        let records = located(vec![
            entries(1, 5, 1),
            commit(5),
            marker(3, 1, SnapshotSource::Local),
        ]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        assert_eq!(
            log.recover(SnapshotMarker { index: 4, term: 1 }),
            Err(WalError::SnapshotNotFound {
                snapshot: SnapshotMarker { index: 4, term: 1 }
            })
        );
        assert_eq!(
            log.recover(SnapshotMarker { index: 3, term: 2 }),
            Err(WalError::SnapshotTermMismatch {
                snapshot: SnapshotMarker { index: 3, term: 2 },
                found_term: 1
            })
        );
    }

    #[test]
    fn released_segments_set_where_the_log_starts() {
        // The oldest kept segment says index 11; an overwrite of uncommitted entries then
        // reached back to index 9, which the segment holds too.
        let records = located(vec![
            commit(8),
            entries(9, 13, 2),
            commit(13),
            marker(12, 2, SnapshotSource::Local),
        ]);
        let log = ReplayedLog::replay(11, &records).expect("replays");
        assert_eq!(
            log.usable_snapshots(),
            vec![SnapshotMarker { index: 12, term: 2 }]
        );
        let recovered = log
            .recover(SnapshotMarker { index: 12, term: 2 })
            .expect("recovers");
        assert_eq!(terms(&recovered), vec![(13, 2)]);
        assert_eq!(
            log.recover(SnapshotMarker::default()),
            Err(WalError::EntriesMissing {
                snapshot: SnapshotMarker::default(),
                first_available: 9
            })
        );
    }

    #[test]
    fn a_commit_beyond_the_log_is_refused() {
        let records = located(vec![entries(1, 2, 1), commit(5)]);
        let log = ReplayedLog::replay(1, &records).expect("replays");
        assert_eq!(
            log.recover(SnapshotMarker::default()),
            Err(WalError::CommitBeyondLog {
                commit: 5,
                last_index: 2
            })
        );
    }
}
