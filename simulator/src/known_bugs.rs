//! Bugs the simulator found in `raft/` or `kvapp/` that are reported upstream but not fixed
//! yet. A run that fails only because of one of them ends as [`crate::report::Verdict::KnownBug`]
//! rather than as a plain liveness failure or panic, so that sweeps keep gating on everything
//! else.
//! Each entry names the signature it recognises; remove the entry with the fix (a test in
//! `tests/seeds.rs` fails on the seed that found it once the bug is gone, and says so).
//!
//! Fixed so far: `raft-stuck-inflight-window` (a follower in Replicate whose appends were all
//! lost stayed paused forever, because a heartbeat response never freed a slot of the full
//! inflight window; found on seed 2 with the default options, fixed in raft by 50b2591).

/// kvapp: a snapshot file whose WAL marker never became durable makes a later compaction panic.
///
/// `Node::maybe_snapshot` saves the snapshot file (temporary file, sync, rename, directory
/// sync) and only then appends and syncs its marker to the WAL. A crash between the two leaves
/// a durable snapshot file without a marker. Recovery is right to ignore it
/// (`Wal::usable_snapshots` lists only marked snapshots), but it leaves the file on disk; after
/// the next local snapshot `Snapshotter::retain` keeps it among the newest files, and
/// `maybe_snapshot` calls `Wal::release_to` with the oldest kept file's index, which has no
/// marker: the assertion at the top of `release_to` panics ("release_to(i) without a saved
/// snapshot marker at that index"). Fixes: remove unmarked snapshot files at recovery, or
/// release to the oldest snapshot that has a marker.
pub const ORPHAN_SNAPSHOT_RELEASE: &str = "kvapp-orphan-snapshot-release";

/// A recognised known bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownBug {
    /// Which one.
    pub id: &'static str,
    /// What the run showed.
    pub detail: String,
}

/// Recognises a panic message as a known bug.
pub fn classify_panic(message: &str) -> Option<KnownBug> {
    (message.contains("release_to(") && message.contains("without a saved snapshot marker")).then(
        || KnownBug {
            id: ORPHAN_SNAPSHOT_RELEASE,
            detail: format!("panic: {message}"),
        },
    )
}
