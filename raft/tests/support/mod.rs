//! A small deterministic in-process network of `RawNode`s for the cluster tests: messages queue
//! in FIFO order and are delivered on demand; links can be cut and healed; every node handles
//! its `Ready` by the contract (persist, send, apply, advance) into a `MemStorage`. Safety is
//! checked after every delivery: at most one leader per term, and every node applies the same
//! entry at each index.
//!
//! Each node's state machine is a fingerprint of every entry it applied, in order; with a
//! [`SnapshotPolicy`] nodes snapshot it and compact their logs, and a node that installs a
//! snapshot must end up with the fingerprint the others had at that index. Applying is checked
//! too: entries come in index order without gaps, every committed configuration change applies
//! cleanly, and every node has the same configuration after applying the one at an index. The
//! harness plays the application's part for snapshots (`report_snapshot` once a snapshot
//! message is delivered or lost) and, if asked, for `report_unreachable`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::codec;
use raft::raft::StateRole;
use raft::raw_node::RawNode;
use raft::{
    ConfChange, ConfState, Config, Entry, EntryType, Index, MemStorage, Message, MessageType,
    NodeId, RaftError, ReadState, Snapshot, Storage, Term,
};

/// The entry applied at one index: its term, type and payload.
pub type AppliedEntry = (Term, EntryType, Vec<u8>);

/// When nodes snapshot their state machine and compact their logs.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotPolicy {
    /// A node snapshots once its applied index is this many entries past its last snapshot.
    pub interval_entries: u64,
    /// Entries kept before the snapshot's index when compacting, for followers a little behind.
    pub keep_entries: u64,
}

/// A node's state machine, reduced to a fingerprint of every entry applied, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// The last index applied (or installed with a snapshot).
    pub applied: Index,
    /// A hash of everything applied up to `applied`.
    pub fingerprint: u64,
}

impl Machine {
    fn apply(&mut self, entry: &Entry) {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "entries must be applied in order without gaps"
        );
        // FNV-1a over the entry: deterministic across runs and platforms.
        let mut hash = self.fingerprint ^ 0xcbf2_9ce4_8422_2325;
        let kind = match entry.entry_type {
            EntryType::Normal => 0u8,
            EntryType::ConfChange => 1u8,
        };
        let bytes = entry
            .index
            .to_le_bytes()
            .into_iter()
            .chain(entry.term.to_le_bytes())
            .chain([kind])
            .chain(entry.data.iter().copied());
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.fingerprint = hash;
        self.applied = entry.index;
    }

    /// The snapshot payload: applied index and fingerprint.
    fn encode(&self) -> Vec<u8> {
        let mut data = self.applied.to_le_bytes().to_vec();
        data.extend_from_slice(&self.fingerprint.to_le_bytes());
        data
    }

    fn decode(snapshot: &Snapshot) -> Machine {
        let data: [u8; 16] = snapshot.data.as_slice().try_into().unwrap_or_else(|_| {
            panic!(
                "snapshot at {} has no harness payload",
                snapshot.metadata.index
            )
        });
        let machine = Machine {
            applied: u64::from_le_bytes(data[..8].try_into().unwrap()),
            fingerprint: u64::from_le_bytes(data[8..].try_into().unwrap()),
        };
        assert_eq!(
            machine.applied, snapshot.metadata.index,
            "snapshot payload index differs from its metadata"
        );
        machine
    }

    /// The state machine a node starts with: empty, or what its storage's snapshot holds.
    fn of_storage(storage: &MemStorage) -> Machine {
        let snapshot = storage
            .snapshot(0)
            .expect("MemStorage always has a snapshot");
        if snapshot.is_empty() {
            Machine::default()
        } else {
            Machine::decode(&snapshot)
        }
    }
}

