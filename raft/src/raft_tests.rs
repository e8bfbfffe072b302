//! Message-level tests of one [`Raft`] node: messages are stepped in by hand and the messages
//! it sends are inspected, for joint consensus (Raft thesis §4.3), reads (§6.4), leadership
//! transfer (§3.10) and the snapshot state of a follower's progress.

use super::*;
use crate::message::{ConfChangeSingle, ConfChangeTransition, ConfChangeType};
use crate::storage::MemStorage;

fn config(id: NodeId) -> Config {
    Config {
        election_tick: 10,
        heartbeat_tick: 1,
        ..Config::new(id)
    }
}

fn node(id: NodeId, voters: &[NodeId]) -> Raft<MemStorage> {
    let storage = MemStorage::new_with_conf_state(ConfState::with_voters(voters.iter().copied()));
    Raft::new(&config(id), storage).expect("valid node")
}

fn message(msg_type: MessageType, from: NodeId, to: NodeId, term: Term) -> Message {
    Message {
        term,
        ..Message::new(msg_type, to, from)
    }
}

fn append_response(from: NodeId, term: Term, index: Index) -> Message {
    Message {
        index,
        ..message(MessageType::AppendResponse, from, 1, term)
    }
}

fn take(raft: &mut Raft<MemStorage>, msg_type: MessageType) -> Vec<Message> {
    let (taken, kept) = std::mem::take(&mut raft.messages)
        .into_iter()
        .partition(|m| m.msg_type == msg_type);
    raft.messages = kept;
    taken
}

/// Node 1 leading `voters` in term 1, with its empty entry acknowledged by every follower.
fn leader(voters: &[NodeId]) -> Raft<MemStorage> {
    let mut raft = node(1, voters);
    raft.become_candidate();
    raft.become_leader();
    let last = raft.raft_log.last_index();
    for &id in voters.iter().filter(|&&id| id != 1) {
        raft.step(append_response(id, raft.term, last)).unwrap();
    }
    assert_eq!(raft.raft_log.committed, last);
    raft.messages.clear();
    raft
}

fn propose(raft: &mut Raft<MemStorage>, data: &[u8]) -> Index {
    let mut proposal = message(MessageType::Propose, 1, 1, 0);
    proposal.entries = vec![Entry::normal(data.to_vec())];
    raft.step(proposal).unwrap();
    raft.raft_log.last_index()
}

fn joint(singles: &[(ConfChangeType, NodeId)]) -> ConfChange {
    ConfChange {
        transition: ConfChangeTransition::JointExplicit,
        changes: singles
            .iter()
            .map(|&(change_type, node_id)| ConfChangeSingle {
                change_type,
                node_id,
            })
            .collect(),
        context: Vec::new(),
    }
}

// ----- Joint consensus (thesis §4.3) --------------------------------------------------------

#[test]
fn section_4_3_a_joint_leader_commits_once_both_halves_have_a_majority() {
    let mut raft = leader(&[1, 2, 3]);
    raft.apply_conf_change(&joint(&[
        (ConfChangeType::AddNode, 4),
        (ConfChangeType::RemoveNode, 3),
    ]))
    .unwrap();
    // (1 2 4)&&(1 2 3)
    let index = propose(&mut raft, b"x");
    let term = raft.term;
    raft.step(append_response(4, term, index)).unwrap();
    assert!(
        raft.raft_log.committed < index,
        "1 and 4: a majority of (1 2 4) only"
    );
    raft.step(append_response(3, term, index)).unwrap();
    assert_eq!(
        raft.raft_log.committed, index,
        "1 and 3 complete (1 2 3) as well"
    );
}

