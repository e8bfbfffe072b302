//! The node driver end to end: three `Node`s over in-memory disks, a queue transport and a
//! manual clock. Writes commit and apply everywhere, reads go through ReadIndex, a crashed node
//! recovers its state from its WAL and snapshots, and a node far behind catches up by snapshot.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use kvapp::clock::Clock;
use kvapp::memory_disk::MemDisk;
use kvapp::node::{Completion, Node, NodeConfig, Outcome, RequestId};
use kvapp::store::{Command, Operation, Reply};
use kvapp::transport::Transport;
use raft::NodeId;

#[derive(Clone, Default)]
struct ManualClock(Rc<Cell<u64>>);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

type Wire = Rc<RefCell<VecDeque<(NodeId, NodeId, Vec<u8>)>>>;

struct QueueTransport {
    from: NodeId,
    wire: Wire,
}

impl Transport for QueueTransport {
    fn send(&mut self, to: NodeId, bytes: Vec<u8>) {
        self.wire.borrow_mut().push_back((self.from, to, bytes));
    }
}

type TestNode = Node<MemDisk, QueueTransport, ManualClock>;

struct Harness {
    clock: ManualClock,
    wire: Wire,
    nodes: BTreeMap<NodeId, TestNode>,
    down: BTreeMap<NodeId, MemDisk>,
    isolated: BTreeSet<NodeId>,
    /// Directed links that lose every message.
    cut: BTreeSet<(NodeId, NodeId)>,
    completions: BTreeMap<(NodeId, RequestId), Outcome>,
    config: NodeConfig,
}

impl Harness {
    fn new(snapshot_count: u64) -> Harness {
        let clock = ManualClock::default();
        let wire: Wire = Rc::default();
        let mut config = NodeConfig::new(0, vec![1, 2, 3]);
        config.tick_interval_ms = 10;
        config.snapshot_count = snapshot_count;
        config.snapshot_catch_up_entries = 2;
        let mut harness = Harness {
            clock,
            wire,
            nodes: BTreeMap::new(),
            down: BTreeMap::new(),
            isolated: BTreeSet::new(),
            cut: BTreeSet::new(),
            completions: BTreeMap::new(),
            config,
        };
        for id in 1..=3 {
            harness.start(id, MemDisk::new());
        }
        harness
    }

    fn start(&mut self, id: NodeId, disk: MemDisk) {
        let mut config = self.config.clone();
        config.id = id;
        config.raft_seed = id;
        let transport = QueueTransport {
            from: id,
            wire: self.wire.clone(),
        };
        let node = Node::open(config, disk, transport, self.clock.clone()).expect("node opens");
        self.nodes.insert(id, node);
    }

    fn crash(&mut self, id: NodeId) {
        let mut disk = self.nodes.remove(&id).expect("running").into_disk();
        disk.crash();
        self.down.insert(id, disk);
    }

    fn restart(&mut self, id: NodeId) {
        let disk = self.down.remove(&id).expect("down");
        self.start(id, disk);
    }

    /// Advances time by one tick and delivers everything.
    fn step(&mut self) {
        self.clock.0.set(self.clock.0.get() + 10);
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            let node = self.nodes.get_mut(&id).unwrap();
            node.poll_timers();
            node.process_ready().expect("storage works");
        }
        while self.deliver_one() {}
        for (&id, node) in self.nodes.iter_mut() {
            for Completion {
                request, outcome, ..
            } in node.take_completions()
            {
                self.completions.insert((id, request), outcome);
            }
        }
    }

    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(id, node)| node.is_leader() && !self.isolated.contains(id))
            .map(|(&id, _)| id)
            .next()
    }

    fn wait_for_leader(&mut self) -> NodeId {
        for _ in 0..500 {
            self.step();
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader");
    }

    fn put(
        &mut self,
        at: NodeId,
        client_id: u64,
        sequence: u64,
        key: &str,
        value: &str,
    ) -> Outcome {
        let request = self.nodes.get_mut(&at).unwrap().submit(Command {
            client_id,
            sequence,
            operation: Operation::Put {
                key: key.to_string(),
                value: value.to_string(),
            },
        });
        self.wait(at, request)
    }

    fn wait(&mut self, at: NodeId, request: RequestId) -> Outcome {
        for _ in 0..1000 {
            if let Some(outcome) = self.completions.remove(&(at, request)) {
                return outcome;
            }
            self.step();
        }
        panic!("request {request} at node {at} never completed");
    }
}

