//! Lease-based reads (Raft thesis §6.4.1) are correct exactly while clock drift stays inside
//! the lease's margin: `scenarios/lease-read-beyond-drift-margin.json` shows the stale read
//! that a drift beyond it allows, and the same schedule with the drift inside the margin must
//! pass. Swarm seeds that draw lease reads keep their drift inside the margin, so the gate's
//! sweep judges lease reads under every other fault.

use std::path::Path;

use serde_json::{json, Value};
use simulator::options::ReadMode;
use simulator::oracles::Property;
use simulator::report::Verdict;
use simulator::run::{options_for, run_seed};
use simulator::scenario::{replay, Scenario};

fn lease_scenario() -> Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/lease-read-beyond-drift-margin.json");
    let text = std::fs::read_to_string(&file).expect("the lease scenario is readable");
    Scenario::parse(&text).expect("the lease scenario parses")
}

fn with_drifts(mut scenario: Scenario, drifts: [i64; 3]) -> Scenario {
    let faults = scenario
        .options
        .get_mut("faults")
        .and_then(Value::as_object_mut)
        .expect("the scenario sets faults");
    faults.insert("clock_drift_ppm_fixed".to_string(), json!(drifts));
    scenario
}

#[test]
fn beyond_the_drift_margin_a_lease_read_is_stale() {
    let scenario = lease_scenario();
    let replayed = replay(&scenario, false, "lease");
    assert!(replayed.outcome.matched, "{}", replayed.report.text(false));
    match &replayed.report.verdict {
        Verdict::SafetyViolation(violation) => {
            assert_eq!(
                violation.property,
                Property::LeaseReadUnbacked,
                "a read answered on a lease no follower backs any more: {violation}"
            );
            assert_eq!(violation.node, Some(1), "at the old leader: {violation}");
        }
        other => panic!("expected a stale read, got {other:?}"),
    }
}

#[test]
fn inside_the_drift_margin_the_same_schedule_passes() {
    let scenario = lease_scenario();
    let options = scenario.run_options();
    assert_eq!(options.cluster.read_mode, ReadMode::Lease);
    let margin = options.cluster.lease_drift_ppm_max() as i64;
    assert!(
        margin > 1_000,
        "a 20-tick election timeout leaves room: {margin}"
    );
    for drifts in [
        [-margin, margin, margin],
        [margin, -margin, -margin],
        [0, 0, 0],
    ] {
        let replayed = replay(&with_drifts(scenario.clone(), drifts), false, "lease");
        assert_eq!(
            replayed.report.verdict,
            Verdict::Pass,
            "drifts {drifts:?}: {}",
            replayed.report.text(false)
        );
        assert!(
            replayed.figures["reads.served_lease"] >= 1,
            "drifts {drifts:?}: the lease served reads"
        );
    }
}

#[test]
fn swarm_seeds_with_lease_reads_keep_their_drift_inside_the_margin() {
    let mut lease_seeds = 0;
    for seed in 0..400 {
        let options = options_for(seed, true, &[]).expect("swarm options");
        if options.cluster.read_mode != ReadMode::Lease {
            continue;
        }
        lease_seeds += 1;
        assert!(options.cluster.check_quorum, "seed {seed}");
        assert_eq!(
            options.faults.forced_election_probability, 0.0,
            "seed {seed}"
        );
        assert!(
            options.faults.clock_drift_ppm_max <= options.cluster.lease_drift_ppm_max(),
            "seed {seed}: drift {} beyond the margin {}",
            options.faults.clock_drift_ppm_max,
            options.cluster.lease_drift_ppm_max()
        );
    }
    assert!(
        lease_seeds >= 40,
        "only {lease_seeds} of 400 seeds read by lease"
    );
}

#[test]
fn lease_runs_under_every_fault_stay_linearizable() {
    // The swarm's own faults (crashes with quick restarts, pauses, partitions, clogs,
    // transfers) with lease reads forced on and drift inside the margin.
    let mut served = 0;
    for seed in 0..30 {
        let mut options = options_for(
            seed,
            true,
            &[
                "cluster.check_quorum=true".to_string(),
                "cluster.read_mode=\"Lease\"".to_string(),
                "faults.fault_window_ms=4000".to_string(),
                "faults.forced_election_probability=0".to_string(),
            ],
        )
        .expect("options");
        options.faults.clock_drift_ppm_max = options
            .faults
            .clock_drift_ppm_max
            .min(options.cluster.lease_drift_ppm_max());
        let report = run_seed(&options, false, false);
        assert_eq!(report.verdict, Verdict::Pass, "{}", report.text(false));
        served += report
            .stats
            .coverage
            .raft
            .get(raft::coverage::Point::ReadServedLease);
    }
    assert!(served > 100, "lease reads served: {served}");
}
