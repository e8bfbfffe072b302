//! Bugs the simulator found in `raft/` or `kvapp/` that are reported upstream but not fixed
//! yet. A run that fails only because of one of them ends as [`crate::report::Verdict::KnownBug`]
//! rather than as a plain liveness failure or panic, so that sweeps keep gating on everything
//! else.
//! Each entry names the signature it recognises; remove the entry with the fix (the test
//! `known_bugs_still_reproduce` in `tests/` says when).

use raft::{Index, NodeId, StateRole};

use crate::process::SimNode;

/// Raft: a follower in `Replicate` whose appends were all lost stays paused forever.
///
/// In `Replicate` the leader sends appends optimistically and records each in the follower's
/// inflight window; only an append response frees slots (`free_le(matched)`). If every append
/// in the window is lost (the follower was down, the link dropped them) the window stays full,
/// `Progress::is_paused` stays true, and `handle_heartbeat_response` calls
/// `maybe_send_append`, which returns at once because the progress is paused. Heartbeats keep
/// the leader in office (CheckQuorum is satisfied by the others), so the follower never catches
/// up until the leader changes. etcd frees one slot on a heartbeat response when the window is
/// full (`pr.Inflights.FreeFirstOne()`, v3.4) or clears `MsgAppFlowPaused` (v3.6), so that the
/// next append goes out, the follower rejects or acknowledges it, and replication resumes.
pub const STUCK_INFLIGHT_WINDOW: &str = "raft-stuck-inflight-window";

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

/// Looks for the signature of [`STUCK_INFLIGHT_WINDOW`] on a leader: a follower in Replicate,
/// behind the leader's log, paused by a full inflight window.
pub fn stuck_inflight_window(leader: NodeId, node: &SimNode) -> Option<KnownBug> {
    let raft = &node.raw().raft;
    if raft.role != StateRole::Leader {
        return None;
    }
    let last_index: Index = raft.raft_log.last_index();
    raft.tracker
        .progress
        .iter()
        .find(|(&id, progress)| {
            id != leader
                && progress.state == raft::tracker::ProgressState::Replicate
                && progress.inflights.full()
                && progress.matched < last_index
        })
        .map(|(id, progress)| KnownBug {
            id: STUCK_INFLIGHT_WINDOW,
            detail: format!(
                "leader {leader} (term {}, last index {last_index}) never sends to follower {id} \
                 again: {progress}",
                raft.term
            ),
        })
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
