//! Processes: a node's life cycle (up, down with its disk, destroyed), its transport, its
//! clock, and the pause state. A crash throws the `kvapp::Node` away (all volatile state) and
//! keeps only the disk, after [`SimDisk::crash`] decided what of it survives.

use std::rc::Rc;

use kvapp::node::{Node, NodeConfig};
use kvapp::snapshotter::SnapshotterConfig;
use kvapp::transport::Transport;
use kvapp::wal::WalConfig;
use raft::NodeId;

use crate::clock::{Drift, SimClock};
use crate::disk::{IoState, SimDisk};
use crate::options::ClusterOptions;

/// The node type the simulator runs: the real driver over simulated I/O.
pub type SimNode = Node<SimDisk, SimTransport, SimClock>;

/// A message a node sent, waiting for the world to hand it to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Recipient.
    pub to: NodeId,
    /// The encoded message.
    pub bytes: Vec<u8>,
    /// How long the node's fsyncs held it back.
    pub latency_ms: u64,
    /// Whether, when the node sent it, a change that a message could promise was not durable
    /// yet ([`crate::disk::IoState::promises_pending`]).
    pub promise_pending: bool,
}

/// A node's transport: an outbox the world drains after every call into the node. Once the
/// process has died inside a disk operation, nothing it sends leaves.
#[derive(Debug)]
pub struct SimTransport {
    /// Messages sent since the world last drained them.
    pub outbox: Vec<Outgoing>,
    io: Rc<IoState>,
}

impl SimTransport {
    /// A transport sharing `io` with the node's disk.
    pub fn new(io: Rc<IoState>) -> SimTransport {
        SimTransport {
            outbox: Vec::new(),
            io,
        }
    }
}

impl Transport for SimTransport {
    fn send(&mut self, to: NodeId, bytes: Vec<u8>) {
        if self.io.crashed() {
            return;
        }
        self.outbox.push(Outgoing {
            to,
            bytes,
            latency_ms: self.io.latency_ms(),
            promise_pending: self.io.promises_pending() > 0,
        });
    }
}

/// Where a node is in its life.
pub enum Life {
    /// Running.
    Up(Box<SimNode>),
    /// Crashed; its disk waits for the restart.
    Down(Box<SimDisk>),
    /// Its disk was damaged beyond recovery (by an injected fault); it never comes back.
    Destroyed(String),
    /// It applied its own removal from the cluster and shut down, as a server does; it comes
    /// back, with this disk, only if it is added again.
    Removed(Box<SimDisk>),
}

/// One simulated machine.
pub struct Process {
    /// The node id.
    pub id: NodeId,
    /// Up, down or destroyed.
    pub life: Life,
    /// Counts lives; stale timers carry an older one.
    pub incarnation: u64,
    /// Shared by the disk and the transport.
    pub io: Rc<IoState>,
    /// The node's clock.
    pub clock: SimClock,
    /// How fast the clock runs.
    pub drift: Drift,
    /// While paused, events for the node wait.
    pub paused_until_ms: Option<u64>,
    /// Messages that arrived while paused, in order.
    pub inbox: Vec<(NodeId, Vec<u8>)>,
    /// An injected fault damaged this node's disk.
    pub damaged: bool,
    /// The files the injected faults damaged.
    pub damaged_files: Vec<String>,
    /// A restart is scheduled.
    pub restart_pending: bool,
    /// When the node's one live timer event fires; other timer events are stale.
    pub timer_at_ms: u64,
    /// The node was seen in its own configuration (founding nodes from the start; a joining
    /// node once the leader added it). Only a member can be removed.
    pub member: bool,
    /// A fresh disk starts by waiting to be added rather than bootstrapping.
    pub joining: bool,
    /// A node added back replays its old log, its own removal included; what it applies
    /// before this index (the leader's last index when the addition was proposed) says
    /// nothing about its membership now.
    pub rejoin_after_index: raft::Index,
}

impl Process {
    /// The running node, if up.
    pub fn node(&self) -> Option<&SimNode> {
        match &self.life {
            Life::Up(node) => Some(node),
            Life::Down(_) | Life::Destroyed(_) | Life::Removed(_) => None,
        }
    }

    /// The running node, mutably.
    pub fn node_mut(&mut self) -> Option<&mut SimNode> {
        match &mut self.life {
            Life::Up(node) => Some(node),
            Life::Down(_) | Life::Destroyed(_) | Life::Removed(_) => None,
        }
    }

    /// The node's local time, as its clock showed it at its latest step.
    pub fn clock_ms(&self) -> u64 {
        use kvapp::clock::Clock;
        self.clock.now_ms()
    }

    /// Whether the node runs and is not paused.
    pub fn is_running(&self) -> bool {
        self.node().is_some() && self.paused_until_ms.is_none()
    }

    /// Whether the node was destroyed.
    pub fn is_destroyed(&self) -> bool {
        matches!(self.life, Life::Destroyed(_))
    }

    /// Whether the node left the cluster.
    pub fn is_removed(&self) -> bool {
        matches!(self.life, Life::Removed(_))
    }
}

/// The configuration of node `id` of a new cluster whose founding members are
/// `1..=options.founding_nodes()`.
pub fn node_config(options: &ClusterOptions, id: NodeId, raft_seed: u64) -> NodeConfig {
    let peers = (1..=options.founding_nodes()).collect();
    NodeConfig {
        join: false,
        tick_interval_ms: options.tick_interval_ms,
        election_tick: options.election_ticks,
        heartbeat_tick: options.heartbeat_ticks,
        pre_vote: options.pre_vote,
        check_quorum: options.check_quorum,
        raft_seed,
        max_size_per_msg: options.message_size_bytes_max,
        max_inflight_msgs: options.inflight_messages_max,
        snapshot_count: options.snapshot_interval_entries,
        snapshot_catch_up_entries: options.snapshot_catch_up_entries,
        request_timeout_ms: options.request_timeout_ms,
        read_mode: options.read_mode,
        max_committed_size_per_ready: match options.committed_size_per_ready_bytes_max {
            0 => u64::MAX,
            limit => limit,
        },
        max_uncommitted_entries_size: options.uncommitted_size_bytes_max,
        disable_proposal_forwarding: !options.proposal_forwarding,
        step_down_on_removal: options.step_down_on_removal,
        apply_lag_entries_max: options.apply_lag_entries_max,
        wal: WalConfig {
            segment_size_bytes_limit: options.wal_segment_size_bytes_limit,
        },
        snapshotter: SnapshotterConfig {
            kept_count: options.snapshot_files_kept,
        },
        ..NodeConfig::new(id, peers)
    }
}
