//! Arbitrary bytes into the codec: decoding never panics, and whatever decodes re-encodes to
//! bytes that decode to the same value. Covers messages and the payloads carried inside entries
//! (configuration changes, client commands) and snapshots (the key-value store).
//!
//! The hand-written decoders (messages, entry batches, hard state) are also checked against
//! postcard, the serde path they replace: whatever the hand decoder accepts, postcard accepts
//! with the same value and re-encodes to exactly the input; whatever postcard accepts and
//! re-encodes to exactly the input, the hand decoder accepts with the same value. (postcard
//! also accepts varints padded with zero groups, which the hand decoders reject on purpose:
//! those re-encode shorter.) The message peek and outline succeed exactly when decoding does,
//! and read the same fields.

#![no_main]

use libfuzzer_sys::fuzz_target;
use raft::codec::{self, CodecError};
use raft::{ConfChange, Entry, HardState, Message};

fn round_trips<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = codec::decode::<T>(bytes) {
        let again = codec::encode(&value);
        assert_eq!(codec::decode::<T>(&again).as_ref(), Ok(&value));
    }
}

fn agrees_with_postcard<T>(bytes: &[u8], decode_by_hand: fn(&[u8]) -> Result<T, CodecError>)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let by_hand = decode_by_hand(bytes);
    let by_postcard = codec::decode::<T>(bytes);
    match (&by_hand, &by_postcard) {
        (Ok(value), _) => {
            assert_eq!(by_postcard.as_ref(), Ok(value), "postcard disagrees");
            assert_eq!(codec::encode(value), bytes, "accepted a second spelling");
        }
        (Err(error), Ok(value)) => assert_ne!(
            codec::encode(value),
            bytes,
            "rejected postcard's own encoding of {value:?}: {error}"
        ),
        (Err(_), Err(_)) => {}
    }
}

fuzz_target!(|bytes: &[u8]| {
    round_trips::<Message>(bytes);
    round_trips::<ConfChange>(bytes);
    agrees_with_postcard::<Message>(bytes, codec::decode_message);
    agrees_with_postcard::<Vec<Entry>>(bytes, codec::decode_entries);
    agrees_with_postcard::<HardState>(bytes, codec::decode_hard_state);
    let mut outline = codec::MessageOutline::default();
    let outlined = codec::outline_message_into(bytes, &mut outline);
    match codec::decode_message(bytes) {
        Ok(message) => {
            assert_eq!(
                codec::peek_message_type_and_reject(bytes),
                Ok((message.msg_type, message.reject))
            );
            assert_eq!(outlined, Ok(()));
            assert_eq!(outline, codec::MessageOutline::from(&message));
        }
        Err(error) => {
            assert_eq!(codec::peek_message_type_and_reject(bytes), Err(error.clone()));
            assert_eq!(outlined, Err(error));
        }
    }
    if let Ok(command) = kvapp::store::decode_command(bytes) {
        let again = kvapp::store::encode_command(&command);
        assert_eq!(kvapp::store::decode_command(&again), Ok(command));
    }
    // A store snapshot (the data of a snapshot message), in either layout: what restores
    // passed the store's checks, and its own snapshot restores to the same store.
    if let Ok(store) = kvapp::store::Store::restore(bytes) {
        let again = store.snapshot_data();
        assert_eq!(kvapp::store::Store::restore(&again).as_ref(), Ok(&store));
    }
});