#[test]
fn writes_apply_everywhere_and_reads_are_linearizable() {
    let mut harness = Harness::new(10_000);
    let leader = harness.wait_for_leader();
    let outcome = harness.put(leader, 7, 1, "x", "1");
    assert_eq!(outcome, Outcome::Applied(Reply::Written { previous: None }));
    // A retry with the same session answers the first result and applies nothing.
    assert_eq!(harness.put(leader, 7, 1, "x", "2"), outcome);
    harness.run(5);
    for node in harness.nodes.values() {
        assert_eq!(node.store().get("x"), Some("1"), "node {}", node.id());
    }
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let read = harness
        .nodes
        .get_mut(&follower)
        .unwrap()
        .read("x".to_string(), false);
    assert_eq!(
        harness.wait(follower, read),
        Outcome::Applied(Reply::Value {
            value: Some("1".to_string())
        })
    );
}

#[test]
fn a_proposal_without_a_leader_fails_at_once() {
    let mut harness = Harness::new(10_000);
    let request = harness.nodes.get_mut(&1).unwrap().submit(Command {
        client_id: 1,
        sequence: 1,
        operation: Operation::Delete {
            key: "k".to_string(),
        },
    });
    harness.step();
    assert!(matches!(
        harness.completions.get(&(1, request)),
        Some(Outcome::Failed(_))
    ));
}

#[test]
fn a_crashed_node_recovers_everything_it_acknowledged() {
    let mut harness = Harness::new(5);
    let leader = harness.wait_for_leader();
    for sequence in 1..=12 {
        let outcome = harness.put(leader, 1, sequence, &format!("k{sequence}"), "v");
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
    }
    harness.run(5);
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    harness.crash(victim);
    harness.restart(victim);
    harness.run(20);
    let node = &harness.nodes[&victim];
    for sequence in 1..=12 {
        assert_eq!(node.store().get(&format!("k{sequence}")), Some("v"));
    }
    // The leader itself can crash and come back too.
    harness.crash(leader);
    harness.run(100);
    let new_leader = harness.wait_for_leader();
    assert_ne!(new_leader, leader);
    assert!(matches!(
        harness.put(new_leader, 1, 13, "after", "crash"),
        Outcome::Applied(_)
    ));
    harness.restart(leader);
    harness.run(50);
    assert_eq!(harness.nodes[&leader].store().get("after"), Some("crash"));
    assert_eq!(harness.nodes[&leader].store().get("k12"), Some("v"));
}

#[test]
fn a_node_far_behind_catches_up_by_snapshot() {
    let mut harness = Harness::new(4);
    let leader = harness.wait_for_leader();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    harness.isolated.insert(lagging);
    for sequence in 1..=30 {
        let outcome = harness.put(leader, 2, sequence, "counter", &sequence.to_string());
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
    }
    let first_index = {
        use raft::Storage;
        harness.nodes[&leader]
            .raw()
            .storage()
            .first_index()
            .unwrap()
    };
    assert!(
        first_index > 5,
        "the leader compacted its log (first index {first_index})"
    );
    harness.isolated.clear();
    harness.run(100);
    assert_eq!(harness.nodes[&lagging].store().get("counter"), Some("30"));
    assert!(harness.nodes[&lagging].applied_index() >= 30);
}

