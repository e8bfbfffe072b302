//! Snapshot files: each one self-checking, written atomically, the newest few kept.
//!
//! # Files
//!
//! `snapshot-<index>-<term>.snap` (16 hex digits each, so names sort by index), written as
//! `<name>.tmp`, synced, renamed into place, and the directory synced. A crash before the
//! rename leaves a `.tmp` file that [`Snapshotter::load_newest`] ignores and removes.
//!
//! File layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `KVSNAPSH` |
//! | 8 | 4 | format version, 1 |
//! | 12 | 8 | snapshot index, as in the name |
//! | 20 | 8 | snapshot term, as in the name |
//! | 28 | 8 | payload length: exactly the rest of the file |
//! | 36 | 4 | CRC32 of the payload |
//! | 40 | 4 | CRC32 of bytes 0..40 |
//! | 44 | length | `raft::Snapshot` encoded with `raft::codec`; its metadata repeats index and term |
//!
//! # Which snapshot to load
//!
//! A snapshot file is usable only if the WAL has its marker and every entry after it, which
//! [`crate::wal::Wal::usable_snapshots`] computes. A file newer than any marker is an orphan (the
//! crash came between writing it and recording its marker) and is skipped, as etcd's
//! `LoadNewestAvailable` does. Among usable files, the newest valid one is loaded; a corrupt one
//! is passed over for an older usable one (the WAL covers the gap, so nothing is lost), and if
//! none is left the error names the newest corrupt file. An I/O error is returned as such and
//! never causes a fall-back.

use std::io;

use raft::codec::{self, CodecError};
use raft::{Index, Snapshot, Term};

use crate::disk::Disk;
use crate::wal::SnapshotMarker;

/// The magic at the start of every snapshot file.
const SNAPSHOT_MAGIC: [u8; 8] = *b"KVSNAPSH";
/// The file format this build writes and reads.
const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Bytes before the payload.
const SNAPSHOT_HEADER_SIZE_BYTES: usize = 44;
const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = 8;
const INDEX_OFFSET: usize = 12;
const TERM_OFFSET: usize = 20;
const LENGTH_OFFSET: usize = 28;
const PAYLOAD_CHECKSUM_OFFSET: usize = 36;
const HEADER_CHECKSUM_OFFSET: usize = 40;

const NAME_PREFIX: &str = "snapshot-";
const NAME_SUFFIX: &str = ".snap";
const TEMPORARY_SUFFIX: &str = ".tmp";
const NAME_NUMBER_DIGITS: usize = 16;

/// Settings of a [`Snapshotter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotterConfig {
    /// How many snapshot files [`Snapshotter::retain`] keeps, newest first. At least one.
    pub kept_count: usize,
}

impl Default for SnapshotterConfig {
    fn default() -> SnapshotterConfig {
        SnapshotterConfig { kept_count: 3 }
    }
}

/// What is wrong with a snapshot file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotCorruption {
    /// The file is shorter than the header.
    #[error("header incomplete: the file has {length} bytes")]
    HeaderIncomplete {
        /// The file's length.
        length: u64,
    },
    /// The header checksum does not match.
    #[error("header checksum mismatch")]
    HeaderChecksumMismatch,
    /// The file does not start with the magic.
    #[error("not a snapshot file: magic mismatch")]
    MagicMismatch,
    /// A format this build does not read.
    #[error("unsupported snapshot format version {version}")]
    VersionUnsupported {
        /// The version found.
        version: u32,
    },
    /// Index or term in the header differ from the name's.
    #[error("header says index {index}, term {term}, unlike the file name")]
    HeaderNameMismatch {
        /// The index in the header.
        index: Index,
        /// The term in the header.
        term: Term,
    },
    /// The declared payload length is not the rest of the file.
    #[error("payload length {declared} but {actual} bytes follow the header")]
    LengthMismatch {
        /// The length in the header.
        declared: u64,
        /// The bytes actually there.
        actual: u64,
    },
    /// The payload checksum does not match.
    #[error("payload checksum mismatch")]
    PayloadChecksumMismatch,
    /// The payload does not decode.
    #[error("payload does not decode: {0}")]
    Undecodable(CodecError),
    /// The decoded metadata differ from the header.
    #[error("snapshot metadata say index {index}, term {term}, unlike the header")]
    MetadataMismatch {
        /// The index in the metadata.
        index: Index,
        /// The term in the metadata.
        term: Term,
    },
}

