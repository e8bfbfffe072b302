//! Every knob of a run, grouped by the piece it drives. Names put the qualifier last
//! (`one_way_delay_ms_mean`, `packet_loss_probability`). Every option is printed in the run
//! report, so that a report alone says what was simulated.

use serde::{Deserialize, Serialize};

pub use kvapp::node::ReadMode;

/// The cluster and the settings of each `kvapp::Node`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// Voters of the cluster.
    pub node_count: u64,
    /// Milliseconds per Raft tick.
    pub tick_interval_ms: u64,
    /// Ticks before a follower campaigns.
    pub election_ticks: usize,
    /// Ticks between heartbeats.
    pub heartbeat_ticks: usize,
    /// Raft thesis §9.6.
    pub pre_vote: bool,
    /// Raft thesis §6.2.
    pub check_quorum: bool,
    /// A node snapshots its state after this many applied entries.
    pub snapshot_interval_entries: u64,
    /// Entries kept behind a snapshot for slow followers.
    pub snapshot_catch_up_entries: u64,
    /// WAL segments rotate at this size.
    pub wal_segment_size_bytes_limit: u64,
    /// Largest append message.
    pub message_size_bytes_max: u64,
    /// Appends in flight per follower.
    pub inflight_messages_max: usize,
    /// The node answers a client request it could not finish within this time.
    pub request_timeout_ms: u64,
    /// How leaders confirm reads: `Safe` (a heartbeat round per read) or `Lease` (no round
    /// while the leader's lease holds; needs `check_quorum`, and is correct only while clock
    /// drift stays inside the lease's margin, see the README).
    pub read_mode: ReadMode,
    /// The most bytes of committed entries one Ready hands out (0: no limit).
    pub committed_size_per_ready_bytes_max: u64,
    /// The most bytes of uncommitted payload a leader accepts before refusing proposals
    /// (0: no limit).
    pub uncommitted_size_bytes_max: u64,
    /// Followers forward proposals to the leader (off: they refuse them).
    pub proposal_forwarding: bool,
    /// A leader that applies its own removal steps down at once.
    pub step_down_on_removal: bool,
    /// Committed entries may wait this many behind the newest before being applied, and
    /// until the next tick (0: applied in the Ready that delivers them).
    pub apply_lag_entries_max: u64,
    /// Snapshot files a node keeps, newest first (at least 1): an older one is what a node
    /// whose newest snapshot file is damaged falls back to.
    pub snapshot_files_kept: usize,
    /// Of the `node_count` nodes, the last `spare_nodes` are not founding members: they start
    /// outside the configuration with empty disks and join (as the server's `--join`) when a
    /// membership change adds them.
    pub spare_nodes: u64,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            node_count: 5,
            tick_interval_ms: 10,
            election_ticks: 20,
            heartbeat_ticks: 3,
            pre_vote: true,
            check_quorum: true,
            snapshot_interval_entries: 64,
            snapshot_catch_up_entries: 16,
            wal_segment_size_bytes_limit: 16 * 1024,
            message_size_bytes_max: 16 * 1024,
            inflight_messages_max: 64,
            request_timeout_ms: 1_000,
            read_mode: ReadMode::Safe,
            committed_size_per_ready_bytes_max: 0,
            uncommitted_size_bytes_max: 0,
            proposal_forwarding: true,
            step_down_on_removal: false,
            apply_lag_entries_max: 0,
            snapshot_files_kept: 2,
            spare_nodes: 0,
        }
    }
}

impl ClusterOptions {
    /// What is wrong with these settings, if a node could not run with them at all.
    pub fn out_of_range(&self) -> Option<String> {
        let problem = |name: &str, value: u64, least: u64| {
            (value < least)
                .then(|| format!("cluster.{name} is {value}, at least {least} is needed"))
        };
        problem("node_count", self.node_count, 1)
            .or_else(|| problem("tick_interval_ms", self.tick_interval_ms, 1))
            .or_else(|| problem("heartbeat_ticks", self.heartbeat_ticks as u64, 1))
            .or_else(|| {
                problem(
                    "election_ticks",
                    self.election_ticks as u64,
                    self.heartbeat_ticks as u64 + 1,
                )
            })
            .or_else(|| problem("message_size_bytes_max", self.message_size_bytes_max, 1))
            .or_else(|| {
                problem(
                    "inflight_messages_max",
                    self.inflight_messages_max as u64,
                    1,
                )
            })
            .or_else(|| problem("snapshot_files_kept", self.snapshot_files_kept as u64, 1))
            .or_else(|| {
                // At least one founding member.
                (self.spare_nodes >= self.node_count).then(|| {
                    format!(
                        "cluster.spare_nodes is {}, at most node_count - 1 = {} may be spares",
                        self.spare_nodes,
                        self.node_count.saturating_sub(1)
                    )
                })
            })
    }

