//! Record framing: the bytes of one record, and reading one back with every field checked.
//!
//! The layout is the table on [`crate::wal`]. Pure functions over byte slices; no I/O.

use raft::codec;
use raft::{Entry, HardState};

use super::{Corruption, SnapshotMarker, SnapshotSource};

/// Bytes in a record header.
pub(crate) const RECORD_HEADER_SIZE_BYTES: usize = 16;
/// Offset of the payload length (u32 LE) in a record header.
const LENGTH_OFFSET: usize = 0;
/// Offset of the record type byte in a record header.
const TYPE_OFFSET: usize = 4;
/// Offset of the three reserved (zero) bytes in a record header.
const RESERVED_OFFSET: usize = 5;
/// Offset of the payload CRC32 (u32 LE) in a record header.
const PAYLOAD_CHECKSUM_OFFSET: usize = 8;
/// Offset of the header CRC32 (u32 LE), which covers the bytes before it.
const HEADER_CHECKSUM_OFFSET: usize = 12;

/// The largest payload a record may have. Checked before a length read from disk is trusted,
/// and when writing, so that a writer never produces a record its reader would refuse.
pub const RECORD_PAYLOAD_SIZE_BYTES_MAX: usize = 64 << 20;

/// An upper bound on what postcard adds around one entry's data: term, index and data length
/// as varints (at most 10 bytes each) and the entry type (1 byte).
const ENTRY_ENCODING_OVERHEAD_BYTES_MAX: usize = 31;
/// An upper bound on what an entries payload adds besides its entries: the codec version byte
/// and the sequence length varint.
const ENTRIES_PAYLOAD_OVERHEAD_BYTES_MAX: usize = 11;

/// What a record holds; the byte values are the on-disk record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    /// A non-empty run of consecutive entries.
    Entries = 1,
    /// The latest hard state.
    HardState = 2,
    /// A snapshot was saved at (index, term).
    SnapshotMarker = 3,
}

impl RecordType {
    fn from_byte(byte: u8) -> Option<RecordType> {
        match byte {
            1 => Some(RecordType::Entries),
            2 => Some(RecordType::HardState),
            3 => Some(RecordType::SnapshotMarker),
            _ => None,
        }
    }
}

/// The payload of a snapshot marker record, as encoded with the raft codec.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarkerPayload {
    pub(crate) index: u64,
    pub(crate) term: u64,
    pub(crate) source: SnapshotSource,
}

/// One decoded and validated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Consecutive entries with non-decreasing terms, at least one.
    Entries(Vec<Entry>),
    /// A hard state.
    HardState(HardState),
    /// A snapshot marker with a non-zero index.
    SnapshotMarker {
        marker: SnapshotMarker,
        source: SnapshotSource,
    },
}

/// Why no record could be read at an offset, sorted by what the reader may conclude.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameProblem {
    /// The bytes end inside the header or inside the payload the header announces.
    Incomplete,
    /// A checksum does not match: damage, or a write torn by a crash.
    ChecksumMismatch(Corruption),
    /// The checksums match but the content is wrong. No crash produces this: it is damage
    /// that the checksums missed, or a writer bug.
    Invalid(Corruption),
}

/// Appends one framed record to `out`.
pub(crate) fn encode_record(record_type: RecordType, payload: &[u8], out: &mut Vec<u8>) {
    encode_record_with(record_type, out, |out| out.extend_from_slice(payload));
}

