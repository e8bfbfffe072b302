//! Swarm testing: each seed draws its own cluster size, which fault kinds are on and how hard,
//! and the workload mix, so that a sweep explores many configurations instead of one (Groce et
//! al., "Swarm Testing", ISSTA 2012). The draw is a pure function of the seed, so
//! `raftsim run --swarm --seed N` reproduces any seed of a swarm sweep.

use crate::options::{PartitionMode, ReadMode, RunOptions};
use crate::random::{SimRng, Stream};

/// The options of swarm seed `seed`.
pub fn draw(seed: u64) -> RunOptions {
    let (mut rng, mut options) = draw_first(seed);
    draw_corners(&mut rng, &mut options);
    options
}

/// The options swarm seed `seed` drew before the corners were added ([`draw_corners`]): what
/// the tests that replay the runs that found earlier bugs need.
pub fn draw_without_corners(seed: u64) -> RunOptions {
    draw_first(seed).1
}

fn draw_first(seed: u64) -> (SimRng, RunOptions) {
    let mut rng = SimRng::stream(seed, Stream::Swarm, 0);
    let mut options = RunOptions::new(seed);
    options.swarm = true;

    let cluster = &mut options.cluster;
    cluster.node_count = *rng.pick(&[1, 3, 3, 5, 5, 5, 7]);
    cluster.election_ticks = rng.between(10, 30) as usize;
    cluster.heartbeat_ticks = rng.between(1, (cluster.election_ticks / 4) as u64) as usize;
    cluster.pre_vote = rng.chance(0.6);
    cluster.check_quorum = rng.chance(0.6);
    cluster.snapshot_interval_entries = *rng.pick(&[8, 32, 128, 100_000]);
    cluster.snapshot_catch_up_entries = *rng.pick(&[1, 4, 16]);
    cluster.wal_segment_size_bytes_limit = *rng.pick(&[1_024, 4_096, 65_536, 1 << 20]);
    cluster.message_size_bytes_max = *rng.pick(&[256, 4_096, 1 << 20]);
    cluster.inflight_messages_max = *rng.pick(&[1, 4, 64, 256]);
    cluster.request_timeout_ms = rng.between(300, 2_000);

    let network = &mut options.network;
    network.one_way_delay_ms_min = rng.between(0, 5);
    network.one_way_delay_ms_mean = network.one_way_delay_ms_min + rng.between(1, 25);
    network.packet_loss_probability = *rng.pick(&[0.0, 0.01, 0.05, 0.2]);
    network.packet_duplicate_probability = *rng.pick(&[0.0, 0.01, 0.1]);
    network.link_capacity_messages = *rng.pick(&[16, 64, 1_024]);

    let disk = &mut options.disk;
    disk.sector_size_bytes = *rng.pick(&[512, 4_096]);
    disk.sync_latency_ms_max = *rng.pick(&[0, 0, 5, 20]);
    disk.corruption_probability = *rng.pick(&[0.0, 0.0, 0.0, 0.05, 0.2]);
    disk.corruption_bad_sector_probability = rng.unit();

    let faults = &mut options.faults;
    faults.fault_window_ms = rng.between(3_000, 15_000);
    faults.fault_interval_ms_mean = rng.between(100, 1_000);
    faults.node_crash_probability = if rng.chance(0.5) {
        0.05 + 0.35 * rng.unit()
    } else {
        0.0
    };
    faults.crash_mid_write_probability = *rng.pick(&[0.0, 0.5, 1.0]);
    faults.node_restart_delay_ms_mean = rng.between(100, 3_000);
    faults.node_pause_probability = if rng.chance(0.5) {
        0.05 + 0.3 * rng.unit()
    } else {
        0.0
    };
    faults.node_pause_duration_ms_mean = rng.between(50, 2_000);
    faults.clock_drift_ppm_max = *rng.pick(&[0, 1_000, 50_000]);
    faults.partition_probability = if rng.chance(0.5) {
        0.05 + 0.45 * rng.unit()
    } else {
        0.0
    };
    faults.partition_duration_ms_mean = rng.between(200, 5_000);
    faults.partition_modes = PartitionMode::ALL
        .iter()
        .copied()
        .filter(|_| rng.chance(0.6))
        .collect();
    if faults.partition_modes.is_empty() {
        faults.partition_modes = vec![*rng.pick(&PartitionMode::ALL)];
    }
    faults.link_clog_probability = if rng.chance(0.5) {
        0.05 + 0.45 * rng.unit()
    } else {
        0.0
    };
    faults.link_clog_duration_ms_mean = rng.between(50, 2_000);
    faults.leader_transfer_probability = if rng.chance(0.4) {
        0.05 + 0.3 * rng.unit()
    } else {
        0.0
    };
    faults.forced_election_probability = if rng.chance(0.4) {
        0.05 + 0.3 * rng.unit()
    } else {
        0.0
    };

    let workload = &mut options.workload;
    workload.client_count = rng.between(1, 8);
    workload.key_count = rng.between(1, 8);
    workload.get_weight = rng.between(0, 10);
    workload.put_weight = rng.between(1, 10);
    workload.append_weight = rng.between(0, 10);
    workload.delete_weight = rng.between(0, 4);
    workload.compare_and_set_weight = rng.between(0, 10);
    workload.get_through_log_probability = *rng.pick(&[0.0, 0.3, 1.0]);
    workload.think_time_ms_mean = rng.between(0, 100);
    workload.client_timeout_ms = options.cluster.request_timeout_ms + rng.between(200, 2_000);
    workload.retry_delay_ms = rng.between(5, 100);

    // Drawn last, so that adding it left every earlier draw of a seed as it was. Off with disk
    // corruption, as when it was added (the fault atlas then assumed a fixed membership), so
    // that every seed still draws the run it always drew; `--set` combines the two.
    let membership = rng.chance(0.3) && options.disk.corruption_probability == 0.0;
    options.faults.membership_change_probability = if membership {
        0.05 + 0.3 * rng.unit()
    } else {
        0.0
    };
    // Drawn after everything else for the same reason.
    options.workload.session_close_probability = if rng.chance(0.3) {
        0.01 + 0.1 * rng.unit()
    } else {
        0.0
    };
    (rng, options)
}

