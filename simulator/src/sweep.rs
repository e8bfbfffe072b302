//! Many seeds in parallel: rayon across seeds (never inside a run), a progress bar, and a
//! table of the failures.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::report::Class;
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
}

/// The sweep's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct SweepSummary {
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that failed, by seed.
    pub failures: Vec<SeedResult>,
    /// Total simulated milliseconds.
    pub simulated_ms: u64,
    /// Total events.
    pub events: u64,
    /// Wall time of the sweep.
    pub wall_ms: u64,
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
                }
            })
            .collect()
    });
    bar.finish_and_clear();
    results.sort_by_key(|result| result.seed);
    let summary = SweepSummary {
        seeds_run: results.len() as u64,
        simulated_ms: results.iter().map(|result| result.simulated_ms).sum(),
        events: results.iter().map(|result| result.events).sum(),
        wall_ms: started.elapsed().as_millis() as u64,
        failures: results
            .into_iter()
            .filter(|result| result.class != Class::Pass)
            .collect(),
    };
    Ok(summary)
}
