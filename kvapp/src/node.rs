//! The node driver: one Raft node, its key-value store, its WAL and its snapshot files, driven by
//! the Ready loop in the contract's order (persist, send, apply, advance).
//!
//! The driver is generic over the three ways it touches the world ([`Disk`], [`Transport`],
//! [`Clock`]), so that the real server and the simulator run exactly this code. It never blocks
//! and never spawns anything: the owner calls [`Node::receive`] with incoming bytes,
//! [`Node::poll_timers`] when time may have passed, and [`Node::process_ready`] after either;
//! client requests go in through [`Node::submit`], [`Node::read`] and
//! [`Node::propose_conf_change`], and their answers come out of [`Node::take_completions`].
//!
//! # Bootstrapping and joining
//!
//! A node of a new cluster writes the initial membership into its log as configuration-change
//! entries at indexes `1..=n` of term 1, committed, exactly as every other founding node does,
//! so that a node that joins later and receives the log from index 1 rebuilds the same
//! membership by applying it. A joining node starts with an empty log and an empty
//! configuration and waits for the leader to add it.
//!
//! # Outcomes
//!
//! A write is answered [`Outcome::Applied`] once its entry is applied here, [`Outcome::Failed`]
//! when it certainly was not appended (the proposal was refused at once), and
//! [`Outcome::Unknown`] when it may or may not take effect (a timeout, or a leader change while
//! it was in flight). Retrying with the same (client id, sequence) is always safe: the store
//! applies a command once.

use std::collections::{BTreeMap, VecDeque};

use raft::codec::{self, CodecError};
use raft::{
    ConfChange, ConfChangeType, ConfState, Config, Entry, EntryType, HardState, Index, MemStorage,
    MessageType, NodeId, RaftError, RawNode, ReadOnlyOption, ReadState, Ready, Snapshot, SoftState,
    StateRole, StorageError,
};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::coverage::{Counts, Point};
use crate::disk::Disk;
use crate::snapshotter::{snapshot_file_name, SnapshotError, Snapshotter, SnapshotterConfig};
use crate::store::StoreError;
use crate::store::{
    decode_command, encode_command, ClientId, Command, Operation, Reply, Sequence, Store,
};
use crate::transport::Transport;
use crate::wal::{SnapshotMarker, Wal, WalConfig, WalError};

/// Identifies one client request within one node.
pub type RequestId = u64;

/// How the leader confirms that it may serve a linearizable read (Raft thesis §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadMode {
    /// A heartbeat round acknowledged by a quorum after the read arrived. Always correct.
    #[default]
    Safe,
    /// The leader's lease: no round while a quorum acknowledged a heartbeat round sent within
    /// the last election timeout (less a margin). Correct only while the nodes' clocks run at
    /// rates within the lease's margin of each other (see [`raft::ReadOnlyOption::LeaseBased`];
    /// about 5% apart with 20-tick election timeouts); needs CheckQuorum. In this mode the node
    /// reads its clock before every message and read, so that a process that stalled never
    /// judges its lease by a clock that stood still.
    Lease,
}

impl ReadMode {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Safe => "safe",
            ReadMode::Lease => "lease",
        }
    }
}

impl std::str::FromStr for ReadMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ReadMode, String> {
        match text {
            "safe" => Ok(ReadMode::Safe),
            "lease" => Ok(ReadMode::Lease),
            other => Err(format!("read mode {other:?} is neither safe nor lease")),
        }
    }
}

/// Settings of a [`Node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// The voters of a new cluster, this node included; ignored when the node has state on disk
    /// or joins.
    pub peers: Vec<NodeId>,
    /// Start with an empty configuration and wait to be added by the leader.
    pub join: bool,
    /// Milliseconds per Raft tick.
    pub tick_interval_ms: u64,
    /// Ticks before a follower campaigns.
    pub election_tick: usize,
    /// Ticks between heartbeats.
    pub heartbeat_tick: usize,
    /// Run pre-elections (Raft thesis §9.6).
    pub pre_vote: bool,
    /// Leaders step down without a quorum (Raft thesis §6.2).
    pub check_quorum: bool,
    /// The seed of this node's election timeouts.
    pub raft_seed: u64,
    /// Largest append message in bytes.
    pub max_size_per_msg: u64,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// The most bytes of committed entries one `Ready` hands out (raft's
    /// `max_committed_size_per_ready`; at least one entry always goes).
    pub max_committed_size_per_ready: u64,
    /// The most bytes of uncommitted payload the leader accepts before refusing proposals
    /// (raft's `max_uncommitted_entries_size`); zero means no limit.
    pub max_uncommitted_entries_size: u64,
    /// Followers refuse proposals instead of forwarding them to the leader.
    pub disable_proposal_forwarding: bool,
    /// A leader that applies its own removal steps down at once (raft's
    /// `step_down_on_removal`) instead of leading on until it may leave.
    pub step_down_on_removal: bool,
    /// How the leader confirms reads.
    pub read_mode: ReadMode,
    /// Committed entries may wait to be applied, as they do behind an asynchronous apply
    /// loop (etcd's): up to this many wait after a `Ready` (the oldest beyond it are applied
    /// at once), and all of them are applied at the next tick. A `Ready` whose entries hold a
    /// configuration change, or a snapshot, is applied in full before Raft advances, so that
    /// Raft never campaigns or counts votes on a configuration the node has not applied (as
    /// etcd's server waits for such entries). Zero applies every entry in its `Ready`.
    pub apply_lag_entries_max: u64,
    /// Take a snapshot once this many entries were applied since the last one.
    pub snapshot_count: u64,
    /// Entries kept in the log behind a snapshot, so that a follower a little behind catches up
    /// from the log instead of a snapshot.
    pub snapshot_catch_up_entries: u64,
    /// A client request not answered within this many milliseconds ends as failed (reads) or
    /// unknown (writes).
    pub request_timeout_ms: u64,
    /// WAL settings.
    pub wal: WalConfig,
    /// Snapshot file settings.
    pub snapshotter: SnapshotterConfig,
}

