//! The world: one thread, a virtual clock, an event queue, N `kvapp::Node`s over the simulated
//! disk, network and clocks, the clients, the fault injector and the oracles.
//!
//! Each event is one input to one node (a message, a timer, a client request) or one decision of
//! the world (a fault, a restart, the heal). After every input the world runs the node's
//! `process_ready`, hands its messages to the network, routes its answers to the clients, and
//! runs the oracles on what changed. Nothing here reads the wall clock, spawns a thread or
//! iterates a hash map where the order could matter.

use std::time::Instant;

use kvapp::node::{Node, NodeError, Outcome, ReceiveError, RequestId};
use kvapp::store::Command;
use raft::{Entry, EntryType, HardState, Index, MemStorage, NodeId, StateRole, StorageError, Term};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

use crate::clock::SimClock;
use crate::coverage::{world::Point, RunCoverage};
use crate::determinism::{EventRecord, RunningHash};
use crate::disk::{IoState, SimDisk};
use crate::event::{Event, EventQueue};
use crate::faults::{damage_offset, FaultAction, FaultInjector, Targets};
use crate::history::History;
use crate::linearizability;
use crate::liveness::{converged, NodeProgress};
use crate::network::Network;
use crate::options::RunOptions;
use crate::oracles::invariants::{EntryDigest, Invariants, Slot};
use crate::oracles::reference::Reference;
use crate::oracles::{Property, Violation};
use crate::partition::Connectivity;
use crate::process::{node_config, Life, Outgoing, Process, SimNode, SimTransport};
use crate::random::{derive_seed, SimRng, Stream};
use crate::report::{RunReport, RunStats, Verdict};
use crate::schedule::{self, Action, FaultPlan, NodeRef, Plan, Tick};
use crate::trace::{Trace, TraceItem};
use crate::workload::{Next, Request, Workload};

mod membership;
mod promises;
mod scheduled;

use membership::MembershipChange;
use promises::{PromiseWatch, StepContext};
use scheduled::partition_entry;

/// How often the liveness phase looks for convergence.
const LIVENESS_CHECK_INTERVAL_MS: u64 = 50;
/// Messages a paused node buffers; more are dropped, as a full socket buffer would.
const PAUSED_INBOX_MESSAGES_MAX: usize = 4_096;

/// Why the run stops.
#[derive(Debug)]
enum Stop {
    Violation(Violation),
    Liveness(String),
    Converged,
}

impl From<Violation> for Stop {
    fn from(violation: Violation) -> Stop {
        Stop::Violation(violation)
    }
}

/// One input to a node.
enum Input<'a> {
    Receive { from: NodeId, bytes: &'a [u8] },
    Timers,
    Submit(Request),
    TransferLeader(NodeId),
    Campaign,
    ConfChange(raft::ConfChange),
}

/// A client request a node is working on.
#[derive(Clone, Debug)]
struct PendingRequest {
    client: u64,
    attempt: u64,
    command: Option<Command>,
    /// The highest index committed anywhere when the request was made: a read confirmed by
    /// ReadIndex must be at or past it (Raft thesis §6.4).
    committed_when_asked: Index,
}

/// What a node's log said about newly committed indexes before `process_ready` (which may
/// compact them away).
struct CommitCapture {
    first: Index,
    slots: Vec<Slot>,
}

fn slot(log: &raft::log::RaftLog<MemStorage>, index: Index) -> Slot {
    match log.term(index) {
        Ok(term) => Slot::Term(term),
        Err(StorageError::Compacted) => Slot::Compacted,
        Err(
            StorageError::Unavailable
            | StorageError::SnapshotOutOfDate
            | StorageError::SnapshotTemporarilyUnavailable,
        ) => Slot::Beyond,
    }
}

/// A leader appends a configuration change only when no other one in its log is unapplied
/// (one change at a time, Raft thesis §4.1): `appended` are the entries it just appended.
fn one_pending_conf_change(
    node: NodeId,
    log: &raft::log::RaftLog<MemStorage>,
    appended: &[Entry],
) -> Result<(), Violation> {
    for entry in appended
        .iter()
        .filter(|entry| entry.entry_type == EntryType::ConfChange)
    {
        let unapplied = log
            .slice(log.applied + 1, entry.index, u64::MAX)
            .unwrap_or_default();
        if let Some(other) = unapplied
            .iter()
            .find(|other| other.entry_type == EntryType::ConfChange)
        {
            return Err(Violation::at(
                Property::ConfChangesPending,
                node,
                format!(
                    "leader {node} appended a configuration change at index {} while the one \
                     at index {} was not applied yet (applied {})",
                    entry.index, other.index, log.applied
                ),
            ));
        }
    }
    Ok(())
}

/// A read confirmed at `read_index` must see every entry committed when it was asked for
/// (`committed_when_asked`): ReadIndex takes the leader's commit index after it committed in its
/// term, which covers everything any leader committed before (Raft thesis §6.4).
fn check_read_index(
    node: NodeId,
    read_index: Index,
    committed_when_asked: Index,
) -> Result<(), Violation> {
    if read_index >= committed_when_asked {
        return Ok(());
    }
    Err(Violation::at(
        Property::ReadIndexBehindCommit,
        node,
        format!(
            "node {node} served a read at index {read_index}, but index {committed_when_asked} \
             was already committed when the read was asked for"
        ),
    ))
}

fn data_hash(entry: &Entry) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u8(match entry.entry_type {
        EntryType::Normal => 0,
        EntryType::ConfChange => 1,
    });
    hasher.write(&entry.data);
    hasher.finish()
}

fn digest(entry: &Entry) -> EntryDigest {
    EntryDigest {
        index: entry.index,
        term: entry.term,
        data_hash: data_hash(entry),
    }
}

/// Entries seen appended anywhere, by (index, term), kept until the reference has applied their
/// index: a run's memory then grows with its uncommitted tail, not with its length.
#[derive(Debug)]
struct Archive {
    entries: FxHashMap<(Index, Term), Entry>,
    /// Entries at or below the reference's applied index are dropped when the map reaches this
    /// size; the bound then doubles over what is left, so pruning costs amortised constant time.
    prune_at: usize,
}

impl Default for Archive {
    fn default() -> Archive {
        Archive {
            entries: FxHashMap::default(),
            prune_at: ARCHIVE_PRUNE_AT_MIN,
        }
    }
}

/// The smallest size at which [`Archive`] prunes.
const ARCHIVE_PRUNE_AT_MIN: usize = 1024;

impl Archive {
    /// Keeps `entry` unless the reference, at `applied`, is past it.
    fn keep(&mut self, entry: &Entry, applied: Index) {
        if entry.index > applied {
            self.entries
                .entry((entry.index, entry.term))
                .or_insert_with(|| entry.clone());
        }
    }

    fn prune(&mut self, applied: Index) {
        if self.entries.len() >= self.prune_at {
            self.entries.retain(|&(index, _), _| index > applied);
            self.prune_at = (2 * self.entries.len()).max(ARCHIVE_PRUNE_AT_MIN);
        }
    }
}

/// What the world remembers of one node for coverage points that span a crash.
#[derive(Clone, Debug, Default)]
struct Watch {
    /// When the node last crashed.
    crashed_at_ms: Option<u64>,
    /// Its hard state and last index in memory when it crashed.
    held_at_crash: Option<(HardState, Index)>,
    /// A term in which the node voted and then lost that vote in a crash.
    vote_lost_in_term: Option<Term>,
}

/// One simulated run.
pub struct World {
    options: RunOptions,
    now_ms: u64,
    queue: EventQueue,
    processes: Vec<Process>,
    network: Network,
    workload: Workload,
    faults: FaultInjector,
    invariants: Invariants,
    reference: Reference,
    /// The entries seen appended anywhere that the reference may still need.
    archive: Archive,
    /// An empty outbox kept for swapping with a node's after each step.
    spare_outbox: Vec<Outgoing>,
    /// A message's outline for the oracles, kept to reuse its entry list.
    spare_outline: raft::codec::MessageOutline,
    history: History,
    requests: FxHashMap<(NodeId, u64, RequestId), PendingRequest>,
    trace: Trace,
    hash: RunningHash,
    events: u64,
    records: Option<Vec<EventRecord>>,
    partition_epoch: u64,
    healed_at_ms: Option<u64>,
    audit_next: Vec<Index>,
    stats: RunStats,
    started: Option<Instant>,
    /// The node being called into, so that a panic report can name it.
    current_node: Option<NodeId>,
    /// Scheduled ticks (empty when the faults are random) and the next one to fire.
    ticks: Vec<Tick>,
    next_tick: usize,
    /// Faults come from `ticks` rather than the injector's draws.
    scheduled: bool,
    /// A scheduled crash's restart delay, per node, until the crash happens.
    scheduled_restart_ms: Vec<Option<u64>>,
    /// When recording: every injected fault as a schedule entry.
    recorded: Option<Vec<schedule::Entry>>,
    /// When recording: per node, the entry of a crash whose restart delay is not known yet.
    crash_entry: Vec<Option<usize>>,
    /// What the run explored.
    coverage: RunCoverage,
    /// Per node, what coverage points that span a crash need.
    watches: Vec<Watch>,
    /// Sends so far (each message handed to the network gets the next number).
    sends: u64,
    /// Sends the network duplicated, with the copies that reached raft so far.
    duplicated_sends: FxHashMap<u64, u8>,
    /// Per directed link (`from * n + to`, zero-based), the newest send that reached raft.
    newest_delivered: Vec<u64>,
    /// The latest leaders seen elected, oldest first: (time, node); at most three.
    recent_leaders: Vec<(u64, NodeId)>,
    /// The oracles of Raft's optional features.
    promises: PromiseWatch,
    /// Per node, the applied index at which its configuration was last audited.
    configuration_audited: Vec<Option<Index>>,
}

