//! Leadership transfer (Raft thesis §3.10): the leader stops accepting proposals, brings the
//! transferee's log up to date, and sends it TimeoutNow; the transferee campaigns at once; a
//! transfer that does not finish within an election timeout is abandoned.

mod support;

use raft::{ConfChange, ConfState, MessageType, RaftError, StateRole};
use support::{Cluster, SnapshotPolicy};

fn timeout_now_sent(cluster: &Cluster, to: u64) -> usize {
    cluster
        .delivered
        .iter()
        .filter(|m| m.msg_type == MessageType::TimeoutNow && m.to == to)
        .count()
}

#[test]
fn section_3_10_leadership_moves_to_an_up_to_date_follower() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    let term = cluster.term(1);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
    assert_eq!(cluster.term(2), term + 1);
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert_eq!(cluster.node(1).raft.leader_id, 2);
    assert_eq!(timeout_now_sent(&cluster, 2), 1);
    cluster.propose(2, b"y").unwrap();
    assert_eq!(cluster.applied_data(1), vec![b"x".to_vec(), b"y".to_vec()]);
}

#[test]
fn section_3_10_a_lagging_transferee_is_caught_up_before_timeout_now() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(3);
    for k in 0..5u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    cluster.delivered.clear();
    cluster.transfer_leader(1, 3);
    assert_eq!(cluster.role(3), StateRole::Leader);
    // The TimeoutNow went out only after node 3 acknowledged the leader's last entry.
    let timeout_now = cluster
        .delivered
        .iter()
        .position(|m| m.msg_type == MessageType::TimeoutNow)
        .expect("a TimeoutNow");
    let caught_up = cluster
        .delivered
        .iter()
        .position(|m| {
            m.msg_type == MessageType::AppendResponse && m.from == 3 && m.index == 6 && !m.reject
        })
        .expect("node 3 acknowledged entry 6");
    assert!(caught_up < timeout_now);
    assert_eq!(cluster.applied_data(3).len(), 5);
}

#[test]
fn section_3_10_a_transferee_needing_a_snapshot_gets_it_first() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.snapshot_policy = Some(SnapshotPolicy {
        interval_entries: 3,
        keep_entries: 0,
    });
    cluster.campaign(1);
    cluster.isolate(3);
    for k in 0..10u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    cluster.transfer_leader(1, 3);
    // The first heartbeat lets the leader send the snapshot, then the rest follows.
    cluster.tick_all_times(2);
    assert_eq!(cluster.stats.snapshots_installed, 1);
    assert_eq!(cluster.role(3), StateRole::Leader);
    assert_eq!(cluster.machines[&3].applied, cluster.machines[&1].applied);
}

#[test]
fn section_3_10_the_leader_refuses_proposals_during_a_transfer() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(3);
    cluster.propose(1, b"x").unwrap();
    cluster.transfer_leader(1, 3);
    assert_eq!(cluster.node(1).raft.lead_transferee, 3);
    assert_eq!(cluster.propose(1, b"y"), Err(RaftError::ProposalDropped));
    assert_eq!(
        cluster.propose(2, b"forwarded"),
        Ok(()),
        "the follower forwards it"
    );
    assert_eq!(cluster.applied_data(1), vec![b"x".to_vec()]);
}

#[test]
fn section_3_10_a_transfer_is_abandoned_after_an_election_timeout() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    let term = cluster.term(1);
    cluster.isolate(3);
    cluster.transfer_leader(1, 3);
    let timeout = cluster.node(1).raft.election_timeout();
    cluster.tick_node(1, timeout - 1);
    assert_eq!(cluster.node(1).raft.lead_transferee, 3);
    cluster.tick_node(1, 1);
    assert_eq!(cluster.node(1).raft.lead_transferee, 0);
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(1), term);
    cluster.propose(1, b"accepted again").unwrap();
    assert_eq!(cluster.applied_data(2), vec![b"accepted again".to_vec()]);
}

#[test]
fn a_transfer_to_self_a_learner_or_a_stranger_is_ignored() {
    let conf_state = ConfState {
        voters: vec![1, 2, 3],
        learners: vec![4],
        ..ConfState::default()
    };
    let mut cluster = Cluster::with_conf_state(&[1, 2, 3, 4], conf_state, |_| {});
    cluster.campaign(1);
    for transferee in [1, 4, 9] {
        cluster.transfer_leader(1, transferee);
        assert_eq!(cluster.node(1).raft.lead_transferee, 0, "to {transferee}");
        assert_eq!(cluster.role(1), StateRole::Leader);
    }
    cluster.propose(1, b"x").unwrap();
}

#[test]
fn a_new_transfer_replaces_one_in_progress_and_a_repeat_changes_nothing() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(3);
    cluster.transfer_leader(1, 3);
    cluster.tick_node(1, 5);
    // Asking again for the same node does not restart the clock.
    cluster.transfer_leader(1, 3);
    cluster.tick_node(1, cluster.node(1).raft.election_timeout() - 5);
    assert_eq!(cluster.node(1).raft.lead_transferee, 0);
    // A transfer to another node takes over at once.
    cluster.transfer_leader(1, 3);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
}

#[test]
fn a_transfer_asked_of_a_follower_is_forwarded_to_the_leader() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.transfer_leader(3, 3);
    assert_eq!(cluster.role(3), StateRole::Leader);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
}

#[test]
fn the_transferee_skips_the_pre_vote_and_voters_inside_the_lease_still_vote() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.pre_vote = true;
        config.check_quorum = true;
    });
    cluster.campaign(1);
    cluster.tick_all();
    let term = cluster.term(1);
    let pre_votes = |cluster: &Cluster| {
        cluster
            .delivered
            .iter()
            .filter(|m| m.msg_type == MessageType::RequestPreVote)
            .count()
    };
    let before = pre_votes(&cluster);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
    assert_eq!(cluster.term(2), term + 1);
    assert_eq!(pre_votes(&cluster), before, "no pre-vote for a transfer");
}

#[test]
fn a_transfer_to_a_node_being_removed_is_abandoned_when_the_removal_applies() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(3);
    cluster
        .node_mut(1)
        .propose_conf_change(&ConfChange::remove_node(3))
        .unwrap();
    cluster.process_ready(1);
    cluster.transfer_leader(1, 3);
    assert_eq!(cluster.conf_state(1), ConfState::with_voters([1, 2]));
    assert_eq!(cluster.node(1).raft.lead_transferee, 0);
    cluster.propose(1, b"at once").unwrap();
}