#[test]
fn an_orphan_snapshot_file_left_by_a_crash_does_not_break_later_compaction() {
    use kvapp::snapshotter::{Snapshotter, SnapshotterConfig};
    // Found by the simulator: a crash after a snapshot file became durable but before its WAL
    // marker did leaves a file the WAL knows nothing about. Later compaction must not try to
    // release the WAL up to it.
    let mut harness = Harness::new(4);
    let leader = harness.wait_for_leader();
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    for sequence in 1..=10 {
        let outcome = harness.put(leader, 3, sequence, "k", &sequence.to_string());
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
    }
    harness.run(5);
    harness.crash(victim);
    let mut disk = harness.down.remove(&victim).unwrap();
    let snapshotter = Snapshotter::new(SnapshotterConfig::default());
    let newest = snapshotter
        .list(&mut disk)
        .unwrap()
        .last()
        .copied()
        .unwrap();
    let mut orphan = raft::Snapshot::default();
    orphan.metadata.index = newest.index + 1;
    orphan.metadata.term = newest.term;
    orphan.data = b"never marked in the WAL".to_vec();
    snapshotter.save(&mut disk, &orphan).unwrap();
    harness.down.insert(victim, disk);
    harness.restart(victim);
    for sequence in 11..=40 {
        let outcome = harness.put(leader, 3, sequence, "k", &sequence.to_string());
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
    }
    harness.run(20);
    assert_eq!(harness.nodes[&victim].store().get("k"), Some("40"));
}

impl Harness {
    fn remove(&mut self, at: NodeId, id: NodeId) -> Outcome {
        let request = self
            .nodes
            .get_mut(&at)
            .unwrap()
            .propose_conf_change(raft::ConfChange::remove_node(id));
        self.wait(at, request)
    }

    /// Delivers the oldest message on the wire (unless an isolation or a cut link loses it);
    /// false when none is left.
    fn deliver_one(&mut self) -> bool {
        let Some((from, to, bytes)) = self.wire.borrow_mut().pop_front() else {
            return false;
        };
        let lost = self.isolated.contains(&from)
            || self.isolated.contains(&to)
            || self.cut.contains(&(from, to));
        if !lost {
            if let Some(node) = self.nodes.get_mut(&to) {
                let _ = node.receive(&bytes);
                node.process_ready().expect("storage works");
            }
        }
        true
    }

    /// Steps until node `id` has applied its own removal.
    fn until_removed(&mut self, id: NodeId) {
        for _ in 0..200 {
            if self.nodes[&id].is_removed() {
                return;
            }
            self.step();
        }
        panic!("node {id} never applied its removal");
    }

    /// Steps up to `steps` times until node `id` may leave; whether it may.
    fn until_may_leave(&mut self, id: NodeId, steps: usize) -> bool {
        for _ in 0..steps {
            self.step();
            if self.nodes[&id].may_leave() {
                return true;
            }
        }
        false
    }
}

#[test]
fn a_removed_leader_stays_until_the_survivor_knows_the_removal_is_committed() {
    // etcd #10563, as the simulator found it through this driver: in a cluster of two voters
    // whose leader removes itself, the survivor needs the leader's vote until it learns that
    // the removal is committed. A leader that left at once could strand it for good.
    let mut harness = Harness::new(10_000);
    let leader = harness.wait_for_leader();
    let third = (1..=3).rev().find(|&id| id != leader).unwrap();
    assert!(matches!(
        harness.remove(leader, third),
        Outcome::ConfChanged(_)
    ));
    harness.until_removed(third);
    assert!(
        harness.nodes[&third].may_leave(),
        "a follower told by the leader"
    );
    harness.nodes.remove(&third);
    let survivor = (1..=3).find(|&id| id != leader && id != third).unwrap();

    // The leader proposes its own removal; once the survivor holds the entry, the link from
    // the leader to the survivor fails. The survivor's acknowledgement still arrives, so the
    // leader commits and applies its removal, but the commit index never reaches the survivor.
    let request = harness
        .nodes
        .get_mut(&leader)
        .unwrap()
        .propose_conf_change(raft::ConfChange::remove_node(leader));
    let removal_index = harness.nodes[&leader].raw().raft.raft_log.last_index();
    harness
        .nodes
        .get_mut(&leader)
        .unwrap()
        .process_ready()
        .unwrap();
    while harness.nodes[&survivor].raw().raft.raft_log.last_index() < removal_index {
        assert!(harness.deliver_one(), "the entry reaches the survivor");
    }
    harness.cut.insert((leader, survivor));
    harness.until_removed(leader);
    assert!(matches!(
        harness.completions.get(&(leader, request)),
        Some(Outcome::ConfChanged(_))
    ));
    assert!(harness.nodes[&survivor].raw().raft.raft_log.committed < removal_index);
    assert!(
        !harness.nodes[&leader].may_leave(),
        "the survivor has not reported the commit"
    );
    // The survivor still counts the removed leader and cannot finish without it: it needs its
    // vote and acknowledgements, which the removed node, still running, gives.
    harness.run(100);
    assert!(harness.nodes[&survivor]
        .conf_state()
        .voters
        .contains(&leader));
    assert!(!harness.nodes[&leader].may_leave());
    // Healed, the survivor learns the commit (from the removed node, or by leading with its
    // help) and the removed node hears it from a leader: then it may leave.
    harness.cut.clear();
    let left = harness.until_may_leave(leader, 200);
    assert!(left, "the leader learned that the survivor knows");
    assert!(!harness.nodes[&survivor].is_removed());
    harness.nodes.remove(&leader);
    let new_leader = harness.wait_for_leader();
    assert_eq!(new_leader, survivor);
    assert!(matches!(
        harness.put(survivor, 9, 1, "alone", "yes"),
        Outcome::Applied(_)
    ));
}

