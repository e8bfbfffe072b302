//! `raftsim check-history`: reads a Jepsen or porcupine history, checks it, prints the verdict
//! and optionally writes the picture.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::checker::kv::KvModel;
use crate::checker::register::RegisterModel;
use crate::checker::{
    check_with, html, jepsen, porcupine_kv, reader, Budget, CheckReport, CheckResult, History,
    Model, Partitioning,
};

/// Default search budget: far more than any history of the porcupine suite needs (the largest
/// takes about twenty thousand steps), small enough to end within minutes.
const DEFAULT_MAX_STEPS: u64 = 100_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// Jepsen's etcd register log: `INFO  jepsen.util - <process> <type> <f> <value>` lines.
    JepsenRegister,
    /// Porcupine's key-value log: `{:process P, :type T, :f F, :key "K", :value V}` lines.
    PorcupineKv,
}

#[derive(Debug, Args)]
pub struct Arguments {
    /// Format of FILE.
    #[arg(long, value_enum)]
    pub format: HistoryFormat,
    /// The history to check.
    pub file: PathBuf,
    /// Also write a self-contained HTML page picturing the history and the verdict.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Give up with verdict unknown after this many search steps (deterministic).
    #[arg(long, default_value_t = DEFAULT_MAX_STEPS)]
    pub max_steps: u64,
    /// Also give up after this many seconds of wall-clock time; the verdict then depends on the
    /// machine.
    #[arg(long)]
    pub timeout_seconds: Option<f64>,
    /// Search the whole history at once, with the whole state, instead of one partition at a
    /// time.
    #[arg(long)]
    pub whole: bool,
}

pub fn run(arguments: &Arguments) -> anyhow::Result<ExitCode> {
    match arguments.format {
        HistoryFormat::JepsenRegister => {
            let history = reader::read_file(&arguments.file, jepsen::parse)?;
            check_and_report(arguments, &history, &RegisterModel)
        }
        HistoryFormat::PorcupineKv => {
            let history = reader::read_file(&arguments.file, porcupine_kv::parse)?;
            check_and_report(arguments, &history, &KvModel::missing_equals_empty())
        }
    }
}

fn check_and_report<M: Model>(
    arguments: &Arguments,
    history: &History<M::Input, M::Output>,
    model: &M,
) -> anyhow::Result<ExitCode> {
    let mut budget = Budget::steps(arguments.max_steps);
    if let Some(seconds) = arguments.timeout_seconds {
        let timeout = Duration::try_from_secs_f64(seconds)
            .with_context(|| format!("--timeout-seconds {seconds} is not a duration"))?;
        budget = budget.with_deadline(Instant::now() + timeout);
    }
    let partitioning = if arguments.whole {
        Partitioning::Whole
    } else {
        Partitioning::PerPartition
    };
    let start = Instant::now();
    let report = check_with(history, model, budget, partitioning);
    let elapsed = start.elapsed();
    print_report(&arguments.file, history, model, &report, elapsed);
    if let Some(path) = &arguments.html {
        let title = format!("{}", arguments.file.display());
        let page = html::render(history, model, &report.result, &title);
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
        println!("picture written to {}", path.display());
    }
    Ok(ExitCode::from(exit_code(&report.result)))
}

/// 0 linearizable, 1 illegal, 2 unknown.
pub fn exit_code(result: &CheckResult) -> u8 {
    match result {
        CheckResult::Linearizable { .. } => 0,
        CheckResult::Illegal { .. } => 1,
        CheckResult::Unknown { .. } => 2,
    }
}

fn print_report<M: Model>(
    file: &Path,
    history: &History<M::Input, M::Output>,
    model: &M,
    report: &CheckReport,
    elapsed: Duration,
) {
    let effort = format!(
        "{} operations, {} steps, {:.3} ms",
        history.len(),
        report.steps,
        elapsed.as_secs_f64() * 1e3
    );
    let describe = |id: &crate::checker::OperationId| {
        let operation = &history.operations()[id.0];
        let return_time = operation
            .return_time
            .map_or("inf".to_string(), |time| time.to_string());
        format!(
            "  {id} {} [{} .. {return_time}] {}",
            operation.client,
            operation.invoke_time,
            model.describe_operation(&operation.input, operation.output())
        )
    };
    match &report.result {
        CheckResult::Linearizable { order } => {
            println!(
                "{}: linearizable ({effort}; {} operations took effect)",
                file.display(),
                order.len()
            );
        }
        CheckResult::Illegal { witness } => {
            let place = match &witness.partition {
                Some(key) => format!(" in partition {key:?}"),
                None => String::new(),
            };
            println!("{}: illegal{place} ({effort})", file.display());
            println!(
                "longest linearizable prefix ({} operations):",
                witness.prefix.len()
            );
            for id in &witness.prefix {
                println!("{}", describe(id));
            }
            println!("cannot follow it:");
            for id in &witness.cannot_follow {
                println!("{}", describe(id));
            }
        }
        CheckResult::Unknown { reason } => {
            println!(
                "{}: unknown, the check gave up: {reason:?} ({effort})",
                file.display()
            );
        }
    }
}
