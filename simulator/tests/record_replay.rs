//! `raftsim run --record` writes a random run as a scenario whose replay is the same run, event
//! for event: the same trace hash and verdict. The seeds cover crashes inside disk writes,
//! partitions of every kind of shape (groups and cut links), disk corruption and membership
//! changes.

use simulator::run::options_for;
use simulator::scenario::{record, replay, Scenario};
use std::collections::BTreeSet;

fn settings(list: &[&str]) -> Vec<String> {
    list.iter().map(|setting| setting.to_string()).collect()
}

#[test]
fn recorded_runs_replay_with_the_same_trace_hash() {
    let runs: [(u64, bool, &[&str]); 5] = [
        (12, true, &[]),
        (33, true, &[]),
        (8, true, &[]),
        (16, true, &[]),
        (
            1,
            false,
            &[
                "faults.membership_change_probability=0.3",
                "faults.fault_window_ms=3000",
                "cluster.node_count=3",
            ],
        ),
    ];
    let mut actions = BTreeSet::new();
    for (seed, swarm, extra) in runs {
        let options = options_for(seed, swarm, &settings(extra)).expect("valid settings");
        let (original, _, scenario) = record(&options, false, "the test");
        let text = scenario.to_json();
        let parsed = Scenario::parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(
            parsed, scenario,
            "seed {seed}: the file reads back as written"
        );
        let replayed = replay(&parsed, false, "the test");
        assert_eq!(
            replayed.report.stats.trace_hash, original.stats.trace_hash,
            "seed {seed} (swarm {swarm}): the replay parted from the run\n{text}"
        );
        assert_eq!(replayed.report.verdict, original.verdict, "seed {seed}");
        assert_eq!(
            replayed.report.stats.faults, original.stats.faults,
            "seed {seed}"
        );
        assert!(
            replayed.outcome.matched,
            "seed {seed}: {:?}",
            replayed.outcome
        );
        for entry in &scenario.schedule {
            actions.insert(entry.action.name());
            if let simulator::schedule::Action::Crash(crash) = &entry.action {
                if crash.during_operation.is_some() {
                    actions.insert("crash during a write");
                }
            }
        }
        if let Some(partition) = scenario
            .schedule
            .iter()
            .find_map(|entry| match &entry.action {
                simulator::schedule::Action::Partition(partition) if partition.cut.is_some() => {
                    Some(partition)
                }
                _ => None,
            })
        {
            assert!(partition.shape.is_some());
            actions.insert("partition by cut links");
        }
    }
    for wanted in [
        "crash",
        "crash during a write",
        "partition",
        "partition by cut links",
        "corrupt",
        "add_node",
        "remove_node",
        "nothing",
    ] {
        assert!(
            actions.contains(wanted),
            "no recorded run had {wanted}: {actions:?}"
        );
    }
}