/// Appends one framed record to `out` whose payload `encode_payload` appends in place: the
/// header's room is taken first and filled in once the payload's length and checksum are
/// known, so no payload is encoded into a buffer of its own and copied.
fn encode_record_with(
    record_type: RecordType,
    out: &mut Vec<u8>,
    encode_payload: impl FnOnce(&mut Vec<u8>),
) {
    let header_start = out.len();
    out.resize(header_start + RECORD_HEADER_SIZE_BYTES, 0);
    encode_payload(out);
    let (header, payload) = out[header_start..].split_at_mut(RECORD_HEADER_SIZE_BYTES);
    assert!(
        payload.len() <= RECORD_PAYLOAD_SIZE_BYTES_MAX,
        "record payload of {} bytes exceeds the maximum {RECORD_PAYLOAD_SIZE_BYTES_MAX}",
        payload.len()
    );
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    header[LENGTH_OFFSET..TYPE_OFFSET].copy_from_slice(&length.to_le_bytes());
    header[TYPE_OFFSET] = record_type as u8;
    header[PAYLOAD_CHECKSUM_OFFSET..HEADER_CHECKSUM_OFFSET]
        .copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_checksum = crc32fast::hash(&header[..HEADER_CHECKSUM_OFFSET]);
    header[HEADER_CHECKSUM_OFFSET..].copy_from_slice(&header_checksum.to_le_bytes());
}

/// Appends entries records for `entries` to `out`, as few as the size limit allows.
///
/// Fails with the offending entry if one entry alone cannot fit in a record.
pub(crate) fn encode_entries(entries: &[Entry], out: &mut Vec<u8>) -> Result<(), (u64, usize)> {
    let mut start = 0;
    while start < entries.len() {
        // Greedily take entries while an upper bound of the encoding fits; the bound makes
        // the real encoding fit too, without encoding twice.
        let mut size_bound = ENTRIES_PAYLOAD_OVERHEAD_BYTES_MAX;
        let mut end = start;
        while end < entries.len() {
            let entry_bound = entries[end].data.len() + ENTRY_ENCODING_OVERHEAD_BYTES_MAX;
            if size_bound + entry_bound > RECORD_PAYLOAD_SIZE_BYTES_MAX {
                break;
            }
            size_bound += entry_bound;
            end += 1;
        }
        if end == start {
            let entry = &entries[start];
            return Err((entry.index, entry.data.len()));
        }
        let batch = &entries[start..end];
        out.reserve(RECORD_HEADER_SIZE_BYTES + size_bound);
        encode_record_with(RecordType::Entries, out, |out| {
            codec::encode_entries_into(batch, out)
        });
        start = end;
    }
    Ok(())
}

/// Appends a hard state record to `out`.
pub(crate) fn encode_hard_state(hard_state: &HardState, out: &mut Vec<u8>) {
    encode_record_with(RecordType::HardState, out, |out| {
        codec::encode_hard_state_into(hard_state, out)
    });
}

