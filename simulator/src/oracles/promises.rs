//! The promises of Raft's optional features, judged on every run: what PreVote, CheckQuorum,
//! leadership transfer and a healthy network promise beyond safety. Like the invariants, they
//! take plain values (times in the node's own clock, terms, node ids), so that unit tests can
//! feed them violating runs; the world extracts the values from the nodes.
//!
//! - [`LeaseVotes`]: with CheckQuorum a follower that heard from its leader within an election
//!   timeout votes for nobody else, pre-vote or vote, unless a leadership transfer forces the
//!   election (Raft thesis §4.2.3, §3.10).
//! - [`LeaseReads`]: the leader side of the same promise. A leader answers a read on its lease
//!   only while a quorum of its voters is bound by it: each inside an election timeout of its
//!   own clock since its last message from that leader, down, or just restarted with
//!   persisted state (which holds its vote for an election timeout). This judges the lease
//!   itself, by the voters' clocks, where a stale value shows only when a new leader's write
//!   meets a read at the old one (thesis §6.4.1).
//! - [`PreVoteGate`]: with PreVote a node raises its term by campaigning only after a quorum
//!   granted its pre-vote (thesis §9.6). With [`LeaseVotes`] this is the promise that a node
//!   rejoining after a partition cannot raise the term of a cluster with a stable leader.
//! - [`StepDown`]: with CheckQuorum a leader that hears from no quorum steps down within two
//!   election timeouts of its own clock (a check, and the one after), three when it started a
//!   transfer (which restarts the clock of its checks) (thesis §6.2).
//! - [`TransferDeadline`]: a leadership transfer completes, or is given up, within an election
//!   timeout of the leader's clock (thesis §3.10).
//! - [`Stability`]: a stretch of a few election timeouts without any fault, dropped message or
//!   slow delivery, that began with a leader, raises no term.

use std::collections::{BTreeMap, BTreeSet};

use raft::tracker::TrackerConfig;
use raft::{NodeId, Term};

use super::{Property, Violation};

/// Ticks of slack the clock-based promises allow for the order in which events and ticks fall
/// within one millisecond.
const SLACK_TICKS: u64 = 2;

/// The timings the promises are stated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Milliseconds per tick (of each node's own clock).
    pub tick_ms: u64,
    /// Ticks of an election timeout.
    pub election_ticks: u64,
}

impl Timings {
    fn election_ms(self) -> u64 {
        self.tick_ms * self.election_ticks
    }
}

/// The CheckQuorum lease on the follower side: see the module docs.
#[derive(Clone, Debug)]
pub struct LeaseVotes {
    timings: Timings,
    /// Per node: the term and local time of its last message from the leader of that term.
    contact: BTreeMap<NodeId, (Term, u64)>,
}

impl LeaseVotes {
    /// The watch for nodes with these timings.
    pub fn new(timings: Timings) -> LeaseVotes {
        LeaseVotes {
            timings,
            contact: BTreeMap::new(),
        }
    }

    /// `node`, a follower in `term`, took a message from its leader at its local `local_ms`.
    pub fn leader_contact(&mut self, node: NodeId, term: Term, local_ms: u64) {
        self.contact.insert(node, (term, local_ms));
    }

    /// `node` forgot its leader legitimately (it restarted, or a transfer's forced election
    /// asked for its vote): its promise is void.
    pub fn void(&mut self, node: NodeId) {
        self.contact.remove(&node);
    }

    /// `node`, in `term_before` before its last input, granted `candidate` a vote or (with
    /// `pre_vote`) a pre-vote for `granted_term` at its local `local_ms`.
    pub fn check_grant(
        &self,
        node: NodeId,
        term_before: Term,
        candidate: NodeId,
        granted_term: Term,
        pre_vote: bool,
        local_ms: u64,
    ) -> Result<(), Violation> {
        let Some(&(term, heard_ms)) = self.contact.get(&node) else {
            return Ok(());
        };
        // Ticks fall at most one tick period apart: until (E - 1) periods after the contact
        // the node has ticked fewer than E times and its lease holds.
        let lease_ms = (self.timings.election_ticks - 1) * self.timings.tick_ms;
        if term != term_before || granted_term <= term || local_ms >= heard_ms + lease_ms {
            return Ok(());
        }
        Err(Violation::at(
            Property::VoteInsideLease,
            node,
            format!(
                "node {node} granted {candidate} a {} for term {granted_term} {} ms after hearing \
                 from its leader of term {term} (its lease lasts {lease_ms} ms of its clock)",
                if pre_vote { "pre-vote" } else { "vote" },
                local_ms - heard_ms
            ),
        ))
    }
}

