//! One set of voters decided by simple majority (etcd-io/raft `quorum/majority.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{AckedIndexer, VoteResult};
use crate::message::{Index, NodeId};

/// Configurations up to this many voters compute their committed index on the stack; larger
/// ones allocate. Seven covers every cluster size that is common in practice.
const STACK_VOTERS_MAX: usize = 7;

/// A set of voters in which any strict majority is a quorum (Raft §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MajorityConfig {
    /// The voters. May be empty: an empty configuration agrees to everything, which lets a
    /// joint configuration with an empty half behave like its other half.
    voters: BTreeSet<NodeId>,
}

impl MajorityConfig {
    /// A configuration of exactly these voters.
    pub fn new(voters: BTreeSet<NodeId>) -> Self {
        MajorityConfig { voters }
    }

    /// The voters, in increasing id order.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voters
    }

    /// Whether `id` is a voter here.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// The number of voters.
    pub fn len(&self) -> usize {
        self.voters.len()
    }

    /// True when there are no voters.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// Adds `id` as a voter; returns whether it was absent.
    pub fn insert(&mut self, id: NodeId) -> bool {
        self.voters.insert(id)
    }

    /// Removes `id`; returns whether it was a voter.
    pub fn remove(&mut self, id: NodeId) -> bool {
        self.voters.remove(&id)
    }

    /// The number of voters that make a quorum: a strict majority.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The largest index that a majority of the voters have acknowledged (Raft §5.3: an entry
    /// is committed once it is stored on a majority).
    ///
    /// A voter that `acked` knows nothing about counts as having acknowledged index 0. An empty
    /// configuration returns `Index::MAX`, so that in a joint configuration (which takes the
    /// minimum of its halves) an empty half defers to the other.
    ///
    /// This runs on every append response, so for up to seven voters it sorts a
    /// small array on the stack instead of allocating.
    pub fn committed_index(&self, acked: &impl AckedIndexer) -> Index {
        let count = self.voters.len();
        if count == 0 {
            return Index::MAX;
        }
        let mut on_stack = [0 as Index; STACK_VOTERS_MAX];
        let mut on_heap = Vec::new();
        let indexes: &mut [Index] = if count <= STACK_VOTERS_MAX {
            &mut on_stack[..count]
        } else {
            on_heap.resize(count, 0);
            &mut on_heap
        };
        for (slot, &voter) in indexes.iter_mut().zip(&self.voters) {
            *slot = acked.acked_index(voter).unwrap_or(0);
        }
        indexes.sort_unstable();
        // In increasing order, the entry at `count - quorum_size` and everything above it make
        // up `quorum_size` voters that all acknowledged at least that entry's index, and no
        // larger index is acknowledged by as many.
        indexes[count - self.quorum_size()]
    }

    /// The outcome of an election given the votes received so far (`true` = granted).
    ///
    /// Votes from ids outside the configuration are ignored. An empty configuration wins (it
    /// agrees to everything, as in [`MajorityConfig::committed_index`]). The result is
    /// [`VoteResult::Pending`] as long as the missing votes could still decide either way.
    pub fn vote_result(&self, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for voter in &self.voters {
            match votes.get(voter) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let quorum_size = self.quorum_size();
        if granted >= quorum_size {
            VoteResult::Won
        } else if granted + missing >= quorum_size {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }
}

impl FromIterator<NodeId> for MajorityConfig {
    fn from_iter<T: IntoIterator<Item = NodeId>>(iter: T) -> Self {
        MajorityConfig::new(iter.into_iter().collect())
    }
}

/// Formats as the space-separated voters in parentheses, e.g. `(1 2 3)`.
impl fmt::Display for MajorityConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("(")?;
        for (position, voter) in self.voters.iter().enumerate() {
            if position > 0 {
                formatter.write_str(" ")?;
            }
            write!(formatter, "{voter}")?;
        }
        formatter.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(voters: &[NodeId]) -> MajorityConfig {
        voters.iter().copied().collect()
    }

    fn acked(pairs: &[(NodeId, Index)]) -> BTreeMap<NodeId, Index> {
        pairs.iter().copied().collect()
    }

    fn votes(pairs: &[(NodeId, bool)]) -> BTreeMap<NodeId, bool> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn empty_config_commits_everything_and_wins() {
        let empty = MajorityConfig::default();
        assert_eq!(empty.committed_index(&acked(&[(1, 5)])), Index::MAX);
        assert_eq!(empty.vote_result(&votes(&[])), VoteResult::Won);
        assert_eq!(empty.vote_result(&votes(&[(1, false)])), VoteResult::Won);
    }

    #[test]
    fn single_voter_commits_its_own_index() {
        let one = config(&[1]);
        assert_eq!(one.committed_index(&acked(&[(1, 7)])), 7);
        assert_eq!(one.committed_index(&acked(&[])), 0);
        assert_eq!(
            one.committed_index(&acked(&[(2, 9)])),
            0,
            "acks from non-voters do not count"
        );
    }

    #[test]
    fn odd_config_commits_the_median() {
        let three = config(&[1, 2, 3]);
        assert_eq!(three.committed_index(&acked(&[(1, 10), (2, 5), (3, 7)])), 7);
        assert_eq!(
            three.committed_index(&acked(&[(1, 10), (2, 5)])),
            5,
            "3 missing counts as 0"
        );
        assert_eq!(three.committed_index(&acked(&[(1, 10)])), 0);
        let five = config(&[1, 2, 3, 4, 5]);
        assert_eq!(
            five.committed_index(&acked(&[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)])),
            3
        );
    }

    #[test]
    fn even_config_needs_more_than_half() {
        let four = config(&[1, 2, 3, 4]);
        // Three of four must have acknowledged: the second smallest.
        assert_eq!(
            four.committed_index(&acked(&[(1, 10), (2, 20), (3, 30), (4, 40)])),
            20
        );
        assert_eq!(
            four.committed_index(&acked(&[(1, 10), (2, 20), (3, 30)])),
            10
        );
        let two = config(&[1, 2]);
        assert_eq!(two.committed_index(&acked(&[(1, 10), (2, 20)])), 10);
    }

    #[test]
    fn large_config_takes_the_heap_path() {
        let nine = config(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let acks: BTreeMap<NodeId, Index> = (1..=9).map(|id| (id, id * 10)).collect();
        // Five of nine: indexes 50..=90 are held by voters 5..=9.
        assert_eq!(nine.committed_index(&acks), 50);
    }

    #[test]
    fn votes_are_pending_until_decided() {
        let three = config(&[1, 2, 3]);
        assert_eq!(three.vote_result(&votes(&[])), VoteResult::Pending);
        assert_eq!(three.vote_result(&votes(&[(1, true)])), VoteResult::Pending);
        assert_eq!(
            three.vote_result(&votes(&[(1, true), (2, false)])),
            VoteResult::Pending
        );
        assert_eq!(
            three.vote_result(&votes(&[(1, true), (2, true)])),
            VoteResult::Won
        );
        assert_eq!(
            three.vote_result(&votes(&[(1, false), (2, false)])),
            VoteResult::Lost
        );
    }

    #[test]
    fn even_config_loses_on_a_tie() {
        let four = config(&[1, 2, 3, 4]);
        assert_eq!(
            four.vote_result(&votes(&[(1, true), (2, true)])),
            VoteResult::Pending
        );
        assert_eq!(
            four.vote_result(&votes(&[(1, true), (2, true), (3, false), (4, false)])),
            VoteResult::Lost
        );
        assert_eq!(
            four.vote_result(&votes(&[(1, true), (2, true), (3, true)])),
            VoteResult::Won
        );
    }

    #[test]
    fn votes_from_non_voters_are_ignored() {
        let one = config(&[1]);
        assert_eq!(
            one.vote_result(&votes(&[(2, true), (3, true)])),
            VoteResult::Pending
        );
        assert_eq!(
            one.vote_result(&votes(&[(1, false), (2, true)])),
            VoteResult::Lost
        );
    }

    #[test]
    fn display_lists_voters_in_order() {
        assert_eq!(config(&[3, 1, 2]).to_string(), "(1 2 3)");
        assert_eq!(MajorityConfig::default().to_string(), "()");
    }
}