/// Why a snapshot operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
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
    /// The newest usable snapshot file is damaged and no older usable one is valid.
    #[error("snapshot file {file} is corrupt and no older usable snapshot is valid: {reason}")]
    Corrupt {
        /// The newest corrupt usable file.
        file: String,
        /// What is wrong with it.
        reason: SnapshotCorruption,
    },
    /// No snapshot file matches a usable marker, and the WAL does not hold the log from its
    /// start either.
    #[error("no snapshot file for any usable marker {usable:?}")]
    NoUsableSnapshot {
        /// The markers the WAL offered.
        usable: Vec<SnapshotMarker>,
    },
}

fn io_error(file: &str, error: io::Error) -> SnapshotError {
    SnapshotError::Io {
        file: file.to_string(),
        kind: error.kind(),
        message: error.to_string(),
    }
}

/// The file name of the snapshot at `marker`.
pub fn snapshot_file_name(marker: SnapshotMarker) -> String {
    format!(
        "{NAME_PREFIX}{:016x}-{:016x}{NAME_SUFFIX}",
        marker.index, marker.term
    )
}

fn parse_hex(digits: &str) -> Option<u64> {
    if digits.len() != NAME_NUMBER_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Parses a name made by [`snapshot_file_name`]; `None` for any other name.
fn parse_file_name(name: &str) -> Option<SnapshotMarker> {
    let numbers = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    let (index, term) = numbers.split_once('-')?;
    Some(SnapshotMarker {
        index: parse_hex(index)?,
        term: parse_hex(term)?,
    })
}

fn is_temporary_name(name: &str) -> bool {
    name.strip_suffix(TEMPORARY_SUFFIX)
        .and_then(parse_file_name)
        .is_some()
}

/// The bytes of a snapshot file.
pub fn encode_snapshot_file(snapshot: &Snapshot) -> Vec<u8> {
    let payload = codec::encode(snapshot);
    let mut bytes = Vec::with_capacity(SNAPSHOT_HEADER_SIZE_BYTES + payload.len());
    bytes.extend_from_slice(&SNAPSHOT_MAGIC);
    bytes.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&snapshot.metadata.index.to_le_bytes());
    bytes.extend_from_slice(&snapshot.metadata.term.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    let header_checksum = crc32fast::hash(&bytes[..HEADER_CHECKSUM_OFFSET]);
    bytes.extend_from_slice(&header_checksum.to_le_bytes());
    debug_assert_eq!(bytes.len(), SNAPSHOT_HEADER_SIZE_BYTES);
    bytes.extend_from_slice(&payload);
    bytes
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

/// Decodes a snapshot file whose name says `expected`, checking every field.
pub fn decode_snapshot_file(
    bytes: &[u8],
    expected: SnapshotMarker,
) -> Result<Snapshot, SnapshotCorruption> {
    let header =
        bytes
            .get(..SNAPSHOT_HEADER_SIZE_BYTES)
            .ok_or(SnapshotCorruption::HeaderIncomplete {
                length: bytes.len() as u64,
            })?;
    if crc32fast::hash(&header[..HEADER_CHECKSUM_OFFSET]) != u32_at(header, HEADER_CHECKSUM_OFFSET)
    {
        return Err(SnapshotCorruption::HeaderChecksumMismatch);
    }
    if header[MAGIC_OFFSET..VERSION_OFFSET] != SNAPSHOT_MAGIC {
        return Err(SnapshotCorruption::MagicMismatch);
    }
    let version = u32_at(header, VERSION_OFFSET);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotCorruption::VersionUnsupported { version });
    }
    let stored = SnapshotMarker {
        index: u64_at(header, INDEX_OFFSET),
        term: u64_at(header, TERM_OFFSET),
    };
    if stored != expected {
        return Err(SnapshotCorruption::HeaderNameMismatch {
            index: stored.index,
            term: stored.term,
        });
    }
    let declared = u64_at(header, LENGTH_OFFSET);
    let payload = &bytes[SNAPSHOT_HEADER_SIZE_BYTES..];
    if declared != payload.len() as u64 {
        return Err(SnapshotCorruption::LengthMismatch {
            declared,
            actual: payload.len() as u64,
        });
    }
    if crc32fast::hash(payload) != u32_at(header, PAYLOAD_CHECKSUM_OFFSET) {
        return Err(SnapshotCorruption::PayloadChecksumMismatch);
    }
    let snapshot: Snapshot = codec::decode(payload).map_err(SnapshotCorruption::Undecodable)?;
    if SnapshotMarker::of(&snapshot.metadata) != expected {
        return Err(SnapshotCorruption::MetadataMismatch {
            index: snapshot.metadata.index,
            term: snapshot.metadata.term,
        });
    }
    Ok(snapshot)
}