/// A node at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeEnd {
    /// The node.
    pub node: NodeId,
    /// `up`, `paused`, `down`, `destroyed` or `removed`.
    pub state: &'static str,
    /// Its commit index (0 unless up).
    pub commit: Index,
    /// Its applied index (0 unless up).
    pub applied: Index,
}

impl World {
    /// A world for `options`; `print_trace` prints every event as it happens, `record` keeps
    /// a record of every event for the determinism check.
    pub fn new(options: RunOptions, print_trace: bool, record: bool) -> World {
        let plan = Plan::random(options.seed);
        World::with_plan(options, print_trace, record, plan)
    }

    /// A world for `options` whose faults and clients follow `plan`. With scheduled faults the
    /// injector draws nothing (it still draws each node's clock drift and the corruptible
    /// minority, as in a random run): each tick of the plan fires at its time, where a random
    /// run would have drawn a fault tick.
    pub fn with_plan(options: RunOptions, print_trace: bool, record: bool, plan: Plan) -> World {
        let seed = options.seed;
        let node_count = options.cluster.node_count.max(1);
        let mut faults = FaultInjector::new(
            options.faults.clone(),
            options.disk.clone(),
            node_count,
            SimRng::stream(seed, Stream::Faults, 0),
        );
        let drifts = faults.drifts();
        let processes = (1..=node_count)
            .map(|id| {
                let io = IoState::new();
                let disk = SimDisk::new(
                    options.disk.sector_size_bytes,
                    options.disk.sync_latency_ms_max,
                    SimRng::stream(seed, Stream::Disk, id),
                    io.clone(),
                );
                // A spare waits outside the cluster until a membership change adds it.
                let spare = id > options.cluster.founding_nodes();
                Process {
                    id,
                    life: if spare {
                        Life::Removed(Box::new(disk))
                    } else {
                        Life::Down(Box::new(disk))
                    },
                    incarnation: 0,
                    io,
                    clock: SimClock::new(),
                    drift: drifts[id as usize - 1],
                    paused_until_ms: None,
                    inbox: Vec::new(),
                    damaged: false,
                    damaged_files: Vec::new(),
                    restart_pending: false,
                    timer_at_ms: 0,
                    member: !spare,
                    joining: spare,
                    rejoin_after_index: 0,
                }
            })
            .collect();
        World {
            network: Network::new(
                options.network.clone(),
                node_count as usize,
                SimRng::stream(seed, Stream::Network, 0),
            ),
            workload: {
                let workload = Workload::new(
                    options.workload.clone(),
                    node_count,
                    SimRng::stream(plan.workload_seed, Stream::Workload, 0),
                );
                if plan.generator {
                    workload
                } else {
                    workload.without_generator()
                }
            },
            faults,
            invariants: Invariants::new(node_count as usize),
            reference: Reference::new(),
            archive: Archive::default(),
            history: History::default(),
            requests: FxHashMap::default(),
            trace: Trace::new(print_trace),
            hash: RunningHash::default(),
            events: 0,
            records: record.then(Vec::new),
            partition_epoch: 0,
            healed_at_ms: None,
            audit_next: vec![0; node_count as usize],
            stats: RunStats {
                nodes: node_count,
                ..RunStats::default()
            },
            started: None,
            current_node: None,
            spare_outbox: Vec::new(),
            spare_outline: raft::codec::MessageOutline::default(),
            scheduled: matches!(plan.faults, FaultPlan::Scheduled(_)),
            ticks: match plan.faults {
                FaultPlan::Random => Vec::new(),
                FaultPlan::Scheduled(ticks) => ticks,
            },
            next_tick: 0,
            scheduled_restart_ms: vec![None; node_count as usize],
            recorded: plan.record_schedule.then(Vec::new),
            crash_entry: vec![None; node_count as usize],
            coverage: RunCoverage::default(),
            watches: vec![Watch::default(); node_count as usize],
            sends: 0,
            duplicated_sends: FxHashMap::default(),
            newest_delivered: vec![0; (node_count * node_count) as usize],
            recent_leaders: Vec::new(),
            promises: PromiseWatch::new(&options.cluster),
            configuration_audited: vec![None; node_count as usize],
            now_ms: 0,
            queue: EventQueue::new(),
            processes,
            options,
        }
    }

    /// The event records (when recording).
    pub fn records(&self) -> &[EventRecord] {
        self.records.as_deref().unwrap_or(&[])
    }

    /// The client history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Every fault injected so far as a schedule entry (when the plan asked to record).
    pub fn recorded_schedule(&self) -> Option<&[schedule::Entry]> {
        self.recorded.as_deref()
    }

    /// What the run explored so far: every node life's counters (those of running nodes
    /// included) and the world's.
    pub fn coverage(&self) -> RunCoverage {
        let mut coverage = self.coverage.clone();
        for process in &self.processes {
            if let Some(node) = process.node() {
                coverage.add_node(node.raw().coverage(), node.coverage());
            }
            if process.io.damaged_reads() > 0 {
                coverage.hit(Point::DamagedDataRead);
            }
        }
        coverage
    }

    /// Each term's leader, as the oracles saw it.
    pub fn leaders_by_term(&self) -> std::collections::BTreeMap<Term, NodeId> {
        self.invariants.leaders()
    }

    /// The highest index any running node has compacted its log up to (a snapshot replaced
    /// the entries before its log's first index).
    pub fn compacted_index(&self) -> Index {
        self.processes
            .iter()
            .filter_map(|process| process.node())
            .map(|node| node.raw().raft.raft_log.first_index() - 1)
            .max()
            .unwrap_or(0)
    }

    /// Each node's state and indexes now.
    pub fn node_ends(&self) -> Vec<NodeEnd> {
        self.processes
            .iter()
            .map(|process| {
                let state = match &process.life {
                    Life::Up(_) if process.paused_until_ms.is_some() => "paused",
                    Life::Up(_) => "up",
                    Life::Down(_) => "down",
                    Life::Destroyed(_) => "destroyed",
                    Life::Removed(_) => "removed",
                };
                let node = process.node();
                NodeEnd {
                    node: process.id,
                    state,
                    commit: node.map_or(0, |node| node.raw().raft.raft_log.committed),
                    applied: node.map_or(0, SimNode::applied_index),
                }
            })
            .collect()
    }

    /// Runs to the end and returns the verdict.
    pub fn run(&mut self) -> Verdict {
        self.started = Some(Instant::now());
        let stop = match self.start() {
            Ok(()) => self.event_loop(),
            Err(stop) => stop,
        };
        self.conclude(stop)
    }

    fn event_loop(&mut self) -> Stop {
        loop {
            if self.events >= self.options.events_max {
                return Stop::Liveness(format!(
                    "event budget of {} events exhausted at {} ms",
                    self.options.events_max, self.now_ms
                ));
            }
            let Some(scheduled) = self.queue.pop() else {
                return Stop::Liveness("the event queue ran dry".to_string());
            };
            self.now_ms = scheduled.time_ms;
            self.hash
                .absorb(scheduled.time_ms, scheduled.sequence, &scheduled.event);
            let index = self.events;
            self.events += 1;
            if let Some(records) = &mut self.records {
                records.push(EventRecord {
                    index,
                    time_ms: scheduled.time_ms,
                    tag: scheduled.event.tag(),
                    operands: scheduled.event.operands(),
                    hash: self.hash.0,
                });
            }
            let result = self.dispatch(&scheduled.event);
            self.trace.push(TraceItem::Event {
                time_ms: scheduled.time_ms,
                index,
                event: scheduled.event,
            });
            if let Err(stop) = result {
                return stop;
            }
        }
    }

