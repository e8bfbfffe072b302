//! Linearizable reads without log entries (Raft thesis §6.4): in safe mode the leader records
//! its commit index and confirms its leadership with a heartbeat round whose acknowledgements
//! were sent after the request (etcd #20418), and only once it has committed an entry of its
//! own term (etcd #7331); the lease-based mode answers at once under CheckQuorum; followers
//! forward reads to the leader; read states come out in `Ready`.

mod support;

use raft::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Message,
    MessageType, RaftError, ReadOnlyOption, ReadState, StateRole,
};
use support::Cluster;

fn read_states(cluster: &Cluster, id: u64) -> Vec<ReadState> {
    cluster.read_states.get(&id).cloned().unwrap_or_default()
}

fn read_state(index: u64, context: &[u8]) -> ReadState {
    ReadState {
        index,
        request_context: context.to_vec(),
    }
}

#[test]
fn section_6_4_a_leader_serves_a_read_once_a_heartbeat_round_confirms_it() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let committed = cluster.committed(1);
    cluster.node_mut(1).read_index(b"r1".to_vec()).unwrap();
    cluster.process_ready(1);
    assert!(
        read_states(&cluster, 1).is_empty(),
        "not before confirmation"
    );
    let heartbeats = cluster
        .in_flight
        .iter()
        .filter(|m| m.msg_type == MessageType::Heartbeat && !m.context.is_empty())
        .count();
    assert_eq!(heartbeats, 2, "a heartbeat round goes out at once");
    // One acknowledgement plus the leader's own make a majority of three.
    cluster.deliver_one();
    cluster.deliver_one();
    assert!(read_states(&cluster, 1).is_empty());
    assert_eq!(
        cluster.in_flight.front().map(|m| m.msg_type),
        Some(MessageType::HeartbeatResponse)
    );
    cluster.deliver_one();
    assert_eq!(read_states(&cluster, 1), vec![read_state(committed, b"r1")]);
    cluster.deliver_all();
    assert_eq!(read_states(&cluster, 1).len(), 1);
}

#[test]
fn section_6_4_a_read_is_not_confirmed_without_a_majority() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(1);
    cluster.read_index(1, b"r").unwrap();
    cluster.tick_node(1, 5);
    assert!(read_states(&cluster, 1).is_empty());
    // The acknowledgements of a later heartbeat confirm it once the partition heals.
    cluster.heal();
    cluster.tick_all();
    assert_eq!(read_states(&cluster, 1).len(), 1);
}

#[test]
fn etcd_20418_acknowledgements_sent_before_a_request_do_not_confirm_it() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    // First read: its heartbeats reach the followers, whose answers are still in flight.
    cluster.node_mut(1).read_index(b"same".to_vec()).unwrap();
    cluster.process_ready(1);
    let heartbeats: Vec<_> = cluster.in_flight.drain(..).collect();
    for heartbeat in heartbeats {
        let to = heartbeat.to;
        cluster.node_mut(to).step(heartbeat).unwrap();
        cluster.process_ready(to);
    }
    let first_answers = cluster.in_flight.len();
    assert_eq!(first_answers, 2);
    // A write commits, then a second read with the same context arrives.
    cluster.propose(1, b"y").unwrap();
    let committed = cluster.committed(1);
    cluster.node_mut(1).read_index(b"same".to_vec()).unwrap();
    cluster.process_ready(1);
    // The old answers confirm the first read only, although the context is the same.
    // (The write's traffic above already delivered them; replay them to be sure they do not
    // count twice.)
    let states = read_states(&cluster, 1);
    assert_eq!(states.len(), 1);
    assert!(states[0].index < committed);
    let stale: Vec<_> = cluster
        .delivered
        .iter()
        .filter(|m| m.msg_type == MessageType::HeartbeatResponse)
        .cloned()
        .collect();
    for answer in stale {
        cluster.node_mut(1).step(answer).unwrap();
    }
    cluster.process_ready(1);
    assert_eq!(read_states(&cluster, 1).len(), 1);
    // Only the round sent after the second request confirms it, at the new commit index.
    cluster.deliver_all();
    let states = read_states(&cluster, 1);
    assert_eq!(states.len(), 2);
    assert_eq!(states[1], read_state(committed, b"same"));
}

