//! The write-ahead log: every entry, hard state and snapshot marker a node persists, in
//! segment files on a [`Disk`].
//!
//! # Files
//!
//! Segments are named `wal-<sequence>-<first index>.log` (16 hex digits each). `sequence`
//! counts up by one from zero; `first index` is one more than the log's last index when the
//! segment was created, so every entry written later with an index at or above it lives in this
//! segment or a later one (which is what makes [`Wal::release_to`] safe). A segment is created
//! as `<name>.tmp`, synced, renamed, and the directory synced, so a segment that exists has a
//! whole header; leftover `.tmp` files are removed by [`Wal::open`] and [`Wal::create`].
//!
//! Segment header (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `KVWALSEG` |
//! | 8 | 4 | format version, 1 |
//! | 12 | 8 | sequence, as in the name |
//! | 20 | 8 | first index, as in the name |
//! | 28 | 4 | CRC32 of bytes 0..28 |
//!
//! Then records, back to back. A new segment starts with a hard state record carrying the
//! latest hard state (if any), so that releasing older segments never loses it.
//!
//! Record (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | payload length, at most [`RECORD_PAYLOAD_SIZE_BYTES_MAX`] |
//! | 4 | 1 | record type: 1 entries, 2 hard state, 3 snapshot marker |
//! | 5 | 3 | reserved, zero |
//! | 8 | 4 | CRC32 of the payload |
//! | 12 | 4 | CRC32 of bytes 0..12, so the length is checked before it is trusted |
//! | 16 | length | payload, encoded with `raft::codec` (a version byte, then postcard) |
//!
//! | record type | payload |
//! |---|---|
//! | entries | `Vec<raft::Entry>`: one or more, consecutive indices, non-decreasing terms |
//! | hard state | `raft::HardState` |
//! | snapshot marker | index (non-zero), term, [`SnapshotSource`] |
//!
//! Checksums are CRC-32 (IEEE) from `crc32fast`.
//!
//! # Recovery
//!
//! Reading checks every field. Only the last segment can end in a torn tail (see the decision
//! table on `segment::read_segment`: an incomplete record, or a checksum mismatch that no valid
//! record follows); it is truncated with a warning and the truncation synced. Anything else
//! wrong is [`WalError::Corrupt`] with the file and offset. I/O errors are [`WalError::Io`],
//! never taken for corruption.
//!
//! One more tail is cut: a snapshot marker whose index is above the last recorded commit index.
//! A snapshot from the leader is persisted as its marker followed, in the same write, by the
//! `Ready`'s entries and hard state, whose commit is at least the snapshot's index
//! ([`Wal::save_installed_snapshot`]). If a crash tore that write after the marker, the marker
//! and whatever follows it are the unfinished rest of that install and are cut like a torn tail
//! (etcd likewise ignores snapshot records above the committed hard state). One write matters:
//! with the marker and the hard state written separately, a segment could start between them,
//! and a crash that kept the new segment but not the hard state would strand the marker before
//! the tail. A local snapshot never trips this: its index is at most the applied
//! index, whose commit was written before, and the marker's sync makes that durable too. Such
//! a marker anywhere but the last segment's tail is corruption.
//!
//! The records are then replayed into the log as last persisted (the rules are the table in
//! `replay`), and [`Wal::open`] returns the hard state and the entries after the snapshot the
//! caller restarts from.
//!
//! # Sharing the disk
//!
//! A [`Wal`] does not own its [`Disk`]: each call takes `&mut D`. The node driver owns one disk
//! and lends it in turn to the WAL and the [`crate::snapshotter::Snapshotter`], which keep
//! their files apart by name (`wal-*` and `snapshot-*`). No `Rc<RefCell<_>>`, no lock, and the
//! simulator can keep the disk where it likes. Passing a different disk to the same `Wal` is a
//! caller bug the WAL cannot detect.
//!
//! # The node driver's order of writes
//!
//! For each `Ready`:
//!
//! 1. If it has a snapshot: [`crate::snapshotter::Snapshotter::save`] it, then
//!    [`Wal::save_installed_snapshot`] its marker, entries and hard state (synced).
//! 2. Otherwise [`Wal::save`] its hard state and entries, with its `must_sync`.
//! 3. Only then send messages and apply.
//!
//! For a local compaction at applied index `i`: save the snapshot file, then
//! [`Wal::save_snapshot_marker`], then [`Wal::release_to`] an index whose snapshot file is kept.
//!
//! To restart: [`Wal::usable_snapshots`], then load the newest usable snapshot file, then
//! [`Wal::open`] with its marker.

