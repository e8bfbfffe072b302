//! Bugs the simulator found in `raft/` or `kvapp/` that are reported upstream but not fixed
//! yet. A run that fails only because of one of them ends as [`crate::report::Verdict::KnownBug`]
//! rather than as a plain liveness failure, so that sweeps keep gating on everything else.
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
