//! Test-case reduction: a failing scenario made small while it keeps failing the same way.
//!
//! The shrinker is greedy. Each pass proposes candidates (the current scenario with something
//! taken away or made simpler) in a fixed order; each candidate is replayed, and the first one
//! in that order that still ends with the [`Target`] failure replaces the current scenario.
//! Passes repeat until none of them finds a candidate (a fixed point) or the time limit ends
//! the search. Removal of schedule entries is delta debugging (Zeller and Hildebrandt,
//! "Simplifying and Isolating Failure-Inducing Input", TSE 2002): chunks of half the schedule,
//! then quarters, down to single entries.
//!
//! Candidates are independent deterministic replays, so a batch of them runs in parallel; the
//! winner is still the first success in candidate order, so the result does not depend on the
//! number of jobs. Only the time limit can change the result: a search that reaches its fixed
//! point is a pure function of its input.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kvapp::store::Operation;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::history::History;
use crate::report::{Class, Verdict};
use crate::scenario::{replay, Scenario};
use crate::schedule::{Action, CompareAndSet, Delete, Entry, Get, Put};

/// The failure a candidate must keep: the verdict's class, and for a safety violation its
/// property, for a known bug its id, for a panic where it panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The verdict's class.
    pub class: Class,
    /// What within the class must stay the same, if anything.
    pub detail: Option<String>,
}

impl Target {
    /// The target a verdict sets; `None` for a pass and for nondeterminism (which a replay of
    /// one scenario cannot show).
    pub fn of(verdict: &Verdict) -> Option<Target> {
        let detail = match verdict {
            Verdict::Pass | Verdict::Nondeterminism(_) => return None,
            Verdict::SafetyViolation(violation) => Some(violation.property.name().to_string()),
            Verdict::LivenessFailure(_) => None,
            // A panic message starts with the world's context (time, node) and ends with the
            // source location; the location says which assertion fired.
            Verdict::Panic(message) => message.rfind(" at ").map(|at| message[at + 4..].into()),
            Verdict::KnownBug(id, _) => Some(id.clone()),
        };
        Some(Target {
            class: verdict.class(),
            detail,
        })
    }

    /// Whether `verdict` is this failure.
    pub fn hit_by(&self, verdict: &Verdict) -> bool {
        Target::of(verdict).as_ref() == Some(self)
    }

    /// For people: `known bug raft-removed-leader-deposed`.
    pub fn describe(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{} {detail}", self.class.name()),
            None => self.class.name().to_string(),
        }
    }

    /// Liveness verdicts come at the end of the liveness bound; a bound too short would turn
    /// "stuck for good" into "not done yet", so shrinking keeps it at least this long.
    fn liveness_bound_ms_min(&self) -> u64 {
        match self.class {
            Class::Liveness | Class::KnownBug => 10_000,
            Class::Pass | Class::Safety | Class::Panic | Class::Nondeterminism => 1_000,
        }
    }
}

/// How hard to try.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// Stop trying new candidates after this long (the result is then the best so far).
    pub time_limit: Option<Duration>,
    /// Candidates replayed at once.
    pub jobs: usize,
}

/// The measures the shrinker reports before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Schedule entries (faults and client operations).
    pub scheduled_events: usize,
    /// Client operations the run made, generated or scheduled.
    pub client_operations: u64,
    /// Clients.
    pub clients: u64,
    /// Nodes.
    pub nodes: u64,
    /// Simulated time of the replay.
    pub simulated_ms: u64,
    /// Events the world processed.
    pub world_events: u64,
}

impl Size {
    fn of(scenario: &Scenario, simulated_ms: u64, client_operations: u64, events: u64) -> Size {
        let options = scenario.run_options();
        Size {
            scheduled_events: scenario.schedule.len(),
            client_operations,
            clients: options.workload.client_count,
            nodes: options.cluster.node_count,
            simulated_ms,
            world_events: events,
        }
    }

    /// One line.
    pub fn describe(&self) -> String {
        format!(
            "{} scheduled events, {} client operations, {} clients, {} nodes, {:.1} s simulated, \
             {} world events",
            self.scheduled_events,
            self.client_operations,
            self.clients,
            self.nodes,
            self.simulated_ms as f64 / 1000.0,
            self.world_events
        )
    }
}