mod record;
mod replay;
mod segment;

use std::io;

use raft::codec::CodecError;
use raft::{Entry, HardState, Index, Term};
use serde::{Deserialize, Serialize};

pub use record::RECORD_PAYLOAD_SIZE_BYTES_MAX;

/// What one record of a WAL write holds, as [`inspect_write`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordSummary {
    /// Entries with indexes `first..=last`.
    Entries {
        /// The first entry's index.
        first: Index,
        /// The last entry's index.
        last: Index,
    },
    /// A hard state.
    HardState(HardState),
    /// A snapshot marker.
    SnapshotMarker(SnapshotMarker),
}

/// The records in `bytes`, one write's worth of a WAL segment (a segment header at its start
/// is skipped), for tools that watch what a node writes, such as the simulator's check that
/// nothing a node promises is still unsynced. Reads whole valid records from the start and
/// stops at the first byte that is not one; never fails.
pub fn inspect_write(bytes: &[u8]) -> Vec<RecordSummary> {
    let mut offset = if bytes.starts_with(&segment::SEGMENT_MAGIC) {
        SEGMENT_HEADER_SIZE_BYTES
    } else {
        0
    };
    let mut records = Vec::new();
    while let Ok((record, end)) = record::read_record(bytes, offset) {
        records.push(match record {
            Record::Entries(entries) => RecordSummary::Entries {
                first: entries.first().map_or(0, |entry| entry.index),
                last: entries.last().map_or(0, |entry| entry.index),
            },
            Record::HardState(hard_state) => RecordSummary::HardState(hard_state),
            Record::SnapshotMarker { marker, .. } => RecordSummary::SnapshotMarker(marker),
        });
        offset = end;
    }
    records
}

use crate::disk::Disk;
use record::{encode_entries, encode_hard_state, encode_marker, Record};
use replay::{KnownMarker, LocatedRecord, ReplayedLog};
use segment::{check_header, read_segment, SegmentId, SEGMENT_HEADER_SIZE_BYTES};

/// The (index, term) a snapshot was taken at, as the WAL records it. Index zero means "no
/// snapshot": the log from its first entry.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord,
)]
pub struct SnapshotMarker {
    /// The last log index the snapshot covers.
    pub index: Index,
    /// The term of the entry at `index`.
    pub term: Term,
}

impl SnapshotMarker {
    /// The marker of a snapshot's metadata.
    pub fn of(metadata: &raft::SnapshotMetadata) -> SnapshotMarker {
        SnapshotMarker {
            index: metadata.index,
            term: metadata.term,
        }
    }
}

/// Where a snapshot came from, which decides what it does to the log on replay.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapshotSource {
    /// Taken by this node of its own applied state (log compaction): the log is unchanged, the
    /// entries after the snapshot stay.
    Local,
    /// Sent by the leader and installed from a `Ready`: Raft discarded this node's log (Raft
    /// §7), so on replay the entries before this marker are dropped, even those above its
    /// index.
    Leader,
}

/// Settings of a [`Wal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// A segment that has reached this size is closed before the next write, which goes to a
    /// new segment. A single write is never split, so a segment may exceed it by one write.
    pub segment_size_bytes_limit: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            segment_size_bytes_limit: 64 << 20,
        }
    }
}

/// What [`Wal::open`] recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The snapshot the log restarts from (index zero: none).
    pub snapshot: SnapshotMarker,
    /// The last hard state recorded; empty if none was.
    pub hard_state: HardState,
    /// The entries after `snapshot.index`, consecutive from `snapshot.index + 1`.
    pub entries: Vec<Entry>,
    /// Whether a torn tail was cut off the last segment.
    pub tail_cut: bool,
}