    /// The founding members: nodes `1..=founding_nodes()`.
    pub fn founding_nodes(&self) -> u64 {
        self.node_count.saturating_sub(self.spare_nodes).max(1)
    }

    /// The largest clock drift (`faults.clock_drift_ppm_max`, each way) under which lease
    /// reads are correct with these timings: raft's lease gives up `raft::LEASE_MARGIN_TICKS`
    /// of an election timeout of E ticks to drift, so two clocks may run at rates
    /// `(E - 1) / (E - 1 - margin)` apart, that is each within `margin / (2 (E - 1) - margin)`
    /// of true time. Half of that is left for timers, which fire on whole milliseconds.
    pub fn lease_drift_ppm_max(&self) -> u64 {
        let margin = raft::LEASE_MARGIN_TICKS;
        let span = 2 * (self.election_ticks as u64).saturating_sub(1);
        if span <= margin {
            return 0;
        }
        1_000_000 * margin / (span - margin) / 2
    }
}

/// How links behave when nothing is partitioned or clogged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkOptions {
    /// No message arrives sooner.
    pub one_way_delay_ms_min: u64,
    /// The mean delay; the excess over the minimum is exponential, so messages reorder.
    pub one_way_delay_ms_mean: u64,
    /// Each message is lost with this probability.
    pub packet_loss_probability: f64,
    /// Each message is delivered twice (with independent delays) with this probability.
    pub packet_duplicate_probability: f64,
    /// Messages in flight per directed link; more are dropped.
    pub link_capacity_messages: u64,
}

impl Default for NetworkOptions {
    fn default() -> NetworkOptions {
        NetworkOptions {
            one_way_delay_ms_min: 1,
            one_way_delay_ms_mean: 4,
            packet_loss_probability: 0.01,
            packet_duplicate_probability: 0.01,
            link_capacity_messages: 512,
        }
    }
}

/// Which partition shapes the fault injector may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PartitionMode {
    /// One node cut off from every other, both ways.
    IsolateOne,
    /// A random split into two non-empty groups.
    RandomHalves,
    /// Every node sees a majority, but no two nodes see the same one (Jepsen's ring).
    MajoritiesRing,
    /// Two groups that only one bridge node connects.
    Bridge,
    /// One node can receive but not send, or send but not receive.
    OneWay,
}

impl PartitionMode {
    /// Every mode.
    pub const ALL: [PartitionMode; 5] = [
        PartitionMode::IsolateOne,
        PartitionMode::RandomHalves,
        PartitionMode::MajoritiesRing,
        PartitionMode::Bridge,
        PartitionMode::OneWay,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            PartitionMode::IsolateOne => "isolate-one",
            PartitionMode::RandomHalves => "random-halves",
            PartitionMode::MajoritiesRing => "majorities-ring",
            PartitionMode::Bridge => "bridge",
            PartitionMode::OneWay => "one-way",
        }
    }
}

/// The simulated disks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiskOptions {
    /// Torn writes are cut at multiples of this.
    pub sector_size_bytes: u64,
    /// Each fsync takes up to this long (uniform); messages a node sends after an fsync leave
    /// that much later.
    pub sync_latency_ms_max: u64,
    /// At each fault tick, damage a synced sector of one node of the corruptible minority.
    pub corruption_probability: f64,
    /// Of those damages, the share that is a sector that fails every read (the rest flip a bit).
    pub corruption_bad_sector_probability: f64,
}

impl Default for DiskOptions {
    fn default() -> DiskOptions {
        DiskOptions {
            sector_size_bytes: 512,
            sync_latency_ms_max: 0,
            corruption_probability: 0.0,
            corruption_bad_sector_probability: 0.5,
        }
    }
}

