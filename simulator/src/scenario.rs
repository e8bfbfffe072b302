//! Scenario files: a run written down (seed, options, an explicit schedule of faults and client
//! operations or the random injector, the workload, the liveness bound and the expected
//! outcome), versioned JSON documented in `scenarios/README.md`. `raftsim replay` runs one,
//! `raftsim run --record` writes one, and `cargo test` replays every file in `scenarios/`.
//!
//! A bad file is an error naming the field by its path (`schedule[3].crash.node`) and its
//! line: serde reports the line of a malformed or mistyped value, and the checks after parsing
//! find the line of the field they name with `line_of`.

use std::collections::BTreeMap;
use std::fmt;

use raft::{Index, NodeId, Term};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::faults::FaultStats;
use crate::history::{History, HistoryCounts};
use crate::options::RunOptions;
use crate::oracles::Property;
use crate::report::{RaftMessageCounts, RunReport, Verdict};
use crate::run::run_world;
use crate::schedule::{self, Action, Entry, FaultPlan, NodeRef, Plan};
use crate::world::{NodeEnd, World};

/// The version this simulator reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Where the faults come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultSource {
    /// Only the `schedule`.
    Scheduled,
    /// The fault injector's draws from the seed and the `faults` options (no schedule).
    Random,
}

/// The clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadPlan {
    /// Clients draw operations of their own (`options.workload` says how); otherwise they run
    /// the scheduled operations only, and one final write each in the liveness phase.
    pub generator: bool,
    /// The seed of the clients' random stream; absent: derived from the scenario's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The outcome a scenario expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Every check passes.
    Pass,
    /// This failure: a class (`safety`, `liveness`, `panic`, `nondeterminism`, `known_bug`)
    /// or a safety property (`election_safety`, `linearizability`, …).
    Violation(String),
}

/// The verdict classes `expect` may name.
pub const EXPECTED_CLASSES: &[&str] =
    &["safety", "liveness", "panic", "nondeterminism", "known_bug"];

/// A property's name in `expect`: its report name with underscores.
pub fn property_key(property: Property) -> String {
    property.name().replace(' ', "_")
}

impl Expect {
    /// Whether `verdict` is what was expected.
    pub fn matches(&self, verdict: &Verdict) -> bool {
        let name = match self {
            Expect::Pass => return *verdict == Verdict::Pass,
            Expect::Violation(name) => name.as_str(),
        };
        match verdict {
            Verdict::Pass => false,
            Verdict::SafetyViolation(violation) => {
                name == "safety" || name == property_key(violation.property)
            }
            Verdict::LivenessFailure(_) => name == "liveness",
            Verdict::Panic(_) => name == "panic",
            Verdict::Nondeterminism(_) => name == "nondeterminism",
            Verdict::KnownBug(..) => name == "known_bug",
        }
    }

    /// What a run that ended with `verdict` expects when written down.
    pub fn of(verdict: &Verdict) -> Expect {
        let name = match verdict {
            Verdict::Pass => return Expect::Pass,
            Verdict::SafetyViolation(violation) => property_key(violation.property),
            Verdict::LivenessFailure(_) => "liveness".to_string(),
            Verdict::Panic(_) => "panic".to_string(),
            Verdict::Nondeterminism(_) => "nondeterminism".to_string(),
            Verdict::KnownBug(..) => "known_bug".to_string(),
        };
        Expect::Violation(name)
    }

    /// One word or two.
    pub fn describe(&self) -> String {
        match self {
            Expect::Pass => "pass".to_string(),
            Expect::Violation(name) => format!("violation {name}"),
        }
    }
}