/// What is wrong with a WAL's bytes. Always reported with the file and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The file is shorter than a segment header.
    #[error("segment header incomplete: the file has {length} bytes")]
    SegmentHeaderIncomplete {
        /// The file's length.
        length: u64,
    },
    /// The segment header's checksum does not match.
    #[error("segment header checksum mismatch")]
    SegmentHeaderChecksumMismatch,
    /// The file does not start with the segment magic.
    #[error("not a WAL segment: magic mismatch")]
    SegmentMagicMismatch,
    /// The segment was written by a format this build does not read.
    #[error("unsupported segment format version {version}")]
    SegmentVersionUnsupported {
        /// The version found.
        version: u32,
    },
    /// The header names a different segment than the file name.
    #[error("segment header says sequence {sequence}, first index {first_index}, unlike its name")]
    SegmentHeaderNameMismatch {
        /// The sequence in the header.
        sequence: u64,
        /// The first index in the header.
        first_index: Index,
    },
    /// A segment is missing from the chain.
    #[error("segment sequence gap: expected {expected}, found {found}")]
    SegmentSequenceGap {
        /// The sequence number that should come next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A segment other than the last ends inside a record.
    #[error("incomplete record before the last segment")]
    RecordIncomplete,
    /// A record header's checksum does not match.
    #[error("record header checksum mismatch")]
    RecordHeaderChecksumMismatch,
    /// A record payload's checksum does not match.
    #[error("record payload checksum mismatch")]
    RecordPayloadChecksumMismatch,
    /// A record claims a payload longer than the maximum.
    #[error("record payload length {length} exceeds the maximum {RECORD_PAYLOAD_SIZE_BYTES_MAX}")]
    RecordPayloadTooLarge {
        /// The claimed length.
        length: u64,
    },
    /// A record type this build does not know.
    #[error("unknown record type {record_type}")]
    RecordTypeUnknown {
        /// The type byte.
        record_type: u8,
    },
    /// The reserved header bytes are not zero.
    #[error("reserved record header bytes are not zero")]
    RecordReservedNotZero,
    /// The payload does not decode as its type.
    #[error("payload does not decode: {0}")]
    Undecodable(CodecError),
    /// An entries record with no entries.
    #[error("entries record with no entries")]
    EntriesEmpty,
    /// An entry with index zero.
    #[error("entry with index zero")]
    EntryIndexZero,
    /// Entries in one record do not have consecutive indices.
    #[error("entries not contiguous: expected index {expected}, found {found}")]
    EntriesNotContiguous {
        /// The index that should come next.
        expected: Index,
        /// The one found.
        found: Index,
    },
    /// An entry's term is lower than the entry before it.
    #[error("entry {index} has term {term}, below the previous term {previous_term}")]
    EntryTermDecreases {
        /// The entry.
        index: Index,
        /// Its term.
        term: Term,
        /// The previous entry's term.
        previous_term: Term,
    },
    /// Entries start past the end of the log replayed so far.
    #[error("entries gap: the log continues at {expected}, the record starts at {found}")]
    EntriesGap {
        /// The next index of the log.
        expected: Index,
        /// The record's first index.
        found: Index,
    },
    /// A snapshot marker with index zero.
    #[error("snapshot marker with index zero")]
    SnapshotMarkerIndexZero,
    /// A snapshot marker above the final commit index that is not part of the last segment's
    /// tail.
    #[error("snapshot marker at index {index} is above the final commit index {commit} but not at the tail")]
    SnapshotMarkerUncommitted {
        /// The marker's index.
        index: Index,
        /// The last recorded commit index.
        commit: Index,
    },
}

/// Why a WAL operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    /// The disk failed; the file is empty for operations on the directory.
    #[error("I/O error on {file:?}: {message}")]
    Io {
        /// The file involved.
        file: String,
        /// The error's kind.
        kind: io::ErrorKind,
        /// The error's text.
        message: String,
    },
    /// Bad bytes that are not a torn tail.
    #[error("WAL corrupt in {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        file: String,
        /// Where the bad record or header starts.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// [`Wal::open`] found no segment.
    #[error("no WAL segment on the disk")]
    NoSegments,
    /// [`Wal::create`] found a segment already.
    #[error("a WAL already exists: {file}")]
    AlreadyExists {
        /// A segment found.
        file: String,
    },
    /// The requested snapshot has no marker in the WAL.
    #[error("no marker for snapshot {snapshot:?} in the WAL")]
    SnapshotNotFound {
        /// The snapshot asked for.
        snapshot: SnapshotMarker,
    },
    /// The WAL has a marker at the snapshot's index with another term.
    #[error("snapshot {snapshot:?} does not match the WAL's marker term {found_term}")]
    SnapshotTermMismatch {
        /// The snapshot asked for.
        snapshot: SnapshotMarker,
        /// The term the WAL recorded at that index.
        found_term: Term,
    },
    /// The WAL no longer holds every entry after the snapshot.
    #[error(
        "entries after snapshot {snapshot:?} are missing: the log resumes at {first_available}"
    )]
    EntriesMissing {
        /// The snapshot asked for.
        snapshot: SnapshotMarker,
        /// The first index the WAL has after it.
        first_available: Index,
    },
    /// The recorded commit index is past the last entry recovered.
    #[error("hard state commit {commit} is beyond the last recovered index {last_index}")]
    CommitBeyondLog {
        /// The commit index.
        commit: Index,
        /// The last index recovered.
        last_index: Index,
    },
    /// One entry is too large for a record.
    #[error("entry {index} of {size_bytes} bytes does not fit in a record")]
    EntryTooLarge {
        /// The entry.
        index: Index,
        /// Its data size.
        size_bytes: usize,
    },
    /// An earlier write or sync failed, so what is on disk is unknown; the WAL refuses further
    /// writes until it is reopened (recovery decides what survived).
    #[error("an earlier write failed; reopen the WAL")]
    Poisoned,
}

