//! The propose → commit scenario of `raft/benches/propose.rs`, once on our `raft` and once on
//! tikv's raft-rs 0.7, so that both can be measured in the same process run.
//!
//! The scenario: a cluster of `RawNode`s with no I/O. Every `Ready` is persisted into the
//! in-memory storage (hard state, entries), messages are delivered in-process at once through a
//! FIFO queue, and one operation ends when the leader has applied the proposed entry; then the
//! remaining messages are delivered ("settle"), as the next heartbeat would. Payload 16 bytes,
//! storage compacted every 4096 entries.

pub mod ours_side;
pub mod raft_rs_side;

/// The proposed payload, 16 bytes.
pub const PAYLOAD: &[u8; 16] = b"0123456789abcdef";

/// Compact storage every this many entries so that a long run does not grow without bound.
pub const COMPACT_EVERY_ENTRIES: u64 = 4096;

/// One library's side of the scenario.
pub trait Scenario {
    /// A short name for tables and benchmark ids.
    const NAME: &'static str;

    /// A cluster of `voters` voters whose node 1 has been elected leader and is settled.
    fn new(voters: u64) -> Self;

    /// Proposes one entry on the leader and returns once the leader has applied it and the
    /// remaining messages have been delivered.
    fn propose_and_commit(&mut self);
}
