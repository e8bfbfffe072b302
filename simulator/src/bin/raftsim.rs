//! `raftsim`: the deterministic Raft cluster simulator. Argument parsing only; the commands
//! live in `simulator::cli`.

use clap::{Args, Parser, Subcommand};
use simulator::cli;

#[derive(Parser, Debug)]
#[command(
    name = "raftsim",
    version,
    about = "Deterministic simulation testing of the raft and kvapp crates"
)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one seed and print its report. Exit codes: 0 pass, 3 safety violation, 4 liveness
    /// failure, 5 panic, 6 nondeterminism, 7 a known (reported) bug.
    Run(RunCommand),
    /// Run many seeds in parallel and print a table of the failures.
    Sweep(SweepCommand),
    /// Measure the simulator's speed on one core.
    Bench(BenchCommand),
}

#[derive(Args, Debug)]
struct BenchCommand {
    /// Simulated seconds of the steady-load run.
    #[arg(long, default_value_t = 120)]
    simulated_seconds: u64,
    /// Wall seconds spent on short swarm seeds.
    #[arg(long, default_value_t = 20)]
    swarm_seconds: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RunCommand {
    /// The run's seed.
    #[arg(long)]
    seed: u64,
    /// Draw the cluster, faults and workload from the seed.
    #[arg(long)]
    swarm: bool,
    /// Set an option, e.g. `--set cluster.node_count=3` (names as in the report).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Print every event as it happens.
    #[arg(long)]
    trace: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Run the seed twice and name the first event where the runs differ.
    #[arg(long)]
    check_determinism: bool,
    /// Leave the option listing out of the report.
    #[arg(long)]
    brief: bool,
}

#[derive(Args, Debug)]
struct SweepCommand {
    /// Seeds `A..B` (B excluded).
    #[arg(long)]
    seeds: String,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Only this shard of the seeds, `I/N` (seed % N == I).
    #[arg(long)]
    shard: Option<String>,
    /// Draw each seed's options (swarm mode).
    #[arg(long)]
    swarm: bool,
    /// Set an option for every seed.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Run each seed twice and compare.
    #[arg(long)]
    check_determinism: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Exit non-zero on seeds that hit a known (reported, unfixed) bug too.
    #[arg(long)]
    strict: bool,
}

fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let code = match arguments.command {
        Command::Run(command) => cli::run(&cli::RunArguments {
            seed: command.seed,
            swarm: command.swarm,
            settings: command.settings,
            trace: command.trace,
            json: command.json,
            check_determinism: command.check_determinism,
            brief: command.brief,
        })?,
        Command::Sweep(command) => cli::sweep(&cli::SweepArguments {
            seeds: command.seeds,
            jobs: command.jobs,
            shard: command.shard,
            swarm: command.swarm,
            settings: command.settings,
            check_determinism: command.check_determinism,
            json: command.json,
            quiet: command.quiet,
            strict: command.strict,
        })?,
        Command::Bench(command) => cli::bench(
            command.simulated_seconds,
            command.swarm_seconds,
            command.json,
        )?,
    };
    std::process::exit(code);
}
