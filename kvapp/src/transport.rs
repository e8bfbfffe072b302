//! How a node's messages leave it.

use raft::NodeId;

/// Sends encoded messages to other nodes.
///
/// Fire and forget: `send` never blocks on the peer and never reports failure, because Raft
/// already tolerates lost, duplicated and reordered messages (Raft §5.3 retries by itself). An
/// implementation may drop a message at any time, for example when a peer's queue is full or no
/// connection is up; it should tell the driver through its own channel if it wants the driver to
/// call `report_unreachable`. The bytes are one message encoded with `raft::codec`.
pub trait Transport {
    /// Queues `bytes` for delivery to node `to`, or drops them.
    fn send(&mut self, to: NodeId, bytes: Vec<u8>);
}
