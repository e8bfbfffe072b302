//! Client identities for HTTP writes.
//!
//! The store applies a command once per `(client id, sequence)` and lets each client have one
//! command in flight (see [`crate::store`]). An HTTP client has no identity of its own, so the
//! server lends each PUT a *slot*: a client id that no other PUT uses while this one is open,
//! with the slot's next sequence number. The node thread may resubmit the same command under the
//! same pair after a leader change, and the store deduplicates it. When the PUT is answered the
//! slot goes back to the pool with its sequence advanced; a late copy of the old command is then
//! stale and ignored. Slots therefore number no more than the PUTs ever open at once, and so do
//! the sessions the store keeps for this server run.
//!
//! A client id must never be reused with a sequence number it already had, or a new write would
//! be answered from an old session without being applied. Sequence numbers restart at 1 after a
//! restart, so each run of the server uses fresh client ids: the id packs the node id, an
//! *incarnation* number that is persisted and bumped before the server starts serving, and the
//! slot number.
//!
//! | bits | field |
//! |---|---|
//! | 63..48 | node id (1..=65535) |
//! | 47..24 | incarnation |
//! | 23..0 | slot |
//!
//! The sessions of earlier runs are dead once a run starts: their PUTs were answered or lost
//! with the process. So a run from the second on closes them ([`ClientIds::close_earlier_runs`]):
//! the client ids of node N with an incarnation below the current one form one range, which
//! the store closes through the log (see [`crate::store`]). The store's sessions then number no
//! more than the PUTs open at once in the current runs of the nodes, however often they
//! restart. The close travels as a command with client id `N << 48` (incarnation 0, which no
//! run has) and the current incarnation as its sequence, unique to this run.

use std::io;

use raft::NodeId;

use crate::disk::Disk;
use crate::store::{ClientId, Command, Operation, Sequence};

/// The largest node id the client id layout has room for.
pub const NODE_ID_MAX: NodeId = (1 << 16) - 1;

const INCARNATION_LIMIT: u64 = 1 << 24;
const SLOT_LIMIT: u64 = 1 << 24;

/// The file in the data directory that holds the incarnation number.
pub const INCARNATION_FILE: &str = "server-incarnation";
const INCARNATION_FILE_NEW: &str = "server-incarnation.new";

/// The pool of client slots of one server run.
#[derive(Debug)]
pub struct ClientIds {
    base: ClientId,
    /// Slots not lent out, each with its next sequence number.
    free: Vec<(u64, Sequence)>,
    slots_made: u64,
}

impl ClientIds {
    /// The pool of node `node_id` in run `incarnation`.
    pub fn new(node_id: NodeId, incarnation: u64) -> ClientIds {
        assert!(
            (1..=NODE_ID_MAX).contains(&node_id),
            "node id {node_id} out of range [1, {NODE_ID_MAX}]"
        );
        assert!(
            incarnation < INCARNATION_LIMIT,
            "incarnation {incarnation} out of range"
        );
        ClientIds {
            base: (node_id << 48) | (incarnation << 24),
            free: Vec::new(),
            slots_made: 0,
        }
    }

    /// Lends a client id and the sequence number to use with it, or `None` when every slot is
    /// lent (over sixteen million PUTs open at once).
    pub fn acquire(&mut self) -> Option<(ClientId, Sequence)> {
        let (slot, sequence) = match self.free.pop() {
            Some(free) => free,
            None if self.slots_made < SLOT_LIMIT => {
                self.slots_made += 1;
                (self.slots_made - 1, 1)
            }
            None => return None,
        };
        Some((self.base | slot, sequence))
    }

    /// Takes back a client id lent with `sequence`, once its request is answered.
    pub fn release(&mut self, client_id: ClientId, sequence: Sequence) {
        let slot = client_id & (SLOT_LIMIT - 1);
        assert!(
            client_id & !(SLOT_LIMIT - 1) == self.base && slot < self.slots_made,
            "client id {client_id:#x} was not lent by this pool (base {:#x})",
            self.base
        );
        debug_assert!(self.free.iter().all(|&(free, _)| free != slot));
        self.free.push((slot, sequence + 1));
    }

    /// Slots made so far.
    pub fn slots_made(&self) -> u64 {
        self.slots_made
    }

    /// The command that closes the sessions of this node's earlier runs, or `None` in the
    /// first run, which has none. Submitting it again is harmless.
    pub fn close_earlier_runs(&self) -> Option<Command> {
        let node_base = self.base & !((INCARNATION_LIMIT << 24) - 1);
        let incarnation = (self.base >> 24) & (INCARNATION_LIMIT - 1);
        (incarnation > 1).then(|| Command {
            client_id: node_base,
            sequence: incarnation,
            operation: Operation::CloseSessions {
                first: node_base,
                last: self.base - 1,
            },
        })
    }
}

/// The command that closes every client id of node `node_id`, for a node removed from the
/// cluster: node ids are not reused, so no run of it writes again. Its identity, sequence
/// `u64::MAX` under the node's incarnation-0 id, is one no run's close of its own takes (their
/// sequences are incarnations, below 2^24). Every member that sees the removal sends this same
/// command; the copies after the first close nothing more.
pub fn close_node(node_id: NodeId) -> Command {
    let node_base = node_id << 48;
    Command {
        client_id: node_base,
        sequence: u64::MAX,
        operation: Operation::CloseSessions {
            first: node_base,
            last: node_base | ((1 << 48) - 1),
        },
    }
}

