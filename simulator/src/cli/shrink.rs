//! `raftsim shrink`: a failing run (a seed with options, or a scenario file) made into a small
//! scenario file that fails the same way.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Args;

use super::replay::read_scenario;
use crate::run::{options_for, reproduce_command};
use crate::scenario::{record, Scenario};
use crate::shrink::{shrink, Ending, ShrinkOptions};

#[derive(Debug, Args)]
pub struct Arguments {
    /// The failing run's seed (as for `raftsim run`).
    #[arg(
        long,
        required_unless_present = "scenario",
        conflicts_with = "scenario"
    )]
    pub seed: Option<u64>,
    /// Draw the cluster, faults and workload from the seed (swarm mode).
    #[arg(long, requires = "seed")]
    pub swarm: bool,
    /// Set an option, e.g. `--set cluster.node_count=3` (names as in the report).
    #[arg(long = "set", value_name = "NAME=VALUE", requires = "seed")]
    pub settings: Vec<String>,
    /// Shrink this scenario file instead of a seed's run.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Where to write the shrunk scenario.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// The shrunk scenario's name (default: the output file's name without `.json`).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop looking for smaller candidates after this long and keep the smallest so far.
    #[arg(long, default_value_t = 60)]
    pub time_limit_seconds: u64,
    /// Candidates replayed in parallel (the result is the same for any number).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

impl Arguments {
    /// The command line that says what was shrunk (no output or budget flags).
    fn command(&self) -> String {
        let mut command = "raftsim shrink".to_string();
        if let Some(seed) = self.seed {
            command.push_str(&format!(" --seed {seed}"));
        }
        if self.swarm {
            command.push_str(" --swarm");
        }
        for setting in &self.settings {
            command.push_str(&format!(" --set '{setting}'"));
        }
        if let Some(path) = &self.scenario {
            command.push_str(&format!(" --scenario {}", path.display()));
        }
        command
    }

    /// The scenario to shrink and where it came from.
    fn input(&self) -> anyhow::Result<(Scenario, String)> {
        if let Some(path) = &self.scenario {
            return Ok((read_scenario(path)?, path.display().to_string()));
        }
        let seed = self.seed.expect("clap requires --seed without --scenario");
        let options =
            options_for(seed, self.swarm, &self.settings).map_err(|error| anyhow!(error))?;
        let command = reproduce_command(&options);
        eprintln!("recording the run: {command}");
        let (_, _, scenario) = record(&options, false, &command);
        Ok((scenario, format!("`{command}`")))
    }
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (input, source) = arguments.input()?;
    let options = ShrinkOptions {
        time_limit: Some(Duration::from_secs(arguments.time_limit_seconds)),
        jobs: arguments.jobs,
    };
    let shrunk = shrink(&input, options).map_err(|error| anyhow!("{source}: {error}"))?;
    let elapsed = started.elapsed();
    let mut scenario = shrunk.scenario;
    scenario.name = match &arguments.name {
        Some(name) => name.clone(),
        None => arguments
            .output
            .file_stem()
            .and_then(|stem| stem.to_str())
            .map(str::to_string)
            .context("the output file needs a name (or give --name)")?,
    };
    scenario.why = format!(
        "Shrunk by `{}` from {source}: {} scheduled events became {}, keeping the failure \
         ({}).",
        arguments.command(),
        shrunk.before.scheduled_events,
        shrunk.after.scheduled_events,
        shrunk.target.describe()
    );
    std::fs::write(&arguments.output, scenario.to_json())
        .with_context(|| format!("cannot write {}", arguments.output.display()))?;
    println!("kept      {}", shrunk.target.describe());
    println!("before    {}", shrunk.before.describe());
    println!("after     {}", shrunk.after.describe());
    println!(
        "search    {} candidates replayed, {} accepted, {:.1} s, {}",
        shrunk.candidates_tried,
        shrunk.candidates_accepted,
        elapsed.as_secs_f64(),
        match shrunk.ending {
            Ending::FixedPoint => "nothing smaller fails the same way".to_string(),
            Ending::TimeLimit => format!(
                "stopped by the time limit ({} s): the result may shrink further",
                arguments.time_limit_seconds
            ),
        }
    );
    println!("verdict   {}", shrunk.verdict);
    println!(
        "written   {} (replay with: raftsim replay {})",
        arguments.output.display(),
        arguments.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
