//! Membership changes the world asks of the cluster: which changes a random fault tick draws
//! (single steps, joint changes left automatically or on request, learners added, promoted
//! and demoted, changes proposed through followers and two at once), and how one is made.

use raft::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, NodeId};

use super::{Input, Stop, World};
use crate::random::SimRng;
use crate::schedule::{self, Action, NodeRef, Transition};

/// One configuration change, proposed through one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MembershipChange {
    /// Nodes that become voters (nodes that left come back; learners are promoted).
    pub voters: Vec<NodeId>,
    /// Nodes that become learners (nodes that left come back as learners; voters are demoted).
    pub learners: Vec<NodeId>,
    /// Nodes removed.
    pub remove: Vec<NodeId>,
    /// How the configuration moves.
    pub transition: Transition,
    /// The node the change is proposed to.
    pub through: NodeId,
    /// The change has the shape of the first membership faults (one voter added or removed,
    /// or one replaced, through the leader), and is recorded as they were.
    pub classic: bool,
}

impl MembershipChange {
    /// Node `id` comes back as a voter, asked of `leader`.
    pub fn add(id: NodeId, leader: NodeId) -> MembershipChange {
        MembershipChange {
            voters: vec![id],
            ..MembershipChange::classic(leader)
        }
    }

    /// Node `id` is removed, asked of `leader`.
    pub fn remove(id: NodeId, leader: NodeId) -> MembershipChange {
        MembershipChange {
            remove: vec![id],
            ..MembershipChange::classic(leader)
        }
    }

    /// `add` comes back and `remove` goes in one joint change, asked of `leader`.
    pub fn replace(add: NodeId, remove: NodeId, leader: NodeId) -> MembershipChange {
        MembershipChange {
            voters: vec![add],
            remove: vec![remove],
            ..MembershipChange::classic(leader)
        }
    }

    fn classic(leader: NodeId) -> MembershipChange {
        MembershipChange {
            voters: Vec::new(),
            learners: Vec::new(),
            remove: Vec::new(),
            transition: Transition::Auto,
            through: leader,
            classic: true,
        }
    }

    /// The nodes that join the configuration from outside it (before `conf`).
    fn arrivals(&self, conf: &ConfState) -> Vec<NodeId> {
        self.voters
            .iter()
            .chain(&self.learners)
            .copied()
            .filter(|&id| !conf.contains(id))
            .collect()
    }

    /// The change as raft takes it.
    pub fn conf_change(&self) -> ConfChange {
        if self.transition == Transition::Leave {
            return ConfChange::leave_joint();
        }
        let single = |change_type, node_id| ConfChangeSingle {
            change_type,
            node_id,
        };
        let changes = self
            .voters
            .iter()
            .map(|&id| single(ConfChangeType::AddNode, id))
            .chain(
                self.learners
                    .iter()
                    .map(|&id| single(ConfChangeType::AddLearnerNode, id)),
            )
            .chain(
                self.remove
                    .iter()
                    .map(|&id| single(ConfChangeType::RemoveNode, id)),
            )
            .collect();
        ConfChange {
            transition: match self.transition {
                Transition::Auto | Transition::Leave => ConfChangeTransition::Auto,
                Transition::Joint => ConfChangeTransition::JointImplicit,
                Transition::JointExplicit => ConfChangeTransition::JointExplicit,
            },
            changes,
            context: Vec::new(),
        }
    }

    /// The schedule entry that makes this change again.
    pub fn action(&self) -> Action {
        let on = |id: NodeId| schedule::OnNode {
            node: NodeRef::Id(id),
        };
        if self.classic && self.learners.is_empty() {
            match (self.voters.as_slice(), self.remove.as_slice()) {
                ([add], []) => return Action::AddNode(on(*add)),
                ([], [remove]) => return Action::RemoveNode(on(*remove)),
                ([add], [remove]) => {
                    return Action::ReplaceNode(schedule::ReplaceNode {
                        add: NodeRef::Id(*add),
                        remove: NodeRef::Id(*remove),
                    })
                }
                _ => {}
            }
        }
        let refs = |ids: &[NodeId]| ids.iter().map(|&id| NodeRef::Id(id)).collect();
        Action::ChangeMembership(schedule::ChangeMembership {
            voters: refs(&self.voters),
            learners: refs(&self.learners),
            remove: refs(&self.remove),
            transition: self.transition,
            through: NodeRef::Id(self.through),
        })
    }
}

/// The share of a joint change's candidates that each kind of change picks.
const JOINT_ADD_SHARE: f64 = 0.5;
const JOINT_PROMOTE_SHARE: f64 = 0.5;
const JOINT_REMOVE_SHARE: f64 = 0.3;

impl World {
    /// The running leader and its configuration.
    fn leader_conf(&self) -> Option<(NodeId, ConfState)> {
        let leader = self.first_running_leader()?;
        let conf = self.processes[leader as usize - 1]
            .node()
            .expect("the leader runs")
            .conf_state()
            .clone();
        Some((leader, conf))
    }

