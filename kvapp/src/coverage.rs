//! The node driver's coverage points: the key-value store's and the driver's rare paths,
//! counted as they are taken (see [`raft::coverage`] for Raft's own). Read with
//! [`crate::node::Node::coverage`]; counting changes nothing the node does.

raft::coverage_points! {
    /// A retried command was answered from its client's session instead of applying again.
    RetryAnsweredFromSession => "kvapp.retry_answered_from_session",
    /// A command older than its client's latest was refused as stale.
    StaleCommandRefused => "kvapp.stale_command_refused",
    /// A command of a closed session was refused.
    ClosedSessionRefused => "kvapp.closed_session_refused",
    /// A close-sessions command ended at least one session.
    SessionsClosed => "kvapp.sessions_closed",
    /// A compare-and-set found another value and did not swap.
    CompareAndSetFailed => "kvapp.cas_failed",
    /// A snapshot was taken while client writes were pending.
    SnapshotDuringWrites => "kvapp.snapshot_during_writes",
    /// A leader change made pending writes' outcomes unknown.
    WritesUnknownOnLeaderChange => "kvapp.writes_unknown_on_leader_change",
    /// A confirmed read waited for the state machine to apply up to its index.
    ReadWaitedForApply => "kvapp.read_waited_for_apply",
    /// A read asked at a follower was confirmed by the leader's answer (a ReadIndex forwarded
    /// and answered with the leader's commit index).
    FollowerRead => "reads.confirmed_at_follower",
    /// Committed entries waited in the apply queue past the Ready that delivered them.
    ApplyLagged => "kvapp.apply_lagged",
    /// The apply queue was drained before advancing because it held a configuration change.
    ApplyDrainedForConfChange => "kvapp.apply_drained_for_conf_change",
    /// A single-step change added a voter to a running cluster (Raft thesis §4.1; the
    /// bootstrap entries of a new cluster are not counted).
    SingleStepAdd => "membership.single_step_add",
    /// A single-step change removed a node.
    SingleStepRemove => "membership.single_step_remove",
    /// A joint configuration was entered (thesis §4.3).
    JointEntered => "membership.joint_entered",
    /// A joint configuration was left by the leave its leader proposed by itself.
    JointLeftAuto => "membership.joint_left_auto",
    /// A joint configuration entered with an explicit leave was left by a leave someone
    /// proposed.
    JointLeftExplicit => "membership.joint_left_explicit",
    /// A learner was added.
    LearnerAdded => "membership.learner_added",
    /// A learner was promoted to voter.
    LearnerPromoted => "membership.learner_promoted",
    /// A voter was demoted to learner.
    VoterDemoted => "membership.voter_demoted",
    /// A node restarted from a snapshot file.
    RestartFromSnapshot => "storage.restart_from_snapshot",
    /// A node restarting from a snapshot replayed WAL entries past it.
    RestartReplayedPastSnapshot => "storage.restart_replayed_past_snapshot",
    /// A node restarted and cut a torn tail off its WAL.
    TornTailCut => "storage.torn_tail_cut",
    /// A node restarted and removed a snapshot file its WAL cannot restart from.
    UnusableSnapshotRemoved => "storage.unusable_snapshot_removed",
    /// A node restarted from an older snapshot because a newer one did not load.
    OlderSnapshotUsed => "storage.older_snapshot_used",
}
