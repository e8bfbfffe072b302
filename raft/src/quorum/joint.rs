//! The two configurations of joint consensus (etcd-io/raft `quorum/joint.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{AckedIndexer, MajorityConfig, VoteResult};
use crate::message::{Index, NodeId};

/// A joint configuration (Raft thesis §4.3): while the membership moves from `outgoing` to
/// `incoming`, every decision needs a majority of each.
///
/// Outside a membership change `outgoing` is empty, and since an empty majority configuration
/// agrees to everything, the joint configuration then decides exactly as `incoming` alone.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JointConfig {
    /// The configuration being moved to (`C_new`); the only one outside a membership change.
    pub incoming: MajorityConfig,
    /// The configuration being left (`C_old`); empty unless joint.
    pub outgoing: MajorityConfig,
}

impl JointConfig {
    /// A configuration that is not joint: `voters` decide alone.
    pub fn new(voters: BTreeSet<NodeId>) -> Self {
        JointConfig {
            incoming: MajorityConfig::new(voters),
            outgoing: MajorityConfig::default(),
        }
    }

    /// True while a membership change is in progress, i.e. the outgoing half is not empty.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Every voter of either half.
    pub fn ids(&self) -> BTreeSet<NodeId> {
        self.incoming
            .voters()
            .union(self.outgoing.voters())
            .copied()
            .collect()
    }

    /// Whether `id` is a voter in either half.
    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.contains(id) || self.outgoing.contains(id)
    }

    /// The largest index acknowledged by a majority of each half: the smaller of the two
    /// halves' committed indexes. `Index::MAX` when both halves are empty.
    pub fn committed_index(&self, acked: &impl AckedIndexer) -> Index {
        let incoming = self.incoming.committed_index(acked);
        let outgoing = self.outgoing.committed_index(acked);
        incoming.min(outgoing)
    }

    /// The outcome of an election: won once both halves have won, lost as soon as either half
    /// has lost, pending otherwise. An empty half always wins, so a configuration that is not
    /// joint behaves as its incoming half.
    pub fn vote_result(&self, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
        let incoming = self.incoming.vote_result(votes);
        let outgoing = self.outgoing.vote_result(votes);
        match (incoming, outgoing) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            (VoteResult::Pending, _) | (_, VoteResult::Pending) => VoteResult::Pending,
        }
    }
}

/// Formats as `(1 2 3)`, or `(1 2 3)&&(1 2 4)` (incoming, then outgoing) while joint.
impl fmt::Display for JointConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.incoming)?;
        if self.is_joint() {
            write!(formatter, "&&{}", self.outgoing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joint(incoming: &[NodeId], outgoing: &[NodeId]) -> JointConfig {
        JointConfig {
            incoming: incoming.iter().copied().collect(),
            outgoing: outgoing.iter().copied().collect(),
        }
    }

    fn acked(pairs: &[(NodeId, Index)]) -> BTreeMap<NodeId, Index> {
        pairs.iter().copied().collect()
    }

    fn votes(pairs: &[(NodeId, bool)]) -> BTreeMap<NodeId, bool> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn non_joint_config_behaves_as_its_incoming_half() {
        let config = JointConfig::new([1, 2, 3].into());
        assert!(!config.is_joint());
        let acks = acked(&[(1, 10), (2, 5), (3, 7)]);
        assert_eq!(config.committed_index(&acks), 7);
        assert_eq!(
            config.vote_result(&votes(&[(1, true), (2, true)])),
            VoteResult::Won
        );
        assert_eq!(
            config.vote_result(&votes(&[(1, false), (2, false)])),
            VoteResult::Lost
        );
    }

    #[test]
    fn empty_joint_config_commits_everything_and_wins() {
        let empty = JointConfig::default();
        assert_eq!(empty.committed_index(&acked(&[])), Index::MAX);
        assert_eq!(empty.vote_result(&votes(&[])), VoteResult::Won);
    }

    #[test]
    fn joint_commit_is_the_minimum_of_both_halves() {
        let config = joint(&[1, 2, 3], &[4, 5, 6]);
        assert!(config.is_joint());
        let acks = acked(&[(1, 10), (2, 10), (3, 10), (4, 3), (5, 4), (6, 5)]);
        assert_eq!(config.committed_index(&acks), 4);
        // The incoming half lagging holds the commit back just the same.
        let acks = acked(&[(1, 1), (2, 2), (3, 3), (4, 30), (5, 30), (6, 30)]);
        assert_eq!(config.committed_index(&acks), 2);
    }

    #[test]
    fn joint_commit_with_overlapping_halves() {
        // (1 2 3)&&(2 3 4): 2 and 3 count in both halves.
        let config = joint(&[1, 2, 3], &[2, 3, 4]);
        assert_eq!(config.ids(), [1, 2, 3, 4].into());
        assert_eq!(config.committed_index(&acked(&[(2, 8), (3, 6)])), 6);
        assert_eq!(config.committed_index(&acked(&[(1, 9), (2, 8), (4, 1)])), 1);
        assert_eq!(config.committed_index(&acked(&[(1, 9), (4, 9)])), 0);
    }

    #[test]
    fn joint_vote_needs_both_halves() {
        let config = joint(&[1, 2, 3], &[3, 4, 5]);
        // Incoming won, outgoing still open.
        assert_eq!(
            config.vote_result(&votes(&[(1, true), (2, true)])),
            VoteResult::Pending
        );
        // Both won through the shared voter 3.
        assert_eq!(
            config.vote_result(&votes(&[(1, true), (3, true), (4, true)])),
            VoteResult::Won
        );
        // Outgoing lost: the whole election is lost even though incoming won.
        assert_eq!(
            config.vote_result(&votes(&[(1, true), (2, true), (4, false), (5, false)])),
            VoteResult::Lost
        );
        // Incoming lost while outgoing is still pending.
        assert_eq!(
            config.vote_result(&votes(&[(1, false), (2, false)])),
            VoteResult::Lost
        );
    }

    #[test]
    fn membership_queries_cover_both_halves() {
        let config = joint(&[1, 2], &[2, 3]);
        assert!(config.contains(1) && config.contains(2) && config.contains(3));
        assert!(!config.contains(4));
        assert_eq!(config.to_string(), "(1 2)&&(2 3)");
        assert_eq!(JointConfig::new([2, 1].into()).to_string(), "(1 2)");
    }
}