    /// What happened, with counters; call after [`World::run`].
    pub fn report(&mut self, verdict: Verdict, reproduce: String) -> RunReport {
        let mut stats = std::mem::take(&mut self.stats);
        stats.elections = self.invariants.stats.elections;
        stats.highest_term = self.invariants.stats.highest_term;
        stats.committed_index = self.invariants.committed_index();
        stats.network = self.network.stats.clone();
        stats.faults = self.faults.stats.clone();
        for process in &self.processes {
            let disk = match &process.life {
                Life::Up(node) => Some(node.disk()),
                Life::Down(disk) => Some(&**disk),
                Life::Destroyed(_) | Life::Removed(_) => None,
            };
            if let Some(disk) = disk {
                stats.disk_writes += disk.stats.writes;
                stats.disk_syncs += disk.stats.syncs;
            }
        }
        stats.clients = self.history.counts();
        stats.coverage = self.coverage();
        stats.reference_stalled = self.reference.stalled().map(str::to_string);
        stats.acknowledgements_unverified = self.reference.unverified_acknowledgements() as u64;
        stats.refused_for_closed_sessions = self.reference.refused_for_closed_sessions();
        stats.simulated_ms = self.now_ms;
        stats.wall_ms = self
            .started
            .map_or(0, |started| started.elapsed().as_millis() as u64);
        stats.events = self.events;
        stats.trace_hash = self.hash.0;
        let trace_tail = if verdict == Verdict::Pass {
            Vec::new()
        } else {
            self.trace.tail_lines()
        };
        RunReport {
            options: self.options.clone(),
            verdict,
            stats,
            trace_tail,
            reproduce,
        }
    }

    /// The node the world was calling into when it stopped (for panic reports), and the time.
    pub fn panic_context(&self) -> String {
        match self.current_node {
            Some(node) => format!("node {node} at {} ms", self.now_ms),
            None => format!("the world at {} ms", self.now_ms),
        }
    }

    /// The last events, formatted (for panic reports).
    pub fn trace_tail(&self) -> Vec<String> {
        self.trace.tail_lines()
    }

    // ----- Start and end ---------------------------------------------------------------------

    fn start(&mut self) -> Result<(), Stop> {
        for id in 1..=self.processes.len() as NodeId {
            self.open(id)?;
        }
        if self.workload.has_generator() {
            for (client, delay_ms) in self.workload.first_wakes() {
                self.queue.push(delay_ms, Event::ClientWake { client });
            }
        }
        let window = self.options.faults.fault_window_ms;
        if self.scheduled {
            if let Some(first) = self.ticks.first() {
                self.queue.push(first.at_ms, Event::FaultTick);
            }
        } else {
            let delay = self.faults.next_tick_delay_ms();
            if delay < window {
                self.queue.push(delay, Event::FaultTick);
            }
        }
        self.queue.push(window, Event::Heal);
        Ok(())
    }

    fn conclude(&mut self, stop: Stop) -> Verdict {
        self.workload.finish(&mut self.history);
        let verdict = match stop {
            Stop::Violation(violation) => Verdict::SafetyViolation(violation),
            Stop::Liveness(reason) => Verdict::LivenessFailure(reason),
            Stop::Converged => match self.final_checks() {
                Ok(()) => Verdict::Pass,
                Err(violation) => Verdict::SafetyViolation(violation),
            },
        };
        self.trace
            .note(self.now_ms, format!("verdict: {}", verdict.summary()));
        verdict
    }

    fn final_checks(&mut self) -> Result<(), Violation> {
        for process in &self.processes {
            if let Some(node) = process.node() {
                self.stats.store_audits += 1;
                self.reference
                    .check_store(process.id, node.applied_index(), node.store())?;
            }
        }
        let outcome = linearizability::check(&self.history, self.options.checker_steps_max)?;
        self.stats.linearizability = Some(outcome);
        Ok(())
    }

    // ----- Dispatch --------------------------------------------------------------------------

    fn dispatch(&mut self, event: &Event) -> Result<(), Stop> {
        match event {
            Event::Deliver {
                from,
                to,
                bytes,
                send,
            } => self.deliver(*from, *to, bytes, *send),
            Event::Timer { node, incarnation } => self.timer(*node, *incarnation),
            Event::ClientWake { client } => self.client_wake(*client),
            Event::ClientTimeout { client, attempt } => {
                let next = self.workload.on_timeout(*client, *attempt, self.now_ms);
                self.client_next(*client, next);
                Ok(())
            }
            Event::FaultTick => self.fault_tick(),
            Event::Restart { node } => self.restart(*node),
            Event::Resume { node } => self.resume(*node),
            Event::PartitionEnd { epoch } => {
                if *epoch == self.partition_epoch {
                    self.disturbed();
                    self.network
                        .partition(Connectivity::full(self.processes.len()));
                    self.trace
                        .note(self.now_ms, format!("partition {epoch} healed"));
                }
                Ok(())
            }
            Event::Heal => self.heal(),
            Event::LivenessCheck => self.liveness_check(),
        }
    }

    fn process(&mut self, id: NodeId) -> &mut Process {
        &mut self.processes[id as usize - 1]
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, bytes: &[u8], send: u64) -> Result<(), Stop> {
        if !self.network.arrive(from, to) {
            self.disturbed();
            return Ok(());
        }
        let process = &mut self.processes[to as usize - 1];
        if process.node().is_none() {
            self.network.stats.dropped_node_down += 1;
            self.disturbed();
            return Ok(());
        }
        if process.paused_until_ms.is_some() {
            if process.inbox.len() < PAUSED_INBOX_MESSAGES_MAX {
                process.inbox.push((from, bytes.to_vec()));
            } else {
                self.network.stats.dropped_capacity += 1;
            }
            return Ok(());
        }
        self.network.stats.delivered += 1;
        // Only a snapshot message carries a snapshot (raft's `send_snapshot` is the one place
        // that attaches one), so the type, read from the first byte or two, spares every other
        // message a second full decode just for this count.
        let snapshot_index = match raft::codec::peek_message_type(bytes) {
            Ok(raft::MessageType::Snapshot) => raft::codec::decode_message(bytes)
                .ok()
                .and_then(|message| message.snapshot)
                .map(|snapshot| snapshot.metadata.index),
            _ => None,
        };
        let applied_before = self.process(to).node().map_or(0, SimNode::applied_index);
        self.step_node(to, Input::Receive { from, bytes }, None)?;
        self.note_delivery(from, to, send);
        if let Some(snapshot_index) = snapshot_index {
            let applied_after = self.process(to).node().map_or(0, SimNode::applied_index);
            if applied_before < snapshot_index && applied_after >= snapshot_index {
                self.stats.raft_messages.snapshots_installed += 1;
            }
        }
        Ok(())
    }

    /// Coverage of a message that reached raft: a network duplicate's second copy, or a
    /// message overtaken by a later one on its link.
    fn note_delivery(&mut self, from: NodeId, to: NodeId, send: u64) {
        if let Some(copies) = self.duplicated_sends.get_mut(&send) {
            *copies += 1;
            if *copies >= 2 {
                self.duplicated_sends.remove(&send);
                self.coverage.hit(Point::DuplicateDelivered);
                return;
            }
        }
        let link = ((from - 1) * self.processes.len() as u64 + (to - 1)) as usize;
        let newest = &mut self.newest_delivered[link];
        if send < *newest {
            self.coverage.hit(Point::ReorderedDelivered);
        } else {
            *newest = send;
        }
    }

    fn timer(&mut self, id: NodeId, incarnation: u64) -> Result<(), Stop> {
        let now = self.now_ms;
        let process = self.process(id);
        if process.incarnation != incarnation
            || process.timer_at_ms != now
            || process.node().is_none()
            || process.paused_until_ms.is_some()
        {
            return Ok(());
        }
        self.step_node(id, Input::Timers, None)?;
        self.schedule_timer(id);
        Ok(())
    }

    fn schedule_timer(&mut self, id: NodeId) {
        let now = self.now_ms;
        let process = self.process(id);
        let Some(node) = process.node() else {
            return;
        };
        let at = process.drift.global_ms(node.next_timer_ms()).max(now + 1);
        process.timer_at_ms = at;
        let incarnation = process.incarnation;
        self.queue.push(
            at,
            Event::Timer {
                node: id,
                incarnation,
            },
        );
    }

    // ----- One input to one node -------------------------------------------------------------

