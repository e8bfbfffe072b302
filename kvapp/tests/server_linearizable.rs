//! Concurrent clients against three real `kvapp` processes while random nodes are SIGKILLed and
//! restarted; the simulator's linearizability checker judges the recorded history.
//!
//! Each client thread has one request open at a time and is one checker client until a write's
//! outcome is unknown: that write never ends, so the thread goes on as a new client. Keys,
//! operations, target nodes, kill victims and pauses come from one seed, which makes a run
//! reproducible in spirit only: real timing still decides what overlaps what and which writes
//! time out. A failing run keeps the history (in porcupine's KV log format, which
//! `raftsim check-history --format porcupine-kv` reads back), the checker's HTML page and the node
//! logs, and names the seed.

mod support;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use simulator::checker::kv::{KvInput, KvModel, KvOutput};
use simulator::checker::{
    check_with, html, Budget, CheckReport, CheckResult, ClientId, History, IllegalWitness, Model,
    Operation, OperationId, Outcome, Partitioning,
};

use support::cluster::{Cluster, ClusterOptions, NodeId};
use support::http::{self, HttpResponse};

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(15);
/// The seed unless `KVAPP_LINEARIZABLE_SEED` gives another.
const SEED_DEFAULT: u64 = 20_240_404;
const NODES: u64 = 3;
const CLIENT_THREADS: u64 = 5;
const KEYS: [&str; 4] = ["a", "b", "c", "d"];
/// How long the clients run; the kills happen meanwhile.
const CLIENT_RUN: Duration = Duration::from_secs(9);
/// Share of client operations that are writes, per mille; the others are reads.
const PUT_PER_MILLE: u64 = 500;
/// The server answers 504 after this long.
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// How long a client waits for an answer: the server's deadline, then some slack.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(REQUEST_TIMEOUT_MS + 1_000);
/// Pause after an answer that did nothing useful (no leader, a dead node), so as not to spin.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
const KILLS_MAX: usize = 8;
/// Range of the time from a start to the next kill, in milliseconds.
const UP_MS: (u64, u64) = (1_000, 2_000);
/// Range of the time a killed node stays down, in milliseconds.
const DOWN_MS: (u64, u64) = (500, 1_000);
/// Share of kills aimed at the leader (when the nodes agree on one), per mille; the others
/// pick any node.
const LEADER_KILL_PER_MILLE: u64 = 500;
/// Far beyond what a run needs (tens of thousands of steps for some twenty thousand operations).
const CHECK_STEPS_MAX: u64 = 50_000_000;
/// Lower bounds that keep the test from passing on a vacuous history.
const WRITES_OK_MIN: usize = 200;
const READS_MIN: usize = 200;
const KILLS_MIN: usize = 2;

type KvOperation = Operation<KvInput, KvOutput>;
type KvHistory = History<KvInput, KvOutput>;

/// Nanoseconds since one origin, read by every thread: the checker's times. `Instant` is
/// monotonic across threads, so an answer received before a request is sent has a smaller time.
#[derive(Clone, Copy)]
struct Clock {
    origin: Instant,
}

impl Clock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).expect("a run lasts seconds")
    }
}

/// What the client threads and the chaos share.
struct Shared {
    /// The node the chaos has killed, 0 while every node runs. Only one is ever down at a time.
    down: AtomicU64,
    /// The next fresh checker client id.
    next_client: AtomicU64,
}

impl Shared {
    fn fresh_client(&self) -> ClientId {
        ClientId(self.next_client.fetch_add(1, Ordering::SeqCst))
    }
}

/// A number in `0..bound`; the modulo bias is negligible for these small bounds.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    rng.next_u64() % bound
}

fn milliseconds_in(rng: &mut ChaCha8Rng, (low, high): (u64, u64)) -> Duration {
    Duration::from_millis(low + below(rng, high - low + 1))
}

