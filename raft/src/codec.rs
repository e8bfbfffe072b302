//! The one binary encoding for messages on the wire and for records in the WAL.
//!
//! Layout: one version byte ([`CODEC_VERSION`]) followed by the value in postcard's format
//! (a documented, stable, compact serde format: varint integers, length-prefixed sequences,
//! enums as a varint discriminant). Decoding checks the version, decodes the value, and
//! rejects trailing bytes, so that one encoded value has exactly one byte representation.
//! Decoding never panics: every malformed input is a [`CodecError`].
//!
//! Two paths write the same bytes:
//!
//! - The types on the hot paths have hand-written encoders and decoders: messages
//!   ([`encode_message`], [`decode_message`], [`peek_message_type_and_reject`]), entry batches
//!   ([`encode_entries_into`], [`decode_entries`]) and hard state ([`encode_hard_state_into`],
//!   [`decode_hard_state`]). Through serde and postcard a heartbeat took about 550
//!   instructions to decode and 510 to encode (allocation included); by hand about 245 and
//!   265, and [`peek_message_type_and_reject`] classifies one in about 140 without allocating
//!   (`benches/codec.rs` compares the two paths). The layouts are tabled in
//!   `codec/layout.rs`, and differential tests hold them to postcard's bytes.
//! - Every other type goes through serde and postcard: [`encode`] and [`decode`].
//!
//! The hand-written decoders are stricter than postcard in one way: they reject a varint padded
//! with zero groups (`0x80 0x00` for 0), which postcard accepts but never writes. Whatever they
//! accept, postcard accepts with the same value; whatever postcard writes, they accept. They
//! check every declared length against the bytes left before allocating, so no input makes
//! them allocate more than in proportion to its size, and their errors name the field and its
//! offset ([`CodecError::MalformedField`]).

mod layout;
mod primitive;

#[cfg(test)]
mod differential_tests;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::message::{ConfChange, Entry, HardState, Index, Message, MessageType, NodeId, Term};
use primitive::{decode_prefix, decode_whole, encode_into};

/// The version byte written before every encoded value.
pub const CODEC_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// There were no bytes at all.
    #[error("empty input: expected a version byte")]
    Empty,
    /// The version byte is not one this build reads.
    #[error("unsupported codec version {found} (this build reads version {CODEC_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The body is not a valid encoding of the expected type (from postcard's decoder).
    #[error("malformed body after the version byte: {reason}")]
    Malformed {
        /// postcard's description of the problem.
        reason: String,
    },
    /// A field is not a valid encoding (from a hand-written decoder).
    #[error("field `{field}` at offset {offset}: {problem}")]
    MalformedField {
        /// The field being read, as `message` field names it (`entry.data`, `commit`).
        field: &'static str,
        /// Where the field starts, counting the version byte.
        offset: usize,
        /// What is wrong with it.
        problem: FieldProblem,
    },
    /// A whole value decoded but bytes were left over.
    #[error("{count} trailing bytes after a complete value at offset {offset}")]
    TrailingBytes {
        /// Where the value ended (including the version byte).
        offset: usize,
        /// How many bytes were left.
        count: usize,
    },
}