/// When and how hard the world misbehaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultOptions {
    /// Faults happen in `[0, fault_window_ms)`; then everything heals and liveness is judged.
    pub fault_window_ms: u64,
    /// Mean time between fault ticks; at each tick every kind below is drawn independently.
    pub fault_interval_ms_mean: u64,
    /// A running node crashes.
    pub node_crash_probability: f64,
    /// Of those crashes, the share that strikes inside one of the node's next disk writes
    /// (between two writes, or with a write half done) rather than between two events.
    pub crash_mid_write_probability: f64,
    /// A crashed node restarts after this long on average.
    pub node_restart_delay_ms_mean: u64,
    /// A running node stops processing for a while.
    pub node_pause_probability: f64,
    /// How long a pause lasts on average.
    pub node_pause_duration_ms_mean: u64,
    /// Each node's clock runs fast or slow by up to this many parts per million.
    pub clock_drift_ppm_max: u64,
    /// Each node's drift in parts per million, by node id order, instead of drawn ones (empty:
    /// drawn within `clock_drift_ppm_max`; nodes past the list's end drift as drawn).
    pub clock_drift_ppm_fixed: Vec<i64>,
    /// The network splits.
    pub partition_probability: f64,
    /// How long a partition lasts on average.
    pub partition_duration_ms_mean: u64,
    /// The shapes a partition may take.
    pub partition_modes: Vec<PartitionMode>,
    /// A directed link holds its messages back for a while.
    pub link_clog_probability: f64,
    /// How long a clog lasts on average.
    pub link_clog_duration_ms_mean: u64,
    /// The leader is asked to hand leadership to a random other node (Raft thesis §3.10).
    pub leader_transfer_probability: f64,
    /// A random running node starts an election at once, whatever its timers say.
    pub forced_election_probability: f64,
    /// The leader is asked to remove a voter, or to add back a removed node (with an empty
    /// disk). With disk corruption on, only changes that keep the nodes the fault atlas may
    /// damage a minority of the new configuration are drawn.
    pub membership_change_probability: f64,
    /// Of the crashes, the share whose node restarts within a few milliseconds (before any
    /// election timeout runs out) rather than after `node_restart_delay_ms_mean`.
    pub crash_quick_restart_probability: f64,
    /// Of the crashes, the share aimed at the leader, or at a campaigning node when there is
    /// one, rather than at any running node.
    pub crash_leader_probability: f64,
    /// Of the pauses, the share aimed at the leader (a stop-the-world pause of the process
    /// that holds a lease or thinks it still leads).
    pub pause_leader_probability: f64,
    /// Of the clogs, the share of links to or from the leader.
    pub clog_leader_probability: f64,
    /// Of the membership changes, the share made as one joint change (Raft thesis §4.3) of
    /// several nodes at once (added, removed, made learners) rather than a single step.
    pub membership_joint_probability: f64,
    /// Of the joint changes, the share that leaves the joint configuration only when asked
    /// (`auto_leave` off); a later membership change then asks for the leave.
    pub membership_explicit_leave_probability: f64,
    /// Of the nodes added, the share added as learners; a later change promotes them (or a
    /// voter may be demoted to learner).
    pub membership_learner_probability: f64,
    /// Of the membership changes, the share proposed through a random member rather than the
    /// leader, at the same moment as a second change through another member.
    pub membership_concurrent_probability: f64,
}

impl Default for FaultOptions {
    fn default() -> FaultOptions {
        FaultOptions {
            fault_window_ms: 20_000,
            fault_interval_ms_mean: 400,
            node_crash_probability: 0.15,
            crash_mid_write_probability: 0.5,
            node_restart_delay_ms_mean: 600,
            node_pause_probability: 0.05,
            node_pause_duration_ms_mean: 400,
            clock_drift_ppm_max: 20_000,
            clock_drift_ppm_fixed: Vec::new(),
            partition_probability: 0.1,
            partition_duration_ms_mean: 1_500,
            partition_modes: PartitionMode::ALL.to_vec(),
            link_clog_probability: 0.1,
            link_clog_duration_ms_mean: 500,
            leader_transfer_probability: 0.05,
            forced_election_probability: 0.05,
            membership_change_probability: 0.0,
            crash_quick_restart_probability: 0.0,
            crash_leader_probability: 0.0,
            clog_leader_probability: 0.0,
            membership_joint_probability: 0.0,
            membership_explicit_leave_probability: 0.0,
            membership_learner_probability: 0.0,
            membership_concurrent_probability: 0.0,
            pause_leader_probability: 0.0,
        }
    }
}