#[test]
fn etcd_7331_a_new_leader_serves_reads_only_after_committing_in_its_term() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    // Node 2 wins an election but its empty entry is not committed yet: until it is, its commit
    // index may lag behind what node 1 committed, and a read must wait.
    cluster.node_mut(2).campaign().unwrap();
    cluster.process_ready(2);
    while cluster.role(2) != StateRole::Leader {
        assert!(cluster.deliver_one());
    }
    let empty_entry = cluster.last_index(2);
    // The followers learn of the new leader and its entry; their answers are lost.
    cluster.cut_links.insert((1, 2));
    cluster.cut_links.insert((3, 2));
    cluster.deliver_all();
    cluster.heal();
    assert!(cluster.committed(2) < empty_entry);
    cluster.node_mut(2).read_index(b"leader".to_vec()).unwrap();
    cluster.process_ready(2);
    let heartbeats = cluster
        .in_flight
        .iter()
        .filter(|m| m.msg_type == MessageType::Heartbeat)
        .count();
    assert_eq!(
        heartbeats, 0,
        "no round before the leader commits in its term"
    );
    // A read forwarded by a follower waits as well.
    cluster
        .node_mut(3)
        .read_index(b"follower".to_vec())
        .unwrap();
    cluster.process_ready(3);
    cluster.deliver_all();
    assert!(read_states(&cluster, 2).is_empty());
    assert!(read_states(&cluster, 3).is_empty());
    // The first heartbeat answer lets the leader replicate and commit its entry; the reads go.
    cluster.tick_all();
    assert_eq!(
        read_states(&cluster, 2),
        vec![read_state(cluster.committed(2), b"leader")]
    );
    assert!(read_states(&cluster, 2)[0].index >= empty_entry);
    assert_eq!(read_states(&cluster, 3).len(), 1);
    assert!(read_states(&cluster, 3)[0].index >= empty_entry);
}

#[test]
fn a_follower_forwards_a_read_and_receives_the_leaders_read_index() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    cluster.read_index(3, b"at 3").unwrap();
    assert_eq!(
        read_states(&cluster, 3),
        vec![read_state(cluster.committed(1), b"at 3")]
    );
    assert!(read_states(&cluster, 1).is_empty());
}

#[test]
fn a_read_without_a_known_leader_is_dropped() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    assert_eq!(
        cluster.read_index(2, b"r"),
        Err(RaftError::ReadIndexDropped)
    );
}

#[test]
fn a_single_voter_serves_reads_at_once() {
    let mut cluster = Cluster::new(&[1], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    cluster.read_index(1, b"r").unwrap();
    assert_eq!(
        read_states(&cluster, 1),
        vec![read_state(cluster.committed(1), b"r")]
    );
}

#[test]
fn lease_based_reads_are_served_without_a_heartbeat_round() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    // The lease starts with the first heartbeat round a quorum acknowledges.
    cluster.node_mut(1).read_index(b"first".to_vec()).unwrap();
    cluster.process_ready(1);
    assert!(
        read_states(&cluster, 1).is_empty(),
        "no round acknowledged yet"
    );
    cluster.deliver_all();
    assert_eq!(read_states(&cluster, 1).len(), 1, "confirmed by its round");
    cluster.node_mut(1).read_index(b"lease".to_vec()).unwrap();
    cluster.process_ready(1);
    assert_eq!(
        read_states(&cluster, 1)[1..],
        vec![read_state(cluster.committed(1), b"lease")]
    );
    cluster.read_index(2, b"forwarded").unwrap();
    assert_eq!(read_states(&cluster, 2).len(), 1);
}