impl NodeConfig {
    /// Defaults for a node of a new cluster of `peers`.
    pub fn new(id: NodeId, peers: Vec<NodeId>) -> NodeConfig {
        NodeConfig {
            id,
            peers,
            join: false,
            tick_interval_ms: 100,
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            raft_seed: id,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            max_committed_size_per_ready: u64::MAX,
            max_uncommitted_entries_size: 0,
            disable_proposal_forwarding: false,
            step_down_on_removal: false,
            read_mode: ReadMode::Safe,
            apply_lag_entries_max: 0,
            snapshot_count: 10_000,
            snapshot_catch_up_entries: 5_000,
            request_timeout_ms: 5_000,
            wal: WalConfig::default(),
            snapshotter: SnapshotterConfig::default(),
        }
    }

    fn raft_config(&self, applied: Index) -> Config {
        Config {
            id: self.id,
            election_tick: self.election_tick,
            heartbeat_tick: self.heartbeat_tick,
            applied,
            max_size_per_msg: self.max_size_per_msg,
            max_inflight_msgs: self.max_inflight_msgs,
            check_quorum: self.check_quorum,
            pre_vote: self.pre_vote,
            max_committed_size_per_ready: self.max_committed_size_per_ready,
            max_uncommitted_entries_size: self.max_uncommitted_entries_size,
            disable_proposal_forwarding: self.disable_proposal_forwarding,
            step_down_on_removal: self.step_down_on_removal,
            read_only_option: match self.read_mode {
                ReadMode::Safe => ReadOnlyOption::Safe,
                ReadMode::Lease => ReadOnlyOption::LeaseBased,
            },
            seed: self.raft_seed,
        }
    }
}