/// Saves and loads snapshot files on a [`Disk`] it borrows per call, like the WAL (see
/// "Sharing the disk" in [`crate::wal`]).
#[derive(Debug, Clone)]
pub struct Snapshotter {
    config: SnapshotterConfig,
}

impl Snapshotter {
    /// A snapshotter with these settings.
    pub fn new(config: SnapshotterConfig) -> Snapshotter {
        assert!(
            config.kept_count >= 1,
            "kept_count must be at least 1: {config:?}"
        );
        Snapshotter { config }
    }

    /// Writes `snapshot` durably: temporary file, sync, rename, directory sync. When this
    /// returns, the file survives a crash; only then may its WAL marker be written.
    pub fn save<D: Disk>(&self, disk: &mut D, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let marker = SnapshotMarker::of(&snapshot.metadata);
        assert!(
            marker.index > 0,
            "saving a snapshot with index zero: {marker:?}"
        );
        let file = snapshot_file_name(marker);
        let temporary = format!("{file}{TEMPORARY_SUFFIX}");
        let bytes = encode_snapshot_file(snapshot);
        let at = |name: &str| {
            let name = name.to_string();
            move |error| io_error(&name, error)
        };
        disk.create(&temporary).map_err(at(&temporary))?;
        disk.append(&temporary, &bytes).map_err(at(&temporary))?;
        disk.sync(&temporary).map_err(at(&temporary))?;
        disk.rename(&temporary, &file).map_err(at(&file))?;
        disk.sync_dir().map_err(at(""))?;
        Ok(())
    }

    /// The snapshot files on the disk (by name; not read), oldest first.
    pub fn list<D: Disk>(&self, disk: &mut D) -> Result<Vec<SnapshotMarker>, SnapshotError> {
        let names = disk.list().map_err(|error| io_error("", error))?;
        let mut markers: Vec<SnapshotMarker> = names
            .iter()
            .filter_map(|name| parse_file_name(name))
            .collect();
        markers.sort();
        Ok(markers)
    }

    /// Removes all but the newest [`SnapshotterConfig::kept_count`] snapshot files and returns
    /// how many went. Call it after the newest snapshot's WAL marker is saved, so that an
    /// orphan never displaces a usable snapshot.
    pub fn retain<D: Disk>(&self, disk: &mut D) -> Result<usize, SnapshotError> {
        let markers = self.list(disk)?;
        let surplus = markers.len().saturating_sub(self.config.kept_count);
        for marker in &markers[..surplus] {
            let file = snapshot_file_name(*marker);
            disk.remove(&file).map_err(|error| io_error(&file, error))?;
        }
        if surplus > 0 {
            disk.sync_dir().map_err(|error| io_error("", error))?;
        }
        Ok(surplus)
    }

    /// Loads the newest valid snapshot among `usable` (from
    /// [`crate::wal::Wal::usable_snapshots`]); see the module docs for the rules. `Ok(None)`
    /// means "start from an empty state", allowed only when `usable` contains the empty marker
    /// (the WAL holds the log from index 1). Removes leftover temporary files first.
    pub fn load_newest<D: Disk>(
        &self,
        disk: &mut D,
        usable: &[SnapshotMarker],
    ) -> Result<Option<Snapshot>, SnapshotError> {
        self.remove_temporaries(disk)?;
        let mut newest_corrupt: Option<(String, SnapshotCorruption)> = None;
        for marker in self.list(disk)?.into_iter().rev() {
            let file = snapshot_file_name(marker);
            if !usable.contains(&marker) {
                tracing::debug!(file = %file, "skipping a snapshot file the WAL cannot restart from");
                continue;
            }
            let bytes = disk.read(&file).map_err(|error| io_error(&file, error))?;
            match decode_snapshot_file(&bytes, marker) {
                Ok(snapshot) => {
                    if let Some((corrupt, reason)) = &newest_corrupt {
                        tracing::warn!(corrupt = %corrupt, %reason, loaded = %file,
                            "fell back to an older snapshot; the WAL covers the gap");
                    }
                    return Ok(Some(snapshot));
                }
                Err(reason) => {
                    tracing::warn!(file = %file, %reason, "corrupt snapshot file");
                    newest_corrupt.get_or_insert((file, reason));
                }
            }
        }
        if usable.contains(&SnapshotMarker::default()) {
            if let Some((corrupt, reason)) = &newest_corrupt {
                tracing::warn!(corrupt = %corrupt, %reason,
                    "fell back to the empty state; the WAL holds the whole log");
            }
            return Ok(None);
        }
        match newest_corrupt {
            Some((file, reason)) => Err(SnapshotError::Corrupt { file, reason }),
            None => Err(SnapshotError::NoUsableSnapshot {
                usable: usable.to_vec(),
            }),
        }
    }

