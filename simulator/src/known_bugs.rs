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

/// kvapp + raft: shrinking a two-voter cluster to one can deadlock for good.
///
/// The leader L of configuration {L, R} commits the entry that removes R and tells R (the
/// commit index travels in its next append), R applies its removal and shuts down as the server
/// does. A commit index alone is written lazily (`must_sync` is false), so if L loses power
/// before a later sync, L restarts with the removal in its log but not known committed: raft
/// uses the configuration as of the applied index, so L is still in {L, R}, needs R's vote or
/// acknowledgement, and R is gone. Nothing can commit again. Possible fixes: use the newest
/// configuration in the log (Raft thesis §4.1), sync the hard state before sending a commit
/// index that covers a configuration change, or keep a removed node answering until the
/// survivors have committed past its removal.
pub const REMOVED_NODE_STILL_NEEDED: &str = "kvapp-removed-node-still-needed";

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
