//! The application's handle on a node: feed it ticks, messages and proposals; take a [`Ready`]
//! of work to do; report it done with [`RawNode::advance`].

use std::collections::BTreeMap;

use crate::codec;
use crate::config::Config;
use crate::coverage::{Counts, Point};
use crate::error::RaftError;
use crate::message::{
    ConfChange, ConfState, Entry, EntryType, HardState, Index, Message, MessageType, NodeId,
    Snapshot, Term, INVALID_ID,
};
use crate::raft::{CampaignType, Raft, SoftState, StateRole};
use crate::read_only::ReadState;
use crate::storage::Storage;
use crate::tracker::Progress;

/// Everything the application must do after the node changed, in this order:
///
/// 1. Persist `hard_state`, `entries` and `snapshot` (fsync when `must_sync`).
/// 2. Send `messages`.
/// 3. Apply `snapshot`, then `committed_entries`, to the state machine; serve `read_states`
///    once applied up to their index.
/// 4. Call [`RawNode::advance`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ready {
    /// The new soft state, when it changed.
    pub soft_state: Option<SoftState>,
    /// The new hard state to persist, when it changed.
    pub hard_state: Option<HardState>,
    /// Confirmed reads.
    pub read_states: Vec<ReadState>,
    /// Entries to persist before sending messages.
    pub entries: Vec<Entry>,
    /// A snapshot to persist and apply.
    pub snapshot: Option<Snapshot>,
    /// Committed entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Messages to send after persisting.
    pub messages: Vec<Message>,
    /// Whether the persisted state must be fsynced before messages are sent: new entries, a
    /// snapshot, a new term or vote, or a commit index that newly covers a configuration
    /// change. Any other commit index may be written lazily (it can be recovered from a
    /// quorum; a committed configuration change cannot once the nodes it removed are gone).
    pub must_sync: bool,
}

/// What a handed-out [`Ready`] covered, to acknowledge on [`RawNode::advance`].
#[derive(Clone, Debug)]
struct ReadyRecord {
    last_entry: Option<(Index, Term)>,
    snapshot_index: Option<Index>,
    last_committed_index: Option<Index>,
    committed_payload_bytes: u64,
}

/// A node's status, for monitoring and for the application's decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// The node's id.
    pub id: NodeId,
    /// Term, vote and commit index.
    pub hard_state: HardState,
    /// Leader and role.
    pub soft_state: SoftState,
    /// The last index handed to the application to apply.
    pub applied: Index,
    /// The last index of the log.
    pub last_index: Index,
    /// The configuration.
    pub conf_state: ConfState,
    /// Replication progress of every node, on a leader; empty elsewhere.
    pub progress: BTreeMap<NodeId, Progress>,
    /// A leadership transfer in progress, or [`INVALID_ID`].
    pub lead_transferee: NodeId,
}

/// The application's handle on one Raft node.
pub struct RawNode<S: Storage> {
    /// The state machine; exposed for tests and tools that inspect it.
    pub raft: Raft<S>,
    previous_soft_state: SoftState,
    previous_hard_state: HardState,
    outstanding: Option<ReadyRecord>,
}

impl<S: Storage> RawNode<S> {
    /// Starts a node over `storage`, which holds its configuration (for a new cluster, storage
    /// created with the initial voters) and, after a restart, its persisted state.
    pub fn new(config: &Config, storage: S) -> Result<RawNode<S>, RaftError> {
        let mut raft = Raft::new(config, storage)?;
        let committed = raft.raft_log.committed;
        raft.raft_log.take_committed_conf_changes(committed);
        let previous_soft_state = raft.soft_state();
        let previous_hard_state = raft.hard_state();
        Ok(RawNode {
            raft,
            previous_soft_state,
            previous_hard_state,
            outstanding: None,
        })
    }

    /// Advances the logical clock by one tick (elections and heartbeats count ticks).
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Campaigns to become leader now.
    pub fn campaign(&mut self) -> Result<(), RaftError> {
        let before = (self.raft.role, self.raft.term);
        let result = self
            .raft
            .step(Message::new(MessageType::Hup, self.raft.id, self.raft.id));
        if (self.raft.role, self.raft.term) != before {
            self.raft.hit(Point::ForcedElection);
        }
        result
    }

