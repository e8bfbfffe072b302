//! Feeding the oracles of Raft's optional features ([`crate::oracles::promises`]), the Ready
//! contract, ReadIndex against the commit index, and one configuration change at a time, from
//! what each step of a node shows.

use std::collections::BTreeSet;

use raft::coverage::Point;
use raft::quorum::JointConfig;
use raft::raft::CAMPAIGN_TRANSFER;
use raft::{codec, MessageType, NodeId, StateRole, Term};

use super::{Input, World};
use crate::oracles::messages;
use crate::oracles::promises::{
    ready_contract, LeaseReads, LeaseVotes, PreVoteGate, Stability, StepDown, TermOrigins, Timings,
    TransferDeadline,
};
use crate::oracles::{Property, Violation};
use crate::process::Outgoing;

/// The promise oracles of one run.
#[derive(Debug)]
pub(super) struct PromiseWatch {
    pub lease_votes: LeaseVotes,
    pub lease_reads: LeaseReads,
    pub pre_vote_gate: PreVoteGate,
    pub step_down: StepDown,
    pub transfer_deadline: TransferDeadline,
    pub stability: Stability,
    pub term_origins: TermOrigins,
    check_quorum: bool,
    pre_vote: bool,
    /// Leaders answer reads on their lease ([`crate::options::ReadMode::Lease`]).
    lease_mode: bool,
    /// A leader steps down as it applies its own removal or demotion.
    step_down_on_removal: bool,
}

impl PromiseWatch {
    pub fn new(options: &crate::options::ClusterOptions) -> PromiseWatch {
        let timings = Timings {
            tick_ms: options.tick_interval_ms,
            election_ticks: options.election_ticks as u64,
        };
        PromiseWatch {
            lease_votes: LeaseVotes::new(timings),
            lease_reads: LeaseReads::new(timings),
            pre_vote_gate: PreVoteGate::default(),
            step_down: StepDown::new(timings),
            transfer_deadline: TransferDeadline::new(timings),
            stability: Stability::new(timings),
            term_origins: TermOrigins::default(),
            check_quorum: options.check_quorum,
            pre_vote: options.pre_vote,
            lease_mode: options.read_mode == crate::options::ReadMode::Lease,
            step_down_on_removal: options.step_down_on_removal,
        }
    }

    /// `node` went down (a crash, its removal, its destruction): it votes for nobody until it
    /// starts again. Besides [`PromiseWatch::node_stopped`].
    pub fn node_down(&mut self, node: NodeId) {
        self.lease_reads.crashed(node);
    }

    /// `node` started with `durable_term` on its disk (0: an empty disk). With CheckQuorum and
    /// lease reads raft holds a restarted node's vote for an election timeout.
    pub fn node_started(&mut self, node: NodeId, local_ms: u64, durable_term: Term) {
        let holds = self.check_quorum && self.lease_mode && durable_term > 0;
        self.lease_reads.started(node, local_ms, holds);
    }

    /// `node` was released from its promise to its leader (a transfer's election asked for its
    /// vote, or the application made it campaign).
    pub fn released(&mut self, node: NodeId) {
        self.lease_votes.void(node);
        self.lease_reads.void(node);
    }

    /// `node` stopped (a crash, a pause, its removal): its clock and promises start afresh.
    pub fn node_stopped(&mut self, node: NodeId, now_ms: u64) {
        self.lease_votes.void(node);
        self.step_down.not_leading(node);
        self.transfer_deadline.forget(node);
        self.stability.disturbed(now_ms);
    }
}

/// A configuration's voters as bit sets, cheap to keep for every step, with the oracles' own
/// quorum rule (a majority of each non-empty half), independent of raft's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Voters {
    incoming: u128,
    outgoing: u128,
}

impl Voters {
    fn of(voters: &JointConfig) -> Voters {
        let mask = |ids: &BTreeSet<NodeId>| {
            ids.iter()
                .filter(|&&id| id < 128)
                .fold(0u128, |mask, &id| mask | 1 << id)
        };
        Voters {
            incoming: mask(voters.incoming.voters()),
            outgoing: mask(voters.outgoing.voters()),
        }
    }

    fn contains(self, id: NodeId) -> bool {
        id < 128 && (self.incoming | self.outgoing) & 1 << id != 0
    }

    fn ids(self) -> BTreeSet<NodeId> {
        let both = self.incoming | self.outgoing;
        (0..128).filter(|&id| both & 1 << id != 0).collect()
    }

