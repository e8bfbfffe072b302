//! The simulator's own verdict on the code it runs, as mutation testing asks for it
//! (`make mutants`, see `mutants/README.md`): a swarm sweep of `RAFTSIM_MUTANT_SEEDS` seeds
//! (default 300) and every scenario file replayed against its expected outcome. It fails when
//! any seed fails any check, any scenario misses its expectation, or a coverage point is
//! reached by fewer seeds than its floor (`simulator/coverage-floors.txt`, scaled from the
//! gate's 500 seeds to these): with raft or kvapp mutated, that is the simulator catching the
//! mutant. The floors catch a mutant that silently turns a feature off (lease reads never
//! served, snapshots never sent), which no check can see fail.
//!
//! Unlike `tests/scenarios.rs` it does not compare insta snapshots: a mutant that only changes
//! which events happen, without breaking anything, is not a bug the simulator should report.
//! The gate's own sweep (`make test`) covers the unmutated code, so `cargo test` skips it
//! (`--ignored` runs it).

mod common;

use rayon::prelude::*;
use simulator::coverage::{CoverageTable, Floors};
use simulator::report::{Class, LinearizabilityOutcome};
use simulator::run::{options_for, run_seed};
use simulator::scenario::{replay, Scenario};

/// The seeds the floors in `coverage-floors.txt` are set for (the Makefile's `GATE_SEEDS`).
const GATE_SEEDS: u64 = 500;

/// The chance that a Poisson count of mean `mean` is at most `count`.
fn poisson_at_most(count: u64, mean: f64) -> f64 {
    let mut term = (-mean).exp();
    let mut total = term;
    for k in 1..=count {
        term *= mean / k as f64;
        total += term;
    }
    total
}

#[test]
fn the_floor_chance_is_a_poisson_tail() {
    assert!((poisson_at_most(0, 2.0) - (-2.0f64).exp()).abs() < 1e-12);
    assert!((poisson_at_most(1, 2.0) - 3.0 * (-2.0f64).exp()).abs() < 1e-12);
    // Half of a mean of 40 is rare; half of a mean of 4 is not.
    assert!(poisson_at_most(20, 40.0) < 0.001);
    assert!(poisson_at_most(2, 4.0) > 0.1);
}

fn seed_count() -> u64 {
    std::env::var("RAFTSIM_MUTANT_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(300)
}

#[test]
#[ignore = "mutation testing's simulator pass: make mutants"]
fn swarm_seeds_and_scenarios_pass_every_check() {
    let seeds = seed_count();
    let runs: Vec<(Option<String>, Vec<u16>)> = (0..seeds)
        .into_par_iter()
        .map(|seed| {
            let options = options_for(seed, true, &[]).expect("swarm options");
            let report = run_seed(&options, false, false);
            let inconclusive = matches!(
                report.stats.linearizability,
                Some(LinearizabilityOutcome::Inconclusive(_))
            );
            let failure = (report.verdict.class() != Class::Pass || inconclusive).then(|| {
                format!(
                    "seed {seed}: {}\n  {}",
                    report.verdict.summary(),
                    report.reproduce
                )
            });
            (failure, report.stats.coverage.reached())
        })
        .collect();
    let mut coverage = CoverageTable::new();
    for (_, reached) in &runs {
        coverage.add_seed(reached);
    }
    let mut failures: Vec<String> = runs
        .into_iter()
        .filter_map(|(failure, _)| failure)
        .collect();
    let floors_file = concat!(env!("CARGO_MANIFEST_DIR"), "/coverage-floors.txt");
    let text = std::fs::read_to_string(floors_file).expect("the coverage floors are readable");
    let floors = Floors::parse(&text, floors_file).expect("the coverage floors parse");
    for miss in floors.scaled(GATE_SEEDS, seeds).misses(&coverage) {
        // A floor is half of what the gate's seeds reached, so about twice the floor is what
        // these seeds reach. A mutant that only reshuffles which seeds reach a rare point may
        // cross its floor by chance; it counts as lost only when the unmutated code would
        // fall that low less than once in a thousand sweeps.
        let chance = poisson_at_most(miss.seeds, 2.0 * miss.floor as f64);
        if chance < 0.001 {
            failures.push(format!(
                "coverage point {} reached by {} seeds, below its floor of {} for {seeds} seeds \
                 (by chance: {chance:.1e})",
                miss.point, miss.seeds, miss.floor
            ));
        }
    }
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