impl FaultOptions {
    /// No faults at all: a fault-free run that still checks everything.
    pub fn none() -> FaultOptions {
        FaultOptions {
            node_crash_probability: 0.0,
            node_pause_probability: 0.0,
            clock_drift_ppm_max: 0,
            partition_probability: 0.0,
            link_clog_probability: 0.0,
            leader_transfer_probability: 0.0,
            forced_election_probability: 0.0,
            membership_change_probability: 0.0,
            ..FaultOptions::default()
        }
    }
}

/// The clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadOptions {
    /// Clients, each with at most one operation outstanding.
    pub client_count: u64,
    /// Keys `k0`, `k1`, ….
    pub key_count: u64,
    /// Relative frequency of gets.
    pub get_weight: u64,
    /// Relative frequency of puts.
    pub put_weight: u64,
    /// Relative frequency of appends.
    pub append_weight: u64,
    /// Relative frequency of deletes.
    pub delete_weight: u64,
    /// Relative frequency of compare-and-sets.
    pub compare_and_set_weight: u64,
    /// A get goes through the log instead of ReadIndex with this probability.
    pub get_through_log_probability: f64,
    /// A client waits this long on average between an answer and its next operation.
    pub think_time_ms_mean: u64,
    /// A client gives up on one attempt after this long and retries elsewhere.
    pub client_timeout_ms: u64,
    /// A client waits this long after a failed attempt before retrying.
    pub retry_delay_ms: u64,
    /// Instead of drawing its next operation, a client closes its session with this
    /// probability (a `CloseSessions` command over its own client id) and goes on under a new
    /// client id, as a kvapp server does for its earlier runs. Retries of its earlier commands
    /// still travelling are then refused.
    pub session_close_probability: f64,
    /// A client sends to the node it last heard named leader with this probability (otherwise
    /// to a random node), even if that node may have stopped leading meanwhile.
    pub leader_hint_probability: f64,
    /// For this long after a new leader is elected, clients think for no time and retry at
    /// once: a burst of proposals and reads meets a leader that has not committed in its term
    /// yet (0: no bursts).
    pub leader_change_burst_ms: u64,
}

impl Default for WorkloadOptions {
    fn default() -> WorkloadOptions {
        WorkloadOptions {
            client_count: 5,
            key_count: 5,
            get_weight: 30,
            put_weight: 25,
            append_weight: 15,
            delete_weight: 5,
            compare_and_set_weight: 25,
            get_through_log_probability: 0.2,
            think_time_ms_mean: 40,
            client_timeout_ms: 1_500,
            retry_delay_ms: 30,
            session_close_probability: 0.0,
            leader_hint_probability: 0.8,
            leader_change_burst_ms: 0,
        }
    }
}

/// Everything about one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// The seed every random stream derives from.
    pub seed: u64,
    /// Whether the options were drawn from the seed (swarm mode).
    pub swarm: bool,
    /// Cluster and node settings.
    pub cluster: ClusterOptions,
    /// Link behaviour.
    pub network: NetworkOptions,
    /// Disk behaviour.
    pub disk: DiskOptions,
    /// Fault schedule.
    pub faults: FaultOptions,
    /// Clients.
    pub workload: WorkloadOptions,
    /// After the heal, every client operation must finish and the healthy nodes must agree
    /// on one applied index within this time.
    pub liveness_bound_ms: u64,
    /// A run stops with a liveness failure after this many events.
    pub events_max: u64,
    /// Search steps the linearizability checker may take before it gives up (no verdict).
    pub checker_steps_max: u64,
    /// Check a node's whole store against the reference at most every this many applied
    /// entries (1: after every change).
    pub store_audit_interval_entries: u64,
}