fn io_error(file: &str, error: io::Error) -> WalError {
    WalError::Io {
        file: file.to_string(),
        kind: error.kind(),
        message: error.to_string(),
    }
}

/// Everything read from the segments, before replay.
struct Scan {
    /// Segments, oldest first.
    segments: Vec<SegmentId>,
    /// Valid records in order, without any tail to cut.
    records: Vec<LocatedRecord>,
    /// The length of the last segment once its tail is cut.
    last_segment_length: u64,
    /// Set when the last segment must be cut to `last_segment_length`, with the reason.
    tail_cut: Option<String>,
}

/// Lists the segments in sequence order; temporary files and other names are left out.
fn list_segments<D: Disk>(disk: &mut D) -> Result<(Vec<SegmentId>, Vec<String>), WalError> {
    let names = disk.list().map_err(|error| io_error("", error))?;
    let mut segments: Vec<SegmentId> = names
        .iter()
        .filter_map(|name| SegmentId::parse(name))
        .collect();
    segments.sort();
    let temporaries = names
        .into_iter()
        .filter(|name| SegmentId::is_temporary_name(name))
        .collect();
    Ok((segments, temporaries))
}

fn remove_temporaries<D: Disk>(disk: &mut D, temporaries: &[String]) -> Result<(), WalError> {
    for name in temporaries {
        tracing::warn!(file = %name, "removing a WAL segment left unfinished by a crash");
        disk.remove(name).map_err(|error| io_error(name, error))?;
    }
    if !temporaries.is_empty() {
        disk.sync_dir().map_err(|error| io_error("", error))?;
    }
    Ok(())
}

fn scan<D: Disk>(disk: &mut D) -> Result<Scan, WalError> {
    let (segments, _) = list_segments(disk)?;
    let Some(first) = segments.first() else {
        return Err(WalError::NoSegments);
    };
    for (position, segment) in segments.iter().enumerate() {
        let expected = first.sequence + position as u64;
        if segment.sequence != expected {
            return Err(WalError::Corrupt {
                file: segment.file_name(),
                offset: 0,
                reason: Corruption::SegmentSequenceGap {
                    expected,
                    found: segment.sequence,
                },
            });
        }
    }
    let mut records = Vec::new();
    let mut last_segment_length = 0;
    let mut tail_cut = None;
    for (position, segment) in segments.iter().enumerate() {
        let file = segment.file_name();
        let bytes = disk.read(&file).map_err(|error| io_error(&file, error))?;
        check_header(&bytes, *segment).map_err(|reason| WalError::Corrupt {
            file: file.clone(),
            offset: 0,
            reason,
        })?;
        let is_last = position + 1 == segments.len();
        let contents =
            read_segment(&bytes, is_last).map_err(|(offset, reason)| WalError::Corrupt {
                file: file.clone(),
                offset,
                reason,
            })?;
        if let Some(problem) = contents.torn_tail {
            tail_cut = Some(format!(
                "torn tail ({problem:?}): {} bytes after offset {}",
                bytes.len() as u64 - contents.valid_length,
                contents.valid_length
            ));
        }
        last_segment_length = contents.valid_length;
        records.extend(
            contents
                .records
                .into_iter()
                .map(|(offset, record)| LocatedRecord {
                    file: file.clone(),
                    sequence: segment.sequence,
                    offset,
                    record,
                }),
        );
    }
    let mut scan = Scan {
        segments,
        records,
        last_segment_length,
        tail_cut,
    };
    cut_unfinished_install(&mut scan)?;
    Ok(scan)
}

