//! A cluster of real `kvapp` processes on 127.0.0.1: start, SIGKILL, restart, add nodes, and
//! talk to them over HTTP. Every wait has a deadline; dropping the cluster kills every process
//! (also when a test panics, and then the tail of each node's log is printed).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http::{self, HttpResponse};

pub type NodeId = u64;

/// How long one HTTP exchange may take in the helpers (beyond the server's own timeouts).
const HTTP_TIMEOUT_SLACK: Duration = Duration::from_secs(3);

/// How the nodes are started.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Founding members (ids 1..=size).
    pub size: u64,
    /// Founding members started by [`Cluster::start`] (the others start with [`Cluster::spawn`]).
    pub started: u64,
    pub tick_ms: u64,
    pub request_timeout_ms: u64,
    pub snapshot_count: u64,
}

impl ClusterOptions {
    /// Fast elections (20 ms ticks) for tests.
    pub fn new(size: u64) -> ClusterOptions {
        ClusterOptions {
            size,
            started: size,
            tick_ms: 20,
            request_timeout_ms: 2_000,
            snapshot_count: 10_000,
        }
    }
}

struct NodeSlot {
    peer_port: u16,
    http_port: u16,
    join: bool,
    process: Option<Child>,
}

pub struct Cluster {
    binary: PathBuf,
    directory: TempDir,
    options: ClusterOptions,
    nodes: BTreeMap<NodeId, NodeSlot>,
    /// How often [`Cluster::put_until_acknowledged`] saw each status (0: no answer).
    pub put_statuses: BTreeMap<u16, usize>,
}

impl Cluster {
    /// Starts `options.started` of the `options.size` founding members.
    pub fn start(binary: impl Into<PathBuf>, options: ClusterOptions) -> Cluster {
        let directory = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(2 * options.size as usize);
        let nodes = (1..=options.size)
            .map(|id| {
                let index = 2 * (id as usize - 1);
                let slot = NodeSlot {
                    peer_port: ports[index],
                    http_port: ports[index + 1],
                    join: false,
                    process: None,
                };
                (id, slot)
            })
            .collect();
        let mut cluster = Cluster {
            binary: binary.into(),
            directory,
            options,
            nodes,
            put_statuses: BTreeMap::new(),
        };
        for id in 1..=cluster.options.started {
            cluster.spawn(id);
        }
        cluster
    }

    /// Gives ports to a new node that will join; returns its id.
    pub fn add_joining_node(&mut self) -> NodeId {
        let id = self.nodes.keys().max().map_or(1, |max| max + 1);
        let ports = free_ports(2);
        self.nodes.insert(
            id,
            NodeSlot {
                peer_port: ports[0],
                http_port: ports[1],
                join: true,
                process: None,
            },
        );
        id
    }

    /// The peer URL of node `id`.
    pub fn peer_url(&self, id: NodeId) -> String {
        format!("http://127.0.0.1:{}", self.nodes[&id].peer_port)
    }