impl RunOptions {
    /// The default options with `seed`.
    pub fn new(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            swarm: false,
            cluster: ClusterOptions::default(),
            network: NetworkOptions::default(),
            disk: DiskOptions::default(),
            faults: FaultOptions::default(),
            workload: WorkloadOptions::default(),
            liveness_bound_ms: 30_000,
            events_max: 5_000_000,
            checker_steps_max: 2_000_000,
            store_audit_interval_entries: 8,
        }
    }

    /// Every option as `name = value` lines, in a fixed order, for the report.
    pub fn lines(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut lines = Vec::new();
        flatten("", &value, &mut lines);
        lines
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Changes one option from `name=value` (a dotted name as in [`RunOptions::lines`]; the value
/// is JSON, or a plain string).
pub fn apply_setting(options: &mut RunOptions, setting: &str) -> Result<(), String> {
    let (name, text) = setting
        .split_once('=')
        .ok_or_else(|| format!("{setting:?} is not name=value"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
    let mut tree = serde_json::to_value(&*options).map_err(|error| error.to_string())?;
    let mut place = &mut tree;
    for part in name.split('.') {
        place = place
            .get_mut(part)
            .ok_or_else(|| format!("no option named {name:?}"))?;
    }
    *place = value;
    *options = serde_json::from_value(tree).map_err(|error| format!("{setting:?}: {error}"))?;
    Ok(())
}

/// Applies `settings` in order ([`apply_setting`]), then refuses options no node could run
/// with, naming the option (judged after all of them, so their order does not matter).
pub fn apply_settings(options: &mut RunOptions, settings: &[String]) -> Result<(), String> {
    for setting in settings {
        apply_setting(options, setting)?;
    }
    match options.cluster.out_of_range() {
        Some(problem) => Err(format!("{problem} (settings: {})", settings.join(" "))),
        None => Ok(()),
    }
}

/// The `name=value` settings that turn `base` into `options` (the seed aside).
pub fn settings_diff(base: &RunOptions, options: &RunOptions) -> Vec<String> {
    if base == options {
        // Every seed of a sweep without `--set`: nothing to list, and listing both sets of
        // options through JSON is most of the cost of a short seed's reproduction line.
        return Vec::new();
    }
    let base_lines: std::collections::BTreeMap<String, String> = base.lines().into_iter().collect();
    options
        .lines()
        .into_iter()
        .filter(|(name, value)| {
            name != "seed" && name != "swarm" && base_lines.get(name) != Some(value)
        })
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_no_node_could_run_with_is_refused_by_name() {
        let mut options = RunOptions::new(1);
        let settings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (setting, says) in [
            (
                "cluster.node_count=0",
                "cluster.node_count is 0, at least 1",
            ),
            (
                "cluster.inflight_messages_max=0",
                "inflight_messages_max is 0",
            ),
            ("cluster.snapshot_files_kept=0", "snapshot_files_kept is 0"),
            (
                "cluster.election_ticks=3",
                "election_ticks is 3, at least 4",
            ),
            (
                "cluster.spare_nodes=5",
                "spare_nodes is 5, at most node_count - 1 = 4",
            ),
        ] {
            let error = apply_settings(&mut options.clone(), &settings(&[setting])).unwrap_err();
            assert!(error.contains(says), "{setting}: {error}");
        }
        // Judged after all of them: a pair valid together passes in either order.
        let pair = ["cluster.election_ticks=3", "cluster.heartbeat_ticks=1"];
        apply_settings(&mut options, &settings(&pair)).unwrap();
        assert_eq!(
            (
                options.cluster.election_ticks,
                options.cluster.heartbeat_ticks
            ),
            (3, 1)
        );
    }

    #[test]
    fn settings_round_trip_through_the_diff() {
        let base = RunOptions::new(3);
        let mut changed = base.clone();
        apply_setting(&mut changed, "cluster.node_count=3").unwrap();
        apply_setting(&mut changed, "network.packet_loss_probability=0.5").unwrap();
        apply_setting(&mut changed, r#"faults.partition_modes=["Bridge"]"#).unwrap();
        assert_eq!(changed.cluster.node_count, 3);
        assert_eq!(changed.faults.partition_modes, vec![PartitionMode::Bridge]);
        let diff = settings_diff(&base, &changed);
        assert_eq!(diff.len(), 3, "{diff:?}");
        let mut again = base.clone();
        for setting in &diff {
            apply_setting(&mut again, setting).unwrap();
        }
        assert_eq!(again, changed);
        assert!(apply_setting(&mut again, "cluster.no_such_option=1").is_err());
        assert!(apply_setting(&mut again, "cluster.node_count=many").is_err());
    }
}
