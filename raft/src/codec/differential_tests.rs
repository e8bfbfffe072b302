//! The hand-written encoders and decoders against postcard, the reference they replace.
//!
//! Values: the hand encoder writes exactly postcard's bytes, and decoding them gives the value
//! back. Bytes (arbitrary, and mutated encodings): whatever the hand decoder accepts, postcard
//! accepts with the same value, and it is the one spelling of that value; whatever postcard
//! accepts and re-encodes to exactly the input, the hand decoder accepts with the same value.
//! The one difference allowed is the documented one: postcard also accepts varints padded with
//! zero groups, which re-encode shorter.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::message::{ConfState, EntryType, SnapshotMetadata};
use crate::Snapshot;

/// Small values most of the time (one-byte varints, as on the wire), and every varint length
/// up to `u64::MAX`.
fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..4u64,
        2 => 0..300u64,
        2 => (0..64u32, any::<u64>()).prop_map(|(bits, value)| value >> bits),
        1 => Just(u64::MAX),
    ]
}

/// Byte strings, some longer than 127 bytes so that their length takes two bytes.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..8),
        1 => proptest::collection::vec(any::<u8>(), 120..200),
    ]
}

/// Every message type, numbered by postcard (not by the code under test).
fn any_message_type() -> impl Strategy<Value = MessageType> {
    (0..19u8).prop_map(|index| postcard::from_bytes(&[index]).expect("19 message types"))
}

fn any_entry() -> impl Strategy<Value = Entry> {
    (any_u64(), any_u64(), any::<bool>(), any_bytes()).prop_map(|(term, index, conf, data)| Entry {
        term,
        index,
        entry_type: if conf {
            EntryType::ConfChange
        } else {
            EntryType::Normal
        },
        data,
    })
}

fn any_entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec(any_entry(), 0..4)
}

fn any_ids() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(any_u64(), 0..4)
}

fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    let conf_state = (any_ids(), any_ids(), any_ids(), any_ids(), any::<bool>()).prop_map(
        |(voters, learners, voters_outgoing, learners_next, auto_leave)| ConfState {
            voters,
            learners,
            voters_outgoing,
            learners_next,
            auto_leave,
        },
    );
    (any_bytes(), conf_state, any_u64(), any_u64()).prop_map(|(data, conf_state, index, term)| {
        Snapshot {
            data,
            metadata: SnapshotMetadata {
                conf_state,
                index,
                term,
            },
        }
    })
}

fn any_message() -> impl Strategy<Value = Message> {
    let header = (
        any_message_type(),
        any_u64(),
        any_u64(),
        any_u64(),
        any_u64(),
        any_u64(),
    );
    let body = (
        any_entries(),
        any_u64(),
        proptest::option::weighted(0.2, any_snapshot()),
        any::<bool>(),
        any_u64(),
        any_bytes(),
    );
    (header, body).prop_map(
        |(
            (msg_type, to, from, term, log_term, index),
            (entries, commit, snapshot, reject, reject_hint, context),
        )| Message {
            msg_type,
            to,
            from,
            term,
            log_term,
            index,
            entries,
            commit,
            snapshot: snapshot.map(Box::new),
            reject,
            reject_hint,
            context,
        },
    )
}

fn any_hard_state() -> impl Strategy<Value = HardState> {
    (any_u64(), any_u64(), any_u64()).prop_map(|(term, vote, commit)| HardState {
        term,
        vote,
        commit,
    })
}

/// One edit of an encoding. `PadVarint` turns a one-byte varint `b` into `b|0x80, 0x00`: the
/// spelling postcard accepts and the hand decoder rejects.
#[derive(Debug, Clone)]
enum Mutation {
    Overwrite(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    FlipContinuationBit(Index),
    PadVarint(Index),
}

/// Bytes that sit on the edges of the format: small values where tags and bools sit, and the
/// continuation bit set or not.
fn any_edge_byte() -> impl Strategy<Value = u8> {
    prop_oneof![0..4u8, Just(0x7f), Just(0x80), Just(0xff), any::<u8>()]
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any_edge_byte()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        (any::<Index>(), any_edge_byte()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::FlipContinuationBit),
        any::<Index>().prop_map(Mutation::PadVarint),
    ]
}

