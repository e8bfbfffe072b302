//! `raftsim bench`: the simulator's speed on one core against the project's goals.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct Arguments {
    /// Simulated seconds of the steady-load run.
    #[arg(long, default_value_t = 120)]
    pub simulated_seconds: u64,
    /// Wall seconds spent on short swarm seeds.
    #[arg(long, default_value_t = 20)]
    pub swarm_seconds: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let figures = crate::bench::run(arguments.simulated_seconds * 1000, arguments.swarm_seconds);
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print!("{}", figures.text());
    }
    Ok(ExitCode::SUCCESS)
}