    fn remove_temporaries<D: Disk>(&self, disk: &mut D) -> Result<(), SnapshotError> {
        let names = disk.list().map_err(|error| io_error("", error))?;
        let temporaries: Vec<&String> = names
            .iter()
            .filter(|name| is_temporary_name(name))
            .collect();
        for name in &temporaries {
            tracing::warn!(file = %name, "removing a snapshot file left unfinished by a crash");
            disk.remove(name).map_err(|error| io_error(name, error))?;
        }
        if !temporaries.is_empty() {
            disk.sync_dir().map_err(|error| io_error("", error))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_disk::MemDisk;
    use raft::{ConfState, SnapshotMetadata};

    fn snapshot(index: Index, term: Term) -> Snapshot {
        Snapshot {
            data: format!("state at {index}").into_bytes(),
            metadata: SnapshotMetadata {
                conf_state: ConfState::with_voters([1, 2, 3]),
                index,
                term,
            },
        }
    }

    fn marker(index: Index, term: Term) -> SnapshotMarker {
        SnapshotMarker { index, term }
    }

    fn snapshotter() -> Snapshotter {
        Snapshotter::new(SnapshotterConfig { kept_count: 2 })
    }

    fn damage(disk: &mut MemDisk, name: &str, offset: usize) {
        let mut bytes = disk.contents(name).expect("file").to_vec();
        bytes[offset] ^= 0x01;
        disk.put_durable(name, &bytes);
    }

    #[test]
    fn a_saved_snapshot_loads_back_after_a_crash() -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        snapshotter.save(&mut disk, &snapshot(9, 2))?;
        disk.crash();
        let usable = [marker(5, 1), marker(9, 2)];
        assert_eq!(
            snapshotter.load_newest(&mut disk, &usable)?,
            Some(snapshot(9, 2))
        );
        assert_eq!(snapshotter.list(&mut disk)?, usable.to_vec());
        Ok(())
    }

    #[test]
    fn a_crash_anywhere_in_a_save_leaves_the_old_or_the_new_snapshot() -> Result<(), SnapshotError>
    {
        let snapshotter = snapshotter();
        for budget in 0.. {
            let mut disk = MemDisk::new();
            snapshotter.save(&mut disk, &snapshot(5, 1))?;
            disk.set_operation_budget(Some(budget));
            let finished = snapshotter.save(&mut disk, &snapshot(9, 2)).is_ok();
            disk.crash();
            let usable = [marker(5, 1), marker(9, 2)];
            let loaded = snapshotter.load_newest(&mut disk, &usable)?;
            if finished {
                assert_eq!(loaded, Some(snapshot(9, 2)), "budget {budget}");
            } else {
                assert!(
                    loaded == Some(snapshot(5, 1)) || loaded == Some(snapshot(9, 2)),
                    "budget {budget}: loaded {loaded:?}"
                );
            }
            disk.crash();
            let names = disk.list().expect("list");
            assert!(
                names.iter().all(|name| !name.ends_with(TEMPORARY_SUFFIX)),
                "budget {budget}: temporary file left: {names:?}"
            );
            if finished {
                assert!(budget >= 5, "a save takes five operations");
                return Ok(());
            }
        }
        Ok(())
    }

    #[test]
    fn a_leftover_temporary_file_is_ignored_and_removed() -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        let leftover = format!("{}{TEMPORARY_SUFFIX}", snapshot_file_name(marker(9, 2)));
        disk.put_durable(&leftover, b"the first half of a snapshot");
        let usable = [marker(5, 1), marker(9, 2)];
        assert_eq!(
            snapshotter.load_newest(&mut disk, &usable)?,
            Some(snapshot(5, 1))
        );
        disk.crash();
        assert_eq!(disk.contents(&leftover), None);
        Ok(())
    }