/// Applies the mutations to `bytes`, leaving the version byte alone so that the edits reach
/// the body.
fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let body_length = bytes.len() - 1;
        if body_length == 0 {
            break;
        }
        match *mutation {
            Mutation::Overwrite(at, byte) => bytes[1 + at.index(body_length)] = byte,
            Mutation::Insert(at, byte) => bytes.insert(1 + at.index(body_length + 1), byte),
            Mutation::Remove(at) => {
                bytes.remove(1 + at.index(body_length));
            }
            Mutation::Truncate(at) => bytes.truncate(1 + at.index(body_length)),
            Mutation::FlipContinuationBit(at) => bytes[1 + at.index(body_length)] ^= 0x80,
            Mutation::PadVarint(at) => {
                let at = 1 + at.index(body_length);
                if bytes[at] < 0x80 {
                    bytes[at] |= 0x80;
                    bytes.insert(at + 1, 0x00);
                }
            }
        }
    }
    bytes
}

/// The bytes contract between a hand decoder and postcard (see the module comment).
fn check_decoder_against_postcard<T>(
    bytes: &[u8],
    decode_by_hand: fn(&[u8]) -> Result<T, CodecError>,
) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let by_hand = decode_by_hand(bytes);
    let by_postcard = decode::<T>(bytes);
    match (&by_hand, &by_postcard) {
        (Ok(value), _) => {
            prop_assert_eq!(by_postcard.as_ref(), Ok(value), "postcard disagrees");
            prop_assert_eq!(&encode(value)[..], bytes, "accepted a second spelling");
        }
        (Err(error), Ok(value)) => prop_assert_ne!(
            &encode(value)[..],
            bytes,
            "rejected postcard's own encoding of {:?}: {}",
            value,
            error
        ),
        (Err(_), Err(_)) => {}
    }
    Ok(())
}

/// The message contract, plus: the peek and the outline succeed exactly when decoding does,
/// with the same error, and read the same fields.
fn check_message_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    check_decoder_against_postcard(bytes, decode_message)?;
    let peeked = peek_message_type_and_reject(bytes);
    // A stale entry list in the outline must be replaced, not extended.
    let mut outline = MessageOutline {
        entries: vec![(7, 7)],
        ..MessageOutline::default()
    };
    let outlined = outline_message_into(bytes, &mut outline);
    match decode_message(bytes) {
        Ok(message) => {
            prop_assert_eq!(peeked, Ok((message.msg_type, message.reject)));
            prop_assert_eq!(outlined, Ok(()));
            prop_assert_eq!(outline, MessageOutline::from(&message));
        }
        Err(error) => {
            prop_assert_eq!(peeked, Err(error.clone()));
            prop_assert_eq!(outlined, Err(error));
        }
    }
    Ok(())
}