#[test]
fn a_removed_leader_that_restarts_from_a_snapshot_of_its_removal_still_finishes_it() {
    // Found by the simulator (swarm seed 1407 with membership changes): the removed leader
    // applied its removal, took a snapshot whose configuration no longer holds it, and crashed.
    // Its log was the longest (an entry proposed after the removal never reached the survivor),
    // so the survivor could not win without it. Restarted from that snapshot it no longer knew
    // it was finishing a removal: outside its configuration, it never campaigned, and it
    // refused the survivor its vote. Nobody led again.
    let mut harness = Harness::new(4);
    let leader = harness.wait_for_leader();
    for sequence in 1..=10 {
        let outcome = harness.put(leader, 3, sequence, "k", &sequence.to_string());
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
    }
    let third = (1..=3).rev().find(|&id| id != leader).unwrap();
    assert!(matches!(
        harness.remove(leader, third),
        Outcome::ConfChanged(_)
    ));
    harness.until_removed(third);
    harness.nodes.remove(&third);
    let survivor = (1..=3).find(|&id| id != leader && id != third).unwrap();

    // The leader proposes its own removal, the survivor receives it, then the link from the
    // leader to the survivor fails and the leader appends one more entry.
    let node = harness.nodes.get_mut(&leader).unwrap();
    node.propose_conf_change(raft::ConfChange::remove_node(leader));
    let removal_index = node.raw().raft.raft_log.last_index();
    node.process_ready().unwrap();
    while harness.nodes[&survivor].raw().raft.raft_log.last_index() < removal_index {
        assert!(harness.deliver_one(), "the entry reaches the survivor");
    }
    harness.cut.insert((leader, survivor));
    let node = harness.nodes.get_mut(&leader).unwrap();
    node.submit(Command {
        client_id: 4,
        sequence: 1,
        operation: Operation::Put {
            key: "after".to_string(),
            value: "removal".to_string(),
        },
    });
    node.process_ready().unwrap();
    harness.until_removed(leader);
    let last_index = harness.nodes[&leader].raw().raft.raft_log.last_index();
    assert!(last_index > harness.nodes[&survivor].raw().raft.raft_log.last_index());
    assert!(harness.nodes[&survivor].raw().raft.raft_log.committed < removal_index);

    // It restarts from the snapshot it took on applying its removal.
    harness.crash(leader);
    harness.restart(leader);
    let restarted = &harness.nodes[&leader];
    assert!(
        !restarted.conf_state().contains(leader),
        "the test wants a restart from a snapshot of the removal"
    );
    assert!(
        restarted.is_removed(),
        "it knows it is finishing its removal"
    );
    assert!(!restarted.may_leave());

    harness.cut.clear();
    let left = harness.until_may_leave(leader, 500);
    assert!(
        left,
        "the removal was finished and the removed node told so"
    );
    harness.nodes.remove(&leader);
    assert_eq!(harness.wait_for_leader(), survivor);
    assert!(matches!(
        harness.put(survivor, 9, 1, "alone", "yes"),
        Outcome::Applied(_)
    ));
}

