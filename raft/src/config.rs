//! The knobs of one Raft node, checked before the node starts.

use crate::message::{Index, NodeId, INVALID_ID};

/// How a leader confirms that it may serve a read (Raft thesis §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReadOnlyOption {
    /// Confirm leadership with a heartbeat round whose acknowledgements were sent after the
    /// request. Always correct.
    #[default]
    Safe,
    /// Trust the leader lease: serve at once while each voter of a quorum acknowledged a
    /// heartbeat round sent at most `election_tick - 2 - LEASE_MARGIN_TICKS` ticks ago (a
    /// follower refuses votes for an election timeout after receiving it, and it cannot have
    /// received it before it was sent); otherwise confirm as `Safe` does. Message delays do not
    /// matter; a node that restarts refuses votes for an election timeout, as it may have made
    /// that promise before it went down. Correct only while the nodes' clocks run at rates
    /// within `(E - 1) / (E - 1 - LEASE_MARGIN_TICKS)` of each other (E = `election_tick`),
    /// while the driver reads its clock (ticks) before handing the node a read or a message,
    /// and while the application forces no elections (`RawNode::campaign` makes a follower
    /// forget the leader it promised); requires `check_quorum`. A leader that starts a leadership transfer forfeits
    /// its lease (the transferee's election ignores leases) for the rest of its term.
    LeaseBased,
}

/// Configuration of one Raft node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; never zero.
    pub id: NodeId,
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout is
    /// drawn at random from `[election_tick, 2 * election_tick)` (Raft §5.2).
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats; must be below `election_tick`.
    pub heartbeat_tick: usize,
    /// The last applied index when restarting; entries up to it are not handed out again.
    pub applied: Index,
    /// The most bytes of entries in one append message (at least one entry is always sent).
    pub max_size_per_msg: u64,
    /// The most bytes of committed entries handed out in one `Ready`.
    pub max_committed_size_per_ready: u64,
    /// The most bytes of uncommitted payload a leader accepts before dropping proposals;
    /// zero means no limit.
    pub max_uncommitted_entries_size: u64,
    /// The most append messages in flight to one follower in replicate state.
    pub max_inflight_msgs: usize,
    /// A leader steps down when a quorum has not been active for an election timeout.
    pub check_quorum: bool,
    /// Run a pre-election before incrementing the term (Raft thesis §9.6), so that a node
    /// rejoining from a partition does not depose a working leader.
    pub pre_vote: bool,
    /// How reads are confirmed.
    pub read_only_option: ReadOnlyOption,
    /// Followers drop proposals instead of forwarding them to the leader.
    pub disable_proposal_forwarding: bool,
    /// A leader removed from the configuration (or demoted to learner) steps down once it
    /// applies the change, as Raft thesis §4.2.2 describes. Without it (etcd's default) the
    /// removed leader keeps leading, accepting no proposals, until the application stops it;
    /// its heartbeats keep the remaining voters from electing a leader meanwhile.
    ///
    /// Either way a removed node still answers vote requests, which a two-voter cluster that
    /// removes its leader may need (etcd #10563): if the message telling the other voter that
    /// the removal committed is lost, that voter still has the old configuration and needs the
    /// removed node's vote. Keep the removed node running until the others have a leader, or
    /// transfer leadership away before removing a leader.
    pub step_down_on_removal: bool,
    /// Seed of this node's random election timeouts; a node is a pure function of its seed and
    /// its inputs.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id: INVALID_ID,
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0,
            max_size_per_msg: 1024 * 1024,
            max_committed_size_per_ready: u64::MAX,
            max_uncommitted_entries_size: 0,
            max_inflight_msgs: 256,
            check_quorum: false,
            pre_vote: false,
            read_only_option: ReadOnlyOption::Safe,
            disable_proposal_forwarding: false,
            step_down_on_removal: false,
            seed: 0,
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `id` is zero.
    #[error("node id must not be zero")]
    ZeroId,
    /// `heartbeat_tick` is zero.
    #[error("heartbeat_tick must be at least 1")]
    ZeroHeartbeatTick,
    /// `election_tick` does not exceed `heartbeat_tick`.
    #[error(
        "election_tick ({election_tick}) must be greater than heartbeat_tick ({heartbeat_tick})"
    )]
    ElectionTickNotAboveHeartbeat {
        /// The configured election tick.
        election_tick: usize,
        /// The configured heartbeat tick.
        heartbeat_tick: usize,
    },
    /// `max_inflight_msgs` is zero.
    #[error("max_inflight_msgs must be at least 1")]
    ZeroInflight,
    /// `max_size_per_msg` is zero.
    #[error("max_size_per_msg must be at least 1")]
    ZeroMessageSize,
    /// `max_committed_size_per_ready` is zero.
    #[error("max_committed_size_per_ready must be at least 1")]
    ZeroCommittedSize,
    /// Lease-based reads without CheckQuorum.
    #[error("read_only_option LeaseBased requires check_quorum")]
    LeaseWithoutCheckQuorum,
}

impl Config {
    /// A configuration with defaults for everything but the id and seed.
    pub fn new(id: NodeId) -> Config {
        Config {
            id,
            seed: id,
            ..Config::default()
        }
    }

    /// Checks the configuration; a node refuses to start with an invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == INVALID_ID {
            return Err(ConfigError::ZeroId);
        }
        if self.heartbeat_tick == 0 {
            return Err(ConfigError::ZeroHeartbeatTick);
        }
        if self.election_tick <= self.heartbeat_tick {
            return Err(ConfigError::ElectionTickNotAboveHeartbeat {
                election_tick: self.election_tick,
                heartbeat_tick: self.heartbeat_tick,
            });
        }
        if self.max_inflight_msgs == 0 {
            return Err(ConfigError::ZeroInflight);
        }
        if self.max_size_per_msg == 0 {
            return Err(ConfigError::ZeroMessageSize);
        }
        if self.max_committed_size_per_ready == 0 {
            return Err(ConfigError::ZeroCommittedSize);
        }
        if self.read_only_option == ReadOnlyOption::LeaseBased && !self.check_quorum {
            return Err(ConfigError::LeaseWithoutCheckQuorum);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_with_an_id_is_valid() {
        assert_eq!(Config::new(1).validate(), Ok(()));
    }

    #[test]
    fn each_invalid_field_is_named() {
        let cases: Vec<(Config, ConfigError)> = vec![
            (Config::default(), ConfigError::ZeroId),
            (
                Config {
                    heartbeat_tick: 0,
                    ..Config::new(1)
                },
                ConfigError::ZeroHeartbeatTick,
            ),
            (
                Config {
                    election_tick: 3,
                    heartbeat_tick: 3,
                    ..Config::new(1)
                },
                ConfigError::ElectionTickNotAboveHeartbeat {
                    election_tick: 3,
                    heartbeat_tick: 3,
                },
            ),
            (
                Config {
                    max_inflight_msgs: 0,
                    ..Config::new(1)
                },
                ConfigError::ZeroInflight,
            ),
            (
                Config {
                    max_size_per_msg: 0,
                    ..Config::new(1)
                },
                ConfigError::ZeroMessageSize,
            ),
            (
                Config {
                    max_committed_size_per_ready: 0,
                    ..Config::new(1)
                },
                ConfigError::ZeroCommittedSize,
            ),
            (
                Config {
                    read_only_option: ReadOnlyOption::LeaseBased,
                    ..Config::new(1)
                },
                ConfigError::LeaseWithoutCheckQuorum,
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }
}
