//! Log replication (Raft §5.3), commitment (§5.4.2, Figure 8), flow control, forwarding and the
//! uncommitted-size limit, driven through `RawNode` over the in-process network.

mod support;

use raft::raw_node::RawNode;
use raft::{
    ConfState, Entry, HardState, MemStorage, Message, MessageType, RaftError, StateRole, Term,
};
use support::Cluster;

fn entry(index: u64, term: Term) -> Entry {
    Entry {
        index,
        term,
        data: format!("{index}@{term}").into_bytes(),
        ..Entry::default()
    }
}

/// Storage holding a log whose entry k+1 has term `terms[k]`.
fn storage_with_log(voters: &[u64], terms: &[Term]) -> MemStorage {
    let mut storage =
        MemStorage::new_with_conf_state(ConfState::with_voters(voters.iter().copied()));
    let entries: Vec<Entry> = terms
        .iter()
        .enumerate()
        .map(|(k, &term)| entry(k as u64 + 1, term))
        .collect();
    storage.append(&entries).unwrap();
    storage.set_hard_state(HardState {
        term: terms.last().copied().unwrap_or(0),
        vote: 0,
        commit: 0,
    });
    storage
}

fn log_terms(cluster: &Cluster, id: u64) -> Vec<Term> {
    cluster
        .node(id)
        .raft
        .raft_log
        .all_entries()
        .iter()
        .map(|entry| entry.term)
        .collect()
}

#[test]
fn section_5_3_a_proposal_commits_and_applies_everywhere() {
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |_| {});
    cluster.campaign(1);
    for k in 0..10 {
        cluster.propose(1, format!("value {k}").as_bytes()).unwrap();
    }
    let expected: Vec<Vec<u8>> = (0..10).map(|k| format!("value {k}").into_bytes()).collect();
    for id in 1..=5 {
        assert_eq!(cluster.applied_data(id), expected, "node {id}");
        assert_eq!(
            cluster.committed(id),
            11,
            "node {id}: 10 values after the empty entry"
        );
    }
}

#[test]
fn section_5_3_a_minority_cannot_commit() {
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |_| {});
    cluster.campaign(1);
    let committed = cluster.committed(1);
    cluster.partition(&[&[1, 2], &[3, 4, 5]]);
    cluster.propose(1, b"stuck").unwrap();
    assert_eq!(cluster.committed(1), committed);
    assert_eq!(
        cluster.last_index(2),
        committed + 1,
        "the entry reached node 2"
    );
    cluster.heal();
    cluster.tick_all();
    assert_eq!(cluster.committed(1), committed + 1);
}

#[test]
fn section_5_3_conflicting_follower_logs_are_repaired() {
    // Raft Figure 7: the leader of term 8 and followers with missing and extra entries.
    let leader_log: &[Term] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let follower_logs: [&[Term]; 6] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for follower_log in follower_logs {
        let voters = [1, 2, 3];
        let mut cluster = Cluster::with_conf_state(&[], ConfState::default(), |_| {});
        cluster.add_node(1, storage_with_log(&voters, leader_log), |_| {});
        cluster.add_node(2, storage_with_log(&voters, follower_log), |_| {});
        // Node 3 agrees with the leader so that the leader can win whatever node 2 has.
        cluster.add_node(3, storage_with_log(&voters, leader_log), |_| {});
        cluster.node_mut(1).raft.become_follower(7, 0);
        cluster.campaign(1);
        if cluster.role(1) != StateRole::Leader {
            cluster.campaign(1);
        }
        assert_eq!(
            cluster.role(1),
            StateRole::Leader,
            "follower log {follower_log:?}"
        );
        cluster.propose(1, b"new").unwrap();
        assert_eq!(
            log_terms(&cluster, 2),
            log_terms(&cluster, 1),
            "follower log {follower_log:?}"
        );
        assert_eq!(cluster.committed(2), cluster.committed(1));
    }
}

