//! The data that Raft nodes persist and exchange: log entries, hard state, configuration state,
//! snapshots, configuration changes and messages.
//!
//! Every type here derives serde and goes over the wire and into the WAL through [`crate::codec`].
//! The shapes follow etcd's `raftpb` so that readers of etcd's raft recognise them, but they are
//! plain Rust types: a message is one struct with a [`MessageType`] tag, and fields a message
//! type does not use stay at their defaults.

use serde::{Deserialize, Serialize};

/// A node's identity within a cluster. Zero is never a valid id ([`INVALID_ID`]).
pub type NodeId = u64;
/// A Raft term (Raft §5.1). Terms only increase.
pub type Term = u64;
/// A position in the replicated log; the first real entry has index 1 (Raft §5.3).
pub type Index = u64;

/// The id meaning "nobody": no leader known, no vote cast.
pub const INVALID_ID: NodeId = 0;
/// The index meaning "no entry".
pub const INVALID_INDEX: Index = 0;

/// What an entry's payload holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EntryType {
    /// Application data (possibly empty: a new leader appends one empty entry).
    #[default]
    Normal,
    /// An encoded [`ConfChange`].
    ConfChange,
}

/// One entry of the replicated log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Entry {
    /// The term of the leader that created this entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: Index,
    /// How to read `data`.
    pub entry_type: EntryType,
    /// The payload: application bytes, or a [`ConfChange`] encoded with [`crate::codec`].
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl Entry {
    /// A normal entry carrying `data`; term and index are assigned by the leader.
    pub fn normal(data: Vec<u8>) -> Entry {
        Entry {
            data,
            ..Entry::default()
        }
    }

    /// The size that counts against `max_size_per_msg` and the uncommitted-size limit: the
    /// payload plus a fixed allowance for the header fields.
    pub fn size_bytes(&self) -> u64 {
        self.data.len() as u64 + ENTRY_HEADER_SIZE_BYTES
    }

    /// The payload size alone; empty entries count zero against the uncommitted-size limit.
    pub fn payload_size_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

/// The fixed allowance per entry used in size accounting (term, index, type and framing).
pub const ENTRY_HEADER_SIZE_BYTES: u64 = 24;

/// The state a node must persist before it sends any message that depends on it (Raft §5.1,
/// Figure 2 "persistent state on all servers", plus the commit index as etcd does).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, or [`INVALID_ID`].
    pub vote: NodeId,
    /// The highest index known to be committed.
    pub commit: Index,
}

impl HardState {
    /// True when nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        *self == HardState::default()
    }
}

/// The membership configuration as it is persisted and carried in snapshots.
///
/// Outside a joint configuration `voters_outgoing` is empty. During one (Raft thesis §4.3),
/// `voters` is the incoming configuration and `voters_outgoing` the outgoing one; a node that
/// is a voter in the outgoing configuration and is demoted to learner is listed in
/// `learners_next` until the joint configuration is left.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConfState {
    /// Voters of the (incoming) configuration, sorted.
    pub voters: Vec<NodeId>,
    /// Learners, sorted.
    pub learners: Vec<NodeId>,
    /// Voters of the outgoing configuration while joint, sorted; empty otherwise.
    pub voters_outgoing: Vec<NodeId>,
    /// Nodes that become learners when the joint configuration is left, sorted.
    pub learners_next: Vec<NodeId>,
    /// Whether the leader leaves the joint configuration by itself once it is committed.
    pub auto_leave: bool,
}

impl ConfState {
    /// A configuration of the given voters and no learners.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> ConfState {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        ConfState {
            voters,
            ..ConfState::default()
        }
    }

    /// True when this describes a joint configuration.
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// Whether the configuration counts `id` in any role (voter, learner, outgoing voter, or
    /// learner to be).
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
            || self.learners.contains(&id)
            || self.voters_outgoing.contains(&id)
            || self.learners_next.contains(&id)
    }
}

/// What a snapshot covers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SnapshotMetadata {
    /// The configuration as of `index`.
    pub conf_state: ConfState,
    /// The last log index the snapshot includes.
    pub index: Index,
    /// The term of the entry at `index`.
    pub term: Term,
}