#[test]
fn section_4_3_a_joint_candidate_wins_only_with_majorities_of_both_halves() {
    let mut raft = node(1, &[1, 2, 3]);
    raft.apply_conf_change(&joint(&[
        (ConfChangeType::AddNode, 4),
        (ConfChangeType::RemoveNode, 3),
    ]))
    .unwrap();
    raft.campaign(CampaignType::Election);
    let requested: Vec<NodeId> = take(&mut raft, MessageType::RequestVote)
        .iter()
        .map(|m| m.to)
        .collect();
    assert_eq!(requested, vec![2, 3, 4], "the voters of both halves");
    let term = raft.term;
    let grant = |from| message(MessageType::RequestVoteResponse, from, 1, term);
    raft.step(grant(4)).unwrap();
    assert_eq!(
        raft.role,
        StateRole::Candidate,
        "(1 4) wins the incoming half only"
    );
    raft.step(grant(3)).unwrap();
    assert_eq!(raft.role, StateRole::Leader);

    // A rejection by 2 and 4 loses the incoming half, whatever the outgoing half says.
    let mut raft = node(1, &[1, 2, 3]);
    raft.apply_conf_change(&joint(&[
        (ConfChangeType::AddNode, 4),
        (ConfChangeType::RemoveNode, 3),
    ]))
    .unwrap();
    raft.campaign(CampaignType::Election);
    let term = raft.term;
    let reject = |from| Message {
        reject: true,
        ..message(MessageType::RequestVoteResponse, from, 1, term)
    };
    raft.step(reject(2)).unwrap();
    raft.step(reject(4)).unwrap();
    assert_eq!(raft.role, StateRole::Follower);
}

#[test]
fn section_4_3_leaving_the_joint_configuration_drops_the_outgoing_only_voters() {
    let mut raft = leader(&[1, 2, 3]);
    raft.apply_conf_change(&joint(&[
        (ConfChangeType::AddNode, 4),
        (ConfChangeType::RemoveNode, 3),
    ]))
    .unwrap();
    let conf_state = raft.apply_conf_change(&ConfChange::leave_joint()).unwrap();
    assert_eq!(conf_state, ConfState::with_voters([1, 2, 4]));
    assert!(!raft.tracker.progress.contains_key(&3));
    let index = propose(&mut raft, b"x");
    let term = raft.term;
    raft.step(append_response(3, term, index)).unwrap();
    assert!(raft.raft_log.committed < index, "3 no longer counts");
    raft.step(append_response(4, term, index)).unwrap();
    assert_eq!(raft.raft_log.committed, index);
}

#[test]
fn section_4_3_a_leader_refuses_a_second_change_while_one_is_pending() {
    let mut raft = leader(&[1, 2, 3]);
    let change = |change: &ConfChange| {
        let mut proposal = message(MessageType::Propose, 1, 1, 0);
        proposal.entries = vec![Entry {
            entry_type: EntryType::ConfChange,
            data: codec::encode_conf_change(change),
            ..Entry::default()
        }];
        proposal
    };
    raft.step(change(&ConfChange::add_learner(4))).unwrap();
    assert_eq!(raft.pending_conf_index, raft.raft_log.last_index());
    assert_eq!(
        raft.step(change(&ConfChange::add_learner(5))),
        Err(RaftError::ProposalDropped)
    );
}

#[test]
fn a_learner_asked_for_its_vote_answers_it() {
    // Candidates ask voters only, and count voters only. A learner that is asked was promoted
    // in the candidate's configuration but has not applied the promotion yet: it answers as
    // the voter it already is (etcd does the same).
    let storage = MemStorage::new_with_conf_state(ConfState {
        voters: vec![1, 2, 3],
        learners: vec![4],
        ..ConfState::default()
    });
    let mut learner = Raft::new(&config(4), storage).unwrap();
    assert!(!learner.promotable());
    let request = message(MessageType::RequestVote, 1, 4, 1);
    learner.step(request).unwrap();
    let response = take(&mut learner, MessageType::RequestVoteResponse);
    assert_eq!(response.len(), 1);
    assert!(!response[0].reject);
    assert_eq!(learner.role, StateRole::Follower);
}

// ----- Reads (thesis §6.4) ------------------------------------------------------------------

fn read_request(context: &[u8]) -> Message {
    let mut request = message(MessageType::ReadIndex, 1, 1, 0);
    request.entries = vec![Entry::normal(context.to_vec())];
    request
}

fn heartbeat_response(from: NodeId, term: Term, context: Vec<u8>) -> Message {
    Message {
        context,
        ..message(MessageType::HeartbeatResponse, from, 1, term)
    }
}