#[test]
fn fast_backtracking_repairs_a_long_divergent_log_in_few_round_trips() {
    let voters = [1, 2, 3];
    let mut leader_log = vec![1; 5];
    leader_log.extend(vec![3; 200]);
    let mut follower_log = vec![1; 5];
    follower_log.extend(vec![2; 300]);
    let mut cluster = Cluster::with_conf_state(&[], ConfState::default(), |_| {});
    cluster.add_node(1, storage_with_log(&voters, &leader_log), |_| {});
    cluster.add_node(2, storage_with_log(&voters, &follower_log), |_| {});
    cluster.add_node(3, storage_with_log(&voters, &leader_log), |_| {});
    cluster.node_mut(1).raft.become_follower(3, 0);
    cluster.campaign(1);
    assert_eq!(cluster.role(1), StateRole::Leader);
    let rejections = cluster
        .delivered
        .iter()
        .filter(|m| m.msg_type == MessageType::AppendResponse && m.from == 2 && m.reject)
        .count();
    assert!(
        rejections <= 3,
        "{rejections} rejections: backtracking went entry by entry"
    );
    assert_eq!(log_terms(&cluster, 2), log_terms(&cluster, 1));
}

#[test]
fn section_5_4_2_old_term_entries_are_not_committed_by_counting() {
    // Three nodes hold [1@1, 2@2]; node 1 becomes leader of term 3 and appends 3@3.
    let voters = [1, 2, 3];
    let mut cluster = Cluster::with_conf_state(&[], ConfState::default(), |_| {});
    for id in voters {
        cluster.add_node(id, storage_with_log(&voters, &[1, 2]), |_| {});
    }
    cluster.node_mut(1).campaign().unwrap();
    for voter in [2, 3] {
        let grant = Message {
            msg_type: MessageType::RequestVoteResponse,
            to: 1,
            from: voter,
            term: 3,
            ..Message::default()
        };
        cluster.node_mut(1).step(grant).unwrap();
    }
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(1), 3);
    let acknowledge = |index: u64| Message {
        msg_type: MessageType::AppendResponse,
        to: 1,
        from: 2,
        term: 3,
        index,
        ..Message::default()
    };
    // A majority (1 and 2) holds index 2, but its term is 2: not committed.
    cluster.node_mut(1).step(acknowledge(2)).unwrap();
    assert_eq!(cluster.committed(1), 0);
    // Once the term-3 entry is on a majority, it and everything before it commit.
    cluster.node_mut(1).step(acknowledge(3)).unwrap();
    assert_eq!(cluster.committed(1), 3);
}

#[test]
fn figure_8_an_entry_on_a_majority_from_an_old_term_may_be_overwritten_safely() {
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |config| config.max_size_per_msg = 1);
    cluster.campaign(1);
    let base = cluster.committed(1);
    // (a) Node 1 replicates "a" to node 2 only.
    cluster.partition(&[&[1, 2], &[3, 4, 5]]);
    cluster.propose(1, b"a").unwrap();
    assert_eq!(cluster.last_index(2), base + 1);
    // (b) Node 1 stops; node 5 wins with 3 and 4 but its entry reaches nobody.
    cluster.stopped.insert(1);
    cluster.heal();
    cluster.isolate(2);
    cluster.node_mut(5).campaign().unwrap();
    cluster.process_ready(5);
    while cluster.role(5) != StateRole::Leader {
        assert!(cluster.deliver_one(), "node 5 should win");
    }
    cluster.in_flight.clear();
    cluster.stopped.insert(5);
    cluster.heal();
    // (c) Node 1 comes back, wins, and replicates "a" (an old-term entry) to node 3.
    cluster.restart(1);
    for _ in 0..3 {
        if cluster.role(1) == StateRole::Leader {
            break;
        }
        cluster.node_mut(1).campaign().unwrap();
        cluster.process_ready(1);
        while cluster.role(1) != StateRole::Leader && cluster.deliver_one() {}
    }
    assert_eq!(cluster.role(1), StateRole::Leader);
    while !(cluster.last_index(3) == base + 1
        && cluster.node(3).raft.raft_log.term_or_zero(base + 1) == 1)
    {
        assert!(
            cluster.deliver_one(),
            "node 3 should receive entry {}",
            base + 1
        );
    }
    // Node 1 hears node 3's acknowledgement: "a" is on nodes 1, 2 and 3, a majority, yet it
    // must not be committed by counting.
    let acknowledgement = cluster
        .in_flight
        .iter()
        .position(|m| m.from == 3 && m.to == 1 && m.msg_type == MessageType::AppendResponse)
        .expect("node 3 acknowledges entry 2");
    let acknowledgement = cluster.in_flight.remove(acknowledgement).unwrap();
    assert_eq!(acknowledgement.index, base + 1);
    cluster.in_flight.push_front(acknowledgement);
    cluster.deliver_one();
    assert_eq!(cluster.node(1).raft.tracker.progress[&3].matched, base + 1);
    for id in 1..=5 {
        assert!(
            cluster.committed(id) <= base,
            "node {id} committed an old-term entry by counting"
        );
    }
    // (d) Node 1 stops before its own entry spreads; node 5 wins and overwrites "a".
    cluster.in_flight.clear();
    cluster.stopped.insert(1);
    cluster.restart(5);
    for _ in 0..5 {
        if cluster.role(5) == StateRole::Leader {
            break;
        }
        cluster.campaign(5);
    }
    assert_eq!(cluster.role(5), StateRole::Leader);
    cluster.propose(5, b"b").unwrap();
    for id in [2, 3, 4, 5] {
        assert!(
            !cluster.applied_data(id).contains(&b"a".to_vec()),
            "node {id} applied the overwritten entry"
        );
        assert_eq!(cluster.applied_data(id), vec![b"b".to_vec()]);
    }
}

