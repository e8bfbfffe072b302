//! The simulator's own verdict on the code it runs, as mutation testing asks for it
//! (`make mutants`, see `mutants/README.md`): a swarm sweep of `RAFTSIM_MUTANT_SEEDS` seeds
//! (default 300) and every scenario file replayed against its expected outcome. It fails when
//! any seed fails any check or any scenario misses its expectation: with raft or kvapp mutated,
//! that is the simulator catching the mutant.
//!
//! Unlike `tests/scenarios.rs` it does not compare insta snapshots: a mutant that only changes
//! which events happen, without breaking anything, is not a bug the simulator should report.
//! The gate's own sweep (`make test`) covers the unmutated code, so `cargo test` skips it
//! (`--ignored` runs it).

mod common;

use rayon::prelude::*;
use simulator::report::{Class, LinearizabilityOutcome};
use simulator::run::{options_for, run_seed};
use simulator::scenario::{replay, Scenario};

fn seed_count() -> u64 {
    std::env::var("RAFTSIM_MUTANT_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(300)
}

#[test]
#[ignore = "mutation testing's simulator pass: make mutants"]
fn swarm_seeds_and_scenarios_pass_every_check() {
    let failures: Vec<String> = (0..seed_count())
        .into_par_iter()
        .filter_map(|seed| {
            let options = options_for(seed, true, &[]).expect("swarm options");
            let report = run_seed(&options, false, false);
            let inconclusive = matches!(
                report.stats.linearizability,
                Some(LinearizabilityOutcome::Inconclusive(_))
            );
            (report.verdict.class() != Class::Pass || inconclusive).then(|| {
                format!(
                    "seed {seed}: {}\n  {}",
                    report.verdict.summary(),
                    report.reproduce
                )
            })
        })
        .collect();
    let files = common::scenario_files();
    assert!(!files.is_empty(), "no scenario files found");
    let missed: Vec<String> = files
        .par_iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("a readable scenario");
            let scenario = Scenario::parse(&text).expect("a valid scenario");
            let replayed = replay(&scenario, false, "mutant sweep");
            (!replayed.outcome.matched).then(|| {
                format!(
                    "{}: expected {}, got {}",
                    scenario.name, replayed.outcome.expected, replayed.outcome.verdict
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty() && missed.is_empty(),
        "{} seeds failed, {} scenarios missed their expectation:\n{}\n{}",
        failures.len(),
        missed.len(),
        failures.join("\n"),
        missed.join("\n")
    );
}
