//! The Raft state machine of one node: roles, elections, replication, membership, leadership
//! transfer and reads. It is a pure function of its configuration (including the seed of its
//! election timeouts), its storage and the sequence of `tick`s and `step`s it is given; it never
//! performs I/O. Outgoing messages collect in [`Raft::messages`] until the driver takes them.

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::codec;
use crate::confchange;
use crate::config::{Config, ReadOnlyOption};
use crate::coverage::{Counts, Point};
use crate::error::RaftError;
use crate::log::RaftLog;
use crate::message::{
    ConfChange, ConfState, Entry, EntryType, HardState, Index, Message, MessageType, NodeId,
    Snapshot, Term, INVALID_ID,
};
use crate::quorum::VoteResult;
use crate::read_only::{decode_round, encode_round, ReadOnly, ReadState, MAX_PENDING_READS};
use crate::storage::{Storage, StorageError};
use crate::tracker::{ProgressMap, ProgressState, ProgressTracker, TrackerConfig};

/// The context of a vote request sent because of a leadership transfer; voters grant it even
/// while they believe a leader is alive (Raft thesis §3.10).
pub const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// Ticks of a lease-based leader's lease given up to clock drift (see
/// `Raft::lease_is_current`).
pub const LEASE_MARGIN_TICKS: u64 = 1;

/// The most proposals-for-reads a leader queues before it has committed in its term.
const MAX_QUEUED_READS_BEFORE_COMMIT: usize = MAX_PENDING_READS;

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum StateRole {
    /// Follows a leader (or waits for one).
    #[default]
    Follower,
    /// Asks whether it could win an election, without changing its term (thesis §9.6).
    PreCandidate,
    /// Asks for votes in a new term (Raft §5.2).
    Candidate,
    /// Leads its term.
    Leader,
}

/// Why a node campaigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignType {
    /// The first phase of a PreVote election.
    PreElection,
    /// A normal election.
    Election,
    /// An election forced by a leadership transfer.
    Transfer,
}

/// State that need not be persisted but that the application may want to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SoftState {
    /// The leader this node knows of, or [`INVALID_ID`].
    pub leader_id: NodeId,
    /// This node's role.
    pub role: StateRole,
}

/// The Raft state machine of one node.
pub struct Raft<S: Storage> {
    /// This node's id.
    pub id: NodeId,
    /// The current term. Invariant: never decreases.
    pub term: Term,
    /// Whom this node voted for in `term`. Invariant: within one term it changes at most once,
    /// from [`INVALID_ID`] to a candidate (Raft §5.2: one vote per term).
    pub vote: NodeId,
    /// The log.
    pub raft_log: RaftLog<S>,
    /// Configuration, per-node replication progress and votes.
    pub tracker: ProgressTracker,
    /// The current role.
    pub role: StateRole,
    /// Whether this node is a learner in the current configuration.
    pub is_learner: bool,
    /// The known leader of `term`, or [`INVALID_ID`].
    pub leader_id: NodeId,
    /// The node leadership is being transferred to, or [`INVALID_ID`].
    pub lead_transferee: NodeId,
    /// The index of the latest configuration change entry that may not be applied yet. A leader
    /// accepts a new configuration change only once `applied` has reached it.
    pub pending_conf_index: Index,
    /// Payload bytes the leader has appended but not yet seen committed and handed out.
    pub uncommitted_size_bytes: u64,
    /// Reads waiting for leadership confirmation.
    pub read_only: ReadOnly,
    /// Reads confirmed and ready for the application.
    pub read_states: Vec<ReadState>,
    /// Messages to send, in order.
    pub messages: Vec<Message>,
    /// Reads received before the leader committed an entry of its own term (etcd #7331): until
    /// then its commit index may be stale, so they wait.
    pending_read_index_messages: Vec<Message>,
    /// Set by the application while this node has applied a configuration that no longer
    /// counts its vote (its removal, or its demotion to learner) but the others may not know
    /// yet that it is committed (see [`crate::RawNode::set_finishing_removal`]). Such a node
    /// may campaign, always through a pre-vote, in the configuration it applied, whose voters
    /// do not include it.
    pub finishing_removal: bool,
    /// Whether this leader started a leadership transfer in its term. The transferee's election
    /// is forced past the voters' leases (thesis §3.10), so once TimeoutNow is out, even if the
    /// transfer seems to fail, another node may lead a later term unbeknownst to this one:
    /// lease-based reads are confirmed by a heartbeat round for the rest of the term
    /// (etcd-io/raft #99).
    lease_forfeited: bool,
    /// Lease-based reads: the leader's ticks since it was elected, its clock for the lease.
    lease_clock: u64,
    /// Lease-based reads: the heartbeat rounds sent recently, with the `lease_clock` tick each
    /// was sent at, oldest first.
    lease_rounds: VecDeque<(u64, u64)>,
    /// Lease-based reads: per voter, the tick at which the newest heartbeat round it
    /// acknowledged was sent. Its promise not to vote for anyone else runs from receipt, so
    /// from no earlier than that tick, however long the messages took.
    lease_acks: BTreeMap<NodeId, u64>,
    /// Lease-based reads: this node started from persisted state (a restart) and has not yet
    /// let an election timeout pass: it refuses votes as if it had just heard from a leader,
    /// because it may have promised one that before it went down (thesis §6.4.1).
    lease_hold_after_start: bool,
    /// Whether this node's current campaign answers a leadership transfer (for coverage).
    campaigning_for_transfer: bool,
    /// How often each coverage point was reached ([`crate::coverage`]).
    coverage: Counts,
    election_elapsed: usize,
    heartbeat_elapsed: usize,
    election_timeout: usize,
    heartbeat_timeout: usize,
    randomized_election_timeout: usize,
    check_quorum: bool,
    pre_vote: bool,
    disable_proposal_forwarding: bool,
    step_down_on_removal: bool,
    max_size_per_msg: u64,
    max_uncommitted_size_bytes: u64,
    rng: ChaCha8Rng,
}

