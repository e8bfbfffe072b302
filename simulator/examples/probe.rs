use simulator::checker::kv::{KvInput, KvModel};
use simulator::checker::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let history = reader::read_file(std::path::Path::new(&args[1]), porcupine_kv::parse).unwrap();
    let mut keys: Vec<String> = history
        .operations()
        .iter()
        .map(|o| o.input.key().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let mut sub = History::new();
        for o in history.operations() {
            if o.input.key() == key {
                sub.push(o.clone()).unwrap();
            }
        }
        let appends = sub
            .operations()
            .iter()
            .filter(|o| matches!(o.input, KvInput::Append { .. }))
            .count();
        let start = Instant::now();
        let report = check_with(
            &sub,
            &KvModel::missing_equals_empty(),
            Budget::steps(5_000_000),
            Partitioning::PerPartition,
        );
        let verdict = match report.result {
            CheckResult::Linearizable { .. } => "ok",
            CheckResult::Illegal { .. } => "illegal",
            CheckResult::Unknown { .. } => "unknown",
        };
        println!(
            "key {key}: {} ops ({appends} appends) {verdict} steps {} in {:?}",
            sub.len(),
            report.steps,
            start.elapsed()
        );
    }
}