fn seed() -> u64 {
    match std::env::var("KVAPP_LINEARIZABLE_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("KVAPP_LINEARIZABLE_SEED={text:?} is not a u64")),
        Err(_) => SEED_DEFAULT,
    }
}

/// Sends `input` to `address` as the HTTP API's PUT or (linearizable) GET.
fn send(address: SocketAddr, input: &KvInput) -> io::Result<HttpResponse> {
    match input {
        KvInput::Put { key, value } => http::request(
            address,
            "PUT",
            &format!("/{key}"),
            value.as_bytes(),
            CLIENT_TIMEOUT,
        ),
        KvInput::Get { key } => {
            http::request(address, "GET", &format!("/{key}"), b"", CLIENT_TIMEOUT)
        }
        KvInput::Append { .. } | KvInput::Delete { .. } | KvInput::CompareAndSet { .. } => {
            unreachable!("the clients only put and get")
        }
    }
}

/// What a PUT's answer says about its effect.
fn put_outcome(response: &io::Result<HttpResponse>) -> Outcome<KvOutput> {
    let response = match response {
        Ok(response) => response,
        // The node died or did not answer in time: the write may have been proposed.
        Err(_) => return Outcome::Unknown,
    };
    match response.status {
        204 => Outcome::Ok(KvOutput::Done),
        503 => Outcome::Failed,
        504 => Outcome::Unknown,
        status => panic!("PUT answered {status}: {:?}", response.text()),
    }
}

/// What a GET returned; `None` when it returned nothing (503, 504, no answer).
fn get_output(response: &io::Result<HttpResponse>) -> Option<KvOutput> {
    let response = response.as_ref().ok()?;
    match response.status {
        200 => Some(KvOutput::Value(Some(response.text()))),
        404 => Some(KvOutput::Value(None)),
        503 | 504 => None,
        status => panic!("GET answered {status}: {:?}", response.text()),
    }
}

/// The operation the checker sees, or `None` for a read that returned nothing: a read has no
/// effect, so it can be left out.
fn operation_of(
    client: ClientId,
    input: KvInput,
    invoke_time: u64,
    return_time: u64,
    response: &io::Result<HttpResponse>,
) -> Option<KvOperation> {
    let (return_time, outcome) = match &input {
        KvInput::Put { .. } => match put_outcome(response) {
            // It may take effect at any later time, or never: it has no return time.
            Outcome::Unknown => (None, Outcome::Unknown),
            outcome @ (Outcome::Ok(_) | Outcome::Failed) => (Some(return_time), outcome),
        },
        KvInput::Get { .. } => (Some(return_time), Outcome::Ok(get_output(response)?)),
        KvInput::Append { .. } | KvInput::Delete { .. } | KvInput::CompareAndSet { .. } => {
            unreachable!("the clients only put and get")
        }
    };
    Some(Operation {
        client,
        invoke_time,
        return_time,
        input,
        outcome,
    })
}

/// `"PUT 204"`, `"GET no answer"`: how often each answer came, for the summary.
fn answer_label(input: &KvInput, response: &io::Result<HttpResponse>) -> String {
    let method = match input {
        KvInput::Put { .. } => "PUT",
        KvInput::Get { .. } => "GET",
        KvInput::Append { .. } | KvInput::Delete { .. } | KvInput::CompareAndSet { .. } => {
            unreachable!("the clients only put and get")
        }
    };
    match response {
        Ok(response) => format!("{method} {}", response.status),
        Err(_) => format!("{method} no answer"),
    }
}

/// One client thread's record: its operations and how often each answer came.
#[derive(Default)]
struct ClientRecord {
    operations: Vec<KvOperation>,
    answers: BTreeMap<String, usize>,
}