/// Why the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// No pass found a smaller candidate.
    FixedPoint,
    /// The time limit came first.
    TimeLimit,
}

/// The result of a search.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest scenario found; its `expect` is the target's verdict.
    pub scenario: Scenario,
    /// The failure kept.
    pub target: Target,
    /// The input's measures.
    pub before: Size,
    /// The result's measures.
    pub after: Size,
    /// The verdict of the result, one line.
    pub verdict: String,
    /// Candidates replayed.
    pub candidates_tried: u64,
    /// Candidates accepted.
    pub candidates_accepted: u64,
    /// Why the search ended.
    pub ending: Ending,
}

/// Why a scenario cannot be shrunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    /// Its replay passes: there is no failure to keep.
    Passes,
    /// Its replay reports nondeterminism, which one replay cannot show again.
    Nondeterministic(String),
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Passes => {
                formatter.write_str("the run passes: there is nothing to shrink")
            }
            ShrinkError::Nondeterministic(summary) => {
                write!(
                    formatter,
                    "{summary}: a replay cannot show nondeterminism again"
                )
            }
        }
    }
}

impl std::error::Error for ShrinkError {}

/// The search's state: the best scenario so far and the budget.
struct Search {
    current: Scenario,
    target: Target,
    options: ShrinkOptions,
    started: Instant,
    pool: rayon::ThreadPool,
    tried: u64,
    accepted: u64,
    timed_out: bool,
}

