//! Random schedules of ticks, deliveries in any order, drops, duplicates, partitions and
//! proposals on 3 and 5 nodes: never two leaders in one term, never two different entries
//! applied at one index, and every applied entry is in the log of every later leader (leader
//! completeness, Raft §5.4).

mod support;

use proptest::prelude::*;
use support::Cluster;

#[derive(Clone, Debug)]
enum Action {
    TickAll,
    DeliverBurst(usize, u8),
    Tick(usize),
    DeliverAt(usize),
    DropAt(usize),
    DuplicateAt(usize),
    Partition(usize),
    Heal,
    Propose(usize),
    Restart(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::TickAll),
        4 => (any::<usize>(), 1..24u8).prop_map(|(k, n)| Action::DeliverBurst(k, n)),
        2 => (0..7usize).prop_map(Action::Tick),
        10 => any::<usize>().prop_map(Action::DeliverAt),
        2 => any::<usize>().prop_map(Action::DropAt),
        1 => any::<usize>().prop_map(Action::DuplicateAt),
        2 => any::<usize>().prop_map(Action::Partition),
        1 => Just(Action::Heal),
        3 => (0..7usize).prop_map(Action::Propose),
        1 => (0..7usize).prop_map(Action::Restart),
    ]
}

fn run(size: u64, pre_vote: bool, check_quorum: bool, actions: &[Action]) {
    let ids: Vec<u64> = (1..=size).collect();
    let mut cluster = Cluster::new(&ids, |config| {
        config.pre_vote = pre_vote;
        config.check_quorum = check_quorum;
        config.election_tick = 4;
        // One entry per append makes partial replication, the raw material of Figure 8, common.
        config.max_size_per_msg = 1;
    });
    let mut proposals = 0u32;
    for action in actions {
        match *action {
            Action::TickAll => {
                for &id in &ids {
                    cluster.node_mut(id).tick();
                    cluster.process_ready(id);
                }
            }
            Action::DeliverBurst(k, count) => {
                for step in 0..count as usize {
                    if cluster.in_flight.is_empty() {
                        break;
                    }
                    let at = k.wrapping_add(step * 7919) % cluster.in_flight.len();
                    let message = cluster.in_flight.remove(at).unwrap();
                    cluster.in_flight.push_front(message);
                    cluster.deliver_one();
                }
            }
            Action::Tick(k) => {
                let id = ids[k % ids.len()];
                cluster.node_mut(id).tick();
                cluster.process_ready(id);
            }
            Action::DeliverAt(k) | Action::DropAt(k) | Action::DuplicateAt(k)
                if cluster.in_flight.is_empty() =>
            {
                let _ = k;
            }
            Action::DeliverAt(k) => {
                let message = cluster
                    .in_flight
                    .remove(k % cluster.in_flight.len())
                    .unwrap();
                cluster.in_flight.push_front(message);
                cluster.deliver_one();
            }
            Action::DropAt(k) => {
                cluster.in_flight.remove(k % cluster.in_flight.len());
            }
            Action::DuplicateAt(k) => {
                let message = cluster.in_flight[k % cluster.in_flight.len()].clone();
                cluster.in_flight.push_back(message);
            }
            Action::Partition(k) => {
                cluster.heal();
                let cut = 1 + k % (ids.len() - 1);
                let (left, right) = ids.split_at(cut);
                cluster.partition(&[left, right]);
            }
            Action::Heal => cluster.heal(),
            Action::Restart(k) => cluster.restart(ids[k % ids.len()]),
            Action::Propose(k) => {
                let id = ids[k % ids.len()];
                proposals += 1;
                let _ = cluster
                    .node_mut(id)
                    .propose(format!("p{proposals}").into_bytes());
                cluster.process_ready(id);
            }
        }
        cluster.assert_leader_completeness();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn three_nodes_stay_safe(
        pre_vote in any::<bool>(),
        check_quorum in any::<bool>(),
        actions in proptest::collection::vec(action(), 200..800),
    ) {
        run(3, pre_vote, check_quorum, &actions);
    }

    #[test]
    fn five_nodes_stay_safe(
        pre_vote in any::<bool>(),
        check_quorum in any::<bool>(),
        actions in proptest::collection::vec(action(), 200..800),
    ) {
        run(5, pre_vote, check_quorum, &actions);
    }
}