/// A point-in-time image of the application state plus the metadata to restart the log from it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Snapshot {
    /// The application's serialized state; opaque to Raft.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// What the snapshot covers.
    pub metadata: SnapshotMetadata,
}

impl Snapshot {
    /// True for the placeholder "no snapshot" value (index zero).
    pub fn is_empty(&self) -> bool {
        self.metadata.index == INVALID_INDEX
    }
}

/// One membership operation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeType {
    /// Add a voter, or promote a learner to voter.
    AddNode,
    /// Remove a voter or a learner.
    RemoveNode,
    /// Add a learner, or demote a voter to learner.
    AddLearnerNode,
}

/// One operation on one node.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfChangeSingle {
    /// What to do.
    pub change_type: ConfChangeType,
    /// To whom.
    pub node_id: NodeId,
}

/// How a configuration change moves between configurations.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ConfChangeTransition {
    /// A single change that touches at most one voter is applied directly (single-step, Raft
    /// thesis §4.1); anything else enters a joint configuration that the leader leaves
    /// automatically once it is committed.
    #[default]
    Auto,
    /// Always enter a joint configuration, and leave it automatically.
    JointImplicit,
    /// Always enter a joint configuration, and stay there until the application proposes an
    /// empty change (see [`ConfChange::leave_joint`]).
    JointExplicit,
}

/// A membership change: zero or more operations applied together. An empty change with
/// transition [`ConfChangeTransition::Auto`] leaves a joint configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConfChange {
    /// How to move between configurations.
    pub transition: ConfChangeTransition,
    /// The operations.
    pub changes: Vec<ConfChangeSingle>,
    /// Opaque application data (raftexample puts the new node's URL here).
    #[serde(with = "serde_bytes")]
    pub context: Vec<u8>,
}

impl ConfChange {
    /// A single-operation change.
    pub fn single(change_type: ConfChangeType, node_id: NodeId) -> ConfChange {
        ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![ConfChangeSingle {
                change_type,
                node_id,
            }],
            context: Vec::new(),
        }
    }

    /// Add `node_id` as a voter.
    pub fn add_voter(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::AddNode, node_id)
    }

    /// Add `node_id` as a learner.
    pub fn add_learner(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::AddLearnerNode, node_id)
    }

    /// Remove `node_id`.
    pub fn remove_node(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::RemoveNode, node_id)
    }

    /// The empty change that leaves a joint configuration.
    pub fn leave_joint() -> ConfChange {
        ConfChange::default()
    }

    /// True if this change leaves a joint configuration rather than entering one.
    pub fn is_leave_joint(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether applying this change enters a joint configuration, and if so whether it is
    /// left automatically. `None` means a simple (single-step) change.
    pub fn enters_joint(&self) -> Option<bool> {
        let auto_leave = match self.transition {
            ConfChangeTransition::Auto | ConfChangeTransition::JointImplicit => true,
            ConfChangeTransition::JointExplicit => false,
        };
        if self.transition != ConfChangeTransition::Auto || self.changes.len() > 1 {
            Some(auto_leave)
        } else {
            None
        }
    }
}

