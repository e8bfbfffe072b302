//! Clients: each has at most one operation outstanding, retries it with the same
//! (client id, sequence) until it learns the outcome, and only then moves on. An operation's
//! outcome combines its attempts: ok if one was applied; failed only if every attempt was
//! certainly refused; otherwise unknown.
//!
//! A client may also close its session (`options.session_close_probability`): it sends a
//! `CloseSessions` command over its own client id, as one more operation, and once that is
//! applied goes on under a fresh client id (`client + sessions closed × client count`), with
//! its sequence numbers still growing. Attempts of its earlier commands still travelling then
//! meet a closed session and are refused.
//!
//! The workload decides; the world executes. [`Workload::wake`] returns the attempt to make
//! (which node, which request), and the world reports back with [`Workload::on_outcome`] or
//! [`Workload::on_timeout`].

use kvapp::node::Outcome;
use kvapp::store::{ClientId, Command, Operation, Reply};
use raft::NodeId;
use std::collections::{BTreeMap, VecDeque};

use crate::history::{History, HistoryOperation, HistoryOutcome};
use crate::options::WorkloadOptions;
use crate::random::SimRng;

/// What a client sends to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A command through the log.
    Command(Command),
    /// A linearizable read through ReadIndex.
    Read {
        /// The key.
        key: String,
    },
}

/// One attempt for the world to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The client.
    pub client: u64,
    /// Numbers the client's attempts, so that late answers to old ones are ignored.
    pub attempt: u64,
    /// The node to ask.
    pub node: NodeId,
    /// What to ask.
    pub request: Request,
}

/// An operation a schedule gives a client, started when the client is next free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// What to do.
    pub operation: Operation,
    /// For a get: through the log rather than ReadIndex.
    pub through_log: bool,
    /// The node the first attempt goes to (otherwise the client chooses as usual).
    pub node: Option<NodeId>,
}

#[derive(Clone, Debug)]
struct Current {
    history: usize,
    request: Request,
    /// An attempt is in flight (not yet answered or timed out).
    open: bool,
    /// Some attempt may have taken effect.
    uncertain: bool,
}

#[derive(Clone, Debug, Default)]
struct Client {
    /// Sessions this client has closed; its client id is `client + sessions × client count`.
    sessions_closed: u64,
    sequence: u64,
    attempt: u64,
    current: Option<Current>,
    leader_hint: Option<NodeId>,
    /// Operations still to start in the liveness phase.
    final_operations: u64,
    /// The last value this client saw for each key, for compare-and-set.
    observed: BTreeMap<String, Option<String>>,
    /// Scheduled operations not yet started, oldest first.
    scripted: VecDeque<Scripted>,
}

/// What the client does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wake the client at this time.
    WakeAt(u64),
    /// Nothing more to do.
    Idle,
    /// The answer was for an attempt that is no longer current.
    Ignored,
}

/// All clients of a run.
#[derive(Debug)]
pub struct Workload {
    options: WorkloadOptions,
    node_count: u64,
    rng: SimRng,
    clients: Vec<Client>,
    final_phase: bool,
    /// Clients draw operations of their own (otherwise they run scripted ones only, and one
    /// final write each).
    generator: bool,
    /// Until this time clients think for no time and retry at once (a burst after a leader
    /// change, see [`WorkloadOptions::leader_change_burst_ms`]).
    burst_until_ms: u64,
}

impl Workload {
    /// Clients with nothing sent yet.
    pub fn new(options: WorkloadOptions, node_count: u64, rng: SimRng) -> Workload {
        let clients = vec![Client::default(); options.client_count as usize];
        Workload {
            options,
            node_count,
            rng,
            clients,
            final_phase: false,
            generator: true,
            burst_until_ms: 0,
        }
    }

    /// Turns the clients' own operations off: they run scripted operations only (and the
    /// final write of the liveness phase).
    pub fn without_generator(mut self) -> Workload {
        self.generator = false;
        self
    }

    /// Whether clients draw operations of their own.
    pub fn has_generator(&self) -> bool {
        self.generator
    }

    /// Queues a scheduled operation for `client`, to start when it is next free (at once if
    /// it is free now and the world wakes it).
    pub fn script(&mut self, client: u64, scripted: Scripted) {
        self.clients[client as usize].scripted.push_back(scripted);
    }