/// What happened during a run, so that tests can show they exercise what they claim to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Snapshots nodes took of their state machines.
    pub snapshots_created: u64,
    /// Snapshot messages delivered.
    pub snapshots_delivered: u64,
    /// Snapshots installed by followers.
    pub snapshots_installed: u64,
    /// Configuration changes applied, counted once per node that applied them.
    pub conf_changes_applied: u64,
    /// Leadership transfers: TimeoutNow messages delivered.
    pub timeout_now_delivered: u64,
    /// Read states handed to the application.
    pub read_states: u64,
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, RawNode<MemStorage>>,
    /// Messages sent and not yet delivered, in send order.
    pub in_flight: VecDeque<Message>,
    /// Directed links that drop everything.
    pub cut_links: BTreeSet<(NodeId, NodeId)>,
    /// Nodes that are stopped: they neither receive nor tick.
    pub stopped: BTreeSet<NodeId>,
    /// What each node applied, in order (index, entry).
    pub applied: BTreeMap<NodeId, Vec<(Index, AppliedEntry)>>,
    /// The first entry any node applied at each index; every other node must agree.
    pub applied_by_index: BTreeMap<Index, AppliedEntry>,
    /// For each applied index, the term of the first node that applied it. The entry was
    /// committed in that term or an earlier one (the applier learned of the commit from a
    /// leader whose term it had adopted), so every leader of a later term must hold it.
    pub commit_term_bound_by_index: BTreeMap<Index, Term>,
    /// The leader seen for each term; a second one is a safety violation.
    pub leader_by_term: BTreeMap<Term, NodeId>,
    /// Every message delivered, for tests that count traffic.
    pub delivered: Vec<Message>,
    /// Each node's configuration, to restart it.
    pub configs: BTreeMap<NodeId, Config>,
    /// Whether and how often nodes snapshot and compact.
    pub snapshot_policy: Option<SnapshotPolicy>,
    /// Each node's state machine.
    pub machines: BTreeMap<NodeId, Machine>,
    /// The fingerprint of the state machine after each index, as first seen; every node agrees.
    pub fingerprint_by_index: BTreeMap<Index, u64>,
    /// The configuration after applying the configuration change at each index; every node
    /// agrees.
    pub conf_state_by_index: BTreeMap<Index, ConfState>,
    /// The read states each node received, in order.
    pub read_states: BTreeMap<NodeId, Vec<ReadState>>,
    /// For reads requested through [`Cluster::read_index`], by requesting node and context,
    /// the highest index committed anywhere at the time of each request, oldest first. A read
    /// state must not be below it: the read must see every write committed before it began.
    pub read_bounds: BTreeMap<(NodeId, Vec<u8>), VecDeque<Index>>,
    /// Whether a sender is told (`report_unreachable`) when a link drops its message.
    pub report_unreachable: bool,
    /// Counters of what happened.
    pub stats: Stats,
    /// The configuration the cluster was bootstrapped with (in storage, not in the log).
    pub bootstrap_conf_state: ConfState,
}

pub fn config(id: NodeId) -> Config {
    Config {
        election_tick: 10,
        heartbeat_tick: 1,
        ..Config::new(id)
    }
}

impl Cluster {
    /// A new cluster of voters `ids`, each configured by `configure`.
    pub fn new(ids: &[NodeId], configure: impl Fn(&mut Config)) -> Cluster {
        Cluster::with_conf_state(ids, ConfState::with_voters(ids.iter().copied()), configure)
    }

