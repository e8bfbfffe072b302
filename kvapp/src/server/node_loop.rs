//! The node thread: the only owner of the [`Node`]. It waits on one inbox for HTTP requests and
//! peer messages (at most about a tick), then ticks, persists, sends and applies through
//! [`Node::process_ready`], and routes each completion back to the HTTP worker that waits for
//! it.
//!
//! # Writes and their outcomes
//!
//! A PUT borrows a client slot (see [`super::client_ids`]) and is submitted as a command with
//! that `(client id, sequence)`. When the node reports the outcome unknown (a leader change
//! while it was in flight), the same command is submitted again on the next tick, and again
//! while the request's deadline allows: the store applies it at most once. From then on a
//! "certainly failed" outcome of a later attempt no longer proves anything about the earlier
//! one, so such a write ends as 504 (unknown) at its deadline, never as 503.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use raft::{ConfChange, NodeId};

use super::client_ids::{self, ClientIds};
use super::http_api::{Answer, ApiRequest};
use super::peer_url::PeerUrl;
use super::tcp_transport::TcpTransport;
use crate::clock::{Clock, SystemClock};
use crate::disk::StdDisk;
use crate::node::{Completion, Node, NodeError, Outcome, RequestId};
use crate::store::{Command, Operation, Reply};

/// The node as the server runs it.
pub type ServerNode = Node<StdDisk, TcpTransport, SystemClock>;

/// Events handled per wake-up before the node persists and sends, so that a burst of requests
/// shares one fsync while peers still hear from the node at least about once a tick.
const EVENTS_PER_ROUND_MAX: usize = 256;

/// How long to wait before submitting a close of client sessions again, after an attempt
/// failed (typically: no leader yet).
const CLOSE_RETRY_MS: u64 = 1_000;

/// What reaches the node thread.
pub(crate) enum Event {
    /// An HTTP request and where to send its answer.
    Client {
        request: ApiRequest,
        reply: Sender<Answer>,
    },
    /// A frame from a peer (an encoded Raft message).
    Peer(Vec<u8>),
}

/// What the node thread publishes for the HTTP workers.
#[derive(Debug, Default)]
pub struct NodeStatus {
    leader: AtomicU64,
}

impl NodeStatus {
    /// The leader the node knows of, 0 for none.
    pub fn leader(&self) -> NodeId {
        self.leader.load(Ordering::Relaxed)
    }
}

/// Why the node loop ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoopEnd {
    /// This node was removed from the cluster.
    Removed,
    /// Nothing can send to the node any more.
    InboxClosed,
}

/// A request waiting for its completion.
struct Waiter {
    reply: Sender<Answer>,
    deadline_ms: u64,
    kind: WaiterKind,
}

enum WaiterKind {
    /// `uncertain`: an earlier attempt may still take effect.
    Write {
        command: Command,
        uncertain: bool,
    },
    Read,
    ConfChange,
}

pub(crate) struct NodeLoop {
    node: ServerNode,
    clock: SystemClock,
    inbox: Receiver<Event>,
    status: std::sync::Arc<NodeStatus>,
    cluster: Vec<PeerUrl>,
    client_ids: ClientIds,
    tick_interval_ms: u64,
    request_timeout_ms: u64,
    pending: BTreeMap<RequestId, Waiter>,
    /// Writes to submit again, each with the time to do it.
    retries: Vec<(u64, Waiter)>,
    /// The membership the transport was last set up from.
    peers_set_from: Option<BTreeMap<NodeId, Vec<u8>>>,
    /// Closes of client sessions not applied yet: this node's earlier runs', and those of
    /// nodes it saw removed (see [`super::client_ids`]).
    closes: Vec<Close>,
}