    fn is_quorum(self, nodes: &BTreeSet<NodeId>) -> bool {
        let chosen = nodes
            .iter()
            .filter(|&&id| id < 128)
            .fold(0u128, |mask, &id| mask | 1 << id);
        let majority =
            |half: u128| half == 0 || 2 * (half & chosen).count_ones() > half.count_ones();
        majority(self.incoming) && majority(self.outgoing)
    }
}

/// What a node was before one input, for the checks after it.
#[derive(Clone, Debug, Default)]
pub(super) struct StepContext {
    term_before: Term,
    transferee_before: NodeId,
    /// The message stepped: its sender, type and term.
    message: Option<(NodeId, MessageType, Term)>,
    /// The input was a TimeoutNow: the node campaigns for a transfer, past pre-votes.
    transfer_campaign: bool,
    /// The input granted the node a pre-vote: (from, term). Counted after the step, since a
    /// pre-election the step's own ticks start comes before the message in it.
    pre_vote_granted: Option<(NodeId, Term)>,
    /// The node's count of reads answered on its lease, to see the step answer one.
    lease_reads_before: u64,
    /// The node's voters before the step. A step may decide by them (grant a read on the
    /// lease, win an election) and then apply a configuration change in the same step's
    /// Ready: a node that became leader commits and applies what its log held.
    voters_before: Voters,
    /// The node led before the step.
    leader_before: bool,
    /// The index and term of the node's last entry before the step.
    last_before: (raft::Index, Term),
}

impl World {
    /// Notes what the oracles need before `id` takes `input`.
    pub(super) fn before_step(&mut self, id: NodeId, input: &Input<'_>) -> StepContext {
        let Some(node) = self.processes[id as usize - 1].node() else {
            return StepContext::default();
        };
        let raft = &node.raw().raft;
        let mut context = StepContext {
            term_before: raft.term,
            transferee_before: raft.lead_transferee,
            lease_reads_before: node.raw().coverage().get(Point::ReadServedLease),
            voters_before: Voters::of(&raft.tracker.config.voters),
            leader_before: raft.role == StateRole::Leader,
            last_before: (raft.raft_log.last_index(), raft.raft_log.last_term()),
            ..StepContext::default()
        };
        let Input::Receive { from, bytes } = input else {
            return context;
        };
        let Ok((msg_type, message_term)) = codec::peek_message_type_and_term(bytes) else {
            return context;
        };
        context.message = Some((*from, msg_type, message_term));
        match msg_type {
            MessageType::TimeoutNow => context.transfer_campaign = true,
            // A transfer's election asks for votes past the leader's lease: the promise to the
            // old leader no longer binds.
            MessageType::RequestVote
                if codec::decode_message(bytes)
                    .is_ok_and(|message| message.context == CAMPAIGN_TRANSFER) =>
            {
                self.promises.released(id);
            }
            MessageType::RequestPreVoteResponse => {
                if let Ok(message) = codec::decode_message(bytes) {
                    if !message.reject {
                        context.pre_vote_granted = Some((message.from, message.term));
                    }
                }
            }
            _ => {}
        }
        context
    }

    /// The checks on one message `id` sends (read into `message`), when it hands it to the
    /// network: its claims about the sender's log, a vote or pre-vote granted inside the lease,
    /// a promise of durable state that is not durable, the start of a pre-election.
    pub(super) fn check_outgoing(
        &mut self,
        id: NodeId,
        message: &codec::MessageOutline,
        outgoing: &Outgoing,
        context: &StepContext,
    ) -> Result<(), Violation> {
        if let Some(node) = self.processes[id as usize - 1].node() {
            let raft = &node.raw().raft;
            let sender = messages::Sender {
                log: &raft.raft_log,
                last_before: context.last_before,
                leading: (raft.role == StateRole::Leader).then_some(raft.term),
            };
            messages::check(id, message, &sender)?;
        }
        let msg_type = message.msg_type;
        match msg_type {
            // A vote request makes its term, even if its sender dies in the same step.
            MessageType::RequestVote => {
                self.promises.term_origins.campaigned(message.term);
                if outgoing.promise_pending {
                    return ready_contract(id, outgoing.to, msg_type, message.reject, true);
                }
                Ok(())
            }
            MessageType::RequestPreVote => {
                self.promises.pre_vote_gate.pre_election(id, message.term);
                Ok(())
            }
            MessageType::RequestVoteResponse | MessageType::RequestPreVoteResponse => {
                if !message.reject && self.promises.check_quorum {
                    let local_ms = self.processes[id as usize - 1].clock_ms();
                    self.promises.lease_votes.check_grant(
                        id,
                        context.term_before,
                        message.to,
                        message.term,
                        msg_type == MessageType::RequestPreVoteResponse,
                        local_ms,
                    )?;
                }
                ready_contract(
                    id,
                    outgoing.to,
                    msg_type,
                    message.reject,
                    outgoing.promise_pending,
                )
            }
            MessageType::AppendResponse if outgoing.promise_pending => {
                ready_contract(id, outgoing.to, msg_type, message.reject, true)
            }
            _ => Ok(()),
        }
    }