    fn step_node(
        &mut self,
        id: NodeId,
        input: Input<'_>,
        pending: Option<PendingRequest>,
    ) -> Result<(), Stop> {
        let now = self.now_ms;
        self.current_node = Some(id);
        let process = &mut self.processes[id as usize - 1];
        let incarnation = process.incarnation;
        process.clock.set(process.drift.local_ms(now));
        if process.node().is_none() {
            return Ok(());
        }
        let context = self.before_step(id, &input);
        let node = self.processes[id as usize - 1]
            .node_mut()
            .expect("the node is up");
        match input {
            Input::Receive { bytes, .. } => match node.receive(bytes) {
                Ok(()) => {}
                Err(ReceiveError::Refused(error)) => {
                    self.stats.messages_refused += 1;
                    self.trace
                        .note(now, format!("node {id} refused a message: {error}"));
                }
                Err(error @ (ReceiveError::Decode(_) | ReceiveError::WrongRecipient { .. })) => {
                    return Err(Violation::at(
                        Property::UnexpectedError,
                        id,
                        format!("a message sent by a node was rejected: {error}"),
                    )
                    .into())
                }
            },
            Input::Timers => node.poll_timers(),
            Input::TransferLeader(to) => node.transfer_leader(to),
            // The outcome comes back as a completion nobody waits for.
            Input::ConfChange(change) => {
                node.propose_conf_change(change);
            }
            // Refused when the node cannot campaign (a learner, or not in the configuration).
            Input::Campaign => {
                let _ = node.campaign();
            }
            Input::Submit(request) => {
                let request_id = match request {
                    Request::Command(command) => node.submit(command),
                    Request::Read { key } => node.read(key, false),
                };
                if let Some(pending) = pending {
                    self.requests.insert((id, incarnation, request_id), pending);
                }
            }
        }
        self.observe_appended(id)?;
        let capture = self.capture_commit(id);
        let node = self.processes[id as usize - 1]
            .node_mut()
            .expect("the node is up");
        let ready = node.process_ready();
        let result = self.after_activity(id, ready, capture, &context);
        self.current_node = None;
        result
    }

    /// Log matching on the entries raft appended since the last `process_ready` (they are all
    /// in the unstable log until it runs).
    fn observe_appended(&mut self, id: NodeId) -> Result<(), Violation> {
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let log = &node.raw().raft.raft_log;
        let entries = log.unstable_entries();
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let previous_term = log.term(first.index - 1).unwrap_or(0);
        let applied = self.reference.applied();
        for entry in entries {
            self.archive.keep(entry, applied);
        }
        if node.is_leader() {
            one_pending_conf_change(id, log, entries)?;
        }
        self.invariants
            .observe_appended(id, previous_term, entries.iter().map(digest))
    }

    fn capture_commit(&self, id: NodeId) -> CommitCapture {
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let log = &node.raw().raft.raft_log;
        let first = self.invariants.node_commit(id) + 1;
        let slots = (first..=log.committed)
            .map(|index| slot(log, index))
            .collect();
        CommitCapture { first, slots }
    }

    fn after_activity(
        &mut self,
        id: NodeId,
        ready: Result<(), NodeError>,
        capture: CommitCapture,
        context: &StepContext,
    ) -> Result<(), Stop> {
        let crashed = self.processes[id as usize - 1].io.crashed();
        if let Err(error) = &ready {
            if !crashed {
                return Err(Violation::at(
                    Property::UnexpectedError,
                    id,
                    format!("process_ready failed without an injected fault: {error}"),
                )
                .into());
            }
        }
        // Swapped with the world's spare vector rather than taken, so that neither side
        // allocates a new outbox on every step.
        let mut outbox = std::mem::take(&mut self.spare_outbox);
        std::mem::swap(
            &mut outbox,
            &mut self.processes[id as usize - 1]
                .node_mut()
                .expect("the node is up")
                .transport_mut()
                .outbox,
        );
        // The fsync time of this burst delayed what it sent; the next burst starts afresh.
        self.processes[id as usize - 1].io.take_latency_ms();
        // Each message is read once, into the world's spare outline (no payload copied, no
        // allocation once its entry list has room), for the oracles and for the counts.
        let mut outline = std::mem::take(&mut self.spare_outline);
        let mut checked = Ok(());
        for outgoing in outbox.drain(..) {
            let kind = if raft::codec::outline_message_into(&outgoing.bytes, &mut outline).is_ok() {
                if checked.is_ok() {
                    checked = self.check_outgoing(id, &outline, &outgoing, context);
                }
                Some((outline.msg_type, outline.reject))
            } else {
                raft::codec::peek_message_type(&outgoing.bytes)
                    .ok()
                    .map(|msg_type| (msg_type, false))
            };
            self.send(id, outgoing, kind);
        }
        self.spare_outline = outline;
        self.spare_outbox = outbox;
        checked?;
        self.observe_node(id, crashed, &capture)?;
        self.start_committed_members()?;
        if !crashed {
            self.after_step(id, context)?;
        }
        self.route_completions(id)?;
        if !crashed && self.applied_own_removal(id) && self.may_leave(id) {
            self.remove(id);
            return Ok(());
        }
        if crashed {
            self.coverage.hit(Point::CrashInsideDiskOperation);
            let operation = self.processes[id as usize - 1]
                .io
                .struck_operation()
                .unwrap_or_default();
            self.crash(id, &format!("power lost inside disk operation {operation}"));
        }
        Ok(())
    }

    /// Hands `outgoing` to the network; `kind` is its type and reject flag, as the caller read
    /// them, for the counts.
    fn send(&mut self, from: NodeId, outgoing: Outgoing, kind: Option<(raft::MessageType, bool)>) {
        let Outgoing {
            to,
            bytes,
            latency_ms,
            ..
        } = outgoing;
        if let Some((msg_type, reject)) = kind {
            let reject = msg_type == raft::MessageType::AppendResponse && reject;
            self.stats.raft_messages.count_sent(msg_type, reject);
        }
        let dropped_before = self.network.stats.dropped();
        let arrivals = self
            .network
            .send(self.now_ms + latency_ms, from, to, bytes.len());
        // A lost message, or one slow enough to matter, may legitimately start an election.
        if self.network.stats.dropped() > dropped_before {
            self.disturbed();
        }
        let quiet_ms = self.now_ms + self.promises.stability.quiet_delay_ms_max();
        if let Some(&slowest) = arrivals.as_slice().iter().max() {
            if slowest > quiet_ms {
                self.promises.stability.disturbed(slowest);
            }
        }
        self.sends += 1;
        let send = self.sends;
        match arrivals.as_slice() {
            [] => {}
            [at] => self.queue.push(
                *at,
                Event::Deliver {
                    from,
                    to,
                    bytes,
                    send,
                },
            ),
            [rest @ .., last] => {
                self.duplicated_sends.insert(send, 0);
                for at in rest {
                    self.queue.push(
                        *at,
                        Event::Deliver {
                            from,
                            to,
                            bytes: bytes.clone(),
                            send,
                        },
                    );
                }
                self.queue.push(
                    *last,
                    Event::Deliver {
                        from,
                        to,
                        bytes,
                        send,
                    },
                );
            }
        }
    }

    /// Runs the oracles on one node after an input. A node that died inside a disk operation
    /// is judged only up to what it applied: its commit index may cover entries that never
    /// reached its disk (see `oracles::invariants`), and a leadership won in that step does
    /// not count.
    fn observe_node(
        &mut self,
        id: NodeId,
        crashed: bool,
        capture: &CommitCapture,
    ) -> Result<(), Violation> {
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let raft = &node.raw().raft;
        let log = &raft.raft_log;
        // Leadership won in a step the node died in never left the node: the vote for itself
        // may not have reached the disk, nothing was sent, and the node restarts as a follower,
        // perhaps free to vote again in that term. Only a leader that lived through its step
        // counts.
        let is_leader = raft.role == StateRole::Leader && !crashed;
        let elections_before = self.invariants.stats.elections;
        self.invariants
            .observe_role(id, raft.term, is_leader, |index| slot(log, index))?;
        let elected = self.invariants.stats.elections > elections_before;
        let applied = node.applied_index();
        let commit = if crashed {
            applied.max(self.invariants.node_commit(id))
        } else {
            log.committed
        };
        self.invariants
            .observe_commit(id, raft.term, commit, |index| {
                let position = index.checked_sub(capture.first).map(|p| p as usize);
                match position.and_then(|position| capture.slots.get(position)) {
                    Some(Slot::Term(term)) => Slot::Term(*term),
                    Some(Slot::Compacted | Slot::Beyond) | None => slot(log, index),
                }
            })?;
        self.invariants.observe_applied(id, applied)?;
        if !crashed && node.disk().is_synced() {
            self.invariants
                .note_durable(id, node.raw().storage().hard_state());
        }
        self.feed_reference()?;
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let audit_next = &mut self.audit_next[id as usize - 1];
        if applied >= *audit_next && applied <= self.reference.applied() {
            *audit_next = applied + self.options.store_audit_interval_entries.max(1);
            self.stats.store_audits += 1;
            self.reference.check_store(id, applied, node.store())?;
        }
        self.audit_configuration(id)?;
        if !crashed {
            self.note_node_coverage(id, elected);
        }
        Ok(())
    }