/// A disk shared with the test, so that it outlives a `Node::open` that fails.
struct SharedDisk(Rc<RefCell<MemDisk>>);

impl kvapp::disk::Disk for SharedDisk {
    fn create(&mut self, name: &str) -> std::io::Result<()> {
        self.0.borrow_mut().create(name)
    }
    fn append(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.0.borrow_mut().append(name, bytes)
    }
    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.0.borrow_mut().write_at(name, offset, bytes)
    }
    fn truncate(&mut self, name: &str, length: u64) -> std::io::Result<()> {
        self.0.borrow_mut().truncate(name, length)
    }
    fn read(&mut self, name: &str) -> std::io::Result<Vec<u8>> {
        self.0.borrow_mut().read(name)
    }
    fn sync(&mut self, name: &str) -> std::io::Result<()> {
        self.0.borrow_mut().sync(name)
    }
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()> {
        self.0.borrow_mut().rename(from, to)
    }
    fn remove(&mut self, name: &str) -> std::io::Result<()> {
        self.0.borrow_mut().remove(name)
    }
    fn list(&mut self) -> std::io::Result<Vec<String>> {
        self.0.borrow_mut().list()
    }
    fn sync_dir(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().sync_dir()
    }
}

/// A node that loses power anywhere inside its very first start (creating the WAL and writing
/// the bootstrap configuration) comes back either as if it had never started, and bootstraps
/// again, or with the whole bootstrap configuration. Never with a WAL but no configuration: such
/// a node is a voter of nothing and never campaigns, so a cluster whose nodes all crashed so
/// would never elect a leader (and a one-node cluster never again).
#[test]
fn a_crash_anywhere_inside_the_first_start_leaves_the_bootstrap_whole_or_absent() {
    let clock = ManualClock::default();
    let wire: Wire = Rc::default();
    let mut config = NodeConfig::new(1, vec![1, 2, 3]);
    config.raft_seed = 1;
    let mut crashes_inside = 0;
    for budget in 0.. {
        let disk = Rc::new(RefCell::new(MemDisk::new()));
        disk.borrow_mut().set_operation_budget(Some(budget));
        let transport = || QueueTransport {
            from: 1,
            wire: wire.clone(),
        };
        let first = Node::open(
            config.clone(),
            SharedDisk(disk.clone()),
            transport(),
            clock.clone(),
        );
        let finished = first.is_ok();
        drop(first);
        disk.borrow_mut().crash();
        let mut node = Node::open(
            config.clone(),
            SharedDisk(disk.clone()),
            transport(),
            clock.clone(),
        )
        .unwrap_or_else(|error| panic!("crash after {budget} disk steps: reopening: {error}"));
        while node.raw().has_ready() {
            node.process_ready().expect("storage works");
        }
        assert_eq!(
            node.raw().raft.tracker.voter_ids(),
            BTreeSet::from([1, 2, 3]),
            "crash after {budget} disk steps of the first start"
        );
        if finished {
            break;
        }
        crashes_inside += 1;
    }
    assert!(
        crashes_inside >= 3,
        "the first start takes several disk steps"
    );
}

/// The server's `--read-mode` takes a mode by the name the mode gives itself, and refuses
/// anything else by name.
#[test]
fn read_modes_parse_by_their_names_and_nothing_else() {
    use kvapp::node::ReadMode;
    for mode in [ReadMode::Safe, ReadMode::Lease] {
        assert_eq!(mode.name().parse::<ReadMode>(), Ok(mode));
    }
    assert_eq!(ReadMode::Safe.name(), "safe");
    assert_eq!(ReadMode::Lease.name(), "lease");
    let refused = "fast".parse::<ReadMode>().unwrap_err();
    assert!(refused.contains("\"fast\""), "{refused}");
}