    /// The checks after a step of `id` (which did not crash in it).
    pub(super) fn after_step(
        &mut self,
        id: NodeId,
        context: &StepContext,
    ) -> Result<(), Violation> {
        let now = self.now_ms;
        let process = &self.processes[id as usize - 1];
        let local_ms = process.clock_ms();
        let Some(node) = process.node() else {
            return Ok(());
        };
        let raft = &node.raw().raft;
        let (role, term, leader, transferee) =
            (raft.role, raft.term, raft.leader_id, raft.lead_transferee);
        let voters = &raft.tracker.config.voters;
        let removed = node.is_removed();
        let is_quorum = |nodes: &BTreeSet<NodeId>| {
            let votes = nodes.iter().map(|&id| (id, true)).collect();
            voters.vote_result(&votes) == raft::quorum::VoteResult::Won
        };
        // The leader side of the lease: a read this step answered on it (the node's own count
        // of such reads went up) needs a quorum of voters bound to it by their own clocks, in
        // its configuration before the step or, when the step applied a change, after it.
        if node.raw().coverage().get(Point::ReadServedLease) > context.lease_reads_before {
            let read_term = if role == StateRole::Leader {
                term
            } else {
                context.term_before
            };
            let processes = &self.processes;
            let clock = |voter: NodeId| {
                processes
                    .get(voter as usize - 1)
                    .map_or(0, |process| process.drift.local_ms(now))
            };
            let lease_reads = &self.promises.lease_reads;
            let (before, after) = (context.voters_before, Voters::of(voters));
            let judge = |voters: Voters| {
                let is_quorum = |nodes: &BTreeSet<NodeId>| voters.is_quorum(nodes);
                lease_reads.check_read(id, read_term, &voters.ids(), is_quorum, clock)
            };
            match judge(after) {
                Ok(()) => {}
                Err(_) if before != after => judge(before)?,
                Err(violation) => return Err(violation),
            }
        }
        let watch = &mut self.promises;
        // The follower side of the lease: the time of each message from the leader.
        if let Some((from, msg_type, message_term)) = context.message {
            let from_leader = matches!(
                msg_type,
                MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot
            );
            // Only with the node's clock caught up: a node that takes messages that waited while
            // it stalled ticks for the stall afterwards, and those ticks end its lease.
            let clock_current = node.next_timer_ms() > local_ms;
            if from_leader
                && role == StateRole::Follower
                && leader == from
                && message_term == term
                && clock_current
            {
                watch.lease_votes.leader_contact(id, term, local_ms);
                watch.lease_reads.leader_contact(id, from, term, local_ms);
            }
            if role == StateRole::Leader
                && matches!(
                    msg_type,
                    MessageType::AppendResponse | MessageType::HeartbeatResponse
                )
            {
                watch.step_down.heard(id, from, local_ms);
            }
        }
        // PreVote: a term raised by campaigning needs a quorum of pre-votes.
        if let Some((from, granted_term)) = context.pre_vote_granted {
            watch.pre_vote_gate.granted(id, from, granted_term);
        }
        // Terms are made by campaigns; every other rise is to a term some node campaigned in.
        if term > context.term_before {
            if matches!(role, StateRole::Candidate | StateRole::Leader) {
                watch.term_origins.campaigned(term);
            } else {
                watch
                    .term_origins
                    .check_adopted(id, context.term_before, term)?;
            }
        }
        if watch.pre_vote
            && term > context.term_before
            && matches!(role, StateRole::Candidate | StateRole::Leader)
            && !context.transfer_campaign
        {
            watch
                .pre_vote_gate
                .check_campaign(id, context.term_before, term, |nodes| {
                    is_quorum(nodes) || context.voters_before.is_quorum(nodes)
                })?;
        }
        // StepDownOnRemoval: a leader that applied its own removal or demotion in this step
        // stepped down in it. (A node finishing its removal may campaign and lead again from
        // outside; that is a later step.)
        if watch.step_down_on_removal
            && context.leader_before
            && role == StateRole::Leader
            && context.voters_before.contains(id)
            && !voters.contains(id)
        {
            return Err(Violation::at(
                Property::RemovedLeaderLeads,
                id,
                format!(
                    "node {id} still leads term {term} after applying a configuration whose \
                     voters {:?} leave it out, with step_down_on_removal on",
                    voters.ids()
                ),
            ));
        }
        // CheckQuorum on the leader side, and the transfer deadline.
        if role == StateRole::Leader {
            if watch.check_quorum {
                watch.step_down.leading(id, term, local_ms);
                watch
                    .step_down
                    .configuration(id, &raft.tracker.config, local_ms);
                if transferee != raft::INVALID_ID && transferee != context.transferee_before {
                    watch.step_down.transfer_started(id, local_ms);
                }
                watch.step_down.check(id, local_ms, is_quorum)?;
            }
            watch
                .transfer_deadline
                .observe(id, Some(term), transferee, local_ms)?;
        } else {
            watch.step_down.not_leading(id);
            watch.transfer_deadline.observe(id, None, 0, local_ms)?;
        }
        // Quiet stretches raise no term. A node finishing its removal may campaign from
        // outside its configuration; that is a membership change still in progress.
        if removed {
            watch.stability.disturbed(now);
        }
        if term <= self.promises.stability.highest_term() {
            return Ok(());
        }
        // The cluster's terms are its members': a node the leader's configuration does not
        // count (removed while down or cut off, it never learned) may raise its own term
        // unheard. Its campaign is a disturbance all the same: a removed node that does not know
        // it is out keeps campaigning, and without CheckQuorum's lease its vote requests raise the
        // members' terms (the Raft thesis, §4.2.3, "disruptive servers").
        let Some(members) = self.leader_configuration(self.promises.stability.highest_term())
        else {
            return self.promises.stability.observe_term(id, term, now, false);
        };
        if !members.contains(id) {
            if matches!(role, StateRole::Candidate | StateRole::Leader) {
                self.promises.stability.disturbed(now);
            }
            return Ok(());
        }
        let leader_known = true;
        self.promises
            .stability
            .observe_term(id, term, now, leader_known)
    }

