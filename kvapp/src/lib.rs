//! A replicated key-value service on the `raft` crate.
//!
//! Storage layer (this crate's lower half):
//!
//! - [`disk`]: the [`Disk`](disk::Disk) trait, one flat directory of files per node, with its
//!   durability contract, and [`StdDisk`](disk::StdDisk) over `std::fs`;
//!   [`memory_disk`] is an in-memory disk that loses unsynced data at a crash, for tests.
//! - [`transport`] and [`clock`]: the other two ways the node touches the world.
//! - [`store`]: the key-value state machine with exactly-once client sessions.
//! - [`wal`]: the write-ahead log of entries, hard states and snapshot markers.
//! - [`snapshotter`]: self-checking snapshot files, written atomically.
//!
//! Above it, [`node`] drives one Raft node through the Ready loop, and [`server`] runs a node as
//! the `kvapp` binary: raftexample's HTTP API and a TCP peer transport.
//!
//! Restarting a node from its disk:
//!
//! ```
//! use kvapp::memory_disk::MemDisk;
//! use kvapp::snapshotter::{Snapshotter, SnapshotterConfig};
//! use kvapp::store::Store;
//! use kvapp::wal::{SnapshotMarker, Wal, WalConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut disk = MemDisk::new();
//! # Wal::create(&mut disk, WalConfig::default())?;
//! let snapshotter = Snapshotter::new(SnapshotterConfig::default());
//! // Which snapshots the WAL can replay from, then the newest of those that loads.
//! let usable = Wal::usable_snapshots(&mut disk)?;
//! let snapshot = snapshotter.load_newest(&mut disk, &usable)?;
//! let (marker, store) = match &snapshot {
//!     Some(snapshot) => (SnapshotMarker::of(&snapshot.metadata), Store::restore(&snapshot.data)?),
//!     None => (SnapshotMarker::default(), Store::new()),
//! };
//! // The hard state and the entries after the snapshot, for raft's storage.
//! let (wal, recovered) = Wal::open(&mut disk, WalConfig::default(), marker)?;
//! assert!(recovered.entries.is_empty() && store.values().is_empty());
//! # let _ = wal;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod clock;
pub mod coverage;
pub mod disk;
pub mod memory_disk;
pub mod node;
pub mod server;
pub mod snapshotter;
pub mod store;
pub mod transport;
pub mod wal;