/// A close of client sessions this node submits until it is applied (it is idempotent).
struct Close {
    command: Command,
    /// Whose sessions, for the log.
    whose: String,
    state: CloseState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CloseState {
    /// To submit at this time.
    Due { at_ms: u64 },
    /// Submitted; waiting for the outcome of this request.
    Submitted { request: RequestId },
}

/// The settings of a [`NodeLoop`] beyond the node itself.
pub(crate) struct LoopSettings {
    pub(crate) cluster: Vec<PeerUrl>,
    pub(crate) client_ids: ClientIds,
    pub(crate) tick_interval_ms: u64,
    pub(crate) request_timeout_ms: u64,
}

impl NodeLoop {
    pub(crate) fn new(
        node: ServerNode,
        clock: SystemClock,
        inbox: Receiver<Event>,
        status: std::sync::Arc<NodeStatus>,
        settings: LoopSettings,
    ) -> NodeLoop {
        let closes = settings
            .client_ids
            .close_earlier_runs()
            .map(|command| Close {
                command,
                whose: "this node's earlier runs".to_string(),
                state: CloseState::Due { at_ms: 0 },
            })
            .into_iter()
            .collect();
        NodeLoop {
            closes,
            node,
            clock,
            inbox,
            status,
            cluster: settings.cluster,
            client_ids: settings.client_ids,
            tick_interval_ms: settings.tick_interval_ms,
            request_timeout_ms: settings.request_timeout_ms,
            pending: BTreeMap::new(),
            retries: Vec::new(),
            peers_set_from: None,
        }
    }

    /// Runs until the node is removed or fails; a storage error is fatal.
    pub(crate) fn run(&mut self) -> Result<LoopEnd, NodeError> {
        loop {
            self.node.poll_timers();
            self.submit_due_retries();
            self.submit_due_closes();
            self.node.process_ready()?;
            self.route_completions();
            self.expire_waiters();
            self.publish_status();
            self.refresh_peers();
            for peer in self.node.transport_mut().take_unreachable() {
                self.node.report_unreachable(peer);
            }
            if self.removed() {
                return Ok(LoopEnd::Removed);
            }
            if !self.wait_and_handle_events() {
                return Ok(LoopEnd::InboxClosed);
            }
        }
    }

    /// Answers every open request as unavailable; for the end of the loop.
    pub(crate) fn abandon_requests(&mut self, reason: &str) {
        let waiters = std::mem::take(&mut self.pending).into_values().chain(
            std::mem::take(&mut self.retries)
                .into_iter()
                .map(|(_, w)| w),
        );
        for waiter in waiters {
            let answer = match waiter.kind {
                WaiterKind::Write {
                    uncertain: true, ..
                } => Answer::TimedOut(reason.to_string()),
                WaiterKind::Write { .. } | WaiterKind::Read | WaiterKind::ConfChange => {
                    Answer::Unavailable(reason.to_string())
                }
            };
            let _ = waiter.reply.send(answer);
        }
    }

    /// Waits up to the next timer for an event, then handles it and what else is queued.
    /// Returns false when the inbox is closed.
    fn wait_and_handle_events(&mut self) -> bool {
        let now = self.clock.now_ms();
        let next_retry = self.retries.iter().map(|&(due, _)| due).min();
        let wake_ms = next_retry.map_or(self.node.next_timer_ms(), |due| {
            due.min(self.node.next_timer_ms())
        });
        let timeout_ms = wake_ms.saturating_sub(now).min(self.tick_interval_ms);
        match self.inbox.recv_timeout(Duration::from_millis(timeout_ms)) {
            Ok(event) => self.handle(event),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        for _ in 1..EVENTS_PER_ROUND_MAX {
            match self.inbox.try_recv() {
                Ok(event) => self.handle(event),
                Err(_) => break,
            }
        }
        true
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Peer(bytes) => {
                if let Err(error) = self.node.receive(&bytes) {
                    tracing::debug!(%error, "peer message refused");
                }
            }
            Event::Client { request, reply } => self.accept(request, reply),
        }
    }