    /// Every configuration a node acts in is the one its applied log implies: kvapp's and
    /// raft's view of it equal the reference's at the node's applied index.
    fn audit_configuration(&mut self, id: NodeId) -> Result<(), Violation> {
        let Some(node) = self.processes[id as usize - 1].node() else {
            return Ok(());
        };
        let applied = node.applied_index();
        if self.configuration_audited[id as usize - 1] == Some(applied)
            || applied > self.reference.applied()
            || self.reference.stalled().is_some()
        {
            return Ok(());
        }
        self.configuration_audited[id as usize - 1] = Some(applied);
        let expected = self.reference.configuration_at(applied);
        let applied_conf = node.conf_state();
        let raft_conf = node.raw().raft.tracker.conf_state();
        if applied_conf != expected || raft_conf != *expected {
            return Err(Violation::at(
                Property::ConfigurationDiverged,
                id,
                format!(
                    "node {id} at applied index {applied} acts in configuration {raft_conf:?} \
                     (applied: {applied_conf:?}), but its log implies {expected:?}"
                ),
            ));
        }
        Ok(())
    }

    /// Starts the nodes that the newest committed configuration counts but that had shut down
    /// after applying their removal (a change that added one back raced with its removal), as
    /// an operator who added a node would start it.
    fn start_committed_members(&mut self) -> Result<(), Stop> {
        if !self.processes.iter().any(Process::is_removed) {
            return Ok(());
        }
        let (index, conf) = self.reference.latest_configuration();
        let returning: Vec<NodeId> = self
            .processes
            .iter()
            .filter(|process| process.is_removed() && conf.contains(process.id))
            .map(|process| process.id)
            .collect();
        for id in returning {
            self.trace.note(
                self.now_ms,
                format!("node {id} is a member again at index {index}: it starts again"),
            );
            self.rejoin(id);
            self.open(id)?;
            self.process(id).rejoin_after_index = index;
        }
        Ok(())
    }

    /// Coverage points the world sees after a step of node `id`: a vote given again in a term
    /// whose earlier vote a crash lost, and a chain of leader changes (`elected`: the node
    /// just became the first leader of its term).
    fn note_node_coverage(&mut self, id: NodeId, elected: bool) {
        let Some(node) = self.processes[id as usize - 1].node() else {
            return;
        };
        let hard_state = node.raw().raft.hard_state();
        let watch = &mut self.watches[id as usize - 1];
        if let Some(term) = watch.vote_lost_in_term {
            if hard_state.term == term && hard_state.vote != raft::INVALID_ID {
                self.coverage.hit(Point::VoteLostThenGivenAgain);
                watch.vote_lost_in_term = None;
            } else if hard_state.term > term {
                watch.vote_lost_in_term = None;
            }
        }
        if elected {
            self.promises.stability.disturbed(self.now_ms);
            self.workload.on_new_leader(self.now_ms);
            if self.recent_leaders.len() == 3 {
                self.recent_leaders.remove(0);
            }
            self.recent_leaders.push((self.now_ms, id));
            if let [(first_ms, a), (_, b), (last_ms, c)] = self.recent_leaders[..] {
                let cluster = &self.options.cluster;
                let election_ms = cluster.election_ticks as u64 * cluster.tick_interval_ms;
                if a != b && b != c && last_ms - first_ms <= 4 * election_ms {
                    self.coverage.hit(Point::LeaderChain);
                }
            }
        }
    }

    /// Applies newly committed entries to the reference state machine.
    fn feed_reference(&mut self) -> Result<(), Violation> {
        while self.reference.applied() < self.invariants.committed_index()
            && self.reference.stalled().is_none()
        {
            let index = self.reference.applied() + 1;
            let Some(term) = self
                .invariants
                .committed_term(index)
                .filter(|&term| term != 0)
            else {
                break;
            };
            match self.archive.entries.get(&(index, term)) {
                Some(entry) => self.reference.apply(entry)?,
                None => self.reference.stall(format!(
                    "committed entry ({index}, term {term}) was never seen appended"
                )),
            }
        }
        self.archive.prune(self.reference.applied());
        Ok(())
    }

    fn route_completions(&mut self, id: NodeId) -> Result<(), Stop> {
        let process = &mut self.processes[id as usize - 1];
        let incarnation = process.incarnation;
        let node = process.node_mut().expect("the node is up");
        let completions = node.take_completions();
        if completions.is_empty() {
            return Ok(());
        }
        let leader = node.leader_id();
        let applied = node.applied_index();
        for completion in completions {
            let Some(pending) = self.requests.remove(&(id, incarnation, completion.request)) else {
                continue;
            };
            if let (Outcome::Applied(reply), Some(command)) =
                (&completion.outcome, &pending.command)
            {
                self.reference
                    .check_acknowledged(id, applied, command, reply)?;
            }
            if let Some(read_index) = completion.read_index {
                check_read_index(id, read_index, pending.committed_when_asked)?;
            }
            let next = self.workload.on_outcome(
                pending.client,
                pending.attempt,
                &completion.outcome,
                leader,
                self.now_ms,
                &mut self.history,
            );
            self.client_next(pending.client, next);
        }
        Ok(())
    }

    // ----- Clients ---------------------------------------------------------------------------

    fn client_wake(&mut self, client: u64) -> Result<(), Stop> {
        let Some(attempt) = self.workload.wake(client, self.now_ms, &mut self.history) else {
            return Ok(());
        };
        self.queue.push(
            self.now_ms + self.options.workload.client_timeout_ms,
            Event::ClientTimeout {
                client,
                attempt: attempt.attempt,
            },
        );
        let process = &self.processes[attempt.node as usize - 1];
        if process.node().is_none() {
            // Connection refused: certainly not applied.
            let next = self.workload.on_outcome(
                client,
                attempt.attempt,
                &Outcome::Failed("connection refused".to_string()),
                0,
                self.now_ms,
                &mut self.history,
            );
            self.client_next(client, next);
            return Ok(());
        }
        if process.paused_until_ms.is_some() {
            // The request sits in a socket nobody reads; the client times out.
            return Ok(());
        }
        let command = match &attempt.request {
            Request::Command(command) => Some(command.clone()),
            Request::Read { .. } => None,
        };
        let pending = PendingRequest {
            client,
            attempt: attempt.attempt,
            command,
            committed_when_asked: self.invariants.committed_index(),
        };
        self.step_node(attempt.node, Input::Submit(attempt.request), Some(pending))
    }

    fn client_next(&mut self, client: u64, next: Next) {
        match next {
            Next::WakeAt(at) => self.queue.push(at, Event::ClientWake { client }),
            Next::Idle | Next::Ignored => {}
        }
    }

    // ----- Processes -------------------------------------------------------------------------

    /// Starts node `id` from its disk (a new one bootstraps the cluster).
    fn open(&mut self, id: NodeId) -> Result<(), Stop> {
        self.disturbed();
        let now = self.now_ms;
        let seed = self.options.seed;
        let config_options = self.options.cluster.clone();
        let process = self.process(id);
        process.restart_pending = false;
        let disk = match std::mem::replace(&mut process.life, Life::Destroyed(String::new())) {
            Life::Down(disk) => *disk,
            other => {
                process.life = other;
                return Ok(());
            }
        };
        process.io.reset();
        process.incarnation += 1;
        let raft_seed = derive_seed(seed, Stream::Raft, (id << 32) | process.incarnation);
        let mut config = node_config(&config_options, id, raft_seed);
        config.join = process.joining;
        process.clock.set(process.drift.local_ms(now));
        let transport = SimTransport::new(process.io.clone());
        let clock = process.clock.clone();
        self.current_node = Some(id);
        let opened = Node::open(config, disk, transport, clock);
        self.current_node = None;
        let process = &mut self.processes[id as usize - 1];
        match opened {
            Ok(node) => {
                // The term on its disk was reached before (the bootstrap's term 1 at first).
                let durable_term = node.raw().raft.term;
                self.promises.term_origins.campaigned(durable_term);
                self.promises
                    .node_started(id, process.drift.local_ms(now), durable_term);
                process.life = Life::Up(Box::new(node));
                if process.incarnation > 1 {
                    self.faults.stats.restarts += 1;
                }
                self.coverage
                    .world
                    .hit_if(process.damaged, Point::DamagedDiskRecovered);
                let cluster = &self.options.cluster;
                let election_ms = cluster.election_ticks as u64 * cluster.tick_interval_ms;
                if let Some(crashed_at_ms) = self.watches[id as usize - 1].crashed_at_ms.take() {
                    self.coverage.world.hit_if(
                        now - crashed_at_ms < election_ms,
                        Point::RestartWithinElectionTimeout,
                    );
                }
            }
            Err(error) => {
                if process.damaged {
                    self.coverage.hit(Point::DamagedDiskRefused);
                    let reason = format!("recovery refused the damaged disk: {error}");
                    let named = process
                        .damaged_files
                        .iter()
                        .any(|file| reason.contains(file.as_str()));
                    if !named {
                        return Err(Violation::at(
                            Property::RecoveryFailed,
                            id,
                            format!(
                                "node {id} refused its disk, damaged in {:?}, with an error that \
                                 names none of those files: {error}",
                                process.damaged_files
                            ),
                        )
                        .into());
                    }
                    process.life = Life::Destroyed(reason.clone());
                    self.faults.stats.destroyed_nodes += 1;
                    self.stats.destroyed.push((id, reason.clone()));
                    self.trace
                        .note(now, format!("node {id} destroyed: {reason}"));
                    return Ok(());
                }
                return Err(Violation::at(
                    Property::RecoveryFailed,
                    id,
                    format!("node failed to open a disk no fault damaged: {error}"),
                )
                .into());
            }
        }
        self.observe_restart(id)?;
        self.schedule_timer(id);
        Ok(())
    }

