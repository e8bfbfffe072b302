//! Leader election (Raft §5.2, §5.4.1), PreVote (thesis §9.6) and CheckQuorum (thesis §6.2),
//! driven through `RawNode` over the in-process network.

mod support;

use raft::{Message, MessageType, StateRole};
use support::Cluster;

#[test]
fn section_5_2_one_leader_is_elected_in_three_and_five_node_clusters() {
    for size in [3u64, 5] {
        for pre_vote in [false, true] {
            let ids: Vec<u64> = (1..=size).collect();
            let mut cluster = Cluster::new(&ids, |config| config.pre_vote = pre_vote);
            let leader = cluster.elect_any();
            for &id in &ids {
                assert_eq!(
                    cluster.node(id).raft.leader_id,
                    leader,
                    "node {id} knows the leader"
                );
                assert_eq!(cluster.term(id), cluster.term(leader));
            }
            let leaders = ids
                .iter()
                .filter(|&&id| cluster.role(id) == StateRole::Leader)
                .count();
            assert_eq!(leaders, 1, "size {size} pre_vote {pre_vote}");
        }
    }
}

#[test]
fn section_5_2_a_node_votes_once_per_term() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let vote = |from: u64, term: u64| Message {
        msg_type: MessageType::RequestVote,
        to: 1,
        from,
        term,
        ..Message::default()
    };
    cluster.node_mut(1).step(vote(2, 1)).unwrap();
    cluster.node_mut(1).step(vote(3, 1)).unwrap();
    let responses: Vec<(u64, bool)> = cluster
        .node_mut(1)
        .raft
        .messages
        .drain(..)
        .map(|m| (m.to, m.reject))
        .collect();
    assert_eq!(responses, vec![(2, false), (3, true)]);
    assert_eq!(cluster.node(1).raft.vote, 2);
    // The same candidate asking again (a retransmission) is granted again.
    cluster.node_mut(1).step(vote(2, 1)).unwrap();
    assert!(!cluster.node_mut(1).raft.messages.pop().unwrap().reject);
}

#[test]
fn section_5_4_1_a_candidate_with_a_stale_log_cannot_win() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(3);
    cluster.propose(1, b"only on 1 and 2").unwrap();
    cluster.heal();
    cluster.isolate(1);
    // Node 3 misses the entry: nodes 2 refuses its votes whatever its term.
    for _ in 0..3 {
        cluster.campaign(3);
        assert_ne!(cluster.role(3), StateRole::Leader);
    }
    cluster.campaign(2);
    assert_eq!(cluster.role(2), StateRole::Leader);
}

#[test]
fn randomized_election_timeout_stays_in_range_and_depends_on_the_seed() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let node = cluster.node_mut(1);
        node.raft.become_follower(node.raft.term + 1, 0);
        let timeout = node.raft.randomized_election_timeout();
        assert!(
            (10..20).contains(&timeout),
            "timeout {timeout} outside [10, 20)"
        );
        seen.insert(timeout);
    }
    assert!(seen.len() > 5, "timeouts barely vary: {seen:?}");
    let first_timeouts = |seed: u64| {
        let cluster = Cluster::new(&[1], |config| config.seed = seed);
        cluster.node(1).raft.randomized_election_timeout()
    };
    let differing = (0..20)
        .filter(|&seed| first_timeouts(seed) != first_timeouts(seed + 100))
        .count();
    assert!(differing > 0, "the seed does not influence the timeout");
}

#[test]
fn same_seeds_give_the_same_election_trace() {
    let run = || {
        let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |_| {});
        cluster.elect_any();
        cluster.propose(cluster.leader().unwrap(), b"x").unwrap();
        format!("{:?}", cluster.delivered)
    };
    assert_eq!(run(), run());
}

