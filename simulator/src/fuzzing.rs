//! Runs steered by a fuzzer: the bytes of a fuzz input decide the schedule of a short run of a
//! small cluster (which faults strike when, how messages are delayed, lost and reordered, how
//! crashes tear writes, what the clients ask), with every oracle on. `fuzz/`'s
//! `cluster_schedule` target calls [`run_tape`] and treats any verdict but a pass (or a known
//! bug) as a crash.
//!
//! # Input layout
//!
//! | bytes   | meaning                                                               |
//! |---------|-----------------------------------------------------------------------|
//! | 0       | the configuration, see [`options_for_tape`] (missing: all bits zero)  |
//! | 1..     | the [`Tape`]: byte `i` steers concern `i % 4` (faults, network, disk, workload) |
//!
//! Every input is a valid run: when a concern's bytes run out its stream goes on with its own
//! seeded generator, so an empty tape is the plain run of [`TAPE_RUN_SEED`] with those options.

use crate::options::{FaultOptions, PartitionMode, RunOptions};
use crate::random::{with_tape, Tape};
use crate::report::RunReport;
use crate::run::run_once;

/// The seed of every steered run: it seeds the streams once the tape is used up, and Raft's
/// election timeouts, which the tape does not steer.
pub const TAPE_RUN_SEED: u64 = 0;

/// Cluster sizes by the low three bits of the configuration byte: mostly three nodes, the
/// cheapest size with a real quorum.
const NODE_COUNTS: [u64; 8] = [3, 3, 3, 3, 5, 5, 5, 1];
/// Bit 3 turns PreVote off (Raft thesis §9.6).
const PRE_VOTE_OFF: u8 = 1 << 3;
/// Bit 4 turns CheckQuorum off (Raft thesis §6.2).
const CHECK_QUORUM_OFF: u8 = 1 << 4;
/// Bit 5 trades membership changes for disk corruption (the two stay apart, as when the target
/// was written and the fault atlas assumed a fixed membership, so that saved inputs replay as
/// they did). (Until raft
/// answered requests from an old term with its own, membership changes ran only with
/// CheckQuorum on: without it a removed leader that never learned of its removal could lead a
/// term of its own forever.)
const CORRUPTION_INSTEAD_OF_MEMBERSHIP: u8 = 1 << 5;
/// Bit 6 snapshots often and rotates WAL segments often.
const SMALL_SNAPSHOTS_AND_SEGMENTS: u8 = 1 << 6;
/// Bit 7 narrows replication: one small append in flight per follower, slow fsyncs.
const NARROW_REPLICATION: u8 = 1 << 7;