    /// When each client first wakes.
    pub fn first_wakes(&mut self) -> Vec<(u64, u64)> {
        (0..self.clients.len() as u64)
            .map(|client| {
                (
                    client,
                    self.rng.exponential(self.options.think_time_ms_mean),
                )
            })
            .collect()
    }

    /// A new leader was elected at `now_ms`: with bursts on, clients hurry for a while.
    pub fn on_new_leader(&mut self, now_ms: u64) {
        if self.options.leader_change_burst_ms > 0 {
            self.burst_until_ms = now_ms + self.options.leader_change_burst_ms;
        }
    }

    /// Whether clients hurry at `now_ms`.
    fn bursting(&self, now_ms: u64) -> bool {
        now_ms < self.burst_until_ms
    }

    /// The retry delay is at least a millisecond for the same reason as the think time.
    fn retry_at(&self, now_ms: u64) -> u64 {
        if self.bursting(now_ms) {
            return now_ms + 1;
        }
        now_ms + self.options.retry_delay_ms.max(1)
    }

    /// Stops new work: each client finishes what it has and then makes one more write, so
    /// that the liveness phase sees the cluster commit.
    pub fn enter_final_phase(&mut self) -> Vec<(u64, u64)> {
        self.final_phase = true;
        let mut wakes = Vec::new();
        for (id, client) in self.clients.iter_mut().enumerate() {
            client.final_operations = 1;
            if client.current.is_none() {
                wakes.push((id as u64, 0));
            }
        }
        wakes
    }

    /// Whether every client is done (only in the final phase).
    pub fn all_done(&self) -> bool {
        self.final_phase
            && self.clients.iter().all(|client| {
                client.current.is_none()
                    && client.final_operations == 0
                    && client.scripted.is_empty()
            })
    }

