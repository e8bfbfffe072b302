//! Membership changes: from a configuration and a change, the next configuration and progress
//! map (etcd-io/raft `confchange` package).
//!
//! The [`Changer`] never modifies the tracker it reads; it returns the new
//! [`TrackerConfig`] and [`ProgressMap`] for the caller to install with
//! [`ProgressTracker::apply`], or an error that leaves everything as it was. It supports both
//! ways of changing membership:
//!
//! - single-step changes (Raft thesis §4.1): [`Changer::simple`] may change at most one voter,
//!   which keeps any majority of the old voters overlapping any majority of the new;
//! - joint consensus (Raft thesis §4.3): [`Changer::enter_joint`] moves to a configuration in
//!   which both the old voters (`outgoing`) and the new (`incoming`) must agree, and
//!   [`Changer::leave_joint`] drops the old ones.
//!
//! Learners may be added and removed freely in either. A node is never a voter and a learner at
//! once: a voter demoted while it still votes in the outgoing half waits in `learners_next`.
//!
//! [`restore`] rebuilds a configuration from its persisted [`ConfState`], and
//! [`apply_conf_change`] applies a [`ConfChange`] entry the way a Raft node does.

#[cfg(test)]
mod datadriven;
mod restore;

use crate::message::{
    ConfChange, ConfChangeSingle, ConfChangeType, ConfState, Index, NodeId, INVALID_ID,
};
use crate::tracker::{Progress, ProgressMap, ProgressTracker, TrackerConfig};

pub use restore::restore;

/// Why a membership change was refused. The configuration is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfChangeError {
    /// [`Changer::enter_joint`] on a configuration that is already joint.
    #[error("the configuration is already joint")]
    AlreadyJoint,
    /// [`Changer::enter_joint`] on a configuration without voters. An empty configuration can
    /// only be populated by simple changes (at bootstrap).
    #[error("cannot make a configuration with no voters joint")]
    JointWithoutVoters,
    /// [`Changer::leave_joint`] on a configuration that is not joint.
    #[error("cannot leave a configuration that is not joint")]
    NotJoint,
    /// [`Changer::simple`] on a joint configuration: it must be left first.
    #[error("cannot apply a simple change to a joint configuration")]
    SimpleChangeWhileJoint,
    /// [`Changer::simple`] would change more than one voter (Raft thesis §4.1 allows one at a
    /// time); such a change needs a joint configuration.
    #[error("{changed} voters changed without entering a joint configuration (at most 1 may)")]
    TooManyVoterChanges {
        /// How many nodes would gain or lose their vote.
        changed: usize,
    },
    /// The change would leave the (incoming) configuration without any voter.
    #[error("the change would remove every voter")]
    RemovedAllVoters,
    /// [`restore`] was given a [`ConfState`] that no sequence of changes produces (a node both
    /// voter and learner, a staged learner that is not an outgoing voter, `auto_leave` outside
    /// a joint configuration, node id 0, ...).
    #[error("inconsistent configuration state {conf_state:?}: replaying it gives {restored:?}")]
    UnrestorableConfState {
        /// The configuration state as given (sorted and deduplicated).
        conf_state: Box<ConfState>,
        /// What replaying it produced instead.
        restored: Box<ConfState>,
    },
}

/// Computes the configuration that follows a change of the tracker's configuration.
///
/// The tracker is only read (the borrow guarantees it): every method copies its configuration
/// and progress map, changes the copies, checks their invariants, and returns them.
#[derive(Clone, Copy, Debug)]
pub struct Changer<'a> {
    /// The tracker whose configuration is changed.
    pub tracker: &'a ProgressTracker,
    /// The last index of the log; nodes added are probed from there.
    pub last_index: Index,
}

/// The result of a successful change: what to pass to [`ProgressTracker::apply`].
pub type ChangeResult = Result<(TrackerConfig, ProgressMap), ConfChangeError>;