/// `CODEC_VERSION` then `body`.
fn versioned(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![CODEC_VERSION];
    bytes.extend_from_slice(body);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn messages_encode_as_postcard_does_and_decode_back(message in any_message()) {
        let bytes = encode_message(&message);
        prop_assert_eq!(&bytes, &encode(&message));
        prop_assert_eq!(decode_message(&bytes), Ok(message.clone()));
        prop_assert_eq!(peek_message_type(&bytes), Ok(message.msg_type));
        prop_assert_eq!(
            peek_message_type_and_reject(&bytes),
            Ok((message.msg_type, message.reject))
        );
        let mut outline = MessageOutline::default();
        prop_assert_eq!(outline_message_into(&bytes, &mut outline), Ok(()));
        prop_assert_eq!(outline, MessageOutline::from(&message));
    }

    #[test]
    fn entry_batches_encode_as_postcard_does_and_decode_back(entries in any_entries()) {
        let mut bytes = vec![0xee];
        encode_entries_into(&entries, &mut bytes);
        prop_assert_eq!(&bytes[1..], &encode(&entries)[..]);
        prop_assert_eq!(decode_entries(&bytes[1..]), Ok(entries));
    }

    #[test]
    fn hard_states_encode_as_postcard_does_and_decode_back(hard_state in any_hard_state()) {
        let mut bytes = vec![0xee];
        encode_hard_state_into(&hard_state, &mut bytes);
        prop_assert_eq!(&bytes[1..], &encode(&hard_state)[..]);
        prop_assert_eq!(decode_hard_state(&bytes[1..]), Ok(hard_state));
    }

    #[test]
    fn mutated_messages_decode_as_postcard_does(
        message in any_message(),
        mutations in proptest::collection::vec(any_mutation(), 1..4),
    ) {
        check_message_bytes(&mutate(encode_message(&message), &mutations))?;
    }

    #[test]
    fn mutated_entry_batches_decode_as_postcard_does(
        entries in any_entries(),
        mutations in proptest::collection::vec(any_mutation(), 1..4),
    ) {
        let bytes = mutate(encode(&entries), &mutations);
        check_decoder_against_postcard(&bytes, decode_entries)?;
    }

    #[test]
    fn mutated_hard_states_decode_as_postcard_does(
        hard_state in any_hard_state(),
        mutations in proptest::collection::vec(any_mutation(), 1..4),
    ) {
        let bytes = mutate(encode(&hard_state), &mutations);
        check_decoder_against_postcard(&bytes, decode_hard_state)?;
    }

    #[test]
    fn arbitrary_bytes_decode_as_postcard_does(
        body in proptest::collection::vec(any::<u8>(), 0..48)
    ) {
        let bytes = versioned(&body);
        check_message_bytes(&bytes)?;
        check_decoder_against_postcard(&bytes, decode_entries)?;
        check_decoder_against_postcard(&bytes, decode_hard_state)?;
    }
}

/// A heartbeat's bytes: type, to, from, term, log_term, index, no entries, commit, no snapshot,
/// no reject, reject_hint, empty context.
const HEARTBEAT: [u8; 13] = [1, 9, 2, 1, 5, 0, 0, 0, 4, 0, 0, 0, 0];

#[test]
fn the_heartbeat_fixture_is_postcards_encoding() {
    let heartbeat = Message {
        term: 5,
        commit: 4,
        ..Message::new(MessageType::Heartbeat, 2, 1)
    };
    assert_eq!(encode(&heartbeat), HEARTBEAT);
    assert_eq!(decode_message(&HEARTBEAT), Ok(heartbeat));
}

#[test]
fn a_padded_varint_is_the_one_input_postcard_accepts_and_the_hand_decoder_rejects() {
    // `to` = 2 spelled in two bytes.
    let mut padded = HEARTBEAT.to_vec();
    padded.splice(2..3, [0x82, 0x00]);
    assert_eq!(decode::<Message>(&padded), decode::<Message>(&HEARTBEAT));
    let rejection = CodecError::MalformedField {
        field: "to",
        offset: 2,
        problem: FieldProblem::NonCanonicalVarint,
    };
    assert_eq!(decode_message(&padded), Err(rejection.clone()));
    assert_eq!(
        peek_message_type_and_reject(&padded),
        Err(rejection.clone())
    );
    assert_eq!(
        rejection.to_string(),
        "field `to` at offset 2: varint padded with a zero group"
    );
}

#[test]
fn errors_name_the_field_and_where_it_starts() {
    let error = |bytes: &[u8]| match decode_message(bytes) {
        Err(CodecError::MalformedField {
            field,
            offset,
            problem,
        }) => (field, offset, problem),
        other => panic!("{bytes:?} decoded as {other:?}"),
    };
    assert_eq!(
        error(&HEARTBEAT[..11]),
        ("reject_hint", 11, FieldProblem::Truncated)
    );
    let mut bad_bool = HEARTBEAT;
    bad_bool[10] = 2;
    assert_eq!(
        error(&bad_bool),
        ("reject", 10, FieldProblem::InvalidBool { byte: 2 })
    );
    let mut bad_tag = HEARTBEAT;
    bad_tag[9] = 7;
    assert_eq!(
        error(&bad_tag),
        ("snapshot", 9, FieldProblem::InvalidOptionTag { byte: 7 })
    );
    let mut bad_type = HEARTBEAT;
    bad_type[1] = 19;
    assert_eq!(
        error(&bad_type),
        (
            "msg_type",
            1,
            FieldProblem::UnknownVariant { discriminant: 19 }
        )
    );
    let mut long_context = HEARTBEAT;
    long_context[12] = 1;
    assert_eq!(
        error(&long_context),
        (
            "context",
            12,
            FieldProblem::LengthExceedsInput {
                length: 1,
                remaining: 0
            }
        )
    );
}