    /// Clients with an operation outstanding, for liveness reports.
    pub fn outstanding(&self, history: &History) -> Vec<String> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(|(id, client)| {
                let current = client.current.as_ref()?;
                let operation = &history.operations[current.history];
                Some(format!(
                    "client {id} seq {} {:?} invoked at {} ms, {} attempts",
                    operation.sequence,
                    operation.operation,
                    operation.invoke_ms,
                    operation.attempts
                ))
            })
            .collect()
    }

    /// The client wakes: starts an operation or retries the current one.
    pub fn wake(&mut self, client: u64, now_ms: u64, history: &mut History) -> Option<Attempt> {
        let index = client as usize;
        if self.clients[index]
            .current
            .as_ref()
            .is_some_and(|current| current.open)
        {
            return None;
        }
        let mut first_node = None;
        if self.clients[index].current.is_none() {
            if let Some(scripted) = self.clients[index].scripted.pop_front() {
                first_node = scripted.node;
                self.start_scripted(client, scripted, now_ms, history);
            } else {
                if self.final_phase {
                    if self.clients[index].final_operations == 0 {
                        return None;
                    }
                    self.clients[index].final_operations -= 1;
                } else if !self.generator {
                    return None;
                }
                self.start_operation(client, now_ms, history);
            }
        }
        let node = match first_node {
            Some(node) => node,
            None => self.choose_node(client),
        };
        let state = &mut self.clients[index];
        state.attempt += 1;
        let current = state.current.as_mut().expect("an operation is current");
        current.open = true;
        history.operations[current.history].attempts += 1;
        Some(Attempt {
            client,
            attempt: state.attempt,
            node,
            request: current.request.clone(),
        })
    }

    /// The client id `client` sends its commands under now.
    pub fn client_id(&self, client: u64) -> ClientId {
        client + self.clients[client as usize].sessions_closed * self.options.client_count
    }

    fn choose_node(&mut self, client: u64) -> NodeId {
        match self.clients[client as usize].leader_hint {
            Some(leader) if self.rng.chance(self.options.leader_hint_probability) => leader,
            _ => self.rng.between(1, self.node_count),
        }
    }

    fn start_operation(&mut self, client: u64, now_ms: u64, history: &mut History) {
        let options = &self.options;
        let weights = [
            options.get_weight,
            options.put_weight,
            options.append_weight,
            options.delete_weight,
            options.compare_and_set_weight,
        ];
        let client_id = self.client_id(client);
        let sequence = self.clients[client as usize].sequence + 1;
        // Drawn only when closes are on, so that runs without them draw as they always did.
        if !self.final_phase
            && options.session_close_probability > 0.0
            && self.rng.chance(options.session_close_probability)
        {
            let operation = Operation::CloseSessions {
                first: client_id,
                last: client_id,
            };
            self.begin(client, now_ms, operation, false, history);
            return;
        }
        // `k{n}` and `{client}.{sequence}`, spelled without the formatting machinery, which
        // costs more than the rest of drawing an operation.
        let mut key = String::from("k");
        push_decimal(&mut key, self.rng.below(options.key_count.max(1)));
        let mut value = String::with_capacity(24);
        push_decimal(&mut value, client);
        value.push('.');
        push_decimal(&mut value, sequence);
        // In the final phase every client writes, to prove the cluster still commits.
        let kind = if self.final_phase {
            1
        } else {
            self.rng.weighted(&weights).unwrap_or(0)
        };
        let operation = match kind {
            0 => Operation::Get { key: key.clone() },
            1 => Operation::Put {
                key: key.clone(),
                value,
            },
            2 => Operation::Append {
                key: key.clone(),
                value: {
                    value.push(';');
                    value
                },
            },
            3 => Operation::Delete { key: key.clone() },
            _ => {
                let expected = match self.clients[client as usize].observed.get(&key) {
                    Some(seen) if self.rng.chance(0.8) => seen.clone(),
                    _ => None,
                };
                Operation::CompareAndSet {
                    key: key.clone(),
                    expected,
                    value,
                }
            }
        };
        let through_log = matches!(operation, Operation::Get { .. })
            && self.rng.chance(options.get_through_log_probability);
        self.begin(client, now_ms, operation, through_log, history);
    }

    fn start_scripted(
        &mut self,
        client: u64,
        scripted: Scripted,
        now_ms: u64,
        history: &mut History,
    ) {
        let Scripted {
            operation,
            through_log,
            ..
        } = scripted;
        let through_log = through_log && matches!(operation, Operation::Get { .. });
        self.begin(client, now_ms, operation, through_log, history);
    }

    /// Makes `operation` the client's current one under its next sequence number, and records
    /// its invocation. A get goes through ReadIndex unless `through_log`.
    fn begin(
        &mut self,
        client: u64,
        now_ms: u64,
        operation: Operation,
        through_log: bool,
        history: &mut History,
    ) {
        let client_id = self.client_id(client);
        let state = &mut self.clients[client as usize];
        state.sequence += 1;
        let sequence = state.sequence;
        let request = match &operation {
            Operation::Get { key } if !through_log => Request::Read { key: key.clone() },
            _ => Request::Command(Command {
                client_id,
                sequence,
                operation: operation.clone(),
            }),
        };
        let position = history.invoke(HistoryOperation {
            client,
            sequence,
            invoke_ms: now_ms,
            return_ms: None,
            operation,
            through_log,
            outcome: HistoryOutcome::Unknown,
            attempts: 0,
        });
        state.current = Some(Current {
            history: position,
            request,
            open: false,
            uncertain: false,
        });
    }

    /// A node answered attempt `attempt` of `client`. `leader_hint` is whom that node believes
    /// leads (zero: nobody).
    pub fn on_outcome(
        &mut self,
        client: u64,
        attempt: u64,
        outcome: &Outcome,
        leader_hint: NodeId,
        now_ms: u64,
        history: &mut History,
    ) -> Next {
        let retry_at = self.retry_at(now_ms);
        let state = &mut self.clients[client as usize];
        let Some(current) = state.current.as_mut() else {
            return Next::Ignored;
        };
        if state.attempt != attempt || !current.open {
            return Next::Ignored;
        }
        current.open = false;
        if leader_hint != 0 {
            state.leader_hint = Some(leader_hint);
        }
        match outcome {
            Outcome::Applied(reply) => {
                let position = current.history;
                state.current = None;
                let operation = &mut history.operations[position];
                operation.return_ms = Some(now_ms);
                operation.outcome = HistoryOutcome::Ok(reply.clone());
                if let (Operation::CloseSessions { .. }, Reply::SessionsClosed { .. }) =
                    (&operation.operation, reply)
                {
                    state.sessions_closed += 1;
                }
                note_observed(&mut state.observed, &operation.operation, reply);
                self.next_operation(client, now_ms)
            }
            Outcome::Failed(_) | Outcome::ConfChanged(_) => {
                state.leader_hint = (leader_hint != 0).then_some(leader_hint);
                Next::WakeAt(retry_at)
            }
            Outcome::Unknown(_) => {
                current.uncertain = true;
                Next::WakeAt(retry_at)
            }
        }
    }

    /// Attempt `attempt` of `client` got no answer in time.
    pub fn on_timeout(&mut self, client: u64, attempt: u64, now_ms: u64) -> Next {
        let state = &mut self.clients[client as usize];
        let Some(current) = state.current.as_mut() else {
            return Next::Ignored;
        };
        if state.attempt != attempt || !current.open {
            return Next::Ignored;
        }
        current.open = false;
        current.uncertain = true;
        state.leader_hint = None;
        Next::WakeAt(now_ms)
    }

    fn next_operation(&mut self, client: u64, now_ms: u64) -> Next {
        let state = &self.clients[client as usize];
        if !state.scripted.is_empty() {
            return Next::WakeAt(now_ms + 1);
        }
        if self.final_phase && state.final_operations == 0 {
            return Next::Idle;
        }
        if !self.final_phase && !self.generator {
            return Next::Idle;
        }
        // At least a millisecond: a one-node cluster answers at once, and a client that never
        // let time pass would keep the world at one instant.
        if self.bursting(now_ms) {
            return Next::WakeAt(now_ms + 1);
        }
        Next::WakeAt(now_ms + 1 + self.rng.exponential(self.options.think_time_ms_mean))
    }

    /// The run is over: operations still outstanding stay unknown, except reads, which had no
    /// effect either way and so count as failed (the checker drops them).
    pub fn finish(&mut self, history: &mut History) {
        for state in &mut self.clients {
            let Some(current) = state.current.take() else {
                continue;
            };
            let operation = &mut history.operations[current.history];
            operation.outcome = if operation.is_write() && current.uncertain {
                HistoryOutcome::Unknown
            } else if operation.is_write() && current.open {
                // The last attempt was never answered.
                HistoryOutcome::Unknown
            } else {
                HistoryOutcome::Failed
            };
        }
    }
}

