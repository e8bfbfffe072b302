//! Many seeds in parallel: rayon across seeds (never inside a run), a progress bar, and a
//! table of the failures.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::coverage::CoverageTable;
use crate::report::{Class, LinearizabilityOutcome};
use crate::run::{options_for, run_seed};

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    /// Seeds `start..end`.
    pub seeds: Range<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Only seeds with `seed % count == index`: `(index, count)`.
    pub shard: Option<(u64, u64)>,
    /// Draw each seed's options (swarm mode).
    pub swarm: bool,
    /// Settings applied to every seed.
    pub settings: Vec<String>,
    /// Run each seed twice and compare.
    pub check_determinism: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// One seed's result.
#[derive(Clone, Debug, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub class: Class,
    /// One line.
    pub summary: String,
    /// Nodes in its cluster.
    pub nodes: u64,
    /// Simulated milliseconds.
    pub simulated_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Reproduction command.
    pub reproduce: String,
    /// Why the linearizability checker gave up on the history, when it did: the run then
    /// passed without that check.
    pub history_inconclusive: Option<String>,
    /// The coverage points it reached (positions in [`crate::coverage::catalogue`]).
    #[serde(skip)]
    pub reached: Vec<u16>,
}

/// The sweep's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct SweepSummary {
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that failed, by seed.
    pub failures: Vec<SeedResult>,
    /// Seeds that passed although the linearizability checker gave up on their history (its
    /// step budget ran out), by seed: they were judged by every other check only.
    pub history_inconclusive: Vec<SeedResult>,
    /// Total simulated milliseconds.
    pub simulated_ms: u64,
    /// Total events.
    pub events: u64,
    /// Wall time of the sweep.
    pub wall_ms: u64,
    /// How many seeds reached each coverage point.
    pub coverage: CoverageTable,
}

impl SweepSummary {
    /// The worst class among the seeds.
    pub fn worst(&self) -> Class {
        self.failures
            .iter()
            .map(|failure| failure.class)
            .max()
            .unwrap_or(Class::Pass)
    }

    /// The exit code: the worst class's; with `allow_known_bugs`, known bugs alone pass.
    pub fn exit_code(&self, allow_known_bugs: bool) -> u8 {
        match self.worst() {
            Class::KnownBug if allow_known_bugs => 0,
            worst => worst.exit_code(),
        }
    }

    /// The table a person reads.
    pub fn text(&self) -> String {
        let known = self
            .failures
            .iter()
            .filter(|failure| failure.class == Class::KnownBug)
            .count();
        let mut out = format!(
            "{} seeds, {} failed ({known} of them on known bugs); simulated {:.0} s in {:.1} s wall, {} events\n",
            self.seeds_run,
            self.failures.len(),
            self.simulated_ms as f64 / 1000.0,
            self.wall_ms as f64 / 1000.0,
            self.events
        );
        out.push_str(&self.coverage.text());
        if !self.failures.is_empty() {
            out.push_str(&format!(
                "{:>8}  {:<17} {:>5}  {}\n",
                "seed", "class", "nodes", "what"
            ));
            for failure in &self.failures {
                let summary: String = failure.summary.chars().take(160).collect();
                out.push_str(&format!(
                    "{:>8}  {:<17} {:>5}  {}\n",
                    failure.seed,
                    failure.class.name(),
                    failure.nodes,
                    summary
                ));
            }
            out.push_str("reproduce with:\n");
            for failure in &self.failures {
                out.push_str(&format!("  {}\n", failure.reproduce));
            }
        }
        if !self.history_inconclusive.is_empty() {
            out.push_str(&format!(
                "{} passed seeds went without a linearizability verdict (the checker's budget ran \
                 out; raise it with --set checker_steps_max=N):\n",
                self.history_inconclusive.len()
            ));
            for seed in &self.history_inconclusive {
                out.push_str(&format!(
                    "{:>8}  {}\n          {}\n",
                    seed.seed,
                    seed.history_inconclusive.as_deref().unwrap_or_default(),
                    seed.reproduce
                ));
            }
        }
        out
    }
}