#[test]
fn a_leader_alone_in_both_halves_of_a_joint_configuration_answers_reads() {
    // Entering a joint configuration without changing the voters of a one-voter cluster (say
    // to add a learner, leaving it only when asked) gives both halves as this node alone: no
    // heartbeat response will come, so its own acknowledgement must confirm the read.
    let conf_state = ConfState {
        voters: vec![1],
        voters_outgoing: vec![1],
        learners: vec![2],
        ..ConfState::default()
    };
    let mut cluster = Cluster::with_conf_state(&[1, 2], conf_state, |_| {});
    cluster.campaign(1);
    assert_eq!(cluster.role(1), StateRole::Leader);
    cluster.propose(1, b"x").unwrap();
    cluster.read_index(1, b"alone").unwrap();
    assert_eq!(
        read_states(&cluster, 1),
        vec![read_state(cluster.committed(1), b"alone")]
    );
}

#[test]
fn learner_acknowledgements_do_not_confirm_a_read() {
    let conf_state = ConfState {
        voters: vec![1, 2, 3],
        learners: vec![4],
        ..ConfState::default()
    };
    let mut cluster = Cluster::with_conf_state(&[1, 2, 3, 4], conf_state, |_| {});
    cluster.campaign(1);
    cluster.partition(&[&[1, 4], &[2, 3]]);
    cluster.read_index(1, b"r").unwrap();
    cluster.tick_node(1, 3);
    assert!(read_states(&cluster, 1).is_empty());
}

#[test]
fn a_joint_configuration_confirms_reads_with_majorities_of_both() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.add_joining_node(4, |_| {});
    cluster.add_joining_node(5, |_| {});
    cluster.campaign(1);
    let joint = ConfChange {
        transition: ConfChangeTransition::JointExplicit,
        changes: [(ConfChangeType::AddNode, 4), (ConfChangeType::AddNode, 5)]
            .into_iter()
            .chain([
                (ConfChangeType::RemoveNode, 2),
                (ConfChangeType::RemoveNode, 3),
            ])
            .map(|(change_type, node_id)| ConfChangeSingle {
                change_type,
                node_id,
            })
            .collect(),
        context: Vec::new(),
    };
    cluster.propose_conf_change(1, &joint).unwrap();
    assert!(cluster.conf_state(1).is_joint());
    // 4 and 5 with 1 are a majority of (1 4 5) but not of (1 2 3).
    cluster.partition(&[&[1, 4, 5], &[2, 3]]);
    cluster.read_index(1, b"a").unwrap();
    cluster.tick_node(1, 3);
    assert!(read_states(&cluster, 1).is_empty());
    // Acknowledgements of later rounds add up: 2 and 3 complete it.
    cluster.heal();
    cluster.tick_all();
    assert_eq!(read_states(&cluster, 1).len(), 1);
    // 2 and 3 with 1 are a majority of (1 2 3) but not of (1 4 5).
    cluster.isolate(4);
    cluster.isolate(5);
    cluster.read_index(1, b"b").unwrap();
    cluster.tick_node(1, 3);
    assert_eq!(read_states(&cluster, 1).len(), 1);
    cluster.heal();
    cluster.tick_all();
    assert_eq!(read_states(&cluster, 1).len(), 2);
}

#[test]
fn reads_across_a_leader_change_see_the_new_leaders_writes() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    cluster.read_index(2, b"before").unwrap();
    assert_eq!(read_states(&cluster, 2).len(), 1);
    // Node 1 is cut off; 2 and 3 elect a new leader, which commits a write.
    cluster.isolate(1);
    cluster.campaign(2);
    cluster.propose(2, b"y").unwrap();
    let write_index = cluster.committed(2);
    // The deposed leader cannot confirm a read: it stays pending, never answered stale.
    cluster.read_index(1, b"stale?").unwrap();
    cluster.tick_node(1, 5);
    assert!(read_states(&cluster, 1).is_empty());
    // Reads at the new leader and through a follower see the write.
    cluster.read_index(2, b"leader").unwrap();
    cluster.read_index(3, b"follower").unwrap();
    assert_eq!(read_states(&cluster, 2).last().unwrap().index, write_index);
    assert_eq!(
        read_states(&cluster, 3),
        vec![read_state(write_index, b"follower")]
    );
    // Back in the cluster, the old leader steps down and drops the unconfirmed read.
    cluster.heal();
    cluster.tick_all_times(3);
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert!(read_states(&cluster, 1).is_empty());
    cluster.read_index(1, b"after").unwrap();
    assert_eq!(
        read_states(&cluster, 1),
        vec![read_state(write_index, b"after")]
    );
}