/// The options of a steered run whose configuration byte is `configuration`: a short fault
/// window with dense faults of every kind, a short liveness bound, and every check on.
pub fn options_for_tape(configuration: u8) -> RunOptions {
    let mut options = RunOptions::new(TAPE_RUN_SEED);
    options.liveness_bound_ms = 10_000;
    options.events_max = 500_000;
    options.store_audit_interval_entries = 1;

    let cluster = &mut options.cluster;
    cluster.node_count = NODE_COUNTS[usize::from(configuration & 0b111)];
    cluster.election_ticks = 10;
    cluster.heartbeat_ticks = 2;
    cluster.pre_vote = configuration & PRE_VOTE_OFF == 0;
    cluster.check_quorum = configuration & CHECK_QUORUM_OFF == 0;
    if configuration & SMALL_SNAPSHOTS_AND_SEGMENTS != 0 {
        cluster.snapshot_interval_entries = 8;
        cluster.snapshot_catch_up_entries = 2;
        cluster.wal_segment_size_bytes_limit = 1_024;
    }
    if configuration & NARROW_REPLICATION != 0 {
        cluster.inflight_messages_max = 1;
        cluster.message_size_bytes_max = 256;
        options.disk.sync_latency_ms_max = 5;
    }

    let corruption = configuration & CORRUPTION_INSTEAD_OF_MEMBERSHIP != 0;
    options.disk.corruption_probability = if corruption { 0.1 } else { 0.0 };
    options.faults = FaultOptions {
        fault_window_ms: 1_500,
        fault_interval_ms_mean: 100,
        node_crash_probability: 0.15,
        crash_mid_write_probability: 0.5,
        node_restart_delay_ms_mean: 200,
        node_pause_probability: 0.1,
        node_pause_duration_ms_mean: 150,
        clock_drift_ppm_max: 20_000,
        clock_drift_ppm_fixed: Vec::new(),
        partition_probability: 0.15,
        partition_duration_ms_mean: 300,
        partition_modes: PartitionMode::ALL.to_vec(),
        link_clog_probability: 0.15,
        link_clog_duration_ms_mean: 150,
        leader_transfer_probability: 0.1,
        forced_election_probability: 0.1,
        membership_change_probability: if corruption { 0.0 } else { 0.1 },
        // The fault kinds added later stay off here: each of their draws would take a tape
        // byte and move every later choice, and the committed inputs that found bugs would
        // no longer replay those runs. Swarm seeds draw them.
        ..FaultOptions::default()
    };

    let workload = &mut options.workload;
    workload.client_count = 3;
    workload.key_count = 3;
    workload.think_time_ms_mean = 20;
    // Clients close their sessions now and then, so that late copies of their commands meet
    // closed sessions (the tape's workload lane steers when).
    workload.session_close_probability = 0.05;
    options
}

/// A finished steered run.
#[derive(Clone, Debug)]
pub struct TapeRun {
    /// The run's report.
    pub report: RunReport,
    /// How many tape bytes the run read before it ended (the rest changed nothing).
    pub tape_bytes_read: usize,
}

/// Runs the cluster that `input` describes (see the module docs) and returns its report. The
/// same input always gives the same run.
pub fn run_tape(input: &[u8]) -> RunReport {
    run_tape_with(input, false).report
}

