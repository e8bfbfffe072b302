//! Segment files: their names, their header, and reading one segment's records with the
//! torn-tail decision. Pure functions over byte slices; no I/O.

use raft::Index;

use super::record::{find_valid_frame_after, read_record, FrameProblem, Record};
use super::Corruption;

/// The magic at the start of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"KVWALSEG";
/// The segment format this build writes and reads.
pub(crate) const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Bytes in a segment header.
pub(crate) const SEGMENT_HEADER_SIZE_BYTES: usize = 32;
const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = 8;
const SEQUENCE_OFFSET: usize = 12;
const FIRST_INDEX_OFFSET: usize = 20;
const HEADER_CHECKSUM_OFFSET: usize = 28;

const NAME_PREFIX: &str = "wal-";
const NAME_SUFFIX: &str = ".log";
/// Appended to a segment's name while it is being created.
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";
/// Hex digits per number in a segment name.
const NAME_NUMBER_DIGITS: usize = 16;

/// What a segment's name (and header) says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SegmentId {
    /// Position in the chain of segments; consecutive, starting at zero.
    pub(crate) sequence: u64,
    /// One more than the last log index when the segment was created. Every entry written
    /// later with an index at or above this is in this segment or a later one.
    pub(crate) first_index: Index,
}

impl SegmentId {
    /// `wal-<sequence>-<first index>.log`, both as 16 hex digits so that names sort in order.
    pub(crate) fn file_name(self) -> String {
        format!(
            "{NAME_PREFIX}{:016x}-{:016x}{NAME_SUFFIX}",
            self.sequence, self.first_index
        )
    }

    /// The name the segment has while it is being created.
    pub(crate) fn temporary_file_name(self) -> String {
        format!("{}{TEMPORARY_SUFFIX}", self.file_name())
    }

    /// Parses a name made by [`SegmentId::file_name`]; `None` for any other name.
    pub(crate) fn parse(name: &str) -> Option<SegmentId> {
        let numbers = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
        let (sequence, first_index) = numbers.split_once('-')?;
        Some(SegmentId {
            sequence: parse_hex(sequence)?,
            first_index: parse_hex(first_index)?,
        })
    }

    /// True for the temporary name of some segment.
    pub(crate) fn is_temporary_name(name: &str) -> bool {
        name.strip_suffix(TEMPORARY_SUFFIX)
            .and_then(SegmentId::parse)
            .is_some()
    }

    /// The header bytes that start this segment's file.
    pub(crate) fn header(self) -> [u8; SEGMENT_HEADER_SIZE_BYTES] {
        let mut header = [0u8; SEGMENT_HEADER_SIZE_BYTES];
        header[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&SEGMENT_MAGIC);
        header[VERSION_OFFSET..SEQUENCE_OFFSET]
            .copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        header[SEQUENCE_OFFSET..FIRST_INDEX_OFFSET].copy_from_slice(&self.sequence.to_le_bytes());
        header[FIRST_INDEX_OFFSET..HEADER_CHECKSUM_OFFSET]
            .copy_from_slice(&self.first_index.to_le_bytes());
        let checksum = crc32fast::hash(&header[..HEADER_CHECKSUM_OFFSET]);
        header[HEADER_CHECKSUM_OFFSET..].copy_from_slice(&checksum.to_le_bytes());
        header
    }
}

fn parse_hex(digits: &str) -> Option<u64> {
    if digits.len() != NAME_NUMBER_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Checks a segment's header against the identity its name claims. Offsets in the error are
/// zero: the header is the start of the file.
pub(crate) fn check_header(bytes: &[u8], expected: SegmentId) -> Result<(), Corruption> {
    let header =
        bytes
            .get(..SEGMENT_HEADER_SIZE_BYTES)
            .ok_or(Corruption::SegmentHeaderIncomplete {
                length: bytes.len() as u64,
            })?;
    let stored_checksum = u32::from_le_bytes(word(header, HEADER_CHECKSUM_OFFSET));
    if crc32fast::hash(&header[..HEADER_CHECKSUM_OFFSET]) != stored_checksum {
        return Err(Corruption::SegmentHeaderChecksumMismatch);
    }
    if header[MAGIC_OFFSET..VERSION_OFFSET] != SEGMENT_MAGIC {
        return Err(Corruption::SegmentMagicMismatch);
    }
    let version = u32::from_le_bytes(word(header, VERSION_OFFSET));
    if version != SEGMENT_FORMAT_VERSION {
        return Err(Corruption::SegmentVersionUnsupported { version });
    }
    let stored = SegmentId {
        sequence: u64::from_le_bytes(double_word(header, SEQUENCE_OFFSET)),
        first_index: u64::from_le_bytes(double_word(header, FIRST_INDEX_OFFSET)),
    };
    if stored != expected {
        return Err(Corruption::SegmentHeaderNameMismatch {
            sequence: stored.sequence,
            first_index: stored.first_index,
        });
    }
    Ok(())
}

fn word(bytes: &[u8], offset: usize) -> [u8; 4] {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    word
}

fn double_word(bytes: &[u8], offset: usize) -> [u8; 8] {
    let mut double_word = [0u8; 8];
    double_word.copy_from_slice(&bytes[offset..offset + 8]);
    double_word
}

/// The records read from one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentContents {
    /// Each valid record with the offset where it starts.
    pub(crate) records: Vec<(u64, Record)>,
    /// Where the valid records end: the length to truncate to when there is a torn tail.
    pub(crate) valid_length: u64,
    /// Set when the segment ends in a torn tail: why the record at `valid_length` was refused.
    pub(crate) torn_tail: Option<FrameProblem>,
}

