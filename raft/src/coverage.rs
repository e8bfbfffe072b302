//! Coverage points: named counters of the rare paths a Raft expert wants a test to reach at
//! least sometimes ("sometimes assertions"), counted by the code that takes them.
//!
//! They change nothing the node does: each is one increment of a plain counter. A driver, a
//! monitoring endpoint or a simulator reads them with [`crate::RawNode::coverage`] to see which
//! interleavings a run really went through (a previous-term entry on a quorum that the leader
//! may not count, a follower truncating a divergent tail longer than the append that met it,
//! a lease read refused because the lease ran out, ...).
//!
//! [`coverage_points!`](crate::coverage_points) declares such a catalogue; kvapp declares its
//! own with it.

/// Declares a catalogue of coverage points: an enum `Point` whose variants carry a dotted
/// name (`"area.what"`) and a doc comment that becomes their description, and a counter
/// array `Counts` with one slot per point.
///
/// ```
/// raft::coverage_points! {
///     /// A thing happened.
///     Thing => "area.thing",
/// }
/// let mut counts = Counts::default();
/// counts.hit(Point::Thing);
/// assert_eq!(counts.get(Point::Thing), 1);
/// assert_eq!(Point::Thing.name(), "area.thing");
/// assert_eq!(Point::Thing.description(), "A thing happened.");
/// ```
#[macro_export]
macro_rules! coverage_points {
    ($( $(#[doc = $doc:literal])+ $variant:ident => $name:literal, )+) => {
        /// A coverage point: a path worth reaching at least sometimes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Point {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Point {
            /// Every point, in declaration order (the order of [`Counts`]' slots).
            pub const ALL: &'static [Point] = &[$(Point::$variant,)+];

            /// Its dotted name, `area.what`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Point::$variant => $name,)+
                }
            }

            /// What it counts, in a sentence.
            pub fn description(self) -> &'static str {
                match self {
                    $(Point::$variant => $crate::coverage::trim_doc(concat!($($doc),+)),)+
                }
            }
        }

        /// How often each point was reached.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Counts([u64; Point::ALL.len()]);

        impl Default for Counts {
            fn default() -> Counts {
                Counts([0; Point::ALL.len()])
            }
        }

        impl Counts {
            /// Counts one pass through `point`.
            #[inline]
            pub fn hit(&mut self, point: Point) {
                self.0[point as usize] += 1;
            }

            /// Counts `point` when `condition` holds.
            #[inline]
            pub fn hit_if(&mut self, condition: bool, point: Point) {
                if condition {
                    self.hit(point);
                }
            }

            /// How often `point` was reached.
            pub fn get(&self, point: Point) -> u64 {
                self.0[point as usize]
            }

            /// Every point with its count, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (Point, u64)> + '_ {
                Point::ALL.iter().map(|&point| (point, self.0[point as usize]))
            }

            /// Adds `other`'s counts to these.
            pub fn add(&mut self, other: &Counts) {
                for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
                    *mine += theirs;
                }
            }
        }
    };
}

