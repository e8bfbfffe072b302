//! `raftsim bench`: the simulator's speed on one core against the project's goals.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use clap::Args;

use crate::bench::{run_idle, run_steady, run_swarm, BenchFigures, SteadyRun, SwarmRun};

#[derive(Debug, Args)]
pub struct Arguments {
    /// Simulated seconds of the steady-load run.
    #[arg(long, default_value_t = 120)]
    pub simulated_seconds: u64,
    /// Simulated seconds of the same cluster with no clients (0: leave it out). It runs
    /// about ten times faster than the steady load, so it gets more simulated time for a
    /// comparable wall time.
    #[arg(long, default_value_t = 600)]
    pub idle_seconds: u64,
    /// Wall seconds spent on short swarm seeds.
    #[arg(long, default_value_t = 20)]
    pub swarm_seconds: u64,
    /// Run the steady load this many times; its figures are then the median (and the best).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,
    /// Another raftsim binary (an older build, say) to measure in turns with this one: each
    /// steady run of this build follows one of that binary, and its swarm part follows this
    /// one's. The report adds its figures and the ratios, pair by pair.
    #[arg(long, value_name = "RAFTSIM")]
    pub against: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let simulated_ms = arguments.simulated_seconds * 1000;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..arguments.repeat {
        if let Some(binary) = &arguments.against {
            theirs.push(their_steady_run(binary, arguments.simulated_seconds)?);
        }
        ours.push(run_steady(simulated_ms));
    }
    let idle = (arguments.idle_seconds > 0).then(|| run_idle(arguments.idle_seconds * 1000));
    let swarm = run_swarm(arguments.swarm_seconds);
    let baseline = match &arguments.against {
        Some(binary) => Some((
            binary.display().to_string(),
            theirs,
            their_swarm(binary, arguments.swarm_seconds)?,
        )),
        None => None,
    };
    let figures = BenchFigures::new(ours, idle, swarm, baseline);
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        print!("{}", figures.text());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `binary bench … --json` and returns its top-level figures, which every raftsim with a
/// `bench` command prints.
fn their_figures(
    binary: &Path,
    simulated_seconds: u64,
    swarm_seconds: u64,
) -> anyhow::Result<serde_json::Value> {
    let output = Command::new(binary)
        .args([
            "bench",
            "--simulated-seconds",
            &simulated_seconds.to_string(),
            "--swarm-seconds",
            &swarm_seconds.to_string(),
            "--json",
        ])
        .output()
        .with_context(|| format!("could not run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} bench failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{} bench --json printed something other than JSON",
            binary.display()
        )
    })
}

fn figure(value: &serde_json::Value, binary: &Path, name: &str) -> anyhow::Result<f64> {
    value[name].as_f64().with_context(|| {
        format!(
            "{} bench --json has no number `{name}`: is it a raftsim binary?",
            binary.display()
        )
    })
}

fn their_steady_run(binary: &Path, simulated_seconds: u64) -> anyhow::Result<SteadyRun> {
    let value = their_figures(binary, simulated_seconds, 0)?;
    Ok(SteadyRun {
        speedup: figure(&value, binary, "steady_speedup")?,
        messages_per_second: figure(&value, binary, "messages_per_second")?,
    })
}

fn their_swarm(binary: &Path, swarm_seconds: u64) -> anyhow::Result<SwarmRun> {
    // The shortest steady run there is, since only the swarm part is wanted.
    let value = their_figures(binary, 1, swarm_seconds)?;
    Ok(SwarmRun {
        seeds_per_core_minute: figure(&value, binary, "swarm_seeds_per_core_minute")?,
        failures: figure(&value, binary, "swarm_failures")? as u64,
    })
}
