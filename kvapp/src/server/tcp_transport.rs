//! The peer transport over TCP: [`TcpTransport`] sends, [`spawn_listener`] receives.
//!
//! Outbound, each peer has its own sender thread fed by a bounded queue. [`Transport::send`]
//! only queues (dropping the message when the queue is full: the transport is fire-and-forget
//! and Raft resends what matters, §5.3), so the node thread never waits on the network. The
//! sender connects lazily, writes messages in batches, and after a failure reconnects with
//! exponential backoff; messages queued while the peer is unreachable are dropped, since they
//! are stale by the time it comes back. A failed connection attempt or a lost connection marks
//! the peer unreachable; the node loop collects the marks with
//! [`TcpTransport::take_unreachable`] and reports them to Raft, which then stops pipelining
//! appends into the void and probes the peer instead (as etcd's rafthttp does).
//!
//! Inbound, one thread accepts connections and one reader thread per connection reads messages
//! (see [`super::frame`]) and hands the bytes on; a bad preamble, an oversized or truncated
//! message closes that connection only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use raft::NodeId;

use super::frame::{self, FrameError, MESSAGE_BYTES_MAX};
use crate::transport::Transport;

/// Messages waiting for one peer; more are dropped.
pub const PEER_QUEUE_CAPACITY: usize = 1024;

/// Messages written before a flush.
const BATCH_MESSAGES_MAX: usize = 256;

/// The first wait after a failed connection.
const BACKOFF_INITIAL: Duration = Duration::from_millis(20);

/// The longest wait between connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A write blocked this long (a peer that stopped reading) drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// An inbound connection silent this long is closed, so that connections whose peer vanished
/// without closing them do not pile up. The peer reconnects when it next has something to say.
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Inbound connections served at once; more are closed at once. A cluster needs one per peer.
pub const INBOUND_CONNECTIONS_MAX: usize = 64;

/// Peers whose sender failed to connect or lost its connection since the node loop last asked.
type UnreachableMarks = Arc<Mutex<BTreeSet<NodeId>>>;

/// The outbound half of the peer transport.
#[derive(Default)]
pub struct TcpTransport {
    links: BTreeMap<NodeId, PeerLink>,
    unreachable: UnreachableMarks,
}

struct PeerLink {
    address: String,
    queue: SyncSender<Vec<u8>>,
    /// Messages dropped in a row because the queue was full; logged when a streak starts.
    dropped_in_a_row: u64,
}

impl TcpTransport {
    /// A transport that knows no peers yet.
    pub fn new() -> TcpTransport {
        TcpTransport::default()
    }

    /// Makes the transport reach exactly `addresses` (node id to `HOST:PORT`): starts a sender
    /// for a new peer, restarts one whose address changed, and stops one no longer listed.
    pub fn set_peers(&mut self, addresses: &BTreeMap<NodeId, String>) {
        self.links.retain(|id, link| {
            let keep = addresses.get(id) == Some(&link.address);
            if !keep {
                tracing::info!(peer = id, address = %link.address, "dropping peer");
            }
            keep
        });
        for (&id, address) in addresses {
            if self.links.contains_key(&id) {
                continue;
            }
            let (queue, receiver) = mpsc::sync_channel(PEER_QUEUE_CAPACITY);
            let sender_address = address.clone();
            let unreachable = Arc::clone(&self.unreachable);
            let spawned = thread::Builder::new()
                .name(format!("peer-send-{id}"))
                .spawn(move || run_sender(id, &sender_address, &receiver, &unreachable));
            match spawned {
                Ok(_) => {
                    tracing::info!(peer = id, %address, "adding peer");
                    self.links.insert(
                        id,
                        PeerLink {
                            address: address.clone(),
                            queue,
                            dropped_in_a_row: 0,
                        },
                    );
                }
                Err(error) => {
                    tracing::error!(peer = id, %error, "cannot start a sender thread");
                }
            }
        }
    }

