//! The `raftsim` command line: one module per subcommand.

pub mod check_history;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a command that failed to run (bad arguments, unreadable or malformed files).
/// Codes below it carry a verdict.
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
    /// Check an external history for linearizability. Exit code 0: linearizable, 1: illegal,
    /// 2: unknown (budget exhausted), 3: error.
    CheckHistory(check_history::Arguments),
}

/// Runs the parsed command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckHistory(arguments) => check_history::run(&arguments),
    }
}