/// The lease on the leader side: see the module docs.
#[derive(Clone, Debug)]
pub struct LeaseReads {
    timings: Timings,
    /// Per node: its leader, that leader's term, and the node's local time of its last
    /// message from it.
    contact: BTreeMap<NodeId, (NodeId, Term, u64)>,
    /// Per node that restarted with persisted state: its local time then.
    restarted: BTreeMap<NodeId, u64>,
    /// Nodes that are down: they vote for nobody.
    down: BTreeSet<NodeId>,
}

impl LeaseReads {
    /// The watch for nodes with these timings.
    pub fn new(timings: Timings) -> LeaseReads {
        LeaseReads {
            timings,
            contact: BTreeMap::new(),
            restarted: BTreeMap::new(),
            down: BTreeSet::new(),
        }
    }

    /// `node`, a follower in `term`, took a message from its leader `leader` at its local
    /// `local_ms`.
    pub fn leader_contact(&mut self, node: NodeId, leader: NodeId, term: Term, local_ms: u64) {
        self.contact.insert(node, (leader, term, local_ms));
    }

    /// `node` crashed: until it restarts it votes for nobody.
    pub fn crashed(&mut self, node: NodeId) {
        self.down.insert(node);
        self.contact.remove(&node);
        self.restarted.remove(&node);
    }

    /// `node` started again at its local `local_ms`; `holds` when it found persisted state and
    /// so refuses votes for an election timeout (raft's hold after a restart).
    pub fn started(&mut self, node: NodeId, local_ms: u64, holds: bool) {
        self.down.remove(&node);
        if holds {
            self.restarted.insert(node, local_ms);
        }
    }

    /// `node` was released from its promise (a transfer's election asked for its vote, or the
    /// application made it campaign).
    pub fn void(&mut self, node: NodeId) {
        self.contact.remove(&node);
        self.restarted.remove(&node);
    }

    /// `leader`, leading `term`, answered a read on its lease. `voters` are its configuration's
    /// voters, `is_quorum` judges a set of them, and `local_ms` gives any node's clock now.
    pub fn check_read(
        &self,
        leader: NodeId,
        term: Term,
        voters: &BTreeSet<NodeId>,
        is_quorum: impl Fn(&BTreeSet<NodeId>) -> bool,
        local_ms: impl Fn(NodeId) -> u64,
    ) -> Result<(), Violation> {
        // As for the follower side: until (E - 1) tick periods after the message the follower
        // has ticked fewer than E times.
        let lease_ms = (self.timings.election_ticks - 1) * self.timings.tick_ms;
        let bound = |voter: NodeId| {
            let now = local_ms(voter);
            voter == leader
                || self.down.contains(&voter)
                || self
                    .contact
                    .get(&voter)
                    .is_some_and(|&(to, contact_term, heard)| {
                        to == leader && contact_term == term && now < heard + lease_ms
                    })
                || self
                    .restarted
                    .get(&voter)
                    .is_some_and(|&started| now < started + lease_ms)
        };
        let bound: BTreeSet<NodeId> = voters.iter().copied().filter(|&v| bound(v)).collect();
        if is_quorum(&bound) {
            return Ok(());
        }
        let unbound: Vec<String> = voters
            .iter()
            .filter(|voter| !bound.contains(voter))
            .map(|&voter| match self.contact.get(&voter) {
                Some(&(to, contact_term, heard)) if to == leader && contact_term == term => {
                    format!("{voter} (heard from it {} ms ago)", local_ms(voter) - heard)
                }
                _ => format!("{voter} (not its follower)"),
            })
            .collect();
        Err(Violation::at(
            Property::LeaseReadUnbacked,
            leader,
            format!(
                "leader {leader} of term {term} answered a read on its lease, but only {bound:?} \
                 of its voters were bound to it; unbound: {} (a follower's promise lasts \
                 {lease_ms} ms of its own clock)",
                unbound.join(", ")
            ),
        ))
    }
}