/// What is wrong with one field, in a [`CodecError::MalformedField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// The input ends inside the field.
    #[error("the input ends inside the field")]
    Truncated,
    /// A varint has more than 10 bytes or a 10th byte above 0x01: it does not fit a `u64`.
    #[error("varint does not fit 64 bits")]
    VarintOverflow,
    /// A varint ends in a zero group (`0x80 0x00`): a second spelling of a shorter one.
    #[error("varint padded with a zero group")]
    NonCanonicalVarint,
    /// A bool byte is neither 0 nor 1.
    #[error("bool byte {byte:#04x} is neither 0 nor 1")]
    InvalidBool {
        /// The byte found.
        byte: u8,
    },
    /// An option tag is neither 0 (none) nor 1 (some).
    #[error("option tag {byte:#04x} is neither 0 nor 1")]
    InvalidOptionTag {
        /// The byte found.
        byte: u8,
    },
    /// An enum discriminant names no variant.
    #[error("no variant has discriminant {discriminant}")]
    UnknownVariant {
        /// The discriminant found.
        discriminant: u64,
    },
    /// A byte string is longer than the input left after its length.
    #[error("length {length} exceeds the {remaining} bytes left")]
    LengthExceedsInput {
        /// The declared length.
        length: u64,
        /// The bytes left after the length.
        remaining: usize,
    },
    /// A sequence has more items than the input left could hold.
    #[error("{count} items of at least {min_bytes_each} bytes exceed the {remaining} bytes left")]
    CountExceedsInput {
        /// The declared item count.
        count: u64,
        /// The fewest bytes one item takes.
        min_bytes_each: usize,
        /// The bytes left after the count.
        remaining: usize,
    },
}

/// Encodes any serde value with the version byte in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_with_capacity(value, 64)
}

/// [`encode`] into a buffer that starts with room for `capacity` bytes: a good guess saves the
/// buffer's regrowth and copies on the simulator's and the WAL's hot paths.
pub fn encode_with_capacity<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity.max(1));
    out.push(CODEC_VERSION);
    // Writing into a Vec cannot fail, and every type here serializes without custom errors,
    // so an error would be a programmer error in a Serialize impl.
    postcard::to_io(value, &mut out)
        .unwrap_or_else(|error| panic!("encoding a value into memory failed: {error}"));
    out
}

/// Decodes bytes produced by [`encode`], rejecting other versions and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != CODEC_VERSION {
        return Err(CodecError::UnsupportedVersion { found: version });
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|error| CodecError::Malformed {
            reason: error.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            offset: bytes.len() - rest.len(),
            count: rest.len(),
        });
    }
    Ok(value)
}

/// Encodes a message for the wire: the same bytes as [`encode`], written by hand.
pub fn encode_message(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(message_size_hint(message));
    encode_into(&mut out, |writer| {
        writer.byte(CODEC_VERSION);
        layout::write_message(writer, message);
    });
    out
}

/// An upper-bound guess of an entry's encoded size: its payload plus the varints around it.
fn entry_size_hint(entry: &Entry) -> usize {
    entry.data.len() + 24
}

/// A guess of a message's encoded size (exact sizes would cost a second pass).
fn message_size_hint(message: &Message) -> usize {
    let entries: usize = message.entries.iter().map(entry_size_hint).sum();
    let snapshot = message.snapshot.as_ref().map_or(0, |snapshot| {
        let conf = &snapshot.metadata.conf_state;
        snapshot.data.len()
            + 32
            + 10 * (conf.voters.len()
                + conf.learners.len()
                + conf.voters_outgoing.len()
                + conf.learners_next.len())
    });
    64 + message.context.len() + entries + snapshot
}

/// Decodes a message from the wire.
pub fn decode_message(bytes: &[u8]) -> Result<Message, CodecError> {
    decode_whole(bytes, layout::read_message)
}

/// The type of an encoded message, read from its first field without decoding the rest (no
/// entries or snapshot copied): for a transport or a simulator that only classifies traffic.
/// Whether the rest is well formed is [`decode_message`]'s business.
pub fn peek_message_type(bytes: &[u8]) -> Result<MessageType, CodecError> {
    decode_prefix(bytes, |reader| {
        reader.discriminant("msg_type", layout::message_type_at)
    })
    .map(|(msg_type, _)| msg_type)
}

/// The type and the term of an encoded message, from the first fields alone (the rest is not
/// checked): for a simulator that watches which term a message is of.
pub fn peek_message_type_and_term(bytes: &[u8]) -> Result<(MessageType, Term), CodecError> {
    decode_prefix(bytes, |reader| {
        let msg_type = reader.discriminant("msg_type", layout::message_type_at)?;
        reader.varint("to")?;
        reader.varint("from")?;
        let term = reader.varint("term")?;
        Ok((msg_type, term))
    })
    .map(|(peeked, _)| peeked)
}

