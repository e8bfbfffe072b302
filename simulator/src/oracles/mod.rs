//! The safety oracles, checked after every step of the world.
//!
//! - [`invariants`]: Raft's own properties over the nodes' terms, roles and logs (Raft §5.2
//!   election safety, §5.3 log matching, §5.4 leader completeness and state machine safety, and
//!   durability across restarts).
//! - [`reference`](mod@reference): a reference state machine fed with the committed log, against which every
//!   node's applied store and every acknowledged reply is compared.
//! - [`messages`]: every message's claims about its sender's log (contiguous entries the sender
//!   holds, the terms it names, commit indexes it reached), judged as the message leaves.
//! - [`promises`]: what a node promised by its protocol options (leases, PreVote, CheckQuorum,
//!   transfers, the Ready contract), judged over time.
//!
//! The oracles take plain values, not nodes, so that unit tests can feed them crafted
//! violations; the world extracts those values from `kvapp::Node` (see `world.rs`).

pub mod invariants;
pub mod messages;
pub mod promises;
pub mod reference;

use std::fmt;

use raft::NodeId;
use serde::Serialize;

/// The property a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Property {
    /// Raft §5.2: at most one leader per term.
    ElectionSafety,
    /// Raft §5.3: two entries with the same index and term hold the same command and follow
    /// the same log.
    LogMatching,
    /// Raft §5.4: an entry once committed is at that index in every later committed log, and
    /// every leader holds it.
    CommittedEntryChanged,
    /// Raft §5.4: a new leader's log holds every committed entry.
    LeaderCompleteness,
    /// A running node's commit or applied index went back.
    IndexWentBack,
    /// A restarted node lost state it had made durable (term, vote, committed log).
    DurableStateLost,
    /// A node's store differs from the reference state machine at the same applied index.
    AppliedStateDiverged,
    /// A write answered applied is not in the committed log, or its reply differs from the
    /// reference's.
    AcknowledgedWrite,
    /// A node failed to restart from a disk that no fault damaged.
    RecoveryFailed,
    /// A node hit a storage or decode error that no fault explains.
    UnexpectedError,
    /// The client history is not linearizable.
    Linearizability,
    /// With CheckQuorum, a follower voted (or pre-voted) for another node within an election
    /// timeout of hearing from its leader, without a transfer forcing the election (Raft
    /// thesis §4.2.3).
    VoteInsideLease,
    /// With PreVote, a node raised its term by campaigning without a quorum of pre-votes
    /// (thesis §9.6).
    PreVoteSkipped,
    /// With CheckQuorum, a leader that heard from no quorum did not step down in time
    /// (thesis §6.2).
    CheckQuorumStepDown,
    /// A leadership transfer neither completed nor was given up within an election timeout
    /// (thesis §3.10).
    TransferDeadline,
    /// A stretch without faults, lost or slow messages raised a term while a leader led.
    FaultFreeStability,
    /// A message that promises durable state (a granted vote, a vote request, an accepted
    /// append) left a node while the state it promises was not durable (the Ready contract).
    ReadyContract,
    /// A read was confirmed at an index below the commit index of the cluster when the read
    /// was asked for (Raft thesis §6.4).
    ReadIndexBehindCommit,
    /// A leader's log held two configuration changes that were not applied (one at a time,
    /// thesis §4.1).
    ConfChangesPending,
    /// A node acts in a configuration that its applied log does not imply.
    ConfigurationDiverged,
    /// A node took a term that no node campaigned for: terms are made only by candidates
    /// (thesis §3.4), and a pre-vote's term is only asked about (§9.6).
    TermWithoutCampaign,
    /// A leader answered a read on its lease while no quorum of its voters was bound to it: a
    /// voter is bound while its own clock is inside an election timeout of its last message
    /// from the leader, while it is down, and for an election timeout after it restarts with
    /// persisted state (thesis §6.4.1).
    LeaseReadUnbacked,
    /// With `step_down_on_removal`, a leader went on leading in the step that applied its own
    /// removal or demotion (etcd's StepDownOnRemoval: it steps down as the change takes effect).
    RemovedLeaderLeads,
    /// A message misstated its sender's log: entries that do not follow one another or that
    /// the sender does not hold, a term the sender does not have at the index named, a last
    /// index or a commit index it has not reached.
    MessageClaim,
}

impl Property {
    /// Every property, in declaration order.
    pub const ALL: &'static [Property] = &[
        Property::ElectionSafety,
        Property::LogMatching,
        Property::CommittedEntryChanged,
        Property::LeaderCompleteness,
        Property::IndexWentBack,
        Property::DurableStateLost,
        Property::AppliedStateDiverged,
        Property::AcknowledgedWrite,
        Property::RecoveryFailed,
        Property::UnexpectedError,
        Property::Linearizability,
        Property::VoteInsideLease,
        Property::PreVoteSkipped,
        Property::CheckQuorumStepDown,
        Property::TransferDeadline,
        Property::FaultFreeStability,
        Property::ReadyContract,
        Property::ReadIndexBehindCommit,
        Property::ConfChangesPending,
        Property::ConfigurationDiverged,
        Property::TermWithoutCampaign,
        Property::LeaseReadUnbacked,
        Property::RemovedLeaderLeads,
        Property::MessageClaim,
    ];
}

impl Property {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Property::ElectionSafety => "election safety",
            Property::LogMatching => "log matching",
            Property::CommittedEntryChanged => "committed entry changed",
            Property::LeaderCompleteness => "leader completeness",
            Property::IndexWentBack => "index went back",
            Property::DurableStateLost => "durable state lost",
            Property::AppliedStateDiverged => "applied state diverged",
            Property::AcknowledgedWrite => "acknowledged write",
            Property::RecoveryFailed => "recovery failed",
            Property::UnexpectedError => "unexpected error",
            Property::Linearizability => "linearizability",
            Property::VoteInsideLease => "vote inside lease",
            Property::PreVoteSkipped => "pre vote skipped",
            Property::CheckQuorumStepDown => "check quorum step down",
            Property::TransferDeadline => "transfer deadline",
            Property::FaultFreeStability => "fault free stability",
            Property::ReadyContract => "ready contract",
            Property::ReadIndexBehindCommit => "read index behind commit",
            Property::ConfChangesPending => "conf changes pending",
            Property::ConfigurationDiverged => "configuration diverged",
            Property::TermWithoutCampaign => "term without campaign",
            Property::LeaseReadUnbacked => "lease read unbacked",
            Property::RemovedLeaderLeads => "removed leader leads",
            Property::MessageClaim => "message claim",
        }
    }
}

/// A broken safety property, with what the oracle saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The node that showed it, if one did.
    pub node: Option<NodeId>,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    /// A violation seen at `node`.
    pub fn at(property: Property, node: NodeId, detail: String) -> Violation {
        Violation {
            property,
            node: Some(node),
            detail,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(node) => write!(
                formatter,
                "{} at node {node}: {}",
                self.property.name(),
                self.detail
            ),
            None => write!(formatter, "{}: {}", self.property.name(), self.detail),
        }
    }
}