/// PreVote's gate on campaigns: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct PreVoteGate {
    /// Per node: the term of its current pre-election and who granted it.
    grants: BTreeMap<NodeId, (Term, BTreeSet<NodeId>)>,
}

impl PreVoteGate {
    /// `node` began a pre-election for `term` (it asked for pre-votes).
    pub fn pre_election(&mut self, node: NodeId, term: Term) {
        self.grants.insert(node, (term, BTreeSet::from([node])));
    }

    /// `from` granted `node` a pre-vote for `term`.
    pub fn granted(&mut self, node: NodeId, from: NodeId, term: Term) {
        if let Some((asked, granted)) = self.grants.get_mut(&node) {
            if *asked == term {
                granted.insert(from);
            }
        }
    }

    /// `node` went from `term_before` to `term_after` as a candidate by campaigning (not by a
    /// transfer's TimeoutNow); `is_quorum` judges a set of nodes by its configuration.
    pub fn check_campaign(
        &mut self,
        node: NodeId,
        term_before: Term,
        term_after: Term,
        is_quorum: impl Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<(), Violation> {
        let mut granted = match self.grants.remove(&node) {
            Some((term, granted)) if term == term_after => granted,
            _ => BTreeSet::new(),
        };
        granted.insert(node);
        if is_quorum(&granted) {
            return Ok(());
        }
        Err(Violation::at(
            Property::PreVoteSkipped,
            node,
            format!(
                "node {node} raised its term from {term_before} to {term_after} by campaigning, \
                 with pre-votes for that term granted only by {granted:?}, not a quorum"
            ),
        ))
    }
}

/// Terms are made by campaigns: a node becomes a candidate in the term after its own, and
/// every other node reaches a term only by hearing of it. A node whose term rose to one that
/// no node campaigned in took it from somewhere else, such as a pre-vote request, whose term
/// is only asked about (thesis §9.6): the term inflation PreVote exists to prevent.
#[derive(Debug, Default)]
pub struct TermOrigins {
    campaigned: BTreeSet<Term>,
}

impl TermOrigins {
    /// Some node campaigned in `term` (it became a candidate, or sent a vote request for it),
    /// or holds it durably from before a restart.
    pub fn campaigned(&mut self, term: Term) {
        self.campaigned.insert(term);
    }

    /// `node` went from `term_before` to `term_after` other than by campaigning.
    pub fn check_adopted(
        &self,
        node: NodeId,
        term_before: Term,
        term_after: Term,
    ) -> Result<(), Violation> {
        if term_after <= term_before || self.campaigned.contains(&term_after) {
            return Ok(());
        }
        Err(Violation::at(
            Property::TermWithoutCampaign,
            node,
            format!(
                "node {node} went from term {term_before} to term {term_after}, a term no node \
                 campaigned in (the highest term campaigned in so far: {})",
                self.campaigned.last().copied().unwrap_or(0)
            ),
        ))
    }
}

/// What [`StepDown`] knows of one leader.
#[derive(Clone, Debug)]
struct LeaderWatch {
    term: Term,
    since_local_ms: u64,
    /// Per voter: the local time of its latest response to the leader.
    heard: BTreeMap<NodeId, u64>,
    /// When the leader last started a transfer.
    transfer_local_ms: Option<u64>,
    /// Its configuration as it last saw it (raft counts a voter added to the configuration
    /// as heard from when it is added).
    configuration: Option<TrackerConfig>,
}

/// CheckQuorum on the leader side: see the module docs.
#[derive(Clone, Debug)]
pub struct StepDown {
    timings: Timings,
    leaders: BTreeMap<NodeId, LeaderWatch>,
}

impl StepDown {
    /// The watch for leaders with these timings.
    pub fn new(timings: Timings) -> StepDown {
        StepDown {
            timings,
            leaders: BTreeMap::new(),
        }
    }

    /// `node` leads `term` at its local `local_ms` (called after every step of a leader).
    pub fn leading(&mut self, node: NodeId, term: Term, local_ms: u64) {
        let fresh = || LeaderWatch {
            term,
            since_local_ms: local_ms,
            heard: BTreeMap::new(),
            transfer_local_ms: None,
            configuration: None,
        };
        let watch = self.leaders.entry(node).or_insert_with(fresh);
        if watch.term != term {
            *watch = fresh();
        }
    }

