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

#![warn(missing_docs)]

pub mod clock;
pub mod disk;
pub mod memory_disk;
pub mod snapshotter;
pub mod store;
pub mod transport;
pub mod wal;