/// The options added with the coverage points, drawn after everything else: every raft and
/// driver option over its useful range, and the corners where the hard bugs live. A seed whose
/// draws here all come out at the defaults runs as it did before they were added.
fn draw_corners(rng: &mut SimRng, options: &mut RunOptions) {
    let cluster = &mut options.cluster;
    cluster.read_mode = if cluster.check_quorum && rng.chance(0.4) {
        // Lease reads are only correct within the lease's margin for clock drift, and while
        // the application forces no elections (a node made to campaign forgets the leader it
        // promised not to replace).
        options.faults.clock_drift_ppm_max = options
            .faults
            .clock_drift_ppm_max
            .min(cluster.lease_drift_ppm_max());
        options.faults.forced_election_probability = 0.0;
        ReadMode::Lease
    } else {
        ReadMode::Safe
    };
    // 1 byte: exactly one entry per append.
    if rng.chance(0.2) {
        cluster.message_size_bytes_max = 1;
    }
    cluster.committed_size_per_ready_bytes_max = *rng.pick(&[0, 0, 0, 1, 512, 4_096]);
    cluster.uncommitted_size_bytes_max = *rng.pick(&[0, 0, 0, 64, 1_024, 16_384]);
    cluster.proposal_forwarding = rng.chance(0.8);
    cluster.step_down_on_removal = rng.chance(0.3);
    cluster.apply_lag_entries_max = *rng.pick(&[0, 0, 1, 4, 64]);
    // One snapshot file leaves nothing to fall back to when the newest is damaged.
    cluster.snapshot_files_kept = *rng.pick(&[2, 2, 1, 3]);

    // A finer tear: some devices and file systems persist a write in pieces smaller than a
    // 512-byte sector, so that a crash can cut a small record in the middle.
    if rng.chance(0.25) {
        options.disk.sector_size_bytes = 64;
    }
    let faults = &mut options.faults;
    // Most crashes inside disk operations for some seeds that crash: a write half done is
    // where torn WAL records come from.
    if faults.node_crash_probability > 0.0 && rng.chance(0.3) {
        faults.crash_mid_write_probability = 0.8 + 0.2 * rng.unit();
    }
    let share = |rng: &mut SimRng, chance: f64, low: f64, high: f64| {
        if rng.chance(chance) {
            low + (high - low) * rng.unit()
        } else {
            0.0
        }
    };
    faults.crash_quick_restart_probability = share(rng, 0.4, 0.2, 0.8);
    faults.crash_leader_probability = share(rng, 0.4, 0.3, 0.9);
    faults.clog_leader_probability = share(rng, 0.4, 0.3, 0.9);
    // Membership changes for more seeds than the first draw gave them (never with disk
    // corruption, whose atlas keeps damage to a minority of the first configuration only).
    if faults.membership_change_probability == 0.0
        && options.disk.corruption_probability == 0.0
        && rng.chance(0.3)
    {
        faults.membership_change_probability = 0.05 + 0.3 * rng.unit();
    }
    faults.membership_joint_probability = share(rng, 0.6, 0.2, 0.8);
    faults.membership_explicit_leave_probability = share(rng, 0.5, 0.3, 1.0);
    faults.membership_learner_probability = share(rng, 0.6, 0.3, 0.8);
    faults.membership_concurrent_probability = share(rng, 0.3, 0.2, 0.6);
    // New nodes joining: some nodes start outside the cluster, with empty disks, for a
    // membership change to add (a node that was never a member catches up from nothing).
    if faults.membership_change_probability > 0.0
        && options.cluster.node_count >= 3
        && rng.chance(0.4)
    {
        options.cluster.spare_nodes = rng.between(1, options.cluster.node_count / 2);
    }

    let workload = &mut options.workload;
    workload.leader_hint_probability = *rng.pick(&[0.8, 0.8, 0.5, 1.0]);
    // Frequent closes for some seeds that close sessions, so that late copies of commands
    // meet closed sessions.
    if workload.session_close_probability > 0.0 && rng.chance(0.5) {
        workload.session_close_probability = 0.1 + 0.2 * rng.unit();
    }
    workload.leader_change_burst_ms = if rng.chance(0.3) {
        rng.between(100, 2_000)
    } else {
        0
    };
    // Pauses aimed at the leader: the process that holds a lease, or believes it still
    // leads, stops the world and comes back to a cluster that moved on.
    options.faults.pause_leader_probability = share(rng, 0.4, 0.3, 0.9);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swarm_seed_always_draws_the_same_options_and_seeds_differ() {
        assert_eq!(draw(11), draw(11));
        let sizes: std::collections::BTreeSet<u64> =
            (0..100).map(|seed| draw(seed).cluster.node_count).collect();
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), vec![1, 3, 5, 7]);
        assert!((0..100).any(|seed| draw(seed).faults.node_crash_probability == 0.0));
        assert!((0..100).any(|seed| draw(seed).disk.corruption_probability > 0.0));
        assert!((0..100).any(|seed| draw(seed).faults.membership_change_probability > 0.0));
        assert!((0..100).any(|seed| draw(seed).workload.session_close_probability > 0.0));
        assert!((0..100).any(|seed| draw(seed).workload.session_close_probability == 0.0));
        assert!((0..1000).all(|seed| {
            let options = draw(seed);
            options.faults.membership_change_probability == 0.0
                || options.disk.corruption_probability == 0.0
        }));
    }
}