/// One scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The format version, [`FORMAT_VERSION`].
    pub format: u64,
    /// A short name (the file's name without `.json`, by convention).
    pub name: String,
    /// Why the scenario exists: the behaviour or the bug it pins down.
    pub why: String,
    /// The seed every random stream derives from.
    pub seed: u64,
    /// Options that differ from the defaults, as a partial tree of the report's option names.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub options: Map<String, Value>,
    /// Scheduled or random faults.
    pub faults: FaultSource,
    /// Faults and client operations in time order (scheduled faults only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<Entry>,
    /// The clients.
    pub workload: WorkloadPlan,
    /// After the heal at the end of the fault window, the cluster must converge within this.
    pub liveness_bound_ms: u64,
    /// The outcome that makes the replay a success.
    pub expect: Expect,
    /// Bounds on outcome figures (`elections_min`, `terms_max`, …, see [`FIGURES`]) that the
    /// run must meet besides `expect`: proof that what the scenario is about really happened.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub require: BTreeMap<String, u64>,
}

/// The figures a scenario's `require` may bound, with `_min` or `_max` after the name.
pub const FIGURES: &[&str] = &[
    "elections",
    "leaders_distinct",
    "terms",
    "committed_index",
    "compacted_index",
    "client_invoked",
    "client_ok",
    "client_failed",
    "client_unknown",
    "reads_ok",
    "writes_ok",
    "crashes",
    "crashes_during_write",
    "restarts",
    "torn_writes",
    "pauses",
    "partitions",
    "clogs",
    "bit_flips",
    "bad_sectors",
    "destroyed_nodes",
    "leader_transfers",
    "forced_elections",
    "membership_changes",
    "nodes_removed",
    "messages_sent",
    "messages_dropped",
    "messages_refused",
    "snapshots_sent",
    "snapshots_installed",
    "appends_rejected",
    "pre_votes_requested",
    "votes_requested",
    "timeout_now_sent",
];

/// A `require` key split into its figure and whether it is a lower bound.
fn requirement(name: &str) -> Option<(&str, bool)> {
    let (figure, lower) = match (name.strip_suffix("_min"), name.strip_suffix("_max")) {
        (Some(figure), None) => (figure, true),
        (None, Some(figure)) => (figure, false),
        (Some(_), Some(_)) | (None, None) => return None,
    };
    let known = FIGURES.contains(&figure)
        || crate::coverage::catalogue()
            .iter()
            .any(|entry| entry.name == figure);
    known.then_some((figure, lower))
}

/// Every figure of a finished run, by name (the names of [`FIGURES`]).
pub fn figures(
    report: &RunReport,
    leaders_by_term: &BTreeMap<Term, NodeId>,
    history: &History,
    compacted_index: Index,
) -> BTreeMap<&'static str, u64> {
    let stats = &report.stats;
    let faults = &stats.faults;
    let network = &stats.network;
    let raft = &stats.raft_messages;
    let distinct: std::collections::BTreeSet<NodeId> = leaders_by_term.values().copied().collect();
    let ok = |write: bool| {
        history
            .operations
            .iter()
            .filter(|operation| {
                operation.is_write() == write
                    && matches!(operation.outcome, crate::history::HistoryOutcome::Ok(_))
            })
            .count() as u64
    };
    let values = [
        stats.elections,
        distinct.len() as u64,
        stats.highest_term,
        stats.committed_index,
        compacted_index,
        stats.clients.invoked,
        stats.clients.ok,
        stats.clients.failed,
        stats.clients.unknown,
        ok(false),
        ok(true),
        faults.crashes + faults.crashes_during_write,
        faults.crashes_during_write,
        faults.restarts,
        faults.torn_writes,
        faults.pauses,
        faults.partitions.values().sum(),
        faults.clogs,
        faults.bit_flips,
        faults.bad_sectors,
        faults.destroyed_nodes,
        faults.leader_transfers,
        faults.forced_elections,
        faults.membership_changes,
        faults.nodes_removed,
        network.sent,
        network.dropped_loss
            + network.dropped_partition
            + network.dropped_capacity
            + network.dropped_node_down,
        stats.messages_refused,
        raft.snapshots_sent,
        raft.snapshots_installed,
        raft.appends_rejected,
        raft.pre_votes_requested,
        raft.votes_requested,
        raft.timeout_now_sent,
    ];
    assert_eq!(values.len(), FIGURES.len(), "one value per figure");
    let mut figures: BTreeMap<&'static str, u64> = FIGURES.iter().copied().zip(values).collect();
    // Every coverage point is a figure too, by its dotted name (`reads.served_lease`).
    for (entry, count) in crate::coverage::catalogue()
        .iter()
        .zip(stats.coverage.counts())
    {
        figures.insert(entry.name, count);
    }
    figures
}

