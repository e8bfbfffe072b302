//! Running one seed: the world inside `catch_unwind` (a panic in raft or kvapp is a finding,
//! reported with its message and the command that reproduces it), the determinism check that
//! runs a seed twice, and the reproduction command.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::determinism::{first_divergence, EventRecord};
use crate::history::History;
use crate::options::{settings_diff, RunOptions};
use crate::report::{RunReport, Verdict};
use crate::swarm;
use crate::world::World;

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that, while a run is capturing on this thread,
/// records the message and location instead of printing them.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let message = match info.payload().downcast_ref::<&str>() {
                    Some(text) => (*text).to_string(),
                    None => info
                        .payload()
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "a panic without a message".to_string()),
                };
                let location = info
                    .location()
                    .map(|location| format!(" at {}:{}", location.file(), location.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(format!("{message}{location}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `body`, turning a panic into its message.
pub fn capture_panics<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    CAPTURING.with(|capturing| capturing.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    CAPTURING.with(|capturing| capturing.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// The options of `seed`: drawn in swarm mode, the defaults otherwise, then `settings`.
pub fn options_for(seed: u64, swarm_mode: bool, settings: &[String]) -> Result<RunOptions, String> {
    let mut options = if swarm_mode {
        swarm::draw(seed)
    } else {
        RunOptions::new(seed)
    };
    crate::options::apply_settings(&mut options, settings)?;
    Ok(options)
}

/// The command line that reproduces a run of `options`.
pub fn reproduce_command(options: &RunOptions) -> String {
    let base = if options.swarm {
        swarm::draw(options.seed)
    } else {
        RunOptions::new(options.seed)
    };
    let mut command = format!(
        "cargo run --release -p simulator --bin raftsim -- run --seed {}",
        options.seed
    );
    if options.swarm {
        command.push_str(" --swarm");
    }
    for setting in settings_diff(&base, options) {
        command.push_str(&format!(" --set '{setting}'"));
    }
    command
}

/// Runs one seed once.
pub fn run_once(
    options: &RunOptions,
    print_trace: bool,
    record: bool,
) -> (RunReport, Vec<EventRecord>) {
    let (report, records, _) = run_once_with_history(options, print_trace, record);
    (report, records)
}

/// Runs one seed once and also returns its client history.
pub fn run_once_with_history(
    options: &RunOptions,
    print_trace: bool,
    record: bool,
) -> (RunReport, Vec<EventRecord>, History) {
    let mut world = World::new(options.clone(), print_trace, record);
    let report = run_world(&mut world, reproduce_command(options));
    let records = world.records().to_vec();
    (report, records, world.history().clone())
}

/// Runs `world` to its verdict (a panic in the code under test becomes one) and reports;
/// `reproduce` is the command line that runs it again.
pub fn run_world(world: &mut World, reproduce: String) -> RunReport {
    let verdict = match capture_panics(|| world.run()) {
        Ok(verdict) => verdict,
        Err(message) => {
            let message = format!("{}: {message}", world.panic_context());
            match crate::known_bugs::classify_panic(&message) {
                Some(bug) => Verdict::KnownBug(bug.id.to_string(), bug.detail),
                None => Verdict::Panic(message),
            }
        }
    };
    let mut report = world.report(verdict, reproduce);
    if matches!(report.verdict, Verdict::Panic(_) | Verdict::KnownBug(..)) {
        report.trace_tail = world.trace_tail();
        report.reproduce.push_str(" --trace");
    }
    report
}

/// Runs one seed, twice when `check_determinism`, in which case two runs that part make the
/// verdict [`Verdict::Nondeterminism`] naming the first event that differs.
pub fn run_seed(options: &RunOptions, print_trace: bool, check_determinism: bool) -> RunReport {
    run_seed_with_history(options, print_trace, check_determinism).0
}

/// [`run_seed`], also returning the (first run's) client history.
pub fn run_seed_with_history(
    options: &RunOptions,
    print_trace: bool,
    check_determinism: bool,
) -> (RunReport, History) {
    if !check_determinism {
        let (report, _, history) = run_once_with_history(options, print_trace, false);
        return (report, history);
    }
    let (mut first, first_records, history) = run_once_with_history(options, print_trace, true);
    let (second, second_records) = run_once(options, false, true);
    let divergence = first_divergence(&first_records, &second_records).or_else(|| {
        (first.verdict != second.verdict).then(|| crate::determinism::Divergence {
            first: first_records.last().copied(),
            second: second_records.last().copied(),
        })
    });
    if let Some(divergence) = divergence {
        first.verdict = Verdict::Nondeterminism(divergence);
        first.reproduce.push_str(" --check-determinism");
    }
    (first, history)
}