    fn accept(&mut self, request: ApiRequest, reply: Sender<Answer>) {
        let deadline_ms = self.clock.now_ms() + self.request_timeout_ms;
        let (request_id, kind) = match request {
            ApiRequest::Put { key, value } => {
                let Some((client_id, sequence)) = self.client_ids.acquire() else {
                    let _ = reply.send(Answer::Unavailable("too many writes open".to_string()));
                    return;
                };
                let command = Command {
                    client_id,
                    sequence,
                    operation: Operation::Put { key, value },
                };
                let request_id = self.node.submit(command.clone());
                let kind = WaiterKind::Write {
                    command,
                    uncertain: false,
                };
                (request_id, kind)
            }
            ApiRequest::Get { key, local } => (self.node.read(key, local), WaiterKind::Read),
            ApiRequest::AddNode { id, url } => {
                if self.node.members().contains_key(&id) {
                    let _ = reply.send(Answer::AlreadyMember(id));
                    return;
                }
                let mut change = ConfChange::add_voter(id);
                change.context = url.to_string().into_bytes();
                (
                    self.node.propose_conf_change(change),
                    WaiterKind::ConfChange,
                )
            }
            ApiRequest::RemoveNode { id } => {
                if !self.node.members().contains_key(&id) {
                    let _ = reply.send(Answer::UnknownMember(id));
                    return;
                }
                (
                    self.node.propose_conf_change(ConfChange::remove_node(id)),
                    WaiterKind::ConfChange,
                )
            }
        };
        self.pending.insert(
            request_id,
            Waiter {
                reply,
                deadline_ms,
                kind,
            },
        );
    }

    fn route_completions(&mut self) {
        for Completion {
            request, outcome, ..
        } in self.node.take_completions()
        {
            let submitted = CloseState::Submitted { request };
            if let Some(position) = self
                .closes
                .iter()
                .position(|close| close.state == submitted)
            {
                self.conclude_close(position, outcome);
                continue;
            }
            // Absent when the request already ended at its deadline.
            if let Some(waiter) = self.pending.remove(&request) {
                self.conclude(waiter, outcome);
            }
        }
    }

    fn submit_due_closes(&mut self) {
        let now = self.clock.now_ms();
        for close in &mut self.closes {
            if matches!(close.state, CloseState::Due { at_ms } if at_ms <= now) {
                let request = self.node.submit(close.command.clone());
                close.state = CloseState::Submitted { request };
            }
        }
    }

    fn conclude_close(&mut self, position: usize, outcome: Outcome) {
        let close = &mut self.closes[position];
        match outcome {
            Outcome::Applied(Reply::SessionsClosed { ended }) => {
                tracing::info!(ended, "closed the client sessions of {}", close.whose);
                self.closes.remove(position);
            }
            Outcome::Failed(reason) | Outcome::Unknown(reason) => {
                tracing::debug!(%reason, whose = %close.whose, "closing sessions; will try again");
                close.state = CloseState::Due {
                    at_ms: self.clock.now_ms() + CLOSE_RETRY_MS,
                };
            }
            outcome @ (Outcome::Applied(_) | Outcome::ConfChanged(_)) => {
                unexpected(&outcome);
                self.closes.remove(position);
            }
        }
    }