/// Why the node cannot go on. Storage errors are fatal: the owner should stop the node (a
/// process exits; the simulator treats it as a crash).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The WAL failed or is corrupt.
    #[error("wal: {0}")]
    Wal(#[from] WalError),
    /// A snapshot file failed or is corrupt.
    #[error("snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    /// A snapshot's store image does not decode.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Raft refused to start (bad configuration or storage).
    #[error("raft: {0}")]
    Raft(#[from] RaftError),
    /// Raft's in-memory storage refused an operation.
    #[error("raft storage: {0}")]
    Storage(#[from] StorageError),
    /// A snapshot payload does not decode.
    #[error("snapshot payload: {0}")]
    Payload(CodecError),
    /// A file operation failed.
    #[error("disk: {file}: {error}")]
    Disk {
        /// The file.
        file: String,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// Why incoming bytes were not stepped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// They are not a message.
    #[error("undecodable message: {0}")]
    Decode(#[from] CodecError),
    /// The message is for another node.
    #[error("message for node {to} delivered to node {this}")]
    WrongRecipient {
        /// Whom it was for.
        to: NodeId,
        /// Who got it.
        this: NodeId,
    },
    /// Raft refused it (a local message kind, or a response from an unknown node).
    #[error("raft refused the message: {0}")]
    Refused(RaftError),
}

/// The end of a client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The command was applied (or the read served) with this reply.
    Applied(Reply),
    /// The configuration change was applied; the new configuration.
    ConfChanged(ConfState),
    /// Certainly had no effect.
    Failed(String),
    /// May or may not take effect.
    Unknown(String),
}

/// A request's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The id [`Node::submit`], [`Node::read`] or [`Node::propose_conf_change`] returned.
    pub request: RequestId,
    /// How it ended.
    pub outcome: Outcome,
    /// For a read served through ReadIndex: the index the leader confirmed it at, which the
    /// node had applied when it answered.
    pub read_index: Option<Index>,
}

/// What a snapshot's data holds: the store and the membership contexts (peer addresses).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
struct SnapshotPayload {
    #[serde(with = "serde_bytes")]
    store: Vec<u8>,
    members: BTreeMap<NodeId, Vec<u8>>,
}

#[derive(Clone, Debug)]
struct PendingWrite {
    request: RequestId,
    deadline_ms: u64,
    leader_when_submitted: NodeId,
}

#[derive(Clone, Debug)]
struct PendingRead {
    key: String,
    deadline_ms: u64,
    /// The read index once the leader confirmed it.
    index: Option<Index>,
}

#[derive(Clone, Debug)]
struct PendingConfChange {
    request: RequestId,
    change: ConfChange,
    deadline_ms: u64,
}

/// The most client requests a node tracks at once; more are failed at once.
pub const MAX_PENDING_REQUESTS: usize = 10_000;

/// One replicated key-value node.
pub struct Node<D: Disk, T: Transport, C: Clock> {
    config: NodeConfig,
    raw: RawNode<MemStorage>,
    store: Store,
    wal: Wal,
    snapshotter: Snapshotter,
    disk: D,
    transport: T,
    clock: C,
    /// The last index applied to `store`.
    /// Invariant: `snapshot_index <= applied_index <= raft's commit index`.
    applied_index: Index,
    /// The index of the newest snapshot taken or installed.
    snapshot_index: Index,
    conf_state: ConfState,
    /// Whether a configuration change was applied since the newest snapshot (taken or
    /// installed), so that the snapshot's configuration is out of date.
    conf_changed_since_snapshot: bool,
    members: BTreeMap<NodeId, Vec<u8>>,
    soft_state: SoftState,
    next_tick_ms: u64,
    next_request: RequestId,
    pending_writes: BTreeMap<(ClientId, Sequence), Vec<PendingWrite>>,
    pending_reads: BTreeMap<RequestId, PendingRead>,
    pending_conf_change: Option<PendingConfChange>,
    completions: Vec<Completion>,
    /// The index at which this node applied a configuration without itself after one with it:
    /// it has been removed and is leaving (see [`Node::may_leave`]).
    removed_at: Option<Index>,
    /// The index at which this node applied a configuration that made it a learner after one
    /// that counted its vote, until the others know it is committed.
    demoted_at: Option<Index>,
    /// The highest commit index a leader has sent this node (in an append or a heartbeat), or
    /// the index of a snapshot it sent.
    leader_commit_heard: Index,
    /// Committed entries Raft handed out that wait to be applied (see
    /// [`NodeConfig::apply_lag_entries_max`]), in order after `applied_index`.
    apply_queue: VecDeque<Entry>,
    /// How often each coverage point was reached in this life of the node.
    coverage: Counts,
}

impl<D: Disk, T: Transport, C: Clock> Node<D, T, C> {
    /// Starts a node: restarts from `disk` when it holds a WAL, otherwise creates one and
    /// bootstraps (or waits to join).
    pub fn open(
        config: NodeConfig,
        mut disk: D,
        transport: T,
        clock: C,
    ) -> Result<Self, NodeError> {
        let snapshotter = Snapshotter::new(config.snapshotter);
        let mut coverage = Counts::default();
        let (wal, storage, store, members, applied) = if Wal::exists(&mut disk)? {
            Self::recover(&config, &mut disk, &snapshotter, &mut coverage)?
        } else {
            Self::bootstrap(&config, &mut disk)?
        };
        let conf_state = storage.snapshot_conf_state();
        // Restarting from a snapshot of a configuration without this node, taken after it
        // applied its own removal: it is still finishing that removal (see `Node::may_leave`).
        // Its removal is at or before the snapshot, so waiting for a commit at the snapshot's
        // index is safe. (An empty configuration is a joiner still waiting to be added.)
        let removed_at = (conf_state != ConfState::default() && !conf_state.contains(config.id))
            .then_some(applied);
        let mut raw = RawNode::new(&config.raft_config(applied), storage)?;
        raw.set_finishing_removal(removed_at.is_some());
        let soft_state = raw.raft.soft_state();
        let now = clock.now_ms();
        Ok(Node {
            next_tick_ms: now + config.tick_interval_ms,
            config,
            raw,
            store,
            wal,
            snapshotter,
            disk,
            transport,
            clock,
            applied_index: applied,
            snapshot_index: applied,
            conf_state,
            conf_changed_since_snapshot: false,
            members,
            soft_state,
            next_request: 1,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            pending_conf_change: None,
            completions: Vec::new(),
            removed_at,
            demoted_at: None,
            leader_commit_heard: 0,
            apply_queue: VecDeque::new(),
            coverage,
        })
    }

    #[allow(clippy::type_complexity)]
    fn recover(
        config: &NodeConfig,
        disk: &mut D,
        snapshotter: &Snapshotter,
        coverage: &mut Counts,
    ) -> Result<(Wal, MemStorage, Store, BTreeMap<NodeId, Vec<u8>>, Index), NodeError> {
        let usable = Wal::usable_snapshots(disk)?;
        let removed = Self::remove_unusable_snapshots(disk, snapshotter, &usable)?;
        coverage.hit_if(removed, Point::UnusableSnapshotRemoved);
        let snapshot = snapshotter.load_newest(disk, &usable)?;
        let marker = snapshot.as_ref().map_or(SnapshotMarker::default(), |s| {
            SnapshotMarker::of(&s.metadata)
        });
        let newest_usable = usable.iter().map(|marker| marker.index).max().unwrap_or(0);
        coverage.hit_if(marker.index < newest_usable, Point::OlderSnapshotUsed);
        let (wal, recovered) = Wal::open(disk, config.wal, marker)?;
        coverage.hit_if(marker.index > 0, Point::RestartFromSnapshot);
        coverage.hit_if(
            marker.index > 0 && !recovered.entries.is_empty(),
            Point::RestartReplayedPastSnapshot,
        );
        coverage.hit_if(recovered.tail_cut, Point::TornTailCut);
        let mut storage = MemStorage::new();
        let (store, members) = match snapshot {
            Some(snapshot) => {
                let payload: SnapshotPayload =
                    codec::decode(&snapshot.data).map_err(NodeError::Payload)?;
                storage.apply_snapshot(snapshot)?;
                (Store::restore(&payload.store)?, payload.members)
            }
            None => (Store::new(), BTreeMap::new()),
        };
        storage.append(&recovered.entries)?;
        let mut hard_state = recovered.hard_state;
        // A commit index need not be synced, so the recorded one may lag behind a snapshot that
        // was: everything a snapshot covers was committed.
        let base = storage.hard_state();
        hard_state.commit = hard_state.commit.max(base.commit);
        hard_state.term = hard_state.term.max(base.term);
        storage.set_hard_state(hard_state);
        Ok((wal, storage, store, members, marker.index))
    }

    /// Removes snapshot files that the WAL cannot restart from: a file whose marker never became
    /// durable (a crash between saving the file and recording its marker) or whose log the WAL
    /// has released. Kept, such a file would count among the newest snapshots at the next
    /// compaction, and the WAL would be asked to release up to a marker it never had. (Found by
    /// the simulator.)
    fn remove_unusable_snapshots(
        disk: &mut D,
        snapshotter: &Snapshotter,
        usable: &[SnapshotMarker],
    ) -> Result<bool, NodeError> {
        let mut removed = false;
        for marker in snapshotter.list(disk)? {
            if usable.contains(&marker) {
                continue;
            }
            let file = snapshot_file_name(marker);
            tracing::warn!(file = %file, "removing a snapshot file the WAL cannot restart from");
            disk.remove(&file).map_err(|error| NodeError::Disk {
                file: file.clone(),
                error,
            })?;
            removed = true;
        }
        if removed {
            disk.sync_dir().map_err(|error| NodeError::Disk {
                file: ".".to_string(),
                error,
            })?;
        }
        Ok(removed)
    }

    #[allow(clippy::type_complexity)]
    fn bootstrap(
        config: &NodeConfig,
        disk: &mut D,
    ) -> Result<(Wal, MemStorage, Store, BTreeMap<NodeId, Vec<u8>>, Index), NodeError> {
        let mut storage = MemStorage::new();
        if config.join {
            // A joiner starts with nothing and learns its configuration from the leader.
            let wal = Wal::create(disk, config.wal)?;
            return Ok((wal, storage, Store::new(), BTreeMap::new(), 0));
        }
        let mut peers = config.peers.clone();
        peers.sort_unstable();
        peers.dedup();
        let entries: Vec<Entry> = peers
            .iter()
            .enumerate()
            .map(|(offset, &peer)| Entry {
                term: 1,
                index: offset as u64 + 1,
                entry_type: EntryType::ConfChange,
                data: codec::encode_conf_change(&ConfChange::add_voter(peer)),
            })
            .collect();
        let hard_state = HardState {
            term: 1,
            vote: 0,
            commit: entries.len() as u64,
        };
        // In the WAL's first segment, which appears whole or not at all: see
        // `Wal::create_with_log`.
        let wal = Wal::create_with_log(disk, config.wal, &hard_state, &entries)?;
        storage.append(&entries)?;
        storage.set_hard_state(hard_state);
        Ok((wal, storage, Store::new(), BTreeMap::new(), 0))
    }

    // ----- Inputs ----------------------------------------------------------------------------

    /// Ticks Raft for the time that passed and expires overdue requests.
    pub fn poll_timers(&mut self) {
        let now = self.clock.now_ms();
        // After a long pause tick at most an election timeout's worth, as a real process that
        // was descheduled would observe one late timer rather than a burst.
        let mut ticks = 0;
        while now >= self.next_tick_ms {
            self.next_tick_ms += self.config.tick_interval_ms;
            if ticks < self.config.election_tick {
                self.raw.tick();
                ticks += 1;
            }
        }
        if ticks > 0 {
            // The apply loop catches up within a tick.
            self.drain_apply_queue();
        }
        self.expire_requests(now);
    }

    /// The time at which [`Node::poll_timers`] next has work to do.
    pub fn next_timer_ms(&self) -> u64 {
        self.next_tick_ms
    }

    /// Steps a message received from another node.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        self.catch_up_clock_for_lease();
        let message = codec::decode_message(bytes)?;
        if message.to != self.config.id {
            return Err(ReceiveError::WrongRecipient {
                to: message.to,
                this: self.config.id,
            });
        }
        let heard = match message.msg_type {
            MessageType::Append | MessageType::Heartbeat => message.commit,
            MessageType::Snapshot => message
                .snapshot
                .as_ref()
                .map_or(0, |snapshot| snapshot.metadata.index),
            _ => 0,
        };
        self.leader_commit_heard = self.leader_commit_heard.max(heard);
        self.raw.step(message).map_err(ReceiveError::Refused)
    }

    /// Whether this node applied its own removal and may now stop for good.
    ///
    /// Not as soon as it applied the removal: the others may not know yet that the removal is
    /// committed, and until they do they count this node, and may need its vote (a two-voter
    /// cluster shrinking to one, or a joint change leaving several voters behind; etcd-io/raft
    /// #10563). Raft syncs a commit index that passes a configuration change before sending it
    /// ([`raft::Ready::must_sync`]), so the node may leave once
    /// - as the leader, a quorum of the new configuration has reported a commit index at or
    ///   past the removal (their responses left after that sync), or
    /// - otherwise, a leader has sent it such a commit index: that leader keeps it across a
    ///   crash and, applying the removal again on restart, leads the others on without us.
    ///
    /// Until then it keeps running Raft: it votes, acknowledges appends and, as the leader,
    /// goes on replicating to the remaining members; deposed, it may campaign again in the
    /// configuration it applied ([`RawNode::set_finishing_removal`]), since its log may be the
    /// one the others need. (A removed node that restarts and is never
    /// contacted again stays up: safe, and the operator's call. Found by the simulator.)
    pub fn may_leave(&self) -> bool {
        self.removed_at
            .is_some_and(|at| self.others_know_committed(at))
    }

    /// Whether the voters of the configuration this node applied know that the entry at
    /// `index` is committed (see [`Node::may_leave`]).
    fn others_know_committed(&self, index: Index) -> bool {
        if self.raw.raft.role == StateRole::Leader {
            self.raw.raft.quorum_reported_commit(index)
        } else {
            self.leader_commit_heard >= index
        }
    }

    /// Whether this node left the voters (it was removed, or demoted to learner) and the
    /// others may not know it yet: until they do they may need its vote, or its log, so it
    /// may campaign in the configuration it applied ([`RawNode::set_finishing_removal`]). A
    /// leader that demotes itself and steps down at once (`step_down_on_removal`) may hold the
    /// only up-to-date log while the others, still in the configuration that counted it, need
    /// it to elect anyone (found by the simulator).
    fn finishing_leaving_voters(&self) -> bool {
        self.removed_at.is_some()
            || self
                .demoted_at
                .is_some_and(|at| !self.others_know_committed(at))
    }

    /// Tells raft whether this node is still finishing leaving the voters.
    fn update_finishing(&mut self) {
        if self
            .demoted_at
            .is_some_and(|at| self.others_know_committed(at))
        {
            self.demoted_at = None;
        }
        let finishing = self.finishing_leaving_voters();
        if self.raw.raft.finishing_removal != finishing {
            self.raw.set_finishing_removal(finishing);
        }
    }

    /// A leader that applied its own removal and may leave hands leadership to the most
    /// up-to-date voter of the new configuration (Raft thesis §3.10) on its way out, so that
    /// the others need not wait for an election timeout. (Not earlier: a follower that is not
    /// a member hears no more commit indexes from a leader of the new configuration, and might
    /// never learn that it may leave.)
    fn hand_over_if_leaving(&mut self) {
        let raft = &self.raw.raft;
        let leaving = self.may_leave()
            || (!raft.tracker.config.voters.contains(self.config.id)
                && raft.finishing_removal
                && self
                    .demoted_at
                    .is_some_and(|at| self.others_know_committed(at)));
        if raft.role != StateRole::Leader || raft.lead_transferee != raft::INVALID_ID || !leaving {
            return;
        }
        let best = raft
            .tracker
            .progress
            .iter()
            .filter(|(&id, progress)| {
                id != self.config.id
                    && !progress.is_learner
                    && raft.tracker.config.voters.contains(id)
            })
            .max_by_key(|(&id, progress)| (progress.matched, std::cmp::Reverse(id)))
            .map(|(&id, _)| id);
        if let Some(transferee) = best {
            self.raw.transfer_leader(transferee);
        }
    }

    /// Whether this node applied a configuration that does not contain it (after one that did):
    /// it is leaving, see [`Node::may_leave`].
    pub fn is_removed(&self) -> bool {
        self.removed_at.is_some()
    }

    /// Notes the configuration just applied at `index`: a removal of this node, its demotion
    /// to learner, or its return.
    fn note_configuration(&mut self, before: &ConfState, index: Index) {
        let id = self.config.id;
        let votes =
            |conf: &ConfState| conf.voters.contains(&id) || conf.voters_outgoing.contains(&id);
        if self.conf_state.contains(id) {
            self.removed_at = None;
        } else if before.contains(id) {
            self.removed_at = Some(index);
        }
        if votes(&self.conf_state) || !self.conf_state.contains(id) {
            self.demoted_at = None;
        } else if votes(before) {
            self.demoted_at = Some(index);
        }
        self.update_finishing();
    }

    fn new_request_id(&mut self) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    fn complete(&mut self, request: RequestId, outcome: Outcome) {
        self.completions.push(Completion {
            request,
            outcome,
            read_index: None,
        });
    }

    fn pending_count(&self) -> usize {
        self.pending_writes.values().map(Vec::len).sum::<usize>() + self.pending_reads.len()
    }

    /// Proposes a command; its outcome comes later from [`Node::take_completions`].
    pub fn submit(&mut self, command: Command) -> RequestId {
        let request = self.new_request_id();
        if self.pending_count() >= MAX_PENDING_REQUESTS {
            self.complete(
                request,
                Outcome::Failed("too many pending requests".to_string()),
            );
            return request;
        }
        let key = (command.client_id, command.sequence);
        match self.raw.propose(encode_command(&command)) {
            Ok(()) => {
                let deadline_ms = self.clock.now_ms() + self.config.request_timeout_ms;
                let leader_when_submitted = self.raw.raft.leader_id;
                self.pending_writes
                    .entry(key)
                    .or_default()
                    .push(PendingWrite {
                        request,
                        deadline_ms,
                        leader_when_submitted,
                    });
            }
            Err(error) => self.complete(request, Outcome::Failed(error.to_string())),
        }
        request
    }

    /// With lease reads, ticks Raft for the time that passed before it takes an input: a lease
    /// is judged by the node's ticks, and a process that stalled (paused, descheduled) must
    /// not judge it by ticks that stood still while other nodes moved on.
    fn catch_up_clock_for_lease(&mut self) {
        if self.config.read_mode == ReadMode::Lease && self.clock.now_ms() >= self.next_tick_ms {
            self.poll_timers();
        }
    }

    /// Reads `key`: linearizably through ReadIndex, or from local state when `local`.
    pub fn read(&mut self, key: String, local: bool) -> RequestId {
        self.catch_up_clock_for_lease();
        let request = self.new_request_id();
        if local {
            let value = self.store.get(&key).map(str::to_string);
            self.complete(request, Outcome::Applied(Reply::Value { value }));
            return request;
        }
        if self.pending_count() >= MAX_PENDING_REQUESTS {
            self.complete(
                request,
                Outcome::Failed("too many pending requests".to_string()),
            );
            return request;
        }
        match self.raw.read_index(request.to_le_bytes().to_vec()) {
            Ok(()) => {
                let deadline_ms = self.clock.now_ms() + self.config.request_timeout_ms;
                self.pending_reads.insert(
                    request,
                    PendingRead {
                        key,
                        deadline_ms,
                        index: None,
                    },
                );
            }
            Err(error) => self.complete(request, Outcome::Failed(error.to_string())),
        }
        request
    }

    /// Proposes a membership change; `change.context` is stored with the member (the server
    /// keeps the peer's URL there).
    pub fn propose_conf_change(&mut self, change: ConfChange) -> RequestId {
        let request = self.new_request_id();
        if self.pending_conf_change.is_some() {
            self.complete(
                request,
                Outcome::Failed("a configuration change is already pending".to_string()),
            );
            return request;
        }
        match self.raw.propose_conf_change(&change) {
            Ok(()) => {
                let deadline_ms = self.clock.now_ms() + self.config.request_timeout_ms;
                self.pending_conf_change = Some(PendingConfChange {
                    request,
                    change,
                    deadline_ms,
                });
            }
            Err(error) => self.complete(request, Outcome::Failed(error.to_string())),
        }
        request
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: NodeId) {
        self.raw.transfer_leader(transferee);
    }

    /// Starts an election at once.
    pub fn campaign(&mut self) -> Result<(), RaftError> {
        self.raw.campaign()
    }

    /// Outcomes of requests since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    fn expire_requests(&mut self, now: u64) {
        let mut expired = Vec::new();
        for writes in self.pending_writes.values_mut() {
            writes.retain(|write| {
                let overdue = write.deadline_ms <= now;
                if overdue {
                    expired.push((write.request, Outcome::Unknown("timed out".to_string())));
                }
                !overdue
            });
        }
        self.pending_writes.retain(|_, writes| !writes.is_empty());
        self.pending_reads.retain(|&request, read| {
            let overdue = read.deadline_ms <= now;
            if overdue {
                expired.push((request, Outcome::Failed("read timed out".to_string())));
            }
            !overdue
        });
        if let Some(pending) = &self.pending_conf_change {
            if pending.deadline_ms <= now {
                expired.push((
                    pending.request,
                    Outcome::Unknown("configuration change timed out".to_string()),
                ));
                self.pending_conf_change = None;
            }
        }
        for (request, outcome) in expired {
            self.complete(request, outcome);
        }
    }

    /// A leader change makes every write in flight uncertain: the old leader's entry may or may
    /// not survive. Answer now so that clients retry (safely, thanks to sessions).
    fn on_leader_change(&mut self, new_leader: NodeId) {
        let mut uncertain = Vec::new();
        for writes in self.pending_writes.values_mut() {
            writes.retain(|write| {
                let stale = write.leader_when_submitted != new_leader;
                if stale {
                    uncertain.push(write.request);
                }
                !stale
            });
        }
        self.pending_writes.retain(|_, writes| !writes.is_empty());
        self.coverage
            .hit_if(!uncertain.is_empty(), Point::WritesUnknownOnLeaderChange);
        for request in uncertain {
            self.complete(request, Outcome::Unknown("leader changed".to_string()));
        }
        // Reads confirmed by the old leader are still valid; unconfirmed ones will never be.
        let unconfirmed: Vec<RequestId> = self
            .pending_reads
            .iter()
            .filter(|(_, read)| read.index.is_none())
            .map(|(&request, _)| request)
            .collect();
        for request in unconfirmed {
            self.pending_reads.remove(&request);
            self.complete(request, Outcome::Failed("leader changed".to_string()));
        }
    }

    // ----- The Ready loop --------------------------------------------------------------------

    /// Handles every pending `Ready`: persist, send, apply, advance. A storage error is fatal.
    pub fn process_ready(&mut self) -> Result<(), NodeError> {
        self.update_finishing();
        self.hand_over_if_leaving();
        // Entries applied since the last call (a tick drains the apply queue) may let
        // confirmed reads go.
        self.serve_reads();
        while self.raw.has_ready() {
            let ready = self.raw.ready();
            self.handle_ready(ready)?;
            self.raw.advance();
            self.maybe_snapshot()?;
            self.serve_reads();
            self.hand_over_if_leaving();
        }
        Ok(())
    }

    fn handle_ready(&mut self, mut ready: Ready) -> Result<(), NodeError> {
        if let Some(soft_state) = ready.soft_state {
            let leader_changed = soft_state.leader_id != self.soft_state.leader_id;
            self.soft_state = soft_state;
            if leader_changed {
                self.on_leader_change(soft_state.leader_id);
            }
        }
        // 1. Persist.
        let hard_state = ready.hard_state.unwrap_or_default();
        if let Some(snapshot) = &ready.snapshot {
            self.persist_leader_snapshot(snapshot, &hard_state, &ready.entries)?;
        } else {
            self.wal
                .save(&mut self.disk, &hard_state, &ready.entries, ready.must_sync)?;
        }
        self.raw.storage_mut().append(&ready.entries)?;
        if let Some(hard_state) = ready.hard_state {
            self.raw.storage_mut().set_hard_state(hard_state);
        }
        // 2. Send.
        let mut messages = std::mem::take(&mut ready.messages);
        for message in messages.drain(..) {
            let to = message.to;
            let is_snapshot = message.msg_type == raft::MessageType::Snapshot;
            self.transport.send(to, codec::encode_message(&message));
            if is_snapshot {
                // The transport cannot tell whether the snapshot arrived. Reporting it finished
                // moves the follower to probing, paused until it answers; if the snapshot was
                // lost, its next heartbeat response makes the leader send another.
                self.raw.report_snapshot(to, true);
            }
        }
        self.raw.recycle_messages(messages);
        // 3. Apply, or queue for the apply loop.
        if let Some(snapshot) = ready.snapshot.take() {
            // Whatever waits is older than the snapshot: apply it first, in order.
            self.drain_apply_queue();
            self.apply_snapshot(snapshot)?;
        }
        self.queue_committed(std::mem::take(&mut ready.committed_entries));
        for read_state in std::mem::take(&mut ready.read_states) {
            self.note_read_state(read_state);
        }
        Ok(())
    }

    /// Takes a `Ready`'s committed entries into the apply queue and applies what may not wait
    /// (see [`NodeConfig::apply_lag_entries_max`]).
    fn queue_committed(&mut self, entries: Vec<Entry>) {
        let lag = self.config.apply_lag_entries_max;
        if lag == 0 && self.apply_queue.is_empty() {
            for entry in entries {
                self.apply_entry(entry);
            }
            return;
        }
        let conf_change = entries
            .iter()
            .any(|entry| entry.entry_type == EntryType::ConfChange);
        let waiting = !self.apply_queue.is_empty();
        self.apply_queue.extend(entries);
        if conf_change || lag == 0 {
            self.coverage
                .hit_if(conf_change && waiting, Point::ApplyDrainedForConfChange);
            self.drain_apply_queue();
            return;
        }
        while self.apply_queue.len() as u64 > lag {
            if let Some(entry) = self.apply_queue.pop_front() {
                self.apply_entry(entry);
            }
        }
        self.coverage
            .hit_if(!self.apply_queue.is_empty(), Point::ApplyLagged);
    }

    /// Applies every entry waiting in the apply queue.
    fn drain_apply_queue(&mut self) {
        while let Some(entry) = self.apply_queue.pop_front() {
            self.apply_entry(entry);
        }
    }

    /// Saves the snapshot file, then its marker with the `Ready`'s entries and hard state in
    /// one WAL write (see [`Wal::save_installed_snapshot`] for why one).
    fn persist_leader_snapshot(
        &mut self,
        snapshot: &Snapshot,
        hard_state: &HardState,
        entries: &[Entry],
    ) -> Result<(), NodeError> {
        self.snapshotter.save(&mut self.disk, snapshot)?;
        self.wal.save_installed_snapshot(
            &mut self.disk,
            SnapshotMarker::of(&snapshot.metadata),
            hard_state,
            entries,
        )?;
        self.raw.storage_mut().apply_snapshot(snapshot.clone())?;
        Ok(())
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), NodeError> {
        let payload: SnapshotPayload = codec::decode(&snapshot.data).map_err(NodeError::Payload)?;
        self.store = Store::restore(&payload.store)?;
        self.members = payload.members;
        let before = std::mem::replace(&mut self.conf_state, snapshot.metadata.conf_state.clone());
        self.note_configuration(&before, snapshot.metadata.index);
        self.applied_index = snapshot.metadata.index;
        self.snapshot_index = snapshot.metadata.index;
        self.conf_changed_since_snapshot = false;
        Ok(())
    }

    fn apply_entry(&mut self, entry: Entry) {
        assert!(
            entry.index == self.applied_index + 1,
            "node {}: applying index {} after {}",
            self.config.id,
            entry.index,
            self.applied_index
        );
        match entry.entry_type {
            EntryType::Normal => self.apply_command(&entry),
            EntryType::ConfChange => self.apply_conf_change(&entry),
        }
        self.applied_index = entry.index;
    }

    fn apply_command(&mut self, entry: &Entry) {
        if entry.data.is_empty() {
            // A new leader's empty entry.
            return;
        }
        let command = match decode_command(&entry.data) {
            Ok(command) => command,
            Err(error) => {
                // Every node skips the same bytes the same way, so replicas stay identical.
                tracing::warn!(index = entry.index, %error, "skipping an undecodable command");
                return;
            }
        };
        let retried = self
            .store
            .session(command.client_id)
            .is_some_and(|session| session.sequence == command.sequence);
        let reply = self.store.apply(&command);
        let point = match &reply {
            Reply::Stale { .. } => Some(Point::StaleCommandRefused),
            Reply::SessionClosed => Some(Point::ClosedSessionRefused),
            Reply::SessionsClosed { ended } if *ended > 0 => Some(Point::SessionsClosed),
            _ if retried => Some(Point::RetryAnsweredFromSession),
            Reply::CompareAndSet { swapped: false, .. } => Some(Point::CompareAndSetFailed),
            _ => None,
        };
        if let Some(point) = point {
            self.coverage.hit(point);
        }
        if let (Operation::CloseSessions { first, last }, Reply::SessionsClosed { ended }) =
            (&command.operation, &reply)
        {
            tracing::info!(
                index = entry.index,
                first = format_args!("{first:#x}"),
                last = format_args!("{last:#x}"),
                ended,
                "closed client sessions"
            );
        }
        if let Some(writes) = self
            .pending_writes
            .remove(&(command.client_id, command.sequence))
        {
            for write in writes {
                self.complete(write.request, Outcome::Applied(reply.clone()));
            }
        }
    }

    fn apply_conf_change(&mut self, entry: &Entry) {
        let change = match codec::decode_conf_change(&entry.data) {
            Ok(change) => change,
            Err(error) => {
                tracing::warn!(index = entry.index, %error, "skipping an undecodable conf change");
                return;
            }
        };
        let pending = self
            .pending_conf_change
            .take_if(|pending| pending.change == change);
        match self.raw.apply_conf_change(&change) {
            Ok(conf_state) => {
                for single in &change.changes {
                    match single.change_type {
                        ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                            self.members.insert(single.node_id, change.context.clone());
                        }
                        ConfChangeType::RemoveNode => {
                            self.members.remove(&single.node_id);
                        }
                    }
                }
                // The configuration reaches storage only through snapshots, whose metadata must
                // describe the state at their own index; on restart it is rebuilt by replaying
                // the log after the snapshot.
                if entry.term > 1 {
                    // Term 1 holds only the bootstrap entries of a new cluster.
                    self.count_conf_change(&change);
                }
                let before = std::mem::replace(&mut self.conf_state, conf_state.clone());
                self.note_configuration(&before, entry.index);
                self.conf_changed_since_snapshot = true;
                if let Some(pending) = pending {
                    self.complete(pending.request, Outcome::ConfChanged(conf_state));
                }
            }
            Err(error) => {
                // Deterministic on every node: the same change on the same configuration.
                tracing::warn!(index = entry.index, %error, "configuration change refused");
                if let Some(pending) = pending {
                    self.complete(pending.request, Outcome::Failed(error.to_string()));
                }
            }
        }
    }

    /// Counts the coverage points of `change`, just applied to `self.conf_state` (the
    /// configuration before it).
    fn count_conf_change(&mut self, change: &ConfChange) {
        let before = &self.conf_state;
        if change.is_leave_joint() {
            self.coverage.hit(if before.auto_leave {
                Point::JointLeftAuto
            } else {
                Point::JointLeftExplicit
            });
            return;
        }
        let joint = change.enters_joint().is_some();
        let mut points = Vec::new();
        for single in &change.changes {
            let voter = before.voters.contains(&single.node_id);
            let learner = before.learners.contains(&single.node_id);
            points.push(match single.change_type {
                ConfChangeType::AddNode if learner => Point::LearnerPromoted,
                ConfChangeType::AddNode if !voter && !joint => Point::SingleStepAdd,
                ConfChangeType::AddLearnerNode if voter => Point::VoterDemoted,
                ConfChangeType::AddLearnerNode if !learner => Point::LearnerAdded,
                ConfChangeType::RemoveNode if !joint && (voter || learner) => {
                    Point::SingleStepRemove
                }
                _ => continue,
            });
        }
        if joint {
            points.push(Point::JointEntered);
        }
        for point in points {
            self.coverage.hit(point);
        }
    }

    fn note_read_state(&mut self, read_state: ReadState) {
        let Ok(bytes) = <[u8; 8]>::try_from(read_state.request_context.as_slice()) else {
            return;
        };
        let request = RequestId::from_le_bytes(bytes);
        let at_follower = !self.is_leader();
        if let Some(read) = self.pending_reads.get_mut(&request) {
            read.index = Some(read_state.index);
            let waited = read_state.index > self.applied_index;
            self.coverage.hit_if(waited, Point::ReadWaitedForApply);
            self.coverage.hit_if(at_follower, Point::FollowerRead);
        }
    }

    /// Serves confirmed reads whose index has been applied (Raft thesis §6.4 step 4).
    fn serve_reads(&mut self) {
        let applied = self.applied_index;
        let ready: Vec<RequestId> = self
            .pending_reads
            .iter()
            .filter(|(_, read)| read.index.is_some_and(|index| index <= applied))
            .map(|(&request, _)| request)
            .collect();
        for request in ready {
            if let Some(read) = self.pending_reads.remove(&request) {
                let value = self.store.get(&read.key).map(str::to_string);
                self.completions.push(Completion {
                    request,
                    outcome: Outcome::Applied(Reply::Value { value }),
                    read_index: read.index,
                });
            }
        }
    }

    // ----- Snapshots and compaction ----------------------------------------------------------

    fn maybe_snapshot(&mut self) -> Result<(), NodeError> {
        let applied = self.applied_index;
        if applied <= self.snapshot_index {
            return Ok(());
        }
        // After a membership change, a compacted log must be covered by a snapshot that knows
        // the new member: a leader can only send a joining node a snapshot that contains it.
        let compacted = self.raw.storage().first_index_checked() > 1;
        let conf_changed = self.conf_changed_since_snapshot;
        let due = applied - self.snapshot_index >= self.config.snapshot_count;
        if !(due || (compacted && conf_changed)) {
            return Ok(());
        }
        self.coverage
            .hit_if(!self.pending_writes.is_empty(), Point::SnapshotDuringWrites);
        let payload = SnapshotPayload {
            store: self.store.snapshot_data(),
            members: self.members.clone(),
        };
        let snapshot = self.raw.storage_mut().create_snapshot(
            applied,
            Some(self.conf_state.clone()),
            codec::encode(&payload),
        )?;
        self.snapshotter.save(&mut self.disk, &snapshot)?;
        let marker = SnapshotMarker::of(&snapshot.metadata);
        self.wal.save_snapshot_marker(&mut self.disk, marker)?;
        self.snapshot_index = applied;
        self.conf_changed_since_snapshot = false;
        let compact_to = applied.saturating_sub(self.config.snapshot_catch_up_entries);
        if compact_to > self.raw.storage().first_index_checked() {
            self.raw.storage_mut().compact(compact_to)?;
        }
        self.snapshotter.retain(&mut self.disk)?;
        // The WAL keeps what the oldest kept snapshot needs, so that it stays a fall-back.
        if let Some(oldest) = self.snapshotter.list(&mut self.disk)?.first() {
            self.wal.release_to(&mut self.disk, oldest.index)?;
        }
        Ok(())
    }

    // ----- Observation -----------------------------------------------------------------------

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The Raft node, for status and for the simulator's oracles.
    pub fn raw(&self) -> &RawNode<MemStorage> {
        &self.raw
    }

    /// How often each of the driver's coverage points ([`crate::coverage`]) was reached in this
    /// life of the node (Raft's own are in [`RawNode::coverage`]).
    pub fn coverage(&self) -> &Counts {
        &self.coverage
    }

    /// The key-value store as applied so far.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The last applied index.
    pub fn applied_index(&self) -> Index {
        self.applied_index
    }

    /// The leader this node knows of, or zero.
    pub fn leader_id(&self) -> NodeId {
        self.raw.raft.leader_id
    }

    /// Whether this node leads.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.role == StateRole::Leader
    }

    /// The configuration as applied.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The members and the context each was added with (the server's peer URLs).
    pub fn members(&self) -> &BTreeMap<NodeId, Vec<u8>> {
        &self.members
    }

    /// The disk, for the owner (the simulator inspects it).
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The disk, mutably.
    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    /// Tells Raft that `id` could not be reached, so that replication to it goes back to
    /// probing instead of pipelining appends that are lost (see [`RawNode::report_unreachable`]).
    pub fn report_unreachable(&mut self, id: NodeId) {
        self.raw.report_unreachable(id);
    }

    /// The transport, for the owner.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Tears the node apart (a crash, or shutdown), handing back its disk.
    pub fn into_disk(self) -> D {
        self.disk
    }
}

/// Small read helpers on `MemStorage` that the driver needs.
trait StorageView {
    fn snapshot_conf_state(&self) -> ConfState;
    fn first_index_checked(&self) -> Index;
}

impl StorageView for MemStorage {
    fn snapshot_conf_state(&self) -> ConfState {
        use raft::Storage;
        self.initial_state()
            .map(|state| state.conf_state)
            .unwrap_or_default()
    }

    fn first_index_checked(&self) -> Index {
        use raft::Storage;
        self.first_index().unwrap_or(1)
    }
}