    fn observe_restart(&mut self, id: NodeId) -> Result<(), Violation> {
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let raft = &node.raw().raft;
        let log = &raft.raft_log;
        let first = log.first_index();
        let entries = log
            .slice(first, log.last_index() + 1, u64::MAX)
            .unwrap_or_default();
        let previous_term = log.term(first - 1).unwrap_or(0);
        let applied = self.reference.applied();
        for entry in &entries {
            self.archive.keep(entry, applied);
        }
        let watch = &mut self.watches[id as usize - 1];
        if let Some((held, held_last_index)) = watch.held_at_crash.take() {
            let recovered = raft.hard_state();
            let same_vote = recovered.term == held.term && recovered.vote == held.vote;
            if recovered.term < held.term || !same_vote {
                self.coverage.hit(Point::CrashLostUnsyncedHardState);
                if held.vote != raft::INVALID_ID && !same_vote {
                    watch.vote_lost_in_term = Some(held.term);
                }
            }
            self.coverage.world.hit_if(
                log.last_index() < held_last_index,
                Point::CrashLostUnsyncedEntries,
            );
        }
        self.invariants.observe_restart(
            id,
            raft.hard_state(),
            node.applied_index(),
            previous_term,
            entries.iter().map(digest),
            |index| slot(log, index),
        )?;
        self.feed_reference()?;
        let node = self.processes[id as usize - 1]
            .node()
            .expect("the node is up");
        let applied = node.applied_index();
        if applied <= self.reference.applied() {
            self.stats.store_audits += 1;
            self.reference.check_store(id, applied, node.store())?;
        }
        self.audit_next[id as usize - 1] = applied;
        Ok(())
    }

    /// Power loss at node `id`: the node and its volatile state are gone, its disk keeps what
    /// the crash model keeps.
    fn crash(&mut self, id: NodeId, reason: &str) {
        self.promises.node_stopped(id, self.now_ms);
        self.promises.node_down(id);
        let now = self.now_ms;
        let process = &mut self.processes[id as usize - 1];
        let life = std::mem::replace(&mut process.life, Life::Destroyed(String::new()));
        let Life::Up(node) = life else {
            process.life = life;
            return;
        };
        let raft = &node.raw().raft;
        match raft.role {
            StateRole::Leader => self.coverage.hit(Point::LeaderCrashed),
            StateRole::Candidate | StateRole::PreCandidate => {
                self.coverage.hit(Point::CrashDuringElection)
            }
            StateRole::Follower => {}
        }
        self.watches[id as usize - 1] = Watch {
            crashed_at_ms: Some(now),
            held_at_crash: Some((raft.hard_state(), raft.raft_log.last_index())),
            vote_lost_in_term: None,
        };
        self.coverage
            .add_node(node.raw().coverage(), node.coverage());
        let mut disk = node.into_disk();
        if disk.crash() {
            self.faults.stats.torn_writes += 1;
            self.coverage.hit(Point::CrashLostPendingWrites);
        }
        process.life = Life::Down(Box::new(disk));
        process.paused_until_ms = None;
        process.inbox.clear();
        self.invariants.on_crash(id);
        self.requests.retain(|(node, _, _), _| *node != id);
        let delay = if self.healed_at_ms.is_some() {
            Some(1)
        } else if self.scheduled {
            self.scheduled_restart_ms[id as usize - 1].take()
        } else {
            Some(self.faults.restart_delay_ms())
        };
        self.note_restart_delay(id, delay);
        if let Some(delay) = delay {
            self.process(id).restart_pending = true;
            self.queue.push(now + delay, Event::Restart { node: id });
        }
        self.trace.note(now, format!("node {id} crashed: {reason}"));
    }

    fn restart(&mut self, id: NodeId) -> Result<(), Stop> {
        match self.process(id).life {
            Life::Down(_) => self.open(id),
            Life::Up(_) | Life::Destroyed(_) | Life::Removed(_) => Ok(()),
        }
    }

    fn resume(&mut self, id: NodeId) -> Result<(), Stop> {
        let now = self.now_ms;
        match self.process(id).paused_until_ms {
            Some(until) if until <= now => self.unpause(id),
            Some(_) | None => Ok(()),
        }
    }

    fn unpause(&mut self, id: NodeId) -> Result<(), Stop> {
        // Its clock stood still: the watches on its leadership and its leases start afresh.
        self.promises.node_stopped(id, self.now_ms);
        let process = self.process(id);
        process.paused_until_ms = None;
        let inbox = std::mem::take(&mut process.inbox);
        for (from, bytes) in inbox {
            if self.process(id).node().is_none() {
                break;
            }
            self.network.stats.delivered += 1;
            self.step_node(
                id,
                Input::Receive {
                    from,
                    bytes: &bytes,
                },
                None,
            )?;
        }
        if self.process(id).node().is_some() {
            self.step_node(id, Input::Timers, None)?;
            self.schedule_timer(id);
        }
        Ok(())
    }

    // ----- Faults ----------------------------------------------------------------------------

    fn fault_tick(&mut self) -> Result<(), Stop> {
        let window = self.options.faults.fault_window_ms;
        if self.healed_at_ms.is_some() || self.now_ms >= window {
            return Ok(());
        }
        if self.scheduled {
            return self.scheduled_tick();
        }
        let running: Vec<NodeId> = self
            .processes
            .iter()
            .filter(|process| process.is_running())
            .map(|process| process.id)
            .collect();
        let campaigning: Vec<NodeId> = self
            .processes
            .iter()
            .filter(|process| {
                process.is_running()
                    && process.node().is_some_and(|node| {
                        matches!(
                            node.raw().raft.role,
                            StateRole::Candidate | StateRole::PreCandidate
                        )
                    })
            })
            .map(|process| process.id)
            .collect();
        let targets = Targets {
            running: &running,
            leader: self.first_running_leader(),
            campaigning: &campaigning,
        };
        let recorded_before = self.recorded.as_ref().map(Vec::len);
        for action in self.faults.tick(targets) {
            self.inject(action)?;
        }
        if recorded_before.is_some() && self.recorded.as_ref().map(Vec::len) == recorded_before {
            // The tick still happened: a replay must fire one here too.
            self.record(Action::Nothing(schedule::Empty {}));
        }
        let next = self.now_ms + self.faults.next_tick_delay_ms();
        if next < window {
            self.queue.push(next, Event::FaultTick);
        }
        Ok(())
    }

    /// Keeps `action`, injected now, when recording.
    fn record(&mut self, action: Action) {
        let at_ms = self.now_ms;
        if let Some(recorded) = &mut self.recorded {
            recorded.push(schedule::Entry { at_ms, action });
        }
    }