    /// Answers a request from its outcome, or schedules another attempt.
    fn conclude(&mut self, waiter: Waiter, outcome: Outcome) {
        let now = self.clock.now_ms();
        let answer = match (&waiter.kind, outcome) {
            (WaiterKind::Write { .. }, Outcome::Applied(Reply::Written { .. })) => Answer::Done,
            // Not applied by this attempt, and never will be: its client id is closed. Either
            // this node was removed (and is finishing its removal), or a later run of it closed
            // this run's ids, which happens only when the data directory (and its run number)
            // went back in time.
            (WaiterKind::Write { uncertain, .. }, Outcome::Applied(Reply::SessionClosed)) => {
                tracing::error!(
                    "a write's client id is closed: this node was removed, or a later run of it \
                     closed this run's ids (was the data directory replaced by an older copy?)"
                );
                let reason = "this server's client ids are closed: the node was removed, or a \
                              later run of the same node id closed them"
                    .to_string();
                if *uncertain {
                    Answer::TimedOut(reason)
                } else {
                    Answer::Unavailable(reason)
                }
            }
            // A stale reply means the (client id, sequence) was used before: the write was not
            // applied, and answering "done" would lose it.
            (
                WaiterKind::Write { .. },
                Outcome::Applied(
                    reply @ (Reply::Stale { .. }
                    | Reply::SessionsClosed { .. }
                    | Reply::Value { .. }
                    | Reply::CompareAndSet { .. }),
                ),
            ) => unexpected(&reply),
            (WaiterKind::Write { uncertain, .. }, Outcome::Failed(reason)) if !uncertain => {
                Answer::Unavailable(reason)
            }
            (WaiterKind::Write { .. }, Outcome::Failed(reason) | Outcome::Unknown(reason)) => {
                return self.retry_or_give_up(waiter, reason);
            }
            (WaiterKind::Read, Outcome::Applied(reply)) => match reply {
                Reply::Value { value } => Answer::Value(value),
                Reply::Written { .. }
                | Reply::CompareAndSet { .. }
                | Reply::Stale { .. }
                | Reply::SessionsClosed { .. }
                | Reply::SessionClosed => unexpected(&reply),
            },
            // The node fails a read at its deadline; the request's deadline is the same.
            (WaiterKind::Read, Outcome::Failed(reason)) if now >= waiter.deadline_ms => {
                Answer::TimedOut(reason)
            }
            (WaiterKind::Read | WaiterKind::ConfChange, Outcome::Failed(reason)) => {
                Answer::Unavailable(reason)
            }
            (WaiterKind::Read | WaiterKind::ConfChange, Outcome::Unknown(reason)) => {
                Answer::TimedOut(reason)
            }
            (WaiterKind::ConfChange, Outcome::ConfChanged(conf_state)) => {
                tracing::info!(?conf_state, "membership changed");
                Answer::Done
            }
            (WaiterKind::Write { .. } | WaiterKind::Read, outcome @ Outcome::ConfChanged(_))
            | (WaiterKind::ConfChange, outcome @ Outcome::Applied(_)) => unexpected(&outcome),
        };
        self.answer(waiter, answer);
    }

    fn retry_or_give_up(&mut self, mut waiter: Waiter, reason: String) {
        let WaiterKind::Write { uncertain, .. } = &mut waiter.kind else {
            unreachable!("only writes are retried");
        };
        *uncertain = true;
        let due_ms = self.clock.now_ms() + self.tick_interval_ms;
        if due_ms < waiter.deadline_ms {
            tracing::debug!(%reason, "write outcome unknown; submitting it again");
            self.retries.push((due_ms, waiter));
        } else {
            self.answer(waiter, Answer::TimedOut(reason));
        }
    }

    fn submit_due_retries(&mut self) {
        let now = self.clock.now_ms();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|&(due_ms, _)| due_ms <= now);
        self.retries = later;
        for (_, waiter) in due {
            let WaiterKind::Write { command, .. } = &waiter.kind else {
                unreachable!("only writes are retried");
            };
            let request_id = self.node.submit(command.clone());
            self.pending.insert(request_id, waiter);
        }
    }

