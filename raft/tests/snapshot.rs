//! Log compaction and snapshots (Raft thesis §5.1 "snapshotting", §5.4.1 installing a snapshot
//! on a follower): a leader whose follower needs compacted entries sends a snapshot and pauses
//! that follower until the snapshot is reported; the follower restores its log, commit index and
//! configuration from it; `Ready` carries it to persist and apply.

mod support;

use raft::tracker::ProgressState;
use raft::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Message,
    MessageType, Snapshot, SnapshotMetadata, StateRole, Storage,
};
use support::{Cluster, SnapshotPolicy};

/// A three-node cluster led by 1 whose nodes snapshot every `interval` entries and compact
/// everything before the snapshot.
fn compacting_cluster(interval: u64) -> Cluster {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.snapshot_policy = Some(SnapshotPolicy {
        interval_entries: interval,
        keep_entries: 0,
    });
    cluster.campaign(1);
    cluster
}

fn progress_state(cluster: &Cluster, leader: u64, id: u64) -> ProgressState {
    cluster.node(leader).raft.tracker.progress[&id].state
}

/// Delivers messages until the next one in flight is a snapshot, and returns it (still queued).
fn deliver_until_snapshot(cluster: &mut Cluster) -> Message {
    for _ in 0..10_000 {
        if let Some(message) = cluster.in_flight.front() {
            if message.msg_type == MessageType::Snapshot {
                return message.clone();
            }
            cluster.deliver_one();
        } else {
            // Heartbeats make a follower answer, which marks it active, which allows the snapshot.
            let leader = cluster.leader().expect("a leader");
            cluster.node_mut(leader).tick();
            cluster.process_ready(leader);
        }
    }
    panic!("no snapshot was sent");
}

#[test]
fn a_follower_far_behind_catches_up_by_snapshot() {
    let mut cluster = compacting_cluster(5);
    cluster.isolate(3);
    for k in 0..20u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    let first_index = cluster.node(1).storage().first_index().unwrap();
    assert!(
        first_index > 10,
        "the leader compacted its log: {first_index}"
    );
    cluster.heal();
    cluster.tick_all_times(3);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    assert_eq!(cluster.machines[&3], cluster.machines[&1]);
    assert_eq!(cluster.last_index(3), cluster.last_index(1));
    assert_eq!(progress_state(&cluster, 1, 3), ProgressState::Replicate);
    // Node 3 never saw the entries the snapshot covers, only those after it.
    assert!(cluster.applied_data(3).len() < cluster.applied_data(1).len());
    // And it replicates normally afterwards.
    cluster.propose(1, b"after").unwrap();
    assert_eq!(cluster.machines[&3], cluster.machines[&1]);
}

#[test]
fn the_leader_pauses_a_follower_in_snapshot_state_until_the_snapshot_is_reported() {
    let mut cluster = compacting_cluster(5);
    cluster.isolate(3);
    for k in 0..12u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    let snapshot = deliver_until_snapshot(&mut cluster);
    let snapshot_index = snapshot.snapshot.as_ref().unwrap().metadata.index;
    let progress = &cluster.node(1).raft.tracker.progress[&3];
    assert_eq!(progress.state, ProgressState::Snapshot);
    assert_eq!(progress.pending_snapshot, snapshot_index);
    // While the snapshot is on its way, new entries go to node 2 only.
    cluster.in_flight.pop_front();
    cluster
        .node_mut(1)
        .propose(b"while sending".to_vec())
        .unwrap();
    cluster.process_ready(1);
    assert!(
        cluster
            .in_flight
            .iter()
            .all(|m| !(m.to == 3
                && matches!(m.msg_type, MessageType::Append | MessageType::Snapshot)))
    );
    // The application reports success: the leader probes just after the snapshot.
    cluster.node_mut(1).report_snapshot(3, true);
    let progress = &cluster.node(1).raft.tracker.progress[&3];
    assert_eq!(progress.state, ProgressState::Probe);
    assert_eq!(progress.next_index, snapshot_index + 1);
    assert!(progress.probe_sent, "it waits for an answer before probing");
}