/// Puts and gets on random keys through random running nodes until `deadline`.
fn run_client(
    thread: u64,
    seed: u64,
    addresses: &[SocketAddr],
    shared: &Shared,
    clock: Clock,
    deadline: Instant,
) -> ClientRecord {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((thread + 1) << 32));
    let mut record = ClientRecord::default();
    let mut client = shared.fresh_client();
    let mut puts = 0;
    while Instant::now() < deadline {
        let key = KEYS[below(&mut rng, KEYS.len() as u64) as usize].to_string();
        let node = running_node(&mut rng, shared);
        let input = if below(&mut rng, 1000) < PUT_PER_MILLE {
            puts += 1;
            // Unique values, so that every read names the write it saw.
            let value = format!("t{thread}-{puts}");
            KvInput::Put { key, value }
        } else {
            KvInput::Get { key }
        };
        let invoke_time = clock.now_ns();
        let response = send(addresses[(node - 1) as usize], &input);
        let return_time = clock.now_ns();
        *record
            .answers
            .entry(answer_label(&input, &response))
            .or_default() += 1;
        let operation = operation_of(client, input, invoke_time, return_time, &response);
        let useful = operation
            .as_ref()
            .is_some_and(|operation| matches!(operation.outcome, Outcome::Ok(_)));
        if let Some(operation) = operation {
            if operation.return_time.is_none() {
                // The open write never ends, so this client can issue nothing after it.
                client = shared.fresh_client();
            }
            record.operations.push(operation);
        }
        if !useful {
            thread::sleep(RETRY_PAUSE);
        }
    }
    record
}

/// A node the chaos has not killed, as far as the client knows.
fn running_node(rng: &mut ChaCha8Rng, shared: &Shared) -> NodeId {
    let down = shared.down.load(Ordering::SeqCst);
    let running: Vec<NodeId> = (1..=NODES).filter(|&id| id != down).collect();
    running[below(rng, running.len() as u64) as usize]
}

/// One SIGKILL of the chaos.
struct Kill {
    node: NodeId,
    /// Whether the node was the leader the nodes agreed on.
    leader: bool,
    at_ns: u64,
}

/// Until `deadline`: wait, SIGKILL a node (the leader or any), wait, start it again. Never more
/// than one node is down, so a quorum stays up.
fn run_chaos(
    cluster: &mut Cluster,
    rng: &mut ChaCha8Rng,
    shared: &Shared,
    clock: Clock,
    deadline: Instant,
) -> Vec<Kill> {
    let mut kills = Vec::new();
    while kills.len() < KILLS_MAX {
        let up = milliseconds_in(rng, UP_MS);
        let down = milliseconds_in(rng, DOWN_MS);
        let aim_at_leader = below(rng, 1000) < LEADER_KILL_PER_MILLE;
        // Drawn even when the leader is the victim, so that timing does not shift the stream.
        let any_node = 1 + below(rng, NODES);
        if Instant::now() + up + down >= deadline {
            break;
        }
        thread::sleep(up);
        let leader = if aim_at_leader {
            cluster.leader()
        } else {
            None
        };
        let node = leader.unwrap_or(any_node);
        shared.down.store(node, Ordering::SeqCst);
        cluster.kill(node);
        kills.push(Kill {
            node,
            leader: leader.is_some(),
            at_ns: clock.now_ns(),
        });
        thread::sleep(down);
        cluster.spawn(node);
        shared.down.store(0, Ordering::SeqCst);
    }
    kills
}

/// `"node 2 (leader) at 1.52 s, ..."`, for the summary.
fn describe_kills(kills: &[Kill]) -> String {
    let described: Vec<String> = kills
        .iter()
        .map(|kill| {
            let role = if kill.leader { " (leader)" } else { "" };
            let seconds = kill.at_ns as f64 / 1e9;
            format!("node {}{role} at {seconds:.2} s", kill.node)
        })
        .collect();
    described.join(", ")
}