#[test]
fn a_follower_forwards_proposals_to_the_leader() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(2, b"via follower").unwrap();
    for id in 1..=3 {
        assert_eq!(cluster.applied_data(id), vec![b"via follower".to_vec()]);
    }
}

#[test]
fn proposals_are_dropped_without_a_leader_or_with_forwarding_disabled() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    assert_eq!(cluster.propose(2, b"x"), Err(RaftError::ProposalDropped));
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.disable_proposal_forwarding = true
    });
    cluster.campaign(1);
    assert_eq!(cluster.propose(2, b"x"), Err(RaftError::ProposalDropped));
    assert_eq!(cluster.propose(1, b"y"), Ok(()));
}

#[test]
fn max_uncommitted_entries_size_drops_proposals_beyond_the_limit() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.max_uncommitted_entries_size = 25
    });
    cluster.campaign(1);
    cluster.isolate(1);
    let ten_bytes = [7u8; 10];
    assert_eq!(cluster.propose(1, &ten_bytes), Ok(()));
    assert_eq!(cluster.propose(1, &ten_bytes), Ok(()));
    assert_eq!(
        cluster.propose(1, &ten_bytes),
        Err(RaftError::ProposalDropped)
    );
    // Once committed and applied, the budget is free again.
    cluster.heal();
    cluster.tick_all();
    assert_eq!(cluster.applied_data(1).len(), 2);
    assert_eq!(cluster.propose(1, &ten_bytes), Ok(()));
}

#[test]
fn a_single_proposal_above_the_limit_is_accepted_when_nothing_is_pending() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.max_uncommitted_entries_size = 5);
    cluster.campaign(1);
    assert_eq!(cluster.propose(1, &[1u8; 50]), Ok(()));
}

#[test]
fn the_inflight_window_bounds_appends_to_a_silent_follower() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.max_inflight_msgs = 2;
        config.max_size_per_msg = 1;
    });
    cluster.campaign(1);
    cluster.tick_all();
    // Node 2 stops answering; proposals pile up.
    cluster.cut_links.insert((2, 1));
    for k in 0..10u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    let appends_to_2 = cluster
        .delivered
        .iter()
        .rev()
        .take_while(|m| !(m.msg_type == MessageType::AppendResponse && m.from == 2))
        .filter(|m| m.msg_type == MessageType::Append && m.to == 2 && !m.entries.is_empty())
        .count();
    assert_eq!(
        appends_to_2, 2,
        "the window allows exactly two appends in flight"
    );
    assert_eq!(
        cluster.committed(1),
        cluster.last_index(1),
        "node 3 still commits with 1"
    );
}

