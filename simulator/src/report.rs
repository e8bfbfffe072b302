//! The verdict of a run, its counters, and the summary a person reads (or the JSON a tool
//! reads). A failing report always ends with the command that reproduces it.

use raft::{Index, NodeId, Term};
use serde::Serialize;

use crate::coverage::RunCoverage;
use crate::determinism::Divergence;
use crate::faults::FaultStats;
use crate::history::{is_zero, HistoryCounts};
use crate::network::NetworkStats;
use crate::options::RunOptions;
use crate::oracles::Violation;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Every check passed.
    Pass,
    /// A safety oracle fired.
    SafetyViolation(Violation),
    /// The cluster did not converge in the liveness phase (or the event budget ran out).
    LivenessFailure(String),
    /// Code under test panicked (a raft or kvapp assertion, most likely).
    Panic(String),
    /// Two runs of the seed differed.
    Nondeterminism(Divergence),
    /// A liveness failure with the signature of a bug already reported (see
    /// [`crate::known_bugs`]): the id and what was seen.
    KnownBug(String, String),
}

/// The kinds of verdict, ordered from best to worst; each has its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Class {
    /// Exit 0.
    Pass,
    /// Exit 8 (a sweep counts it apart; with `--allow-known-bugs` it does not fail on it).
    KnownBug,
    /// Exit 5.
    Liveness,
    /// Exit 4.
    Safety,
    /// Exit 6.
    Panic,
    /// Exit 7.
    Nondeterminism,
}

impl Class {
    /// The process exit code for this class (3 is `raftsim`'s usage error, 1 and 2 are
    /// `check-history`'s verdicts).
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Pass => 0,
            Class::Safety => 4,
            Class::Liveness => 5,
            Class::Panic => 6,
            Class::Nondeterminism => 7,
            Class::KnownBug => 8,
        }
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Pass => "pass",
            Class::Safety => "safety violation",
            Class::Liveness => "liveness failure",
            Class::Panic => "panic",
            Class::Nondeterminism => "nondeterminism",
            Class::KnownBug => "known bug",
        }
    }
}

impl Verdict {
    /// The verdict's class.
    pub fn class(&self) -> Class {
        match self {
            Verdict::Pass => Class::Pass,
            Verdict::SafetyViolation(_) => Class::Safety,
            Verdict::LivenessFailure(_) => Class::Liveness,
            Verdict::Panic(_) => Class::Panic,
            Verdict::Nondeterminism(_) => Class::Nondeterminism,
            Verdict::KnownBug(..) => Class::KnownBug,
        }
    }

    /// One line.
    pub fn summary(&self) -> String {
        match self {
            Verdict::Pass => "PASS".to_string(),
            Verdict::SafetyViolation(violation) => format!("SAFETY VIOLATION: {violation}"),
            Verdict::LivenessFailure(reason) => format!("LIVENESS FAILURE: {reason}"),
            Verdict::Panic(message) => format!("PANIC: {message}"),
            Verdict::Nondeterminism(divergence) => {
                format!("NONDETERMINISM: {}", divergence.describe())
            }
            Verdict::KnownBug(id, detail) => format!("KNOWN BUG {id}: {detail}"),
        }
    }
}

/// What the linearizability checker said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum LinearizabilityOutcome {
    /// Not run (the run failed before, or the checker is not available).
    NotChecked(String),
    /// Linearizable.
    Linearizable {
        /// Search steps taken.
        steps: u64,
    },
    /// The search ran out of budget.
    Inconclusive(String),
}

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// Nodes in the cluster.
    pub nodes: u64,
    /// Distinct (term, leader) pairs.
    pub elections: u64,
    /// The highest term a leader was seen in.
    pub highest_term: Term,
    /// The highest index committed.
    pub committed_index: Index,
    /// Network counters.
    pub network: NetworkStats,
    /// Faults injected.
    pub faults: FaultStats,
    /// Disk writes over all nodes.
    pub disk_writes: u64,
    /// Disk syncs over all nodes.
    pub disk_syncs: u64,
    /// Messages a node refused (stale or unknown senders).
    pub messages_refused: u64,
    /// Raft messages by kind, counted as they leave a node.
    pub raft_messages: RaftMessageCounts,
    /// Nodes destroyed by disk damage, and why.
    pub destroyed: Vec<(NodeId, String)>,
    /// Client operation outcomes.
    pub clients: HistoryCounts,
    /// The coverage points reached, with their counts.
    pub coverage: RunCoverage,
    /// Store audits performed.
    pub store_audits: u64,
    /// Acknowledgements the reference never got far enough to check.
    pub acknowledgements_unverified: u64,
    /// Committed commands refused because their client's session was closed: late copies of
    /// commands from before a close (left out when none, as in runs whose clients never close).
    #[serde(skip_serializing_if = "is_zero")]
    pub refused_for_closed_sessions: u64,
    /// Set when the reference state machine could not follow the log.
    pub reference_stalled: Option<String>,
    /// The checker's verdict.
    pub linearizability: Option<LinearizabilityOutcome>,
    /// Simulated time.
    pub simulated_ms: u64,
    /// Wall time (measured, never used for decisions).
    pub wall_ms: u64,
    /// Events processed.
    pub events: u64,
    /// The running hash after the last event.
    pub trace_hash: u64,
}