    /// Nodes `ids` all starting from configuration `conf_state`.
    pub fn with_conf_state(
        ids: &[NodeId],
        conf_state: ConfState,
        configure: impl Fn(&mut Config),
    ) -> Cluster {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            in_flight: VecDeque::new(),
            cut_links: BTreeSet::new(),
            stopped: BTreeSet::new(),
            applied: BTreeMap::new(),
            applied_by_index: BTreeMap::new(),
            commit_term_bound_by_index: BTreeMap::new(),
            leader_by_term: BTreeMap::new(),
            delivered: Vec::new(),
            configs: BTreeMap::new(),
            snapshot_policy: None,
            machines: BTreeMap::new(),
            fingerprint_by_index: BTreeMap::new(),
            conf_state_by_index: BTreeMap::new(),
            read_states: BTreeMap::new(),
            read_bounds: BTreeMap::new(),
            report_unreachable: false,
            stats: Stats::default(),
            bootstrap_conf_state: conf_state.clone(),
        };
        for &id in ids {
            let storage = MemStorage::new_with_conf_state(conf_state.clone());
            cluster.add_node(id, storage, &configure);
        }
        cluster
    }

    /// Adds a node that starts with storage `storage` (for example an empty configuration, to be
    /// added by the leader).
    pub fn add_node(&mut self, id: NodeId, storage: MemStorage, configure: impl Fn(&mut Config)) {
        let mut node_config = config(id);
        configure(&mut node_config);
        self.machines.insert(id, Machine::of_storage(&storage));
        self.nodes
            .insert(id, RawNode::new(&node_config, storage).expect("valid node"));
        self.configs.insert(id, node_config);
    }

    /// Adds a node that joins with empty storage and an empty configuration: it does nothing
    /// until the leader adds it and sends it a snapshot. The cluster's bootstrap configuration
    /// is in storage, not in the log, so such a node must be caught up by a snapshot (the
    /// leader's log compacted); replaying the log from index 1 it would never learn the initial
    /// voters. Use [`Cluster::add_joining_node`] when the log may not be compacted.
    pub fn add_empty_node(&mut self, id: NodeId, configure: impl Fn(&mut Config)) {
        self.add_node(id, MemStorage::new(), configure);
    }

    /// Adds a node that joins from the cluster's bootstrap configuration, which does not
    /// contain it (so it does not campaign): it can be caught up by the log or by a snapshot.
    pub fn add_joining_node(&mut self, id: NodeId, configure: impl Fn(&mut Config)) {
        let storage = MemStorage::new_with_conf_state(self.bootstrap_conf_state.clone());
        self.add_node(id, storage, configure);
    }

    /// Stops `id`: it neither receives nor ticks until restarted.
    pub fn stop(&mut self, id: NodeId) {
        self.stopped.insert(id);
    }

    /// Crashes and restarts `id`: volatile state is lost, its storage (everything it persisted)
    /// is kept, and its messages in flight are lost.
    pub fn restart(&mut self, id: NodeId) {
        let storage = self.nodes[&id].storage().clone();
        let mut node_config = self.configs[&id].clone();
        // The state machine survives the crash (as if it were persisted with its applied
        // index); Raft resumes handing out entries after it.
        node_config.applied = storage.hard_state().commit.min(self.machines[&id].applied);
        self.in_flight
            .retain(|message| message.from != id && message.to != id);
        self.nodes
            .insert(id, RawNode::new(&node_config, storage).expect("valid node"));
        self.stopped.remove(&id);
    }

    pub fn node(&self, id: NodeId) -> &RawNode<MemStorage> {
        &self.nodes[&id]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut RawNode<MemStorage> {
        self.nodes.get_mut(&id).expect("node exists")
    }

    pub fn role(&self, id: NodeId) -> StateRole {
        self.nodes[&id].raft.role
    }

    pub fn term(&self, id: NodeId) -> Term {
        self.nodes[&id].raft.term
    }

    pub fn committed(&self, id: NodeId) -> Index {
        self.nodes[&id].raft.raft_log.committed
    }

    pub fn last_index(&self, id: NodeId) -> Index {
        self.nodes[&id].raft.raft_log.last_index()
    }

    /// The leader of the highest term among running nodes, if exactly one node leads it.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(id, node)| !self.stopped.contains(id) && node.raft.role == StateRole::Leader)
            .max_by_key(|(_, node)| node.raft.term)
            .map(|(&id, _)| id)
    }

    /// Handles every node's pending `Ready`s.
    pub fn process_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.process_ready(id);
        }
    }

    /// Handles `id`'s `Ready`s until it has none, by the contract.
    pub fn process_ready(&mut self, id: NodeId) {
        while self.nodes[&id].has_ready() {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let ready = node.ready();
            // 1. Persist.
            if let Some(snapshot) = &ready.snapshot {
                node.storage_mut()
                    .apply_snapshot(snapshot.clone())
                    .expect("snapshot newer than storage's");
            }
            node.storage_mut()
                .append(&ready.entries)
                .expect("entries continue the log");
            if let Some(hard_state) = ready.hard_state {
                node.storage_mut().set_hard_state(hard_state);
            }
            // 2. Send.
            self.in_flight.extend(ready.messages);
            // 3. Apply.
            if let Some(snapshot) = &ready.snapshot {
                self.install_snapshot(id, snapshot);
            }
            for entry in &ready.committed_entries {
                self.apply_entry(id, entry);
            }
            self.stats.read_states += ready.read_states.len() as u64;
            for read in &ready.read_states {
                self.check_read(id, read);
            }
            self.read_states
                .entry(id)
                .or_default()
                .extend(ready.read_states);
            // 4. Advance.
            self.node_mut(id).advance();
            self.maybe_snapshot(id);
            self.check_leaders();
        }
    }

    fn install_snapshot(&mut self, id: NodeId, snapshot: &Snapshot) {
        let installed = Machine::decode(snapshot);
        let machine = self.machines.entry(id).or_default();
        assert!(
            installed.applied > machine.applied,
            "node {id} installed snapshot {} at or below its applied index {}",
            installed.applied,
            machine.applied
        );
        *machine = installed;
        self.check_fingerprint(id, installed);
        self.stats.snapshots_installed += 1;
    }

    fn apply_entry(&mut self, id: NodeId, entry: &Entry) {
        if entry.entry_type == EntryType::ConfChange {
            let change = codec::decode_conf_change(&entry.data).expect("conf change");
            let node = self.nodes.get_mut(&id).expect("node exists");
            // The leader validated the change against the configuration it applies to, so a
            // committed change that does not apply is a bug.
            let conf_state = node.apply_conf_change(&change).unwrap_or_else(|error| {
                panic!(
                    "node {id}: committed change {change:?} at index {} does not apply: {error}",
                    entry.index
                )
            });
            node.storage_mut().set_conf_state(conf_state.clone());
            let agreed = self
                .conf_state_by_index
                .entry(entry.index)
                .or_insert_with(|| conf_state.clone());
            assert_eq!(
                *agreed, conf_state,
                "node {id} has a different configuration after applying index {}",
                entry.index
            );
            self.stats.conf_changes_applied += 1;
        }
        let machine = self.machines.entry(id).or_default();
        machine.apply(entry);
        let machine = *machine;
        self.check_fingerprint(id, machine);
        self.record_applied(id, entry);
    }

    /// Linearizable reads (thesis §6.4): a read state is at least the highest index committed
    /// when the read was requested. Reads with the same context are matched to the oldest
    /// request, whose bound is the lowest, so a reordering can only weaken the check.
    fn check_read(&mut self, id: NodeId, read: &ReadState) {
        let key = (id, read.request_context.clone());
        let Some(bound) = self.read_bounds.get_mut(&key).and_then(VecDeque::pop_front) else {
            return;
        };
        assert!(
            read.index >= bound,
            "stale read at node {id}: read index {} below index {bound}, committed before the \
             read was requested",
            read.index
        );
    }

    /// The highest index committed on any node: every entry up to it is committed.
    pub fn max_committed(&self) -> Index {
        self.nodes
            .values()
            .map(|node| node.raft.raft_log.committed)
            .max()
            .unwrap_or(0)
    }

    fn check_fingerprint(&mut self, id: NodeId, machine: Machine) {
        let agreed = self
            .fingerprint_by_index
            .entry(machine.applied)
            .or_insert(machine.fingerprint);
        assert_eq!(
            *agreed, machine.fingerprint,
            "state machine safety: node {id} differs from others after index {}",
            machine.applied
        );
    }

    /// Under the snapshot policy, snapshots `id`'s state machine at its applied index, with the
    /// configuration it applied last, and compacts its log.
    fn maybe_snapshot(&mut self, id: NodeId) {
        let Some(policy) = self.snapshot_policy else {
            return;
        };
        let machine = self.machines[&id];
        let node = self.nodes.get_mut(&id).expect("node exists");
        let storage = node.storage_mut();
        let last_snapshot = storage.snapshot(0).expect("snapshot").metadata.index;
        if machine.applied < last_snapshot + policy.interval_entries.max(1) {
            return;
        }
        let conf_state = storage.initial_state().expect("state").conf_state;
        storage
            .create_snapshot(machine.applied, Some(conf_state), machine.encode())
            .expect("a snapshot past the last one");
        let compact_index = machine.applied.saturating_sub(policy.keep_entries);
        if compact_index >= storage.first_index().expect("first index") {
            storage.compact(compact_index).expect("compaction");
        }
        self.stats.snapshots_created += 1;
    }

    fn record_applied(&mut self, id: NodeId, entry: &Entry) {
        let value: AppliedEntry = (entry.term, entry.entry_type, entry.data.clone());
        if let Some(existing) = self.applied_by_index.get(&entry.index) {
            assert_eq!(
                existing, &value,
                "state machine safety: node {id} applied a different entry at index {}",
                entry.index
            );
        } else {
            self.applied_by_index.insert(entry.index, value.clone());
            self.commit_term_bound_by_index
                .insert(entry.index, self.nodes[&id].raft.term);
        }
        self.applied
            .entry(id)
            .or_default()
            .push((entry.index, value));
    }

    fn check_leaders(&mut self) {
        for (&id, node) in &self.nodes {
            if node.raft.role == StateRole::Leader {
                let previous = self.leader_by_term.entry(node.raft.term).or_insert(id);
                assert_eq!(
                    *previous, id,
                    "election safety: two leaders in term {}",
                    node.raft.term
                );
            }
        }
    }

    fn link_open(&self, from: NodeId, to: NodeId) -> bool {
        !self.cut_links.contains(&(from, to))
            && !self.stopped.contains(&from)
            && !self.stopped.contains(&to)
            && self.nodes.contains_key(&to)
    }

    /// Delivers one message (the oldest); returns false when none was in flight.
    pub fn deliver_one(&mut self) -> bool {
        let Some(message) = self.in_flight.pop_front() else {
            return false;
        };
        self.deliver(message);
        true
    }

    fn deliver(&mut self, message: Message) {
        let (from, to, msg_type) = (message.from, message.to, message.msg_type);
        if !self.link_open(from, to) {
            self.report_lost(&message);
            return;
        }
        self.delivered.push(message.clone());
        match msg_type {
            MessageType::Snapshot => self.stats.snapshots_delivered += 1,
            MessageType::TimeoutNow => self.stats.timeout_now_delivered += 1,
            _ => {}
        }
        // Errors (a response from a removed node, a dropped proposal) are part of normal life.
        let _ = self.node_mut(to).step(message);
        self.process_ready(to);
        if msg_type == MessageType::Snapshot {
            // The application reports a snapshot it sent once it was delivered.
            self.report_to_sender(from, |node| node.report_snapshot(to, true));
        }
    }

    /// Removes the message at `position` in flight, telling its sender as a transport would.
    pub fn drop_at(&mut self, position: usize) {
        if let Some(message) = self.in_flight.remove(position) {
            self.report_lost(&message);
        }
    }

    /// Tells the sender of a lost message what a transport would: a snapshot failed, and (if
    /// the cluster reports unreachable nodes) the receiver could not be reached.
    fn report_lost(&mut self, message: &Message) {
        let to = message.to;
        if message.msg_type == MessageType::Snapshot {
            self.report_to_sender(message.from, |node| node.report_snapshot(to, false));
        }
        if self.report_unreachable {
            self.report_to_sender(message.from, |node| node.report_unreachable(to));
        }
    }

    fn report_to_sender(&mut self, from: NodeId, report: impl FnOnce(&mut RawNode<MemStorage>)) {
        if self.stopped.contains(&from) {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&from) {
            report(node);
            self.process_ready(from);
        }
    }

    /// Delivers messages until none is in flight; bounded so a livelock fails the test.
    pub fn deliver_all(&mut self) {
        self.process_all();
        let mut budget = 1_000_000;
        while self.deliver_one() {
            budget -= 1;
            assert!(budget > 0, "messages never stopped flowing");
        }
    }

    /// Ticks every running node once and delivers everything that results.
    pub fn tick_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            if !self.stopped.contains(&id) {
                self.node_mut(id).tick();
            }
        }
        self.deliver_all();
    }

    /// Ticks `id` alone `ticks` times, delivering after each.
    pub fn tick_node(&mut self, id: NodeId, ticks: usize) {
        for _ in 0..ticks {
            self.node_mut(id).tick();
            self.deliver_all();
        }
    }

    /// Ticks everyone until a leader exists (bounded).
    pub fn elect_any(&mut self) -> NodeId {
        for _ in 0..1000 {
            self.tick_all();
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader elected within 1000 ticks");
    }

    /// Ticks every node, up to `ticks` times, until one of `candidates` leads; returns it.
    pub fn tick_until_one_leads(&mut self, candidates: &[NodeId], ticks: usize) -> Option<NodeId> {
        for _ in 0..ticks {
            self.tick_all();
            let leader = candidates
                .iter()
                .copied()
                .find(|&id| self.role(id) == StateRole::Leader);
            if leader.is_some() {
                return leader;
            }
        }
        None
    }

    /// Makes `id` campaign and delivers the election.
    pub fn campaign(&mut self, id: NodeId) {
        let _ = self.node_mut(id).campaign();
        self.deliver_all();
    }

    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> Result<(), raft::error::RaftError> {
        let result = self.node_mut(id).propose(data.to_vec());
        self.deliver_all();
        result
    }

    /// Proposes a configuration change at `id` and delivers everything that results.
    pub fn propose_conf_change(
        &mut self,
        id: NodeId,
        change: &ConfChange,
    ) -> Result<(), RaftError> {
        let result = self.node_mut(id).propose_conf_change(change);
        self.deliver_all();
        result
    }

    /// Asks for a read at `id` and delivers everything that results.
    pub fn read_index(&mut self, id: NodeId, context: &[u8]) -> Result<(), RaftError> {
        let result = self.request_read(id, context);
        self.deliver_all();
        result
    }

    /// Asks for a read at `id`, recording what it must see, and handles `id`'s `Ready`.
    pub fn request_read(&mut self, id: NodeId, context: &[u8]) -> Result<(), RaftError> {
        let bound = self.max_committed();
        let result = self.node_mut(id).read_index(context.to_vec());
        if result.is_ok() {
            self.read_bounds
                .entry((id, context.to_vec()))
                .or_default()
                .push_back(bound);
        }
        self.process_ready(id);
        result
    }

    /// Asks `id` to transfer leadership to `transferee` and delivers everything that results.
    pub fn transfer_leader(&mut self, id: NodeId, transferee: NodeId) {
        self.node_mut(id).transfer_leader(transferee);
        self.deliver_all();
    }

    /// The configuration `id` applied last.
    pub fn conf_state(&self, id: NodeId) -> ConfState {
        self.nodes[&id].raft.tracker.conf_state()
    }

    /// Ticks every running node `ticks` times, delivering after each round.
    pub fn tick_all_times(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick_all();
        }
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut_links.insert((id, other));
                self.cut_links.insert((other, id));
            }
        }
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut_links.insert((a, b));
        self.cut_links.insert((b, a));
    }

    /// Splits the cluster into groups that cannot talk to each other.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        for (k, group) in groups.iter().enumerate() {
            for other in groups.iter().skip(k + 1) {
                for &a in group.iter() {
                    for &b in other.iter() {
                        self.cut(a, b);
                    }
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut_links.clear();
    }

    /// The data of the normal, non-empty entries `id` applied, in order.
    pub fn applied_data(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied
            .get(&id)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|(_, (_, kind, data))| *kind == EntryType::Normal && !data.is_empty())
                    .map(|(_, (_, _, data))| data.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Raft §5.4 leader completeness: every entry applied anywhere is in the log of every
    /// leader of a term after the one in which it was committed (unless compacted away). The
    /// entry's own term is not that term: an entry of term 3 may be committed only in term 6,
    /// and a leader of term 5 may lack it (Raft Figure 8), so the bound is the applier's term.
    pub fn assert_leader_completeness(&self) {
        for (&id, node) in &self.nodes {
            if node.raft.role != StateRole::Leader {
                continue;
            }
            let log = &node.raft.raft_log;
            for (&index, (term, _, _)) in &self.applied_by_index {
                let committed_by = self.commit_term_bound_by_index[&index];
                if node.raft.term <= committed_by || index < log.first_index() {
                    continue;
                }
                assert_eq!(
                    log.term(index),
                    Ok(*term),
                    "leader completeness: leader {id} of term {} lacks applied entry {index}",
                    node.raft.term
                );
            }
        }
    }
}
