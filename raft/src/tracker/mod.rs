//! The leader's bookkeeping of the configuration and of every member's progress (etcd-io/raft
//! `tracker` package).
//!
//! [`ProgressTracker`] holds the active membership ([`TrackerConfig`]), one [`Progress`] per
//! member, and the votes of the current election. It answers the questions the Raft state
//! machine asks of them (what is committed, is a quorum active, who won) through the pure
//! arithmetic of [`crate::quorum`]. It changes configuration only by installing what
//! [`crate::confchange`] computed.

mod inflights;
mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::message::{ConfState, Index, NodeId};
use crate::quorum::{AckedIndexer, JointConfig, MajorityConfig, VoteResult};

pub use inflights::Inflights;
pub use progress::{Progress, ProgressState};

/// The membership: voters (joint during a change) and learners.
///
/// Invariants (checked by [`TrackerConfig::assert_invariants`] against a progress map):
/// - learners are in neither half of `voters`;
/// - `learners_next` is a subset of the outgoing voters;
/// - outside a joint configuration, `learners_next` is empty and `auto_leave` false.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrackerConfig {
    /// The voters; joint while a membership change is in progress.
    pub voters: JointConfig,
    /// Whether the leader leaves the joint configuration by itself once entering it is
    /// committed (as opposed to waiting for the application to propose an empty change).
    ///
    /// Invariant: false unless `voters` is joint.
    pub auto_leave: bool,
    /// The learners: they receive the log but neither vote nor count towards commit.
    ///
    /// Invariant: disjoint from both halves of `voters`.
    pub learners: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration that the change demotes to learners. A node cannot
    /// be a voter and a learner at once, so it stays a voter until the joint configuration is
    /// left and only then becomes a learner. (A learner that was not an outgoing voter is added
    /// to `learners` right away.)
    ///
    /// Invariant: a subset of the outgoing voters, hence empty unless joint.
    pub learners_next: BTreeSet<NodeId>,
}

impl TrackerConfig {
    /// The configuration in its persisted form.
    pub fn to_conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.incoming.voters().iter().copied().collect(),
            learners: self.learners.iter().copied().collect(),
            voters_outgoing: self.voters.outgoing.voters().iter().copied().collect(),
            learners_next: self.learners_next.iter().copied().collect(),
            auto_leave: self.auto_leave,
        }
    }

    /// Every node of the configuration: voters of either half, learners, and learners to be.
    pub fn ids(&self) -> BTreeSet<NodeId> {
        let mut ids = self.voters.ids();
        ids.extend(&self.learners);
        ids.extend(&self.learners_next);
        ids
    }

    /// Checks the invariants written on the fields, and that `progress` tracks exactly the
    /// nodes of the configuration with `is_learner` set on exactly the learners; describes the
    /// first violation found.
    pub fn check_invariants(&self, progress: &ProgressMap) -> Result<(), String> {
        let incoming = self.voters.incoming.voters();
        let outgoing = self.voters.outgoing.voters();
        if let Some(id) = self.learners.iter().find(|id| incoming.contains(id)) {
            return Err(format!("{id} is both a learner and an incoming voter"));
        }
        if let Some(id) = self.learners.iter().find(|id| outgoing.contains(id)) {
            return Err(format!("{id} is both a learner and an outgoing voter"));
        }
        if let Some(id) = self.learners_next.iter().find(|id| !outgoing.contains(id)) {
            return Err(format!(
                "{id} is in learners_next but not an outgoing voter"
            ));
        }
        if self.auto_leave && !self.voters.is_joint() {
            return Err("auto_leave is set outside a joint configuration".to_string());
        }
        let ids = self.ids();
        if let Some(id) = ids.iter().find(|id| !progress.contains_key(id)) {
            return Err(format!("{id} is in the configuration but has no progress"));
        }
        if let Some(id) = progress.keys().find(|id| !ids.contains(id)) {
            return Err(format!("{id} has progress but is not in the configuration"));
        }
        for (id, node_progress) in progress {
            let is_learner = self.learners.contains(id);
            if node_progress.is_learner != is_learner {
                return Err(format!(
                    "{id} has is_learner {} but is {}in learners",
                    node_progress.is_learner,
                    if is_learner { "" } else { "not " }
                ));
            }
        }
        Ok(())
    }

    /// Panics, with the configuration and progress in the message, if
    /// [`TrackerConfig::check_invariants`] finds a violation.
    pub fn assert_invariants(&self, progress: &ProgressMap) {
        if let Err(violation) = self.check_invariants(progress) {
            panic!("tracker invariant broken: {violation}; config {self}; progress {progress:?}");
        }
    }
}

