//! The real server: one [`Node`] behind raftexample's HTTP API, talking to its peers over TCP.
//!
//! # Threads
//!
//! ```text
//!  HTTP clients ──> tiny_http ──> http-N workers ──┐ Event::Client + reply channel
//!                                                  v
//!  peers ──TCP──> peer-accept ──> peer-read ──> inbox (bounded) ──> node thread (owns Node)
//!                                                                     │ process_ready:
//!  peers <──TCP── peer-send-ID <── bounded queue per peer <── send ───┘ persist, send, apply
//! ```
//!
//! - The **node thread** (the caller of [`run`]) alone owns the [`Node`]. It waits on the inbox
//!   for at most about a tick, handles what arrived, then calls `poll_timers` and
//!   `process_ready` (which fsyncs before anything is sent or answered) and routes each
//!   completion to the worker waiting for it (`node_loop.rs`).
//! - **HTTP workers** parse a request ([`http_api`]), pass it to the node thread with a
//!   one-shot reply channel and wait for the answer (bounded by the request timeout).
//! - **Peer threads** ([`tcp_transport`]): one acceptor, a reader per inbound connection, and a
//!   sender per peer behind a bounded queue, reconnecting with backoff.
//!
//! # Membership
//!
//! The `--cluster` list gives the founding members' addresses by id; a node added later is
//! reached at the URL it was added with (the conf-change context, see [`Node::members`]), and
//! the transport follows each membership change. A node that sees itself removed from the
//! configuration answers what is still open, lingers a moment so that its last messages leave,
//! and shuts down, as raftexample's nodes do. Node ids are not reused after a removal.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use raft::NodeId;

use crate::clock::SystemClock;
use crate::disk::StdDisk;
use crate::node::{Node, NodeConfig, NodeError, ReadMode};

pub mod client_ids;
pub mod frame;
pub mod http_api;
mod node_loop;
pub mod peer_url;
pub mod tcp_transport;

use client_ids::{ClientIds, NODE_ID_MAX};
use http_api::HttpContext;
use node_loop::{Event, LoopEnd, LoopSettings, NodeLoop, NodeStatus};
use peer_url::PeerUrl;
use tcp_transport::TcpTransport;

/// Events waiting for the node thread; senders block when it is full.
const INBOX_CAPACITY: usize = 4096;

/// How long a worker waits beyond the request timeout before answering 504 by itself.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// How long a removed node keeps its sender threads running before the process ends.
const LINGER: Duration = Duration::from_millis(300);

/// How long shutdown waits for the HTTP workers to finish their responses.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings of the server, from the command line.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This node's id: its 1-based position in `cluster`.
    pub id: NodeId,
    /// Peer URLs by node id order; this node listens for peers on its own.
    pub cluster: Vec<PeerUrl>,
    /// Start outside the cluster and wait to be added (`POST /ID` on a member).
    pub join: bool,
    /// Where the HTTP API listens (`HOST:PORT`).
    pub http_address: String,
    /// The node's directory of WAL segments and snapshot files.
    pub data_dir: PathBuf,
    /// Milliseconds per Raft tick; an election takes about ten.
    pub tick_interval_ms: u64,
    /// How long a request may wait for its commit before it is answered 504.
    pub request_timeout_ms: u64,
    /// Entries applied between snapshots.
    pub snapshot_count: u64,
    /// HTTP worker threads: the number of requests served at once.
    pub http_threads: usize,
    /// How linearizable reads are confirmed.
    pub read_mode: ReadMode,
}

impl ServerConfig {
    /// Defaults for node `id` of `cluster`, serving HTTP on `http_address`.
    pub fn new(id: NodeId, cluster: Vec<PeerUrl>, http_address: String) -> ServerConfig {
        ServerConfig {
            id,
            cluster,
            join: false,
            http_address,
            data_dir: PathBuf::from(format!("kvapp-{id}")),
            tick_interval_ms: 100,
            request_timeout_ms: 5_000,
            snapshot_count: 10_000,
            http_threads: 16,
            read_mode: ReadMode::Safe,
        }
    }

    fn validate(&self) -> Result<&PeerUrl, ServerError> {
        let refuse = |reason: String| Err(ServerError::Config(reason));
        if !(1..=NODE_ID_MAX).contains(&self.id) {
            return refuse(format!("--id {} is not in 1..={NODE_ID_MAX}", self.id));
        }
        let Some(own_url) = usize::try_from(self.id - 1)
            .ok()
            .and_then(|index| self.cluster.get(index))
        else {
            return refuse(format!(
                "--id {} has no URL in --cluster, which lists {} nodes",
                self.id,
                self.cluster.len()
            ));
        };
        for (index, url) in self.cluster.iter().enumerate() {
            if self.cluster[..index].contains(url) {
                return refuse(format!("--cluster lists {url} twice"));
            }
        }
        if self.tick_interval_ms == 0 || self.request_timeout_ms < self.tick_interval_ms {
            return refuse("the tick must be positive and shorter than the request timeout".into());
        }
        if self.snapshot_count == 0 || self.http_threads == 0 {
            return refuse("the snapshot count and the HTTP threads must be positive".into());
        }
        Ok(own_url)
    }

