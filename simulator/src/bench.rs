//! `raftsim bench`: the simulator's speed on one core, against the project's goals.
//!
//! 1. Steady load: 5 nodes, 10 ms ticks, no faults, a minute of simulated time; the ratio of
//!    simulated to wall time (goal at least 5000x).
//! 2. The same run's delivered messages per wall second, codec and every oracle included
//!    (goal at least 1,000,000).
//! 3. Short swarm seeds (2 s fault window, then the liveness phase and every check) per
//!    core-minute (goal at least 3000).
//!
//! The first two figures are tied by the load: simulated over wall time is messages per wall
//! second over messages per simulated second. So the report also gives the load (delivered
//! messages per simulated second, the same in every run) and the same cluster's speed with no
//! clients at all, where only ticks and heartbeats remain.
//!
//! Wall time on a shared machine is noisy, so the steady run can be repeated (the figures are
//! then the median and the best) and interleaved with another `raftsim` binary's runs, a
//! baseline measured in the same stretch of time: see [`Comparison`].

use std::time::Instant;

use serde::Serialize;

use crate::options::{FaultOptions, RunOptions};
use crate::report::{Class, Verdict};
use crate::run::{options_for, run_seed};
use crate::world::World;

/// One steady-load run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SteadyRun {
    /// Simulated time over wall time.
    pub speedup: f64,
    /// Delivered messages per wall second.
    pub messages_per_second: f64,
}

impl SteadyRun {
    /// Delivered messages per simulated second: the load, whatever the machine's speed.
    pub fn messages_per_simulated_second(&self) -> f64 {
        self.messages_per_second / self.speedup.max(f64::MIN_POSITIVE)
    }
}

/// The swarm part.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SwarmRun {
    /// Short swarm seeds per core-minute.
    pub seeds_per_core_minute: f64,
    /// Seeds that did not pass (known bugs included).
    pub failures: u64,
}

impl SwarmRun {
    /// Whether any seed ran (not with `--swarm-seconds 0`: a run of any length runs at least
    /// one seed, so only then is the rate zero).
    pub fn ran(&self) -> bool {
        self.seeds_per_core_minute > 0.0
    }
}

/// The three figures.
#[derive(Clone, Debug, Serialize)]
pub struct BenchFigures {
    /// Simulated time over wall time under steady load (the median of the runs).
    pub steady_speedup: f64,
    /// Delivered messages per wall second under steady load (the median of the runs).
    pub messages_per_second: f64,
    /// Short swarm seeds per core-minute.
    pub swarm_seeds_per_core_minute: f64,
    /// Seeds of the swarm part that did not pass (known bugs included).
    pub swarm_failures: u64,
    /// Delivered messages per simulated second under steady load.
    pub steady_messages_per_simulated_second: f64,
    /// Every steady-load run, in order.
    pub steady_runs: Vec<SteadyRun>,
    /// The same cluster with no clients, when it was run.
    pub idle: Option<SteadyRun>,
    /// The baseline binary's figures, when there was one.
    pub against: Option<Comparison>,
}

/// Another `raftsim` binary measured in turns with this one: its steady runs alternate with
/// ours (theirs first in each pair) and its swarm part follows ours, so that both see the same
/// machine load; the ratios are ours over theirs, pair by pair.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The baseline binary, as given.
    pub binary: String,
    /// Its steady runs, each paired with ours at the same position.
    pub steady_runs: Vec<SteadyRun>,
    /// Its swarm part.
    pub swarm: SwarmRun,
    /// The median over pairs of our speedup over theirs.
    pub speedup_ratio: f64,
    /// The median over pairs of our messages per second over theirs.
    pub messages_per_second_ratio: f64,
    /// Our swarm seeds per core-minute over theirs.
    pub swarm_ratio: f64,
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn best(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max)
}

impl BenchFigures {
    /// Puts the runs together: medians, and the pairwise ratios against `baseline`.
    pub fn new(
        steady_runs: Vec<SteadyRun>,
        idle: Option<SteadyRun>,
        swarm: SwarmRun,
        baseline: Option<(String, Vec<SteadyRun>, SwarmRun)>,
    ) -> BenchFigures {
        let speedups: Vec<f64> = steady_runs.iter().map(|run| run.speedup).collect();
        let rates: Vec<f64> = steady_runs
            .iter()
            .map(|run| run.messages_per_second)
            .collect();
        let against = baseline.map(|(binary, theirs, their_swarm)| {
            let pair_ratio = |of: fn(&SteadyRun) -> f64| {
                let ratios: Vec<f64> = steady_runs
                    .iter()
                    .zip(&theirs)
                    .map(|(ours, theirs)| of(ours) / of(theirs).max(f64::MIN_POSITIVE))
                    .collect();
                median(&ratios)
            };
            Comparison {
                speedup_ratio: pair_ratio(|run| run.speedup),
                messages_per_second_ratio: pair_ratio(|run| run.messages_per_second),
                swarm_ratio: swarm.seeds_per_core_minute
                    / their_swarm.seeds_per_core_minute.max(f64::MIN_POSITIVE),
                binary,
                steady_runs: theirs,
                swarm: their_swarm,
            }
        });
        BenchFigures {
            steady_speedup: median(&speedups),
            messages_per_second: median(&rates),
            steady_messages_per_simulated_second: steady_runs
                .first()
                .map_or(0.0, SteadyRun::messages_per_simulated_second),
            swarm_seeds_per_core_minute: swarm.seeds_per_core_minute,
            swarm_failures: swarm.failures,
            steady_runs,
            idle,
            against,
        }
    }