/// Shrinks `scenario` (which must fail) while its replay keeps the failure it has now.
pub fn shrink(scenario: &Scenario, options: ShrinkOptions) -> Result<Shrunk, ShrinkError> {
    let first = replay(scenario, false, "");
    let verdict = &first.report.verdict;
    let target = match verdict {
        Verdict::Nondeterminism(_) => {
            return Err(ShrinkError::Nondeterministic(verdict.summary()));
        }
        Verdict::Pass
        | Verdict::SafetyViolation(_)
        | Verdict::LivenessFailure(_)
        | Verdict::Panic(_)
        | Verdict::KnownBug(..) => Target::of(verdict).ok_or(ShrinkError::Passes)?,
    };
    let before = Size::of(
        scenario,
        first.report.stats.simulated_ms,
        first.report.stats.clients.invoked,
        first.report.stats.events,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .expect("a thread pool");
    let mut search = Search {
        current: scenario.clone(),
        target,
        options,
        started: Instant::now(),
        pool,
        tried: 0,
        accepted: 0,
        timed_out: false,
    };
    search.current.expect = crate::scenario::Expect::of(verdict);
    search.run();
    let last = replay(&search.current, false, "");
    assert!(
        search.target.hit_by(&last.report.verdict),
        "the accepted scenario no longer fails as {}: {}",
        search.target.describe(),
        last.report.verdict.summary()
    );
    search.current.expect = crate::scenario::Expect::of(&last.report.verdict);
    let after = Size::of(
        &search.current,
        last.report.stats.simulated_ms,
        last.report.stats.clients.invoked,
        last.report.stats.events,
    );
    Ok(Shrunk {
        scenario: search.current,
        target: search.target,
        before,
        after,
        verdict: last.report.verdict.summary(),
        candidates_tried: search.tried,
        candidates_accepted: search.accepted,
        ending: if search.timed_out {
            Ending::TimeLimit
        } else {
            Ending::FixedPoint
        },
    })
}

/// A pass: the candidates it proposes for a scenario, simplest first.
type Pass = fn(&Scenario, &Target) -> Vec<Scenario>;

/// The passes after schedule removal, in the order they run.
const PASSES: [Pass; 8] = [
    fewer_nodes,
    fewer_clients,
    shorter_fault_window,
    shorter_durations,
    simpler_entries,
    fewer_keys,
    simpler_options,
    smaller_generator,
];

impl Search {
    fn out_of_time(&mut self) -> bool {
        if let Some(limit) = self.options.time_limit {
            if self.started.elapsed() >= limit {
                self.timed_out = true;
            }
        }
        self.timed_out
    }

    /// Greedy passes until none changes anything.
    fn run(&mut self) {
        loop {
            // A shorter liveness bound first: every later replay is quicker for it.
            let mut changed = self.repeat(shorter_liveness_bound);
            changed |= self.explicit_workload();
            changed |= self.remove_entries();
            for pass in PASSES {
                changed |= self.repeat(pass);
            }
            if !changed || self.out_of_time() {
                return;
            }
        }
    }

    /// Runs `pass` until it finds nothing; whether it found anything.
    fn repeat(&mut self, pass: Pass) -> bool {
        let mut changed = false;
        while !self.out_of_time() {
            let candidates = pass(&self.current, &self.target);
            if !self.try_candidates(candidates) {
                break;
            }
            changed = true;
        }
        changed
    }

    /// The generator's operations as scheduled ones (see [`explicit_workload`]); tried again
    /// each round, since a smaller scenario may replay closer to the original.
    fn explicit_workload(&mut self) -> bool {
        if !self.current.workload.generator || self.out_of_time() {
            return false;
        }
        let history = replay(&self.current, false, "").history;
        let candidate = explicit_workload(&self.current, &history);
        self.try_candidates(vec![candidate])
    }

    /// Delta debugging over the schedule: whole `nothing` entries first, then chunks of
    /// halving size, down to single entries.
    fn remove_entries(&mut self) -> bool {
        let mut changed = false;
        if self.current.schedule.iter().any(is_nothing) {
            let mut candidate = self.current.clone();
            candidate.schedule.retain(|entry| !is_nothing(entry));
            changed |= self.try_candidates(vec![candidate]);
        }
        let mut chunk = self.current.schedule.len().div_ceil(2);
        while chunk >= 1 && !self.out_of_time() {
            let length = self.current.schedule.len();
            let candidates: Vec<Scenario> = (0..length)
                .step_by(chunk)
                .map(|start| {
                    let mut candidate = self.current.clone();
                    candidate.schedule.drain(start..(start + chunk).min(length));
                    candidate
                })
                .collect();
            if self.try_candidates(candidates) {
                changed = true;
                chunk = chunk.min(self.current.schedule.len());
            } else if chunk == 1 {
                break;
            } else {
                chunk = chunk.div_ceil(2);
            }
        }
        changed
    }

    /// Replays candidates in batches of `jobs` and adopts the first, in candidate order, that
    /// is a valid scenario and fails as the target. Returns whether one was adopted.
    fn try_candidates(&mut self, candidates: Vec<Scenario>) -> bool {
        let batch_size = self.options.jobs.max(1);
        for batch in candidates.chunks(batch_size) {
            if self.out_of_time() {
                return false;
            }
            let target = &self.target;
            let verdicts: Vec<bool> = self.pool.install(|| {
                batch
                    .par_iter()
                    .map(|candidate| still_fails(candidate, target))
                    .collect()
            });
            self.tried += batch.len() as u64;
            if let Some(position) = verdicts.iter().position(|&hit| hit) {
                self.current = batch[position].clone();
                self.accepted += 1;
                return true;
            }
        }
        false
    }
}

/// Whether `candidate` is a valid scenario that fails as `target`.
fn still_fails(candidate: &Scenario, target: &Target) -> bool {
    // The file's own checks (node ids in the cluster, times in the fault window, …) decide
    // validity, so that every accepted candidate can be written and read back.
    if Scenario::parse(&candidate.to_json()).is_err() {
        return false;
    }
    target.hit_by(&replay(candidate, false, "").report.verdict)
}

fn is_nothing(entry: &Entry) -> bool {
    matches!(entry.action, Action::Nothing(_))
}

/// The scenario with the workload generator off and the operations it made in `history`
/// scheduled instead, at the times they were invoked (those of the liveness phase are left to
/// the clients' final writes). The first node of each attempt and the retries are the clients'
/// own choice again, so the replay is close to the original, not identical: the shrinker
/// accepts it only if it still fails.
pub fn explicit_workload(scenario: &Scenario, history: &History) -> Scenario {
    let window_ms = scenario.run_options().faults.fault_window_ms;
    let operations = history
        .operations
        .iter()
        .filter(|operation| operation.invoke_ms < window_ms)
        .filter_map(|operation| {
            Some(Entry {
                at_ms: operation.invoke_ms,
                action: client_action(
                    operation.client,
                    &operation.operation,
                    operation.through_log,
                )?,
            })
        });
    let mut candidate = scenario.clone();
    candidate.schedule.extend(operations);
    // A stable sort keeps the faults before the operations of the same millisecond.
    candidate.schedule.sort_by_key(|entry| entry.at_ms);
    // The workload seed stays: the clients still draw their retries' nodes from it.
    candidate.workload.generator = false;
    candidate
}

/// The scenario action of a client operation; `None` for a close of sessions, which scenario
/// clients cannot send (nor do the simulated clients).
fn client_action(client: u64, operation: &Operation, through_log: bool) -> Option<Action> {
    Some(match operation.clone() {
        Operation::Put { key, value } => Action::Put(Put {
            client,
            key,
            value,
            node: None,
        }),
        Operation::Append { key, value } => Action::Append(Put {
            client,
            key,
            value,
            node: None,
        }),
        Operation::Get { key } => Action::Get(Get {
            client,
            key,
            through_log,
            node: None,
        }),
        Operation::Delete { key } => Action::Delete(Delete {
            client,
            key,
            node: None,
        }),
        Operation::CompareAndSet {
            key,
            expected,
            value,
        } => Action::Cas(CompareAndSet {
            client,
            key,
            expected,
            value,
            node: None,
        }),
        Operation::CloseSessions { .. } => return None,
    })
}

/// Sets `options.<path>` in the scenario's partial option tree.
fn set_option(scenario: &mut Scenario, path: &[&str], value: Value) {
    let mut place = &mut scenario.options;
    for part in &path[..path.len() - 1] {
        place = place
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("option groups are objects");
    }
    place.insert(path[path.len() - 1].to_string(), value);
}

/// Removes `options.<path>` (back to the default), and the group if it empties.
fn remove_option(scenario: &mut Scenario, path: &[String]) {
    fn remove(map: &mut Map<String, Value>, path: &[String]) {
        match path {
            [] => {}
            [last] => {
                map.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(Value::Object(inner)) = map.get_mut(first) {
                    remove(inner, rest);
                    if inner.is_empty() {
                        map.remove(first);
                    }
                }
            }
        }
    }
    remove(&mut scenario.options, path);
}

/// Every leaf of a partial option tree with its path.
fn option_leaves(map: &Map<String, Value>, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (name, value) in map {
        prefix.push(name.clone());
        match value {
            Value::Object(inner) => option_leaves(inner, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

fn option_value<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (last, groups) = path.split_last()?;
    let mut place = map;
    for group in groups {
        place = place.get(group)?.as_object()?;
    }
    place.get(last)
}

fn is_zero(value: &Value) -> bool {
    value.as_f64() == Some(0.0)
}

/// Every node id the schedule names.
fn named_nodes(scenario: &Scenario) -> BTreeSet<u64> {
    scenario
        .schedule
        .iter()
        .flat_map(|entry| entry.action.nodes())
        .filter_map(|(_, node)| node.id())
        .collect()
}

/// Smaller clusters, smallest first, that still hold every node the schedule names.
fn fewer_nodes(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let count = scenario.run_options().cluster.node_count;
    let lowest = named_nodes(scenario).last().copied().unwrap_or(1).max(1);
    (lowest..count)
        .map(|smaller| {
            let mut candidate = scenario.clone();
            set_option(&mut candidate, &["cluster", "node_count"], smaller.into());
            candidate
        })
        .collect()
}

/// With scheduled operations only: the clients that have operations, renumbered from 0.
fn fewer_clients(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    if scenario.workload.generator {
        return Vec::new();
    }
    let used: BTreeSet<u64> = scenario
        .schedule
        .iter()
        .filter_map(|entry| entry.action.client())
        .collect();
    let count = scenario.run_options().workload.client_count;
    let wanted = (used.len() as u64).max(1);
    let already_dense = used.iter().copied().eq(0..used.len() as u64);
    if wanted >= count && already_dense {
        return Vec::new();
    }
    let mut candidate = scenario.clone();
    for entry in &mut candidate.schedule {
        if let Some(client) = entry.action.client() {
            let renumbered = used.range(..client).count() as u64;
            set_client(&mut entry.action, renumbered);
        }
    }
    set_option(&mut candidate, &["workload", "client_count"], wanted.into());
    vec![candidate]
}

fn set_client(action: &mut Action, client: u64) {
    if let Some(fields) = action.operation_fields() {
        *fields.client = client;
    }
}

/// An earlier heal: the fault window ends just after the last entry, or at half its length.
fn shorter_fault_window(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let window = scenario.run_options().faults.fault_window_ms;
    let last = scenario.schedule.last().map_or(0, |entry| entry.at_ms);
    let mut windows = vec![last + 1];
    if window / 2 > last + 1 {
        windows.push(window / 2);
    }
    windows
        .into_iter()
        .filter(|&shorter| shorter < window)
        .map(|shorter| {
            let mut candidate = scenario.clone();
            set_option(
                &mut candidate,
                &["faults", "fault_window_ms"],
                shorter.into(),
            );
            candidate
        })
        .collect()
}

/// A liveness bound half as long, down to the target's floor.
fn shorter_liveness_bound(scenario: &Scenario, target: &Target) -> Vec<Scenario> {
    let floor = target.liveness_bound_ms_min();
    let shorter = (scenario.liveness_bound_ms / 2).max(floor);
    if shorter >= scenario.liveness_bound_ms {
        return Vec::new();
    }
    let mut candidate = scenario.clone();
    candidate.liveness_bound_ms = shorter;
    vec![candidate]
}

/// Each duration in the schedule halved (a partition, pause or clog that ends sooner, a crash
/// that restarts sooner); 10 ms is short enough.
fn shorter_durations(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let mut candidates = Vec::new();
    for index in 0..scenario.schedule.len() {
        let mut candidate = scenario.clone();
        let halved = match &mut candidate.schedule[index].action {
            Action::Crash(crash) => crash.restart_after_ms.as_mut().map(halve),
            Action::Pause(pause) => Some(halve(&mut pause.duration_ms)),
            Action::Partition(partition) => partition.duration_ms.as_mut().map(halve),
            Action::Clog(clog) => Some(halve(&mut clog.duration_ms)),
            Action::Nothing(_)
            | Action::Restart(_)
            | Action::Destroy(_)
            | Action::Heal(_)
            | Action::TearPendingWrites(_)
            | Action::Corrupt(_)
            | Action::AddNode(_)
            | Action::RemoveNode(_)
            | Action::ReplaceNode(_)
            | Action::ChangeMembership(_)
            | Action::TransferLeader(_)
            | Action::Campaign(_)
            | Action::Put(_)
            | Action::Append(_)
            | Action::Get(_)
            | Action::Delete(_)
            | Action::Cas(_) => None,
        };
        if halved == Some(true) {
            candidates.push(candidate);
        }
    }
    candidates
}

/// Halves a duration of at least 20 ms; whether it did.
fn halve(duration_ms: &mut u64) -> bool {
    if *duration_ms < 20 {
        return false;
    }
    *duration_ms /= 2;
    true
}

/// Entries made plainer: a crash at once instead of inside a disk operation, a partition
/// without the report's shape name, a bad sector as a bit flip, a client operation without a
/// chosen node.
fn simpler_entries(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let mut candidates = Vec::new();
    for index in 0..scenario.schedule.len() {
        let mut candidate = scenario.clone();
        let action = &mut candidate.schedule[index].action;
        let simpler = match action.operation_fields() {
            Some(fields) => fields.node.take().is_some(),
            None => match action {
                Action::Crash(crash) => crash.during_operation.take().is_some(),
                Action::Partition(partition) => partition.shape.take().is_some(),
                Action::Corrupt(corrupt) => std::mem::take(&mut corrupt.bad_sector),
                _ => false,
            },
        };
        if simpler {
            candidates.push(candidate);
        }
    }
    candidates
}

fn operation_key(action: &mut Action) -> Option<&mut String> {
    action.operation_fields().map(|fields| fields.key)
}

/// Scheduled operations on fewer keys: each key but the first used folded into the first.
fn fewer_keys(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let mut keys: Vec<String> = Vec::new();
    let mut schedule = scenario.schedule.clone();
    for entry in &mut schedule {
        if let Some(key) = operation_key(&mut entry.action) {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    let Some(first) = keys.first() else {
        return Vec::new();
    };
    keys[1..]
        .iter()
        .map(|folded| {
            let mut candidate = scenario.clone();
            for entry in &mut candidate.schedule {
                if let Some(key) = operation_key(&mut entry.action) {
                    if key == folded {
                        key.clone_from(first);
                    }
                }
            }
            candidate
        })
        .collect()
}

/// Options that the shrinker leaves to its own passes rather than back to their defaults
/// (the defaults are larger).
const COUNTED_OPTIONS: [&str; 3] = ["node_count", "client_count", "key_count"];

/// Options that [`simpler_options`] sets to zero.
const ZEROED_OPTIONS: [&str; 5] = [
    "packet_loss_probability",
    "packet_duplicate_probability",
    "sync_latency_ms_max",
    "clock_drift_ppm_max",
    "get_through_log_probability",
];

/// Each option the scenario sets, back to its default; then link loss and duplication, disk
/// sync latency and clock drift to zero.
fn simpler_options(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    let mut leaves = Vec::new();
    option_leaves(&scenario.options, &mut Vec::new(), &mut leaves);
    let mut candidates: Vec<Scenario> = leaves
        .iter()
        .filter(|path| {
            let name = path.last().map(String::as_str).unwrap_or_default();
            // The zeros this pass and the generator's pass set stay (reverting them would go
            // round in circles).
            let zeroed = (ZEROED_OPTIONS.contains(&name) || name.ends_with("_weight"))
                && option_value(&scenario.options, path).is_some_and(is_zero);
            !COUNTED_OPTIONS.contains(&name) && name != "fault_window_ms" && !zeroed
        })
        .map(|path| {
            let mut candidate = scenario.clone();
            remove_option(&mut candidate, path);
            candidate
        })
        .collect();
    let options = scenario.run_options();
    let zeroable: [(&[&str], bool); 5] = [
        (
            &["network", "packet_loss_probability"],
            options.network.packet_loss_probability > 0.0,
        ),
        (
            &["network", "packet_duplicate_probability"],
            options.network.packet_duplicate_probability > 0.0,
        ),
        (
            &["disk", "sync_latency_ms_max"],
            options.disk.sync_latency_ms_max > 0,
        ),
        (
            &["faults", "clock_drift_ppm_max"],
            options.faults.clock_drift_ppm_max > 0,
        ),
        (
            &["workload", "get_through_log_probability"],
            scenario.workload.generator && options.workload.get_through_log_probability > 0.0,
        ),
    ];
    for (path, nonzero) in zeroable {
        if nonzero {
            let mut candidate = scenario.clone();
            set_option(&mut candidate, path, 0.into());
            candidates.push(candidate);
        }
    }
    candidates
}

/// With the generator still on: fewer clients and keys, and kinds of operation left out.
fn smaller_generator(scenario: &Scenario, _: &Target) -> Vec<Scenario> {
    if !scenario.workload.generator {
        return Vec::new();
    }
    let workload = scenario.run_options().workload;
    let mut candidates = Vec::new();
    for (name, value) in [
        ("client_count", workload.client_count),
        ("key_count", workload.key_count),
    ] {
        let mut smaller = vec![1, value / 2, value.saturating_sub(1)];
        smaller.dedup();
        for fewer in smaller
            .into_iter()
            .filter(|&fewer| fewer >= 1 && fewer < value)
        {
            let mut candidate = scenario.clone();
            set_option(&mut candidate, &["workload", name], fewer.into());
            candidates.push(candidate);
        }
    }
    let weights = [
        ("get_weight", workload.get_weight),
        ("append_weight", workload.append_weight),
        ("delete_weight", workload.delete_weight),
        ("compare_and_set_weight", workload.compare_and_set_weight),
    ];
    for (name, weight) in weights {
        // Puts stay: the clients' final writes are puts anyway.
        if weight > 0 {
            let mut candidate = scenario.clone();
            set_option(&mut candidate, &["workload", name], 0.into());
            candidates.push(candidate);
        }
    }
    candidates
}
