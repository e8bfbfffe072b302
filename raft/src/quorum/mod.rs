//! Quorum arithmetic: which index a set of voters has committed, and who won an election.
//!
//! This module knows nothing of messages, logs or terms. It answers two questions about a
//! set of voters, in the shape of etcd-io/raft's `quorum` package:
//!
//! - given the index each voter has acknowledged, what is the largest index that a quorum has
//!   acknowledged ([`MajorityConfig::committed_index`], [`JointConfig::committed_index`]);
//! - given the votes received so far, is the election won, lost, or still open
//!   ([`MajorityConfig::vote_result`], [`JointConfig::vote_result`]).
//!
//! A [`MajorityConfig`] is one set of voters decided by simple majority (Raft §5.2, §5.3). A
//! [`JointConfig`] is the pair of configurations of joint consensus (Raft thesis §4.3), in which
//! every decision needs a majority of each half.

mod joint;
mod majority;

use std::collections::BTreeMap;

use crate::message::{Index, NodeId};

pub use joint::JointConfig;
pub use majority::MajorityConfig;

/// The outcome of an election as far as the votes received so far can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteResult {
    /// Not decided yet: the votes still missing could make it go either way.
    Pending,
    /// Decided against: even if every missing vote were granted there would be no quorum.
    Lost,
    /// Decided for: a quorum has granted its vote.
    Won,
}

/// Where the quorum arithmetic learns which log index each voter has acknowledged.
///
/// The leader implements it over its progress map (a voter's `matched` index); tests implement
/// it over a plain map.
pub trait AckedIndexer {
    /// The highest index `voter` is known to have persisted, or `None` if nothing is known about
    /// it (which counts as index 0).
    fn acked_index(&self, voter: NodeId) -> Option<Index>;
}

impl AckedIndexer for BTreeMap<NodeId, Index> {
    fn acked_index(&self, voter: NodeId) -> Option<Index> {
        self.get(&voter).copied()
    }
}