    /// The table a person reads.
    pub fn text(&self) -> String {
        let runs = self.steady_runs.len();
        let spread = |of: fn(&SteadyRun) -> f64, runs_of: &[SteadyRun], unit: &str| {
            if runs_of.len() > 1 {
                format!(
                    " (median of {}, best {:.0}{unit})",
                    runs_of.len(),
                    best(runs_of.iter().map(of))
                )
            } else {
                String::new()
            }
        };
        let swarm = SwarmRun {
            seeds_per_core_minute: self.swarm_seeds_per_core_minute,
            failures: self.swarm_failures,
        };
        let swarm_line = if swarm.ran() {
            format!(
                "{:>10.0}   (goal >= 3000; {} did not pass)",
                swarm.seeds_per_core_minute, swarm.failures
            )
        } else {
            format!("{:>10}   (--swarm-seconds 0)", "not run")
        };
        let mut text = format!(
            "steady load, 5 nodes, 10 ms ticks: {:>10.0}x simulated/wall{}   (goal >= 5000x)\n\
             delivered messages per second:     {:>10.0}{}   (goal >= 1000000)\n\
             short swarm seeds per core-minute: {swarm_line}\n",
            self.steady_speedup,
            spread(|run| run.speedup, &self.steady_runs, "x"),
            self.messages_per_second,
            spread(|run| run.messages_per_second, &self.steady_runs, ""),
        );
        text.push_str(&format!(
            "the steady load delivers {:.0} messages per simulated second, so {:.0}x would take \
             {:.1}M messages/s\n",
            self.steady_messages_per_simulated_second,
            GOAL_SPEEDUP,
            GOAL_SPEEDUP * self.steady_messages_per_simulated_second / 1e6,
        ));
        if let Some(idle) = &self.idle {
            text.push_str(&format!(
                "the same cluster with no clients:  {:>10.0}x simulated/wall, {:.0} messages per \
                 simulated second\n",
                idle.speedup,
                idle.messages_per_simulated_second(),
            ));
        }
        if let Some(against) = &self.against {
            let theirs = &against.steady_runs;
            let their_swarm = if swarm.ran() && against.swarm.ran() {
                format!(
                    "{:>10.0}   ratio {:.2}",
                    against.swarm.seeds_per_core_minute, against.swarm_ratio
                )
            } else {
                format!("{:>10}", "not run")
            };
            text.push_str(&format!(
                "against {} (its runs alternate with these; ratios are this build over it, \
                 the median over {runs} pairs):\n\
                 \x20 steady load:     {:>10.0}x{}   ratio {:.2}\n\
                 \x20 messages/s:      {:>10.0}{}   ratio {:.2}\n\
                 \x20 swarm seeds/min: {their_swarm}\n",
                against.binary,
                median(&theirs.iter().map(|run| run.speedup).collect::<Vec<_>>()),
                spread(|run| run.speedup, theirs, "x"),
                against.speedup_ratio,
                median(
                    &theirs
                        .iter()
                        .map(|run| run.messages_per_second)
                        .collect::<Vec<_>>()
                ),
                spread(|run| run.messages_per_second, theirs, ""),
                against.messages_per_second_ratio,
            ));
        }
        text
    }
}

/// The steady-load goal, simulated over wall time.
const GOAL_SPEEDUP: f64 = 5000.0;

/// The options of the steady-load run.
pub fn steady_options(simulated_ms: u64) -> RunOptions {
    let mut options = RunOptions::new(1);
    options.cluster.node_count = 5;
    options.cluster.tick_interval_ms = 10;
    options.faults = FaultOptions {
        fault_window_ms: simulated_ms,
        ..FaultOptions::none()
    };
    options.network.packet_loss_probability = 0.0;
    options.network.packet_duplicate_probability = 0.0;
    options
}

/// One steady-load run of `simulated_ms`.
pub fn run_steady(simulated_ms: u64) -> SteadyRun {
    run_timed(steady_options(simulated_ms))
}

/// The steady-load cluster for `simulated_ms` without clients: ticks, heartbeats and checks.
pub fn run_idle(simulated_ms: u64) -> SteadyRun {
    let mut options = steady_options(simulated_ms);
    options.workload.client_count = 0;
    run_timed(options)
}

fn run_timed(options: RunOptions) -> SteadyRun {
    let mut world = World::new(options, false, false);
    let started = Instant::now();
    let verdict = world.run();
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let report = world.report(verdict, String::new());
    assert!(
        report.verdict == Verdict::Pass,
        "the benchmark run failed: {}",
        report.verdict.summary()
    );
    SteadyRun {
        speedup: report.stats.simulated_ms as f64 / 1000.0 / wall,
        messages_per_second: report.stats.network.delivered as f64 / wall,
    }
}