#[test]
fn section_6_4_a_read_is_released_by_acknowledgements_of_its_own_round() {
    let mut raft = leader(&[1, 2, 3]);
    raft.step(read_request(b"first")).unwrap();
    let first_round = take(&mut raft, MessageType::Heartbeat)[0].context.clone();
    raft.step(read_request(b"second")).unwrap();
    let heartbeats = take(&mut raft, MessageType::Heartbeat);
    assert_eq!(heartbeats.len(), 2, "a round to each follower");
    let second_round = heartbeats[0].context.clone();
    assert_ne!(first_round, second_round, "rounds never repeat");
    let term = raft.term;
    // An acknowledgement of the first round was sent before the second read arrived.
    raft.step(heartbeat_response(2, term, first_round)).unwrap();
    let contexts: Vec<Vec<u8>> = raft
        .read_states
        .iter()
        .map(|read| read.request_context.clone())
        .collect();
    assert_eq!(contexts, vec![b"first".to_vec()]);
    raft.step(heartbeat_response(3, term, second_round))
        .unwrap();
    assert_eq!(raft.read_states.len(), 2);
    assert_eq!(raft.read_states[1].index, raft.raft_log.committed);
}

#[test]
fn section_6_4_a_new_leader_waits_to_commit_in_its_term_before_serving_reads() {
    let mut raft = node(1, &[1, 2, 3]);
    raft.become_candidate();
    raft.become_leader();
    raft.messages.clear();
    raft.step(read_request(b"r")).unwrap();
    assert!(
        take(&mut raft, MessageType::Heartbeat).is_empty(),
        "etcd #7331"
    );
    let last = raft.raft_log.last_index();
    raft.step(append_response(2, raft.term, last)).unwrap();
    let heartbeats = take(&mut raft, MessageType::Heartbeat);
    assert_eq!(heartbeats.len(), 2, "released once the empty entry commits");
    let term = raft.term;
    raft.step(heartbeat_response(3, term, heartbeats[0].context.clone()))
        .unwrap();
    assert_eq!(raft.read_states.len(), 1);
    assert_eq!(raft.read_states[0].index, last);
}

#[test]
fn section_6_4_a_forwarded_read_is_answered_to_the_follower() {
    let mut raft = leader(&[1, 2, 3]);
    let mut forwarded = read_request(b"from 2");
    forwarded.from = 2;
    forwarded.term = raft.term;
    raft.step(forwarded).unwrap();
    let context = take(&mut raft, MessageType::Heartbeat)[0].context.clone();
    raft.step(heartbeat_response(3, raft.term, context))
        .unwrap();
    assert!(raft.read_states.is_empty());
    let responses = take(&mut raft, MessageType::ReadIndexResponse);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].to, 2);
    assert_eq!(responses[0].index, raft.raft_log.committed);
    assert_eq!(responses[0].entries[0].data, b"from 2");
}

// ----- Leadership transfer (thesis §3.10) ---------------------------------------------------

fn transfer_request(to_leader: NodeId, transferee: NodeId) -> Message {
    message(MessageType::TransferLeader, transferee, to_leader, 0)
}

#[test]
fn section_3_10_an_up_to_date_transferee_gets_timeout_now_at_once() {
    let mut raft = leader(&[1, 2, 3]);
    raft.step(transfer_request(1, 2)).unwrap();
    assert_eq!(raft.lead_transferee, 2);
    let timeout_now = take(&mut raft, MessageType::TimeoutNow);
    assert_eq!(timeout_now.len(), 1);
    assert_eq!(timeout_now[0].to, 2);
}

#[test]
fn section_3_10_a_lagging_transferee_is_caught_up_then_told_to_campaign() {
    let mut raft = leader(&[1, 2, 3]);
    let index = propose(&mut raft, b"x");
    raft.messages.clear();
    raft.step(transfer_request(1, 2)).unwrap();
    assert!(take(&mut raft, MessageType::TimeoutNow).is_empty());
    assert_eq!(
        raft.step(Message {
            entries: vec![Entry::normal(b"y".to_vec())],
            ..message(MessageType::Propose, 1, 1, 0)
        }),
        Err(RaftError::ProposalDropped),
        "no proposals while transferring"
    );
    raft.step(append_response(2, raft.term, index)).unwrap();
    assert_eq!(take(&mut raft, MessageType::TimeoutNow).len(), 1);
}

#[test]
fn section_3_10_a_transfer_is_abandoned_after_an_election_timeout() {
    let mut raft = leader(&[1, 2, 3]);
    propose(&mut raft, b"x");
    raft.step(transfer_request(1, 2)).unwrap();
    for _ in 0..raft.election_timeout() - 1 {
        raft.tick();
    }
    assert_eq!(raft.lead_transferee, 2);
    raft.tick();
    assert_eq!(raft.lead_transferee, INVALID_ID);
    assert_eq!(raft.role, StateRole::Leader);
    propose(&mut raft, b"accepted again");
}