/// Cuts a snapshot marker above the final commit index, and everything after it, when it is in
/// the last segment; see "Recovery" in the module docs.
fn cut_unfinished_install(scan: &mut Scan) -> Result<(), WalError> {
    let commit = scan
        .records
        .iter()
        .rev()
        .find_map(|located| match located.record {
            Record::HardState(hard_state) => Some(hard_state.commit),
            Record::Entries(_) | Record::SnapshotMarker { .. } => None,
        })
        .unwrap_or(0);
    let uncommitted = scan
        .records
        .iter()
        .enumerate()
        .find_map(|(position, located)| match located.record {
            Record::SnapshotMarker { marker, .. } if marker.index > commit => {
                Some((position, marker))
            }
            Record::SnapshotMarker { .. } | Record::Entries(_) | Record::HardState(_) => None,
        });
    let Some((position, marker)) = uncommitted else {
        return Ok(());
    };
    let located = &scan.records[position];
    let last_sequence = scan.segments.last().map_or(0, |segment| segment.sequence);
    if located.sequence != last_sequence {
        return Err(WalError::Corrupt {
            file: located.file.clone(),
            offset: located.offset,
            reason: Corruption::SnapshotMarkerUncommitted {
                index: marker.index,
                commit,
            },
        });
    }
    scan.tail_cut = Some(format!(
        "unfinished snapshot install: marker {marker:?} above commit {commit}, {} records from offset {}",
        scan.records.len() - position,
        located.offset
    ));
    scan.last_segment_length = located.offset;
    scan.records.truncate(position);
    Ok(())
}

/// The largest write buffer [`Wal`] keeps for the next write.
const WRITE_BUFFER_KEPT_BYTES_MAX: usize = 1 << 20;

/// The write-ahead log of one node; see the module docs.
#[derive(Debug)]
pub struct Wal {
    config: WalConfig,
    /// Oldest first; records are appended to the last one. Never empty.
    segments: Vec<SegmentId>,
    /// The last segment's file name, kept so that the write path does not format it on every
    /// write. Invariant: equals `segments.last().file_name()`.
    active_file_name: String,
    /// The size of the last segment, header included.
    active_size_bytes: u64,
    /// True when the last segment has bytes not yet synced.
    active_unsynced: bool,
    /// The log's last index as persisted (or a higher bound): the next segment's first index
    /// is one more. Invariant: never below the true last index, or release could drop entries.
    last_index: Index,
    /// The last hard state written, carried into each new segment.
    hard_state: HardState,
    /// The markers in the kept segments, in the order written.
    markers: Vec<KnownMarker>,
    /// Set when a write failed; see [`WalError::Poisoned`].
    poisoned: bool,
    /// The records of one write are framed here; kept between writes so that its capacity is
    /// reused rather than grown again on every write.
    write_buffer: Vec<u8>,
}

impl Wal {
    /// True if the disk holds at least one WAL segment (then [`Wal::open`], else
    /// [`Wal::create`]).
    pub fn exists<D: Disk>(disk: &mut D) -> Result<bool, WalError> {
        Ok(!list_segments(disk)?.0.is_empty())
    }

    /// Starts a new, empty WAL: one segment whose first index is 1. Fails if a segment exists.
    pub fn create<D: Disk>(disk: &mut D, config: WalConfig) -> Result<Wal, WalError> {
        Wal::create_with_log(disk, config, &HardState::default(), &[])
    }

    /// Starts a new WAL that already holds `entries` (from index 1) and `hard_state`: the
    /// first segment is written whole under a temporary name and renamed into place, so a
    /// crash leaves either no WAL or one with all of them. A node's bootstrap configuration
    /// goes in this way; written after an empty [`Wal::create`], a crash in between would
    /// leave a WAL without it, and a node that restarts from that is a voter of nothing.
    pub fn create_with_log<D: Disk>(
        disk: &mut D,
        config: WalConfig,
        hard_state: &HardState,
        entries: &[Entry],
    ) -> Result<Wal, WalError> {
        if let Some(first) = entries.first() {
            if let Err(reason) = record::validate_entries(entries) {
                panic!("Wal::create_with_log given entries that are not a log: {reason}");
            }
            assert_eq!(
                first.index, 1,
                "Wal::create_with_log: a new log starts at index 1"
            );
        }
        let (segments, temporaries) = list_segments(disk)?;
        if let Some(segment) = segments.first() {
            return Err(WalError::AlreadyExists {
                file: segment.file_name(),
            });
        }
        remove_temporaries(disk, &temporaries)?;
        let first = SegmentId {
            sequence: 0,
            first_index: 1,
        };
        let size = write_new_segment(disk, first, entries, hard_state)?;
        Ok(Wal {
            config,
            segments: vec![first],
            active_file_name: first.file_name(),
            active_size_bytes: size,
            active_unsynced: false,
            last_index: entries.last().map_or(0, |entry| entry.index),
            hard_state: *hard_state,
            markers: Vec::new(),
            poisoned: false,
            write_buffer: Vec::new(),
        })
    }

