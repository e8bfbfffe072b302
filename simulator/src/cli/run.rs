//! `raftsim run`: one seed, its report, and on failure the command that reproduces it.

use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Args;

use crate::linearizability::html_picture;
use crate::run::{options_for, run_seed_with_history};

#[derive(Debug, Args)]
pub struct Arguments {
    /// The run's seed.
    #[arg(long)]
    pub seed: u64,
    /// Draw the cluster, faults and workload from the seed (swarm mode).
    #[arg(long)]
    pub swarm: bool,
    /// Set an option, e.g. `--set cluster.node_count=3` (names as in the report).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// Print every event as it happens.
    #[arg(long)]
    pub trace: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the seed twice and name the first event where the runs differ.
    #[arg(long)]
    pub check_determinism: bool,
    /// Leave the option listing out of the report.
    #[arg(long)]
    pub brief: bool,
    /// Also write the linearizability checker's HTML picture of the client history.
    #[arg(long, value_name = "OUT")]
    pub html: Option<std::path::PathBuf>,
    /// Also write the run as a scenario file: every fault it injected, at its time, and its
    /// verdict as the expectation (`raftsim replay FILE` runs it again, event for event).
    #[arg(long, value_name = "FILE", conflicts_with = "check_determinism")]
    pub record: Option<std::path::PathBuf>,
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let options = options_for(arguments.seed, arguments.swarm, &arguments.settings)
        .map_err(|error| anyhow!(error))?;
    let (report, history) = match &arguments.record {
        Some(path) => {
            let command = crate::run::reproduce_command(&options);
            let (report, history, scenario) =
                crate::scenario::record(&options, arguments.trace, &command);
            std::fs::write(path, scenario.to_json())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("scenario written to {}", path.display());
            (report, history)
        }
        None => run_seed_with_history(&options, arguments.trace, arguments.check_determinism),
    };
    if let Some(path) = &arguments.html {
        let title = format!("raftsim seed {}", options.seed);
        let page = html_picture(&history, options.checker_steps_max, &title);
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("picture written to {}", path.display());
    }
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text(!arguments.brief));
    }
    Ok(ExitCode::from(report.verdict.class().exit_code()))
}