/// Formats as `voters=(1 2)&&(1 3) learners=(4) learners_next=(3) auto_leave`, leaving out
/// empty sets and a false `auto_leave`.
impl fmt::Display for TrackerConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "voters={}", self.voters)?;
        if !self.learners.is_empty() {
            let learners = MajorityConfig::new(self.learners.clone());
            write!(formatter, " learners={learners}")?;
        }
        if !self.learners_next.is_empty() {
            let learners_next = MajorityConfig::new(self.learners_next.clone());
            write!(formatter, " learners_next={learners_next}")?;
        }
        if self.auto_leave {
            formatter.write_str(" auto_leave")?;
        }
        Ok(())
    }
}

/// The progress of every node in the configuration, by id.
pub type ProgressMap = BTreeMap<NodeId, Progress>;

/// Reads a voter's acknowledged index from its progress: its `matched` index.
struct MatchedIndexer<'a>(&'a ProgressMap);

impl AckedIndexer for MatchedIndexer<'_> {
    fn acked_index(&self, voter: NodeId) -> Option<Index> {
        self.0.get(&voter).map(|progress| progress.matched)
    }
}

/// The active configuration, the progress of each of its nodes, and the votes of the current
/// election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressTracker {
    /// The active membership.
    ///
    /// Invariant: `config.check_invariants(&progress)` holds (asserted by
    /// [`ProgressTracker::apply`]).
    pub config: TrackerConfig,
    /// One entry per node of `config`.
    pub progress: ProgressMap,
    /// The votes received in the current election, `true` for granted. Only the first vote
    /// from each node counts.
    pub votes: BTreeMap<NodeId, bool>,
    /// The inflight window given to the progress of every node added.
    pub max_inflight: usize,
}

impl ProgressTracker {
    /// An empty configuration whose nodes, once added, get inflight windows of
    /// `max_inflight` messages.
    ///
    /// Panics if `max_inflight` is 0: no append could ever be sent in the Replicate state.
    pub fn new(max_inflight: usize) -> Self {
        assert!(max_inflight > 0, "max_inflight must be at least 1, got 0");
        ProgressTracker {
            config: TrackerConfig::default(),
            progress: ProgressMap::new(),
            votes: BTreeMap::new(),
            max_inflight,
        }
    }

    /// The active configuration in its persisted form.
    pub fn conf_state(&self) -> ConfState {
        self.config.to_conf_state()
    }

    /// True when exactly one node votes (and the configuration is not joint): that node
    /// decides everything alone.
    pub fn is_singleton(&self) -> bool {
        self.config.voters.incoming.len() == 1 && !self.config.voters.is_joint()
    }

    /// The largest index a quorum of voters has replicated, by their `matched` indexes.
    ///
    /// With no voters at all this is `Index::MAX` (the empty configuration agrees to
    /// everything): callers must not commit beyond their own log.
    pub fn committed(&self) -> Index {
        self.config
            .voters
            .committed_index(&MatchedIndexer(&self.progress))
    }

    /// Whether a quorum of voters was heard from since `recent_active` was last reset (the
    /// leader's CheckQuorum, Raft thesis §6.2).
    pub fn quorum_active(&self) -> bool {
        self.quorum_where(|_, progress| progress.recent_active)
    }