    /// Ends requests past their deadline (the node itself may still finish them).
    fn expire_waiters(&mut self) {
        let now = self.clock.now_ms();
        let overdue: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(_, waiter)| waiter.deadline_ms <= now)
            .map(|(&request, _)| request)
            .collect();
        for request in overdue {
            if let Some(waiter) = self.pending.remove(&request) {
                let reason = "no outcome before the deadline".to_string();
                self.answer(waiter, Answer::TimedOut(reason));
            }
        }
    }

    fn answer(&mut self, waiter: Waiter, answer: Answer) {
        if let WaiterKind::Write { command, .. } = &waiter.kind {
            self.client_ids.release(command.client_id, command.sequence);
        }
        // The worker may have given up waiting; then nobody needs the answer.
        let _ = waiter.reply.send(answer);
    }

    fn publish_status(&mut self) {
        let leader = self.node.leader_id();
        let previous = self.status.leader.swap(leader, Ordering::Relaxed);
        if previous != leader {
            let term = self.node.raw().raft.term;
            if leader == 0 {
                tracing::info!(term, "no leader");
            } else {
                tracing::info!(leader, term, "leader elected");
            }
        }
    }

    /// Points the transport at the current members once membership changed, and queues the
    /// close of every client id of a node it saw removed.
    fn refresh_peers(&mut self) {
        let members = self.node.members();
        if self.peers_set_from.as_ref() == Some(members) {
            return;
        }
        let addresses = peer_addresses(self.node.id(), &self.cluster, members);
        // Node ids are not reused, so a removed node's clients are gone for good. Every member
        // that sees the removal applied closes them (the copies are harmless), so that the
        // close does not hang on one node staying up; the removed node itself leaves.
        let this = self.node.id();
        let removed: Vec<NodeId> = self
            .peers_set_from
            .iter()
            .flat_map(BTreeMap::keys)
            .filter(|&&id| id != this && !members.contains_key(&id))
            .copied()
            .collect();
        self.peers_set_from = Some(members.clone());
        self.node.transport_mut().set_peers(&addresses);
        let now = self.clock.now_ms();
        self.closes.extend(removed.into_iter().map(|id| Close {
            command: client_ids::close_node(id),
            whose: format!("removed node {id}"),
            state: CloseState::Due { at_ms: now },
        }));
    }

    /// True once this node, removed from the cluster, may stop: the remaining members know
    /// that the removal is committed ([`Node::may_leave`]). Until then it keeps taking part in
    /// Raft.
    fn removed(&mut self) -> bool {
        self.node.may_leave()
    }
}

fn unexpected(outcome: &dyn std::fmt::Debug) -> Answer {
    tracing::error!(
        ?outcome,
        "a request ended with an outcome of another kind of request"
    );
    Answer::Unavailable("internal error: unexpected outcome".to_string())
}

/// Where to reach each other member: the URL the member was added with (its conf-change
/// context), else its `--cluster` entry (the founding members are added with no context).
/// Before the node knows any membership (a joining node), every `--cluster` entry.
pub(crate) fn peer_addresses(
    this: NodeId,
    cluster: &[PeerUrl],
    members: &BTreeMap<NodeId, Vec<u8>>,
) -> BTreeMap<NodeId, String> {
    let from_cluster = |id: NodeId| {
        usize::try_from(id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|index| cluster.get(index))
            .cloned()
    };
    if members.is_empty() {
        return (1..=cluster.len() as NodeId)
            .filter(|&id| id != this)
            .filter_map(|id| from_cluster(id).map(|url| (id, url.socket_address())))
            .collect();
    }
    let mut addresses = BTreeMap::new();
    for (&id, context) in members {
        if id == this {
            continue;
        }
        let from_context = std::str::from_utf8(context)
            .ok()
            .and_then(|text| text.parse::<PeerUrl>().ok());
        match from_context.or_else(|| from_cluster(id)) {
            Some(url) => {
                addresses.insert(id, url.socket_address());
            }
            None => tracing::warn!(peer = id, "no address for member; it is unreachable"),
        }
    }
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::peer_url::parse_cluster;

    #[test]
    fn addresses_come_from_contexts_then_from_the_cluster_list() {
        let cluster =
            parse_cluster("http://127.0.0.1:1001,http://127.0.0.1:1002,http://127.0.0.1:1003")
                .unwrap();
        let none = BTreeMap::new();
        assert_eq!(
            peer_addresses(1, &cluster, &none),
            BTreeMap::from([
                (2, "127.0.0.1:1002".to_string()),
                (3, "127.0.0.1:1003".to_string())
            ])
        );
        let members = BTreeMap::from([
            (1, Vec::new()),
            (2, Vec::new()),
            (4, b"http://127.0.0.1:1004".to_vec()),
            (5, b"not a url".to_vec()),
        ]);
        assert_eq!(
            peer_addresses(1, &cluster, &members),
            BTreeMap::from([
                (2, "127.0.0.1:1002".to_string()),
                (4, "127.0.0.1:1004".to_string())
            ])
        );
    }
}