/// Differential tests: the quorum arithmetic against the definitions, evaluated by brute force.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    /// The definition of "committed" for one majority configuration: the largest index that at
    /// least a majority of the voters have acknowledged. Tries every candidate.
    fn naive_majority_committed(
        voters: &BTreeSet<NodeId>,
        acked: &BTreeMap<NodeId, Index>,
    ) -> Index {
        if voters.is_empty() {
            return Index::MAX;
        }
        let acked_by = |voter: &NodeId| acked.get(voter).copied().unwrap_or(0);
        let candidates = voters.iter().map(acked_by).chain([0]);
        candidates
            .filter(|&candidate| {
                let count = voters.iter().filter(|v| acked_by(v) >= candidate).count();
                count > voters.len() / 2
            })
            .max()
            .expect("index 0 is acknowledged by everyone")
    }

    /// The definition for a joint configuration: the largest index that a majority of each
    /// non-empty half has acknowledged (an empty half agrees to anything).
    fn naive_joint_committed(
        incoming: &BTreeSet<NodeId>,
        outgoing: &BTreeSet<NodeId>,
        acked: &BTreeMap<NodeId, Index>,
    ) -> Index {
        let acked_by = |voter: &NodeId| acked.get(voter).copied().unwrap_or(0);
        let has_majority = |half: &BTreeSet<NodeId>, candidate: Index| {
            half.is_empty()
                || half.iter().filter(|v| acked_by(v) >= candidate).count() > half.len() / 2
        };
        let candidates = incoming
            .iter()
            .chain(outgoing)
            .map(acked_by)
            .chain([0, Index::MAX]);
        candidates
            .filter(|&candidate| {
                has_majority(incoming, candidate) && has_majority(outgoing, candidate)
            })
            .max()
            .expect("index 0 is acknowledged by everyone")
    }

    /// The definition of a vote result: enumerate every way the missing votes could still go.
    /// Won if every completion wins, Lost if none does, Pending otherwise.
    fn naive_vote_result(
        halves: &[&BTreeSet<NodeId>],
        votes: &BTreeMap<NodeId, bool>,
    ) -> VoteResult {
        let everyone: BTreeSet<NodeId> = halves
            .iter()
            .flat_map(|half| half.iter().copied())
            .collect();
        let missing: Vec<NodeId> = everyone
            .iter()
            .copied()
            .filter(|id| !votes.contains_key(id))
            .collect();
        let (mut wins, mut losses) = (0, 0);
        for completion in 0u32..(1 << missing.len()) {
            let granted = |id: &NodeId| match votes.get(id) {
                Some(&vote) => vote,
                None => {
                    let position = missing.iter().position(|m| m == id).expect("missing voter");
                    completion & (1 << position) != 0
                }
            };
            let wins_half = |half: &&BTreeSet<NodeId>| {
                half.is_empty() || half.iter().filter(|id| granted(id)).count() > half.len() / 2
            };
            if halves.iter().all(wins_half) {
                wins += 1;
            } else {
                losses += 1;
            }
        }
        match (wins, losses) {
            (_, 0) => VoteResult::Won,
            (0, _) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// Up to 7 voters drawn from ids 1..=9, so that halves overlap often.
    fn voter_set() -> impl Strategy<Value = BTreeSet<NodeId>> {
        proptest::collection::btree_set(1..=9u64, 0..=7)
    }

    /// Acknowledged indexes for some of ids 0..=10 (some voters missing, some extra ids);
    /// small values make ties frequent.
    fn acked_map() -> impl Strategy<Value = BTreeMap<NodeId, Index>> {
        proptest::collection::btree_map(0..=10u64, 0..=6u64, 0..=10)
    }

    /// Votes from some of ids 0..=10.
    fn vote_map() -> impl Strategy<Value = BTreeMap<NodeId, bool>> {
        proptest::collection::btree_map(0..=10u64, any::<bool>(), 0..=10)
    }

    proptest! {
        #[test]
        fn majority_committed_index_matches_the_definition(voters in voter_set(), acked in acked_map()) {
            let config = MajorityConfig::new(voters.clone());
            prop_assert_eq!(config.committed_index(&acked), naive_majority_committed(&voters, &acked));
        }

        #[test]
        fn joint_committed_index_matches_the_definition(
            incoming in voter_set(),
            outgoing in voter_set(),
            acked in acked_map(),
        ) {
            let config = JointConfig {
                incoming: MajorityConfig::new(incoming.clone()),
                outgoing: MajorityConfig::new(outgoing.clone()),
            };
            prop_assert_eq!(
                config.committed_index(&acked),
                naive_joint_committed(&incoming, &outgoing, &acked)
            );
        }

        #[test]
        fn majority_vote_result_matches_enumeration(voters in voter_set(), votes in vote_map()) {
            let config = MajorityConfig::new(voters.clone());
            prop_assert_eq!(config.vote_result(&votes), naive_vote_result(&[&voters], &votes));
        }

        #[test]
        fn joint_vote_result_matches_enumeration(
            incoming in voter_set(),
            outgoing in voter_set(),
            votes in vote_map(),
        ) {
            let config = JointConfig {
                incoming: MajorityConfig::new(incoming.clone()),
                outgoing: MajorityConfig::new(outgoing.clone()),
            };
            prop_assert_eq!(
                config.vote_result(&votes),
                naive_vote_result(&[&incoming, &outgoing], &votes)
            );
        }

        /// Larger configurations take the allocating path of `committed_index`.
        #[test]
        fn large_majority_committed_index_matches_the_definition(
            voters in proptest::collection::btree_set(1..=40u64, 8..=30),
            acked in proptest::collection::btree_map(1..=40u64, 0..=20u64, 0..=40),
        ) {
            let config = MajorityConfig::new(voters.clone());
            prop_assert_eq!(config.committed_index(&acked), naive_majority_committed(&voters, &acked));
        }
    }
}