    /// The leader `node` has configuration `conf` at its local `local_ms`: when it changed,
    /// the quorum it needs changed, so it is judged from now, and the voters it added count as
    /// heard from now, as raft counts them.
    /// Compared as raft's tracker holds it, so that the leader's every step costs no copy.
    pub fn configuration(&mut self, node: NodeId, conf: &TrackerConfig, local_ms: u64) {
        let Some(watch) = self.leaders.get_mut(&node) else {
            return;
        };
        let Some(before) = &watch.configuration else {
            watch.configuration = Some(conf.clone());
            return;
        };
        if before == conf {
            return;
        }
        for &voter in conf.voters.ids().difference(&before.voters.ids()) {
            watch.heard.insert(voter, local_ms);
        }
        watch.configuration = Some(conf.clone());
        watch.since_local_ms = local_ms;
    }

    /// `node` no longer leads (it stepped down, crashed, or stalled: a pause stops its clock
    /// and its checks, so it is judged afresh when it runs again).
    pub fn not_leading(&mut self, node: NodeId) {
        self.leaders.remove(&node);
    }

    /// The leader `node` took a response from `from` at its local `local_ms`.
    pub fn heard(&mut self, node: NodeId, from: NodeId, local_ms: u64) {
        if let Some(watch) = self.leaders.get_mut(&node) {
            watch.heard.insert(from, local_ms);
        }
    }

    /// The leader `node` started a leadership transfer at its local `local_ms`.
    pub fn transfer_started(&mut self, node: NodeId, local_ms: u64) {
        if let Some(watch) = self.leaders.get_mut(&node) {
            watch.transfer_local_ms = Some(local_ms);
        }
    }

    /// `node` still leads at its local `local_ms`: it must have heard from a quorum recently
    /// enough. `is_quorum` judges a set of nodes by its configuration (the leader counts
    /// itself when it is a voter).
    pub fn check(
        &self,
        node: NodeId,
        local_ms: u64,
        is_quorum: impl Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<(), Violation> {
        let Some(watch) = self.leaders.get(&node) else {
            return Ok(());
        };
        let election_ms = self.timings.election_ms();
        let mut allowed_ms = 2 * election_ms + SLACK_TICKS * self.timings.tick_ms;
        if watch
            .transfer_local_ms
            .is_some_and(|started| started + allowed_ms + election_ms >= local_ms)
        {
            allowed_ms += election_ms;
        }
        let horizon = local_ms.saturating_sub(allowed_ms);
        if watch.since_local_ms >= horizon {
            return Ok(());
        }
        let mut recent: BTreeSet<NodeId> = watch
            .heard
            .iter()
            .filter(|(_, &heard)| heard >= horizon)
            .map(|(&id, _)| id)
            .collect();
        recent.insert(node);
        if is_quorum(&recent) {
            return Ok(());
        }
        Err(Violation::at(
            Property::CheckQuorumStepDown,
            node,
            format!(
                "node {node} still leads term {} at {local_ms} ms of its clock, though since {horizon} \
                 ms only {recent:?} answered it, not a quorum ({allowed_ms} ms allowed)",
                watch.term
            ),
        ))
    }
}

/// A leadership transfer's deadline: see the module docs.
#[derive(Clone, Debug)]
pub struct TransferDeadline {
    timings: Timings,
    /// Per leader: (term, transferee, local start time).
    transfers: BTreeMap<NodeId, (Term, NodeId, u64)>,
}

impl TransferDeadline {
    /// The watch for leaders with these timings.
    pub fn new(timings: Timings) -> TransferDeadline {
        TransferDeadline {
            timings,
            transfers: BTreeMap::new(),
        }
    }

    /// After a step of `node`: it leads `term` (or not: `None`) with `transferee` (0: none) at
    /// its local `local_ms`.
    pub fn observe(
        &mut self,
        node: NodeId,
        leading: Option<Term>,
        transferee: NodeId,
        local_ms: u64,
    ) -> Result<(), Violation> {
        let Some(term) = leading.filter(|_| transferee != raft::INVALID_ID) else {
            self.transfers.remove(&node);
            return Ok(());
        };
        let entry = self
            .transfers
            .entry(node)
            .or_insert((term, transferee, local_ms));
        if entry.0 != term || entry.1 != transferee {
            *entry = (term, transferee, local_ms);
        }
        let allowed_ms = (self.timings.election_ticks + SLACK_TICKS) * self.timings.tick_ms;
        if local_ms > entry.2 + allowed_ms {
            return Err(Violation::at(
                Property::TransferDeadline,
                node,
                format!(
                    "node {node} has been transferring leadership of term {term} to {transferee} \
                     for {} ms of its clock, past the election timeout ({allowed_ms} ms allowed) \
                     by which a transfer completes or is given up",
                    local_ms - entry.2
                ),
            ));
        }
        Ok(())
    }