    /// Injects one drawn fault (and records it, resolved, when recording).
    fn inject(&mut self, action: FaultAction) -> Result<(), Stop> {
        match action {
            FaultAction::Crash {
                node,
                during_operation,
            } => {
                self.record(Action::Crash(schedule::Crash {
                    node: NodeRef::Id(node),
                    during_operation,
                    restart_after_ms: None,
                }));
                // The restart delay is drawn when the power goes; `crash` fills it in.
                self.crash_entry[node as usize - 1] =
                    self.recorded.as_ref().map(|recorded| recorded.len() - 1);
                self.crash_node(node, during_operation);
            }
            FaultAction::Pause { node, duration_ms } => {
                // A fault drawn earlier in the same tick may have crashed the node: a process
                // that is down has nothing to pause (as a scheduled pause skips it).
                if !self.process(node).is_running() {
                    return Ok(());
                }
                self.record(Action::Pause(schedule::Pause {
                    node: NodeRef::Id(node),
                    duration_ms,
                }));
                self.pause(node, duration_ms);
            }
            FaultAction::Partition {
                connectivity,
                mode,
                description,
                duration_ms,
            } => {
                self.record(Action::Partition(partition_entry(
                    &connectivity,
                    mode.name(),
                    duration_ms,
                )));
                self.start_partition(connectivity, mode.name(), &description, Some(duration_ms));
            }
            FaultAction::Clog {
                from,
                to,
                duration_ms,
            } => {
                self.record(Action::Clog(schedule::Clog {
                    from: NodeRef::Id(from),
                    to: NodeRef::Id(to),
                    duration_ms,
                }));
                self.clog(from, to, duration_ms);
            }
            FaultAction::Corrupt { node, bad_sector } => {
                self.record(Action::Corrupt(schedule::Corrupt {
                    node: NodeRef::Id(node),
                    bad_sector,
                }));
                self.corrupt(node, bad_sector);
            }
            FaultAction::TransferLeader { to } => {
                self.record(Action::TransferLeader(schedule::TransferLeader {
                    to: NodeRef::Id(to),
                }));
                self.transfer_leader(to)?;
            }
            FaultAction::ChangeMembership { choice } => {
                for change in self.membership_choice(choice) {
                    self.record(change.action());
                    self.change_membership(&change)?;
                }
            }
            FaultAction::ForceElection { node } => {
                self.record(Action::Campaign(schedule::OnNode {
                    node: NodeRef::Id(node),
                }));
                self.campaign(node)?;
            }
        }
        Ok(())
    }

    /// Power loss at `node`: now, or armed to strike inside a coming disk operation.
    fn crash_node(&mut self, node: NodeId, during_operation: Option<u64>) {
        match during_operation {
            None => {
                self.faults.stats.crashes += 1;
                self.crash(node, "power lost between events");
            }
            Some(operations) => {
                self.faults.stats.crashes_during_write += 1;
                self.process(node).io.arm_crash(operations);
                self.trace.note(
                    self.now_ms,
                    format!("node {node} will lose power inside disk operation {operations}"),
                );
            }
        }
    }

    /// When recording, writes the restart delay of `id`'s crash into its entry.
    fn note_restart_delay(&mut self, id: NodeId, delay_ms: Option<u64>) {
        let Some(position) = self.crash_entry[id as usize - 1].take() else {
            return;
        };
        if let Some(schedule::Entry {
            action: Action::Crash(crash),
            ..
        }) = self
            .recorded
            .as_mut()
            .and_then(|recorded| recorded.get_mut(position))
        {
            crash.restart_after_ms = delay_ms;
        }
    }

    fn pause(&mut self, node: NodeId, duration_ms: u64) {
        self.promises.node_stopped(node, self.now_ms);
        let now = self.now_ms;
        self.faults.stats.pauses += 1;
        let leads = self.process(node).node().is_some_and(SimNode::is_leader);
        self.coverage.world.hit_if(leads, Point::LeaderPaused);
        self.process(node).paused_until_ms = Some(now + duration_ms);
        self.queue.push(now + duration_ms, Event::Resume { node });
        self.trace
            .note(now, format!("node {node} paused for {duration_ms} ms"));
    }

    /// Splits the network; `shape` is what the report counts it as. Without a duration it
    /// lasts until a scheduled heal or the end of the fault window.
    fn start_partition(
        &mut self,
        connectivity: Connectivity,
        shape: &str,
        description: &str,
        duration_ms: Option<u64>,
    ) {
        self.disturbed();
        let now = self.now_ms;
        self.partition_epoch += 1;
        *self
            .faults
            .stats
            .partitions
            .entry(shape.to_string())
            .or_insert(0) += 1;
        self.network.partition(connectivity);
        let epoch = self.partition_epoch;
        if let Some(duration_ms) = duration_ms {
            self.queue
                .push(now + duration_ms, Event::PartitionEnd { epoch });
        }
        let lasting = duration_ms.map_or("until healed".to_string(), |duration_ms| {
            format!("for {duration_ms} ms")
        });
        self.trace
            .note(now, format!("partition {epoch}: {description} {lasting}"));
    }

    fn clog(&mut self, from: NodeId, to: NodeId, duration_ms: u64) {
        self.disturbed();
        let now = self.now_ms;
        self.faults.stats.clogs += 1;
        self.network.clog(from, to, now + duration_ms);
        self.trace.note(
            now,
            format!("link {from}->{to} clogged for {duration_ms} ms"),
        );
    }

    /// The running leader the fault injector acts through: the lowest-id running node that
    /// believes it leads.
    fn first_running_leader(&self) -> Option<NodeId> {
        self.processes
            .iter()
            .find(|process| process.is_running() && process.node().is_some_and(SimNode::is_leader))
            .map(|process| process.id)
    }

    fn transfer_leader(&mut self, to: NodeId) -> Result<(), Stop> {
        self.disturbed();
        let now = self.now_ms;
        if let Some(leader) = self.first_running_leader().filter(|&leader| leader != to) {
            self.faults.stats.leader_transfers += 1;
            self.trace
                .note(now, format!("leader {leader} asked to transfer to {to}"));
            self.step_node(leader, Input::TransferLeader(to), None)?;
        }
        Ok(())
    }

    fn campaign(&mut self, node: NodeId) -> Result<(), Stop> {
        self.disturbed();
        // A node made to campaign forgets its leader, and with it its promise not to vote.
        self.promises.released(node);
        self.faults.stats.forced_elections += 1;
        self.trace
            .note(self.now_ms, format!("node {node} forced to campaign"));
        self.step_node(node, Input::Campaign, None)
    }

    /// Whether node `id` has just applied a configuration without itself (a joining node with
    /// an empty configuration has not). Marks a joining node a member once it is in.
    fn applied_own_removal(&mut self, id: NodeId) -> bool {
        let process = &mut self.processes[id as usize - 1];
        let Some(node) = process.node() else {
            return false;
        };
        let conf = node.conf_state();
        let empty = conf.voters.is_empty() && conf.learners.is_empty();
        let inside = conf.contains(id);
        // A node added back that won an election on its stale configuration may overwrite its
        // own addition and then apply its old removal as leader. A leader outside its
        // configuration with nothing left to apply accepts no proposal, so it can never be
        // added back, and its heartbeats (step_down_on_removal is off, as in etcd) keep the
        // members from electing anyone: it shuts down, as the server does once it applies its
        // own removal.
        let raft = &node.raw().raft;
        let stranded_leader = raft.role == StateRole::Leader
            && !inside
            && !empty
            && node.applied_index() == raft.raft_log.last_index();
        if node.applied_index() < process.rejoin_after_index {
            return stranded_leader;
        }
        if inside {
            process.member = true;
            process.joining = false;
        }
        (process.member && !inside && !empty) || stranded_leader
    }

    /// Whether node `id`, removed, knows that the remaining members know it
    /// ([`kvapp::Node::may_leave`]); until then it keeps running.
    fn may_leave(&self, id: NodeId) -> bool {
        self.processes[id as usize - 1]
            .node()
            .is_some_and(|node| node.may_leave())
    }

    /// Node `id` applied its own removal and may leave: it shuts down, keeping its disk in case it is added
    /// back. (Its durable term and vote must survive: a node that rejoined with an empty disk
    /// could vote twice in a term that nodes not yet aware of its removal still count it in.)
    fn remove(&mut self, id: NodeId) {
        self.promises.node_stopped(id, self.now_ms);
        self.promises.node_down(id);
        let now = self.now_ms;
        let process = &mut self.processes[id as usize - 1];
        let life = std::mem::replace(&mut process.life, Life::Destroyed(String::new()));
        let Life::Up(node) = life else {
            process.life = life;
            return;
        };
        // A clean shutdown: everything the node wrote was synced by its own Ready handling,
        // except lazily written commit indexes, which a crash model may drop.
        let detail = format!(
            "applied {}, configuration {:?}",
            node.applied_index(),
            node.conf_state().voters
        );
        self.coverage
            .add_node(node.raw().coverage(), node.coverage());
        let mut disk = node.into_disk();
        disk.crash();
        process.life = Life::Removed(Box::new(disk));
        process.member = false;
        process.paused_until_ms = None;
        process.inbox.clear();
        self.invariants.on_crash(id);
        self.requests.retain(|(node, _, _), _| *node != id);
        self.faults.stats.nodes_removed += 1;
        self.trace.note(
            now,
            format!("node {id} applied its removal and shut down ({detail})"),
        );
    }