    /// The snapshots the node can restart from, oldest first: every marker in the WAL whose
    /// following entries the WAL still holds in full, plus [`SnapshotMarker::default`] (no
    /// snapshot) when the WAL holds the log from index 1. Reads only; changes nothing.
    pub fn usable_snapshots<D: Disk>(disk: &mut D) -> Result<Vec<SnapshotMarker>, WalError> {
        let scan = scan(disk)?;
        let first_index = scan
            .segments
            .first()
            .map_or(1, |segment| segment.first_index);
        Ok(ReplayedLog::replay(first_index, &scan.records)?.usable_snapshots())
    }

    /// Opens an existing WAL to continue from `snapshot` (index zero: no snapshot), which
    /// should be the newest of [`Wal::usable_snapshots`] whose file loaded. Cuts a torn tail
    /// (durably) and returns the hard state and the entries after the snapshot.
    pub fn open<D: Disk>(
        disk: &mut D,
        config: WalConfig,
        snapshot: SnapshotMarker,
    ) -> Result<(Wal, Recovered), WalError> {
        let (_, temporaries) = list_segments(disk)?;
        remove_temporaries(disk, &temporaries)?;
        let scan = scan(disk)?;
        let first_index = scan
            .segments
            .first()
            .map_or(1, |segment| segment.first_index);
        let replayed = ReplayedLog::replay(first_index, &scan.records)?;
        let mut recovered = replayed.recover(snapshot)?;
        recovered.tail_cut = scan.tail_cut.is_some();
        let last = *scan
            .segments
            .last()
            .unwrap_or_else(|| unreachable!("scan returns at least one segment"));
        if let Some(reason) = &scan.tail_cut {
            let file = last.file_name();
            tracing::warn!(file = %file, length = scan.last_segment_length, %reason,
                "cutting the WAL's tail");
            disk.truncate(&file, scan.last_segment_length)
                .map_err(|error| io_error(&file, error))?;
            disk.sync(&file).map_err(|error| io_error(&file, error))?;
        }
        let last_index = recovered
            .entries
            .last()
            .map_or(recovered.snapshot.index, |entry| entry.index);
        let wal = Wal {
            config,
            active_file_name: last.file_name(),
            segments: scan.segments,
            active_size_bytes: scan.last_segment_length,
            active_unsynced: false,
            last_index,
            hard_state: replayed.hard_state,
            markers: replayed.markers,
            poisoned: false,
            write_buffer: Vec::new(),
        };
        Ok((wal, recovered))
    }

    /// Appends `entries` (consecutive; the first may overwrite earlier ones) and then
    /// `hard_state` (skipped when empty or unchanged), in one write, and syncs if `must_sync`
    /// (the `Ready`'s flag). Entries come first so that a torn write never keeps a commit index
    /// without the entries it covers; a changed term or vote is also written before them (with
    /// the old commit index), so that a torn write never keeps entries of a term without the
    /// term and the vote.
    pub fn save<D: Disk>(
        &mut self,
        disk: &mut D,
        hard_state: &HardState,
        entries: &[Entry],
        must_sync: bool,
    ) -> Result<(), WalError> {
        self.write_records(disk, None, hard_state, entries, must_sync)
    }

    /// Persists a `Ready` that carries a snapshot from the leader (its file must be durable
    /// already): the snapshot's marker, the `Ready`'s entries and its hard state, in one write,
    /// synced. One write puts the marker and the commit that covers it in the same segment, so
    /// a crash can only leave the marker as the last segment's unfinished tail, which recovery
    /// cuts (see "Recovery" in the module docs).
    ///
    /// # Panics
    ///
    /// If `hard_state.commit` is below the snapshot's index: raft commits an installed snapshot,
    /// and a WAL that recorded the marker without that commit could not be recovered.
    pub fn save_installed_snapshot<D: Disk>(
        &mut self,
        disk: &mut D,
        marker: SnapshotMarker,
        hard_state: &HardState,
        entries: &[Entry],
    ) -> Result<(), WalError> {
        assert!(
            hard_state.commit >= marker.index,
            "Wal::save_installed_snapshot: snapshot at {} but the hard state commits only {}",
            marker.index,
            hard_state.commit
        );
        self.write_records(
            disk,
            Some((marker, SnapshotSource::Leader)),
            hard_state,
            entries,
            true,
        )
    }