fn note_observed(
    observed: &mut BTreeMap<String, Option<String>>,
    operation: &Operation,
    reply: &Reply,
) {
    let (key, value) = match (operation, reply) {
        (Operation::Get { key }, Reply::Value { value }) => (key, value.clone()),
        (Operation::Put { key, value }, Reply::Written { .. }) => (key, Some(value.clone())),
        (Operation::Append { key, value }, Reply::Written { previous }) => {
            let mut text = previous.clone().unwrap_or_default();
            text.push_str(value);
            (key, Some(text))
        }
        (Operation::Delete { key }, Reply::Written { .. }) => (key, None),
        (
            Operation::CompareAndSet { key, value, .. },
            Reply::CompareAndSet { swapped, previous },
        ) => (
            key,
            if *swapped {
                Some(value.clone())
            } else {
                previous.clone()
            },
        ),
        _ => return,
    };
    observed.insert(key.clone(), value);
}

/// Appends `value` in decimal, with `itoa` rather than `format!` (see `start_operation`).
fn push_decimal(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_the_formatter() {
        for value in [0, 7, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, value);
            assert_eq!(out, format!("x{value}"));
        }
    }

    #[test]
    fn retries_keep_the_sequence_and_outcomes_combine() {
        let options = WorkloadOptions {
            client_count: 1,
            get_weight: 0,
            put_weight: 1,
            append_weight: 0,
            delete_weight: 0,
            compare_and_set_weight: 0,
            ..WorkloadOptions::default()
        };
        let mut workload = Workload::new(options, 3, SimRng::new(1));
        let mut history = History::default();
        let first = workload.wake(0, 10, &mut history).expect("an attempt");
        assert_eq!(workload.on_timeout(0, first.attempt, 20), Next::WakeAt(20));
        let second = workload.wake(0, 20, &mut history).expect("a retry");
        assert_eq!(
            first.request, second.request,
            "a retry carries the same command"
        );
        let failed = Outcome::Failed("no leader".to_string());
        assert!(matches!(
            workload.on_outcome(0, second.attempt, &failed, 0, 30, &mut history),
            Next::WakeAt(_)
        ));
        // A late answer to the first attempt is ignored.
        let late = Outcome::Applied(Reply::Written { previous: None });
        assert_eq!(
            workload.on_outcome(0, first.attempt, &late, 0, 31, &mut history),
            Next::Ignored
        );
        workload.finish(&mut history);
        assert_eq!(history.operations.len(), 1);
        assert_eq!(
            history.operations[0].outcome,
            HistoryOutcome::Unknown,
            "a timed-out attempt may have applied"
        );
        assert_eq!(history.operations[0].attempts, 2);
    }

    #[test]
    fn an_applied_answer_ends_the_operation() {
        let mut workload = Workload::new(
            WorkloadOptions {
                client_count: 2,
                ..WorkloadOptions::default()
            },
            3,
            SimRng::new(2),
        );
        let mut history = History::default();
        let attempt = workload.wake(1, 5, &mut history).expect("an attempt");
        let reply = match &attempt.request {
            Request::Read { .. } => Reply::Value { value: None },
            Request::Command(command) => match command.operation {
                Operation::Get { .. } => Reply::Value { value: None },
                Operation::CompareAndSet { .. } => Reply::CompareAndSet {
                    swapped: false,
                    previous: None,
                },
                _ => Reply::Written { previous: None },
            },
        };
        let next = workload.on_outcome(
            1,
            attempt.attempt,
            &Outcome::Applied(reply.clone()),
            2,
            9,
            &mut history,
        );
        assert!(matches!(next, Next::WakeAt(_)));
        assert_eq!(history.operations[0].outcome, HistoryOutcome::Ok(reply));
        assert_eq!(history.operations[0].return_ms, Some(9));
        workload.enter_final_phase();
        assert!(!workload.all_done(), "each client still owes one write");
    }

    fn command_of(attempt: &Attempt) -> &Command {
        match &attempt.request {
            Request::Command(command) => command,
            Request::Read { .. } => panic!("a read: {attempt:?}"),
        }
    }

    #[test]
    fn a_client_that_closed_its_session_goes_on_under_a_new_id() {
        let options = WorkloadOptions {
            client_count: 3,
            get_weight: 0,
            session_close_probability: 1.0,
            ..WorkloadOptions::default()
        };
        let mut workload = Workload::new(options, 3, SimRng::new(3));
        let mut history = History::default();
        let close = workload.wake(2, 5, &mut history).expect("an attempt");
        let command = command_of(&close).clone();
        assert_eq!(
            command.operation,
            Operation::CloseSessions { first: 2, last: 2 },
            "its own id"
        );
        assert_eq!((command.client_id, command.sequence), (2, 1));
        // Not yet applied: a retry closes the same id, and the client id stays.
        assert_eq!(workload.on_timeout(2, close.attempt, 6), Next::WakeAt(6));
        let retry = workload.wake(2, 6, &mut history).expect("a retry");
        assert_eq!(command_of(&retry), &command);
        assert_eq!(workload.client_id(2), 2);
        let closed = Outcome::Applied(Reply::SessionsClosed { ended: 0 });
        workload.on_outcome(2, retry.attempt, &closed, 1, 7, &mut history);
        assert_eq!(workload.client_id(2), 5, "client + client count");
        assert_eq!(history.counts().sessions_closed, 1);

        // The next operation (a close again, at this probability) is under the new id, and
        // the sequence keeps growing, so values stay unique.
        let next = workload.wake(2, 8, &mut history).expect("an attempt");
        let command = command_of(&next);
        assert_eq!((command.client_id, command.sequence), (5, 2));
        assert_eq!(
            command.operation,
            Operation::CloseSessions { first: 5, last: 5 }
        );
        // Other clients are untouched, and the final phase never closes.
        assert_eq!(workload.client_id(0), 0);
        workload.on_outcome(2, next.attempt, &closed, 1, 9, &mut history);
        workload.enter_final_phase();
        let last = workload.wake(2, 10, &mut history).expect("the final write");
        let command = command_of(&last);
        assert_eq!(command.client_id, 8);
        assert!(matches!(command.operation, Operation::Put { .. }));
    }
}