/// Appends a snapshot marker record to `out`.
pub(crate) fn encode_marker(marker: SnapshotMarker, source: SnapshotSource, out: &mut Vec<u8>) {
    let payload = MarkerPayload {
        index: marker.index,
        term: marker.term,
        source,
    };
    encode_record(RecordType::SnapshotMarker, &codec::encode(&payload), out);
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

/// Checks the frame at `offset` and returns its type, payload and end offset, without decoding
/// the payload.
fn parse_frame(bytes: &[u8], offset: usize) -> Result<(RecordType, &[u8], usize), FrameProblem> {
    let header = bytes
        .get(offset..)
        .and_then(|rest| rest.get(..RECORD_HEADER_SIZE_BYTES))
        .ok_or(FrameProblem::Incomplete)?;
    // The header checksum comes first: until it matches, the length may be garbage.
    let header_checksum = read_u32(header, HEADER_CHECKSUM_OFFSET);
    if crc32fast::hash(&header[..HEADER_CHECKSUM_OFFSET]) != header_checksum {
        return Err(FrameProblem::ChecksumMismatch(
            Corruption::RecordHeaderChecksumMismatch,
        ));
    }
    let length = read_u32(header, LENGTH_OFFSET) as usize;
    if length > RECORD_PAYLOAD_SIZE_BYTES_MAX {
        return Err(FrameProblem::Invalid(Corruption::RecordPayloadTooLarge {
            length: length as u64,
        }));
    }
    let record_type = RecordType::from_byte(header[TYPE_OFFSET]).ok_or(FrameProblem::Invalid(
        Corruption::RecordTypeUnknown {
            record_type: header[TYPE_OFFSET],
        },
    ))?;
    if header[RESERVED_OFFSET..PAYLOAD_CHECKSUM_OFFSET] != [0, 0, 0] {
        return Err(FrameProblem::Invalid(Corruption::RecordReservedNotZero));
    }
    let payload_start = offset + RECORD_HEADER_SIZE_BYTES;
    let payload_end = payload_start + length;
    let payload = bytes
        .get(payload_start..payload_end)
        .ok_or(FrameProblem::Incomplete)?;
    if crc32fast::hash(payload) != read_u32(header, PAYLOAD_CHECKSUM_OFFSET) {
        return Err(FrameProblem::ChecksumMismatch(
            Corruption::RecordPayloadChecksumMismatch,
        ));
    }
    Ok((record_type, payload, payload_end))
}

/// Reads the record at `offset`: frame, checksums, payload and the payload's own rules.
/// Returns the record and the offset just past it.
pub(crate) fn read_record(bytes: &[u8], offset: usize) -> Result<(Record, usize), FrameProblem> {
    let (record_type, payload, end) = parse_frame(bytes, offset)?;
    let record = decode_payload(record_type, payload).map_err(FrameProblem::Invalid)?;
    Ok((record, end))
}

/// The offset of the first frame after `offset` whose checksums both match, if any.
///
/// Used to tell a torn tail (nothing valid follows the damage) from damage in the middle of
/// the log. A false match in random bytes needs two 32-bit checksums to agree by chance.
pub(crate) fn find_valid_frame_after(bytes: &[u8], offset: usize) -> Option<usize> {
    let last_start = bytes.len().checked_sub(RECORD_HEADER_SIZE_BYTES)?;
    ((offset + 1)..=last_start).find(|candidate| parse_frame(bytes, *candidate).is_ok())
}

fn decode_payload(record_type: RecordType, payload: &[u8]) -> Result<Record, Corruption> {
    match record_type {
        RecordType::Entries => {
            let entries = codec::decode_entries(payload).map_err(Corruption::Undecodable)?;
            validate_entries(&entries)?;
            Ok(Record::Entries(entries))
        }
        RecordType::HardState => Ok(Record::HardState(
            codec::decode_hard_state(payload).map_err(Corruption::Undecodable)?,
        )),
        RecordType::SnapshotMarker => {
            let payload: MarkerPayload = codec::decode(payload).map_err(Corruption::Undecodable)?;
            if payload.index == 0 {
                return Err(Corruption::SnapshotMarkerIndexZero);
            }
            Ok(Record::SnapshotMarker {
                marker: SnapshotMarker {
                    index: payload.index,
                    term: payload.term,
                },
                source: payload.source,
            })
        }
    }
}

/// An entries record holds at least one entry, indices start above zero and go up by one, and
/// terms never go down (Raft §5.3: a log's terms are non-decreasing).
pub(crate) fn validate_entries(entries: &[Entry]) -> Result<(), Corruption> {
    let first = entries.first().ok_or(Corruption::EntriesEmpty)?;
    if first.index == 0 {
        return Err(Corruption::EntryIndexZero);
    }
    for pair in entries.windows(2) {
        let (previous, entry) = (&pair[0], &pair[1]);
        if entry.index != previous.index + 1 {
            return Err(Corruption::EntriesNotContiguous {
                expected: previous.index + 1,
                found: entry.index,
            });
        }
        if entry.term < previous.term {
            return Err(Corruption::EntryTermDecreases {
                index: entry.index,
                term: entry.term,
                previous_term: previous.term,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8; 3],
            ..Entry::default()
        }
    }

    #[test]
    fn a_record_reads_back() {
        let mut bytes = Vec::new();
        encode_hard_state(
            &HardState {
                term: 3,
                vote: 2,
                commit: 9,
            },
            &mut bytes,
        );
        let (record, end) = read_record(&bytes, 0).expect("the record reads back");
        assert_eq!(end, bytes.len());
        assert_eq!(
            record,
            Record::HardState(HardState {
                term: 3,
                vote: 2,
                commit: 9
            })
        );
    }

    #[test]
    fn every_prefix_is_incomplete_and_every_bit_flip_is_caught() {
        let mut bytes = Vec::new();
        encode_entries(&[entry(1, 1), entry(2, 1)], &mut bytes).expect("fits");
        for cut in 0..bytes.len() {
            assert_eq!(
                read_record(&bytes[..cut], 0).map(|_| ()),
                Err(FrameProblem::Incomplete),
                "cut at {cut}"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                read_record(&damaged, 0).is_err(),
                "flipping bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn a_valid_checksum_with_bad_content_is_invalid_not_torn() {
        let mut bytes = Vec::new();
        encode_record(
            RecordType::Entries,
            &codec::encode(&Vec::<Entry>::new()),
            &mut bytes,
        );
        assert_eq!(
            read_record(&bytes, 0),
            Err(FrameProblem::Invalid(Corruption::EntriesEmpty))
        );
        let mut bytes = Vec::new();
        encode_record(RecordType::HardState, b"not a hard state", &mut bytes);
        assert!(matches!(
            read_record(&bytes, 0),
            Err(FrameProblem::Invalid(Corruption::Undecodable(_)))
        ));
    }

    #[test]
    fn entries_must_be_contiguous_with_non_decreasing_terms() {
        assert_eq!(
            validate_entries(&[entry(1, 1), entry(3, 1)]),
            Err(Corruption::EntriesNotContiguous {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            validate_entries(&[entry(1, 2), entry(2, 1)]),
            Err(Corruption::EntryTermDecreases {
                index: 2,
                term: 1,
                previous_term: 2
            })
        );
        assert_eq!(
            validate_entries(&[entry(0, 1)]),
            Err(Corruption::EntryIndexZero)
        );
        assert_eq!(validate_entries(&[entry(5, 1), entry(6, 2)]), Ok(()));
    }

    #[test]
    fn large_batches_split_into_records_under_the_limit() {
        let big = RECORD_PAYLOAD_SIZE_BYTES_MAX / 3;
        let entries: Vec<Entry> = (1..=4)
            .map(|index| Entry {
                index,
                term: 1,
                data: vec![0; big],
                ..Entry::default()
            })
            .collect();
        let mut bytes = Vec::new();
        encode_entries(&entries, &mut bytes).expect("each entry fits alone");
        let mut offset = 0;
        let mut decoded = Vec::new();
        while offset < bytes.len() {
            let (record, end) = read_record(&bytes, offset).expect("valid record");
            match record {
                Record::Entries(batch) => decoded.extend(batch),
                other => panic!("unexpected record {other:?}"),
            }
            offset = end;
        }
        assert_eq!(decoded, entries);

        let too_big = Entry {
            index: 7,
            data: vec![0; RECORD_PAYLOAD_SIZE_BYTES_MAX],
            ..Entry::default()
        };
        assert_eq!(
            encode_entries(&[too_big], &mut Vec::new()),
            Err((7, RECORD_PAYLOAD_SIZE_BYTES_MAX))
        );
    }

    #[test]
    fn the_scan_finds_the_next_valid_frame() {
        let mut bytes = Vec::new();
        encode_hard_state(&HardState::default(), &mut bytes);
        let second = bytes.len();
        encode_hard_state(&HardState::default(), &mut bytes);
        bytes[3] ^= 0xff;
        assert_eq!(find_valid_frame_after(&bytes, 0), Some(second));
        assert_eq!(find_valid_frame_after(&bytes, second), None);
        assert_eq!(find_valid_frame_after(&[0; 40], 0), None);
    }
}