    /// The body of every write: an optional snapshot marker, then entries, then the hard
    /// state, as one append.
    fn write_records<D: Disk>(
        &mut self,
        disk: &mut D,
        marker: Option<(SnapshotMarker, SnapshotSource)>,
        hard_state: &HardState,
        entries: &[Entry],
        must_sync: bool,
    ) -> Result<(), WalError> {
        if let Some((marker, _)) = marker {
            assert!(
                marker.index > 0,
                "snapshot marker with index zero: {marker:?}"
            );
        }
        // An installed snapshot ends the log at its index.
        let log_end = match marker {
            Some((marker, SnapshotSource::Leader)) => marker.index,
            Some((_, SnapshotSource::Local)) | None => self.last_index,
        };
        if let Some(first) = entries.first() {
            // A gap or a broken run would be written faithfully and then refused by recovery
            // as corruption, so it is stopped here, where the bug is.
            if let Err(reason) = record::validate_entries(entries) {
                panic!("Wal::save given entries that are not a log: {reason}");
            }
            assert!(
                first.index <= log_end + 1,
                "Wal::save: entries start at {} but the log ends at {}",
                first.index,
                log_end
            );
        }
        let mut bytes = std::mem::take(&mut self.write_buffer);
        bytes.clear();
        let write_hard_state = !hard_state.is_empty() && *hard_state != self.hard_state;
        let term_or_vote_changed =
            hard_state.term != self.hard_state.term || hard_state.vote != self.hard_state.vote;
        if write_hard_state && term_or_vote_changed && !entries.is_empty() {
            // A new term and vote must not reach the disk after entries of that term: a torn
            // write that kept a new leader's first entry but lost its vote for itself would
            // restart it in its old term, free to vote for another candidate of the new term,
            // whose entry at the same index would then differ from the one it kept. So they go
            // first, with the commit index already written; the new commit index goes last,
            // after the entries it may cover.
            let term_and_vote = HardState {
                commit: self.hard_state.commit,
                ..*hard_state
            };
            encode_hard_state(&term_and_vote, &mut bytes);
        }
        if let Some((marker, source)) = marker {
            encode_marker(marker, source, &mut bytes);
        }
        encode_entries(entries, &mut bytes)
            .map_err(|(index, size_bytes)| WalError::EntryTooLarge { index, size_bytes })?;
        if write_hard_state {
            encode_hard_state(hard_state, &mut bytes);
        }
        self.guarded(|wal| {
            if !bytes.is_empty() {
                wal.append(disk, &bytes)?;
            }
            if must_sync {
                wal.sync(disk)?;
            }
            Ok(())
        })?;
        // A rare large write (a burst of big entries) does not pin its buffer.
        if bytes.capacity() <= WRITE_BUFFER_KEPT_BYTES_MAX {
            self.write_buffer = bytes;
        }
        if let Some((marker, source)) = marker {
            // After the append: it may have started a new segment.
            let sequence = self.active_segment().sequence;
            self.markers.push(KnownMarker {
                marker,
                source,
                sequence,
            });
            self.last_index = log_end;
        }
        if let Some(last) = entries.last() {
            self.last_index = last.index;
        }
        if write_hard_state {
            self.hard_state = *hard_state;
        }
        Ok(())
    }

    /// Records that a local snapshot at `marker` is saved (its file must be durable already),
    /// and syncs. A snapshot from the leader goes through [`Wal::save_installed_snapshot`].
    pub fn save_snapshot_marker<D: Disk>(
        &mut self,
        disk: &mut D,
        marker: SnapshotMarker,
    ) -> Result<(), WalError> {
        self.write_records(
            disk,
            Some((marker, SnapshotSource::Local)),
            &HardState::default(),
            &[],
            true,
        )
    }

    /// Removes the segments that restarting from the snapshot at `index` does not need, and
    /// returns how many went. A marker at `index` must have been saved (or recovered).
    ///
    /// Kept: the segment with the newest marker at `index` and, for a local snapshot, from the
    /// newest segment at or before it whose first index is at most `index + 1` (it holds every
    /// entry after `index`). Segments are removed oldest first, each removal synced before the
    /// next, so a crash leaves a chain without gaps. Older markers go with their segments, so
    /// older snapshots stop being usable: release to the oldest snapshot file you keep if you
    /// want to fall back to it.
    pub fn release_to<D: Disk>(&mut self, disk: &mut D, index: Index) -> Result<usize, WalError> {
        let known = *self
            .markers
            .iter()
            .rev()
            .find(|known| known.marker.index == index)
            .unwrap_or_else(|| {
                panic!(
                    "release_to({index}) without a saved snapshot marker at that index; markers: {:?}",
                    self.markers
                )
            });
        let marker_position = self
            .segments
            .iter()
            .position(|segment| segment.sequence == known.sequence)
            .unwrap_or_else(|| panic!("marker {known:?} in a segment no longer kept"));
        let keep_from = match known.source {
            SnapshotSource::Leader => Some(marker_position),
            SnapshotSource::Local => self.segments[..=marker_position]
                .iter()
                .rposition(|segment| segment.first_index <= index + 1),
        };
        let Some(keep_from) = keep_from else {
            return Ok(0);
        };
        for _ in 0..keep_from {
            let oldest = self.segments[0];
            self.guarded(|_| {
                let file = oldest.file_name();
                disk.remove(&file).map_err(|error| io_error(&file, error))?;
                disk.sync_dir().map_err(|error| io_error("", error))
            })?;
            self.segments.remove(0);
        }
        let oldest_sequence = self.segments[0].sequence;
        self.markers
            .retain(|known| known.sequence >= oldest_sequence);
        Ok(keep_from)
    }

