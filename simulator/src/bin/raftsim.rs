//! The `raftsim` binary; see `simulator::cli`.

use std::process::ExitCode;

use clap::Parser;
use simulator::cli::{self, Cli};

// The simulator allocates and frees a buffer or two per simulated message; mimalloc does that
// in fewer instructions than the system allocator. Allocation addresses never reach a run's
// outcome (no map is keyed or ordered by address), so determinism is unaffected.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout and succeed; usage errors must not exit with clap's
            // code 2, which means "unknown" here.
            let code = if error.use_stderr() {
                cli::EXIT_ERROR
            } else {
                0
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