/// The type and the reject flag of an encoded message, without building it: entries, snapshot
/// and context are checked and skipped, nothing is allocated. It checks the whole message, so
/// it succeeds exactly when [`decode_message`] would: for a transport or a simulator that
/// counts append responses by whether they reject.
pub fn peek_message_type_and_reject(bytes: &[u8]) -> Result<(MessageType, bool), CodecError> {
    decode_whole(bytes, layout::skim_message)
}

/// What an encoded message says, without its payloads: the header fields, each entry's index
/// and term, and the snapshot's index and term. For a simulator or a tracer that inspects every
/// message: [`outline_message_into`] fills one and reuses its entry list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageOutline {
    /// As [`Message::msg_type`].
    pub msg_type: MessageType,
    /// As [`Message::to`].
    pub to: NodeId,
    /// As [`Message::from`].
    pub from: NodeId,
    /// As [`Message::term`].
    pub term: Term,
    /// As [`Message::log_term`].
    pub log_term: Term,
    /// As [`Message::index`].
    pub index: Index,
    /// Each entry's (index, term), in order.
    pub entries: Vec<(Index, Term)>,
    /// As [`Message::commit`].
    pub commit: Index,
    /// The snapshot's (index, term), if the message carries one.
    pub snapshot: Option<(Index, Term)>,
    /// As [`Message::reject`].
    pub reject: bool,
    /// As [`Message::reject_hint`].
    pub reject_hint: Index,
}

impl From<&Message> for MessageOutline {
    fn from(message: &Message) -> MessageOutline {
        MessageOutline {
            msg_type: message.msg_type,
            to: message.to,
            from: message.from,
            term: message.term,
            log_term: message.log_term,
            index: message.index,
            entries: message
                .entries
                .iter()
                .map(|entry| (entry.index, entry.term))
                .collect(),
            commit: message.commit,
            snapshot: message
                .snapshot
                .as_ref()
                .map(|snapshot| (snapshot.metadata.index, snapshot.metadata.term)),
            reject: message.reject,
            reject_hint: message.reject_hint,
        }
    }
}

/// Reads an encoded message into `outline` (see [`MessageOutline`]). It checks the whole
/// message, so it succeeds exactly when [`decode_message`] would; no entry data, snapshot or
/// context is copied.
pub fn outline_message_into(bytes: &[u8], outline: &mut MessageOutline) -> Result<(), CodecError> {
    decode_whole(bytes, |reader| layout::outline_message(reader, outline))
}

/// Appends the encoding of an entry batch, version byte included, to `out`: the same bytes as
/// [`encode`] of a `Vec<Entry>`, as the WAL stores entries.
pub fn encode_entries_into(entries: &[Entry], out: &mut Vec<u8>) {
    out.reserve(16 + entries.iter().map(entry_size_hint).sum::<usize>());
    encode_into(out, |writer| {
        writer.byte(CODEC_VERSION);
        layout::write_entries(writer, entries);
    });
}

/// Decodes an entry batch written by [`encode_entries_into`] (or by [`encode`] of a
/// `Vec<Entry>`).
pub fn decode_entries(bytes: &[u8]) -> Result<Vec<Entry>, CodecError> {
    decode_whole(bytes, layout::read_entries)
}

/// Appends the encoding of a hard state, version byte included, to `out`: the same bytes as
/// [`encode`] of it.
pub fn encode_hard_state_into(hard_state: &HardState, out: &mut Vec<u8>) {
    out.reserve(1 + 3 * primitive::VARINT_U64_MAX_BYTES);
    encode_into(out, |writer| {
        writer.byte(CODEC_VERSION);
        layout::write_hard_state(writer, hard_state);
    });
}

