//! `raftsim sweep`: many seeds in parallel, a progress bar and a table of the failures.

use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::coverage::Floors;
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
    /// Fail (exit 9) when fewer seeds than the file's floor reached a coverage point (the
    /// gate uses `simulator/coverage-floors.txt`).
    #[arg(long, value_name = "FILE")]
    pub coverage_floors: Option<PathBuf>,
    /// Write the floors this sweep sets (half the seeds that reached each point, rounded up)
    /// to FILE.
    #[arg(long, value_name = "FILE")]
    pub write_coverage_floors: Option<PathBuf>,
}

/// The exit code of a sweep that passed but explored less than the floors demand.
pub const EXIT_COVERAGE_BELOW_FLOOR: u8 = 9;

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
    let floors = match &arguments.coverage_floors {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            Some(
                Floors::parse(&text, &file.display().to_string())
                    .map_err(|error| anyhow!(error))?,
            )
        }
        None => None,
    };
    let summary = sweep(&plan).map_err(|error| anyhow!(error))?;
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.text());
    }
    if let Some(file) = &arguments.write_coverage_floors {
        let header = format!(
            "Coverage floors: the least number of seeds of the gate's sweep that must reach each\n\
             point (half of those that did when the file was written, rounded up). Written by\n\
             raftsim sweep --seeds {} {}--write-coverage-floors FILE; `make test` checks them.",
            arguments.seeds,
            if arguments.swarm { "--swarm " } else { "" }
        );
        std::fs::write(file, Floors::from_table(&summary.coverage).text(&header))
            .with_context(|| format!("writing {}", file.display()))?;
        eprintln!("wrote the coverage floors to {}", file.display());
    }
    let code = summary.exit_code(arguments.allow_known_bugs);
    if let Some(floors) = floors {
        let misses = floors.misses(&summary.coverage);
        if !misses.is_empty() {
            eprintln!(
                "{} coverage points were reached by fewer seeds than their floor in {}:",
                misses.len(),
                arguments
                    .coverage_floors
                    .as_ref()
                    .map_or(String::new(), |file| file.display().to_string())
            );
            for miss in &misses {
                eprintln!(
                    "  {}: {} seeds, floor {}",
                    miss.point, miss.seeds, miss.floor
                );
            }
            eprintln!(
                "a change stopped the sweep from exploring these; if that is intended, write \
                 the floors anew with --write-coverage-floors and say why in the commit"
            );
            if code == 0 {
                return Ok(ExitCode::from(EXIT_COVERAGE_BELOW_FLOOR));
            }
        }
    }
    Ok(ExitCode::from(code))
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
