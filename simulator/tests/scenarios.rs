//! Replays every scenario file in the top-level `scenarios/` and compares its outcome with the
//! insta snapshot of the same name in the top-level `snapshots/` (verdict, leaders per term,
//! final indexes, message and fault counts, trace hash). A behaviour change shows as a
//! snapshot diff to review (`cargo insta review`); a scenario whose verdict is not the one its
//! file expects fails whatever the snapshot says. Under `CI=true` a missing snapshot fails.

mod common;

use common::scenario_files;
use simulator::scenario::{replay, Scenario};

#[test]
fn every_scenario_replays_as_its_snapshot_and_expectation_say() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenario files found");
    let mut unexpected = Vec::new();
    for file in files {
        let stem = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        let text = std::fs::read_to_string(&file).expect("a readable scenario");
        let scenario =
            Scenario::parse(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert_eq!(
            scenario.name,
            stem,
            "{}: a scenario's name is its file's name",
            file.display()
        );
        let command = format!(
            "cargo run --release -p simulator --bin raftsim -- replay scenarios/{stem}.json"
        );
        let replayed = replay(&scenario, false, &command);
        if !replayed.outcome.matched {
            unexpected.push(format!(
                "{stem}: expected {}, got {}{}\n  reproduce with: {command}",
                replayed.outcome.expected,
                replayed.outcome.verdict,
                replayed
                    .outcome
                    .unmet
                    .iter()
                    .map(|line| format!("\n  requirement not met: {line}"))
                    .collect::<String>()
            ));
        }
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("scenarios/{stem}.json: {}", scenario.why),
        }, {
            insta::assert_json_snapshot!(stem.as_str(), replayed.outcome);
        });
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