    /// `node` stalled or crashed: its clock stopped, so its transfer is judged afresh.
    pub fn forget(&mut self, node: NodeId) {
        self.transfers.remove(&node);
    }
}

/// Quiet stretches raise no term: see the module docs.
#[derive(Clone, Debug)]
pub struct Stability {
    timings: Timings,
    /// The latest world time at which something disturbed the cluster (a fault, a dropped or
    /// slow message, a restart, a membership change, an election).
    disturbed_ms: u64,
    /// The highest term any node is in.
    highest_term: Term,
}

impl Stability {
    /// Stretches of this many election timeouts are judged.
    pub const STRETCH_ELECTION_TIMEOUTS: u64 = 3;

    /// The watch for a cluster with these timings.
    pub fn new(timings: Timings) -> Stability {
        Stability {
            timings,
            disturbed_ms: 0,
            highest_term: 0,
        }
    }

    /// Something that may legitimately cause an election happened at world time `now_ms`.
    pub fn disturbed(&mut self, now_ms: u64) {
        self.disturbed_ms = self.disturbed_ms.max(now_ms);
    }

    /// The slowest delivery that still counts as quiet: a quarter of an election timeout, so
    /// that heartbeats keep every follower's timer far from running out.
    pub fn quiet_delay_ms_max(&self) -> u64 {
        self.timings.election_ms() / 4
    }

    /// The highest term seen.
    pub fn highest_term(&self) -> Term {
        self.highest_term
    }