impl Changer<'_> {
    /// Enters a joint configuration: the current voters become the outgoing half, and
    /// `changes` are applied to the incoming half (the thesis's `C_old,new`, Raft thesis §4.3).
    /// With `auto_leave` the leader leaves the joint configuration by itself once it is
    /// committed; without, the application must propose an empty change.
    pub fn enter_joint(&self, auto_leave: bool, changes: &[ConfChangeSingle]) -> ChangeResult {
        let (mut config, mut progress) = self.copy();
        if config.voters.is_joint() {
            return Err(ConfChangeError::AlreadyJoint);
        }
        if config.voters.incoming.is_empty() {
            return Err(ConfChangeError::JointWithoutVoters);
        }
        config.voters.outgoing = config.voters.incoming.clone();
        self.apply_changes(&mut config, &mut progress, changes)?;
        config.auto_leave = auto_leave;
        Ok(checked(config, progress))
    }

    /// Leaves a joint configuration: the incoming half decides alone (`C_new`), the staged
    /// learners become learners, and nodes that were only outgoing voters lose their progress.
    pub fn leave_joint(&self) -> ChangeResult {
        let (mut config, mut progress) = self.copy();
        if !config.voters.is_joint() {
            return Err(ConfChangeError::NotJoint);
        }
        for id in std::mem::take(&mut config.learners_next) {
            config.learners.insert(id);
            progress_of(&mut progress, id).is_learner = true;
        }
        let outgoing = std::mem::take(&mut config.voters.outgoing);
        for &id in outgoing.voters() {
            if !config.voters.incoming.contains(id) && !config.learners.contains(&id) {
                progress.remove(&id);
            }
        }
        config.auto_leave = false;
        Ok(checked(config, progress))
    }

    /// Applies `changes` directly, without a joint configuration. Allowed only outside a joint
    /// configuration and if, taken together, the changes add or remove at most one voter
    /// (Raft thesis §4.1); any number of learners may change.
    pub fn simple(&self, changes: &[ConfChangeSingle]) -> ChangeResult {
        let (mut config, mut progress) = self.copy();
        if config.voters.is_joint() {
            return Err(ConfChangeError::SimpleChangeWhileJoint);
        }
        self.apply_changes(&mut config, &mut progress, changes)?;
        let before = self.tracker.config.voters.incoming.voters();
        let changed = before
            .symmetric_difference(config.voters.incoming.voters())
            .count();
        if changed > 1 {
            return Err(ConfChangeError::TooManyVoterChanges { changed });
        }
        Ok(checked(config, progress))
    }

    /// Copies the tracker's configuration and progress, asserting that they are consistent:
    /// if they are not, the tracker was corrupted by a bug elsewhere.
    fn copy(&self) -> (TrackerConfig, ProgressMap) {
        self.tracker
            .config
            .assert_invariants(&self.tracker.progress);
        (self.tracker.config.clone(), self.tracker.progress.clone())
    }

    /// Applies each change in order to the incoming half (the outgoing half, if any, is the
    /// frozen previous configuration). Changes to node 0 are skipped: etcd's applications zero
    /// the id of a change they refuse, and we keep that convention.
    fn apply_changes(
        &self,
        config: &mut TrackerConfig,
        progress: &mut ProgressMap,
        changes: &[ConfChangeSingle],
    ) -> Result<(), ConfChangeError> {
        for change in changes {
            if change.node_id == INVALID_ID {
                continue;
            }
            match change.change_type {
                ConfChangeType::AddNode => self.make_voter(config, progress, change.node_id),
                ConfChangeType::AddLearnerNode => {
                    self.make_learner(config, progress, change.node_id)
                }
                ConfChangeType::RemoveNode => remove(config, progress, change.node_id),
            }
        }
        if config.voters.incoming.is_empty() {
            return Err(ConfChangeError::RemovedAllVoters);
        }
        Ok(())
    }

    /// Adds `id` as an incoming voter, or promotes it if it is a learner (or staged learner).
    fn make_voter(&self, config: &mut TrackerConfig, progress: &mut ProgressMap, id: NodeId) {
        let Some(node_progress) = progress.get_mut(&id) else {
            self.add_progress(config, progress, id, false);
            return;
        };
        node_progress.is_learner = false;
        config.learners.remove(&id);
        config.learners_next.remove(&id);
        config.voters.incoming.insert(id);
    }

    /// Adds `id` as a learner, or demotes it if it is a voter. A voter of the outgoing half
    /// cannot also be a learner, so it is staged in `learners_next` until the joint
    /// configuration is left; any other node becomes a learner right away.
    fn make_learner(&self, config: &mut TrackerConfig, progress: &mut ProgressMap, id: NodeId) {
        let Some(node_progress) = progress.get_mut(&id) else {
            self.add_progress(config, progress, id, true);
            return;
        };
        if node_progress.is_learner {
            return;
        }
        // A voter (of either half) or a staged learner: it keeps its progress.
        config.voters.incoming.remove(id);
        config.learners_next.remove(&id);
        if config.voters.outgoing.contains(id) {
            config.learners_next.insert(id);
        } else {
            node_progress.is_learner = true;
            config.learners.insert(id);
        }
    }

    /// Adds a node the configuration did not track, with fresh progress.
    fn add_progress(
        &self,
        config: &mut TrackerConfig,
        progress: &mut ProgressMap,
        id: NodeId,
        is_learner: bool,
    ) {
        if is_learner {
            config.learners.insert(id);
        } else {
            config.voters.incoming.insert(id);
        }
        // Probing from the last index is optimistic (a brand-new node has no log and will need a
        // snapshot), but the first rejection moves it back, and the application may have given
        // the node a snapshot out of band. next_index must stay above matched = 0.
        let mut node_progress = Progress::new(self.last_index.max(1), self.tracker.max_inflight);
        node_progress.is_learner = is_learner;
        // Counted as active so that a CheckQuorum right after the change does not make the
        // leader step down before the new node had a chance to answer.
        node_progress.recent_active = true;
        progress.insert(id, node_progress);
    }
}

