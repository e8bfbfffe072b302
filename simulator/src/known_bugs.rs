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
//! - `kvapp-removed-node-still-needed`: shrinking a two-voter cluster to one (or any change
//!   whose removed voters the old configuration's quorum needs) could deadlock for good. The
//!   removed node applied its removal and shut down at once; a survivor that lost its lazily
//!   written commit index in a crash restarted in the old configuration and needed the
//!   departed node's vote. Found with heavy membership changes and mid-write crashes (seed 29
//!   and 13 more of 300 at that intensity). Fixed: raft fsyncs a commit index that passes a
//!   configuration change and followers report their commit index, and a removed kvapp node
//!   leaves only once the remaining members know (`kvapp::Node::may_leave`).
//! - `raft-removed-leader-deposed`: after that fix, a removed leader deposed before the others
//!   learned of its removal could still block them when its log was the longest: it could not
//!   campaign, outside its configuration, and refused its vote to the shorter logs that the
//!   others' configuration needed it for. Found on swarm seed 826 with
//!   `faults.membership_change_probability=0.3`. Fixed: a removed node that may not leave yet
//!   campaigns, through a pre-vote, in the configuration it applied
//!   (`raft::RawNode::set_finishing_removal`).

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
