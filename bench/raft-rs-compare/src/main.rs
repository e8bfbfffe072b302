//! Measures the propose → commit scenario on our `raft` and on raft-rs 0.7 in one process,
//! interleaved round by round so that both see the same machine noise, and prints a table of
//! ns per operation and the ratio ours / raft-rs.
//!
//! Usage: `cargo run --release [-- --rounds N --round-ms MS --warmup-ms MS --self-check]`;
//! `--self-check` measures raft-rs against itself, to show the noise floor of the ratio.

use std::time::{Duration, Instant};

use raft_rs_compare::{ours_side, raft_rs_side, Scenario};

struct Options {
    /// Measure raft-rs against itself: the ratio then shows the noise floor of the method.
    self_check: bool,
    rounds: usize,
    round: Duration,
    warmup: Duration,
}

fn parse_options() -> Options {
    let mut options = Options {
        self_check: false,
        rounds: 30,
        round: Duration::from_millis(100),
        warmup: Duration::from_millis(1000),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--self-check" => options.self_check = true,
            "--rounds" => options.rounds = value() as usize,
            "--round-ms" => options.round = Duration::from_millis(value()),
            "--warmup-ms" => options.warmup = Duration::from_millis(value()),
            // `cargo bench` passes `--bench` to a harness = false target; ignore such flags.
            _ if arg.starts_with("--") => {}
            _ => panic!("unknown argument {arg}"),
        }
    }
    assert!(options.rounds > 0, "--rounds must be positive");
    options
}

/// Runs `iters` operations and returns the time they took.
fn run<S: Scenario>(bench: &mut S, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        bench.propose_and_commit();
    }
    start.elapsed()
}

/// Warms `bench` up for about `warmup` and returns how many operations take about `round`.
fn calibrate<S: Scenario>(bench: &mut S, warmup: Duration, round: Duration) -> u64 {
    let start = Instant::now();
    let mut iters = 0u64;
    while start.elapsed() < warmup || iters < 100 {
        bench.propose_and_commit();
        iters += 1;
    }
    let per_op = start.elapsed().as_secs_f64() / iters as f64;
    ((round.as_secs_f64() / per_op) as u64).max(1)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Row {
    scenario: String,
    ours: f64,
    theirs: f64,
    ratio_of_rounds: f64,
    ours_min: f64,
    theirs_min: f64,
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn measure<Ours: Scenario, Theirs: Scenario>(voters: u64, options: &Options) -> Row {
    let mut ours = Ours::new(voters);
    let mut theirs = Theirs::new(voters);
    let ours_iters = calibrate(&mut ours, options.warmup, options.round);
    let theirs_iters = calibrate(&mut theirs, options.warmup, options.round);
    let mut ours_ns = Vec::with_capacity(options.rounds);
    let mut theirs_ns = Vec::with_capacity(options.rounds);
    let mut ratios = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        // Alternate which side goes first so neither always runs on a warmer (or hotter) core.
        let (a, b) = if round % 2 == 0 {
            let a = run(&mut ours, ours_iters);
            let b = run(&mut theirs, theirs_iters);
            (a, b)
        } else {
            let b = run(&mut theirs, theirs_iters);
            let a = run(&mut ours, ours_iters);
            (a, b)
        };
        let a = a.as_nanos() as f64 / ours_iters as f64;
        let b = b.as_nanos() as f64 / theirs_iters as f64;
        ours_ns.push(a);
        theirs_ns.push(b);
        ratios.push(a / b);
    }
    Row {
        scenario: format!("propose_commit/{voters}_voter"),
        ours_min: min(&ours_ns),
        theirs_min: min(&theirs_ns),
        ours: median(&mut ours_ns),
        theirs: median(&mut theirs_ns),
        ratio_of_rounds: median(&mut ratios),
    }
}

fn report<Ours: Scenario, Theirs: Scenario>(options: &Options) {
    println!(
        "{} vs {}: {} interleaved rounds of ~{} ms per side; medians, min in brackets",
        Ours::NAME,
        Theirs::NAME,
        options.rounds,
        options.round.as_millis()
    );
    let rows: Vec<Row> = [1, 3]
        .iter()
        .map(|&voters| measure::<Ours, Theirs>(voters, options))
        .collect();
    println!();
    println!(
        "| {:<24} | {:>20} | {:>20} | {:>18} |",
        "scenario",
        format!("{} ns/op", Ours::NAME),
        format!("{} ns/op", Theirs::NAME),
        format!("{} / {}", Ours::NAME, Theirs::NAME),
    );
    println!("|{:-<26}|{:->22}|{:->22}|{:->20}|", "", "", "", "");
    for row in &rows {
        println!(
            "| {:<24} | {:>20} | {:>20} | {:>18} |",
            row.scenario,
            format!("{:.0} ({:.0})", row.ours, row.ours_min),
            format!("{:.0} ({:.0})", row.theirs, row.theirs_min),
            format!("{:.3}", row.ratio_of_rounds),
        );
    }
    println!();
    println!("ratio = median over rounds of the two sides' ns/op measured back to back");
}

fn main() {
    let options = parse_options();
    if options.self_check {
        report::<raft_rs_side::Bench, raft_rs_side::Bench>(&options);
    } else {
        report::<ours_side::Bench, raft_rs_side::Bench>(&options);
    }
}
