//! Runs one `cluster_schedule` fuzz input with its whole event trace, to see what the fuzzer
//! found: `cargo run --release -p simulator --example fuzz_input -- FILE`.
//! Exit code 0 when the run passes, 1 when it does not, 2 on a usage or read error.

use std::process::ExitCode;

use simulator::report::Verdict;

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let (Some(path), None) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: fuzz_input FILE (an input of the cluster_schedule fuzz target)");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("fuzz_input: cannot read {path}: {error}");
            return ExitCode::from(2);
        }
    };
    let run = simulator::fuzzing::run_tape_with(&bytes, true);
    println!("{}", run.report.text(true));
    println!(
        "tape bytes read: {} of {}",
        run.tape_bytes_read,
        bytes.len().saturating_sub(1)
    );
    if run.report.verdict == Verdict::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
