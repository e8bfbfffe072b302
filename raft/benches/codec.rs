//! The hand-written message codec against the serde + postcard path it replaced (still
//! reachable as `codec::encode` / `codec::decode`), on the messages that dominate traffic: a
//! heartbeat, an append of two small entries, and an append response. Both paths write the
//! same bytes; the bench checks that before it measures.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use raft::codec;
use raft::{Entry, Message, MessageType};

fn heartbeat() -> Message {
    Message {
        term: 12,
        commit: 4_096,
        ..Message::new(MessageType::Heartbeat, 2, 1)
    }
}

fn append_of_two_small_entries() -> Message {
    let entry = |index, data: &[u8]| Entry {
        term: 12,
        index,
        ..Entry::normal(data.to_vec())
    };
    Message {
        term: 12,
        log_term: 12,
        index: 4_096,
        entries: vec![
            entry(4_097, b"put key-17 value-17"),
            entry(4_098, b"put key-18 value-18"),
        ],
        commit: 4_096,
        ..Message::new(MessageType::Append, 2, 1)
    }
}

fn append_response() -> Message {
    Message {
        term: 12,
        index: 4_098,
        ..Message::new(MessageType::AppendResponse, 1, 2)
    }
}

fn messages() -> [(&'static str, Message); 3] {
    [
        ("heartbeat", heartbeat()),
        ("append_2_entries", append_of_two_small_entries()),
        ("append_response", append_response()),
    ]
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, message) in messages() {
        assert_eq!(codec::encode_message(&message), codec::encode(&message));
        group.bench_function(format!("{name}/postcard"), |b| {
            b.iter(|| codec::encode_with_capacity(black_box(&message), 64))
        });
        group.bench_function(format!("{name}/hand"), |b| {
            b.iter(|| codec::encode_message(black_box(&message)))
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, message) in messages() {
        let bytes = codec::encode_message(&message);
        assert_eq!(codec::decode_message(&bytes).as_ref(), Ok(&message));
        group.bench_function(format!("{name}/postcard"), |b| {
            b.iter(|| codec::decode::<Message>(black_box(&bytes)))
        });
        group.bench_function(format!("{name}/hand"), |b| {
            b.iter(|| codec::decode_message(black_box(&bytes)))
        });
    }
    group.finish();
}

/// Classifying a sent message by type and reject flag: what a simulator counting traffic did
/// with a full decode, against the peek.
fn peek(c: &mut Criterion) {
    let mut group = c.benchmark_group("type_and_reject");
    let bytes = codec::encode_message(&append_response());
    group.bench_function("append_response/decode", |b| {
        b.iter(|| codec::decode_message(black_box(&bytes)).map(|m| (m.msg_type, m.reject)))
    });
    group.bench_function("append_response/peek", |b| {
        b.iter(|| codec::peek_message_type_and_reject(black_box(&bytes)))
    });
    group.finish();
}

criterion_group!(benches, encode, decode, peek);
criterion_main!(benches);