#[test]
fn max_size_per_msg_splits_appends() {
    let mut cluster = Cluster::new(&[1, 2], |config| config.max_size_per_msg = 1);
    cluster.campaign(1);
    cluster.isolate(2);
    for k in 0..5u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    cluster.heal();
    cluster.delivered.clear();
    cluster.tick_all();
    cluster.tick_all();
    assert!(cluster
        .delivered
        .iter()
        .filter(|m| m.msg_type == MessageType::Append)
        .all(|m| m.entries.len() <= 1));
    assert_eq!(cluster.last_index(2), cluster.last_index(1));
}

#[test]
fn a_restarted_node_recovers_from_its_storage() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.propose(1, b"durable").unwrap();
    let storage = cluster.node(2).storage().clone();
    let term = cluster.term(2);
    let restarted = RawNode::new(&support::config(2), storage).unwrap();
    assert_eq!(restarted.raft.term, term);
    assert_eq!(restarted.raft.raft_log.committed, cluster.committed(2));
    assert_eq!(restarted.raft.raft_log.last_index(), cluster.last_index(2));
}

#[test]
fn ready_respects_the_contract_and_must_sync() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let node = cluster.node_mut(1);
    node.campaign().unwrap();
    let ready = node.ready();
    assert_eq!(ready.hard_state.map(|hs| (hs.term, hs.vote)), Some((1, 1)));
    assert!(
        ready.must_sync,
        "a new term and vote must be synced before voting requests go out"
    );
    assert_eq!(ready.messages.len(), 2);
    assert!(!node.has_ready(), "nothing more until advance");
    node.advance();
    assert!(!node.has_ready());
}

#[test]
fn a_follower_whose_whole_inflight_window_was_lost_catches_up_after_a_heartbeat() {
    // Found by the simulator: with every append of a full window lost, only an append response
    // could free the window, and none would ever come.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.max_inflight_msgs = 2;
        config.max_size_per_msg = 1;
    });
    cluster.campaign(1);
    cluster.propose(1, b"warm-up").unwrap();
    assert_eq!(
        cluster.node(1).raft.tracker.progress[&2].state,
        raft::tracker::ProgressState::Replicate
    );
    cluster.cut_links.insert((1, 2));
    for k in 0..6u8 {
        cluster.propose(1, &[k]).unwrap();
    }
    assert!(cluster.node(1).raft.tracker.progress[&2].inflights.full());
    cluster.heal();
    for _ in 0..5 {
        cluster.tick_all();
    }
    assert_eq!(cluster.last_index(2), cluster.last_index(1));
    assert_eq!(cluster.applied_data(2).len(), 7);
}

#[test]
fn a_recycled_message_vector_carries_the_next_ready_and_loses_no_pending_message() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let leader = cluster.elect_any();
    cluster.deliver_all();
    let node = cluster.node_mut(leader);
    node.propose(b"first".to_vec()).unwrap();
    let ready = node.ready();
    assert_eq!(ready.messages.len(), 2, "a message per follower");
    let mut messages = ready.messages;
    messages.clear();
    messages.reserve(64);
    let capacity = messages.capacity();
    let reused = messages.as_ptr();
    node.advance();
    node.recycle_messages(messages);
    node.propose(b"second".to_vec()).unwrap();
    let ready = node.ready();
    assert_eq!(ready.messages.len(), 2);
    assert_eq!(
        (ready.messages.as_ptr(), ready.messages.capacity()),
        (reused, capacity),
        "the next Ready's messages live in the recycled allocation"
    );
    node.advance();

    // Handing back a vector while messages are already queued keeps them, and anything left
    // in the handed-back vector is dropped, not sent.
    node.propose(b"third".to_vec()).unwrap();
    let mut leftover = vec![Message::new(MessageType::Heartbeat, 99, leader)];
    leftover.reserve(16);
    node.recycle_messages(leftover);
    let ready = node.ready();
    let mut recipients: Vec<u64> = ready.messages.iter().map(|message| message.to).collect();
    recipients.sort_unstable();
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|&id| id != leader).collect();
    assert_eq!(
        recipients, followers,
        "the queued messages, and nothing for node 99"
    );
    node.advance();
}