/// The kinds of message. "Local" kinds never cross the network: the node generates them for
/// itself (`Hup`, `Beat`, `Unreachable`, `SnapshotStatus`, `CheckQuorum`) or they come from the
/// application (`Propose`, `ReadIndex`, `TransferLeader` may also be forwarded).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord,
)]
pub enum MessageType {
    /// Local: the election timer fired; start an election (or pre-election).
    #[default]
    Hup,
    /// Local: the heartbeat timer fired on the leader.
    Beat,
    /// Append these entries to the log (from the application, or forwarded by a follower).
    Propose,
    /// Leader to follower: entries after (`index`, `log_term`), and the commit index.
    Append,
    /// Follower to leader: accepted up to `index`, or rejected with a hint.
    AppendResponse,
    /// Candidate to all: vote for me in `term`; my last entry is (`index`, `log_term`).
    RequestVote,
    /// The answer to a vote request.
    RequestVoteResponse,
    /// Pre-candidate to all: would you vote for me in `term`? (Raft thesis §9.6)
    RequestPreVote,
    /// The answer to a pre-vote request.
    RequestPreVoteResponse,
    /// Leader to follower: I am alive; commit up to `commit`.
    Heartbeat,
    /// Follower to leader: heartbeat received.
    HeartbeatResponse,
    /// Leader to follower: install this snapshot.
    Snapshot,
    /// Local: the application could not reach `from`.
    Unreachable,
    /// Local: a snapshot sent to `from` finished (`reject` false) or failed.
    SnapshotStatus,
    /// Local: the leader checks that a quorum was active recently.
    CheckQuorum,
    /// Ask the leader to hand leadership to `from`.
    TransferLeader,
    /// Leader to transferee: campaign now, ignoring the election timeout (thesis §3.10).
    TimeoutNow,
    /// Ask for a read index; `entries[0].data` carries the request context.
    ReadIndex,
    /// The leader's answer to a forwarded read index request.
    ReadIndexResponse,
}

impl MessageType {
    /// True for kinds that a node generates for itself and that never travel the network.
    pub fn is_local(self) -> bool {
        match self {
            MessageType::Hup
            | MessageType::Beat
            | MessageType::Unreachable
            | MessageType::SnapshotStatus
            | MessageType::CheckQuorum => true,
            MessageType::Propose
            | MessageType::Append
            | MessageType::AppendResponse
            | MessageType::RequestVote
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVote
            | MessageType::RequestPreVoteResponse
            | MessageType::Heartbeat
            | MessageType::HeartbeatResponse
            | MessageType::Snapshot
            | MessageType::TransferLeader
            | MessageType::TimeoutNow
            | MessageType::ReadIndex
            | MessageType::ReadIndexResponse => false,
        }
    }

    /// True for the answers to a vote or pre-vote request.
    pub fn is_vote_response(self) -> bool {
        matches!(
            self,
            MessageType::RequestVoteResponse | MessageType::RequestPreVoteResponse
        )
    }

    /// True for kinds a node answers even when it comes from a node with a higher term: a
    /// response type never causes the receiver to adopt the sender's term.
    pub fn is_response(self) -> bool {
        matches!(
            self,
            MessageType::AppendResponse
                | MessageType::RequestVoteResponse
                | MessageType::RequestPreVoteResponse
                | MessageType::HeartbeatResponse
                | MessageType::ReadIndexResponse
        )
    }
}

/// A message between nodes, or from the application or the node itself to the node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Message {
    /// What kind of message this is; it decides which fields mean something.
    pub msg_type: MessageType,
    /// The receiver.
    pub to: NodeId,
    /// The sender.
    pub from: NodeId,
    /// The sender's term, or zero for local messages and proposals.
    pub term: Term,
    /// Append: the term of the entry at `index`. Votes: the candidate's last log term.
    /// AppendResponse rejections: the term of the follower's entry at `reject_hint`.
    pub log_term: Term,
    /// Append: the index before `entries`. AppendResponse: the last index accepted or the
    /// rejected index. Votes: the candidate's last index. ReadIndexResponse: the read index.
    pub index: Index,
    /// Entries to append or propose.
    pub entries: Vec<Entry>,
    /// The sender's commit index (Append, Heartbeat).
    pub commit: Index,
    /// Snapshot: the snapshot to install. Boxed: few messages carry one, and inline it would
    /// make every message several times larger to move (the same bytes on the wire).
    pub snapshot: Option<Box<Snapshot>>,
    /// Responses: whether the request was refused.
    pub reject: bool,
    /// AppendResponse rejections: the follower's guess of where the logs may match.
    pub reject_hint: Index,
    /// Heartbeats and ReadIndex: the read request context that the round confirms.
    #[serde(with = "serde_bytes")]
    pub context: Vec<u8>,
}

impl Message {
    /// A message with the given type, receiver and sender and every other field at its default.
    pub fn new(msg_type: MessageType, to: NodeId, from: NodeId) -> Message {
        Message {
            msg_type,
            to,
            from,
            ..Message::default()
        }
    }
}
