//! Structure-aware sequences of ticks, deliveries in any order, drops, partitions, restarts,
//! proposals and configuration changes into a 3-node set of `RawNode`s with in-process delivery.
//! Every `Ready` is handled per the contract, and after every step the harness asserts election
//! safety, state-machine safety (one entry per applied index) and leader completeness.
//!
//! The harness is the raft crate's own test network, included rather than copied.

#![no_main]

#[path = "../../raft/tests/support/mod.rs"]
mod support;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use raft::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType};
use support::Cluster;

const NODES: [u64; 3] = [1, 2, 3];
const MAX_ACTIONS: usize = 400;

#[derive(Arbitrary, Debug)]
enum Action {
    TickAll,
    Tick(u8),
    Deliver(u16),
    DeliverAll,
    Drop(u16),
    Duplicate(u16),
    Partition(u8),
    Heal,
    Restart(u8),
    Campaign(u8),
    Propose(u8, u8),
    ConfChange(u8, u8, u8, bool),
}

fn conf_change(kind: u8, target: u8, joint: bool) -> ConfChange {
    let change_type = match kind % 3 {
        0 => ConfChangeType::AddNode,
        1 => ConfChangeType::RemoveNode,
        _ => ConfChangeType::AddLearnerNode,
    };
    let node_id = 1 + u64::from(target % 4);
    let mut change = ConfChange::single(change_type, node_id);
    if joint {
        change.transition = ConfChangeTransition::JointImplicit;
        change.changes.push(ConfChangeSingle {
            change_type: ConfChangeType::AddNode,
            node_id: 1 + u64::from(target.wrapping_add(1) % 3),
        });
    }
    if kind >= 200 {
        // Leave a joint configuration.
        change = ConfChange::leave_joint();
    }
    change
}

fuzz_target!(|actions: Vec<Action>| {
    let mut cluster = Cluster::new(&NODES, |config| {
        config.election_tick = 4;
        config.max_size_per_msg = 1;
        config.pre_vote = true;
        config.check_quorum = true;
    });
    let mut proposals = 0u32;
    for action in actions.iter().take(MAX_ACTIONS) {
        let node = |k: u8| NODES[k as usize % NODES.len()];
        match *action {
            Action::TickAll => {
                for id in NODES {
                    cluster.node_mut(id).tick();
                    cluster.process_ready(id);
                }
            }
            Action::Tick(k) => {
                cluster.node_mut(node(k)).tick();
                cluster.process_ready(node(k));
            }
            Action::Deliver(k) => {
                if !cluster.in_flight.is_empty() {
                    let at = k as usize % cluster.in_flight.len();
                    let message = cluster.in_flight.remove(at).expect("in range");
                    cluster.in_flight.push_front(message);
                    cluster.deliver_one();
                }
            }
            Action::DeliverAll => cluster.deliver_all(),
            Action::Drop(k) => {
                if !cluster.in_flight.is_empty() {
                    let at = k as usize % cluster.in_flight.len();
                    cluster.in_flight.remove(at);
                }
            }
            Action::Duplicate(k) => {
                if !cluster.in_flight.is_empty() {
                    let at = k as usize % cluster.in_flight.len();
                    let message = cluster.in_flight[at].clone();
                    cluster.in_flight.push_back(message);
                }
            }
            Action::Partition(k) => {
                cluster.heal();
                cluster.isolate(node(k));
            }
            Action::Heal => cluster.heal(),
            Action::Restart(k) => cluster.restart(node(k)),
            Action::Campaign(k) => {
                let _ = cluster.node_mut(node(k)).campaign();
                cluster.process_ready(node(k));
            }
            Action::Propose(k, byte) => {
                proposals += 1;
                let data = format!("{proposals}:{byte}").into_bytes();
                let _ = cluster.node_mut(node(k)).propose(data);
                cluster.process_ready(node(k));
            }
            Action::ConfChange(k, kind, target, joint) => {
                let change = conf_change(kind, target, joint);
                let _ = cluster.node_mut(node(k)).propose_conf_change(&change);
                cluster.process_ready(node(k));
            }
        }
        cluster.assert_leader_completeness();
    }
});