    /// The configuration of a running leader of `term`, if one runs.
    fn leader_configuration(&self, term: Term) -> Option<raft::ConfState> {
        self.processes
            .iter()
            .filter(|process| process.is_running())
            .filter_map(|process| process.node())
            .find(|node| node.is_leader() && node.raw().raft.term == term)
            .map(|node| node.raw().raft.tracker.conf_state())
    }

    /// Something happened that may legitimately move terms and leaders.
    pub(super) fn disturbed(&mut self) {
        self.promises.stability.disturbed(self.now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn voters_decide_by_a_majority_of_each_half() {
        let simple = Voters::of(&JointConfig::new(set(&[1, 2, 3])));
        assert_eq!(simple.ids(), set(&[1, 2, 3]));
        assert!(simple.is_quorum(&set(&[1, 3])));
        assert!(
            !simple.is_quorum(&set(&[2, 4, 5])),
            "4 and 5 are not voters"
        );
        let joint = Voters::of(&JointConfig {
            incoming: raft::quorum::MajorityConfig::new(set(&[3, 4, 5])),
            outgoing: raft::quorum::MajorityConfig::new(set(&[1, 2, 3])),
        });
        assert_eq!(joint.ids(), set(&[1, 2, 3, 4, 5]));
        assert!(joint.is_quorum(&set(&[1, 3, 4])));
        assert!(!joint.is_quorum(&set(&[1, 2, 4])), "one of three incoming");
        assert!(!joint.is_quorum(&set(&[3, 4, 5])), "one of three outgoing");
        let pair = Voters::of(&JointConfig::new(set(&[1, 2])));
        assert!(!pair.is_quorum(&set(&[2])), "half is no majority");
        assert_ne!(pair, simple);
        assert!(joint.contains(1) && joint.contains(5) && !joint.contains(6));
    }
}