    /// Proposes application data to be appended to the log.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(), RaftError> {
        let mut message = Message::new(MessageType::Propose, INVALID_ID, self.raft.id);
        message.entries = vec![Entry::normal(data)];
        self.raft.step(message)
    }

    /// Proposes a configuration change. Only one may be pending at a time: the leader refuses
    /// (with [`RaftError::ProposalDropped`]) a change while an earlier one is not applied, any
    /// change but leaving while joint, and a change that cannot apply (such as removing every
    /// voter).
    ///
    /// Removing the leader itself works (see [`Config::step_down_on_removal`]), but in a
    /// cluster of two voters prefer [`RawNode::transfer_leader`] first and removing the former
    /// leader afterwards: otherwise the remaining voter may need the removed node's vote to
    /// finish the change (etcd #10563).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<(), RaftError> {
        let mut message = Message::new(MessageType::Propose, INVALID_ID, self.raft.id);
        message.entries = vec![Entry {
            entry_type: EntryType::ConfChange,
            data: codec::encode_conf_change(change),
            ..Entry::default()
        }];
        self.raft.step(message)
    }

    /// Applies a committed configuration change (call it when applying its entry) and returns
    /// the new configuration, which the application persists with its snapshot.
    pub fn apply_conf_change(&mut self, change: &ConfChange) -> Result<ConfState, RaftError> {
        self.raft.apply_conf_change(change)
    }

    /// Feeds a message received from another node.
    pub fn step(&mut self, message: Message) -> Result<(), RaftError> {
        if message.msg_type.is_local() {
            return Err(RaftError::StepLocalMessage);
        }
        let response_from_unknown = matches!(
            message.msg_type,
            MessageType::AppendResponse
                | MessageType::RequestVoteResponse
                | MessageType::RequestPreVoteResponse
                | MessageType::HeartbeatResponse
        ) && !self.raft.tracker.progress.contains_key(&message.from);
        if response_from_unknown {
            return Err(RaftError::StepPeerNotFound);
        }
        self.raft.step(message)
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: NodeId) {
        let message = Message::new(MessageType::TransferLeader, self.raft.id, transferee);
        // A transfer request is never refused with an error: it is ignored when it cannot be
        // honoured, and the caller watches the soft state.
        let _ = self.raft.step(message);
    }

    /// Requests a linearizable read; the answer comes as a [`ReadState`] carrying `context`.
    pub fn read_index(&mut self, context: Vec<u8>) -> Result<(), RaftError> {
        let mut message = Message::new(MessageType::ReadIndex, INVALID_ID, self.raft.id);
        message.entries = vec![Entry::normal(context)];
        self.raft.step(message)
    }

    /// Reports that `id` could not be reached, so that replication to it goes back to probing.
    pub fn report_unreachable(&mut self, id: NodeId) {
        let message = Message::new(MessageType::Unreachable, self.raft.id, id);
        let _ = self.raft.step(message);
    }

    /// Reports the outcome of sending a snapshot to `id`.
    pub fn report_snapshot(&mut self, id: NodeId, finished: bool) {
        let mut message = Message::new(MessageType::SnapshotStatus, self.raft.id, id);
        message.reject = !finished;
        let _ = self.raft.step(message);
    }

    /// Whether there is anything to do: call [`RawNode::ready`] when true.
    pub fn has_ready(&self) -> bool {
        if self.outstanding.is_some() {
            return false;
        }
        let raft = &self.raft;
        raft.soft_state() != self.previous_soft_state
            || (!raft.hard_state().is_empty() && raft.hard_state() != self.previous_hard_state)
            || !raft.messages.is_empty()
            || !raft.raft_log.unstable_entries().is_empty()
            || raft.raft_log.has_pending_snapshot()
            || raft.raft_log.has_next_committed_entries()
            || !raft.read_states.is_empty()
    }

    /// Takes the work to do. Panics if the previous `Ready` has not been acknowledged with
    /// [`RawNode::advance`]: one `Ready` is handled at a time.
    pub fn ready(&mut self) -> Ready {
        assert!(
            self.outstanding.is_none(),
            "node {}: ready() called before advance() acknowledged the previous Ready",
            self.raft.id
        );
        let raft = &mut self.raft;
        let soft_state = raft.soft_state();
        let hard_state = raft.hard_state();
        let entries = raft.raft_log.unstable_entries().to_vec();
        let snapshot = raft.raft_log.unstable.snapshot.clone();
        let committed_entries = raft.raft_log.next_committed_entries();
        if committed_entries
            .last()
            .is_some_and(|entry| entry.index < raft.raft_log.committed)
        {
            raft.hit(Point::CommittedEntriesPaged);
        }
        // A commit index that newly covers a configuration change is synced too: a node that
        // learns of its own removal from it may shut down for good, and a leader that forgot
        // the commit after a crash would go back to the old configuration, which may need
        // that node's vote (the two-voter case: etcd-io/raft #10563 and our simulator's
        // seed 29). Rare, so the cost is small.
        let conf_change_committed = raft.raft_log.take_committed_conf_changes(hard_state.commit);
        let must_sync = !entries.is_empty()
            || snapshot.is_some()
            || hard_state.term != self.previous_hard_state.term
            || hard_state.vote != self.previous_hard_state.vote
            || conf_change_committed;
        let ready = Ready {
            soft_state: (soft_state != self.previous_soft_state).then_some(soft_state),
            hard_state: (hard_state != self.previous_hard_state).then_some(hard_state),
            read_states: std::mem::take(&mut raft.read_states),
            entries,
            snapshot,
            committed_entries,
            messages: std::mem::take(&mut raft.messages),
            must_sync,
        };
        self.previous_soft_state = soft_state;
        self.previous_hard_state = hard_state;
        self.outstanding = Some(ReadyRecord {
            last_entry: ready.entries.last().map(|entry| (entry.index, entry.term)),
            snapshot_index: ready
                .snapshot
                .as_ref()
                .map(|snapshot| snapshot.metadata.index),
            last_committed_index: ready.committed_entries.last().map(|entry| entry.index),
            committed_payload_bytes: ready
                .committed_entries
                .iter()
                .map(Entry::payload_size_bytes)
                .sum(),
        });
        ready
    }

    /// Hands back a `Ready`'s message vector once its messages are sent, so that the next
    /// `Ready` reuses its allocation instead of growing a new one from empty. Optional: a
    /// caller that drops the vector loses nothing but the allocation. Whatever the vector
    /// still holds is dropped, never sent.
    pub fn recycle_messages(&mut self, mut messages: Vec<Message>) {
        messages.clear();
        if self.raft.messages.is_empty() && self.raft.messages.capacity() < messages.capacity() {
            self.raft.messages = messages;
        }
    }

    /// Acknowledges that the last [`Ready`] was handled: persisted, sent and applied.
    pub fn advance(&mut self) {
        let record = self.outstanding.take().unwrap_or_else(|| {
            panic!(
                "node {}: advance() without an outstanding Ready",
                self.raft.id
            )
        });
        if let Some(index) = record.snapshot_index {
            self.raft.raft_log.stable_snapshot_to(index);
            self.raft.applied_to(index);
        }
        if let Some((index, term)) = record.last_entry {
            self.raft.raft_log.stable_to(index, term);
        }
        if let Some(index) = record.last_committed_index {
            self.raft.applied_to(index);
        }
        self.raft
            .reduce_uncommitted_size(record.committed_payload_bytes);
    }

    /// The node's status.
    pub fn status(&self) -> Status {
        let raft = &self.raft;
        Status {
            id: raft.id,
            hard_state: raft.hard_state(),
            soft_state: raft.soft_state(),
            applied: raft.raft_log.applied,
            last_index: raft.raft_log.last_index(),
            conf_state: raft.tracker.conf_state(),
            progress: if raft.role == StateRole::Leader {
                raft.tracker.progress.clone()
            } else {
                BTreeMap::new()
            },
            lead_transferee: raft.lead_transferee,
        }
    }

    /// Tells the node whether it has applied its own removal (or its demotion to learner) but
    /// must not stop voting yet, because the others may not know that the change is committed
    /// (they may still count it and need it; etcd-io/raft #10563). While set, and outside the
    /// voters of its configuration, it may campaign, always through a pre-vote, in the
    /// configuration it applied: when its log is the most up to date, the others could elect
    /// nobody else, and as their leader it tells them the commit index. The leader it becomes
    /// is a leader outside its configuration's voters, as a removed or demoted leader that does
    /// not step down is (see [`Config::step_down_on_removal`]): it counts only the others.
    pub fn set_finishing_removal(&mut self, finishing: bool) {
        self.raft.finishing_removal = finishing;
    }

    /// Campaigns as the target of a leadership transfer would, skipping the pre-vote; for tools.
    pub fn force_campaign(&mut self) {
        self.raft.campaign(CampaignType::Transfer);
    }

    /// How often each coverage point ([`crate::coverage`]) was reached since this node
    /// started. Read-only: counting changes nothing the node does.
    pub fn coverage(&self) -> &Counts {
        self.raft.coverage()
    }

    /// The storage, for reading.
    pub fn storage(&self) -> &S {
        &self.raft.raft_log.store
    }

    /// The storage, for the application to write what it persisted.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.raft.raft_log.store
    }
}