/// Runs the plan.
pub fn sweep(plan: &SweepPlan) -> Result<SweepSummary, String> {
    let seeds: Vec<u64> = plan
        .seeds
        .clone()
        .filter(|seed| {
            plan.shard
                .is_none_or(|(index, count)| seed % count == index)
        })
        .collect();
    // Fail early on bad settings rather than once per seed.
    options_for(0, plan.swarm, &plan.settings)?;
    let started = Instant::now();
    let bar = if plan.progress {
        let bar = ProgressBar::new(seeds.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg}")
                .map_err(|error| error.to_string())?
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let failed = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs.max(1))
        .build()
        .map_err(|error| error.to_string())?;
    let mut results: Vec<SeedResult> = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| {
                let options = options_for(seed, plan.swarm, &plan.settings)
                    .unwrap_or_else(|error| panic!("settings checked above: {error}"));
                let report = run_seed(&options, false, plan.check_determinism);
                let class = report.verdict.class();
                if class != Class::Pass {
                    let count = failed.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{count} failed"));
                }
                bar.inc(1);
                SeedResult {
                    seed,
                    class,
                    summary: report.verdict.summary(),
                    nodes: report.options.cluster.node_count,
                    simulated_ms: report.stats.simulated_ms,
                    events: report.stats.events,
                    reproduce: report.reproduce,
                    history_inconclusive: match report.stats.linearizability {
                        Some(LinearizabilityOutcome::Inconclusive(reason)) => Some(reason),
                        _ => None,
                    },
                    reached: report.stats.coverage.reached(),
                }
            })
            .collect()
    });
    bar.finish_and_clear();
    results.sort_by_key(|result| result.seed);
    let seeds_run = results.len() as u64;
    let simulated_ms = results.iter().map(|result| result.simulated_ms).sum();
    let events = results.iter().map(|result| result.events).sum();
    let mut coverage = CoverageTable::new();
    for result in &results {
        coverage.add_seed(&result.reached);
    }
    let (failures, passed): (Vec<SeedResult>, Vec<SeedResult>) = results
        .into_iter()
        .partition(|result| result.class != Class::Pass);
    let summary = SweepSummary {
        seeds_run,
        simulated_ms,
        events,
        wall_ms: started.elapsed().as_millis() as u64,
        coverage,
        failures,
        history_inconclusive: passed
            .into_iter()
            .filter(|result| result.history_inconclusive.is_some())
            .collect(),
    };
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(settings: &[&str]) -> SweepPlan {
        SweepPlan {
            seeds: 0..2,
            jobs: 1,
            shard: None,
            swarm: false,
            settings: settings.iter().map(|setting| setting.to_string()).collect(),
            check_determinism: false,
            progress: false,
        }
    }

    #[test]
    fn seeds_whose_history_went_unjudged_are_listed_apart_from_failures() {
        let starved = sweep(&plan(&[
            "faults.fault_window_ms=1000",
            "checker_steps_max=5",
        ]))
        .unwrap();
        assert!(starved.failures.is_empty(), "{}", starved.text());
        let seeds: Vec<u64> = starved
            .history_inconclusive
            .iter()
            .map(|result| result.seed)
            .collect();
        assert_eq!(seeds, vec![0, 1], "{}", starved.text());
        let text = starved.text();
        assert!(
            text.contains("2 passed seeds went without a linearizability verdict"),
            "{text}"
        );
        assert!(text.contains("StepBudget"), "{text}");
        assert!(
            text.contains("checker_steps_max=5"),
            "the reproduction: {text}"
        );

        let judged = sweep(&plan(&["faults.fault_window_ms=1000"])).unwrap();
        assert!(judged.failures.is_empty(), "{}", judged.text());
        assert!(judged.history_inconclusive.is_empty(), "{}", judged.text());
        assert!(!judged.text().contains("without a linearizability verdict"));
    }
}
