//! Times the checker on every history of `shared/porcupine` on one thread and compares it with
//! porcupine's own times from `porcupine-timings.tsv`.
//!
//! `cargo bench -p simulator --bench checker [FILTER]`; FILTER keeps the rows whose file or model
//! contains it. The data is found like the verdict test finds it: `$PORCUPINE_DIR`, or else
//! `shared/porcupine` beside the checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use simulator::checker::kv::KvModel;
use simulator::checker::register::RegisterModel;
use simulator::checker::{
    check_with, jepsen, porcupine_kv, reader, Budget, CheckReport, Partitioning,
};

/// Runs per history; the median is reported, like porcupine's timings.
const RUNS_PER_HISTORY: usize = 5;
/// Histories slower than this are run once.
const SLOW_HISTORY: Duration = Duration::from_secs(1);
/// No history may take longer than this; past it the verdict is unknown.
const HISTORY_DEADLINE: Duration = Duration::from_secs(120);

/// Goals from issue 6.
const TOTAL_RATIO_GOAL: f64 = 0.5;
const UNPARTITIONED_C10_GOAL: Duration = Duration::from_millis(100);
const UNPARTITIONED_C50_GOAL: Duration = Duration::from_secs(10);

struct Row {
    file: String,
    model: String,
    /// Porcupine's single-threaded time, absent when it did not finish.
    porcupine_microseconds: Option<f64>,
}

fn data_directory() -> Option<PathBuf> {
    let directory = match std::env::var_os("PORCUPINE_DIR") {
        Some(directory) => PathBuf::from(directory),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/porcupine"),
    };
    directory
        .join("porcupine-timings.tsv")
        .is_file()
        .then_some(directory)
}

/// The timed rows, plus an unpartitioned row for every KV history porcupine could not finish.
fn rows(directory: &Path) -> Vec<Row> {
    let table = std::fs::read_to_string(directory.join("porcupine-timings.tsv"))
        .expect("read porcupine-timings.tsv");
    let mut rows: Vec<Row> = table
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Row {
                file: fields[0].to_string(),
                model: fields[1].to_string(),
                porcupine_microseconds: fields.get(2).and_then(|time| time.parse().ok()),
            }
        })
        .collect();
    let unpartitioned: Vec<String> = rows
        .iter()
        .filter(|row| row.model == "kv-unpartitioned")
        .map(|row| row.file.clone())
        .collect();
    let missing: Vec<String> = rows
        .iter()
        .filter(|row| row.model == "kv" && !unpartitioned.contains(&row.file))
        .map(|row| row.file.clone())
        .collect();
    rows.extend(missing.into_iter().map(|file| Row {
        file,
        model: "kv-unpartitioned".to_string(),
        porcupine_microseconds: None,
    }));
    rows
}

/// Parses the history (untimed), then checks it `RUNS_PER_HISTORY` times; returns the median.
fn time_row(directory: &Path, row: &Row) -> (Duration, CheckReport) {
    let path = directory.join(&row.file);
    let mut check: Box<dyn FnMut() -> CheckReport> = match row.model.as_str() {
        "register" => {
            let history = reader::read_file(&path, jepsen::parse).expect("parse history");
            Box::new(move || {
                check_with(
                    &history,
                    &RegisterModel,
                    budget(),
                    Partitioning::PerPartition,
                )
            })
        }
        "kv" | "kv-unpartitioned" => {
            let history = reader::read_file(&path, porcupine_kv::parse).expect("parse history");
            let partitioning = if row.model == "kv" {
                Partitioning::PerPartition
            } else {
                Partitioning::Whole
            };
            Box::new(move || {
                check_with(
                    &history,
                    &KvModel::missing_equals_empty(),
                    budget(),
                    partitioning,
                )
            })
        }
        other => panic!("unknown model {other:?} in porcupine-timings.tsv"),
    };
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..RUNS_PER_HISTORY {
        let start = Instant::now();
        let result = check();
        let elapsed = start.elapsed();
        times.push(elapsed);
        report = Some(result);
        if elapsed > SLOW_HISTORY {
            break;
        }
    }
    times.sort();
    (times[times.len() / 2], report.expect("at least one run"))
}