#[test]
fn leader_failover_and_the_old_leader_steps_down_after_healing() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    let old_term = cluster.term(1);
    cluster.isolate(1);
    let new_leader = cluster
        .tick_until_one_leads(&[2, 3], 100)
        .expect("a new leader among 2 and 3");
    assert!(cluster.term(new_leader) > old_term);
    // Without CheckQuorum the old leader does not notice on its own.
    assert_eq!(cluster.role(1), StateRole::Leader);
    cluster.heal();
    cluster.propose(new_leader, b"after heal").unwrap();
    for _ in 0..5 {
        cluster.tick_all();
    }
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert_eq!(cluster.node(1).raft.leader_id, new_leader);
    assert_eq!(cluster.applied_data(1), vec![b"after heal".to_vec()]);
}

#[test]
fn section_5_1_a_stale_leader_learns_the_newer_term_from_a_follower_it_still_reaches() {
    // Without CheckQuorum and PreVote, and with the new leader's messages unable to reach it,
    // only a follower that moved on can tell the old leader (found by the simulator, where a
    // stale leader's configuration kept only such followers).
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(1);
    let new_leader = cluster
        .tick_until_one_leads(&[2, 3], 100)
        .expect("a new leader among 2 and 3");
    let follower = if new_leader == 2 { 3 } else { 2 };
    cluster.heal();
    cluster.cut(1, new_leader);
    assert_eq!(cluster.role(1), StateRole::Leader);
    // One heartbeat interval: node 1's heartbeat reaches the follower, whose answer carries
    // the newer term.
    cluster.tick_node(1, cluster.node(1).raft.heartbeat_timeout());
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert!(cluster.term(1) >= cluster.term(follower));
}

#[test]
fn a_vote_request_from_an_old_term_is_refused_with_the_newer_term() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    // Node 1 hears of term 5.
    cluster
        .node_mut(1)
        .step(Message {
            msg_type: MessageType::Heartbeat,
            to: 1,
            from: 3,
            term: 5,
            ..Message::default()
        })
        .unwrap();
    cluster.node_mut(1).raft.messages.clear();
    for msg_type in [MessageType::RequestVote, MessageType::RequestPreVote] {
        cluster
            .node_mut(1)
            .step(Message {
                msg_type,
                to: 1,
                from: 2,
                term: 2,
                index: 100,
                log_term: 2,
                ..Message::default()
            })
            .unwrap();
        let answers: Vec<(MessageType, u64, u64, bool)> = cluster
            .node_mut(1)
            .raft
            .messages
            .drain(..)
            .map(|m| (m.msg_type, m.to, m.term, m.reject))
            .collect();
        let answer = if msg_type == MessageType::RequestVote {
            MessageType::RequestVoteResponse
        } else {
            MessageType::RequestPreVoteResponse
        };
        assert_eq!(answers, vec![(answer, 2, 5, true)], "{msg_type:?}");
    }
}

#[test]
fn check_quorum_steps_down_an_isolated_leader() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.check_quorum = true);
    cluster.campaign(1);
    cluster.isolate(1);
    // One election timeout to mark everyone inactive, the next to see no quorum.
    for _ in 0..2 * cluster.node(1).raft.election_timeout() {
        cluster.tick_node(1, 1);
    }
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert_eq!(cluster.node(1).raft.leader_id, 0);
}

#[test]
fn check_quorum_keeps_a_connected_leader() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.check_quorum = true);
    cluster.campaign(1);
    let term = cluster.term(1);
    for _ in 0..100 {
        cluster.tick_all();
    }
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(1), term);
}

fn isolated_follower_rejoins(pre_vote: bool) -> (Cluster, u64) {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.pre_vote = pre_vote);
    cluster.campaign(1);
    let term = cluster.term(1);
    cluster.isolate(3);
    // Node 3 times out again and again on its side of the partition.
    cluster.tick_node(3, 100);
    cluster.heal();
    for _ in 0..30 {
        cluster.tick_all();
    }
    (cluster, term)
}

#[test]
fn prevote_keeps_a_rejoining_follower_from_deposing_the_leader() {
    let (cluster, term) = isolated_follower_rejoins(true);
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(1), term, "the leader's term must not change");
    assert_eq!(
        cluster.term(3),
        term,
        "the rejoining node never raised its term"
    );
    assert_eq!(cluster.node(3).raft.leader_id, 1);
}