    fn node_config(&self) -> NodeConfig {
        let peers = if self.join {
            Vec::new()
        } else {
            (1..=self.cluster.len() as NodeId).collect()
        };
        let mut config = NodeConfig::new(self.id, peers);
        config.join = self.join;
        config.tick_interval_ms = self.tick_interval_ms;
        config.request_timeout_ms = self.request_timeout_ms;
        config.snapshot_count = self.snapshot_count;
        config.read_mode = self.read_mode;
        config.snapshot_catch_up_entries =
            config.snapshot_catch_up_entries.min(self.snapshot_count);
        config
    }
}

/// Why the server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The settings are inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The node failed (its storage); the process must stop.
    #[error("node: {0}")]
    Node(#[from] NodeError),
    /// The HTTP server could not start.
    #[error("http: {0}")]
    Http(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// Runs the server until this node is removed from the cluster (`Ok`) or fails (`Err`).
pub fn run(config: ServerConfig) -> Result<(), ServerError> {
    let own_url = config.validate()?.clone();
    let data_dir = config.data_dir.display().to_string();
    let mut disk = StdDisk::open(&config.data_dir)
        .map_err(io_error(format!("opening the data directory {data_dir}")))?;
    let incarnation = client_ids::next_incarnation(&mut disk)
        .map_err(io_error(format!("recording the run number in {data_dir}")))?;
    let peer_listener = TcpListener::bind(own_url.socket_address())
        .map_err(io_error(format!("listening for peers on {own_url}")))?;
    let http = tiny_http::Server::http(&config.http_address).map_err(|error| {
        ServerError::Http(format!("listening on {}: {error}", config.http_address))
    })?;
    let http = Arc::new(http);
    let clock = SystemClock::new();
    let node = Node::open(config.node_config(), disk, TcpTransport::new(), clock)?;

    let (inbox_sender, inbox) = mpsc::sync_channel(INBOX_CAPACITY);
    let peer_inbox = inbox_sender.clone();
    tcp_transport::spawn_listener(peer_listener, move |bytes| {
        peer_inbox.send(Event::Peer(bytes)).is_ok()
    })
    .map_err(io_error("starting the peer listener"))?;
    let status = Arc::new(NodeStatus::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let context = Arc::new(HttpContext {
        node_id: config.id,
        inbox: inbox_sender,
        status: status.clone(),
        answer_timeout: Duration::from_millis(config.request_timeout_ms) + ANSWER_GRACE,
        stopping: stopping.clone(),
    });
    let mut workers = Vec::with_capacity(config.http_threads);
    for index in 0..config.http_threads {
        let (http, context) = (http.clone(), context.clone());
        let worker = thread::Builder::new()
            .name(format!("http-{index}"))
            .spawn(move || http_api::serve(&http, &context))
            .map_err(io_error("starting an HTTP worker"))?;
        workers.push(worker);
    }
    drop(context);
    tracing::info!(
        id = config.id,
        raft = %own_url,
        http = %config.http_address,
        data_dir,
        incarnation,
        join = config.join,
        "kvapp serving"
    );

    let settings = LoopSettings {
        cluster: config.cluster.clone(),
        client_ids: ClientIds::new(config.id, incarnation),
        tick_interval_ms: config.tick_interval_ms,
        request_timeout_ms: config.request_timeout_ms,
    };
    let mut node_loop = NodeLoop::new(node, clock, inbox, status, settings);
    let end = node_loop.run();
    let reason = match &end {
        Ok(LoopEnd::Removed) => {
            tracing::info!("this node was removed from the cluster; shutting down");
            "this node was removed from the cluster"
        }
        Ok(LoopEnd::InboxClosed) => "the server is stopping",
        Err(error) => {
            tracing::error!(%error, "the node failed; shutting down");
            "the node failed"
        }
    };
    node_loop.abandon_requests(reason);
    // The senders may still hold the commit of this node's own removal for its peers.
    thread::sleep(LINGER);
    drop(node_loop);
    stop_workers(&http, &stopping, workers);
    end.map(|_| ()).map_err(ServerError::Node)
}

/// Stops the HTTP workers, waiting a bounded time for responses in progress.
fn stop_workers(
    http: &tiny_http::Server,
    stopping: &AtomicBool,
    workers: Vec<thread::JoinHandle<()>>,
) {
    stopping.store(true, Ordering::SeqCst);
    for _ in &workers {
        http.unblock();
    }
    let deadline = Instant::now() + WORKER_STOP_TIMEOUT;
    while workers.iter().any(|worker| !worker.is_finished()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}