    /// The nodes outside `conf` that could be added: those that left, or that wait with an
    /// empty configuration.
    fn outsiders(&self, conf: &ConfState) -> Vec<NodeId> {
        self.processes
            .iter()
            .filter(|process| {
                !conf.contains(process.id)
                    && (process.is_removed() || (process.node().is_some() && !process.member))
            })
            .map(|process| process.id)
            .collect()
    }

    /// The voters the running leader could remove, and the nodes it could add back (those
    /// that left, or that wait with an empty configuration), or `None` without a running leader
    /// or during a joint configuration.
    pub(super) fn membership_candidates(&self) -> Option<(NodeId, Vec<NodeId>, Vec<NodeId>)> {
        let (leader, conf) = self.leader_conf()?;
        if conf.is_joint() {
            return None;
        }
        // With disk corruption on, the nodes it may damage must stay a minority of every
        // configuration, or destroyed disks could leave no healthy quorum; the fault atlas
        // only keeps them a minority of the initial one. (Off, the minority is empty and
        // every change below passes.)
        let corruptible: &[NodeId] = if self.options.disk.corruption_probability > 0.0 {
            self.faults.corruptible()
        } else {
            &[]
        };
        let damageable = |id: &NodeId| usize::from(corruptible.contains(id));
        let voters = conf.voters.len();
        let damageable_voters: usize = conf.voters.iter().map(damageable).sum();
        let outsiders: Vec<NodeId> = self
            .outsiders(&conf)
            .into_iter()
            .filter(|id| !conf.learners.contains(id))
            .filter(|id| 2 * (damageable_voters + damageable(id)) < voters + 1)
            .collect();
        // Any voter but the last may go, the leader itself included: it leaves once the
        // others know (kvapp::Node::may_leave), handing leadership over on its way out.
        let removable: Vec<NodeId> = if voters > 1 {
            conf.voters
                .iter()
                .copied()
                .filter(|id| 2 * (damageable_voters - damageable(id)) < voters - 1)
                .collect()
        } else {
            Vec::new()
        };
        Some((leader, removable, outsiders))
    }

    /// The changes a membership fault draws from `choice`: none, one, or two proposed at once
    /// through different members. With only the first kinds of membership fault on (single
    /// steps through the leader), or with disk corruption on, a change is drawn exactly as
    /// those faults always drew one.
    pub(super) fn membership_choice(&self, choice: u64) -> Vec<MembershipChange> {
        let faults = &self.options.faults;
        let classic = faults.membership_joint_probability == 0.0
            && faults.membership_learner_probability == 0.0
            && faults.membership_concurrent_probability == 0.0;
        if classic || self.options.disk.corruption_probability > 0.0 {
            return self.classic_membership_choice(choice).into_iter().collect();
        }
        let Some((leader, conf)) = self.leader_conf() else {
            return Vec::new();
        };
        // Further choices come from a generator of their own, seeded by the fault stream's
        // draw, so that the fault stream draws as many numbers as before.
        let mut draw = SimRng::new(choice);
        let concurrent = draw.chance(faults.membership_concurrent_probability);
        let members: Vec<NodeId> = self
            .processes
            .iter()
            .filter(|process| process.is_running() && conf.contains(process.id))
            .map(|process| process.id)
            .collect();
        let through = |draw: &mut SimRng| {
            if concurrent && !members.is_empty() {
                *draw.pick(&members)
            } else {
                leader
            }
        };
        if conf.is_joint() {
            if conf.auto_leave {
                // The leader leaves by itself; nothing else is accepted until it has.
                return Vec::new();
            }
            let mut leave = MembershipChange::classic(through(&mut draw));
            leave.classic = false;
            leave.transition = Transition::Leave;
            return vec![leave];
        }
        let mut changes = Vec::new();
        for _ in 0..if concurrent { 2 } else { 1 } {
            let via = through(&mut draw);
            if let Some(change) = self.draw_change(&mut draw, &conf, via) {
                changes.push(change);
            }
        }
        changes
    }

    /// The first membership faults' draw: one voter added back or removed, through the leader.
    fn classic_membership_choice(&self, choice: u64) -> Option<MembershipChange> {
        let (leader, removable, outsiders) = self.membership_candidates()?;
        let change = if !outsiders.is_empty() && (choice % 2 == 0 || removable.is_empty()) {
            MembershipChange::add(
                outsiders[((choice / 2) % outsiders.len() as u64) as usize],
                leader,
            )
        } else {
            MembershipChange::remove(
                *removable.get(((choice / 2) % removable.len().max(1) as u64) as usize)?,
                leader,
            )
        };
        Some(change)
    }