#[test]
fn without_prevote_a_rejoining_follower_forces_a_new_term() {
    // The contrast that shows what PreVote buys.
    let (cluster, term) = isolated_follower_rejoins(false);
    assert!(cluster.term(1) > term);
}

#[test]
fn prevote_with_check_quorum_lets_a_partitioned_minority_rejoin_quietly() {
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |config| {
        config.pre_vote = true;
        config.check_quorum = true;
    });
    cluster.campaign(1);
    let term = cluster.term(1);
    cluster.partition(&[&[1, 2, 3], &[4, 5]]);
    for _ in 0..60 {
        cluster.tick_all();
    }
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(4), term);
    assert_eq!(cluster.role(4), StateRole::PreCandidate);
    cluster.heal();
    for _ in 0..10 {
        cluster.tick_all();
    }
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(cluster.term(1), term);
    assert_eq!(cluster.role(4), StateRole::Follower);
}

#[test]
fn a_vote_request_inside_the_leader_lease_is_ignored() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.check_quorum = true);
    cluster.campaign(1);
    let term = cluster.term(1);
    let request = Message {
        msg_type: MessageType::RequestVote,
        to: 2,
        from: 3,
        term: term + 1,
        index: 100,
        log_term: term,
        ..Message::default()
    };
    cluster.node_mut(2).step(request).unwrap();
    assert_eq!(
        cluster.term(2),
        term,
        "node 2 heard from its leader recently"
    );
    assert!(cluster.node(2).raft.messages.is_empty());
}

#[test]
fn a_lower_term_prevote_is_rejected_with_the_current_term() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.pre_vote = true);
    cluster.campaign(1);
    cluster.campaign(2);
    let term = cluster.term(2);
    let request = Message {
        msg_type: MessageType::RequestPreVote,
        to: 2,
        from: 3,
        term: term - 1,
        ..Message::default()
    };
    cluster.node_mut(2).step(request).unwrap();
    let response = cluster.node_mut(2).raft.messages.pop().unwrap();
    assert_eq!(response.msg_type, MessageType::RequestPreVoteResponse);
    assert!(response.reject);
    assert_eq!(response.term, term);
}

#[test]
fn a_late_pre_vote_grant_from_an_earlier_pre_election_does_not_count() {
    // Node 3 pre-campaigns while at term t, asking about t + 1; a grant that answered an
    // earlier pre-election (asking about t, sent when node 3 was at t - 1) arrives late. It
    // must not make node 3 campaign: only grants in term t + 1 are for this pre-election.
    let mut cluster = Cluster::new(&[1, 2, 3], |config| config.pre_vote = true);
    cluster.campaign(1);
    cluster.isolate(3);
    let term = cluster.term(3);
    cluster.node_mut(3).campaign().unwrap();
    assert_eq!(cluster.role(3), StateRole::PreCandidate);
    let late_grant = |term| Message {
        msg_type: MessageType::RequestPreVoteResponse,
        to: 3,
        from: 2,
        term,
        ..Message::default()
    };
    cluster.node_mut(3).step(late_grant(term)).unwrap();
    assert_eq!(cluster.role(3), StateRole::PreCandidate);
    assert_eq!(cluster.term(3), term, "no campaign on a stale grant");
    // The grant for this pre-election does count.
    cluster.node_mut(3).step(late_grant(term + 1)).unwrap();
    assert_eq!(cluster.role(3), StateRole::Candidate);
    assert_eq!(cluster.term(3), term + 1);
}

#[test]
fn learners_and_unknown_nodes_never_campaign() {
    let conf_state = raft::ConfState {
        voters: vec![1, 2],
        learners: vec![3],
        ..raft::ConfState::default()
    };
    let mut cluster = Cluster::with_conf_state(&[1, 2, 3], conf_state, |_| {});
    cluster.tick_node(3, 100);
    assert_eq!(cluster.role(3), StateRole::Follower);
    assert_eq!(cluster.term(3), 0);
    let leader = cluster.elect_any();
    assert_ne!(leader, 3);
}