/// Reads the incarnation recorded on `disk`, records the next one durably, and returns it.
/// The first run gets 1.
pub fn next_incarnation<D: Disk>(disk: &mut D) -> io::Result<u64> {
    let previous = match disk.read(INCARNATION_FILE) {
        Ok(bytes) => parse_incarnation(&bytes)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
        Err(error) => return Err(error),
    };
    let next = previous + 1;
    if next >= INCARNATION_LIMIT {
        return Err(io::Error::other(format!(
            "{INCARNATION_FILE}: incarnation {next} exceeds the client id layout"
        )));
    }
    // Crash-safe replacement (see the Disk contract): the old number or the new, never neither.
    disk.create(INCARNATION_FILE_NEW)?;
    disk.append(INCARNATION_FILE_NEW, format!("{next}\n").as_bytes())?;
    disk.sync(INCARNATION_FILE_NEW)?;
    disk.rename(INCARNATION_FILE_NEW, INCARNATION_FILE)?;
    disk.sync_dir()?;
    Ok(next)
}

fn parse_incarnation(bytes: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim_end_matches('\n').parse::<u64>().ok())
        .filter(|&number| number < INCARNATION_LIMIT)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{INCARNATION_FILE} does not hold an incarnation number: {bytes:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_disk::MemDisk;
    use std::collections::BTreeSet;

    #[test]
    fn slots_are_reused_with_a_higher_sequence() {
        let mut pool = ClientIds::new(3, 7);
        let (first, sequence) = pool.acquire().unwrap();
        assert_eq!(first, (3 << 48) | (7 << 24));
        assert_eq!(sequence, 1);
        let (second, _) = pool.acquire().unwrap();
        assert_ne!(first, second);
        pool.release(first, 1);
        assert_eq!(pool.acquire(), Some((first, 2)));
        assert_eq!(pool.slots_made(), 2);
    }

    #[test]
    fn ids_of_nodes_and_runs_never_meet() {
        let mut seen = BTreeSet::new();
        for node in [1, 2, NODE_ID_MAX] {
            for incarnation in [1, 2, INCARNATION_LIMIT - 1] {
                let mut pool = ClientIds::new(node, incarnation);
                for _ in 0..3 {
                    let (id, _) = pool.acquire().unwrap();
                    assert!(seen.insert(id), "{id:#x} twice");
                }
            }
        }
    }

    #[test]
    fn a_run_closes_exactly_the_ids_of_its_node_s_earlier_runs() {
        assert_eq!(ClientIds::new(3, 1).close_earlier_runs(), None);
        let close = ClientIds::new(3, 7).close_earlier_runs().unwrap();
        let Operation::CloseSessions { first, last } = close.operation else {
            panic!("{close:?}")
        };
        let closed = |id: ClientId| (first..=last).contains(&id);
        let some_ids = |node, incarnation| {
            let mut pool = ClientIds::new(node, incarnation);
            let mut ids: Vec<ClientId> = (0..3).map(|_| pool.acquire().unwrap().0).collect();
            // The last slot a run could lend.
            ids.push(pool.base | (SLOT_LIMIT - 1));
            ids
        };
        for incarnation in 1..7 {
            for id in some_ids(3, incarnation) {
                assert!(closed(id), "{id:#x} of run {incarnation} stays open");
            }
        }
        for (node, incarnation) in [(3, 7), (3, 8), (2, 6), (4, 1), (2, INCARNATION_LIMIT - 1)] {
            for id in some_ids(node, incarnation) {
                assert!(
                    !closed(id),
                    "{id:#x} of node {node} run {incarnation} is closed"
                );
            }
        }
        // Its own identity is unique to the run and never a PUT's.
        assert_eq!(close.client_id, 3 << 48);
        assert_eq!(close.sequence, 7);
    }

    #[test]
    fn closing_a_removed_node_closes_every_run_of_it_and_nothing_else() {
        let close = close_node(3);
        let Operation::CloseSessions { first, last } = close.operation else {
            panic!("{close:?}")
        };
        let closed = |id: ClientId| (first..=last).contains(&id);
        for incarnation in [1, 2, INCARNATION_LIMIT - 1] {
            let mut pool = ClientIds::new(3, incarnation);
            assert!(closed(pool.acquire().unwrap().0));
            assert!(closed(pool.base | (SLOT_LIMIT - 1)));
        }
        for node in [2, 4] {
            for incarnation in [1, INCARNATION_LIMIT - 1] {
                let mut pool = ClientIds::new(node, incarnation);
                assert!(!closed(pool.acquire().unwrap().0));
                assert!(!closed(pool.base | (SLOT_LIMIT - 1)));
            }
        }
        let own = ClientIds::new(3, INCARNATION_LIMIT - 1)
            .close_earlier_runs()
            .unwrap();
        assert_ne!(
            (own.client_id, own.sequence),
            (close.client_id, close.sequence)
        );
    }

    #[test]
    #[should_panic(expected = "was not lent")]
    fn a_foreign_id_cannot_be_released() {
        let mut pool = ClientIds::new(1, 1);
        pool.release(ClientIds::new(2, 1).acquire().unwrap().0, 1);
    }

    #[test]
    fn the_incarnation_grows_across_runs_and_survives_a_crash() {
        let mut disk = MemDisk::new();
        assert_eq!(next_incarnation(&mut disk).unwrap(), 1);
        assert_eq!(next_incarnation(&mut disk).unwrap(), 2);
        disk.crash();
        assert_eq!(next_incarnation(&mut disk).unwrap(), 3);
    }

    #[test]
    fn a_damaged_incarnation_file_is_an_error() {
        let mut disk = MemDisk::new();
        disk.create(INCARNATION_FILE).unwrap();
        disk.append(INCARNATION_FILE, b"seven").unwrap();
        let error = next_incarnation(&mut disk).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