    /// The current peers that failed to connect or lost their connection since the last call,
    /// for the driver to pass to `report_unreachable`.
    pub fn take_unreachable(&mut self) -> Vec<NodeId> {
        let marked = std::mem::take(
            &mut *self
                .unreachable
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        marked
            .into_iter()
            .filter(|id| self.links.contains_key(id))
            .collect()
    }

    /// The peers and their addresses.
    pub fn peers(&self) -> BTreeMap<NodeId, String> {
        self.links
            .iter()
            .map(|(&id, link)| (id, link.address.clone()))
            .collect()
    }
}

impl Transport for TcpTransport {
    fn send(&mut self, to: NodeId, bytes: Vec<u8>) {
        let Some(link) = self.links.get_mut(&to) else {
            tracing::debug!(peer = to, "no address for the peer; message dropped");
            return;
        };
        match link.queue.try_send(bytes) {
            Ok(()) => link.dropped_in_a_row = 0,
            Err(TrySendError::Full(_)) => {
                link.dropped_in_a_row += 1;
                if link.dropped_in_a_row == 1 {
                    tracing::debug!(peer = to, "peer queue full; dropping messages");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!(
                    peer = to,
                    "the peer's sender thread is gone; message dropped"
                );
            }
        }
    }
}

/// The sender thread of one peer; ends when its queue is dropped.
fn run_sender(
    to: NodeId,
    address: &str,
    queue: &Receiver<Vec<u8>>,
    unreachable: &UnreachableMarks,
) {
    let mark_unreachable = || {
        unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(to);
    };
    let mut connection: Option<BufWriter<TcpStream>> = None;
    let mut backoff = BACKOFF_INITIAL;
    let mut failures: u64 = 0;
    while let Ok(first) = queue.recv() {
        let writer = match connection.as_mut() {
            Some(writer) => writer,
            None => match connect(address) {
                Ok(stream) => {
                    if failures > 0 {
                        tracing::info!(peer = to, %address, "connected after {failures} failures");
                    }
                    failures = 0;
                    backoff = BACKOFF_INITIAL;
                    connection.insert(BufWriter::new(stream))
                }
                Err(error) => {
                    mark_unreachable();
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(peer = to, %address, %error, "cannot connect; retrying");
                    } else {
                        tracing::debug!(peer = to, %address, %error, failures, "cannot connect");
                    }
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    // What queued meanwhile is stale; Raft resends what still matters.
                    while queue.try_recv().is_ok() {}
                    continue;
                }
            },
        };
        if let Err(error) = write_batch(to, writer, first, queue) {
            tracing::debug!(peer = to, %address, %error, "connection lost");
            mark_unreachable();
            connection = None;
        }
    }
    tracing::debug!(peer = to, %address, "sender stopped");
}

fn connect(address: &str) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    for socket_address in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&socket_address, CONNECT_TIMEOUT) {
            Ok(mut stream) => {
                stream.set_nodelay(true)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                frame::write_preamble(&mut stream)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes.
fn write_batch(
    to: NodeId,
    writer: &mut BufWriter<TcpStream>,
    first: Vec<u8>,
    queue: &Receiver<Vec<u8>>,
) -> io::Result<()> {
    write_message(to, writer, &first)?;
    for _ in 1..BATCH_MESSAGES_MAX {
        match queue.try_recv() {
            Ok(message) => write_message(to, writer, &message)?,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    writer.flush()
}

fn write_message(to: NodeId, writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    if message.len() as u64 > MESSAGE_BYTES_MAX {
        // A snapshot over the limit can never be delivered; say so rather than fail silently.
        tracing::error!(
            peer = to,
            bytes = message.len(),
            limit = MESSAGE_BYTES_MAX,
            "message over the size limit dropped"
        );
        return Ok(());
    }
    frame::write_message(writer, message)
}

/// Accepts peer connections on `listener`, each served by its own reader thread that passes
/// every message to `deliver`; a reader stops when `deliver` returns false (the node is gone).
pub fn spawn_listener<F>(listener: TcpListener, deliver: F) -> io::Result<thread::JoinHandle<()>>
where
    F: Fn(Vec<u8>) -> bool + Clone + Send + 'static,
{
    thread::Builder::new()
        .name("peer-accept".to_string())
        .spawn(move || accept_loop(&listener, &deliver))
}

fn accept_loop<F>(listener: &TcpListener, deliver: &F)
where
    F: Fn(Vec<u8>) -> bool + Clone + Send + 'static,
{
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, remote) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically out of file descriptors; wait instead of spinning.
                tracing::warn!(%error, "accept failed");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= INBOUND_CONNECTIONS_MAX {
            tracing::warn!(%remote, "too many peer connections; closing this one");
            continue;
        }
        let guard = ConnectionGuard::new(&open);
        let deliver = deliver.clone();
        let spawned = thread::Builder::new()
            .name("peer-read".to_string())
            .spawn(move || {
                let _guard = guard;
                match read_connection(stream, &deliver) {
                    Ok(()) => tracing::debug!(%remote, "peer connection closed"),
                    Err(error) => tracing::warn!(%remote, %error, "peer connection dropped"),
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start a reader thread");
        }
    }
}

/// Counts an open inbound connection for as long as it lives.
struct ConnectionGuard(Arc<AtomicUsize>);

impl ConnectionGuard {
    fn new(open: &Arc<AtomicUsize>) -> ConnectionGuard {
        open.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(open.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn read_connection<F>(stream: TcpStream, deliver: &F) -> Result<(), FrameError>
where
    F: Fn(Vec<u8>) -> bool,
{
    stream.set_read_timeout(Some(READ_IDLE_TIMEOUT))?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    frame::read_preamble(&mut reader)?;
    while let Some(payload) = frame::read_message(&mut reader)? {
        if !deliver(payload) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Instant;

    fn listener() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    }

    fn receiving_end() -> (String, Receiver<Vec<u8>>) {
        let (listener, address) = listener();
        let (sender, receiver) = mpsc::sync_channel(16);
        spawn_listener(listener, move |bytes| sender.send(bytes).is_ok()).unwrap();
        (address, receiver)
    }

    #[test]
    fn messages_arrive_in_order() {
        let (address, receiver) = receiving_end();
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address)]));
        for index in 0..10u8 {
            transport.send(2, vec![index; usize::from(index)]);
            // Unknown peers are dropped quietly.
            transport.send(3, vec![index]);
        }
        for index in 0..10u8 {
            let bytes = receiver.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(bytes, vec![index; usize::from(index)]);
        }
    }

    #[test]
    fn a_message_of_several_chunks_arrives_whole_and_in_its_place() {
        // A snapshot-sized message between small ones: 2.5 chunks of distinct bytes.
        let (address, receiver) = receiving_end();
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address)]));
        let large: Vec<u8> = (0..frame::CHUNK_BYTES_MAX * 5 / 2)
            .map(|index| (index % 253) as u8)
            .collect();
        transport.send(2, b"before".to_vec());
        transport.send(2, large.clone());
        transport.send(2, b"after".to_vec());
        let timeout = Duration::from_secs(10);
        assert_eq!(receiver.recv_timeout(timeout).unwrap(), b"before");
        assert!(receiver.recv_timeout(timeout).unwrap() == large);
        assert_eq!(receiver.recv_timeout(timeout).unwrap(), b"after");
    }

    #[test]
    fn a_peer_that_cannot_be_reached_is_reported_once_and_an_unknown_one_never() {
        let (listener, address) = listener();
        drop(listener);
        let (reachable, _receiver) = receiving_end();
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address), (3, reachable)]));
        transport.send(2, b"lost".to_vec());
        transport.send(3, b"delivered".to_vec());
        let deadline = Instant::now() + Duration::from_secs(10);
        let reported = loop {
            let reported = transport.take_unreachable();
            if !reported.is_empty() {
                break reported;
            }
            assert!(
                Instant::now() < deadline,
                "the refused connection was never reported"
            );
            thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(reported, vec![2], "only the peer that refused");
        assert!(
            transport.take_unreachable().is_empty(),
            "a mark is taken once"
        );
        // A mark left by a peer that is no longer a member is not reported.
        transport.unreachable.lock().unwrap().insert(9);
        assert!(transport.take_unreachable().is_empty());
    }

    #[test]
    fn the_sender_reconnects_when_the_peer_comes_up_later() {
        let (listener, address) = listener();
        drop(listener);
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address.clone())]));
        transport.send(2, b"lost".to_vec());
        thread::sleep(Duration::from_millis(50));
        let Ok(listener) = TcpListener::bind(&address) else {
            // Someone else took the port meanwhile; nothing to check.
            return;
        };
        let (sender, receiver) = mpsc::sync_channel(16);
        spawn_listener(listener, move |bytes| sender.send(bytes).is_ok()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            transport.send(2, b"hello".to_vec());
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(bytes) => {
                    assert_eq!(bytes, b"hello");
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
                    assert!(Instant::now() < deadline, "never reconnected");
                }
                Err(RecvTimeoutError::Disconnected) => panic!("listener gone"),
            }
        }
    }

    #[test]
    fn a_bad_stream_closes_only_its_connection() {
        let (address, receiver) = receiving_end();
        let mut garbage = TcpStream::connect(&address).unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut oversized = TcpStream::connect(&address).unwrap();
        frame::write_preamble(&mut oversized).unwrap();
        oversized.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address)]));
        transport.send(2, b"still here".to_vec());
        let bytes = receiver.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(bytes, b"still here");
    }

    #[test]
    fn removing_a_peer_stops_its_sender() {
        let (address, _receiver) = receiving_end();
        let mut transport = TcpTransport::new();
        transport.set_peers(&BTreeMap::from([(2, address)]));
        assert_eq!(transport.peers().len(), 1);
        transport.set_peers(&BTreeMap::new());
        assert!(transport.peers().is_empty());
        transport.send(2, b"nowhere".to_vec());
    }
}