#[test]
fn a_failed_snapshot_is_reported_and_sent_again() {
    let mut cluster = compacting_cluster(5);
    cluster.isolate(3);
    for k in 0..12u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    deliver_until_snapshot(&mut cluster);
    // The transport loses it; the harness reports the failure as an application would.
    cluster.drop_at(0);
    let progress = &cluster.node(1).raft.tracker.progress[&3];
    assert_eq!(progress.state, ProgressState::Probe);
    assert_eq!(
        progress.next_index,
        progress.matched + 1,
        "after a failure the leader probes from what it knows the follower has"
    );
    assert_eq!(cluster.stats.snapshots_installed, 0);
    cluster.tick_all_times(3);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    assert_eq!(cluster.machines[&3], cluster.machines[&1]);
}

#[test]
fn report_unreachable_moves_a_replicating_follower_back_to_probe() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    assert_eq!(progress_state(&cluster, 1, 2), ProgressState::Replicate);
    cluster.node_mut(1).report_unreachable(2);
    assert_eq!(progress_state(&cluster, 1, 2), ProgressState::Probe);
    // A follower in the Probe state is not affected, nor is one unknown to the leader.
    cluster.node_mut(1).report_unreachable(2);
    cluster.node_mut(1).report_unreachable(9);
    assert_eq!(progress_state(&cluster, 1, 2), ProgressState::Probe);
    // The next heartbeat answer resumes replication.
    cluster.tick_all();
    cluster.propose(1, b"y").unwrap();
    assert_eq!(progress_state(&cluster, 1, 2), ProgressState::Replicate);
    assert_eq!(cluster.machines[&2], cluster.machines[&1]);
}

fn snapshot_message(to: u64, index: u64, term: u64, voters: &[u64]) -> Message {
    Message {
        msg_type: MessageType::Snapshot,
        to,
        from: 1,
        term,
        snapshot: Some(Box::new(Snapshot {
            data: Vec::new(),
            metadata: SnapshotMetadata {
                conf_state: ConfState::with_voters(voters.iter().copied()),
                index,
                term,
            },
        })),
        ..Message::default()
    }
}

#[test]
fn a_follower_restores_its_log_commit_and_configuration_from_a_snapshot() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let node = cluster.node_mut(2);
    node.step(snapshot_message(2, 11, 2, &[1, 2, 3, 4]))
        .unwrap();
    assert_eq!(node.raft.raft_log.committed, 11);
    assert_eq!(node.raft.raft_log.last_index(), 11);
    assert_eq!(node.raft.raft_log.term(11), Ok(2));
    assert_eq!(
        node.raft.tracker.conf_state(),
        ConfState::with_voters([1, 2, 3, 4])
    );
    assert!(
        !node.raft.promotable(),
        "no campaign before the snapshot is applied"
    );
    let ready = node.ready();
    assert_eq!(ready.snapshot.as_ref().map(|s| s.metadata.index), Some(11));
    assert!(
        ready.committed_entries.is_empty(),
        "the snapshot is applied first"
    );
    let response = ready
        .messages
        .iter()
        .find(|m| m.msg_type == MessageType::AppendResponse)
        .expect("the follower answers");
    assert_eq!((response.index, response.reject), (11, false));
    node.storage_mut()
        .apply_snapshot(ready.snapshot.clone().unwrap())
        .unwrap();
    node.advance();
    assert_eq!(node.raft.raft_log.applied, 11);
    assert!(node.raft.promotable());
    assert_eq!(node.storage().first_index(), Ok(12));
}

#[test]
fn a_stale_snapshot_is_ignored_and_answered_with_the_commit_index() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let node = cluster.node_mut(2);
    node.step(snapshot_message(2, 11, 2, &[1, 2, 3])).unwrap();
    let ready = node.ready();
    node.storage_mut()
        .apply_snapshot(ready.snapshot.unwrap())
        .unwrap();
    node.advance();
    node.step(snapshot_message(2, 7, 2, &[1, 2, 3])).unwrap();
    assert!(!node.raft.raft_log.has_pending_snapshot());
    let response = node.raft.messages.pop().unwrap();
    assert_eq!((response.index, response.reject), (11, false));
}