/// After the chaos, a linearizable read of every key on every node (each node one client), added
/// to `operations`: they pin down which unknown writes took effect, and check that each restarted
/// node serves the same map. An error names the read that got no answer.
fn final_reads(
    cluster: &Cluster,
    shared: &Shared,
    clock: Clock,
    operations: &mut Vec<KvOperation>,
) -> Result<(), String> {
    for id in 1..=NODES {
        let client = shared.fresh_client();
        for key in KEYS {
            let deadline = Instant::now() + WAIT;
            let input = KvInput::Get {
                key: key.to_string(),
            };
            loop {
                let invoke_time = clock.now_ns();
                let response = send(cluster.http_address(id), &input);
                let return_time = clock.now_ns();
                if let Some(operation) =
                    operation_of(client, input.clone(), invoke_time, return_time, &response)
                {
                    operations.push(operation);
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(unanswered_read(cluster, id, key, &response));
                }
                thread::sleep(RETRY_PAUSE);
            }
        }
    }
    Ok(())
}

/// Why node `id` did not answer a read of `key`, with what each node has applied for it (local
/// reads, for the diagnosis only: they are not linearizable).
fn unanswered_read(
    cluster: &Cluster,
    id: NodeId,
    key: &str,
    response: &io::Result<HttpResponse>,
) -> String {
    let last = match response {
        Ok(response) => format!(
            "{} {:?} (X-Raft-Leader {:?})",
            response.status,
            response.text(),
            response.header("X-Raft-Leader")
        ),
        Err(error) => error.to_string(),
    };
    let applied: Vec<String> = (1..=NODES)
        .map(|node| format!("node {node}: {:?}", cluster.get_local(node, key)))
        .collect();
    format!(
        "node {id} answered no GET /{key} within {WAIT:?} after the chaos; last answer: {last}; \
         applied values of {key:?}: {}",
        applied.join(", ")
    )
}

/// The history as a porcupine KV log, one line per invocation and completion in time order,
/// which `raftsim check-history --format porcupine-kv` reads back. An unknown outcome is an
/// `:info` line at the end (its client issues nothing after it), which that reader takes as "no
/// return time". That format treats a missing key as the empty string; the clients never write an
/// empty value, so the verdict is the same. Keys and values are the test's own, with nothing to
/// escape.
fn porcupine_log(history: &KvHistory) -> String {
    let operations = history.operations();
    // Each client's lines of one time, in the client's order (its operations are in history
    // order, an invocation before its own completion).
    let mut groups: BTreeMap<(ClientId, u64), Vec<(usize, bool)>> = BTreeMap::new();
    for (index, operation) in operations.iter().enumerate() {
        let invocation = (operation.client, operation.invoke_time);
        groups.entry(invocation).or_default().push((index, false));
        let completion = (operation.client, operation.return_time.unwrap_or(u64::MAX));
        groups.entry(completion).or_default().push((index, true));
    }
    // At one time invocations come before completions, so that operations the checker takes as
    // concurrent (equal times) stay concurrent; but a client that returned and invoked again
    // within one clock tick needs that completion first. So lines are sorted by time, then by
    // the number of the client's completions before them at that time (a client's last
    // completion of the time goes after everything else), then invocations first. Only such
    // same-tick operations can end up ordered more strictly than the checker ordered them.
    let mut lines: Vec<(u64, u64, bool, usize)> = Vec::new();
    for ((_, time), mut group) in groups {
        group.sort_unstable();
        let last = group.len() - 1;
        let mut completions_before = 0;
        for (position, (index, completion)) in group.into_iter().enumerate() {
            let layer = if completion && position == last {
                u64::MAX
            } else {
                completions_before
            };
            lines.push((time, layer, completion, index));
            completions_before += u64::from(completion);
        }
    }
    lines.sort_unstable();
    let quoted = |value: Option<&str>| value.map_or("nil".to_string(), |text| format!("{text:?}"));
    let mut log = String::new();
    for (_, _, completion, index) in lines {
        let operation = &operations[index];
        let (function, key, written) = match &operation.input {
            KvInput::Put { key, value } => ("put", key, Some(value.as_str())),
            KvInput::Get { key } => ("get", key, None),
            KvInput::Append { .. } | KvInput::Delete { .. } | KvInput::CompareAndSet { .. } => {
                unreachable!("the clients only put and get")
            }
        };
        let (event_type, value) = match (completion, &operation.outcome) {
            (false, _) => ("invoke", quoted(written)),
            (true, Outcome::Ok(KvOutput::Value(read))) => ("ok", quoted(read.as_deref())),
            (
                true,
                Outcome::Ok(
                    KvOutput::Done
                    | KvOutput::Written { .. }
                    | KvOutput::CompareAndSet { .. }
                    | KvOutput::CompareAndSetFrom { .. },
                ),
            ) => ("ok", quoted(written)),
            (true, Outcome::Failed) => ("fail", quoted(written)),
            (true, Outcome::Unknown) => ("info", quoted(written)),
        };
        let _ = writeln!(
            log,
            "{{:process {}, :type :{event_type}, :f :{function}, :key {key:?}, :value {value}}}",
            operation.client.0
        );
    }
    log
}

