//! Arbitrary bytes into the codec: decoding never panics, and whatever decodes re-encodes to
//! bytes that decode to the same value. Covers messages and the payloads carried inside entries
//! (configuration changes, client commands).

#![no_main]

use libfuzzer_sys::fuzz_target;
use raft::codec;
use raft::{ConfChange, Message};

fn round_trips<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = codec::decode::<T>(bytes) {
        let again = codec::encode(&value);
        assert_eq!(codec::decode::<T>(&again).as_ref(), Ok(&value));
    }
}

fuzz_target!(|bytes: &[u8]| {
    round_trips::<Message>(bytes);
    round_trips::<ConfChange>(bytes);
    if let Ok(command) = kvapp::store::decode_command(bytes) {
        let again = kvapp::store::encode_command(&command);
        assert_eq!(kvapp::store::decode_command(&again), Ok(command));
    }
});