/// [`run_tape`], printing every event as it happens when `print_trace` (to diagnose an input
/// the fuzzer found), and saying how much of the tape the run read.
pub fn run_tape_with(input: &[u8], print_trace: bool) -> TapeRun {
    let (configuration, tape_bytes) = match input.split_first() {
        Some((&configuration, tape_bytes)) => (configuration, tape_bytes),
        None => (0, input),
    };
    let options = options_for_tape(configuration);
    let tape = Tape::new(tape_bytes);
    let (mut report, _) = with_tape(&tape, || run_once(&options, print_trace, false));
    report.reproduce = format!(
        "cd fuzz && cargo fuzz run -s none cluster_schedule <the input file> \
         (configuration byte {configuration:#04x}, {} tape bytes, {} of them read)",
        tape_bytes.len(),
        tape.consumed_bytes()
    );
    TapeRun {
        report,
        tape_bytes_read: tape.consumed_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn hash(input: &[u8]) -> u64 {
        run_tape(input).stats.trace_hash
    }

    /// `configuration` then `length` bytes of a fixed pseudo-random sequence.
    fn input(configuration: u8, length: usize, salt: u64) -> Vec<u8> {
        let mut bytes = vec![configuration];
        bytes.extend((0..length as u64).map(|i| crate::random::mix64(salt ^ i) as u8));
        bytes
    }

    #[test]
    fn the_same_tape_gives_the_same_run_and_different_tapes_differ() {
        let first = input(0, 400, 1);
        let second = input(0, 400, 2);
        let report = run_tape(&first);
        assert_eq!(report.verdict, Verdict::Pass, "{}", report.text(true));
        assert_eq!(report.stats.trace_hash, hash(&first));
        assert_ne!(report.stats.trace_hash, hash(&second));
        // One byte, late in the tape, is enough to change the schedule: the faults lane's 61st
        // (the run reads about 300 bytes in all, unevenly across the lanes, so the byte is one
        // of a lane the run certainly reads that far).
        let mut flipped = first.clone();
        flipped[1 + 4 * 60] ^= 0x80;
        assert_ne!(report.stats.trace_hash, hash(&flipped));
    }

    #[test]
    fn an_empty_tape_is_the_plain_run_of_the_seed() {
        for configuration in [0, 4, 7, CORRUPTION_INSTEAD_OF_MEMBERSHIP] {
            let steered = run_tape(&[configuration]);
            let (plain, _) = run_once(&options_for_tape(configuration), false, false);
            assert_eq!(steered.stats.trace_hash, plain.stats.trace_hash);
            assert_eq!(steered.stats.events, plain.stats.events);
        }
        assert_eq!(hash(&[]), hash(&[0]));
    }

    #[test]
    fn a_used_up_tape_falls_back_to_the_seed_streams_deterministically() {
        let short = input(0, 12, 3);
        let run = run_tape_with(&short, false);
        // Three bytes a lane: the faults, network and workload lanes run out at once, the disk
        // lane (read only when a crash meets unsynced writes) may not.
        assert!(run.tape_bytes_read >= 9, "{}", run.tape_bytes_read);
        assert_eq!(run.report.verdict, Verdict::Pass);
        assert_eq!(run.report.stats.trace_hash, hash(&short));
        assert_ne!(run.report.stats.trace_hash, hash(&[0]));
        // Bytes past what the run reads change nothing: with fewer than 10 000 bytes read in
        // all, no lane reaches its last 25 bytes.
        let long = input(0, 40_000, 3);
        let long_run = run_tape_with(&long, false);
        assert!(
            long_run.tape_bytes_read < 10_000,
            "{}",
            long_run.tape_bytes_read
        );
        let mut changed_tail = long.clone();
        for byte in &mut changed_tail[long.len() - 100..] {
            *byte ^= 0xff;
        }
        assert_eq!(hash(&changed_tail), long_run.report.stats.trace_hash);
    }

    #[test]
    fn high_bytes_hold_every_fault_back_and_zero_bytes_unleash_them() {
        let plain = run_tape(&[0]);
        let mut calm_input = vec![0];
        calm_input.extend_from_slice(&[0xff; 2_000]);
        let calm = run_tape(&calm_input);
        assert_eq!(calm.stats.faults.total(), 0, "{:?}", calm.stats.faults);
        let mut stormy_input = vec![0];
        stormy_input.extend_from_slice(&[0; 2_000]);
        let stormy = run_tape(&stormy_input);
        assert_eq!(stormy.verdict, Verdict::Pass, "{}", stormy.text(true));
        assert!(
            stormy.stats.faults.total() > 2 * plain.stats.faults.total(),
            "{:?} against {:?}",
            stormy.stats.faults,
            plain.stats.faults
        );
    }

    /// Found by the fuzzer (`fuzz/seeds/cluster_schedule/328786f4…`, minimised from
    /// `9176c2f3…`): node 2 is removed and shuts down; the leader is asked to add it back and
    /// it restarts on its old disk, whose configuration still counts it (its commit index,
    /// written lazily, stopped short of its removal). It wins an election with a node that
    /// restarted behind it, overwrites its own uncommitted addition, then commits and applies
    /// its old removal as leader. A removed leader accepts no proposal but keeps sending
    /// heartbeats, so the members never elected another leader and every client operation hung
    /// until the liveness bound. The world now shuts such a stranded leader down, as the server
    /// does when a node applies its own removal.
    #[test]
    fn a_node_added_back_that_leads_into_its_own_removal_shuts_down() {
        const INPUT: [u8; 26] = [
            0x01, 0xc7, 0x1d, 0x9f, 0xd4, 0xd3, 0x46, 0xfc, 0x48, 0x22, 0xc3, 0x70, 0x0f, 0xaa,
            0x9d, 0x49, 0x1d, 0x9f, 0xd4, 0xd3, 0x46, 0xfc, 0x48, 0xfd, 0x48, 0x22,
        ];
        let report = run_tape(&INPUT);
        assert_eq!(report.verdict, Verdict::Pass, "{}", report.text(true));
        // When found, node 2 was removed twice (as a follower, then as the stranded leader).
        // Since removed nodes wait for the others to know (kvapp::Node::may_leave) the same
        // bytes lead elsewhere; they still change membership and must still pass.
        assert!(report.stats.faults.membership_changes > 0);
    }

    /// Found by the fuzzer (`fuzz/seeds/cluster_schedule/4095c8d5…`): node 1 receives the
    /// leader's snapshot at 42 while its WAL segment is nearly full, and loses power inside the
    /// disk operations that follow. The install wrote its marker, then the entries and hard
    /// state in a second write that started a new segment; the crash kept the new segment but
    /// not the hard state, and recovery refused the undamaged disk ("snapshot marker at index
    /// 42 is above the final commit index 19 but not at the tail"). The WAL now writes the
    /// marker and the hard state in one write (`kvapp::wal::Wal::save_installed_snapshot`).
    #[test]
    fn a_snapshot_install_cut_short_by_a_crash_leaves_a_disk_that_opens() {
        let input = include_bytes!(
            "../../fuzz/seeds/cluster_schedule/4095c8d555912fa02fcc168c139fd3f76c9f9f36"
        );
        let report = run_tape(input);
        assert_eq!(report.verdict, Verdict::Pass, "{}", report.text(true));
        assert!(report.stats.raft_messages.snapshots_installed > 0);
        assert!(report.stats.faults.crashes_during_write > 0);
    }

    /// Found by the fuzzer (`fuzz/seeds/cluster_schedule/d2259f69…`): node 1 removes itself,
    /// node 2 alone in the new configuration elects itself for term 4 on a tick and dies
    /// inside the disk write of that `Ready`, so its vote for itself never reached the disk.
    /// Restarted in term 3, it votes for node 1 in term 4. The oracle had counted node 2's
    /// leadership from the step it died in and called node 1 a second leader of term 4; only a
    /// leader that lived through its step counts now. (The same input led to the WAL writing a
    /// new term and vote before the entries of that term.)
    #[test]
    fn a_leadership_won_in_the_step_that_crashed_does_not_count() {
        let input = include_bytes!(
            "../../fuzz/seeds/cluster_schedule/d2259f6961a927bff66b06428105d412500ab5c7"
        );
        let report = run_tape(input);
        assert_eq!(report.verdict, Verdict::Pass, "{}", report.text(true));
        assert!(report.stats.faults.crashes_during_write > 0);
        assert!(report.stats.faults.membership_changes > 0);
    }

    #[test]
    fn the_configuration_byte_sizes_the_cluster_and_picks_the_faults() {
        assert_eq!(options_for_tape(0).cluster.node_count, 3);
        assert_eq!(options_for_tape(4).cluster.node_count, 5);
        assert_eq!(options_for_tape(7).cluster.node_count, 1);
        for configuration in 0..=u8::MAX {
            let options = options_for_tape(configuration);
            let membership = options.faults.membership_change_probability > 0.0;
            let corruption = options.disk.corruption_probability > 0.0;
            assert!(membership != corruption, "{configuration:#04x}");
        }
        let plain = options_for_tape(0);
        assert!(plain.cluster.pre_vote && plain.cluster.check_quorum);
        assert_eq!(
            options_for_tape(0).faults.membership_change_probability,
            0.1
        );
        assert_eq!(
            options_for_tape(CHECK_QUORUM_OFF)
                .faults
                .membership_change_probability,
            0.1
        );
        assert_eq!(
            options_for_tape(CORRUPTION_INSTEAD_OF_MEMBERSHIP)
                .faults
                .membership_change_probability,
            0.0
        );
        let everything = options_for_tape(0xff);
        assert!(!everything.cluster.pre_vote && !everything.cluster.check_quorum);
        assert_eq!(everything.cluster.inflight_messages_max, 1);
        assert_eq!(everything.cluster.snapshot_interval_entries, 8);
    }
}