#[test]
fn a_removed_leader_does_not_answer_reads_on_its_own_authority() {
    // Leader 1 of the voters (1 2) removes itself without stepping down: the only voter left is
    // 2. The removed leader must not take itself for a single-voter cluster and answer reads at
    // once: cut off, it would serve a value that node 2, now leading alone, has overwritten.
    let mut cluster = Cluster::new(&[1, 2], |_| {});
    cluster.campaign(1);
    cluster
        .propose_conf_change(1, &ConfChange::remove_node(1))
        .unwrap();
    assert_eq!(cluster.conf_state(2), ConfState::with_voters([2]));
    assert_eq!(cluster.role(1), StateRole::Leader);
    cluster.isolate(1);
    cluster.tick_node(2, 2 * cluster.node(2).raft.election_timeout());
    assert_eq!(cluster.role(2), StateRole::Leader);
    cluster.propose(2, b"new value").unwrap();
    cluster.read_index(1, b"r").unwrap();
    assert!(
        read_states(&cluster, 1).is_empty(),
        "a stale read: {:?}",
        read_states(&cluster, 1)
    );
    // Node 2's acknowledgement, not node 1's own say, confirms a read.
    cluster.heal();
    cluster.tick_node(1, 1);
    assert!(read_states(&cluster, 1).is_empty(), "node 2 has moved on");
}

#[test]
fn a_leader_that_sent_timeout_now_no_longer_trusts_its_lease() {
    // The transferee's election is forced past the other voters' leases (thesis §3.10), so
    // once a leader has sent TimeoutNow another node may lead a later term while the old
    // leader still believes in its lease (etcd-io/raft #99, etcd #12704). From then on, lease
    // reads must be confirmed by a heartbeat round.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    // Nothing reaches node 1 any more; its TimeoutNow reaches node 2.
    cluster.cut_links.insert((2, 1));
    cluster.cut_links.insert((3, 1));
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
    cluster.propose(2, b"new value").unwrap();
    let write_index = cluster.committed(2);
    assert_eq!(cluster.role(1), StateRole::Leader, "node 1 has not heard");
    cluster.read_index(1, b"stale?").unwrap();
    assert!(
        read_states(&cluster, 1).is_empty(),
        "a stale read: {:?} before the write at {write_index}",
        read_states(&cluster, 1)
    );
}

#[test]
fn after_an_abandoned_transfer_lease_reads_wait_for_a_heartbeat_round() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    // The TimeoutNow to node 2 is lost; the transfer is abandoned.
    cluster.cut_links.insert((1, 2));
    cluster.transfer_leader(1, 2);
    cluster.tick_node(1, cluster.node(1).raft.election_timeout());
    assert_eq!(cluster.node(1).raft.lead_transferee, 0);
    cluster.node_mut(1).read_index(b"r".to_vec()).unwrap();
    cluster.process_ready(1);
    assert!(read_states(&cluster, 1).is_empty(), "not at once");
    cluster.deliver_all();
    assert_eq!(
        read_states(&cluster, 1),
        vec![read_state(cluster.committed(1), b"r")]
    );
}