impl<S: Storage> Raft<S> {
    /// Builds a node from its configuration and storage (which may hold a previous life's state).
    pub fn new(config: &Config, store: S) -> Result<Raft<S>, RaftError> {
        config.validate()?;
        let initial = store.initial_state()?;
        let raft_log = RaftLog::new(store, config.max_committed_size_per_ready);
        let mut raft = Raft {
            id: config.id,
            term: 0,
            vote: INVALID_ID,
            raft_log,
            tracker: ProgressTracker::new(config.max_inflight_msgs),
            role: StateRole::Follower,
            is_learner: false,
            leader_id: INVALID_ID,
            lead_transferee: INVALID_ID,
            pending_conf_index: 0,
            uncommitted_size_bytes: 0,
            read_only: ReadOnly::new(config.read_only_option),
            read_states: Vec::new(),
            messages: Vec::new(),
            pending_read_index_messages: Vec::new(),
            finishing_removal: false,
            lease_forfeited: false,
            lease_clock: 0,
            lease_rounds: VecDeque::new(),
            lease_acks: BTreeMap::new(),
            lease_hold_after_start: config.check_quorum
                && config.read_only_option == ReadOnlyOption::LeaseBased
                && !initial.hard_state.is_empty(),
            campaigning_for_transfer: false,
            coverage: Counts::default(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            election_timeout: config.election_tick,
            heartbeat_timeout: config.heartbeat_tick,
            randomized_election_timeout: config.election_tick,
            check_quorum: config.check_quorum,
            pre_vote: config.pre_vote,
            disable_proposal_forwarding: config.disable_proposal_forwarding,
            step_down_on_removal: config.step_down_on_removal,
            max_size_per_msg: config.max_size_per_msg,
            max_uncommitted_size_bytes: config.max_uncommitted_entries_size,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        };
        let (tracker_config, progress) = confchange::restore(
            &raft.tracker,
            raft.raft_log.last_index(),
            &initial.conf_state,
        )?;
        let restored = raft.switch_to_config(tracker_config, progress);
        assert_eq!(
            restored, initial.conf_state,
            "restored configuration differs from the stored one"
        );
        if !initial.hard_state.is_empty() {
            raft.load_state(initial.hard_state);
        }
        if config.applied > 0 {
            raft.raft_log.applied_to(config.applied);
        }
        raft.become_follower(raft.term, INVALID_ID);
        Ok(raft)
    }

    fn load_state(&mut self, hard_state: HardState) {
        let last = self.raft_log.last_index();
        assert!(
            hard_state.commit >= self.raft_log.committed && hard_state.commit <= last,
            "node {}: stored commit {} is out of range [{}, {last}]",
            self.id,
            hard_state.commit,
            self.raft_log.committed
        );
        self.raft_log.committed = hard_state.commit;
        self.term = hard_state.term;
        self.vote = hard_state.vote;
    }

    /// The state to persist.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.raft_log.committed,
        }
    }

    /// The state the application may watch.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader_id: self.leader_id,
            role: self.role,
        }
    }

    /// How often each coverage point was reached since this node started.
    pub fn coverage(&self) -> &Counts {
        &self.coverage
    }

    /// Counts one pass through `point`.
    pub(crate) fn hit(&mut self, point: Point) {
        self.coverage.hit(point);
    }

    /// The election timeout in ticks (the configured one, not the randomized one).
    pub fn election_timeout(&self) -> usize {
        self.election_timeout
    }

    /// The heartbeat interval in ticks.
    pub fn heartbeat_timeout(&self) -> usize {
        self.heartbeat_timeout
    }

    /// The randomized election timeout currently in force.
    pub fn randomized_election_timeout(&self) -> usize {
        self.randomized_election_timeout
    }

    fn set_term(&mut self, term: Term) {
        assert!(
            term >= self.term,
            "node {}: term would go back from {} to {term}",
            self.id,
            self.term
        );
        if term != self.term {
            self.term = term;
            self.vote = INVALID_ID;
        }
    }

    fn set_vote(&mut self, candidate: NodeId) {
        assert!(
            self.vote == INVALID_ID || self.vote == candidate,
            "node {}: second vote in term {} for {candidate} after voting for {}",
            self.id,
            self.term,
            self.vote
        );
        self.vote = candidate;
    }

    // ----- Sending ---------------------------------------------------------------------------

    /// Queues a message, filling in the sender and (except for votes, which set their own, and
    /// forwarded requests, which carry none) the term.
    fn send(&mut self, mut message: Message) {
        if message.from == INVALID_ID {
            message.from = self.id;
        }
        match message.msg_type {
            MessageType::RequestVote
            | MessageType::RequestPreVote
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVoteResponse => {
                assert!(
                    message.term != 0,
                    "node {}: term must be set when sending {:?}",
                    self.id,
                    message.msg_type
                );
            }
            MessageType::Propose | MessageType::ReadIndex => {}
            MessageType::Hup
            | MessageType::Beat
            | MessageType::Append
            | MessageType::AppendResponse
            | MessageType::Heartbeat
            | MessageType::HeartbeatResponse
            | MessageType::Snapshot
            | MessageType::Unreachable
            | MessageType::SnapshotStatus
            | MessageType::CheckQuorum
            | MessageType::TransferLeader
            | MessageType::TimeoutNow
            | MessageType::ReadIndexResponse => message.term = self.term,
        }
        self.messages.push(message);
    }

    /// Sends entries (or a snapshot) to `to` if flow control allows. With `send_if_empty` an
    /// append without entries still goes out (it carries the commit index or probes). Returns
    /// whether a message was sent.
    fn maybe_send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(progress) = self.tracker.progress.get(&to) else {
            return false;
        };
        if progress.is_paused() {
            let full = progress.state == ProgressState::Replicate;
            self.coverage.hit_if(full, Point::InflightWindowFull);
            return false;
        }
        let next_index = progress.next_index;
        let previous_index = next_index - 1;
        let previous_term = self.raft_log.term(previous_index);
        let entries = self.raft_log.entries(next_index, self.max_size_per_msg);
        if let Ok(entries) = &entries {
            if entries.is_empty() && !send_if_empty {
                return false;
            }
        }
        match (previous_term, entries) {
            (Ok(log_term), Ok(entries)) => {
                let last_sent = entries.last().map(|entry| entry.index);
                self.coverage.hit_if(
                    last_sent.is_some_and(|last| last < self.raft_log.last_index()),
                    Point::AppendSplitBySize,
                );
                let mut message = Message::new(MessageType::Append, to, self.id);
                message.index = previous_index;
                message.log_term = log_term;
                message.entries = entries;
                message.commit = self.raft_log.committed;
                if let Some(last_sent) = last_sent {
                    let progress = self.progress_mut(to);
                    progress.sent_entries(last_sent);
                }
                self.send(message);
                true
            }
            // The entries the follower needs are compacted: send a snapshot instead.
            (Err(_), _) | (_, Err(_)) => self.maybe_send_snapshot(to),
        }
    }

    fn maybe_send_snapshot(&mut self, to: NodeId) -> bool {
        if !self.progress_mut(to).recent_active {
            // Do not spend a snapshot on a node that may be down.
            return false;
        }
        let next_index = self.progress_mut(to).next_index;
        let snapshot = match self.raft_log.snapshot(next_index) {
            Ok(snapshot) => snapshot,
            Err(StorageError::SnapshotTemporarilyUnavailable) => return false,
            Err(error) => panic!("node {}: cannot read a snapshot: {error}", self.id),
        };
        assert!(
            !snapshot.is_empty(),
            "node {}: follower {to} needs a snapshot but storage has none",
            self.id
        );
        self.progress_mut(to)
            .become_snapshot(snapshot.metadata.index);
        self.hit(Point::ProgressToSnapshot);
        let mut message = Message::new(MessageType::Snapshot, to, self.id);
        message.snapshot = Some(Box::new(snapshot));
        self.send(message);
        true
    }

    fn progress_mut(&mut self, id: NodeId) -> &mut crate::tracker::Progress {
        let node = self.id;
        self.tracker
            .progress
            .get_mut(&id)
            .unwrap_or_else(|| panic!("node {node}: no progress for {id}"))
    }

    fn send_heartbeat(&mut self, to: NodeId, context: Vec<u8>) {
        // A follower may not have the leader's whole log yet; never tell it to commit past what
        // it is known to hold.
        let matched = self.tracker.progress.get(&to).map_or(0, |p| p.matched);
        let mut message = Message::new(MessageType::Heartbeat, to, self.id);
        message.commit = matched.min(self.raft_log.committed);
        message.context = context;
        self.send(message);
    }

    fn peers(&self) -> Vec<NodeId> {
        self.tracker
            .progress
            .keys()
            .copied()
            .filter(|&id| id != self.id)
            .collect()
    }

    /// Sends appends to every other node.
    fn broadcast_append(&mut self) {
        for id in self.peers() {
            self.maybe_send_append(id, true);
        }
    }

    fn broadcast_heartbeat(&mut self) {
        if self.read_only.option == ReadOnlyOption::LeaseBased {
            // Every round counts for the lease, and a new round confirms every pending read.
            let round = self.read_only.new_round();
            self.broadcast_heartbeat_round(round);
            return;
        }
        let context = self.read_only.last_round().map(encode_round);
        self.broadcast_heartbeat_with_context(context.unwrap_or_default());
    }

    /// Sends heartbeat round `round`, and remembers when for the lease.
    fn broadcast_heartbeat_round(&mut self, round: u64) {
        if self.read_only.option == ReadOnlyOption::LeaseBased {
            self.lease_rounds.push_back((round, self.lease_clock));
            // Rounds sent an election timeout ago can no longer hold a lease up.
            let horizon = self.election_timeout as u64;
            while self
                .lease_rounds
                .front()
                .is_some_and(|&(_, sent)| sent + horizon < self.lease_clock)
            {
                self.lease_rounds.pop_front();
            }
        }
        self.broadcast_heartbeat_with_context(encode_round(round));
    }

    fn broadcast_heartbeat_with_context(&mut self, context: Vec<u8>) {
        for id in self.peers() {
            self.send_heartbeat(id, context.clone());
        }
    }

    /// Raft §5.3, §5.4.2: advances the commit index to what a quorum holds, if that entry is
    /// from the current term. Returns whether it advanced.
    fn maybe_commit(&mut self) -> bool {
        let quorum_index = self.tracker.committed();
        let before = self.raft_log.committed;
        if !self.raft_log.maybe_commit(quorum_index, self.term) {
            self.coverage.hit_if(
                quorum_index > before && self.raft_log.term_or_zero(quorum_index) < self.term,
                Point::CommitWithheldForEarlierTerm,
            );
            return false;
        }
        self.coverage.hit_if(
            self.raft_log.term_or_zero(before + 1) < self.term,
            Point::EarlierTermCommittedByOwnEntry,
        );
        true
    }

    // ----- Roles -----------------------------------------------------------------------------

    fn reset(&mut self, term: Term) {
        self.set_term(term);
        self.leader_id = INVALID_ID;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.abort_leader_transfer();
        self.tracker.reset_votes();
        let last_index = self.raft_log.last_index();
        let max_inflight = self.tracker.max_inflight;
        for (&id, progress) in self.tracker.progress.iter_mut() {
            let is_learner = progress.is_learner;
            *progress = crate::tracker::Progress::new(last_index + 1, max_inflight);
            progress.is_learner = is_learner;
            progress.recent_active = false;
            if id == self.id {
                progress.matched = last_index;
                progress.recent_active = true;
            }
        }
        self.pending_conf_index = 0;
        self.uncommitted_size_bytes = 0;
        self.read_only.clear();
        self.pending_read_index_messages.clear();
        self.lease_forfeited = false;
        self.lease_clock = 0;
        self.lease_rounds.clear();
        self.lease_acks.clear();
        self.campaigning_for_transfer = false;
    }

    fn reset_randomized_election_timeout(&mut self) {
        // Raft §5.2: a timeout drawn from [election_timeout, 2 * election_timeout) so that split
        // votes resolve quickly.
        let spread = self.rng.next_u64() % self.election_timeout as u64;
        self.randomized_election_timeout = self.election_timeout + spread as usize;
    }

    fn past_election_timeout(&self) -> bool {
        self.election_elapsed >= self.randomized_election_timeout
    }

    /// Becomes a follower of `leader` in `term`.
    pub fn become_follower(&mut self, term: Term, leader: NodeId) {
        self.reset(term);
        self.leader_id = leader;
        self.role = StateRole::Follower;
    }

    fn become_pre_candidate(&mut self) {
        assert!(
            self.role != StateRole::Leader,
            "node {}: invalid transition leader -> pre-candidate",
            self.id
        );
        // Neither the term nor the vote change: a pre-election must not disturb anyone.
        self.tracker.reset_votes();
        self.leader_id = INVALID_ID;
        self.role = StateRole::PreCandidate;
    }

    fn become_candidate(&mut self) {
        assert!(
            self.role != StateRole::Leader,
            "node {}: invalid transition leader -> candidate",
            self.id
        );
        self.reset(self.term + 1);
        self.set_vote(self.id);
        self.role = StateRole::Candidate;
    }

    /// Gives up a leadership transfer in progress on purpose (not by a change of term).
    fn give_up_leader_transfer(&mut self) {
        if self.lead_transferee != INVALID_ID {
            self.hit(Point::TransferAborted);
            self.abort_leader_transfer();
        }
    }

    fn become_leader(&mut self) {
        assert!(
            self.role != StateRole::Follower,
            "node {}: invalid transition follower -> leader",
            self.id
        );
        self.coverage
            .hit_if(self.campaigning_for_transfer, Point::TransferCompleted);
        self.coverage.hit_if(
            self.raft_log.committed < self.raft_log.last_index(),
            Point::LeaderElectedWithUncommittedTail,
        );
        self.reset(self.term);
        self.leader_id = self.id;
        self.role = StateRole::Leader;
        self.lease_hold_after_start = false;
        let id = self.id;
        if let Some(progress) = self.tracker.progress.get_mut(&id) {
            progress.become_replicate();
        }
        // Any configuration change in the uncommitted tail may be pending; be conservative.
        self.pending_conf_index = self.raft_log.last_index();
        // Raft §8: a new leader commits an entry of its own term, which commits everything
        // before it and tells the leader what is committed.
        let mut empty = vec![Entry::default()];
        assert!(
            self.append_entry(&mut empty),
            "node {}: the empty entry of a new leader was refused",
            self.id
        );
    }

    /// Whether this node may campaign: it is a voter (or a removed node finishing its removal,
    /// see [`Raft::finishing_removal`]) and is not waiting to apply a snapshot.
    pub fn promotable(&self) -> bool {
        let voter = match self.tracker.progress.get(&self.id) {
            Some(progress) => !progress.is_learner || self.finishing_removal,
            None => self.finishing_removal,
        };
        voter && !self.raft_log.has_pending_snapshot()
    }

    /// Whether this node campaigns from outside its configuration to finish its removal.
    fn campaigns_from_outside(&self) -> bool {
        self.finishing_removal && !self.tracker.config.voters.contains(self.id)
    }

    // ----- Ticks -----------------------------------------------------------------------------

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        match self.role {
            StateRole::Leader => self.tick_heartbeat(),
            StateRole::Follower | StateRole::PreCandidate | StateRole::Candidate => {
                self.tick_election()
            }
        }
    }

    fn local_message(&self, msg_type: MessageType) -> Message {
        Message::new(msg_type, self.id, self.id)
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.lease_hold_after_start = false;
        }
        if self.promotable() && self.past_election_timeout() {
            self.election_elapsed = 0;
            self.coverage
                .hit_if(self.role == StateRole::Candidate, Point::ElectionSplit);
            let hup = self.local_message(MessageType::Hup);
            self.step_or_panic(hup);
        }
    }

    fn tick_heartbeat(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        self.lease_clock += 1;
        if self.election_elapsed >= self.election_timeout {
            self.election_elapsed = 0;
            if self.check_quorum {
                let check = self.local_message(MessageType::CheckQuorum);
                self.step_or_panic(check);
            }
            // Thesis §3.10: a transfer that has not finished within an election timeout is
            // abandoned, and the leader accepts proposals again.
            if self.role == StateRole::Leader {
                self.give_up_leader_transfer();
            }
        }
        if self.role != StateRole::Leader {
            return;
        }
        if self.heartbeat_elapsed >= self.heartbeat_timeout {
            self.heartbeat_elapsed = 0;
            let beat = self.local_message(MessageType::Beat);
            self.step_or_panic(beat);
        }
    }

    fn step_or_panic(&mut self, message: Message) {
        let msg_type = message.msg_type;
        if let Err(error) = self.step(message) {
            panic!(
                "node {}: local {msg_type:?} cannot fail, but did: {error}",
                self.id
            );
        }
    }

    // ----- Elections -------------------------------------------------------------------------

    /// Whether the committed but unapplied part of the log holds a configuration change. Such a
    /// node must not campaign: as leader it would not know its own configuration (etcd #12133).
    fn has_unapplied_conf_change(&self) -> bool {
        let mut low = self.raft_log.applied + 1;
        let high = self.raft_log.committed + 1;
        const PAGE_SIZE_BYTES: u64 = 1024 * 1024;
        while low < high {
            let page = match self.raft_log.slice(low, high, PAGE_SIZE_BYTES) {
                Ok(page) => page,
                Err(error) => panic!(
                    "node {}: unapplied committed entries [{low}, {high}) unreadable: {error}",
                    self.id
                ),
            };
            if page
                .iter()
                .any(|entry| entry.entry_type == EntryType::ConfChange)
            {
                return true;
            }
            low += page.len() as u64;
        }
        false
    }

    fn hup(&mut self, campaign_type: CampaignType) {
        if self.role == StateRole::Leader {
            return;
        }
        if !self.promotable() || self.has_unapplied_conf_change() {
            return;
        }
        self.campaign(campaign_type);
    }

    /// Starts an election (or pre-election) at once.
    pub fn campaign(&mut self, campaign_type: CampaignType) {
        if !self.promotable() {
            return;
        }
        let (request_type, term) = match campaign_type {
            CampaignType::PreElection => {
                self.become_pre_candidate();
                // A pre-vote asks about the term the node would campaign in.
                (MessageType::RequestPreVote, self.term + 1)
            }
            CampaignType::Election | CampaignType::Transfer => {
                self.become_candidate();
                self.campaigning_for_transfer = campaign_type == CampaignType::Transfer;
                (MessageType::RequestVote, self.term)
            }
        };
        self.coverage
            .hit_if(self.campaigns_from_outside(), Point::RemovedNodeStillNeeded);
        if self.poll(self.id, true) == VoteResult::Won {
            // A single voter wins at once.
            match campaign_type {
                CampaignType::PreElection => self.campaign(CampaignType::Election),
                CampaignType::Election | CampaignType::Transfer => self.become_leader(),
            }
            return;
        }
        let last_index = self.raft_log.last_index();
        let last_term = self.raft_log.last_term();
        for id in self.tracker.config.voters.ids() {
            if id == self.id {
                continue;
            }
            let mut request = Message::new(request_type, id, self.id);
            request.term = term;
            request.index = last_index;
            request.log_term = last_term;
            if campaign_type == CampaignType::Transfer {
                request.context = CAMPAIGN_TRANSFER.to_vec();
            }
            self.send(request);
        }
    }

    fn poll(&mut self, from: NodeId, granted: bool) -> VoteResult {
        self.tracker.record_vote(from, granted);
        let (_granted, _rejected, result) = self.tracker.tally_votes();
        result
    }

    fn handle_vote_request(&mut self, request: Message) {
        let is_pre_vote = request.msg_type == MessageType::RequestPreVote;
        let response_type = if is_pre_vote {
            MessageType::RequestPreVoteResponse
        } else {
            MessageType::RequestVoteResponse
        };
        // Raft §5.2, §5.4.1: one vote per term, only for a candidate whose log is at least as up
        // to date. A pre-vote for a future term is granted without a vote being cast.
        let can_vote = self.vote == request.from
            || (self.vote == INVALID_ID && self.leader_id == INVALID_ID)
            || (is_pre_vote && request.term > self.term);
        let mut response = Message::new(response_type, request.from, self.id);
        let up_to_date = self.raft_log.is_up_to_date(request.index, request.log_term);
        if can_vote && up_to_date {
            // Answer in the candidate's term so that it counts the answer.
            response.term = request.term;
            self.send(response);
            self.hit(if is_pre_vote {
                Point::PreVoteGranted
            } else {
                Point::VoteGranted
            });
            self.coverage
                .hit_if(self.campaigns_from_outside(), Point::RemovedNodeStillNeeded);
            if !is_pre_vote {
                self.election_elapsed = 0;
                self.set_vote(request.from);
            }
        } else {
            response.term = self.term;
            response.reject = true;
            self.send(response);
            self.coverage.hit_if(is_pre_vote, Point::PreVoteRejected);
            self.coverage
                .hit_if(can_vote && !up_to_date, Point::VoteRejectedLogBehind);
        }
    }

    // ----- Step ------------------------------------------------------------------------------

    /// Feeds one message into the state machine.
    pub fn step(&mut self, message: Message) -> Result<(), RaftError> {
        if message.term > self.term {
            if matches!(
                message.msg_type,
                MessageType::RequestVote | MessageType::RequestPreVote
            ) {
                let forced = message.context == CAMPAIGN_TRANSFER;
                // Thesis §4.2.3: while a node hears from a live leader it ignores vote requests,
                // so that a removed or partitioned node cannot disrupt the cluster.
                let in_lease = self.check_quorum
                    && (self.leader_id != INVALID_ID || self.lease_hold_after_start)
                    && self.election_elapsed < self.election_timeout;
                if !forced && in_lease {
                    self.hit(Point::VoteIgnoredInLease);
                    return Ok(());
                }
            }
            match message.msg_type {
                // A pre-vote never changes the receiver's term.
                MessageType::RequestPreVote => {}
                // A granted pre-vote carries a future term; the term grows only if we win.
                MessageType::RequestPreVoteResponse if !message.reject => {}
                _ => {
                    let leader = match message.msg_type {
                        MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                            message.from
                        }
                        _ => INVALID_ID,
                    };
                    match self.role {
                        StateRole::Leader => self.hit(Point::LeaderSteppedDownOnHigherTerm),
                        StateRole::Candidate | StateRole::PreCandidate => {
                            self.hit(Point::CandidateSteppedDown)
                        }
                        StateRole::Follower => {}
                    }
                    self.become_follower(message.term, leader);
                }
            }
        } else if message.term != 0 && message.term < self.term {
            self.handle_stale_message(message);
            return Ok(());
        }

        match message.msg_type {
            MessageType::Hup => {
                // A removed node finishing its removal always asks first: if the others have
                // gone on without it, its log is behind theirs and nobody's term moves.
                let campaign_type = if self.pre_vote || self.campaigns_from_outside() {
                    CampaignType::PreElection
                } else {
                    CampaignType::Election
                };
                self.hup(campaign_type);
                Ok(())
            }
            MessageType::RequestVote | MessageType::RequestPreVote => {
                self.handle_vote_request(message);
                Ok(())
            }
            _ => {
                let result = match self.role {
                    StateRole::Leader => self.step_leader(message),
                    StateRole::PreCandidate | StateRole::Candidate => self.step_candidate(message),
                    StateRole::Follower => self.step_follower(message),
                };
                match result {
                    Err(RaftError::ProposalDropped) => self.hit(Point::ProposalDropped),
                    Err(RaftError::ReadIndexDropped) => self.hit(Point::ReadDropped),
                    _ => {}
                }
                result
            }
        }
    }

    /// Answers a request from an older term with this node's term, so that its sender steps
    /// down (Raft §5.1: a stale request is rejected, and the reply carries the current term).
    /// etcd answers stale appends only under CheckQuorum or PreVote, and stale votes never,
    /// counting on the sender to hear the newer term from someone's election. With membership
    /// changes that need not happen: a leader whose configuration keeps only nodes that have
    /// moved on, or a candidate that only nodes of another configuration outrank, then stays
    /// stuck in its old term for good (found by the simulator).
    fn handle_stale_message(&mut self, message: Message) {
        let response_type = match message.msg_type {
            MessageType::Heartbeat | MessageType::Append | MessageType::Snapshot => {
                MessageType::AppendResponse
            }
            MessageType::RequestVote => MessageType::RequestVoteResponse,
            MessageType::RequestPreVote => MessageType::RequestPreVoteResponse,
            // Responses and everything else from an old term are ignored.
            _ => return,
        };
        let mut response = Message::new(response_type, message.from, self.id);
        response.term = self.term;
        response.reject = response_type != MessageType::AppendResponse;
        self.send(response);
        self.hit(Point::StaleRequestAnswered);
    }

    fn step_leader(&mut self, mut message: Message) -> Result<(), RaftError> {
        match message.msg_type {
            MessageType::Beat => {
                self.broadcast_heartbeat();
                return Ok(());
            }
            MessageType::CheckQuorum => {
                let id = self.id;
                if let Some(progress) = self.tracker.progress.get_mut(&id) {
                    progress.recent_active = true;
                }
                if !self.tracker.quorum_active() {
                    // Raft thesis §6.2: a leader that cannot reach a quorum steps down so that
                    // clients look for the real leader.
                    self.hit(Point::LeaderDeposedByCheckQuorum);
                    self.become_follower(self.term, INVALID_ID);
                }
                for (&peer, progress) in self.tracker.progress.iter_mut() {
                    if peer != id {
                        progress.recent_active = false;
                    }
                }
                return Ok(());
            }
            MessageType::Propose => return self.leader_propose(message),
            MessageType::ReadIndex => return self.leader_read_index(message),
            _ => {}
        }
        if !self.tracker.progress.contains_key(&message.from) {
            return Ok(());
        }
        match message.msg_type {
            MessageType::AppendResponse => self.handle_append_response(message),
            MessageType::HeartbeatResponse => self.handle_heartbeat_response(message),
            MessageType::SnapshotStatus => {
                let progress = self.progress_mut(message.from);
                if progress.state == ProgressState::Snapshot {
                    if message.reject {
                        progress.pending_snapshot = 0;
                    }
                    progress.become_probe();
                    // After a snapshot wait for the follower's append response (or, after a
                    // failure, a heartbeat response) before probing again.
                    progress.probe_sent = true;
                    self.hit(Point::SnapshotToProbe);
                }
            }
            MessageType::Unreachable => {
                let progress = self.progress_mut(message.from);
                // Appends in flight were probably lost: probe until we hear back.
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                    self.hit(Point::ReplicateToProbe);
                }
            }
            MessageType::TransferLeader => self.handle_transfer_leader(message),
            MessageType::Hup
            | MessageType::Beat
            | MessageType::Propose
            | MessageType::Append
            | MessageType::RequestVote
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVote
            | MessageType::RequestPreVoteResponse
            | MessageType::Heartbeat
            | MessageType::Snapshot
            | MessageType::CheckQuorum
            | MessageType::TimeoutNow
            | MessageType::ReadIndex
            | MessageType::ReadIndexResponse => {
                // Not for a leader of this term; votes were answered in `step`.
                message.entries.clear();
            }
        }
        Ok(())
    }

    fn leader_propose(&mut self, mut message: Message) -> Result<(), RaftError> {
        assert!(
            !message.entries.is_empty(),
            "node {}: stepped an empty proposal",
            self.id
        );
        if !self.tracker.progress.contains_key(&self.id) {
            // This leader was removed from the configuration; it must not grow the log.
            return Err(RaftError::ProposalDropped);
        }
        if self.lead_transferee != INVALID_ID {
            return Err(RaftError::ProposalDropped);
        }
        let last_index = self.raft_log.last_index();
        let mut conf_change_index = None;
        for (offset, entry) in message.entries.iter().enumerate() {
            if entry.entry_type != EntryType::ConfChange {
                continue;
            }
            // A second change in the same proposal would be pending behind the first.
            if conf_change_index.is_some()
                || self.validate_conf_change_proposal(&entry.data).is_err()
            {
                self.hit(Point::ConfChangeRefused);
                return Err(RaftError::ProposalDropped);
            }
            conf_change_index = Some(last_index + offset as u64 + 1);
        }
        if !self.append_entry(&mut message.entries) {
            return Err(RaftError::ProposalDropped);
        }
        // Only an appended change is pending: had a dropped one been recorded, every later
        // change would be refused until another entry happened to reach its index.
        if let Some(index) = conf_change_index {
            self.pending_conf_index = index;
        }
        self.broadcast_append();
        Ok(())
    }

    /// One configuration change at a time (Raft thesis §4.1), entered and left in order.
    fn validate_conf_change_proposal(&self, data: &[u8]) -> Result<(), String> {
        let change = codec::decode_conf_change(data).map_err(|error| error.to_string())?;
        if self.pending_conf_index > self.raft_log.applied {
            return Err(format!(
                "configuration change at index {} is not applied yet (applied {})",
                self.pending_conf_index, self.raft_log.applied
            ));
        }
        let joint = self.tracker.config.voters.is_joint();
        if joint && !change.is_leave_joint() {
            return Err("the configuration is joint: leave it first".to_string());
        }
        if !joint && change.is_leave_joint() {
            return Err("the configuration is not joint: nothing to leave".to_string());
        }
        // Only one change is pending, so the configuration it will apply to is today's.
        confchange::apply_conf_change(&self.tracker, self.raft_log.last_index(), &change)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    fn append_entry(&mut self, entries: &mut [Entry]) -> bool {
        let last_index = self.raft_log.last_index();
        for (offset, entry) in entries.iter_mut().enumerate() {
            entry.term = self.term;
            entry.index = last_index + 1 + offset as u64;
        }
        if !self.increase_uncommitted_size(entries) {
            return false;
        }
        let last_index = self.raft_log.append(entries);
        let id = self.id;
        if let Some(progress) = self.tracker.progress.get_mut(&id) {
            progress.maybe_update(last_index);
        }
        self.maybe_commit();
        true
    }

    fn increase_uncommitted_size(&mut self, entries: &[Entry]) -> bool {
        let size: u64 = entries.iter().map(Entry::payload_size_bytes).sum();
        let limit = self.max_uncommitted_size_bytes;
        // A single proposal larger than the limit is still accepted when nothing else is
        // uncommitted, so that large entries can make progress at all.
        if limit != 0
            && self.uncommitted_size_bytes > 0
            && size > 0
            && self.uncommitted_size_bytes + size > limit
        {
            self.hit(Point::UncommittedLimitReached);
            return false;
        }
        self.uncommitted_size_bytes += size;
        true
    }

    /// Forgets the size of committed entries handed to the application.
    pub fn reduce_uncommitted_size(&mut self, size_bytes: u64) {
        self.uncommitted_size_bytes = self.uncommitted_size_bytes.saturating_sub(size_bytes);
    }

    fn handle_append_response(&mut self, message: Message) {
        let from = message.from;
        let last_index = self.raft_log.last_index();
        self.note_reported_commit(from, message.commit);
        if message.reject {
            // Fast backtracking: skip every entry whose term shows that it cannot match.
            let mut next_probe = message.reject_hint;
            if message.log_term > 0 {
                next_probe = self
                    .raft_log
                    .find_conflict_by_term(message.reject_hint, message.log_term)
                    .0;
            }
            let progress = self.progress_mut(from);
            progress.recent_active = true;
            let was_replicating = progress.state == ProgressState::Replicate;
            if progress.maybe_decrease_to(message.index, next_probe) {
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                }
                self.coverage
                    .hit_if(was_replicating, Point::ReplicateToProbe);
                self.coverage.hit_if(
                    !was_replicating && next_probe < message.reject_hint,
                    Point::BacktrackedByTerm,
                );
                self.maybe_send_append(from, true);
            } else {
                self.hit(Point::StaleAppendResponse);
            }
            return;
        }
        let first_index = self.raft_log.first_index();
        let progress = self.progress_mut(from);
        progress.recent_active = true;
        let was_paused = progress.is_paused();
        let updated = progress.maybe_update(message.index);
        if updated || (progress.matched == message.index && progress.state == ProgressState::Probe)
        {
            let transitions: &[Point] = match progress.state {
                ProgressState::Probe => {
                    progress.become_replicate();
                    &[Point::ProbeToReplicate]
                }
                ProgressState::Snapshot => {
                    // The follower caught up past the log's start, by the snapshot or otherwise.
                    if progress.matched + 1 >= first_index {
                        progress.become_probe();
                        progress.become_replicate();
                        &[Point::SnapshotToProbe, Point::ProbeToReplicate]
                    } else {
                        &[]
                    }
                }
                ProgressState::Replicate => {
                    progress.inflights.free_le(message.index);
                    &[]
                }
            };
            for &point in transitions {
                self.hit(point);
            }
            if self.maybe_commit() {
                self.release_pending_read_index_messages();
                self.broadcast_append();
            } else if was_paused {
                // The follower may be missing the latest commit index.
                self.maybe_send_append(from, true);
            }
            // Flow control may now allow several messages at once.
            while self.maybe_send_append(from, false) {}
            let matched = self.progress_mut(from).matched;
            if from == self.lead_transferee && matched == last_index {
                self.send_timeout_now(from);
            }
        } else {
            self.hit(Point::StaleAppendResponse);
        }
    }

    /// Records the commit index a follower reported in a response.
    fn note_reported_commit(&mut self, from: NodeId, commit: Index) {
        if let Some(progress) = self.tracker.progress.get_mut(&from) {
            progress.reported_commit = progress.reported_commit.max(commit);
        }
    }

    /// Whether a quorum of the voters of the current configuration has reported (or, for this
    /// node, holds) a commit index of at least `index`. Only a leader hears reports; anyone else
    /// gets false.
    pub fn quorum_reported_commit(&self, index: Index) -> bool {
        if self.role != StateRole::Leader {
            return false;
        }
        let committed = self.raft_log.committed;
        self.tracker.quorum_where(|id, progress| {
            let commit = if id == self.id {
                committed
            } else {
                progress.reported_commit
            };
            commit >= index
        })
    }

    fn handle_heartbeat_response(&mut self, message: Message) {
        let from = message.from;
        let last_index = self.raft_log.last_index();
        self.note_reported_commit(from, message.commit);
        let progress = self.progress_mut(from);
        progress.recent_active = true;
        progress.probe_sent = false;
        // If every append in a full window was lost, no append response will ever free it:
        // free one slot so that one append goes out, which the follower accepts or rejects, and
        // replication resumes either way. (Found by the simulator; etcd frees one slot here too.)
        let mut freed = false;
        if progress.state == ProgressState::Replicate && progress.inflights.full() {
            if let Some(oldest) = progress.inflights.first_index() {
                progress.inflights.free_le(oldest);
                freed = true;
            }
        }
        if progress.matched < last_index || progress.state == ProgressState::Probe {
            self.maybe_send_append(from, true);
        }
        self.coverage.hit_if(freed, Point::HeartbeatFreedWindow);
        // Rounds also confirm lease-based reads once the lease is forfeited.
        let Some(round) = decode_round(&message.context) else {
            return;
        };
        self.read_only.receive_ack(from, round);
        self.note_lease_ack(from, round);
        self.release_confirmed_reads();
    }

    /// Answers the pending reads whose acknowledgements form a quorum.
    fn release_confirmed_reads(&mut self) {
        let voters = &self.tracker.config.voters;
        let released = self.read_only.release_confirmed(|acks| {
            let votes = acks.iter().map(|&id| (id, true)).collect();
            voters.vote_result(&votes) == VoteResult::Won
        });
        for read in released {
            self.hit(Point::ReadServedSafe);
            self.respond_to_read_index(read.request, read.index);
        }
    }

    fn handle_transfer_leader(&mut self, message: Message) {
        let transferee = message.from;
        if self.progress_mut(transferee).is_learner {
            return;
        }
        if self.lead_transferee != INVALID_ID {
            if self.lead_transferee == transferee {
                return;
            }
            self.give_up_leader_transfer();
        }
        if transferee == self.id {
            return;
        }
        self.hit(Point::TransferStarted);
        // The transfer must finish within an election timeout (thesis §3.10). Restarting the
        // clock for it also postpones the next quorum check, which the lease rests on: forfeit
        // the lease now rather than when TimeoutNow goes out.
        self.election_elapsed = 0;
        self.lead_transferee = transferee;
        self.lease_forfeited = true;
        if self.progress_mut(transferee).matched == self.raft_log.last_index() {
            self.send_timeout_now(transferee);
        } else {
            self.maybe_send_append(transferee, true);
        }
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        self.send(Message::new(MessageType::TimeoutNow, to, self.id));
    }

    /// Gives up a leadership transfer in progress.
    pub fn abort_leader_transfer(&mut self) {
        self.lead_transferee = INVALID_ID;
    }

    fn step_candidate(&mut self, message: Message) -> Result<(), RaftError> {
        let own_response = match self.role {
            StateRole::PreCandidate => MessageType::RequestPreVoteResponse,
            StateRole::Candidate | StateRole::Follower | StateRole::Leader => {
                MessageType::RequestVoteResponse
            }
        };
        match message.msg_type {
            MessageType::Propose => return Err(RaftError::ProposalDropped),
            MessageType::ReadIndex => return Err(RaftError::ReadIndexDropped),
            MessageType::Append => {
                self.become_follower(message.term, message.from);
                self.handle_append_entries(message);
            }
            MessageType::Heartbeat => {
                self.become_follower(message.term, message.from);
                self.handle_heartbeat(message);
            }
            MessageType::Snapshot => {
                self.become_follower(message.term, message.from);
                self.handle_snapshot(message);
            }
            MessageType::RequestVoteResponse | MessageType::RequestPreVoteResponse => {
                if message.msg_type != own_response {
                    return Ok(());
                }
                // A pre-vote is granted in the term it asked about, one past ours; a grant in
                // any other term answers an earlier pre-election (a late or duplicated
                // response) and must not count for this one, or a node could raise its term
                // without a quorum's consent (found by the simulator's PreVote oracle).
                if self.role == StateRole::PreCandidate
                    && !message.reject
                    && message.term != self.term + 1
                {
                    self.hit(Point::StalePreVoteGrantIgnored);
                    return Ok(());
                }
                match self.poll(message.from, !message.reject) {
                    VoteResult::Won => {
                        if self.role == StateRole::PreCandidate {
                            self.campaign(CampaignType::Election);
                        } else {
                            self.become_leader();
                            self.broadcast_append();
                        }
                    }
                    VoteResult::Lost => {
                        self.hit(Point::ElectionLost);
                        self.become_follower(self.term, INVALID_ID);
                    }
                    VoteResult::Pending => {}
                }
            }
            MessageType::Hup
            | MessageType::Beat
            | MessageType::AppendResponse
            | MessageType::RequestVote
            | MessageType::RequestPreVote
            | MessageType::HeartbeatResponse
            | MessageType::Unreachable
            | MessageType::SnapshotStatus
            | MessageType::CheckQuorum
            | MessageType::TransferLeader
            | MessageType::TimeoutNow
            | MessageType::ReadIndexResponse => {}
        }
        Ok(())
    }

    fn step_follower(&mut self, mut message: Message) -> Result<(), RaftError> {
        match message.msg_type {
            MessageType::Propose => {
                if self.leader_id == INVALID_ID || self.disable_proposal_forwarding {
                    return Err(RaftError::ProposalDropped);
                }
                message.to = self.leader_id;
                self.send(message);
                self.hit(Point::ProposalForwarded);
            }
            MessageType::Append => {
                self.election_elapsed = 0;
                self.leader_id = message.from;
                self.handle_append_entries(message);
            }
            MessageType::Heartbeat => {
                self.election_elapsed = 0;
                self.leader_id = message.from;
                self.handle_heartbeat(message);
            }
            MessageType::Snapshot => {
                self.election_elapsed = 0;
                self.leader_id = message.from;
                self.handle_snapshot(message);
            }
            MessageType::TransferLeader => {
                if self.leader_id != INVALID_ID {
                    message.to = self.leader_id;
                    self.send(message);
                }
            }
            MessageType::TimeoutNow => {
                // Leadership transfers skip the pre-vote: the old leader asked for this, so no
                // partitioned node is disrupting anyone.
                self.hup(CampaignType::Transfer);
            }
            MessageType::ReadIndex => {
                if self.leader_id == INVALID_ID {
                    return Err(RaftError::ReadIndexDropped);
                }
                message.to = self.leader_id;
                self.send(message);
                self.hit(Point::ReadForwarded);
            }
            MessageType::ReadIndexResponse => {
                if let [entry] = message.entries.as_slice() {
                    self.read_states.push(ReadState {
                        index: message.index,
                        request_context: entry.data.clone(),
                    });
                }
            }
            MessageType::Hup
            | MessageType::Beat
            | MessageType::AppendResponse
            | MessageType::RequestVote
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVote
            | MessageType::RequestPreVoteResponse
            | MessageType::HeartbeatResponse
            | MessageType::Unreachable
            | MessageType::SnapshotStatus
            | MessageType::CheckQuorum => {}
        }
        Ok(())
    }

    // ----- Follower handlers -----------------------------------------------------------------

    fn handle_append_entries(&mut self, message: Message) {
        let mut response = Message::new(MessageType::AppendResponse, message.from, self.id);
        if message.index < self.raft_log.committed {
            response.index = self.raft_log.committed;
            response.commit = self.raft_log.committed;
            self.send(response);
            self.hit(Point::AppendBelowCommit);
            return;
        }
        let contiguous = message
            .entries
            .iter()
            .enumerate()
            .all(|(offset, entry)| entry.index == message.index + 1 + offset as u64);
        if !contiguous {
            // A malformed append; answering it could corrupt the leader's view of this log.
            return;
        }
        match self.raft_log.maybe_append(
            message.index,
            message.log_term,
            message.commit,
            &message.entries,
        ) {
            Some(last_new) => {
                response.index = last_new;
                response.commit = self.raft_log.committed;
                self.send(response);
                let truncated = self.raft_log.truncated_by_last_append;
                if truncated > 0 {
                    self.hit(Point::SuffixTruncated);
                    self.coverage
                        .hit_if(truncated >= 4, Point::SuffixTruncatedLong);
                    self.coverage.hit_if(
                        truncated > message.entries.len() as u64,
                        Point::SuffixTruncatedBeyondAppend,
                    );
                }
            }
            None => {
                // Raft §5.3 with the thesis's optimisation: tell the leader where our log could
                // match, at the last entry whose term is at most the leader's term at the probe.
                let hint = message.index.min(self.raft_log.last_index());
                let (hint_index, hint_term) =
                    self.raft_log.find_conflict_by_term(hint, message.log_term);
                response.index = message.index;
                response.reject = true;
                response.reject_hint = hint_index;
                response.log_term = hint_term;
                response.commit = self.raft_log.committed;
                self.send(response);
                self.hit(Point::AppendRejected);
            }
        }
    }

    fn handle_heartbeat(&mut self, message: Message) {
        let before = self.raft_log.committed;
        self.raft_log.commit_to(message.commit);
        self.coverage
            .hit_if(self.raft_log.committed > before, Point::CommitByHeartbeat);
        let mut response = Message::new(MessageType::HeartbeatResponse, message.from, self.id);
        response.context = message.context;
        response.commit = self.raft_log.committed;
        self.send(response);
    }

    fn handle_snapshot(&mut self, message: Message) {
        let from = message.from;
        let Some(snapshot) = message.snapshot else {
            return;
        };
        let mut response = Message::new(MessageType::AppendResponse, from, self.id);
        response.index = if self.restore(*snapshot) {
            self.raft_log.last_index()
        } else {
            self.raft_log.committed
        };
        response.commit = self.raft_log.committed;
        self.send(response);
    }

    /// Installs a snapshot from the leader. Returns false when it is stale or already covered.
    pub fn restore(&mut self, snapshot: Snapshot) -> bool {
        let index = snapshot.metadata.index;
        let term = snapshot.metadata.term;
        if index <= self.raft_log.committed {
            return false;
        }
        if self.role != StateRole::Follower {
            // Only a follower receives snapshots from the leader of its term; anything else is
            // a bug elsewhere. Move to a new term so that this node cannot act on stale state.
            self.become_follower(self.term + 1, INVALID_ID);
            return false;
        }
        // The snapshot's configuration may not contain this node: a leader only sends to nodes
        // of its own configuration, but its newest snapshot may predate the change that added
        // this one. Installing it is safe (it holds only committed state, and a node outside
        // its configuration does not campaign), and the entries after it add this node. etcd
        // refuses such snapshots (its server makes a fresh one for each send); with a storage
        // that serves its newest snapshot as is, like MemStorage, the refused node stayed
        // behind, sent the same snapshot again and again until a newer one was taken.
        let conf_state = &snapshot.metadata.conf_state;
        if self.raft_log.match_term(index, term) {
            // We have the entries already; just learn that they are committed.
            self.raft_log.commit_to(index);
            return false;
        }
        let conf_state = conf_state.clone();
        self.raft_log.restore(snapshot);
        let fresh = ProgressTracker::new(self.tracker.max_inflight);
        let (tracker_config, progress) =
            confchange::restore(&fresh, self.raft_log.last_index(), &conf_state).unwrap_or_else(
                |error| panic!("node {}: snapshot configuration invalid: {error}", self.id),
            );
        self.tracker = fresh;
        let restored = self.switch_to_config(tracker_config, progress);
        assert_eq!(
            restored, conf_state,
            "node {}: restored configuration differs from the snapshot's",
            self.id
        );
        self.hit(Point::SnapshotInstalled);
        true
    }

    // ----- Membership ------------------------------------------------------------------------

    /// Applies a committed configuration change and returns the new configuration.
    pub fn apply_conf_change(&mut self, change: &ConfChange) -> Result<ConfState, RaftError> {
        let (tracker_config, progress) =
            confchange::apply_conf_change(&self.tracker, self.raft_log.last_index(), change)?;
        Ok(self.switch_to_config(tracker_config, progress))
    }

    fn switch_to_config(
        &mut self,
        tracker_config: TrackerConfig,
        progress: ProgressMap,
    ) -> ConfState {
        self.tracker.apply(tracker_config, progress);
        let conf_state = self.tracker.conf_state();
        let own = self.tracker.progress.get(&self.id);
        self.is_learner = own.is_some_and(|progress| progress.is_learner);
        if (own.is_none() || self.is_learner) && self.role == StateRole::Leader {
            self.hit(Point::LeaderRemovedWhileLeading);
            // This leader was removed or demoted. It keeps leading until the change is committed
            // on the new configuration unless asked to step down at once.
            if self.step_down_on_removal {
                self.become_follower(self.term, INVALID_ID);
            }
            return conf_state;
        }
        if self.role != StateRole::Leader || conf_state.voters.is_empty() {
            return conf_state;
        }
        // The quorum changed: the commit index may move, and new nodes need their first append.
        if self.maybe_commit() {
            self.broadcast_append();
        } else {
            for id in self.peers() {
                self.maybe_send_append(id, false);
            }
        }
        if self.lead_transferee != INVALID_ID
            && !self.tracker.config.voters.contains(self.lead_transferee)
        {
            self.give_up_leader_transfer();
        }
        conf_state
    }

    /// The application applied entries up to `index`. A leader in a joint configuration that
    /// leaves automatically proposes the leave once the joint configuration is applied, also
    /// when it became leader after the joint configuration was entered (etcd #12136).
    pub fn applied_to(&mut self, index: Index) {
        let new_applied = index.max(self.raft_log.applied);
        self.raft_log.applied_to(new_applied);
        // Checked on every apply rather than only when `applied` first reaches the pending
        // index: the proposal is refused while a leadership transfer is in progress, and must
        // be made again once the transfer is abandoned (as etcd does), or the configuration
        // would stay joint. A proposal that is accepted moves the pending index past `applied`.
        if self.tracker.config.auto_leave
            && new_applied >= self.pending_conf_index
            && self.role == StateRole::Leader
        {
            let mut proposal = Message::new(MessageType::Propose, self.id, self.id);
            proposal.entries = vec![Entry {
                entry_type: EntryType::ConfChange,
                data: codec::encode_conf_change(&ConfChange::leave_joint()),
                ..Entry::default()
            }];
            // A refusal (during a leadership transfer, or at the uncommitted-size limit) is
            // retried on the next apply; a new leader retries too (etcd #12136).
            let _ = self.step(proposal);
        }
    }

    // ----- Reads -----------------------------------------------------------------------------

    fn committed_entry_in_current_term(&self) -> bool {
        self.raft_log.term_or_zero(self.raft_log.committed) == self.term
    }

    fn leader_read_index(&mut self, message: Message) -> Result<(), RaftError> {
        // A leader that is the only voter decides alone. A leader removed from the
        // configuration (without step_down_on_removal) may find one voter left that is not
        // itself: that voter may already lead a later term, so its acknowledgement is needed.
        if self.tracker.is_singleton() && self.tracker.config.voters.contains(self.id) {
            let index = self.raft_log.committed;
            self.respond_to_read_index(message, index);
            return Ok(());
        }
        if !self.committed_entry_in_current_term() {
            // Thesis §6.4 step 1; etcd #7331: the commit index of a new leader may lag behind.
            if self.pending_read_index_messages.len() >= MAX_QUEUED_READS_BEFORE_COMMIT {
                return Err(RaftError::ReadIndexDropped);
            }
            self.pending_read_index_messages.push(message);
            self.hit(Point::ReadQueuedBeforeFirstCommit);
            return Ok(());
        }
        self.confirm_read_index(message)
    }

    fn confirm_read_index(&mut self, message: Message) -> Result<(), RaftError> {
        let index = self.raft_log.committed;
        let trust_lease = match self.read_only.option {
            ReadOnlyOption::Safe => false,
            ReadOnlyOption::LeaseBased => !self.lease_forfeited && self.lease_is_current(),
        };
        if trust_lease {
            self.hit(Point::ReadServedLease);
            self.respond_to_read_index(message, index);
            return Ok(());
        }
        self.coverage.hit_if(
            self.read_only.option == ReadOnlyOption::LeaseBased,
            Point::LeaseReadRefused,
        );
        if self.read_only.pending_count() >= MAX_PENDING_READS {
            return Err(RaftError::ReadIndexDropped);
        }
        let round = self.read_only.add_request(index, message, self.id);
        self.broadcast_heartbeat_round(round);
        // The leader's own acknowledgement may be a quorum already: a configuration whose
        // every half is this node alone (a joint one too, which the single-voter shortcut
        // above does not take) hears from nobody else, so no response would ever release
        // the read (found by the simulator).
        self.release_confirmed_reads();
        Ok(())
    }

    /// Thesis §6.4.1: a follower refuses votes for an election timeout after hearing from the
    /// leader (§4.2.3), counted from when the message arrived, which is no earlier than when
    /// the leader sent it. So a leader whose heartbeat round sent at tick `s` a quorum has
    /// acknowledged cannot have been replaced before `s` plus an election timeout, however long
    /// the round took to travel. The lease rests on that alone, in the leader's own ticks: it
    /// holds while the newest round each voter of a quorum acknowledged was sent at most
    /// `election_timeout - 2 - LEASE_MARGIN_TICKS` ticks ago. One tick of that accounts for the
    /// order in which the nodes' ticks fall; the margin is what clock drift may use (a
    /// follower whose clock runs fast ends its promise early): the rates of any two clocks may
    /// differ by a factor of at most `(E - 1) / (E - 1 - LEASE_MARGIN_TICKS)` for an election
    /// timeout of E ticks. Outside the lease, reads are confirmed by a heartbeat round.
    fn lease_is_current(&self) -> bool {
        let span = (self.election_timeout as u64).saturating_sub(2 + LEASE_MARGIN_TICKS);
        let now = self.lease_clock;
        self.tracker.quorum_where(|id, _| {
            id == self.id
                || self
                    .lease_acks
                    .get(&id)
                    .is_some_and(|&sent| sent + span >= now)
        })
    }

    /// A lease-based leader's record of an acknowledged heartbeat round.
    fn note_lease_ack(&mut self, from: NodeId, round: u64) {
        if self.read_only.option != ReadOnlyOption::LeaseBased {
            return;
        }
        let Ok(position) = self
            .lease_rounds
            .binary_search_by_key(&round, |&(round, _)| round)
        else {
            return;
        };
        let sent = self.lease_rounds[position].1;
        let newest = self.lease_acks.entry(from).or_insert(sent);
        *newest = (*newest).max(sent);
    }

    fn release_pending_read_index_messages(&mut self) {
        if !self.committed_entry_in_current_term() {
            return;
        }
        for message in std::mem::take(&mut self.pending_read_index_messages) {
            // Dropping a read here only means the client's request times out.
            let _ = self.confirm_read_index(message);
        }
    }

    fn respond_to_read_index(&mut self, request: Message, index: Index) {
        let request_context = request
            .entries
            .first()
            .map(|entry| entry.data.clone())
            .unwrap_or_default();
        if request.from == INVALID_ID || request.from == self.id {
            self.read_states.push(ReadState {
                index,
                request_context,
            });
            return;
        }
        let mut response = Message::new(MessageType::ReadIndexResponse, request.from, self.id);
        response.index = index;
        response.entries = request.entries;
        self.send(response);
    }
}

#[cfg(test)]
#[path = "raft_tests.rs"]
mod tests;