    /// One change of `conf` of any form, proposed through `through`.
    fn draw_change(
        &self,
        draw: &mut SimRng,
        conf: &ConfState,
        through: NodeId,
    ) -> Option<MembershipChange> {
        let faults = &self.options.faults;
        let learner_share = faults.membership_learner_probability;
        let outsiders = self.outsiders(conf);
        let mut change = MembershipChange {
            classic: false,
            ..MembershipChange::classic(through)
        };
        if draw.chance(faults.membership_joint_probability) {
            for &id in &outsiders {
                if draw.chance(JOINT_ADD_SHARE) {
                    if draw.chance(learner_share) {
                        change.learners.push(id);
                    } else {
                        change.voters.push(id);
                    }
                }
            }
            for &id in &conf.learners {
                if draw.chance(JOINT_PROMOTE_SHARE) {
                    change.voters.push(id);
                } else if draw.chance(JOINT_REMOVE_SHARE) {
                    change.remove.push(id);
                }
            }
            for &id in &conf.voters {
                if draw.chance(JOINT_REMOVE_SHARE) {
                    if draw.chance(learner_share) {
                        change.learners.push(id);
                    } else {
                        change.remove.push(id);
                    }
                }
            }
            // The incoming configuration keeps a voter.
            let stays = |id: &NodeId| !change.remove.contains(id) && !change.learners.contains(id);
            if !change.voters.iter().chain(&conf.voters).any(stays) {
                let keep = *draw.pick(&conf.voters);
                change.remove.retain(|&id| id != keep);
                change.learners.retain(|&id| id != keep);
            }
            if change.voters.is_empty() && change.learners.is_empty() && change.remove.is_empty() {
                return None;
            }
            change.transition = if draw.chance(faults.membership_explicit_leave_probability) {
                Transition::JointExplicit
            } else {
                Transition::Joint
            };
            return Some(change);
        }
        // One step: add a node (as a voter or a learner), promote a learner, demote or remove
        // a voter, or remove a learner.
        let mut kinds: Vec<u8> = Vec::new();
        if !outsiders.is_empty() {
            // Nodes that left come back twice as often as any other kind, so that a cluster
            // that shrank grows again.
            kinds.extend([0, 0]);
        }
        if !conf.learners.is_empty() {
            kinds.extend([1, 4]);
        }
        if conf.voters.len() > 1 {
            kinds.push(2);
            if learner_share > 0.0 {
                kinds.push(3);
            }
        }
        if kinds.is_empty() {
            return None;
        }
        match *draw.pick(&kinds) {
            0 => {
                let id = *draw.pick(&outsiders);
                if draw.chance(learner_share) {
                    change.learners.push(id);
                } else {
                    change.voters.push(id);
                }
            }
            1 => change.voters.push(*draw.pick(&conf.learners)),
            2 => change.remove.push(*draw.pick(&conf.voters)),
            3 => change.learners.push(*draw.pick(&conf.voters)),
            _ => change.remove.push(*draw.pick(&conf.learners)),
        }
        Some(change)
    }

    /// Proposes `change`; a node that comes back starts again from the disk it left with and
    /// waits to be added.
    pub(super) fn change_membership(&mut self, change: &MembershipChange) -> Result<(), Stop> {
        let now = self.now_ms;
        self.disturbed();
        let conf = self.processes[change.through as usize - 1]
            .node()
            .map(|node| node.conf_state().clone())
            .unwrap_or_default();
        let arrivals = change.arrivals(&conf);
        for &id in &arrivals {
            if self.process(id).is_removed() {
                self.rejoin(id);
                self.open(id)?;
            }
        }
        let conf_change = change.conf_change();
        self.faults.stats.membership_changes += 1;
        let asked = if change.through == self.first_running_leader().unwrap_or(0) {
            format!("leader {}", change.through)
        } else {
            format!("node {}", change.through)
        };
        self.trace.note(
            now,
            format!(
                "{asked} asked to apply {:?}{}",
                conf_change.changes,
                match change.transition {
                    Transition::Auto => "",
                    Transition::Joint => " (joint, left automatically)",
                    Transition::JointExplicit => " (joint, left when asked)",
                    Transition::Leave => " (leaving the joint configuration)",
                }
            ),
        );
        let leader = self.first_running_leader();
        self.step_node(change.through, Input::ConfChange(conf_change), None)?;
        if !arrivals.is_empty() {
            let last_index = leader
                .or(Some(change.through))
                .and_then(|id| self.processes[id as usize - 1].node())
                .map_or(0, |node| node.raw().raft.raft_log.last_index());
            for id in arrivals {
                self.process(id).rejoin_after_index = last_index;
            }
        }
        Ok(())
    }

    /// Readies node `id` (removed) to start again from the disk it left with.
    pub(super) fn rejoin(&mut self, id: NodeId) {
        let process = self.process(id);
        let life = std::mem::replace(&mut process.life, super::Life::Destroyed(String::new()));
        process.life = match life {
            super::Life::Removed(disk) => super::Life::Down(disk),
            other => other,
        };
    }
}