#[test]
fn a_lease_lasts_no_longer_than_the_followers_promise() {
    // Followers refuse votes for an election timeout after hearing from the leader (thesis
    // §4.2.3), but CheckQuorum looks only once per election timeout: a leader cut off just
    // after a check stays leader until the check after next. Its lease must end with the
    // followers' promise, not with its role. Clocks run in lockstep and every message arrives
    // at once: this is not about clock drift.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let timeout = cluster.node(1).raft.election_timeout();
    cluster.tick_all_times(timeout);
    cluster.isolate(1);
    let new_leader = cluster
        .tick_until_one_leads(&[2, 3], 2 * timeout)
        .expect("2 or 3 elected");
    assert_eq!(cluster.role(1), StateRole::Leader, "node 1 has not noticed");
    cluster.propose(new_leader, b"new value").unwrap();
    let write_index = cluster.committed(new_leader);
    // The harness checks every read state against what was committed before the request.
    cluster.read_index(1, b"lease").unwrap();
    assert!(read_states(&cluster, 1).is_empty());
    assert!(write_index > cluster.committed(1));
}

#[test]
fn within_its_lease_a_leader_answers_at_once() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let timeout = cluster.node(1).raft.election_timeout();
    let mut at_once = 0;
    for tick in 0..3 * timeout {
        cluster.tick_all();
        let before = read_states(&cluster, 1).len();
        cluster
            .request_read(1, format!("{tick}").as_bytes())
            .unwrap();
        at_once += read_states(&cluster, 1).len() - before;
        cluster.deliver_all();
        assert_eq!(
            read_states(&cluster, 1).len(),
            tick + 1,
            "every read is answered"
        );
    }
    // The lease rests on the heartbeat round of each tick, not on the quorum check's
    // rhythm: every read is answered at once.
    assert_eq!(at_once, 3 * timeout);
}

#[test]
fn a_late_acknowledgement_does_not_stretch_the_lease() {
    // A follower's promise runs from when the heartbeat reached it, so an acknowledgement that
    // took long to come back vouches only for as long as its round is young: the lease counts
    // from when the round was sent, not from when its answer arrived.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let timeout = cluster.node(1).raft.election_timeout();
    // A round goes out and reaches both followers; their answers are held back.
    cluster.node_mut(1).tick();
    cluster.process_ready(1);
    while !cluster.in_flight.is_empty()
        && cluster
            .in_flight
            .iter()
            .any(|message| message.msg_type == MessageType::Heartbeat)
    {
        cluster.deliver_one();
    }
    let late: Vec<Message> = cluster.in_flight.drain(..).collect();
    assert!(late
        .iter()
        .all(|message| message.msg_type == MessageType::HeartbeatResponse));
    // The leader ticks on; its later rounds are lost.
    for _ in 0..timeout - 2 {
        cluster.node_mut(1).tick();
        cluster.process_ready(1);
        cluster.in_flight.clear();
    }
    cluster.in_flight.extend(late);
    cluster.deliver_all();
    assert_eq!(cluster.role(1), StateRole::Leader);
    cluster.node_mut(1).read_index(b"late".to_vec()).unwrap();
    cluster.process_ready(1);
    assert!(
        read_states(&cluster, 1).is_empty(),
        "the lease held on an old round"
    );
}

#[test]
fn starting_a_transfer_forfeits_the_lease() {
    // Starting a transfer restarts the leader's election clock to time the transfer, which
    // also postpones its next quorum check; the lease must not stretch with it. Here the
    // transferee lags, so no TimeoutNow is sent.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let timeout = cluster.node(1).raft.election_timeout();
    cluster.tick_all_times(timeout);
    cluster.isolate(1);
    cluster.propose(1, b"only on 1").unwrap();
    cluster.tick_all_times(timeout - 3);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.node(1).raft.lead_transferee, 2);
    let new_leader = cluster
        .tick_until_one_leads(&[2, 3], 2 * timeout)
        .expect("2 or 3 elected");
    assert_eq!(cluster.role(1), StateRole::Leader, "node 1 has not noticed");
    cluster.propose(new_leader, b"new value").unwrap();
    cluster.read_index(1, b"lease").unwrap();
    assert!(read_states(&cluster, 1).is_empty());
}
