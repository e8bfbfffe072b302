//! Every history of `shared/porcupine/verdicts.tsv` gets its expected verdict.
//!
//! The data stays outside the repository: it is looked up at `$PORCUPINE_DIR`, or else at
//! `shared/porcupine` beside the checkout. Without it the test says so and passes.

use std::path::{Path, PathBuf};

use simulator::checker::kv::KvModel;
use simulator::checker::register::RegisterModel;
use simulator::checker::{
    check_with, jepsen, porcupine_kv, reader, Budget, CheckResult, Partitioning,
};

/// Generous enough that no history of the table comes near it.
const STEP_BUDGET: u64 = 50_000_000;

fn data_directory() -> Option<PathBuf> {
    let directory = match std::env::var_os("PORCUPINE_DIR") {
        Some(directory) => PathBuf::from(directory),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/porcupine"),
    };
    directory
        .join("verdicts.tsv")
        .is_file()
        .then_some(directory)
}

fn verdict(result: &CheckResult) -> &'static str {
    match result {
        CheckResult::Linearizable { .. } => "ok",
        CheckResult::Illegal { .. } => "illegal",
        CheckResult::Unknown { .. } => "unknown",
    }
}

fn check_file(
    directory: &Path,
    file: &str,
    model: &str,
    partitioning: Partitioning,
) -> CheckResult {
    let path = directory.join(file);
    let budget = Budget::steps(STEP_BUDGET);
    match model {
        "register" => {
            let history = reader::read_file(&path, jepsen::parse).unwrap();
            check_with(&history, &RegisterModel, budget, partitioning).result
        }
        "kv" => {
            let history = reader::read_file(&path, porcupine_kv::parse).unwrap();
            check_with(
                &history,
                &KvModel::missing_equals_empty(),
                budget,
                partitioning,
            )
            .result
        }
        other => panic!("verdicts.tsv names an unknown model {other:?} for {file}"),
    }
}

#[test]
fn every_history_gets_its_expected_verdict() {
    let Some(directory) = data_directory() else {
        println!(
            "skipped: no verdicts.tsv under $PORCUPINE_DIR or ../../shared/porcupine from {}; \
             set PORCUPINE_DIR to the porcupine data to run this test",
            env!("CARGO_MANIFEST_DIR")
        );
        return;
    };
    let table = std::fs::read_to_string(directory.join("verdicts.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in table.lines().skip(1).filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, _operations, expected, model] = fields[..] else {
            panic!("verdicts.tsv: malformed row {line:?}");
        };
        let mut partitionings = vec![Partitioning::PerPartition];
        if model == "kv" {
            partitionings.push(Partitioning::Whole);
        }
        for partitioning in partitionings {
            let result = check_file(&directory, file, model, partitioning);
            if verdict(&result) != expected {
                wrong.push(format!(
                    "{file} ({partitioning:?}): expected {expected}, got {result:?}"
                ));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    println!(
        "{checked} checks of {} gave their expected verdicts",
        directory.display()
    );
    assert!(checked > 0, "verdicts.tsv lists no history");
}