/// A doc comment's text without the leading space each `///` line leaves.
#[doc(hidden)]
pub fn trim_doc(text: &'static str) -> &'static str {
    text.strip_prefix(' ').unwrap_or(text)
}

coverage_points! {
    // ----- Elections -----
    /// A node granted a pre-vote (Raft thesis §9.6).
    PreVoteGranted => "elections.pre_vote_granted",
    /// A node refused a pre-vote: it heard from a leader, or the candidate's log is behind.
    PreVoteRejected => "elections.pre_vote_rejected",
    /// A node granted its vote in a term (Raft §5.2).
    VoteGranted => "elections.vote_granted",
    /// A node refused its vote because the candidate's log is less up to date (Raft §5.4.1).
    VoteRejectedLogBehind => "elections.vote_rejected_log_behind",
    /// A vote request was ignored because the node heard from a live leader within an election
    /// timeout (CheckQuorum's lease, thesis §4.2.3).
    VoteIgnoredInLease => "elections.vote_ignored_in_lease",
    /// A candidate's election timed out without a winner and it campaigned again (a split vote).
    ElectionSplit => "elections.split_vote",
    /// A candidate or pre-candidate counted a majority of refusals and gave up.
    ElectionLost => "elections.lost",
    /// A pre-candidate ignored a pre-vote granted for another term: a late answer to an
    /// earlier pre-election.
    StalePreVoteGrantIgnored => "elections.stale_pre_vote_grant_ignored",
    /// A candidate or pre-candidate stepped down on a message of a higher term.
    CandidateSteppedDown => "elections.candidate_stepped_down",
    /// A node became leader with entries of earlier terms past its commit index.
    LeaderElectedWithUncommittedTail => "elections.leader_with_uncommitted_tail",
    /// A leader held an earlier term's entry on a quorum but could not commit it by counting,
    /// because it is not of its own term (Raft §5.4.2, Figure 8).
    CommitWithheldForEarlierTerm => "elections.commit_withheld_earlier_term",
    /// A leader committed entries of an earlier term through an entry of its own term.
    EarlierTermCommittedByOwnEntry => "elections.earlier_term_committed_by_own_entry",
    /// A leader stepped down because it had not heard from a quorum (CheckQuorum, thesis §6.2).
    LeaderDeposedByCheckQuorum => "elections.leader_deposed_by_check_quorum",
    /// A leader stepped down on a message of a higher term.
    LeaderSteppedDownOnHigherTerm => "elections.leader_stepped_down_on_higher_term",
    /// A node answered a request of an older term with its own term (Raft §5.1).
    StaleRequestAnswered => "elections.stale_request_answered",
    /// A leader started a leadership transfer (thesis §3.10).
    TransferStarted => "elections.transfer_started",
    /// The target of a leadership transfer won its election.
    TransferCompleted => "elections.transfer_completed",
    /// A leader gave up a leadership transfer (timed out, superseded, or its target removed).
    TransferAborted => "elections.transfer_aborted",
    /// The application made a node campaign at once, whatever its timers said.
    ForcedElection => "elections.forced",
    // ----- Replication -----
    /// A follower refused an append whose previous entry it does not hold (Raft §5.3).
    AppendRejected => "replication.append_rejected",
    /// A leader skipped back over a whole term of a follower's log at once after a refusal
    /// (fast backtracking by term).
    BacktrackedByTerm => "replication.backtracked_by_term",
    /// A follower cut off a divergent suffix of its log for a leader's entries.
    SuffixTruncated => "replication.suffix_truncated",
    /// A follower cut off a divergent suffix of four entries or more.
    SuffixTruncatedLong => "replication.suffix_truncated_long",
    /// A follower cut off a divergent suffix longer than the append that met it.
    SuffixTruncatedBeyondAppend => "replication.suffix_truncated_beyond_append",
    /// A follower got an append that starts below its commit index and answered with its commit.
    AppendBelowCommit => "replication.append_below_commit",
    /// A leader's append stopped short of the log's end at the message size limit.
    AppendSplitBySize => "replication.append_split_by_size",
    /// A leader held back an append because the follower's inflight window was full.
    InflightWindowFull => "replication.inflight_window_full",
    /// A heartbeat response freed a slot of a full inflight window whose appends were lost.
    HeartbeatFreedWindow => "replication.heartbeat_freed_window",
    /// A follower's progress went from probing to replicating.
    ProbeToReplicate => "replication.probe_to_replicate",
    /// A follower's progress went from replicating back to probing (a refusal or unreachable).
    ReplicateToProbe => "replication.replicate_to_probe",
    /// A leader started sending a snapshot to a follower behind its compacted log.
    ProgressToSnapshot => "replication.progress_to_snapshot",
    /// A follower's progress left the snapshot state for probing.
    SnapshotToProbe => "replication.snapshot_to_probe",
    /// A leader ignored an append response that was stale (duplicated, reordered, or older
    /// than what the follower already acknowledged).
    StaleAppendResponse => "replication.stale_append_response",
    /// A follower installed a snapshot from the leader.
    SnapshotInstalled => "replication.snapshot_installed",
    /// A follower forwarded a proposal to the leader.
    ProposalForwarded => "replication.proposal_forwarded",
    /// A proposal was refused (no leader, a transfer in progress, a removed leader).
    ProposalDropped => "replication.proposal_dropped",
    /// A leader refused a proposal at the uncommitted-size limit.
    UncommittedLimitReached => "replication.uncommitted_limit_reached",
    /// A Ready handed out only part of the committed entries (max_committed_size_per_ready).
    CommittedEntriesPaged => "replication.committed_entries_paged",
    // ----- Commitment and reads -----
    /// A follower's commit index advanced on a heartbeat.
    CommitByHeartbeat => "reads.commit_by_heartbeat",
    /// A new leader queued a read until it committed an entry of its own term (etcd #7331).
    ReadQueuedBeforeFirstCommit => "reads.queued_before_first_commit",
    /// A leader served a read after a heartbeat round confirmed its leadership (thesis §6.4).
    ReadServedSafe => "reads.served_safe",
    /// A leader served a read from its lease, without a round (thesis §6.4.1).
    ReadServedLease => "reads.served_lease",
    /// A lease-based leader fell back to a heartbeat round because its lease had run out or
    /// was forfeited.
    LeaseReadRefused => "reads.lease_refused",
    /// A follower forwarded a read to the leader.
    ReadForwarded => "reads.forwarded",
    /// A read was refused (no leader, or too many pending).
    ReadDropped => "reads.dropped",
    // ----- Membership (the application counts the changes it applies) -----
    /// A leader applied a configuration without itself and kept leading.
    LeaderRemovedWhileLeading => "membership.leader_removed_while_leading",
    /// A node that applied its own removal granted a vote or campaigned: still needed.
    RemovedNodeStillNeeded => "membership.removed_node_still_needed",
    /// A leader refused a configuration change proposal (one pending, or joint and not a leave).
    ConfChangeRefused => "membership.conf_change_refused",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_dotted_and_described() {
        let mut names: Vec<&str> = Point::ALL.iter().map(|point| point.name()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate names");
        for point in Point::ALL {
            assert_eq!(point.name().split('.').count(), 2, "{}", point.name());
            assert!(!point.description().starts_with(' '));
            assert!(point.description().ends_with('.'), "{}", point.name());
        }
        for (slot, point) in Point::ALL.iter().enumerate() {
            assert_eq!(*point as usize, slot);
        }
    }

    #[test]
    fn counts_add_up() {
        let mut a = Counts::default();
        a.hit(Point::VoteGranted);
        a.hit(Point::VoteGranted);
        a.hit_if(false, Point::ElectionLost);
        let mut b = Counts::default();
        b.hit(Point::ElectionLost);
        b.add(&a);
        assert_eq!(b.get(Point::VoteGranted), 2);
        assert_eq!(b.get(Point::ElectionLost), 1);
        assert_eq!(b.iter().filter(|(_, count)| *count > 0).count(), 2);
    }
}