fn describe_operation(history: &KvHistory, model: &KvModel, id: OperationId) -> String {
    let operation = history
        .get(id)
        .expect("the witness names operations of the history");
    let returned = operation
        .return_time
        .map_or("never".to_string(), |time| time.to_string());
    format!(
        "{id} {} by {} [{} ns, {returned}]",
        model.describe_operation(&operation.input, operation.output()),
        operation.client,
        operation.invoke_time
    )
}

/// The witness in words: the end of the longest linearizable prefix, and what cannot follow it.
fn describe_witness(history: &KvHistory, model: &KvModel, witness: &IllegalWitness) -> String {
    let mut text = format!("key {:?}", witness.partition);
    let tail = witness.prefix.len().saturating_sub(5);
    let _ = write!(text, "\nlast of the prefix ({} ops):", witness.prefix.len());
    for &id in &witness.prefix[tail..] {
        let _ = write!(text, "\n  {}", describe_operation(history, model, id));
    }
    text.push_str("\ncannot follow it:");
    for &id in witness.cannot_follow.iter().take(10) {
        let _ = write!(text, "\n  {}", describe_operation(history, model, id));
    }
    text
}

/// Writes the history, the checker's page and the node logs to a directory that outlives the
/// test; its path.
fn keep_artifacts(
    cluster: &Cluster,
    history: &KvHistory,
    model: &KvModel,
    result: &CheckResult,
    seed: u64,
) -> PathBuf {
    let directory = std::env::temp_dir().join(format!(
        "kvapp-linearizable-seed{seed}-pid{}",
        std::process::id()
    ));
    fs::create_dir_all(&directory).expect("artifact directory");
    fs::write(directory.join("history.edn"), porcupine_log(history)).expect("history file");
    let title = format!("kvapp under SIGKILL and restart, seed {seed}");
    let page = html::render(history, model, result, &title);
    fs::write(directory.join("check.html"), page).expect("HTML page");
    for id in 1..=NODES {
        let _ = fs::copy(
            cluster.log_path(id),
            directory.join(format!("node-{id}.log")),
        );
    }
    directory
}

/// Panics unless the verdict is linearizable, after keeping what explains a failure.
fn assert_linearizable(
    cluster: &Cluster,
    history: &KvHistory,
    model: &KvModel,
    report: &CheckReport,
    seed: u64,
) {
    let why = match &report.result {
        CheckResult::Linearizable { .. } => return,
        CheckResult::Illegal { witness } => {
            format!(
                "not linearizable: {}",
                describe_witness(history, model, witness)
            )
        }
        CheckResult::Unknown { reason } => {
            format!("no verdict after {} steps: {reason:?}", report.steps)
        }
    };
    let directory = keep_artifacts(cluster, history, model, &report.result, seed);
    panic!(
        "{why}\nhistory (porcupine KV log), check.html and node logs in {}\n\
         run again with KVAPP_LINEARIZABLE_SEED={seed} (timing still varies)",
        directory.display()
    );
}