    #[test]
    fn a_corrupt_newest_snapshot_falls_back_when_the_wal_covers_the_gap(
    ) -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        snapshotter.save(&mut disk, &snapshot(9, 2))?;
        damage(&mut disk, &snapshot_file_name(marker(9, 2)), 50);
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[marker(5, 1), marker(9, 2)])?,
            Some(snapshot(5, 1))
        );
        // The WAL holds the whole log: the empty state is a fine place to start as well.
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[SnapshotMarker::default(), marker(9, 2)])?,
            None
        );
        Ok(())
    }

    #[test]
    fn a_corrupt_newest_snapshot_without_wal_coverage_is_an_error_naming_it(
    ) -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        snapshotter.save(&mut disk, &snapshot(9, 2))?;
        let newest = snapshot_file_name(marker(9, 2));
        damage(&mut disk, &newest, 50);
        // The WAL was released past the older snapshot: only the newest is usable.
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[marker(9, 2)]),
            Err(SnapshotError::Corrupt {
                file: newest,
                reason: SnapshotCorruption::PayloadChecksumMismatch
            })
        );
        Ok(())
    }

    #[test]
    fn an_orphan_newer_than_every_marker_is_skipped() -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        snapshotter.save(&mut disk, &snapshot(9, 2))?;
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[marker(5, 1)])?,
            Some(snapshot(5, 1))
        );
        Ok(())
    }

    #[test]
    fn without_a_usable_file_or_a_whole_log_loading_fails() {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[marker(5, 1)]),
            Err(SnapshotError::NoUsableSnapshot {
                usable: vec![marker(5, 1)]
            })
        );
        assert_eq!(
            snapshotter.load_newest(&mut disk, &[SnapshotMarker::default()]),
            Ok(None)
        );
    }

    #[test]
    fn a_read_error_is_reported_and_never_causes_a_fall_back() -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        snapshotter.save(&mut disk, &snapshot(5, 1))?;
        snapshotter.save(&mut disk, &snapshot(9, 2))?;
        let newest = snapshot_file_name(marker(9, 2));
        disk.set_read_failure(&newest, true);
        assert!(matches!(
            snapshotter.load_newest(&mut disk, &[marker(5, 1), marker(9, 2)]),
            Err(SnapshotError::Io { ref file, .. }) if *file == newest
        ));
        Ok(())
    }

    #[test]
    fn every_damaged_byte_and_every_truncation_is_detected() {
        let expected = marker(9, 2);
        let bytes = encode_snapshot_file(&snapshot(9, 2));
        assert_eq!(decode_snapshot_file(&bytes, expected), Ok(snapshot(9, 2)));
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x80;
            assert!(
                decode_snapshot_file(&damaged, expected).is_err(),
                "damage at {position} went unnoticed"
            );
        }
        for length in 0..bytes.len() {
            assert!(
                decode_snapshot_file(&bytes[..length], expected).is_err(),
                "a file cut to {length} bytes was accepted"
            );
        }
        assert_eq!(
            decode_snapshot_file(&bytes, marker(9, 3)),
            Err(SnapshotCorruption::HeaderNameMismatch { index: 9, term: 2 })
        );
    }

    #[test]
    fn metadata_must_agree_with_the_header() {
        // A header that is self-consistent but wraps a snapshot of another index.
        let mut bytes = encode_snapshot_file(&snapshot(4, 2));
        bytes[INDEX_OFFSET..TERM_OFFSET].copy_from_slice(&9u64.to_le_bytes());
        let checksum = crc32fast::hash(&bytes[..HEADER_CHECKSUM_OFFSET]);
        bytes[HEADER_CHECKSUM_OFFSET..SNAPSHOT_HEADER_SIZE_BYTES]
            .copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(
            decode_snapshot_file(&bytes, marker(9, 2)),
            Err(SnapshotCorruption::MetadataMismatch { index: 4, term: 2 })
        );
    }

    #[test]
    fn retain_keeps_the_newest_files() -> Result<(), SnapshotError> {
        let mut disk = MemDisk::new();
        let snapshotter = snapshotter();
        for (index, term) in [(3, 1), (5, 1), (9, 2), (12, 2)] {
            snapshotter.save(&mut disk, &snapshot(index, term))?;
        }
        disk.put_durable("wal-0000000000000000-0000000000000001.log", b"not mine");
        assert_eq!(snapshotter.retain(&mut disk)?, 2);
        disk.crash();
        assert_eq!(
            snapshotter.list(&mut disk)?,
            vec![marker(9, 2), marker(12, 2)]
        );
        assert!(disk
            .contents("wal-0000000000000000-0000000000000001.log")
            .is_some());
        Ok(())
    }

    #[test]
    fn names_round_trip_and_sort_by_index() {
        let name = snapshot_file_name(marker(0x1f, 3));
        assert_eq!(name, "snapshot-000000000000001f-0000000000000003.snap");
        assert_eq!(parse_file_name(&name), Some(marker(0x1f, 3)));
        assert!(is_temporary_name(&format!("{name}.tmp")));
        assert_eq!(parse_file_name(&format!("{name}.tmp")), None);
        assert_eq!(parse_file_name("snapshot-1-2.snap"), None);
        assert!(snapshot_file_name(marker(9, 5)) < snapshot_file_name(marker(10, 1)));
    }
}