    fn corrupt(&mut self, id: NodeId, bad_sector: bool) {
        self.disturbed();
        let now = self.now_ms;
        let process = &mut self.processes[id as usize - 1];
        let disk = match &mut process.life {
            Life::Up(node) => node.disk_mut(),
            Life::Down(disk) => disk,
            Life::Destroyed(_) | Life::Removed(_) => return,
        };
        let damage = if bad_sector {
            disk.break_sector(damage_offset)
        } else {
            disk.flip_bit(damage_offset)
        };
        let Some((file, place)) = damage else {
            return;
        };
        // The durability oracle still binds the node: a disk damaged where recovery must notice
        // is refused (naming the file), or recovered without losing what was durable before
        // (an older snapshot with the WAL that covers the gap): a silent loss is a bug.
        process.damaged = true;
        if !process.damaged_files.contains(&file) {
            process.damaged_files.push(file.clone());
        }
        if bad_sector {
            self.faults.stats.bad_sectors += 1;
            self.trace.note(
                now,
                format!("node {id}: sector {place} of {file} unreadable"),
            );
        } else {
            self.faults.stats.bit_flips += 1;
            self.trace
                .note(now, format!("node {id}: bit flipped at {file}:{place}"));
        }
    }

    // ----- The liveness phase ----------------------------------------------------------------

    fn heal(&mut self) -> Result<(), Stop> {
        self.disturbed();
        let now = self.now_ms;
        self.healed_at_ms = Some(now);
        self.partition_epoch += 1;
        self.network.heal(now);
        self.network.calm();
        self.trace.note(
            now,
            "heal: links, partitions, pauses and crashed nodes".to_string(),
        );
        for id in 1..=self.processes.len() as NodeId {
            self.process(id).io.disarm();
            if self.process(id).paused_until_ms.is_some() {
                self.unpause(id)?;
            }
            if matches!(self.process(id).life, Life::Down(_)) {
                self.open(id)?;
            }
        }
        for (client, delay_ms) in self.workload.enter_final_phase() {
            self.queue
                .push(now + delay_ms, Event::ClientWake { client });
        }
        self.queue
            .push(now + LIVENESS_CHECK_INTERVAL_MS, Event::LivenessCheck);
        Ok(())
    }

    /// Each node's role, term, leader and indexes, for failure reports.
    fn node_states(&self) -> Vec<String> {
        self.processes
            .iter()
            .map(|process| match &process.life {
                Life::Up(node) => {
                    let raft = &node.raw().raft;
                    let progress = if raft.role == StateRole::Leader {
                        let followers: Vec<String> = raft
                            .tracker
                            .progress
                            .iter()
                            .map(|(id, progress)| format!("{id}: {progress}"))
                            .collect();
                        format!(" progress [{}]", followers.join("; "))
                    } else {
                        String::new()
                    };
                    let conf = node.conf_state();
                    let mut configuration = format!("voters {:?}", conf.voters);
                    if conf.is_joint() {
                        configuration.push_str(&format!(
                            " outgoing {:?}{}",
                            conf.voters_outgoing,
                            if conf.auto_leave { "" } else { " (left when asked)" }
                        ));
                    }
                    if !conf.learners.is_empty() {
                        configuration.push_str(&format!(" learners {:?}", conf.learners));
                    }
                    format!(
                        "{} {:?} term {} leader {} last {} commit {} applied {} {configuration}{}{progress}",
                        process.id,
                        raft.role,
                        raft.term,
                        raft.leader_id,
                        raft.raft_log.last_index(),
                        raft.raft_log.committed,
                        node.applied_index(),
                        if process.paused_until_ms.is_some() {
                            " paused"
                        } else {
                            ""
                        }
                    )
                }
                Life::Down(_) => format!("{} down", process.id),
                Life::Destroyed(reason) => format!("{} destroyed ({reason})", process.id),
                Life::Removed(_) => format!("{} removed", process.id),
            })
            .collect()
    }

    /// The configuration of the running node that applied the most: the cluster's members as
    /// far as anyone knows.
    fn final_members(&self) -> Option<Vec<NodeId>> {
        let node = self
            .processes
            .iter()
            .filter_map(Process::node)
            .max_by_key(|node| node.applied_index())?;
        let conf = node.conf_state();
        let mut members: Vec<NodeId> = conf
            .voters
            .iter()
            .chain(&conf.learners)
            .chain(&conf.voters_outgoing)
            .copied()
            .collect();
        members.sort_unstable();
        members.dedup();
        Some(members)
    }

    fn liveness_check(&mut self) -> Result<(), Stop> {
        let members = self.final_members();
        let progress: Vec<NodeProgress> = self
            .processes
            .iter()
            .filter(|process| {
                members
                    .as_ref()
                    .is_none_or(|members| members.contains(&process.id))
            })
            .map(|process| {
                let node = process.node();
                NodeProgress {
                    id: process.id,
                    healthy: !process.is_destroyed(),
                    running: process.is_running(),
                    commit: node.map_or(0, |node| node.raw().raft.raft_log.committed),
                    applied: node.map_or(0, SimNode::applied_index),
                }
            })
            .collect();
        match converged(&progress, self.workload.all_done()) {
            Ok(_) => Err(Stop::Converged),
            Err(reason) => {
                let healed = self.healed_at_ms.unwrap_or(0);
                if self.now_ms >= healed + self.options.liveness_bound_ms {
                    let outstanding = self.workload.outstanding(&self.history);
                    let mut text = format!(
                        "no convergence {} ms after the heal: {reason}",
                        self.options.liveness_bound_ms
                    );
                    if !outstanding.is_empty() {
                        text.push_str(&format!("; outstanding: {}", outstanding.join("; ")));
                    }
                    text.push_str(&format!("; nodes: {}", self.node_states().join(", ")));
                    return Err(Stop::Liveness(text));
                }
                self.queue.push(
                    self.now_ms + LIVENESS_CHECK_INTERVAL_MS,
                    Event::LivenessCheck,
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_served_below_the_commit_index_it_was_asked_at_is_a_violation() {
        assert!(check_read_index(1, 7, 7).is_ok());
        assert!(check_read_index(1, 9, 7).is_ok());
        let violation = check_read_index(2, 6, 7).unwrap_err();
        assert_eq!(violation.property, Property::ReadIndexBehindCommit);
        assert_eq!(violation.node, Some(2));
    }

    #[test]
    fn a_leader_appending_a_second_unapplied_conf_change_is_a_violation() {
        let conf_change = |index| Entry {
            index,
            term: 2,
            entry_type: EntryType::ConfChange,
            data: raft::codec::encode_conf_change(&raft::ConfChange::add_voter(9)),
        };
        let normal = |index| Entry {
            index,
            term: 2,
            ..Entry::default()
        };
        let mut storage = MemStorage::new();
        storage
            .append(&[normal(1), conf_change(2), normal(3)])
            .unwrap();
        let mut log = raft::log::RaftLog::new(storage, u64::MAX);
        log.committed = 3;
        log.applied_to(1);
        let appended = [conf_change(4)];
        log.append(&appended);
        let violation = one_pending_conf_change(1, &log, &appended).unwrap_err();
        assert_eq!(violation.property, Property::ConfChangesPending);
        assert!(violation.detail.contains("index 2"), "{violation}");
        // Once the first is applied, the second is the only one pending.
        log.applied_to(3);
        assert!(one_pending_conf_change(1, &log, &appended).is_ok());
    }

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn the_archive_forgets_what_the_reference_applied_and_only_that() {
        let mut archive = Archive::default();
        let count = ARCHIVE_PRUNE_AT_MIN as Index + 10;
        for index in 1..=count {
            archive.keep(&entry(index, 1), 0);
        }
        // A second entry at an index, from another term, is kept beside the first.
        archive.keep(&entry(count, 2), 0);
        archive.prune(count - 5);
        let mut left: Vec<(Index, Term)> = archive.entries.keys().copied().collect();
        left.sort_unstable();
        let mut expected: Vec<(Index, Term)> = (count - 4..=count)
            .map(|index| (index, 1))
            .chain([(count, 2)])
            .collect();
        expected.sort_unstable();
        assert_eq!(left, expected);
        // Below the bound nothing is scanned again, and applied entries are not taken back.
        archive.keep(&entry(3, 1), count - 5);
        archive.prune(count);
        assert_eq!(archive.entries.len(), 6);
        assert!(!archive.entries.contains_key(&(3, 1)));
    }
}