#[test]
fn section_3_10_timeout_now_makes_the_transferee_campaign_past_leases_and_pre_votes() {
    let with_lease = |id| {
        let storage = MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3]));
        let node_config = Config {
            pre_vote: true,
            check_quorum: true,
            ..config(id)
        };
        Raft::new(&node_config, storage).unwrap()
    };
    let mut transferee = with_lease(2);
    transferee.become_follower(1, 1);
    transferee
        .step(message(MessageType::TimeoutNow, 1, 2, 1))
        .unwrap();
    assert_eq!(transferee.role, StateRole::Candidate, "no pre-vote");
    let requests = take(&mut transferee, MessageType::RequestVote);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].context, CAMPAIGN_TRANSFER);
    // A voter that heard from the leader just now would ignore a plain vote request (thesis
    // §4.2.3), but grants this one.
    let mut voter = with_lease(3);
    voter.become_follower(1, 1);
    let request = requests.into_iter().find(|m| m.to == 3).unwrap();
    voter.step(request).unwrap();
    let response = take(&mut voter, MessageType::RequestVoteResponse);
    assert_eq!(response.len(), 1);
    assert!(!response[0].reject);
}

// ----- Snapshot state of a follower's progress ----------------------------------------------

/// Node 1 leading (1 2 3) with its log compacted to a snapshot at its last index, and follower
/// 3, which never answered before, just sent that snapshot.
fn leader_sending_snapshot() -> (Raft<MemStorage>, Index) {
    let mut raft = node(1, &[1, 2, 3]);
    raft.become_candidate();
    raft.become_leader();
    let term = raft.term;
    let index = propose(&mut raft, b"x");
    raft.step(append_response(2, term, index)).unwrap();
    assert_eq!(raft.raft_log.committed, index);
    // The application persists, applies, snapshots and compacts.
    let entries = raft.raft_log.unstable_entries().to_vec();
    raft.raft_log.store.append(&entries).unwrap();
    raft.raft_log.stable_to(index, term);
    raft.raft_log.applied_to(index);
    raft.raft_log
        .store
        .create_snapshot(index, None, b"state".to_vec())
        .unwrap();
    raft.raft_log.store.compact(index).unwrap();
    // Node 3 answers a heartbeat: it is active, and the entries it needs are gone.
    raft.messages.clear();
    raft.step(heartbeat_response(3, term, Vec::new())).unwrap();
    let snapshots = take(&mut raft, MessageType::Snapshot);
    assert_eq!(snapshots.len(), 1);
    assert_eq!(
        snapshots[0].snapshot.as_ref().unwrap().metadata.index,
        index
    );
    (raft, index)
}

#[test]
fn a_follower_that_needs_compacted_entries_is_sent_a_snapshot_and_paused() {
    let (mut raft, index) = leader_sending_snapshot();
    let progress = &raft.tracker.progress[&3];
    assert_eq!(progress.state, ProgressState::Snapshot);
    assert_eq!(progress.pending_snapshot, index);
    // Nothing more goes to node 3 until the snapshot is reported or acknowledged.
    propose(&mut raft, b"y");
    assert!(raft.messages.iter().all(|m| m.to != 3));
    // The follower's answer after installing it moves it to replication.
    raft.step(append_response(3, raft.term, index)).unwrap();
    assert_eq!(raft.tracker.progress[&3].state, ProgressState::Replicate);
    assert!(raft
        .messages
        .iter()
        .any(|m| m.to == 3 && m.msg_type == MessageType::Append));
}

#[test]
fn a_reported_snapshot_failure_probes_from_what_the_follower_is_known_to_hold() {
    let (mut raft, _) = leader_sending_snapshot();
    let mut failure = message(MessageType::SnapshotStatus, 3, 1, 0);
    failure.reject = true;
    raft.step(failure).unwrap();
    let progress = &raft.tracker.progress[&3];
    assert_eq!(progress.state, ProgressState::Probe);
    assert_eq!(progress.next_index, progress.matched + 1);
    assert!(progress.probe_sent, "waits for a heartbeat answer first");
}
