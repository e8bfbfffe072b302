//! Coverage points count the rare paths they name: each test drives a cluster through one
//! situation a Raft expert would want a simulation to reach, and checks that the point counting
//! it moved (and, where the situation has a near miss, that the near miss does not count).

mod support;

use raft::coverage::Point;
use raft::{ReadOnlyOption, StateRole};
use support::Cluster;

fn count(cluster: &Cluster, id: u64, point: Point) -> u64 {
    cluster.node(id).coverage().get(point)
}

fn total(cluster: &Cluster, point: Point) -> u64 {
    cluster
        .nodes
        .values()
        .map(|node| node.coverage().get(point))
        .sum()
}

/// Raft §5.4.2, Figure 8: a new leader finds an entry of an earlier term on a quorum but may
/// not commit it by counting; its own entry commits both.
#[test]
fn an_earlier_term_entry_on_a_quorum_waits_for_the_leaders_own_entry() {
    // One entry per append, so that followers acknowledge the old entry before the new one.
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], |config| config.max_size_per_msg = 1);
    cluster.campaign(1);
    assert_eq!(cluster.role(1), StateRole::Leader);
    let base = cluster.last_index(1);
    // Entry `base + 1` of term 2 reaches node 2 only.
    cluster.partition(&[&[1, 2], &[3, 4, 5]]);
    cluster.propose(1, b"old").unwrap();
    assert_eq!(cluster.last_index(2), base + 1);
    assert_eq!(cluster.committed(1), base);
    // Node 3 wins term 3 with 4 and 5, but its entry goes nowhere.
    cluster.heal();
    cluster.isolate(1);
    cluster.cut(3, 2);
    cluster.node_mut(3).campaign().unwrap();
    cluster.process_ready(3);
    while cluster.role(3) != StateRole::Leader {
        assert!(cluster.deliver_one(), "node 3 never won");
    }
    cluster.in_flight.retain(|message| message.from != 3);
    cluster.stop(3);
    // Node 1 comes back, hears of term 3, and wins term 4 with 2, 4 and 5: its log holds the
    // old entry.
    cluster.heal();
    cluster.tick_node(1, 1);
    assert_eq!(cluster.role(1), StateRole::Follower);
    assert_eq!(
        count(&cluster, 1, Point::LeaderElectedWithUncommittedTail),
        0
    );
    cluster.campaign(1);
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert_eq!(
        count(&cluster, 1, Point::LeaderElectedWithUncommittedTail),
        1
    );
    assert!(count(&cluster, 1, Point::CommitWithheldForEarlierTerm) >= 1);
    assert_eq!(count(&cluster, 1, Point::EarlierTermCommittedByOwnEntry), 1);
    assert_eq!(cluster.committed(1), base + 2);
}

/// A follower whose divergent tail is longer than the leader's append that meets it cuts the
/// whole tail.
#[test]
fn a_long_divergent_tail_is_cut_by_a_short_append() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.isolate(1);
    for value in 0..6u8 {
        cluster.propose(1, &[value]).unwrap();
    }
    cluster.campaign(2);
    assert_eq!(cluster.role(2), StateRole::Leader);
    assert_eq!(total(&cluster, Point::SuffixTruncated), 0);
    cluster.heal();
    cluster.propose(2, b"new").unwrap();
    cluster.tick_all_times(3);
    assert_eq!(cluster.committed(1), cluster.committed(2));
    assert_eq!(count(&cluster, 1, Point::SuffixTruncated), 1);
    assert_eq!(count(&cluster, 1, Point::SuffixTruncatedLong), 1);
    assert_eq!(count(&cluster, 1, Point::SuffixTruncatedBeyondAppend), 1);
    assert_eq!(count(&cluster, 2, Point::SuffixTruncated), 0);
}

#[test]
fn a_leadership_transfer_counts_its_start_and_its_completion() {
    let mut cluster = Cluster::new(&[1, 2, 3], |_| {});
    cluster.campaign(1);
    cluster.transfer_leader(1, 2);
    assert_eq!(cluster.role(2), StateRole::Leader);
    assert_eq!(count(&cluster, 1, Point::TransferStarted), 1);
    assert_eq!(count(&cluster, 2, Point::TransferCompleted), 1);
    assert_eq!(total(&cluster, Point::TransferAborted), 0);
    // A transfer to an unreachable node is given up after an election timeout.
    cluster.isolate(3);
    cluster.transfer_leader(2, 3);
    cluster.tick_node(2, 20);
    assert_eq!(count(&cluster, 2, Point::TransferAborted), 1);
    assert_eq!(total(&cluster, Point::TransferCompleted), 1);
}

#[test]
fn lease_reads_are_served_inside_the_lease_and_refused_outside() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.check_quorum = true;
        config.read_only_option = ReadOnlyOption::LeaseBased;
    });
    cluster.campaign(1);
    cluster.propose(1, b"x").unwrap();
    cluster.tick_node(1, 1);
    cluster.read_index(1, b"inside").unwrap();
    assert_eq!(count(&cluster, 1, Point::ReadServedLease), 1);
    assert_eq!(count(&cluster, 1, Point::LeaseReadRefused), 0);
    // Cut off, the leader's last acknowledged round ages past the lease: it confirms by a
    // round instead.
    cluster.isolate(1);
    cluster.tick_node(1, 9);
    assert_eq!(cluster.role(1), StateRole::Leader);
    cluster.read_index(1, b"outside").unwrap();
    assert_eq!(count(&cluster, 1, Point::ReadServedLease), 1);
    assert_eq!(count(&cluster, 1, Point::LeaseReadRefused), 1);
    assert_eq!(count(&cluster, 1, Point::ReadServedSafe), 0);
}

#[test]
fn pre_votes_are_granted_to_a_live_candidate_and_refused_under_a_leader() {
    let mut cluster = Cluster::new(&[1, 2, 3], |config| {
        config.pre_vote = true;
        config.check_quorum = true;
    });
    cluster.campaign(1);
    assert!(total(&cluster, Point::PreVoteGranted) >= 1);
    assert_eq!(total(&cluster, Point::VoteIgnoredInLease), 0);
    // Node 3, cut off, asks in vain; back with the others, it is ignored while they hear node 1.
    cluster.isolate(3);
    cluster.tick_node(3, 30);
    cluster.heal();
    cluster.campaign(3);
    assert_eq!(cluster.role(1), StateRole::Leader);
    assert!(total(&cluster, Point::VoteIgnoredInLease) >= 1);
}