/// A count of 2^63 entries in a 20-byte input must fail on the count, before any allocation
/// (which would abort the process).
#[test]
fn declared_counts_are_checked_against_the_input_before_allocating() {
    let mut huge_count = vec![0xff; 9];
    huge_count.push(0x01);
    let mut message = HEARTBEAT[..7].to_vec();
    message.extend_from_slice(&huge_count);
    message.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode_message(&message),
        Err(CodecError::MalformedField {
            field: "entries",
            offset: 7,
            problem: FieldProblem::CountExceedsInput {
                count: u64::MAX,
                min_bytes_each: 4,
                remaining: 4,
            },
        })
    );
    // Two entries need at least 8 bytes; 7 are left.
    assert!(matches!(
        decode_entries(&versioned(&[2, 0, 0, 0, 0, 0, 0, 0])),
        Err(CodecError::MalformedField {
            problem: FieldProblem::CountExceedsInput { .. },
            ..
        })
    ));
    let mut voters = versioned(&[11, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    voters.extend_from_slice(&huge_count);
    assert!(matches!(
        decode_message(&voters),
        Err(CodecError::MalformedField {
            field: "conf_state.voters",
            problem: FieldProblem::CountExceedsInput { .. },
            ..
        })
    ));
}

/// A message that uses every field: entries of both types, a snapshot with every list of its
/// configuration filled, multi-byte varints and lengths.
fn full_message() -> Message {
    Message {
        msg_type: MessageType::Snapshot,
        to: 2,
        from: 300,
        term: u64::MAX,
        log_term: 1 << 35,
        index: 127,
        entries: vec![
            Entry {
                term: 7,
                index: 128,
                entry_type: EntryType::ConfChange,
                data: vec![0x80; 130],
            },
            Entry::normal(b"x".to_vec()),
        ],
        commit: 16_384,
        snapshot: Some(Box::new(Snapshot {
            data: b"state".to_vec(),
            metadata: SnapshotMetadata {
                conf_state: ConfState {
                    voters: vec![1, 200],
                    learners: vec![3],
                    voters_outgoing: vec![1, 2],
                    learners_next: vec![u64::MAX],
                    auto_leave: true,
                },
                index: 99,
                term: 6,
            },
        })),
        reject: true,
        reject_hint: 1,
        context: b"ctx".to_vec(),
    }
}

/// Every byte of the fixtures replaced by every value, and every value inserted at every
/// position: the random mutations above may miss a single bad byte in a bool or a tag; this
/// does not.
#[test]
fn every_one_byte_edit_of_the_fixtures_decodes_as_postcard_does() {
    type Check = fn(&[u8]) -> Result<(), TestCaseError>;
    let full = full_message();
    let hard_state = HardState {
        term: 1 << 40,
        vote: 3,
        commit: 200,
    };
    let fixtures: [(Vec<u8>, Check); 4] = [
        (encode_message(&full), check_message_bytes),
        (HEARTBEAT.to_vec(), check_message_bytes),
        (encode(&full.entries), |bytes| {
            check_decoder_against_postcard(bytes, decode_entries)
        }),
        (encode(&hard_state), |bytes| {
            check_decoder_against_postcard(bytes, decode_hard_state)
        }),
    ];
    for (bytes, check) in fixtures {
        for at in 1..=bytes.len() {
            for byte in 0..=u8::MAX {
                let mut replaced = bytes.clone();
                if at < bytes.len() {
                    replaced[at] = byte;
                }
                let mut inserted = bytes.clone();
                inserted.insert(at, byte);
                for edited in [replaced, inserted] {
                    if let Err(failure) = check(&edited) {
                        panic!("{edited:?}: {failure}");
                    }
                }
            }
        }
    }
}
