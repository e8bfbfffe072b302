//! `raftsim shrink` on a failure whose cause is known: a recorded random run (crashes,
//! partitions, clogs, the workload generator) into which two of three machines are destroyed.
//! Raft needs a healthy majority (§5.2), so the run fails liveness whatever raft does; every
//! fault and client operation the random run added is noise the shrinker must take out.

use std::time::Duration;

use simulator::report::Class;
use simulator::run::options_for;
use simulator::scenario::{record, replay, Expect, Scenario};
use simulator::schedule::{Action, Entry, NodeRef, OnNode};
use simulator::shrink::{shrink, Ending, ShrinkOptions, Shrunk, Target};

/// A passing random run, written down, with nodes 1 and 2 destroyed at 3000 ms.
fn failing_scenario() -> Scenario {
    let settings: Vec<String> = [
        "cluster.node_count=3",
        "faults.fault_window_ms=5000",
        "faults.partition_probability=0.3",
        "faults.node_crash_probability=0.3",
        "faults.link_clog_probability=0.3",
        "workload.client_count=2",
        "liveness_bound_ms=5000",
    ]
    .iter()
    .map(|setting| setting.to_string())
    .collect();
    let options = options_for(4, false, &settings).expect("valid settings");
    let (report, _, mut scenario) = record(&options, false, "the shrink test");
    assert_eq!(
        report.verdict.class(),
        Class::Pass,
        "{}",
        report.text(false)
    );
    let destroy = |node| Entry {
        at_ms: 3000,
        action: Action::Destroy(OnNode {
            node: NodeRef::Id(node),
        }),
    };
    let at = scenario
        .schedule
        .iter()
        .position(|entry| entry.at_ms > 3000)
        .unwrap_or(scenario.schedule.len());
    scenario.schedule.splice(at..at, [destroy(1), destroy(2)]);
    scenario.expect = Expect::Violation("liveness".to_string());
    scenario
}

fn shrunk(scenario: &Scenario, jobs: usize) -> Shrunk {
    let options = ShrinkOptions {
        time_limit: Some(Duration::from_secs(600)),
        jobs,
    };
    let shrunk = shrink(scenario, options).expect("the scenario fails");
    assert_eq!(
        shrunk.ending,
        Ending::FixedPoint,
        "the search should end long before its time limit"
    );
    shrunk
}

#[test]
fn a_destroyed_majority_shrinks_to_its_cause_and_the_same_way_every_time() {
    let scenario = failing_scenario();
    let original = replay(&scenario, false, "the shrink test");
    assert!(
        original.outcome.matched,
        "the noise run must fail liveness: {}",
        original.outcome.verdict
    );
    let noise = scenario
        .schedule
        .iter()
        .filter(|entry| !matches!(entry.action, Action::Destroy(_) | Action::Nothing(_)))
        .count();
    assert!(noise >= 8, "the random run injected too little: {noise}");

    let first = shrunk(&scenario, 1);
    eprintln!(
        "before: {}\nafter:  {}\n{} candidates, {} accepted",
        first.before.describe(),
        first.after.describe(),
        first.candidates_tried,
        first.candidates_accepted
    );
    let target = Target {
        class: Class::Liveness,
        detail: None,
    };
    assert_eq!(first.target, target);
    assert!(
        first.after.scheduled_events < first.before.scheduled_events,
        "{:?} -> {:?}",
        first.before,
        first.after
    );
    // What is left is the cause: destroyed machines and nothing else (with two nodes, one
    // destroyed machine already leaves no majority).
    let text = first.scenario.to_json();
    assert!(
        !first.scenario.schedule.is_empty()
            && first.scenario.schedule.len() <= 2
            && first
                .scenario
                .schedule
                .iter()
                .all(|entry| matches!(entry.action, Action::Destroy(_))),
        "{text}"
    );
    assert!(!first.scenario.workload.generator, "{text}");
    assert!(first.after.nodes <= 3, "{text}");

    // The file reads back and its replay is the failure it expects.
    let parsed = Scenario::parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    let replayed = replay(&parsed, false, "the shrink test");
    assert!(
        replayed.outcome.matched,
        "{}\n{text}",
        replayed.outcome.verdict
    );
    assert!(target.hit_by(&replayed.report.verdict));

    // Deterministic, and independent of the number of jobs.
    let second = shrunk(&scenario, 2);
    assert_eq!(second.scenario.to_json(), text);
    assert_eq!(second.after, first.after);
}