/// What the clients did while the chaos ran.
struct Workload {
    operations: Vec<KvOperation>,
    /// How often each answer came (see [`answer_label`]).
    answers: BTreeMap<String, usize>,
    kills: Vec<Kill>,
}

/// Runs the client threads and, on this thread, the chaos, for [`CLIENT_RUN`] from the clock's
/// origin.
fn run_workload(cluster: &mut Cluster, seed: u64, shared: &Arc<Shared>, clock: Clock) -> Workload {
    let deadline = clock.origin + CLIENT_RUN;
    let addresses: Vec<SocketAddr> = (1..=NODES).map(|id| cluster.http_address(id)).collect();
    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|thread| {
            let (addresses, shared) = (addresses.clone(), shared.clone());
            thread::spawn(move || run_client(thread, seed, &addresses, &shared, clock, deadline))
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kills = run_chaos(cluster, &mut rng, shared, clock, deadline);
    let mut workload = Workload {
        operations: Vec::new(),
        answers: BTreeMap::new(),
        kills,
    };
    for client in clients {
        let record = client
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        workload.operations.extend(record.operations);
        for (label, count) in record.answers {
            *workload.answers.entry(label).or_default() += count;
        }
    }
    workload
}

/// How many operations of each kind the clients recorded.
struct Counts {
    writes_ok: usize,
    writes_failed: usize,
    writes_unknown: usize,
    reads: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} writes ok, {} failed, {} of unknown outcome; {} reads",
            self.writes_ok, self.writes_failed, self.writes_unknown, self.reads
        )
    }
}

impl Counts {
    fn of(operations: &[KvOperation]) -> Counts {
        let count = |wanted: fn(&KvOperation) -> bool| {
            operations
                .iter()
                .filter(|operation| wanted(operation))
                .count()
        };
        Counts {
            writes_ok: count(|operation| {
                matches!(
                    (&operation.input, &operation.outcome),
                    (KvInput::Put { .. }, Outcome::Ok(_))
                )
            }),
            writes_failed: count(|operation| matches!(operation.outcome, Outcome::Failed)),
            writes_unknown: count(|operation| matches!(operation.outcome, Outcome::Unknown)),
            reads: count(|operation| matches!(operation.input, KvInput::Get { .. })),
        }
    }
}

#[test]
fn histories_under_sigkill_and_restart_are_linearizable() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("seed={seed} (KVAPP_LINEARIZABLE_SEED sets another)");
    let mut options = ClusterOptions::new(NODES);
    options.request_timeout_ms = REQUEST_TIMEOUT_MS;
    let mut cluster = Cluster::start(BINARY, options);
    cluster.wait_for_leader(WAIT);
    let clock = Clock {
        origin: Instant::now(),
    };
    let shared = Arc::new(Shared {
        down: AtomicU64::new(0),
        next_client: AtomicU64::new(0),
    });
    let Workload {
        mut operations,
        answers,
        kills,
    } = run_workload(&mut cluster, seed, &shared, clock);
    let counts = Counts::of(&operations);

    // Every node is back (the chaos restarts each one it kills) and serves the same map.
    let running = cluster.running();
    assert_eq!(running.len(), NODES as usize, "only {running:?} run");
    cluster.wait_for_leader(WAIT);
    let final_reads = final_reads(&cluster, &shared, clock, &mut operations);

    let mut history = History::new();
    for operation in operations {
        history
            .push(operation)
            .expect("times come from one monotonic clock");
    }
    let model = KvModel::new();
    let check_started = Instant::now();
    let report = check_with(
        &history,
        &model,
        Budget::steps(CHECK_STEPS_MAX),
        Partitioning::PerPartition,
    );
    let check_time = check_started.elapsed();
    eprintln!(
        "{} operations by {} clients ({counts} by the clients under chaos); answers {answers:?}",
        history.len(),
        shared.next_client.load(Ordering::SeqCst)
    );
    eprintln!("{} kills: {}", kills.len(), describe_kills(&kills));
    eprintln!(
        "check: {} steps in {check_time:?}; test took {:?}",
        report.steps,
        started.elapsed()
    );
    assert_linearizable(&cluster, &history, &model, &report, seed);
    if let Err(why) = final_reads {
        let directory = keep_artifacts(&cluster, &history, &model, &report.result, seed);
        panic!(
            "{why}\nthe history up to then is linearizable; it, check.html and the node logs are \
             in {}",
            directory.display()
        );
    }

    // Not vacuous: enough happened, and enough went wrong, for the verdict to mean something.
    assert!(counts.writes_ok >= WRITES_OK_MIN, "{counts}");
    assert!(counts.reads >= READS_MIN, "{counts}");
    assert!(kills.len() >= KILLS_MIN, "only {} kills", kills.len());
}