#[test]
fn a_snapshot_the_log_already_holds_only_advances_the_commit_index() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(2);
    for k in 0..3u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    // Node 2 got nothing yet; give it the entries but not the commit index.
    let entries = cluster.node(1).raft.raft_log.all_entries();
    let term = cluster.term(1);
    let last = entries.last().unwrap().index;
    let node = cluster.node_mut(2);
    node.step(Message {
        msg_type: MessageType::Append,
        to: 2,
        from: 1,
        term,
        index: 1,
        log_term: entries[0].term,
        entries: entries[1..].to_vec(),
        commit: 0,
        ..Message::default()
    })
    .unwrap();
    let committed_before = node.raft.raft_log.committed;
    assert!(committed_before < last);
    node.step(snapshot_message(2, last, term, &[1, 2, 3]))
        .unwrap();
    assert!(
        !node.raft.raft_log.has_pending_snapshot(),
        "nothing to restore"
    );
    assert_eq!(node.raft.raft_log.committed, last);
    assert_eq!(node.raft.raft_log.last_index(), last);
}

#[test]
fn a_node_added_after_the_last_snapshot_catches_up_from_that_snapshot() {
    // The leader's newest snapshot predates the change that adds node 4, so its configuration
    // does not contain node 4. Node 4 must still install it and then apply the entries after
    // it, the addition of itself included; refusing it would leave node 4 behind until a newer
    // snapshot happened to be taken.
    let mut cluster = compacting_cluster(5);
    for k in 0..6u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.snapshot_policy = Some(SnapshotPolicy {
        interval_entries: 1000,
        keep_entries: 0,
    });
    let snapshot = cluster.node(1).storage().snapshot(0).unwrap();
    assert!(!snapshot.metadata.conf_state.voters.contains(&4));
    cluster.add_empty_node(4, |_| {});
    cluster
        .propose_conf_change(1, &ConfChange::add_voter(4))
        .unwrap();
    cluster.tick_all_times(3);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    assert_eq!(cluster.machines[&4], cluster.machines[&1]);
    assert_eq!(cluster.conf_state(4), ConfState::with_voters([1, 2, 3, 4]));
    // Node 4 now counts: with 2 and 3 down, 1 and 4 are not a majority of four, but with
    // only 3 down they are.
    cluster.isolate(3);
    cluster.propose(1, b"needs node 4").unwrap();
    assert_eq!(cluster.committed(1), cluster.last_index(1));
}

#[test]
fn a_snapshot_taken_before_a_joint_change_restores_the_configuration_before_it() {
    // Node 3 misses a joint change that the leader applies after its last snapshot. The
    // snapshot must carry the configuration as of its own index, so that node 3 can apply the
    // joint change on top of it. (Learner 4 never answers: it only makes the change real.)
    let mut cluster = compacting_cluster(5);
    cluster.isolate(3);
    for k in 0..5u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    let explicit = ConfChange {
        transition: ConfChangeTransition::JointExplicit,
        changes: vec![ConfChangeSingle {
            change_type: ConfChangeType::AddLearnerNode,
            node_id: 4,
        }],
        context: Vec::new(),
    };
    cluster.propose_conf_change(1, &explicit).unwrap();
    assert!(cluster.conf_state(1).is_joint());
    let snapshot = cluster.node(1).storage().snapshot(0).unwrap();
    assert!(snapshot.metadata.index > 1);
    assert_eq!(
        snapshot.metadata.conf_state,
        ConfState::with_voters([1, 2, 3]),
        "the snapshot was taken before the change"
    );
    // Node 3 installs the snapshot, then applies the joint change from the log.
    cluster.heal();
    cluster.tick_all_times(3);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    assert_eq!(cluster.conf_state(3), cluster.conf_state(1));
    cluster
        .propose_conf_change(1, &ConfChange::leave_joint())
        .unwrap();
    assert!(!cluster.conf_state(3).is_joint());
    assert_eq!(cluster.machines[&3], cluster.machines[&1]);
}

#[test]
fn a_node_restarted_after_installing_a_snapshot_resumes_from_it() {
    let mut cluster = compacting_cluster(5);
    cluster.isolate(3);
    for k in 0..12u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    cluster.tick_all_times(3);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    cluster.restart(3);
    let node = cluster.node(3);
    assert_eq!(
        node.raft.raft_log.first_index(),
        node.storage().first_index().unwrap()
    );
    assert_eq!(
        node.raft.tracker.conf_state(),
        ConfState::with_voters([1, 2, 3])
    );
    cluster.propose(1, b"after restart").unwrap();
    cluster.tick_all_times(2);
    assert_eq!(cluster.machines[&3], cluster.machines[&1]);
    // Node 3 can lead after the restart.
    cluster.isolate(1);
    cluster.campaign(3);
    assert_eq!(cluster.role(3), StateRole::Leader);
}
