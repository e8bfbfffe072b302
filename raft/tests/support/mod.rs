//! A small deterministic in-process network of `RawNode`s for the cluster tests: messages queue
//! in FIFO order and are delivered on demand; links can be cut and healed; every node handles
//! its `Ready` by the contract (persist, send, apply, advance) into a `MemStorage`. Safety is
//! checked after every delivery: at most one leader per term, and every node applies the same
//! entry at each index.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::codec;
use raft::raft::StateRole;
use raft::raw_node::RawNode;
use raft::{ConfState, Config, Entry, EntryType, Index, MemStorage, Message, NodeId, Term};

/// The entry applied at one index: its term, type and payload.
pub type AppliedEntry = (Term, EntryType, Vec<u8>);

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
    /// The leader seen for each term; a second one is a safety violation.
    pub leader_by_term: BTreeMap<Term, NodeId>,
    /// Every message delivered, for tests that count traffic.
    pub delivered: Vec<Message>,
    /// Each node's configuration, to restart it.
    pub configs: BTreeMap<NodeId, Config>,
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
        let mut nodes = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for &id in ids {
            let mut node_config = config(id);
            configure(&mut node_config);
            let storage = MemStorage::new_with_conf_state(conf_state.clone());
            nodes.insert(id, RawNode::new(&node_config, storage).expect("valid node"));
            configs.insert(id, node_config);
        }
        Cluster {
            nodes,
            in_flight: VecDeque::new(),
            cut_links: BTreeSet::new(),
            stopped: BTreeSet::new(),
            applied: BTreeMap::new(),
            applied_by_index: BTreeMap::new(),
            leader_by_term: BTreeMap::new(),
            delivered: Vec::new(),
            configs,
        }
    }

    /// Adds a node that starts with storage `storage` (for example an empty configuration, to be
    /// added by the leader).
    pub fn add_node(&mut self, id: NodeId, storage: MemStorage, configure: impl Fn(&mut Config)) {
        let mut node_config = config(id);
        configure(&mut node_config);
        self.nodes
            .insert(id, RawNode::new(&node_config, storage).expect("valid node"));
        self.configs.insert(id, node_config);
    }

    /// Crashes and restarts `id`: volatile state is lost, its storage (everything it persisted)
    /// is kept, and its messages in flight are lost.
    pub fn restart(&mut self, id: NodeId) {
        let storage = self.nodes[&id].storage().clone();
        let mut node_config = self.configs[&id].clone();
        node_config.applied = storage.hard_state().commit.min(
            self.applied
                .get(&id)
                .and_then(|entries| entries.last())
                .map_or(0, |(index, _)| *index),
        );
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
            let node = self.nodes.get_mut(&id).expect("node exists");
            let mut applied_now = Vec::new();
            for entry in &ready.committed_entries {
                if entry.entry_type == EntryType::ConfChange {
                    let change = codec::decode_conf_change(&entry.data).expect("conf change");
                    if let Ok(conf_state) = node.apply_conf_change(&change) {
                        node.storage_mut().set_conf_state(conf_state);
                    }
                }
                applied_now.push(entry.clone());
            }
            // 4. Advance.
            node.advance();
            for entry in applied_now {
                self.record_applied(id, &entry);
            }
            self.check_leaders();
        }
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
        if !self.link_open(message.from, message.to) {
            return;
        }
        let to = message.to;
        self.delivered.push(message.clone());
        // Errors (a response from a removed node, a dropped proposal) are part of normal life.
        let _ = self.node_mut(to).step(message);
        self.process_ready(to);
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

    /// Raft §5.4 leader completeness: every entry applied anywhere at an index, in a term not
    /// after a leader's, is in that leader's log (unless compacted away).
    pub fn assert_leader_completeness(&self) {
        for (&id, node) in &self.nodes {
            if node.raft.role != StateRole::Leader {
                continue;
            }
            let log = &node.raft.raft_log;
            for (&index, (term, _, _)) in &self.applied_by_index {
                if *term > node.raft.term || index < log.first_index() {
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