/// The requirements `figures` does not meet, one line each (`elections 1, required >= 3`).
pub fn unmet(require: &BTreeMap<String, u64>, figures: &BTreeMap<&str, u64>) -> Vec<String> {
    let mut unmet = Vec::new();
    for (name, &bound) in require {
        let (figure, lower) = requirement(name).expect("a parsed scenario's require is valid");
        let value = figures[figure];
        let met = if lower {
            value >= bound
        } else {
            value <= bound
        };
        if !met {
            let relation = if lower { ">=" } else { "<=" };
            unmet.push(format!("{figure} {value}, required {relation} {bound}"));
        }
    }
    unmet
}

/// A bad scenario file: the field, its line if known, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The field's path, e.g. `schedule[3].crash.node` (empty: the whole file).
    pub path: String,
    /// The line (from 1) of the field or of the error.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(formatter, "line {line}: ")?;
        }
        if !self.path.is_empty() && self.path != "." {
            write!(formatter, "{}: ", self.path)?;
        }
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn render(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

fn key(name: &str) -> Step {
    Step::Key(name.to_string())
}

/// The line (from 1) where the value at `path` starts in the JSON `text`, if it is there.
/// `text` must be valid JSON (it is read after serde accepted it).
fn line_of(text: &str, path: &[Step]) -> Option<usize> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let at = cursor.find(path)?;
    Some(
        text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
    )
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string's raw contents (escapes left as written).
    fn string(&mut self) -> Option<&str> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        let contents = std::str::from_utf8(&self.bytes[start..self.at]).ok();
        self.at += 1;
        contents
    }

    fn skip_value(&mut self) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                loop {
                    self.skip_whitespace();
                    if self.peek()? == close {
                        self.at += 1;
                        return Some(());
                    }
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value()?;
                    self.skip_whitespace();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    fn find(&mut self, path: &[Step]) -> Option<usize> {
        self.skip_whitespace();
        let Some((first, rest)) = path.split_first() else {
            return Some(self.at);
        };
        match first {
            Step::Key(wanted) => {
                self.expect(b'{')?;
                loop {
                    self.skip_whitespace();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let found = self.string()? == wanted;
                    self.expect(b':')?;
                    if found {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.skip_whitespace();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
            }
            Step::Index(wanted) => {
                self.expect(b'[')?;
                for position in 0.. {
                    self.skip_whitespace();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if position == *wanted {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.skip_whitespace();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
                None
            }
        }
    }
}

/// serde_json's message without its " at line L column C" tail (the error gives the line).
fn bare_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) if error.line() > 0 => text[..position].to_string(),
        Some(_) | None => text,
    }
}

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let scenario: Scenario =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| ScenarioError {
                path: error.path().to_string(),
                line: (error.inner().line() > 0).then(|| error.inner().line()),
                message: bare_message(error.inner()),
            })?;
        deserializer.end().map_err(|error| ScenarioError {
            path: String::new(),
            line: Some(error.line()),
            message: bare_message(&error),
        })?;
        scenario
            .options()
            .map_err(|(path, message)| ScenarioError {
                line: line_of(text, &path),
                path: render(&path),
                message,
            })?;
        scenario.check().map_err(|(path, message)| ScenarioError {
            line: line_of(text, &path),
            path: render(&path),
            message,
        })?;
        Ok(scenario)
    }

    /// The run's options: the defaults for the seed, `options` over them, the liveness bound.
    pub fn run_options(&self) -> RunOptions {
        self.options()
            .expect("a parsed scenario's options are valid")
    }

    fn options(&self) -> Result<RunOptions, (Vec<Step>, String)> {
        let defaults = RunOptions::new(self.seed);
        let mut tree = serde_json::to_value(&defaults).expect("options serialize");
        for reserved in ["seed", "swarm", "liveness_bound_ms"] {
            if self.options.contains_key(reserved) {
                return Err((
                    vec![key("options"), key(reserved)],
                    format!("set {reserved} at the top level of the scenario, not in options"),
                ));
            }
        }
        let mut path = vec![key("options")];
        merge(&mut tree, &self.options, &mut path)?;
        let mut options: RunOptions = serde_path_to_error::deserialize(tree).map_err(|error| {
            let mut path = vec![key("options")];
            for segment in error.path().iter() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => path.push(Step::Index(*index)),
                    serde_path_to_error::Segment::Map { key: name } => path.push(key(name)),
                    serde_path_to_error::Segment::Enum { variant } => path.push(key(variant)),
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            (path, error.inner().to_string())
        })?;
        if let Some(problem) = options.cluster.out_of_range() {
            return Err((vec![key("options"), key("cluster")], problem));
        }
        options.liveness_bound_ms = self.liveness_bound_ms;
        Ok(options)
    }

    /// The checks serde cannot make.
    fn check(&self) -> Result<(), (Vec<Step>, String)> {
        if self.format != FORMAT_VERSION {
            return Err((
                vec![key("format")],
                format!(
                    "format {} is not supported: this raftsim reads format {FORMAT_VERSION}",
                    self.format
                ),
            ));
        }
        for (field, value) in [("name", &self.name), ("why", &self.why)] {
            if value.trim().is_empty() {
                return Err((vec![key(field)], format!("{field} must not be empty")));
            }
        }
        if let Expect::Violation(name) = &self.expect {
            let known = EXPECTED_CLASSES.contains(&name.as_str())
                || Property::ALL
                    .iter()
                    .any(|&property| property_key(property) == *name);
            if !known {
                let mut names: Vec<String> = EXPECTED_CLASSES
                    .iter()
                    .map(|name| name.to_string())
                    .collect();
                names.extend(Property::ALL.iter().map(|&property| property_key(property)));
                return Err((
                    vec![key("expect"), key("violation")],
                    format!(
                        "unknown violation {name:?}; expected one of {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        for name in self.require.keys() {
            if requirement(name).is_none() {
                return Err((
                    vec![key("require"), key(name)],
                    format!(
                        "unknown requirement {name:?}: a figure with _min or _max after it; \
                         figures: {}, and every coverage point by its dotted name (raftsim run \
                         lists those a run reached)",
                        FIGURES.join(", ")
                    ),
                ));
            }
        }
        if self.faults == FaultSource::Random && !self.schedule.is_empty() {
            return Err((
                vec![key("schedule")],
                "a schedule needs \"faults\": \"scheduled\"".to_string(),
            ));
        }
        let options = self.run_options();
        let mut previous_ms = 0;
        for (index, entry) in self.schedule.iter().enumerate() {
            let at = |field: &[&str]| {
                let mut path = vec![key("schedule"), Step::Index(index)];
                path.extend(field.iter().map(|name| key(name)));
                path
            };
            if entry.at_ms < previous_ms {
                return Err((
                    at(&["at_ms"]),
                    format!(
                        "{} ms comes before the previous entry's {previous_ms} ms: keep the \
                         schedule in time order",
                        entry.at_ms
                    ),
                ));
            }
            previous_ms = entry.at_ms;
            let window = options.faults.fault_window_ms;
            if entry.at_ms >= window {
                return Err((
                    at(&["at_ms"]),
                    format!(
                        "{} ms is not inside the fault window [0, {window}) ms \
                         (options.faults.fault_window_ms)",
                        entry.at_ms
                    ),
                ));
            }
            check_entry(&entry.action, &options).map_err(|(field, message)| {
                let mut path = at(&[entry.action.name()]);
                path.extend(field);
                (path, message)
            })?;
        }
        Ok(())
    }

    /// How the world runs it.
    pub fn plan(&self) -> Plan {
        Plan {
            faults: match self.faults {
                FaultSource::Random => FaultPlan::Random,
                FaultSource::Scheduled => FaultPlan::Scheduled(schedule::ticks(&self.schedule)),
            },
            generator: self.workload.generator,
            workload_seed: self.workload.seed.unwrap_or(self.seed),
            record_schedule: false,
        }
    }

    /// A random run of `options` written down: every fault it injected, resolved, at its
    /// time; the workload generator; and the verdict it reached as the expectation.
    pub fn recorded(
        options: &RunOptions,
        schedule: Vec<Entry>,
        verdict: &Verdict,
        command: &str,
    ) -> Scenario {
        let defaults = serde_json::to_value(RunOptions::new(options.seed)).expect("serialize");
        let actual = serde_json::to_value(options).expect("serialize");
        let mut changed = difference(&defaults, &actual);
        for reserved in ["seed", "swarm", "liveness_bound_ms"] {
            changed.remove(reserved);
        }
        Scenario {
            format: FORMAT_VERSION,
            name: format!(
                "{}seed-{}",
                if options.swarm { "swarm-" } else { "" },
                options.seed
            ),
            why: format!("Recorded by `{command}`."),
            seed: options.seed,
            options: changed,
            faults: FaultSource::Scheduled,
            schedule,
            workload: WorkloadPlan {
                generator: true,
                seed: None,
            },
            liveness_bound_ms: options.liveness_bound_ms,
            expect: Expect::of(verdict),
            require: BTreeMap::new(),
        }
    }

    /// The file's text: pretty JSON with one schedule entry per line.
    pub fn to_json(&self) -> String {
        let mut copy = self.clone();
        let schedule = std::mem::take(&mut copy.schedule);
        let mut text = serde_json::to_string_pretty(&copy).expect("a scenario serializes");
        if !schedule.is_empty() {
            let entries: Vec<String> = schedule
                .iter()
                .map(|entry| format!("    {}", serde_json::to_string(entry).expect("serialize")))
                .collect();
            let block = format!(",\n  \"schedule\": [\n{}\n  ]", entries.join(",\n"));
            // Put the schedule after the faults, where a reader looks for it.
            let anchor = format!(
                "\"faults\": {}",
                serde_json::to_string(&self.faults).expect("serialize")
            );
            let position = text.find(&anchor).expect("the faults field") + anchor.len();
            text.insert_str(position, &block);
        }
        text.push('\n');
        text
    }
}

/// Puts `partial` over `tree`, refusing names `tree` does not have.
fn merge(
    tree: &mut Value,
    partial: &Map<String, Value>,
    path: &mut Vec<Step>,
) -> Result<(), (Vec<Step>, String)> {
    for (name, value) in partial {
        path.push(key(name));
        let Some(slot) = tree.get_mut(name) else {
            let known: Vec<&String> = tree
                .as_object()
                .map(|object| object.keys().collect())
                .unwrap_or_default();
            let known: Vec<String> = known.iter().map(|name| name.to_string()).collect();
            return Err((
                path.clone(),
                format!("unknown option {name:?}; known here: {}", known.join(", ")),
            ));
        };
        match (slot.is_object(), value) {
            (true, Value::Object(inner)) => merge(slot, inner, path)?,
            (true, _) => {
                return Err((path.clone(), "expected an object of options".to_string()));
            }
            (false, _) => *slot = value.clone(),
        }
        path.pop();
    }
    Ok(())
}

/// The leaves of `actual` that differ from `base`, as a partial tree.
fn difference(base: &Value, actual: &Value) -> Map<String, Value> {
    let mut changed = Map::new();
    let (Some(base), Some(actual)) = (base.as_object(), actual.as_object()) else {
        return changed;
    };
    for (name, value) in actual {
        match (base.get(name), value) {
            (Some(inner @ Value::Object(_)), Value::Object(_)) => {
                let inner = difference(inner, value);
                if !inner.is_empty() {
                    changed.insert(name.clone(), Value::Object(inner));
                }
            }
            (Some(old), _) if old == value => {}
            _ => {
                changed.insert(name.clone(), value.clone());
            }
        }
    }
    changed
}

/// Checks one action against the cluster; the error's path is below the action's key.
fn check_entry(action: &Action, options: &RunOptions) -> Result<(), (Vec<Step>, String)> {
    let node_count = options.cluster.node_count.max(1);
    for (field, node) in action.nodes() {
        if let NodeRef::Id(id) = node {
            if id > node_count {
                return Err((
                    field_path(&field),
                    format!("node {id} is not in a {node_count}-node cluster"),
                ));
            }
        }
    }
    if let Some(client) = action.client() {
        let count = options.workload.client_count;
        if client >= count {
            return Err((
                vec![key("client")],
                format!(
                    "client {client} does not exist: options.workload.client_count is {count} \
                     (clients count from 0)"
                ),
            ));
        }
    }
    match action {
        Action::Partition(partition) => match (&partition.groups, &partition.cut) {
            (Some(_), Some(_)) => {
                Err((vec![key("cut")], "give groups or cut, not both".to_string()))
            }
            (None, None) => Err((Vec::new(), "give groups or cut".to_string())),
            (Some(_), None) | (None, Some(_)) => Ok(()),
        },
        Action::Clog(clog) if clog.from.id().is_some() && clog.from == clog.to => Err((
            vec![key("to")],
            "a link joins two different nodes".to_string(),
        )),
        _ => Ok(()),
    }
}

/// `groups[0][1]` as path steps.
fn field_path(field: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in field.split('[') {
        match part.strip_suffix(']') {
            Some(number) => steps.push(Step::Index(number.parse().unwrap_or(0))),
            None if !part.is_empty() => steps.push(key(part)),
            None => {}
        }
    }
    steps
}

/// Messages counted over the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    /// Sent by nodes.
    pub sent: u64,
    /// Handed to a running node.
    pub delivered: u64,
    /// Lost, cut by a partition, over a link's capacity, or to a node that was down.
    pub dropped: u64,
}

/// What a replay produced: the part a snapshot keeps (no wall time, nothing that varies
/// between machines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The scenario's name.
    pub name: String,
    /// The verdict, one line.
    pub verdict: String,
    /// The expectation.
    pub expected: String,
    /// Whether the verdict is the expected one and every requirement is met.
    pub matched: bool,
    /// The scenario's requirements the run did not meet (none when it matched).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    /// Each term's leader.
    pub leaders_by_term: BTreeMap<Term, NodeId>,
    /// The highest index committed anywhere.
    pub committed_index: Index,
    /// Each node at the end.
    pub nodes: Vec<NodeEnd>,
    /// Network counters.
    pub messages: MessageCounts,
    /// Raft messages of telling kinds, and snapshots installed.
    pub raft_messages: RaftMessageCounts,
    /// Faults injected.
    pub faults: FaultStats,
    /// Client operations.
    pub clients: HistoryCounts,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end.
    pub simulated_ms: u64,
    /// The running hash after the last event (as in the report).
    pub trace_hash: u64,
}

/// A finished replay.
pub struct Replay {
    /// The report, as `raftsim run` prints it.
    pub report: RunReport,
    /// The client history.
    pub history: History,
    /// The snapshot's contents.
    pub outcome: Outcome,
    /// The figures a scenario's `require` may bound.
    pub figures: BTreeMap<&'static str, u64>,
}

/// Runs `scenario`; `reproduce` is the command line that runs it again.
pub fn replay(scenario: &Scenario, print_trace: bool, reproduce: &str) -> Replay {
    let options = scenario.run_options();
    let mut world = World::with_plan(options.clone(), print_trace, false, scenario.plan());
    let report = run_world(&mut world, reproduce.to_string());
    let network = &report.stats.network;
    let leaders_by_term = world.leaders_by_term();
    let figures = figures(
        &report,
        &leaders_by_term,
        world.history(),
        world.compacted_index(),
    );
    let unmet = unmet(&scenario.require, &figures);
    let outcome = Outcome {
        name: scenario.name.clone(),
        verdict: report.verdict.summary(),
        expected: scenario.expect.describe(),
        matched: scenario.expect.matches(&report.verdict) && unmet.is_empty(),
        unmet,
        leaders_by_term,
        committed_index: report.stats.committed_index,
        nodes: world.node_ends(),
        messages: MessageCounts {
            sent: network.sent,
            delivered: network.delivered,
            dropped: network.dropped_loss
                + network.dropped_partition
                + network.dropped_capacity
                + network.dropped_node_down,
        },
        raft_messages: report.stats.raft_messages,
        faults: report.stats.faults.clone(),
        clients: report.stats.clients,
        events: report.stats.events,
        simulated_ms: report.stats.simulated_ms,
        trace_hash: report.stats.trace_hash,
    };
    Replay {
        figures,
        history: world.history().clone(),
        report,
        outcome,
    }
}

/// Runs `options` with random faults and writes the run down as a scenario; `command` is the
/// command line that asked for it (it goes into `why`).
pub fn record(
    options: &RunOptions,
    print_trace: bool,
    command: &str,
) -> (RunReport, History, Scenario) {
    let plan = Plan {
        record_schedule: true,
        ..Plan::random(options.seed)
    };
    let mut world = World::with_plan(options.clone(), print_trace, false, plan);
    let report = run_world(&mut world, crate::run::reproduce_command(options));
    let schedule = world.recorded_schedule().unwrap_or_default().to_vec();
    let scenario = Scenario::recorded(options, schedule, &report.verdict, command);
    (report, world.history().clone(), scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "format": 1,
  "name": "example",
  "why": "a test",
  "seed": 3,
  "options": { "cluster": { "node_count": 3 } },
  "faults": "scheduled",
  "schedule": [
    { "at_ms": 100, "crash": { "node": "leader", "restart_after_ms": 50 } },
    { "at_ms": 200, "put": { "client": 0, "key": "k", "value": "v" } }
  ],
  "workload": { "generator": false },
  "liveness_bound_ms": 5000,
  "expect": "pass"
}"#;

    fn error_of(text: &str) -> ScenarioError {
        Scenario::parse(text).expect_err("a bad scenario")
    }

    #[test]
    fn a_good_file_parses_and_round_trips() {
        let scenario = Scenario::parse(GOOD).unwrap();
        assert_eq!(scenario.run_options().cluster.node_count, 3);
        assert_eq!(scenario.run_options().liveness_bound_ms, 5000);
        assert_eq!(Scenario::parse(&scenario.to_json()).unwrap(), scenario);
    }

    #[test]
    fn errors_name_the_field_and_the_line() {
        let error = error_of(&GOOD.replace("\"node\": \"leader\"", "\"node\": 9"));
        assert_eq!(error.path, "schedule[0].crash.node");
        assert_eq!(error.line, Some(9));
        assert!(error.message.contains("not in a 3-node cluster"), "{error}");

        let error = error_of(&GOOD.replace("\"node_count\": 3", "\"node_cont\": 3"));
        assert_eq!(error.path, "options.cluster.node_cont");
        assert_eq!(error.line, Some(6));

        let error = error_of(&GOOD.replace("\"node_count\": 3", "\"node_count\": \"three\""));
        assert_eq!(error.path, "options.cluster.node_count");
        assert_eq!(error.line, Some(6));

        let error = error_of(&GOOD.replace("\"restart_after_ms\": 50", "\"restart_after_ms\": -5"));
        assert_eq!(error.path, "schedule[0].crash.restart_after_ms");
        assert_eq!(error.line, Some(9));

        let error = error_of(&GOOD.replace("\"at_ms\": 200", "\"at_ms\": 50"));
        assert_eq!(error.path, "schedule[1].at_ms");
        assert_eq!(error.line, Some(10));

        let error = error_of(&GOOD.replace("\"client\": 0", "\"client\": 7"));
        assert_eq!(error.path, "schedule[1].put.client");

        let error = error_of(&GOOD.replace("\"format\": 1", "\"format\": 2"));
        assert_eq!((error.path.as_str(), error.line), ("format", Some(2)));

        let error = error_of(&GOOD.replace("\"why\"", "\"wy\""));
        assert_eq!(error.line, Some(4));
        assert!(error.message.contains("wy"), "{error}");

        let error = error_of(&GOOD.replace(
            "\"expect\": \"pass\"",
            "\"expect\": {\"violation\": \"boom\"}",
        ));
        assert_eq!(error.path, "expect.violation");

        let error = error_of(&GOOD.replace("\"at_ms\": 200", "\"at_ms\": 20000"));
        assert!(error.message.contains("fault window"), "{error}");

        let error = error_of(&format!("{GOOD} x"));
        assert_eq!(error.line, Some(15));
    }

    #[test]
    fn requirements_parse_and_judge_figures() {
        let with = |require: &str| {
            GOOD.replace(
                "\"expect\": \"pass\"",
                &format!("\"expect\": \"pass\",\n  \"require\": {require}"),
            )
        };
        let scenario = Scenario::parse(&with(r#"{"elections_min": 2, "terms_max": 3}"#)).unwrap();
        assert_eq!(scenario.require.len(), 2);
        assert_eq!(Scenario::parse(&scenario.to_json()).unwrap(), scenario);

        let error = error_of(&with(r#"{"elections": 2}"#));
        assert_eq!(error.path, "require.elections");
        assert!(error.message.contains("_min or _max"), "{error}");
        let error = error_of(&with(r#"{"happiness_min": 2}"#));
        assert!(error.message.contains("happiness_min"), "{error}");

        let figures: BTreeMap<&str, u64> = FIGURES.iter().map(|&name| (name, 2)).collect();
        assert!(unmet(&scenario.require, &figures).is_empty());
        let mut low = figures.clone();
        low.insert("elections", 1);
        low.insert("terms", 4);
        assert_eq!(
            unmet(&scenario.require, &low),
            vec![
                "elections 1, required >= 2".to_string(),
                "terms 4, required <= 3".to_string()
            ]
        );
    }

    #[test]
    fn line_of_finds_nested_values() {
        let text = "{\n \"a\": [1,\n {\"b\": \"x\\\"y\", \"c\": 2}]\n}";
        assert_eq!(
            line_of(text, &[key("a"), Step::Index(1), key("c")]),
            Some(3)
        );
        assert_eq!(line_of(text, &[key("a"), Step::Index(0)]), Some(2));
        assert_eq!(line_of(text, &[key("z")]), None);
    }

    #[test]
    fn expectations_match_verdicts() {
        assert!(Expect::Pass.matches(&Verdict::Pass));
        let liveness = Verdict::LivenessFailure("stuck".to_string());
        assert!(!Expect::Pass.matches(&liveness));
        assert!(Expect::Violation("liveness".to_string()).matches(&liveness));
        assert!(!Expect::Violation("safety".to_string()).matches(&liveness));
        assert_eq!(
            Expect::of(&liveness),
            Expect::Violation("liveness".to_string())
        );
    }
}