/// The log reads back as the history it was written from: same operations, same real-time
/// order, also when times tie (concurrent operations, and a client that invokes again in the
/// microsecond its previous operation returned).
#[test]
fn porcupine_log_reads_back_as_the_same_history() {
    let put = |key: &str, value: &str| KvInput::Put {
        key: key.to_string(),
        value: value.to_string(),
    };
    let get = |key: &str| KvInput::Get {
        key: key.to_string(),
    };
    let done = Outcome::Ok(KvOutput::Done);
    let read = |value: Option<&str>| Outcome::Ok(KvOutput::Value(value.map(str::to_string)));
    let operations = [
        (0, 10, Some(20), put("a", "x"), done.clone()),
        (1, 20, Some(30), get("a"), read(Some("x"))),
        (0, 20, Some(20), get("a"), read(Some("x"))),
        (0, 20, Some(25), put("a", "y"), Outcome::Failed),
        (2, 15, None, put("b", "z"), Outcome::Unknown),
        (3, 30, Some(40), get("b"), read(None)),
    ];
    let mut history = History::new();
    for (client, invoke_time, return_time, input, outcome) in operations {
        history
            .push(Operation {
                client: ClientId(client),
                invoke_time,
                return_time,
                input,
                outcome,
            })
            .unwrap();
    }
    let log = porcupine_log(&history);
    let read_back = simulator::checker::porcupine_kv::parse(&log).unwrap_or_else(|error| {
        panic!("{error}\n{log}");
    });
    let key = |operation: &KvOperation| (operation.client, operation.invoke_time);
    let mut written: Vec<&KvOperation> = history.operations().iter().collect();
    let mut parsed: Vec<&KvOperation> = read_back.operations().iter().collect();
    written.sort_by_key(|operation| key(operation));
    parsed.sort_by_key(|operation| key(operation));
    assert_eq!(written.len(), parsed.len(), "{log}");
    let precedes = |a: &KvOperation, b: &KvOperation| {
        a.return_time
            .is_some_and(|return_time| return_time < b.invoke_time)
    };
    for (index, (before, after)) in written.iter().zip(&parsed).enumerate() {
        assert_eq!(
            (before.client, &before.input, &before.outcome),
            (after.client, &after.input, &after.outcome),
            "{log}"
        );
        assert_eq!(before.return_time.is_none(), after.return_time.is_none());
        for (other_before, other_after) in written.iter().zip(&parsed) {
            let (order, read_back_order) =
                (precedes(before, other_before), precedes(after, other_after));
            // A client's operations at one time are one after the other in the log, which is
            // what really happened; between clients the order is kept exactly.
            let kept = if before.client == other_before.client {
                read_back_order || !order
            } else {
                read_back_order == order
            };
            assert!(kept, "real-time order of operation {index}\n{log}");
        }
    }
}
