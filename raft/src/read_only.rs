//! Linearizable reads without a log entry (Raft thesis §6.4): the leader records its commit index
//! when a read arrives, confirms that it is still the leader, and then the application may serve
//! the read once it has applied up to that index.
//!
//! Confirmation uses heartbeat rounds. Each request gets a round number from a counter that never
//! goes back; the heartbeats sent for it carry that number, and a follower's response echoes it.
//! An acknowledgement of round r was sent after the follower received a heartbeat that the leader
//! sent after registering every request numbered r or lower, so it confirms exactly those. Unlike
//! keying rounds by the application's request context, a delayed response can never confirm a
//! later request that happens to reuse a context (etcd #20418).

use std::collections::{BTreeSet, VecDeque};

use crate::config::ReadOnlyOption;
use crate::message::{Index, Message, NodeId};

/// A read that the application may serve once it has applied `index`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReadState {
    /// The commit index at the time the leader received the request.
    pub index: Index,
    /// The context the application attached to the request.
    pub request_context: Vec<u8>,
}

/// A read waiting for the leader to confirm its leadership.
#[derive(Clone, Debug)]
pub struct PendingRead {
    /// The heartbeat round that confirms this read.
    pub round: u64,
    /// The commit index when the request arrived.
    pub index: Index,
    /// The request as received (its sender and context).
    pub request: Message,
    /// The voters that acknowledged round `round` or a later one.
    pub acks: BTreeSet<NodeId>,
}

/// The most reads a leader holds unconfirmed; more are dropped so that the queue stays bounded.
pub const MAX_PENDING_READS: usize = 4096;

/// The leader's queue of reads awaiting confirmation.
#[derive(Clone, Debug)]
pub struct ReadOnly {
    /// How reads are confirmed.
    pub option: ReadOnlyOption,
    /// Pending reads in round order. Invariant: rounds strictly increase from front to back.
    pending: VecDeque<PendingRead>,
    /// The round the next request gets; never goes back, also across terms.
    next_round: u64,
}

impl ReadOnly {
    /// An empty queue.
    pub fn new(option: ReadOnlyOption) -> ReadOnly {
        ReadOnly {
            option,
            pending: VecDeque::new(),
            next_round: 1,
        }
    }

    /// Drops every pending read (the node stopped being leader); round numbers keep counting.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// How many reads wait for confirmation.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Registers a read at commit index `index`, acknowledged already by the leader itself, and
    /// returns the round whose heartbeats confirm it.
    pub fn add_request(&mut self, index: Index, request: Message, leader: NodeId) -> u64 {
        let round = self.next_round;
        self.next_round += 1;
        self.pending.push_back(PendingRead {
            round,
            index,
            request,
            acks: BTreeSet::from([leader]),
        });
        round
    }

    /// A new round that no read waits for (a lease-based leader numbers every heartbeat
    /// round); acknowledging it confirms every read pending now.
    pub fn new_round(&mut self) -> u64 {
        let round = self.next_round;
        self.next_round += 1;
        round
    }

    /// The round of the newest pending read, to attach to heartbeats.
    pub fn last_round(&self) -> Option<u64> {
        self.pending.back().map(|read| read.round)
    }

    /// Records that `voter` acknowledged `round`: it confirms every read numbered `round` or
    /// lower. Because of that, an older read's acknowledgements always include a newer one's.
    pub fn receive_ack(&mut self, voter: NodeId, round: u64) {
        for read in self.pending.iter_mut() {
            if read.round > round {
                break;
            }
            read.acks.insert(voter);
        }
    }

    /// Removes and returns the reads whose acknowledgements form a quorum, oldest first.
    pub fn release_confirmed(
        &mut self,
        is_quorum: impl Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Vec<PendingRead> {
        let mut released = Vec::new();
        while let Some(front) = self.pending.front() {
            if !is_quorum(&front.acks) {
                break;
            }
            released.extend(self.pending.pop_front());
        }
        released
    }
}

/// Encodes a heartbeat round as a heartbeat's context.
pub fn encode_round(round: u64) -> Vec<u8> {
    round.to_le_bytes().to_vec()
}

/// Decodes a heartbeat response's context; anything but eight bytes is not a round.
pub fn decode_round(context: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = context.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageType;

    fn majority_of_three(acks: &BTreeSet<NodeId>) -> bool {
        acks.len() >= 2
    }

    #[test]
    fn ack_confirms_its_round_and_older_only() {
        let mut reads = ReadOnly::new(ReadOnlyOption::Safe);
        let request = Message::new(MessageType::ReadIndex, 1, 1);
        let first = reads.add_request(5, request.clone(), 1);
        let second = reads.add_request(6, request, 1);
        assert!(second > first);
        // A response to the first round arrives after the second request was registered: it
        // must not confirm the second one.
        reads.receive_ack(2, first);
        let released = reads.release_confirmed(majority_of_three);
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].index, 5);
        assert_eq!(reads.pending_count(), 1);
        reads.receive_ack(3, second);
        assert_eq!(reads.release_confirmed(majority_of_three).len(), 1);
    }

    #[test]
    fn rounds_never_repeat_after_clear() {
        let mut reads = ReadOnly::new(ReadOnlyOption::Safe);
        let request = Message::new(MessageType::ReadIndex, 1, 1);
        let before = reads.add_request(1, request.clone(), 1);
        reads.clear();
        let after = reads.add_request(1, request, 1);
        assert!(after > before);
        // A stale acknowledgement of the cleared round confirms nothing new.
        reads.receive_ack(2, before);
        assert!(reads.release_confirmed(majority_of_three).is_empty());
    }

    #[test]
    fn round_context_round_trips_and_rejects_other_lengths() {
        assert_eq!(decode_round(&encode_round(77)), Some(77));
        assert_eq!(decode_round(b"short"), None);
        assert_eq!(decode_round(&[]), None);
    }
}