/// Raft messages of a few telling kinds, counted when a node sends them (decoded from the
/// bytes it hands to the network), and snapshots a follower installed from a leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RaftMessageCounts {
    /// Snapshot messages (a leader sending its state to a follower it cannot append to).
    pub snapshots_sent: u64,
    /// Snapshot messages that moved a follower's applied index up to the snapshot.
    pub snapshots_installed: u64,
    /// Append responses that refused the append: a log mismatch, each one a backtracking step
    /// of the leader (fast backtracking keeps them few, Raft §5.3).
    pub appends_rejected: u64,
    /// PreVote requests (Raft thesis §9.6).
    pub pre_votes_requested: u64,
    /// Vote requests (Raft §5.2): each one is a real campaign in a new term.
    pub votes_requested: u64,
    /// TimeoutNow messages: a leader handing over (Raft thesis §3.10).
    pub timeout_now_sent: u64,
}

impl RaftMessageCounts {
    /// Counts one message as it leaves a node, by its type and (for append responses) whether
    /// it rejects.
    pub fn count_sent(&mut self, msg_type: raft::MessageType, reject: bool) {
        use raft::MessageType;
        match msg_type {
            MessageType::Snapshot => self.snapshots_sent += 1,
            MessageType::AppendResponse if reject => self.appends_rejected += 1,
            MessageType::RequestPreVote => self.pre_votes_requested += 1,
            MessageType::RequestVote => self.votes_requested += 1,
            MessageType::TimeoutNow => self.timeout_now_sent += 1,
            MessageType::Hup
            | MessageType::Beat
            | MessageType::Propose
            | MessageType::Append
            | MessageType::AppendResponse
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVoteResponse
            | MessageType::Heartbeat
            | MessageType::HeartbeatResponse
            | MessageType::Unreachable
            | MessageType::SnapshotStatus
            | MessageType::CheckQuorum
            | MessageType::TransferLeader
            | MessageType::ReadIndex
            | MessageType::ReadIndexResponse => {}
        }
    }
}

/// Everything about a finished run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The options (the seed among them).
    pub options: RunOptions,
    /// How it ended.
    pub verdict: Verdict,
    /// Counters.
    pub stats: RunStats,
    /// The last events before the end, formatted (failures only).
    pub trace_tail: Vec<String>,
    /// The command that reproduces this run.
    pub reproduce: String,
}