    /// A node is in `term` at world time `now_ms`; `leader_known` says whether a leader of
    /// the highest term seen so far leads (the world's view).
    pub fn observe_term(
        &mut self,
        node: NodeId,
        term: Term,
        now_ms: u64,
        leader_known: bool,
    ) -> Result<(), Violation> {
        if term <= self.highest_term {
            return Ok(());
        }
        let previous = self.highest_term;
        self.highest_term = term;
        let stretch_ms = Self::STRETCH_ELECTION_TIMEOUTS * self.timings.election_ms();
        if !leader_known || previous == 0 || now_ms < self.disturbed_ms + stretch_ms {
            self.disturbed(now_ms);
            return Ok(());
        }
        let quiet_ms = now_ms - self.disturbed_ms;
        self.disturbed(now_ms);
        Err(Violation::at(
            Property::FaultFreeStability,
            node,
            format!(
                "node {node} raised the term from {previous} to {term} after {quiet_ms} ms without \
                 a fault, a lost or slow message or a membership change, while a leader led"
            ),
        ))
    }
}

/// The Ready contract at send time: `node` sends `to` a message of `msg_type` (with `reject`);
/// `promise_pending` says whether a write it could promise was unsynced at that moment. A
/// granted vote and a candidate's vote request promise its vote, an accepted append promises
/// the entries: all must be durable before the message leaves (Raft §5.1; the persist-then-send
/// order of a `Ready`).
pub fn ready_contract(
    node: NodeId,
    to: NodeId,
    msg_type: raft::MessageType,
    reject: bool,
    promise_pending: bool,
) -> Result<(), Violation> {
    use raft::MessageType;
    let promise = match msg_type {
        MessageType::RequestVoteResponse if !reject => "a granted vote",
        MessageType::RequestVote => "a vote request (the candidate's own vote)",
        MessageType::AppendResponse if !reject => "an accepted append",
        _ => return Ok(()),
    };
    if !promise_pending {
        return Ok(());
    }
    Err(Violation::at(
        Property::ReadyContract,
        node,
        format!(
            "node {node} sent {promise} to node {to} while a write it promises (entries, a \
             snapshot marker, a new term or vote, or a new WAL segment's name) was not yet synced"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMINGS: Timings = Timings {
        tick_ms: 10,
        election_ticks: 10,
    };

    fn majority_of_three(nodes: &BTreeSet<NodeId>) -> bool {
        nodes.iter().filter(|&&id| (1..=3).contains(&id)).count() >= 2
    }

    #[test]
    fn a_lease_read_needs_a_quorum_bound_by_their_own_clocks() {
        let voters = BTreeSet::from([1, 2, 3]);
        let mut reads = LeaseReads::new(TIMINGS);
        // Leader 1 of term 5; node 2 heard from it at its local 1,000, node 3 never did.
        reads.leader_contact(2, 1, 5, 1_000);
        let clocks = |now: u64| move |_: NodeId| now;
        let backed = |reads: &LeaseReads, now: u64| {
            reads
                .check_read(1, 5, &voters, majority_of_three, clocks(now))
                .is_ok()
        };
        assert!(backed(&reads, 1_089));
        // Node 2's clock reaches the end of its promise: nine tick periods after the message.
        let violation = reads
            .check_read(1, 5, &voters, majority_of_three, clocks(1_090))
            .unwrap_err();
        assert_eq!(violation.property, Property::LeaseReadUnbacked);
        assert!(
            violation.detail.contains("2 (heard from it 90 ms ago)"),
            "{violation}"
        );
        assert!(
            violation.detail.contains("3 (not its follower)"),
            "{violation}"
        );
        // A contact with another leader, or in another term, binds nobody to leader 1.
        reads.leader_contact(2, 4, 5, 1_050);
        assert!(!backed(&reads, 1_060));
        reads.leader_contact(2, 1, 4, 1_050);
        assert!(!backed(&reads, 1_060));
        // A node that is down votes for nobody; one that restarts with persisted state holds
        // its vote for an election timeout of its clock, one that restarts without does not.
        reads.crashed(3);
        assert!(backed(&reads, 5_000));
        reads.started(3, 5_000, true);
        assert!(backed(&reads, 5_089));
        assert!(!backed(&reads, 5_090));
        reads.crashed(3);
        reads.started(3, 6_000, false);
        assert!(!backed(&reads, 6_001));
        // A released promise binds no more.
        reads.leader_contact(3, 1, 5, 7_000);
        assert!(backed(&reads, 7_010));
        reads.void(3);
        assert!(!backed(&reads, 7_010));
    }

    #[test]
    fn a_vote_inside_the_lease_is_a_violation_and_one_outside_is_not() {
        let mut lease = LeaseVotes::new(TIMINGS);
        lease.leader_contact(2, 5, 1_000);
        let violation = lease.check_grant(2, 5, 3, 6, true, 1_050).unwrap_err();
        assert_eq!(violation.property, Property::VoteInsideLease);
        assert!(
            violation.detail.contains("pre-vote for term 6"),
            "{violation}"
        );
        assert!(
            lease.check_grant(2, 5, 3, 6, false, 1_090).is_ok(),
            "lease over"
        );
        assert!(
            lease.check_grant(2, 6, 3, 7, false, 1_050).is_ok(),
            "another term"
        );
        lease.void(2);
        assert!(
            lease.check_grant(2, 5, 3, 6, false, 1_050).is_ok(),
            "voided"
        );
    }

    #[test]
    fn a_campaign_without_a_pre_vote_quorum_is_a_violation() {
        let mut gate = PreVoteGate::default();
        gate.pre_election(1, 3);
        gate.granted(1, 2, 3);
        assert!(gate.check_campaign(1, 2, 3, majority_of_three).is_ok());
        gate.pre_election(1, 4);
        gate.granted(1, 2, 3); // a late grant of the earlier pre-election
        let violation = gate.check_campaign(1, 3, 4, majority_of_three).unwrap_err();
        assert_eq!(violation.property, Property::PreVoteSkipped);
        // No pre-election at all.
        assert!(gate.check_campaign(2, 3, 4, majority_of_three).is_err());
        // A single voter needs nobody else.
        assert!(gate
            .check_campaign(2, 3, 4, |nodes| nodes.contains(&2))
            .is_ok());
    }

    #[test]
    fn a_term_no_node_campaigned_in_is_a_violation() {
        let mut origins = TermOrigins::default();
        origins.campaigned(1);
        origins.campaigned(2);
        // Heard of from a candidate: fine; the same term again is no rise.
        assert!(origins.check_adopted(3, 1, 2).is_ok());
        assert!(origins.check_adopted(3, 2, 2).is_ok());
        // Taken from a pre-vote request for term 3, which nobody campaigned in.
        let violation = origins.check_adopted(3, 2, 3).unwrap_err();
        assert_eq!(violation.property, Property::TermWithoutCampaign);
        origins.campaigned(3);
        assert!(origins.check_adopted(3, 2, 3).is_ok());
    }

    #[test]
    fn a_leader_that_hears_no_quorum_must_step_down_in_time() {
        let mut step_down = StepDown::new(TIMINGS);
        step_down.leading(1, 2, 0);
        step_down.heard(1, 2, 500);
        step_down.heard(1, 3, 500);
        assert!(step_down.check(1, 700, majority_of_three).is_ok());
        // 2 election timeouts and 2 ticks allowed: 220 ms after the last answers.
        assert!(step_down.check(1, 720, majority_of_three).is_ok());
        let violation = step_down.check(1, 721, majority_of_three).unwrap_err();
        assert_eq!(violation.property, Property::CheckQuorumStepDown);
        step_down.not_leading(1);
        assert!(step_down.check(1, 2_000, majority_of_three).is_ok());
        // A transfer restarts the clock of the checks: one more election timeout.
        step_down.leading(2, 3, 0);
        step_down.heard(2, 1, 500);
        step_down.heard(2, 3, 500);
        step_down.transfer_started(2, 600);
        assert!(step_down.check(2, 820, majority_of_three).is_ok());
        assert!(step_down.check(2, 821, majority_of_three).is_err());
    }

    #[test]
    fn a_transfer_that_neither_completes_nor_ends_is_a_violation() {
        let mut deadline = TransferDeadline::new(TIMINGS);
        assert!(deadline.observe(1, Some(2), 3, 100).is_ok());
        assert!(deadline.observe(1, Some(2), 3, 220).is_ok());
        let violation = deadline.observe(1, Some(2), 3, 221).unwrap_err();
        assert_eq!(violation.property, Property::TransferDeadline);
        // Given up, or a new transfer, starts afresh.
        assert!(deadline.observe(1, Some(2), 0, 230).is_ok());
        assert!(deadline.observe(1, Some(2), 2, 240).is_ok());
        assert!(deadline.observe(1, Some(2), 2, 360).is_ok());
        assert!(deadline.observe(1, Some(2), 2, 361).is_err());
        assert!(deadline.observe(1, None, 2, 1_000).is_ok());
    }

    #[test]
    fn a_promise_sent_before_its_write_is_synced_breaks_the_ready_contract() {
        use raft::MessageType;
        let violation = ready_contract(1, 2, MessageType::AppendResponse, false, true).unwrap_err();
        assert_eq!(violation.property, Property::ReadyContract);
        assert!(
            violation.detail.contains("an accepted append"),
            "{violation}"
        );
        assert!(ready_contract(1, 2, MessageType::RequestVote, false, true).is_err());
        assert!(ready_contract(1, 2, MessageType::RequestVoteResponse, false, true).is_err());
        // A refusal promises nothing; nor does anything sent with every promise synced.
        assert!(ready_contract(1, 2, MessageType::RequestVoteResponse, true, true).is_ok());
        assert!(ready_contract(1, 2, MessageType::AppendResponse, true, true).is_ok());
        assert!(ready_contract(1, 2, MessageType::Heartbeat, false, true).is_ok());
        assert!(ready_contract(1, 2, MessageType::AppendResponse, false, false).is_ok());
    }

    #[test]
    fn a_term_raised_in_a_quiet_stretch_is_a_violation() {
        let mut stability = Stability::new(TIMINGS);
        assert!(stability.observe_term(1, 2, 100, false).is_ok());
        // Quiet for 3 election timeouts (300 ms) with a leader: no term may rise.
        assert!(stability.observe_term(2, 2, 399, true).is_ok());
        let violation = stability.observe_term(2, 3, 401, true).unwrap_err();
        assert_eq!(violation.property, Property::FaultFreeStability);
        // A disturbance restarts the stretch.
        stability.disturbed(500);
        assert!(stability.observe_term(3, 4, 700, true).is_ok());
        // Without a known leader an election is expected.
        assert!(stability.observe_term(3, 5, 5_000, false).is_ok());
    }
}
