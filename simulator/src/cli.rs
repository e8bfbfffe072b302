//! What the `raftsim` commands do; `src/bin/raftsim.rs` only parses arguments and calls these.
//! Each returns the process exit code: 0 pass, 3 safety violation, 4 liveness failure,
//! 5 panic, 6 nondeterminism (see [`crate::report::Class`]).

use std::ops::Range;

use anyhow::{anyhow, bail, Context};

use crate::run::{options_for, run_seed};
use crate::sweep::{sweep as run_sweep, SweepPlan};

/// `raftsim run`.
#[derive(Clone, Debug, Default)]
pub struct RunArguments {
    /// The seed.
    pub seed: u64,
    /// Draw the options from the seed.
    pub swarm: bool,
    /// `name=value` option settings.
    pub settings: Vec<String>,
    /// Print every event.
    pub trace: bool,
    /// Print the report as JSON.
    pub json: bool,
    /// Run twice and compare.
    pub check_determinism: bool,
    /// Leave the option listing out of the summary.
    pub brief: bool,
}

/// Runs one seed and prints its report.
pub fn run(arguments: &RunArguments) -> anyhow::Result<i32> {
    let options = options_for(arguments.seed, arguments.swarm, &arguments.settings)
        .map_err(|error| anyhow!(error))?;
    let report = run_seed(&options, arguments.trace, arguments.check_determinism);
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text(!arguments.brief));
    }
    Ok(report.verdict.class().exit_code())
}

/// `raftsim sweep`.
#[derive(Clone, Debug, Default)]
pub struct SweepArguments {
    /// `A..B`.
    pub seeds: String,
    /// Worker threads.
    pub jobs: usize,
    /// `I/N`.
    pub shard: Option<String>,
    /// Swarm mode.
    pub swarm: bool,
    /// `name=value` option settings.
    pub settings: Vec<String>,
    /// Run each seed twice and compare.
    pub check_determinism: bool,
    /// Print the summary as JSON.
    pub json: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Fail on known bugs too.
    pub strict: bool,
}

/// Parses `A..B` (B exclusive) or a single seed.
pub fn parse_seeds(text: &str) -> anyhow::Result<Range<u64>> {
    match text.split_once("..") {
        Some((start, end)) => {
            let start: u64 = start.trim().parse().context("the first seed")?;
            let end: u64 = end.trim().parse().context("the end seed")?;
            if end <= start {
                bail!("empty seed range {text}");
            }
            Ok(start..end)
        }
        None => {
            let seed: u64 = text.trim().parse().context("a seed or A..B")?;
            Ok(seed..seed + 1)
        }
    }
}

/// Parses `I/N` with `I < N`.
pub fn parse_shard(text: &str) -> anyhow::Result<(u64, u64)> {
    let (index, count) = text.split_once('/').context("a shard is I/N")?;
    let index: u64 = index.trim().parse().context("the shard index")?;
    let count: u64 = count.trim().parse().context("the shard count")?;
    if count == 0 || index >= count {
        bail!("shard {text}: need 0 <= I < N");
    }
    Ok((index, count))
}

/// Runs many seeds and prints the failures.
pub fn sweep(arguments: &SweepArguments) -> anyhow::Result<i32> {
    let plan = SweepPlan {
        seeds: parse_seeds(&arguments.seeds)?,
        jobs: arguments.jobs.max(1),
        shard: arguments.shard.as_deref().map(parse_shard).transpose()?,
        swarm: arguments.swarm,
        settings: arguments.settings.clone(),
        check_determinism: arguments.check_determinism,
        progress: !arguments.quiet && !arguments.json,
    };
    let summary = run_sweep(&plan).map_err(|error| anyhow!(error))?;
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.text());
    }
    Ok(summary.exit_code(arguments.strict))
}

/// `raftsim bench`: prints the simulator's speed figures.
pub fn bench(simulated_seconds: u64, swarm_seconds: u64, json: bool) -> anyhow::Result<i32> {
    let figures = crate::bench::run(simulated_seconds * 1000, swarm_seconds);
    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print!("{}", figures.text());
    }
    Ok(0)
}
