//! Bugs the simulator found in `raft/` or `kvapp/` that are reported upstream but not fixed
//! yet. A run that fails only because of one of them ends as [`crate::report::Verdict::KnownBug`]
//! rather than as a plain liveness failure or panic, so that sweeps keep gating on everything
//! else.
//! Each entry names the signature it recognises; remove the entry with the fix (a test in
//! `tests/seeds.rs` fails on the seed that found it once the bug is gone, and says so).
//!
//! Found and fixed so far:
//!
//! - `raft-stuck-inflight-window`: a follower in Replicate whose appends were all lost stayed
//!   paused forever, because a heartbeat response never freed a slot of the full inflight
//!   window. Found on seed 2 with the default options; fixed in raft by 50b2591.
//! - `kvapp-orphan-snapshot-release`: a crash between saving a snapshot file and appending its
//!   WAL marker left a durable snapshot file without a marker; recovery ignored it but kept it,
//!   and a later compaction called `Wal::release_to` with its index and hit the assertion there.
//!   Found on swarm seeds 913, 1216, 1393, 1584, 2408; fixed in kvapp by 3c41e39 (recovery
//!   removes snapshot files the WAL cannot restart from).

/// A recognised known bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownBug {
    /// Which one.
    pub id: &'static str,
    /// What the run showed.
    pub detail: String,
}

/// Recognises a panic message as a known bug. No bug is open at the moment: add a branch here
/// (with a constant naming the bug and a doc comment saying what the simulator saw) when the
/// simulator finds one that is reported but not fixed yet.
pub fn classify_panic(message: &str) -> Option<KnownBug> {
    let _ = message;
    None
}