impl RunReport {
    /// The human summary.
    pub fn text(&self, show_options: bool) -> String {
        let stats = &self.stats;
        let options = &self.options;
        let cluster = &options.cluster;
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "raftsim seed {}{}",
            options.seed,
            if options.swarm { " (swarm)" } else { "" }
        ));
        line(format!(
            "  cluster   {} nodes{}, tick {} ms, election {} ticks, heartbeat {} ticks, pre-vote {}, check-quorum {}",
            cluster.node_count,
            match cluster.spare_nodes {
                0 => String::new(),
                spares => format!(" ({spares} spare, outside the cluster until added)"),
            },
            cluster.tick_interval_ms,
            cluster.election_ticks,
            cluster.heartbeat_ticks,
            on_off(cluster.pre_vote),
            on_off(cluster.check_quorum)
        ));
        line(format!(
            "  raft      {} elections (highest term {}), committed index {}",
            stats.elections, stats.highest_term, stats.committed_index
        ));
        let raft = &stats.raft_messages;
        line(format!(
            "            {} votes and {} pre-votes requested, {} append rejections, {} snapshots sent ({} installed), {} timeout-now",
            raft.votes_requested,
            raft.pre_votes_requested,
            raft.appends_rejected,
            raft.snapshots_sent,
            raft.snapshots_installed,
            raft.timeout_now_sent
        ));
        let faults = &stats.faults;
        let partitions: Vec<String> = faults
            .partitions
            .iter()
            .map(|(mode, count)| format!("{mode} {count}"))
            .collect();
        line(format!(
            "  faults    {} injected: crashes {} (+{} inside a write), torn writes {}, restarts {}, pauses {}, partitions {} [{}], clogs {}, bit flips {}, bad sectors {}, destroyed nodes {}, leader transfers {}, forced elections {}, membership changes {} ({} nodes removed)",
            faults.total(),
            faults.crashes,
            faults.crashes_during_write,
            faults.torn_writes,
            faults.restarts,
            faults.pauses,
            faults.partitions.values().sum::<u64>(),
            partitions.join(", "),
            faults.clogs,
            faults.bit_flips,
            faults.bad_sectors,
            faults.destroyed_nodes,
            faults.leader_transfers,
            faults.forced_elections,
            faults.membership_changes,
            faults.nodes_removed
        ));
        for (node, reason) in &stats.destroyed {
            line(format!("            node {node} destroyed: {reason}"));
        }
        let network = &stats.network;
        line(format!(
            "  network   {} sent, {} delivered, dropped {} (loss {}, partition {}, capacity {}, node down {}), duplicated {}, clogged {}",
            network.sent,
            network.delivered,
            network.dropped_loss + network.dropped_partition + network.dropped_capacity + network.dropped_node_down,
            network.dropped_loss,
            network.dropped_partition,
            network.dropped_capacity,
            network.dropped_node_down,
            network.duplicated,
            network.clogged
        ));
        line(format!(
            "  disk      {} writes, {} syncs",
            stats.disk_writes, stats.disk_syncs
        ));
        let clients = &stats.clients;
        let closes = if clients.sessions_closed > 0 {
            format!(
                " ({} of them session closes; {} late commands refused for closed sessions)",
                clients.sessions_closed, stats.refused_for_closed_sessions
            )
        } else {
            String::new()
        };
        line(format!(
            "  clients   {} operations: {} ok{closes}, {} failed, {} unknown; {} store audits, {} acknowledgements unverified",
            clients.invoked,
            clients.ok,
            clients.failed,
            clients.unknown,
            stats.store_audits,
            stats.acknowledgements_unverified
        ));
        let checker = match &stats.linearizability {
            None => "not checked".to_string(),
            Some(LinearizabilityOutcome::NotChecked(reason)) => format!("not checked ({reason})"),
            Some(LinearizabilityOutcome::Linearizable { steps }) => {
                format!("linearizable ({steps} search steps)")
            }
            Some(LinearizabilityOutcome::Inconclusive(reason)) => {
                format!("inconclusive ({reason})")
            }
        };
        line(format!("  history   {checker}"));
        for (position, text) in stats.coverage.text().lines().enumerate() {
            let label = if position == 0 { "coverage" } else { "" };
            line(format!("  {label:<9} {text}"));
        }
        if let Some(reason) = &stats.reference_stalled {
            line(format!(
                "  note      reference state machine stalled: {reason}"
            ));
        }
        let speed = if stats.wall_ms == 0 {
            "-".to_string()
        } else {
            format!("{:.0}x", stats.simulated_ms as f64 / stats.wall_ms as f64)
        };
        line(format!(
            "  time      simulated {:.1} s, wall {:.3} s ({speed}), {} events, trace hash {:016x}",
            stats.simulated_ms as f64 / 1000.0,
            stats.wall_ms as f64 / 1000.0,
            stats.events,
            stats.trace_hash
        ));
        if show_options {
            line("  options".to_string());
            for (name, value) in options.lines() {
                line(format!("            {name} = {value}"));
            }
        }
        line(format!("  verdict   {}", self.verdict.summary()));
        if self.verdict != Verdict::Pass {
            if !self.trace_tail.is_empty() {
                line("  last events:".to_string());
                for event in &self.trace_tail {
                    line(format!("    {event}"));
                }
            }
            line(format!("  reproduce with: {}", self.reproduce));
        }
        out
    }
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}