/// Short swarm seeds, one after another, for `seconds` of wall time.
pub fn run_swarm(seconds: u64) -> SwarmRun {
    let started = Instant::now();
    let mut seeds = 0u64;
    let mut failures = 0u64;
    while started.elapsed().as_secs() < seconds {
        let options = options_for(seeds, true, &["faults.fault_window_ms=2000".to_string()])
            .expect("valid settings");
        if run_seed(&options, false, false).verdict.class() != Class::Pass {
            failures += 1;
        }
        seeds += 1;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    SwarmRun {
        seeds_per_core_minute: if minutes > 0.0 {
            seeds as f64 / minutes
        } else {
            0.0
        },
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(speedup: f64, messages_per_second: f64) -> SteadyRun {
        SteadyRun {
            speedup,
            messages_per_second,
        }
    }

    #[test]
    fn the_median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 10.0]), 3.5);
    }

    #[test]
    fn ratios_are_taken_pair_by_pair_then_the_median() {
        // Pairwise ratios 2, 0.5 and 3: median 2. The ratio of the medians would be
        // 200 / 100 = 2 too, so the messages figure tells the two apart: pairwise 1, 1, 4
        // (median 1) against medians 400 / 100 = 4.
        let ours = vec![
            steady(200.0, 100.0),
            steady(50.0, 400.0),
            steady(300.0, 800.0),
        ];
        let theirs = vec![
            steady(100.0, 100.0),
            steady(100.0, 400.0),
            steady(100.0, 200.0),
        ];
        let swarm = |seeds| SwarmRun {
            seeds_per_core_minute: seeds,
            failures: 0,
        };
        let figures = BenchFigures::new(
            ours,
            None,
            swarm(6000.0),
            Some(("old".to_string(), theirs, swarm(4000.0))),
        );
        assert_eq!(figures.steady_speedup, 200.0);
        assert_eq!(figures.messages_per_second, 400.0);
        let against = figures.against.as_ref().expect("a comparison");
        assert_eq!(against.speedup_ratio, 2.0);
        assert_eq!(against.messages_per_second_ratio, 1.0);
        assert_eq!(against.swarm_ratio, 1.5);
        let text = figures.text();
        assert!(text.contains("(median of 3, best 300x)"), "{text}");
        assert!(text.contains("against old"), "{text}");
        assert!(text.contains("ratio 2.00"), "{text}");
    }

    #[test]
    fn a_swarm_part_left_out_says_so_instead_of_a_zero() {
        let none = SwarmRun {
            seeds_per_core_minute: 0.0,
            failures: 0,
        };
        let figures = BenchFigures::new(
            vec![steady(300.0, 600_000.0)],
            None,
            none,
            Some(("old".to_string(), vec![steady(100.0, 600_000.0)], none)),
        );
        let text = figures.text();
        assert!(
            text.contains("short swarm seeds per core-minute:    not run   (--swarm-seconds 0)"),
            "{text}"
        );
        assert!(text.contains("swarm seeds/min:    not run\n"), "{text}");
        assert!(!text.contains("0.00"), "{text}");
        assert!(text.contains("ratio 3.00"), "{text}");
    }

    #[test]
    fn a_single_run_prints_no_spread() {
        let figures = BenchFigures::new(
            vec![steady(300.0, 600_000.0)],
            None,
            SwarmRun {
                seeds_per_core_minute: 5000.0,
                failures: 1,
            },
            None,
        );
        let text = figures.text();
        assert!(!text.contains("median of"), "{text}");
        assert!(text.contains("1 did not pass"), "{text}");
        assert!(!text.contains("no clients"), "{text}");
    }

    #[test]
    fn the_load_and_the_idle_cluster_are_reported_beside_the_goal() {
        // 400x at 800,000 messages/s: 2,000 messages per simulated second, so 5000x would
        // take 10M messages/s.
        let figures = BenchFigures::new(
            vec![steady(400.0, 800_000.0), steady(500.0, 1_000_000.0)],
            Some(steady(4000.0, 1_000_000.0)),
            SwarmRun {
                seeds_per_core_minute: 5000.0,
                failures: 0,
            },
            None,
        );
        assert_eq!(figures.steady_messages_per_simulated_second, 2000.0);
        let text = figures.text();
        assert!(
            text.contains("delivers 2000 messages per simulated second, so 5000x would take 10.0M"),
            "{text}"
        );
        assert!(text.contains("no clients:"), "{text}");
        assert!(
            text.contains("4000x simulated/wall, 250 messages"),
            "{text}"
        );
    }

    #[test]
    fn an_idle_cluster_runs_faster_than_the_loaded_one_and_passes() {
        // Five simulated seconds each: deterministic counts, whatever the machine's speed.
        let loaded = run_steady(5_000);
        let idle = run_idle(5_000);
        assert!(
            idle.messages_per_simulated_second() < loaded.messages_per_simulated_second() / 2.0,
            "idle {idle:?}, loaded {loaded:?}"
        );
        assert!(
            idle.messages_per_simulated_second() > 0.0,
            "heartbeats flow"
        );
    }
}
