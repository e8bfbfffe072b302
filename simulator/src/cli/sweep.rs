//! `raftsim sweep`: many seeds in parallel, a progress bar and a table of the failures.

use std::ops::Range;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::sweep::{sweep, SweepPlan};

#[derive(Debug, Args)]
pub struct Arguments {
    /// Seeds `A..B` (B excluded), or one seed.
    #[arg(long)]
    pub seeds: String,
    /// Worker threads (seeds run in parallel; a run never is).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Only this shard of the seeds, `I/N`: the seeds with seed % N == I.
    #[arg(long)]
    pub shard: Option<String>,
    /// Draw each seed's options (swarm mode).
    #[arg(long)]
    pub swarm: bool,
    /// Set an option for every seed, e.g. `--set cluster.node_count=3`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// Run each seed twice and compare.
    #[arg(long)]
    pub check_determinism: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Exit zero when the only failures are known (reported, unfixed) bugs; they are still
    /// listed.
    #[arg(long)]
    pub allow_known_bugs: bool,
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

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let plan = SweepPlan {
        seeds: parse_seeds(&arguments.seeds)?,
        jobs: arguments.jobs.max(1),
        shard: arguments.shard.as_deref().map(parse_shard).transpose()?,
        swarm: arguments.swarm,
        settings: arguments.settings.clone(),
        check_determinism: arguments.check_determinism,
        progress: !arguments.quiet && !arguments.json,
    };
    let summary = sweep(&plan).map_err(|error| anyhow!(error))?;
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.text());
    }
    Ok(ExitCode::from(
        summary.exit_code(arguments.allow_known_bugs),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards_parse() {
        assert_eq!(parse_seeds("3..7").unwrap(), 3..7);
        assert_eq!(parse_seeds("5").unwrap(), 5..6);
        assert!(parse_seeds("7..3").is_err());
        assert_eq!(parse_shard("1/4").unwrap(), (1, 4));
        assert!(parse_shard("4/4").is_err());
    }
}