    /// The first index of the oldest kept segment: every entry at or above it that the log
    /// holds is in the WAL.
    pub fn oldest_first_index(&self) -> Index {
        self.segments[0].first_index
    }

    /// The log's last index as the WAL knows it.
    pub fn last_index(&self) -> Index {
        self.last_index
    }

    /// The last hard state written or recovered.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// How many segment files the WAL has.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn active_segment(&self) -> SegmentId {
        *self
            .segments
            .last()
            .unwrap_or_else(|| unreachable!("a Wal always has a segment"))
    }

    /// Runs a write step, refusing if poisoned and poisoning on an I/O error.
    fn guarded<T>(
        &mut self,
        step: impl FnOnce(&mut Wal) -> Result<T, WalError>,
    ) -> Result<T, WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        let result = step(self);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Appends one write to the active segment, first moving to a new segment if the active
    /// one is full.
    fn append<D: Disk>(&mut self, disk: &mut D, bytes: &[u8]) -> Result<(), WalError> {
        if self.active_size_bytes >= self.config.segment_size_bytes_limit {
            self.rotate(disk)?;
        }
        self.active_unsynced = true;
        let file = &self.active_file_name;
        debug_assert_eq!(*file, self.active_segment().file_name());
        disk.append(file, bytes)
            .map_err(|error| io_error(file, error))?;
        self.active_size_bytes += bytes.len() as u64;
        Ok(())
    }

    fn sync<D: Disk>(&mut self, disk: &mut D) -> Result<(), WalError> {
        if self.active_unsynced {
            let file = &self.active_file_name;
            disk.sync(file).map_err(|error| io_error(file, error))?;
            self.active_unsynced = false;
        }
        Ok(())
    }

    /// Closes the active segment and starts the next. The old one is synced first: only the
    /// last segment may hold unsynced bytes, which is what lets recovery treat damage anywhere
    /// else as corruption.
    fn rotate<D: Disk>(&mut self, disk: &mut D) -> Result<(), WalError> {
        self.sync(disk)?;
        let next = SegmentId {
            sequence: self.active_segment().sequence + 1,
            first_index: self.last_index + 1,
        };
        self.active_size_bytes = write_new_segment(disk, next, &[], &self.hard_state)?;
        self.segments.push(next);
        self.active_file_name = next.file_name();
        Ok(())
    }
}

/// Writes a whole new segment under a temporary name, syncs it, renames it into place and
/// syncs the directory. Returns its size.
fn write_new_segment<D: Disk>(
    disk: &mut D,
    segment: SegmentId,
    entries: &[Entry],
    hard_state: &HardState,
) -> Result<u64, WalError> {
    let mut bytes = segment.header().to_vec();
    debug_assert_eq!(bytes.len(), SEGMENT_HEADER_SIZE_BYTES);
    // Entries before the hard state, whose commit index may cover them.
    encode_entries(entries, &mut bytes)
        .map_err(|(index, size_bytes)| WalError::EntryTooLarge { index, size_bytes })?;
    if !hard_state.is_empty() {
        encode_hard_state(hard_state, &mut bytes);
    }
    let temporary = segment.temporary_file_name();
    let file = segment.file_name();
    let at = |name: &str| {
        let name = name.to_string();
        move |error| io_error(&name, error)
    };
    disk.create(&temporary).map_err(at(&temporary))?;
    disk.append(&temporary, &bytes).map_err(at(&temporary))?;
    disk.sync(&temporary).map_err(at(&temporary))?;
    disk.rename(&temporary, &file).map_err(at(&file))?;
    disk.sync_dir().map_err(at(""))?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests;