    /// Whether the voters for which `holds` is true form a quorum of the configuration.
    pub fn quorum_where(&self, holds: impl Fn(NodeId, &Progress) -> bool) -> bool {
        let votes: BTreeMap<NodeId, bool> = self
            .progress
            .iter()
            .filter(|(_, progress)| !progress.is_learner)
            .map(|(&id, progress)| (id, holds(id, progress)))
            .collect();
        self.config.voters.vote_result(&votes) == VoteResult::Won
    }

    /// The voters of either half.
    pub fn voter_ids(&self) -> BTreeSet<NodeId> {
        self.config.voters.ids()
    }

    /// The learners (not counting `learners_next`, who still vote).
    pub fn learner_ids(&self) -> BTreeSet<NodeId> {
        self.config.learners.clone()
    }

    /// Forgets every vote, for a new election.
    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records the vote of `id`, unless it already voted in this election: a node votes once
    /// per term (Raft §5.2), so a second, different answer is a duplicate or a bug and is
    /// ignored.
    pub fn record_vote(&mut self, id: NodeId, granted: bool) {
        self.votes.entry(id).or_insert(granted);
    }

    /// The number of votes granted and rejected by voters of the configuration, and the
    /// outcome so far.
    pub fn tally_votes(&self) -> (usize, usize, VoteResult) {
        let (mut granted, mut rejected) = (0, 0);
        // The voters of either half are exactly the nodes whose progress is not a learner's;
        // iterating the progress map counts each once without building a set.
        let voters = self
            .progress
            .iter()
            .filter(|(_, progress)| !progress.is_learner);
        for (id, _) in voters {
            match self.votes.get(id) {
                Some(true) => granted += 1,
                Some(false) => rejected += 1,
                None => {}
            }
        }
        (
            granted,
            rejected,
            self.config.voters.vote_result(&self.votes),
        )
    }

    /// Installs a configuration and progress map computed by [`crate::confchange`]. Votes are
    /// kept. Panics if they break the invariants of [`TrackerConfig::check_invariants`].
    pub fn apply(&mut self, config: TrackerConfig, progress: ProgressMap) {
        config.assert_invariants(&progress);
        self.config = config;
        self.progress = progress;
    }

