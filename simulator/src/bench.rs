//! `raftsim bench`: the simulator's speed on one core, against the project's goals.
//!
//! 1. Steady load: 5 nodes, 10 ms ticks, no faults, a minute of simulated time; the ratio of
//!    simulated to wall time (goal at least 5000x).
//! 2. The same run's delivered messages per wall second, codec and every oracle included
//!    (goal at least 1,000,000).
//! 3. Short swarm seeds (2 s fault window, then the liveness phase and every check) per
//!    core-minute (goal at least 3000).

use std::time::Instant;

use serde::Serialize;

use crate::options::{FaultOptions, RunOptions};
use crate::report::{Class, Verdict};
use crate::run::{options_for, run_seed};
use crate::world::World;

/// The three figures.
#[derive(Clone, Debug, Serialize)]
pub struct BenchFigures {
    /// Simulated time over wall time under steady load.
    pub steady_speedup: f64,
    /// Delivered messages per wall second under steady load.
    pub messages_per_second: f64,
    /// Short swarm seeds per core-minute.
    pub swarm_seeds_per_core_minute: f64,
    /// Seeds of the swarm part that did not pass (known bugs included).
    pub swarm_failures: u64,
}

impl BenchFigures {
    /// The table a person reads.
    pub fn text(&self) -> String {
        format!(
            "steady load, 5 nodes, 10 ms ticks: {:>10.0}x simulated/wall   (goal >= 5000x)\n\
             delivered messages per second:     {:>10.0}                  (goal >= 1000000)\n\
             short swarm seeds per core-minute: {:>10.0}                  (goal >= 3000; {} did not pass)\n",
            self.steady_speedup,
            self.messages_per_second,
            self.swarm_seeds_per_core_minute,
            self.swarm_failures
        )
    }
}

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

/// Runs the three measurements; `swarm_seconds` bounds the third.
pub fn run(simulated_ms: u64, swarm_seconds: u64) -> BenchFigures {
    let options = steady_options(simulated_ms);
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
    let steady_speedup = report.stats.simulated_ms as f64 / 1000.0 / wall;
    let messages_per_second = report.stats.network.delivered as f64 / wall;

    let started = Instant::now();
    let mut seeds = 0u64;
    let mut failures = 0u64;
    while started.elapsed().as_secs() < swarm_seconds {
        let options = options_for(seeds, true, &["faults.fault_window_ms=2000".to_string()])
            .expect("valid settings");
        if run_seed(&options, false, false).verdict.class() != Class::Pass {
            failures += 1;
        }
        seeds += 1;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    BenchFigures {
        steady_speedup,
        messages_per_second,
        swarm_seeds_per_core_minute: seeds as f64 / minutes,
        swarm_failures: failures,
    }
}