fn budget() -> Budget {
    Budget::unlimited().with_deadline(Instant::now() + HISTORY_DEADLINE)
}

fn verdict(report: &CheckReport) -> &'static str {
    match report.result {
        simulator::checker::CheckResult::Linearizable { .. } => "ok",
        simulator::checker::CheckResult::Illegal { .. } => "illegal",
        simulator::checker::CheckResult::Unknown { .. } => "unknown",
    }
}

fn main() {
    let filter: Option<String> = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'));
    let Some(directory) = data_directory() else {
        println!(
            "skipped: no porcupine-timings.tsv under $PORCUPINE_DIR or ../../shared/porcupine"
        );
        return;
    };
    println!(
        "{:<24} {:<17} {:>8} {:>10} {:>12} {:>12} {:>8}",
        "file", "model", "verdict", "steps", "ours_ms", "porcupine_ms", "ratio"
    );
    // Per model: our total and porcupine's, over rows where porcupine finished.
    let mut totals: BTreeMap<String, (Duration, f64)> = BTreeMap::new();
    let mut unpartitioned_goals_met = true;
    for row in rows(&directory) {
        if let Some(filter) = &filter {
            if !row.file.contains(filter.as_str()) && !row.model.contains(filter.as_str()) {
                continue;
            }
        }
        let (elapsed, report) = time_row(&directory, &row);
        let ours_ms = elapsed.as_secs_f64() * 1e3;
        let (porcupine_ms, ratio) = match row.porcupine_microseconds {
            Some(microseconds) => {
                let total = totals.entry(row.model.clone()).or_default();
                total.0 += elapsed;
                total.1 += microseconds;
                (
                    format!("{:.3}", microseconds / 1e3),
                    format!("{:.3}", ours_ms * 1e3 / microseconds),
                )
            }
            None => (">120000".to_string(), "-".to_string()),
        };
        println!(
            "{:<24} {:<17} {:>8} {:>10} {:>12.3} {:>12} {:>8}",
            row.file,
            row.model,
            verdict(&report),
            report.steps,
            ours_ms,
            porcupine_ms,
            ratio
        );
        if row.model == "kv-unpartitioned" {
            let goal = if row.file.contains("c10") {
                Some(UNPARTITIONED_C10_GOAL)
            } else if row.file.contains("c50") {
                Some(UNPARTITIONED_C50_GOAL)
            } else {
                None
            };
            if let Some(goal) = goal {
                unpartitioned_goals_met &= elapsed <= goal && verdict(&report) != "unknown";
            }
        }
    }
    println!();
    let mut ours_total = Duration::ZERO;
    let mut porcupine_total = 0.0;
    for (model, (ours, porcupine_microseconds)) in &totals {
        println!(
            "total {model:<17} ours {:>10.3} ms  porcupine {:>10.3} ms  ratio {:.3}",
            ours.as_secs_f64() * 1e3,
            porcupine_microseconds / 1e3,
            ours.as_secs_f64() * 1e6 / porcupine_microseconds
        );
        if model != "kv-unpartitioned" {
            ours_total += *ours;
            porcupine_total += porcupine_microseconds;
        }
    }
    if porcupine_total > 0.0 {
        let ratio = ours_total.as_secs_f64() * 1e6 / porcupine_total;
        println!(
            "total register+kv           ours {:>10.3} ms  porcupine {:>10.3} ms  ratio {:.3} (goal <= {TOTAL_RATIO_GOAL}: {})",
            ours_total.as_secs_f64() * 1e3,
            porcupine_total / 1e3,
            ratio,
            if ratio <= TOTAL_RATIO_GOAL { "met" } else { "missed" }
        );
    }
    println!(
        "unpartitioned goals (c10 <= {} ms, c50 <= {} s): {}",
        UNPARTITIONED_C10_GOAL.as_millis(),
        UNPARTITIONED_C50_GOAL.as_secs(),
        if unpartitioned_goals_met {
            "met"
        } else {
            "missed"
        }
    );
}