    /// The HTTP address of node `id`.
    pub fn http_address(&self, id: NodeId) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.nodes[&id].http_port))
    }

    /// `--cluster` for node `id`: every founding member, then joined nodes up to `id`.
    fn cluster_argument(&self, id: NodeId) -> String {
        let last = id.max(self.options.size);
        (1..=last)
            .map(|id| self.peer_url(id))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn log_path(&self, id: NodeId) -> PathBuf {
        self.directory.path().join(format!("node-{id}.log"))
    }

    pub fn data_dir(&self, id: NodeId) -> PathBuf {
        self.directory.path().join(format!("node-{id}"))
    }

    /// Starts node `id` (again); its log is appended to.
    pub fn spawn(&mut self, id: NodeId) {
        assert!(!self.is_running(id), "node {id} is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .expect("log file");
        let slot = &self.nodes[&id];
        let mut command = Command::new(&self.binary);
        command
            .arg("--id")
            .arg(id.to_string())
            .arg("--cluster")
            .arg(self.cluster_argument(id))
            .arg("--port")
            .arg(slot.http_port.to_string())
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .arg("--tick-ms")
            .arg(self.options.tick_ms.to_string())
            .arg("--request-timeout-ms")
            .arg(self.options.request_timeout_ms.to_string())
            .arg("--snapshot-count")
            .arg(self.options.snapshot_count.to_string())
            .env(
                "RUST_LOG",
                std::env::var("KVAPP_TEST_LOG").unwrap_or_else(|_| "info".to_string()),
            )
            // The node exits when this pipe closes: when the test process ends, however.
            .arg("--exit-on-stdin-close")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log);
        if slot.join {
            command.arg("--join");
        }
        let child = command.spawn().expect("kvapp starts");
        self.nodes.get_mut(&id).expect("known node").process = Some(child);
    }

    /// SIGKILLs node `id` and reaps it.
    pub fn kill(&mut self, id: NodeId) {
        if let Some(mut child) = self.nodes.get_mut(&id).and_then(|slot| slot.process.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then start again on the same data directory.
    pub fn restart(&mut self, id: NodeId) {
        self.kill(id);
        self.spawn(id);
    }

    /// Whether node `id`'s process is alive.
    pub fn is_running(&mut self, id: NodeId) -> bool {
        let Some(slot) = self.nodes.get_mut(&id) else {
            return false;
        };
        match slot.process.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) | None => false,
        }
    }

    /// The ids of the running nodes.
    pub fn running(&mut self) -> Vec<NodeId> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        ids.into_iter().filter(|&id| self.is_running(id)).collect()
    }

    /// Waits for node `id` to exit by itself; its status, or `None` at the deadline.
    pub fn wait_for_exit(&mut self, id: NodeId, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let slot = self.nodes.get_mut(&id)?;
            let child = slot.process.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                slot.process = None;
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// One HTTP request to node `id`.
    pub fn request(
        &self,
        id: NodeId,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> io::Result<HttpResponse> {
        let timeout = Duration::from_millis(self.options.request_timeout_ms) + HTTP_TIMEOUT_SLACK;
        http::request(self.http_address(id), method, path, body, timeout)
    }

    /// `PUT /key` on node `id`: the status, or 0 when the node did not answer.
    pub fn put(&self, id: NodeId, key: &str, value: &str) -> u16 {
        self.request(id, "PUT", &format!("/{key}"), value.as_bytes())
            .map_or(0, |response| response.status)
    }

    /// `GET /key` (linearizable) on node `id`.
    pub fn get(&self, id: NodeId, key: &str) -> io::Result<HttpResponse> {
        self.request(id, "GET", &format!("/{key}"), b"")
    }

    /// `GET /key?local` on node `id`: the value, `None` when absent or unanswered.
    pub fn get_local(&self, id: NodeId, key: &str) -> Option<String> {
        let response = self
            .request(id, "GET", &format!("/{key}?local"), b"")
            .ok()?;
        (response.status == 200).then(|| response.text())
    }

    /// The node that says it leads and whom every other answering node follows.
    pub fn leader(&mut self) -> Option<NodeId> {
        let mut claims = BTreeMap::new();
        for id in self.running() {
            if let Ok(response) = self.request(id, "GET", "/leader-probe?local", b"") {
                claims.insert(id, response.number_header("X-Raft-Leader").unwrap_or(0));
            }
        }
        let (&leader, _) = claims.iter().find(|(&id, &leader)| id == leader)?;
        claims
            .values()
            .all(|&claim| claim == leader)
            .then_some(leader)
    }

    /// Waits until the running nodes agree on a leader.
    pub fn wait_for_leader(&mut self, within: Duration) -> NodeId {
        let deadline = Instant::now() + within;
        loop {
            if let Some(leader) = self.leader() {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader within {within:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes through the running nodes in turn until one answers 204; whether one did
    /// before the deadline.
    pub fn put_until_acknowledged(&mut self, key: &str, value: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut attempt = 0;
        while Instant::now() < deadline {
            let running = self.running();
            if running.is_empty() {
                return false;
            }
            let id = running[attempt % running.len()];
            attempt += 1;
            let status = self.put(id, key, value);
            *self.put_statuses.entry(status).or_default() += 1;
            if status == 204 {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits until node `id` answers `GET /key` with `value`, retrying 503 and 504 (no leader
    /// yet). Returns the last status seen otherwise.
    pub fn wait_for_value(
        &self,
        id: NodeId,
        key: &str,
        value: &str,
        within: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.get(id, key) {
                Ok(response) if response.status == 200 && response.text() == value => {
                    return Ok(());
                }
                Ok(response) => last = format!("{} {:?}", response.status, response.text()),
                Err(error) => last = error.to_string(),
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "node {id}: {key} never read {value:?}; last: {last}"
        ))
    }

    /// Waits until node `id`'s applied state holds every pair (local reads).
    pub fn wait_for_local_values(
        &self,
        id: NodeId,
        pairs: &[(String, String)],
        within: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut index = 0;
        while index < pairs.len() {
            let (key, value) = &pairs[index];
            if self.get_local(id, key).as_deref() == Some(value.as_str()) {
                index += 1;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(format!("node {id} never applied {key}={value}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn print_logs(&self) {
        for &id in self.nodes.keys() {
            let text = fs::read_to_string(self.log_path(id)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("----- node {id} log (last 40 lines) -----");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }

    /// The directory that holds the logs and data directories.
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
        if thread::panicking() {
            self.print_logs();
        }
    }
}

/// Writes `key` through `addresses` in turn, starting at `first`, until one answers 204: the
/// number of attempts it took, or `None` at the deadline. For client threads, which cannot share
/// the [`Cluster`].
pub fn put_through_any(
    addresses: &[SocketAddr],
    first: usize,
    key: &str,
    value: &str,
    within: Duration,
) -> Option<usize> {
    let deadline = Instant::now() + within;
    let path = format!("/{key}");
    let mut attempts = 0;
    while Instant::now() < deadline {
        let address = addresses[(first + attempts) % addresses.len()];
        attempts += 1;
        let timeout = deadline.saturating_duration_since(Instant::now()) + HTTP_TIMEOUT_SLACK;
        match http::request(address, "PUT", &path, value.as_bytes(), timeout) {
            Ok(response) if response.status == 204 => return Some(attempts),
            Ok(_) | Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    None
}

/// `count` distinct ports that were free a moment ago (bound together, then released).
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound").port())
        .collect()
}