    /// Panics, with the state in the message, if the configuration and the progress map do not
    /// agree, or if any progress breaks its own invariants.
    pub fn assert_invariants(&self) {
        self.config.assert_invariants(&self.progress);
        for progress in self.progress.values() {
            progress.assert_invariants();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker of the given voters and learners (not joint), every progress at matched 0.
    fn tracker(voters: &[NodeId], learners: &[NodeId]) -> ProgressTracker {
        let mut tracker = ProgressTracker::new(4);
        let config = TrackerConfig {
            voters: JointConfig::new(voters.iter().copied().collect()),
            learners: learners.iter().copied().collect(),
            ..TrackerConfig::default()
        };
        let progress = config
            .ids()
            .into_iter()
            .map(|id| {
                let mut progress = Progress::new(1, 4);
                progress.is_learner = learners.contains(&id);
                (id, progress)
            })
            .collect();
        tracker.apply(config, progress);
        tracker
    }

    /// Makes the tracker joint: `outgoing` becomes the outgoing half, with fresh progress for
    /// any voter not yet tracked.
    fn make_joint(tracker: &mut ProgressTracker, outgoing: &[NodeId]) {
        tracker.config.voters.outgoing = outgoing.iter().copied().collect();
        for &id in outgoing {
            tracker
                .progress
                .entry(id)
                .or_insert_with(|| Progress::new(1, 4));
        }
        tracker.assert_invariants();
    }

    #[test]
    fn committed_counts_voters_only() {
        let mut tracker = tracker(&[1, 2, 3], &[4]);
        for (id, matched) in [(1, 10), (2, 4), (3, 2), (4, 100)] {
            tracker.progress.get_mut(&id).unwrap().maybe_update(matched);
        }
        assert_eq!(tracker.committed(), 4, "the learner's 100 does not count");
    }

    #[test]
    fn committed_in_joint_config_needs_both_halves() {
        let mut tracker = tracker(&[1, 2, 3], &[]);
        make_joint(&mut tracker, &[3, 4, 5]);
        for (id, matched) in [(1, 10), (2, 10), (3, 10), (4, 1), (5, 2)] {
            tracker.progress.get_mut(&id).unwrap().maybe_update(matched);
        }
        assert_eq!(tracker.committed(), 2);
    }

    #[test]
    fn committed_of_an_empty_config_is_unbounded() {
        assert_eq!(ProgressTracker::new(4).committed(), Index::MAX);
    }

    #[test]
    fn singleton_means_one_voter_not_joint() {
        assert!(tracker(&[1], &[2]).is_singleton());
        assert!(!tracker(&[1, 2], &[]).is_singleton());
        assert!(!ProgressTracker::new(4).is_singleton());
        let mut joint = tracker(&[1], &[]);
        make_joint(&mut joint, &[2]);
        assert!(!joint.is_singleton());
    }

    #[test]
    fn quorum_active_ignores_learners() {
        let mut tracker = tracker(&[1, 2, 3], &[4, 5]);
        for id in [1, 4, 5] {
            tracker.progress.get_mut(&id).unwrap().recent_active = true;
        }
        assert!(
            !tracker.quorum_active(),
            "one voter of three plus two learners"
        );
        tracker.progress.get_mut(&2).unwrap().recent_active = true;
        assert!(tracker.quorum_active());
    }

    #[test]
    fn quorum_active_in_joint_config_needs_both_halves() {
        let mut tracker = tracker(&[1, 2, 3], &[]);
        make_joint(&mut tracker, &[4, 5, 6]);
        for id in [1, 2, 3, 4] {
            tracker.progress.get_mut(&id).unwrap().recent_active = true;
        }
        assert!(!tracker.quorum_active());
        tracker.progress.get_mut(&5).unwrap().recent_active = true;
        assert!(tracker.quorum_active());
    }

    #[test]
    fn first_vote_per_node_wins() {
        let mut tracker = tracker(&[1, 2, 3], &[]);
        tracker.record_vote(1, true);
        tracker.record_vote(1, false);
        assert!(tracker.votes[&1]);
        tracker.reset_votes();
        tracker.record_vote(1, false);
        assert!(!tracker.votes[&1]);
    }

    #[test]
    fn tally_votes_counts_voters_only() {
        let mut tracker = tracker(&[1, 2, 3, 4, 5], &[6]);
        assert_eq!(tracker.tally_votes(), (0, 0, VoteResult::Pending));
        tracker.record_vote(1, true);
        tracker.record_vote(2, false);
        tracker.record_vote(6, true);
        tracker.record_vote(7, true);
        assert_eq!(
            tracker.tally_votes(),
            (1, 1, VoteResult::Pending),
            "learner 6 and stranger 7 do not count"
        );
        tracker.record_vote(3, true);
        tracker.record_vote(4, true);
        assert_eq!(tracker.tally_votes(), (3, 1, VoteResult::Won));
    }

    #[test]
    fn tally_votes_lost_stays_lost() {
        let mut tracker = tracker(&[1, 2, 3], &[]);
        tracker.record_vote(1, false);
        tracker.record_vote(2, false);
        assert_eq!(tracker.tally_votes(), (0, 2, VoteResult::Lost));
        tracker.record_vote(3, true);
        assert_eq!(tracker.tally_votes(), (1, 2, VoteResult::Lost));
    }

    #[test]
    fn tally_votes_in_joint_config_counts_each_voter_once() {
        let mut tracker = tracker(&[1, 2, 3], &[]);
        make_joint(&mut tracker, &[3, 4, 5]);
        tracker.record_vote(3, true);
        tracker.record_vote(1, true);
        assert_eq!(tracker.tally_votes(), (2, 0, VoteResult::Pending));
        tracker.record_vote(4, true);
        assert_eq!(tracker.tally_votes(), (3, 0, VoteResult::Won));
    }

    #[test]
    fn conf_state_and_ids() {
        let mut tracker = tracker(&[3, 1, 2], &[5]);
        make_joint(&mut tracker, &[1, 2, 4]);
        tracker.config.learners_next.insert(4);
        tracker.config.auto_leave = true;
        tracker.assert_invariants();
        assert_eq!(
            tracker.conf_state(),
            ConfState {
                voters: vec![1, 2, 3],
                learners: vec![5],
                voters_outgoing: vec![1, 2, 4],
                learners_next: vec![4],
                auto_leave: true,
            }
        );
        assert_eq!(tracker.voter_ids(), [1, 2, 3, 4].into());
        assert_eq!(tracker.learner_ids(), [5].into());
        assert_eq!(
            tracker.config.to_string(),
            "voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) auto_leave"
        );
    }

    #[test]
    fn check_invariants_names_the_violation() {
        let config = |voters: &[NodeId], learners: &[NodeId]| TrackerConfig {
            voters: JointConfig::new(voters.iter().copied().collect()),
            learners: learners.iter().copied().collect(),
            ..TrackerConfig::default()
        };
        let progress = |ids: &[NodeId], learners: &[NodeId]| -> ProgressMap {
            ids.iter()
                .map(|&id| {
                    let mut progress = Progress::new(1, 4);
                    progress.is_learner = learners.contains(&id);
                    (id, progress)
                })
                .collect()
        };
        let check = |config: &TrackerConfig, progress: &ProgressMap| {
            config.check_invariants(progress).unwrap_err()
        };

        assert_eq!(
            check(&config(&[1], &[1]), &progress(&[1], &[])),
            "1 is both a learner and an incoming voter"
        );
        assert_eq!(
            check(&config(&[1, 2], &[]), &progress(&[1], &[])),
            "2 is in the configuration but has no progress"
        );
        assert_eq!(
            check(&config(&[1], &[]), &progress(&[1, 2], &[])),
            "2 has progress but is not in the configuration"
        );
        assert_eq!(
            check(&config(&[1], &[2]), &progress(&[1, 2], &[])),
            "2 has is_learner false but is in learners"
        );
        assert_eq!(
            check(&config(&[1], &[]), &progress(&[1], &[1])),
            "1 has is_learner true but is not in learners"
        );

        let mut staged = config(&[1], &[]);
        staged.learners_next.insert(1);
        assert_eq!(
            check(&staged, &progress(&[1], &[])),
            "1 is in learners_next but not an outgoing voter"
        );

        let mut auto_leave = config(&[1], &[]);
        auto_leave.auto_leave = true;
        assert_eq!(
            check(&auto_leave, &progress(&[1], &[])),
            "auto_leave is set outside a joint configuration"
        );

        let mut joint = config(&[1], &[2]);
        joint.voters.outgoing = [2].into_iter().collect();
        assert_eq!(
            check(&joint, &progress(&[1, 2], &[2])),
            "2 is both a learner and an outgoing voter"
        );
    }

    #[test]
    #[should_panic(expected = "max_inflight must be at least 1")]
    fn a_zero_inflight_window_is_refused() {
        ProgressTracker::new(0);
    }

    #[test]
    #[should_panic(
        expected = "tracker invariant broken: 2 is in the configuration but has no progress"
    )]
    fn apply_asserts_the_invariants() {
        let mut tracker = ProgressTracker::new(4);
        let config = TrackerConfig {
            voters: JointConfig::new([1, 2].into()),
            ..TrackerConfig::default()
        };
        tracker.apply(config, [(1, Progress::new(1, 4))].into());
    }
}