/// Decodes a hard state written by [`encode_hard_state_into`] (or by [`encode`]).
pub fn decode_hard_state(bytes: &[u8]) -> Result<HardState, CodecError> {
    decode_whole(bytes, layout::read_hard_state)
}

/// Encodes a configuration change as the data of a [`crate::EntryType::ConfChange`] entry.
pub fn encode_conf_change(change: &ConfChange) -> Vec<u8> {
    encode(change)
}

/// Decodes the data of a [`crate::EntryType::ConfChange`] entry.
pub fn decode_conf_change(bytes: &[u8]) -> Result<ConfChange, CodecError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Entry, EntryType, MessageType};
    use proptest::prelude::*;

    fn sample_message() -> Message {
        Message {
            msg_type: MessageType::Append,
            to: 2,
            from: 1,
            term: 7,
            log_term: 6,
            index: 41,
            entries: vec![Entry {
                term: 7,
                index: 42,
                entry_type: EntryType::Normal,
                data: b"put x 1".to_vec(),
            }],
            commit: 40,
            snapshot: Some(Box::default()),
            reject: false,
            reject_hint: 0,
            context: b"ctx".to_vec(),
        }
    }

    #[test]
    fn message_round_trips() {
        let message = sample_message();
        let bytes = encode_message(&message);
        assert_eq!(bytes[0], CODEC_VERSION);
        assert_eq!(decode_message(&bytes), Ok(message));
    }

    /// The wire format, byte for byte: messages cross process boundaries and entries sit in
    /// WALs, so a change here must be deliberate (and bump `CODEC_VERSION`). Byte strings are
    /// a varint length and the bytes, whether serde sees a sequence or bytes.
    #[test]
    fn the_encoding_of_a_message_is_stable() {
        let bytes = encode_message(&sample_message());
        let expected: &[u8] = &[
            1, 3, 2, 1, 7, 6, 41, 1, 7, 42, 0, 7, 112, 117, 116, 32, 120, 32, 49, 40, 1, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 3, 99, 116, 120,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn peeking_reads_the_type_alone() {
        let mut message = sample_message();
        for msg_type in [
            MessageType::Append,
            MessageType::RequestPreVote,
            MessageType::TimeoutNow,
        ] {
            message.msg_type = msg_type;
            assert_eq!(peek_message_type(&encode_message(&message)), Ok(msg_type));
        }
        assert_eq!(peek_message_type(&[]), Err(CodecError::Empty));
        assert_eq!(
            peek_message_type(&[2, 3]),
            Err(CodecError::UnsupportedVersion { found: 2 })
        );
        assert!(peek_message_type(&[CODEC_VERSION]).is_err());
        assert!(peek_message_type(&[CODEC_VERSION, 200]).is_err());
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(decode_message(&[]), Err(CodecError::Empty));
    }

    #[test]
    fn wrong_version_is_an_error() {
        let mut bytes = encode_message(&sample_message());
        bytes[0] = 9;
        assert_eq!(
            decode_message(&bytes),
            Err(CodecError::UnsupportedVersion { found: 9 })
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode_message(&sample_message());
        let complete = bytes.len();
        bytes.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode_message(&bytes),
            Err(CodecError::TrailingBytes {
                offset: complete,
                count: 2
            })
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode_message(&sample_message());
        for cut in 0..bytes.len() {
            assert!(
                decode_message(&bytes[..cut]).is_err(),
                "a message cut to {cut} of {} bytes decoded",
                bytes.len()
            );
        }
    }

    #[test]
    fn conf_change_round_trips() {
        let change = ConfChange::add_learner(4);
        assert_eq!(decode_conf_change(&encode_conf_change(&change)), Ok(change));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_decoded_values_reencode(
            bytes in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            let mut input = vec![CODEC_VERSION];
            input.extend_from_slice(&bytes);
            if let Ok(message) = decode_message(&input) {
                let again = encode_message(&message);
                prop_assert_eq!(decode_message(&again), Ok(message));
            }
        }
    }
}
