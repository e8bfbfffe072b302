//! `raftsim replay`: runs a scenario file, prints the report and whether the outcome is the
//! one the file expects.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::linearizability::html_picture;
use crate::scenario::{replay, Scenario};

#[derive(Debug, Args)]
pub struct Arguments {
    /// The scenario file.
    pub file: PathBuf,
    /// Print every event as it happens.
    #[arg(long)]
    pub trace: bool,
    /// Print the report as JSON (with the outcome a snapshot keeps).
    #[arg(long)]
    pub json: bool,
    /// Leave the option listing out of the report.
    #[arg(long)]
    pub brief: bool,
    /// Also write the linearizability checker's HTML picture of the client history to
    /// `DIR/<scenario name>.html`.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
}

/// Reads and checks a scenario file; the error names the file, the line and the field.
pub fn read_scenario(path: &Path) -> anyhow::Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Scenario::parse(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    let scenario = read_scenario(&arguments.file)?;
    let command = format!(
        "cargo run --release -p simulator --bin raftsim -- replay {}",
        arguments.file.display()
    );
    let replayed = replay(&scenario, arguments.trace, &command);
    if let Some(directory) = &arguments.html {
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
        let path = directory.join(format!("{}.html", scenario.name));
        let title = format!("raftsim scenario {}", scenario.name);
        let page = html_picture(
            &replayed.history,
            replayed.report.options.checker_steps_max,
            &title,
        );
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("picture written to {}", path.display());
    }
    let outcome = &replayed.outcome;
    if arguments.json {
        let both = serde_json::json!({ "report": replayed.report, "outcome": outcome });
        println!("{}", serde_json::to_string_pretty(&both)?);
    } else {
        println!("scenario {}: {}", scenario.name, scenario.why);
        print!("{}", replayed.report.text(!arguments.brief));
        println!(
            "expected {}: {}",
            outcome.expected,
            if outcome.matched {
                "matched"
            } else {
                "DID NOT MATCH"
            }
        );
        let figures: Vec<String> = replayed
            .figures
            .iter()
            .filter(|(_, &value)| value > 0)
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        println!("figures (nonzero): {}", figures.join(", "));
        for line in &outcome.unmet {
            println!("requirement not met: {line}");
        }
    }
    Ok(ExitCode::from(if outcome.matched {
        0
    } else {
        replayed.report.verdict.class().exit_code().max(1)
    }))
}