/// Reads every record of a segment whose header has been checked.
///
/// The torn-tail decision, for the first record that cannot be read:
///
/// | segment | what is wrong at the offset | valid record later? | decision | physical cause |
/// |---|---|---|---|---|
/// | last | bytes end inside the header or payload | (none can be) | torn tail | append cut short by a crash |
/// | last | a checksum does not match | no | torn tail | unsynced sectors lost or half-written at a crash |
/// | last | a checksum does not match | yes | corrupt | damage to data that was synced, since later records made it to disk |
/// | last | checksums match, content invalid | - | corrupt | no crash makes this: a bug or undetected damage |
/// | not last | anything | - | corrupt | a segment is synced in full before the next one is created |
///
/// Only the last segment can hold unsynced data: rotation syncs a segment before its successor
/// exists. A crash that persists a later sector of an unsynced write while losing an earlier one
/// lands in the third row; it is refused rather than guessed at, which costs availability, never
/// acknowledged data.
pub(crate) fn read_segment(
    bytes: &[u8],
    is_last: bool,
) -> Result<SegmentContents, (u64, Corruption)> {
    let mut records = Vec::new();
    let mut offset = SEGMENT_HEADER_SIZE_BYTES;
    while offset < bytes.len() {
        match read_record(bytes, offset) {
            Ok((record, end)) => {
                records.push((offset as u64, record));
                offset = end;
            }
            Err(problem) => {
                let torn = is_last
                    && match &problem {
                        FrameProblem::Incomplete => true,
                        FrameProblem::ChecksumMismatch(_) => {
                            find_valid_frame_after(bytes, offset).is_none()
                        }
                        FrameProblem::Invalid(_) => false,
                    };
                if torn {
                    return Ok(SegmentContents {
                        records,
                        valid_length: offset as u64,
                        torn_tail: Some(problem),
                    });
                }
                let reason = match problem {
                    FrameProblem::Incomplete => Corruption::RecordIncomplete,
                    FrameProblem::ChecksumMismatch(reason) | FrameProblem::Invalid(reason) => {
                        reason
                    }
                };
                return Err((offset as u64, reason));
            }
        }
    }
    Ok(SegmentContents {
        records,
        valid_length: offset as u64,
        torn_tail: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::record::encode_hard_state;
    use raft::HardState;

    #[test]
    fn names_round_trip_and_sort_in_sequence_order() {
        let id = SegmentId {
            sequence: 10,
            first_index: 0xabc,
        };
        assert_eq!(id.file_name(), "wal-000000000000000a-0000000000000abc.log");
        assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        assert!(SegmentId::is_temporary_name(&id.temporary_file_name()));
        assert!(!SegmentId::is_temporary_name(&id.file_name()));
        for other in [
            "wal-a-b.log",
            "wal-000000000000000a-0000000000000abc.log.tmp",
            "snapshot-0000000000000001-0000000000000001.snap",
            "wal-000000000000000g-0000000000000abc.log",
            "wal-+00000000000000a-0000000000000abc.log",
        ] {
            assert_eq!(SegmentId::parse(other), None, "{other}");
        }
        let earlier = SegmentId {
            sequence: 9,
            first_index: 0xfff,
        };
        assert!(earlier.file_name() < id.file_name());
    }

    #[test]
    fn headers_are_checked_field_by_field() {
        let id = SegmentId {
            sequence: 3,
            first_index: 40,
        };
        let header = id.header();
        assert_eq!(check_header(&header, id), Ok(()));
        assert_eq!(
            check_header(&header[..10], id),
            Err(Corruption::SegmentHeaderIncomplete { length: 10 })
        );
        let other = SegmentId {
            sequence: 4,
            first_index: 40,
        };
        assert_eq!(
            check_header(&header, other),
            Err(Corruption::SegmentHeaderNameMismatch {
                sequence: 3,
                first_index: 40
            })
        );
        for byte in 0..SEGMENT_HEADER_SIZE_BYTES {
            let mut damaged = header;
            damaged[byte] ^= 0x10;
            assert!(check_header(&damaged, id).is_err(), "byte {byte}");
        }
    }

    fn segment_of(count: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = SegmentId {
            sequence: 0,
            first_index: 1,
        }
        .header()
        .to_vec();
        let mut starts = Vec::new();
        for commit in 0..count {
            starts.push(bytes.len());
            encode_hard_state(
                &HardState {
                    term: 1,
                    vote: 1,
                    commit,
                },
                &mut bytes,
            );
        }
        (bytes, starts)
    }

    #[test]
    fn a_damaged_final_record_is_a_torn_tail_only_in_the_last_segment() {
        let (mut bytes, starts) = segment_of(3);
        let last = starts[2];
        bytes[last + 17] ^= 1;
        let contents = read_segment(&bytes, true).expect("torn tail");
        assert_eq!(contents.records.len(), 2);
        assert_eq!(contents.valid_length, last as u64);
        assert!(contents.torn_tail.is_some());
        assert_eq!(
            read_segment(&bytes, false),
            Err((last as u64, Corruption::RecordPayloadChecksumMismatch))
        );
    }

    #[test]
    fn damage_followed_by_a_valid_record_is_corruption_even_at_the_end() {
        let (mut bytes, starts) = segment_of(3);
        bytes[starts[1] + 2] ^= 1;
        assert_eq!(
            read_segment(&bytes, true),
            Err((starts[1] as u64, Corruption::RecordHeaderChecksumMismatch))
        );
    }
}
