//! Feeding the oracles of Raft's optional features ([`crate::oracles::promises`]), the Ready
//! contract, ReadIndex against the commit index, and one configuration change at a time, from
//! what each step of a node shows.

use std::collections::BTreeSet;

use raft::raft::CAMPAIGN_TRANSFER;
use raft::{codec, MessageType, NodeId, StateRole, Term};

use super::{Input, World};
use crate::oracles::promises::{
    ready_contract, LeaseVotes, PreVoteGate, Stability, StepDown, TermOrigins, Timings,
    TransferDeadline,
};
use crate::oracles::Violation;
use crate::process::Outgoing;

/// The promise oracles of one run.
#[derive(Debug)]
pub(super) struct PromiseWatch {
    pub lease_votes: LeaseVotes,
    pub pre_vote_gate: PreVoteGate,
    pub step_down: StepDown,
    pub transfer_deadline: TransferDeadline,
    pub stability: Stability,
    pub term_origins: TermOrigins,
    check_quorum: bool,
    pre_vote: bool,
}

impl PromiseWatch {
    pub fn new(options: &crate::options::ClusterOptions) -> PromiseWatch {
        let timings = Timings {
            tick_ms: options.tick_interval_ms,
            election_ticks: options.election_ticks as u64,
        };
        PromiseWatch {
            lease_votes: LeaseVotes::new(timings),
            pre_vote_gate: PreVoteGate::default(),
            step_down: StepDown::new(timings),
            transfer_deadline: TransferDeadline::new(timings),
            stability: Stability::new(timings),
            term_origins: TermOrigins::default(),
            check_quorum: options.check_quorum,
            pre_vote: options.pre_vote,
        }
    }

    /// `node` stopped (a crash, a pause, its removal): its clock and promises start afresh.
    pub fn node_stopped(&mut self, node: NodeId, now_ms: u64) {
        self.lease_votes.void(node);
        self.step_down.not_leading(node);
        self.transfer_deadline.forget(node);
        self.stability.disturbed(now_ms);
    }
}

/// What a node was before one input, for the checks after it.
#[derive(Clone, Copy, Debug, Default)]
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
                self.promises.lease_votes.void(id);
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

    /// The checks on one message `id` sends, when it hands it to the network: a vote or
    /// pre-vote granted inside the lease, a promise of durable state that is not durable, the
    /// start of a pre-election.
    pub(super) fn check_outgoing(
        &mut self,
        id: NodeId,
        outgoing: &Outgoing,
        context: &StepContext,
    ) -> Result<(), Violation> {
        let Ok(msg_type) = codec::peek_message_type(&outgoing.bytes) else {
            return Ok(());
        };
        // A vote request makes its term, even if its sender dies in the same step.
        if msg_type == MessageType::RequestVote {
            if let Ok(message) = codec::decode_message(&outgoing.bytes) {
                self.promises.term_origins.campaigned(message.term);
            }
        }
        match msg_type {
            MessageType::RequestPreVote => {
                if let Ok(message) = codec::decode_message(&outgoing.bytes) {
                    self.promises.pre_vote_gate.pre_election(id, message.term);
                }
                Ok(())
            }
            MessageType::RequestVoteResponse | MessageType::RequestPreVoteResponse => {
                let Ok(message) = codec::decode_message(&outgoing.bytes) else {
                    return Ok(());
                };
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
            MessageType::RequestVote | MessageType::AppendResponse if outgoing.promise_pending => {
                let reject = codec::peek_message_type_and_reject(&outgoing.bytes)
                    .is_ok_and(|(_, reject)| reject);
                ready_contract(id, outgoing.to, msg_type, reject, true)
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
                .check_campaign(id, context.term_before, term, is_quorum)?;
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
        // count (removed while down, it never learned) may raise its own term unheard.
        let Some(members) = self.leader_configuration(self.promises.stability.highest_term())
        else {
            return self.promises.stability.observe_term(id, term, now, false);
        };
        if !members.contains(id) {
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
