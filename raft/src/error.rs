//! Operating errors of a Raft node. Broken invariants are panics, not errors.

use crate::confchange::ConfChangeError;
use crate::config::ConfigError;
use crate::storage::StorageError;

/// Why a call into a node did not take effect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// Storage could not answer.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A configuration change could not be applied.
    #[error("configuration change: {0}")]
    ConfChange(#[from] ConfChangeError),
    /// The proposal was not appended: no leader is known, forwarding is disabled, a leadership
    /// transfer is in progress, the uncommitted-size limit was reached, or a configuration
    /// change is already pending. The caller may retry later.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// The read request was not registered: no leader is known, or too many reads are pending.
    #[error("read index request dropped")]
    ReadIndexDropped,
    /// A message kind that a node only generates for itself arrived through `step`.
    #[error("raft: cannot step a local message from the network")]
    StepLocalMessage,
    /// A response came from a node that is not in the configuration.
    #[error("raft: cannot step a response from an unknown peer")]
    StepPeerNotFound,
}
