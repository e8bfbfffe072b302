//! The `raftsim` command line: one module per subcommand.

pub mod bench;
pub mod check_history;
pub mod replay;
pub mod run;
pub mod shrink;
pub mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a command that failed to run (bad arguments, unreadable or malformed files).
/// Codes below it carry `check-history`'s verdict; `run` and `sweep` use the codes above it
/// (see [`crate::report::Class::exit_code`]): 4 safety violation, 5 liveness failure, 6 panic,
/// 7 nondeterminism, 8 a known (reported, unfixed) bug.
pub const EXIT_ERROR: u8 = 3;

/// Deterministic Raft cluster simulator and linearizability checker.
#[derive(Debug, Parser)]
#[command(name = "raftsim", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one seed and print its report. Exit code 0: pass, 4: safety violation, 5: liveness
    /// failure, 6: panic, 7: nondeterminism, 8: a known bug, 3: error.
    Run(run::Arguments),
    /// Replay a scenario file and print its report. Exit code 0: the outcome is the one the
    /// file expects; otherwise the verdict's code (a pass where a violation was expected: 1);
    /// 3: a bad file.
    Replay(replay::Arguments),
    /// Turn a failing run (a seed, or a scenario file) into a small scenario file that fails
    /// the same way. Exit code 0: written; 3: error (a passing run is one).
    Shrink(shrink::Arguments),
    /// Run many seeds in parallel and print a table of the failures; the exit code is the worst
    /// seed's (known bugs alone pass with --allow-known-bugs).
    Sweep(sweep::Arguments),
    /// Measure the simulator's speed on one core.
    Bench(bench::Arguments),
    /// Check an external history for linearizability. Exit code 0: linearizable, 1: illegal,
    /// 2: unknown (budget exhausted), 3: error.
    CheckHistory(check_history::Arguments),
}

/// Runs the parsed command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(arguments) => run::run(&arguments),
        Command::Replay(arguments) => replay::run(&arguments),
        Command::Shrink(arguments) => shrink::run(&arguments),
        Command::Sweep(arguments) => sweep::run(&arguments),
        Command::Bench(arguments) => bench::run(&arguments),
        Command::CheckHistory(arguments) => check_history::run(&arguments),
    }
}