/// Removes `id` as an incoming voter, learner or staged learner. Its progress stays while it
/// still votes in the outgoing half, and goes when the joint configuration is left.
fn remove(config: &mut TrackerConfig, progress: &mut ProgressMap, id: NodeId) {
    if !progress.contains_key(&id) {
        return;
    }
    config.voters.incoming.remove(id);
    config.learners.remove(&id);
    config.learners_next.remove(&id);
    if !config.voters.outgoing.contains(id) {
        progress.remove(&id);
    }
}

/// The progress of `id`, which the configuration invariants guarantee exists.
fn progress_of(progress: &mut ProgressMap, id: NodeId) -> &mut Progress {
    match progress.get_mut(&id) {
        Some(node_progress) => node_progress,
        None => panic!("{id} is in the configuration but has no progress"),
    }
}

/// Returns the change's result after asserting its invariants: a violation here is a bug in
/// this module, not a bad request.
fn checked(config: TrackerConfig, progress: ProgressMap) -> (TrackerConfig, ProgressMap) {
    config.assert_invariants(&progress);
    (config, progress)
}

/// Applies one [`ConfChange`] as a Raft node applies a committed configuration-change entry:
/// an empty change leaves the joint configuration; a change that
/// [enters joint](ConfChange::enters_joint) enters it; anything else is a simple change.
pub fn apply_conf_change(
    tracker: &ProgressTracker,
    last_index: Index,
    change: &ConfChange,
) -> ChangeResult {
    let changer = Changer {
        tracker,
        last_index,
    };
    if change.is_leave_joint() {
        changer.leave_joint()
    } else if let Some(auto_leave) = change.enters_joint() {
        changer.enter_joint(auto_leave, &change.changes)
    } else {
        changer.simple(&change.changes)
    }
}

#[cfg(test)]
mod tests;
