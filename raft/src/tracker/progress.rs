//! What the leader knows about one follower's log, and how it paces sending to it (etcd-io/raft
//! `tracker/progress.go` and `tracker/state.go`).

use std::fmt;

use super::Inflights;
use crate::message::Index;

/// How the leader sends to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProgressState {
    /// The leader does not know where the follower's log diverges. It sends one append at a
    /// time and waits for the answer (or a heartbeat response) before sending the next, moving
    /// `next_index` back on each rejection until the logs match.
    #[default]
    Probe,
    /// The follower's log matches up to `matched`. The leader streams appends without waiting,
    /// optimistically advancing `next_index`, up to the inflight window.
    Replicate,
    /// The entries the follower needs were compacted away; a snapshot is on its way and the
    /// leader sends no appends until it is reported.
    Snapshot,
}

impl fmt::Display for ProgressState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ProgressState::Probe => "Probe",
            ProgressState::Replicate => "Replicate",
            ProgressState::Snapshot => "Snapshot",
        };
        formatter.write_str(name)
    }
}

/// The leader's view of one follower (or learner): how far its log is known to match, what to
/// send it next, and how fast.
///
/// The methods keep the invariants written on the fields and assert them after every change;
/// code that writes the public fields directly must keep them too
/// ([`Progress::assert_invariants`] checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The highest index known to be replicated on the follower. Never decreases.
    pub matched: Index,
    /// The index of the next entry to send.
    ///
    /// Invariant: `matched < next_index`. Entries in between are in flight, or were lost.
    pub next_index: Index,
    /// How the leader sends to this follower.
    pub state: ProgressState,
    /// In the Snapshot state, the index of the snapshot being sent.
    ///
    /// Invariant: non-zero exactly in the Snapshot state.
    pub pending_snapshot: Index,
    /// Whether the follower was heard from since the last CheckQuorum round (Raft thesis
    /// §6.2); the leader steps down if a quorum was not.
    pub recent_active: bool,
    /// In the Probe state: an append was sent and is unanswered, so the leader sends no more
    /// until an append response or a heartbeat response arrives.
    ///
    /// Invariant: false outside the Probe state.
    pub probe_sent: bool,
    /// The append messages in flight in the Replicate state.
    ///
    /// Invariant: empty outside the Replicate state; every index in it is above `matched`.
    pub inflights: Inflights,
    /// Whether this node is a learner (receives the log, does not vote).
    pub is_learner: bool,
    /// The highest commit index the follower reported in a response. Responses leave after the
    /// follower persisted its hard state, fsynced when the commit index passed a configuration
    /// change ([`crate::Ready::must_sync`]), so a reported commit at or past a configuration
    /// change is durable on the follower. Never decreases.
    pub reported_commit: Index,
}

impl Progress {
    /// A follower about to be probed at `next_index`, with nothing known to match and an
    /// inflight window of `max_inflight` messages.
    ///
    /// Panics if `next_index` is 0 (the invariant `matched < next_index`) or `max_inflight` is 0.
    pub fn new(next_index: Index, max_inflight: usize) -> Self {
        let progress = Progress {
            matched: 0,
            next_index,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            recent_active: false,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            is_learner: false,
            reported_commit: 0,
        };
        progress.assert_invariants();
        progress
    }

    /// Enters `state` with its per-state fields cleared.
    fn reset_state(&mut self, state: ProgressState) {
        self.state = state;
        self.probe_sent = false;
        self.pending_snapshot = 0;
        self.inflights.reset();
    }

    /// Moves to the Probe state, probing from just after `matched`, or just after the pending
    /// snapshot when leaving the Snapshot state (the follower is presumed to have installed it).
    pub fn become_probe(&mut self) {
        let from_snapshot = match self.state {
            ProgressState::Snapshot => Some(self.pending_snapshot),
            ProgressState::Probe | ProgressState::Replicate => None,
        };
        self.reset_state(ProgressState::Probe);
        self.next_index = match from_snapshot {
            Some(snapshot_index) => self.matched.max(snapshot_index) + 1,
            None => self.matched + 1,
        };
        self.assert_invariants();
    }

    /// Moves to the Replicate state, streaming from just after `matched`.
    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next_index = self.matched + 1;
        self.assert_invariants();
    }

    /// Moves to the Snapshot state while the snapshot at `snapshot_index` is sent.
    ///
    /// Panics if `snapshot_index` is 0: that is the empty "no snapshot" placeholder.
    pub fn become_snapshot(&mut self, snapshot_index: Index) {
        assert!(
            snapshot_index > 0,
            "become_snapshot with the empty snapshot index 0: {self}"
        );
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
        self.assert_invariants();
    }

    /// Records a successful append response acknowledging `index`. Returns whether `matched`
    /// grew; if it did not, the response is stale (reordered or duplicated) and nothing changes.
    ///
    /// When `matched` grows the probe pause is lifted and in-flight messages up to `index` are
    /// freed; `next_index` is raised past `index` if it was not already.
    pub fn maybe_update(&mut self, index: Index) -> bool {
        if index <= self.matched {
            return false;
        }
        self.matched = index;
        self.next_index = self.next_index.max(index + 1);
        self.probe_sent = false;
        self.inflights.free_le(index);
        self.assert_invariants();
        true
    }

    /// Records that an append carrying entries up to `last_index` was sent (etcd's
    /// `UpdateOnEntriesSend`, simplified). The message started at `next_index`, so it carried
    /// `next_index..=last_index`, or no entries at all when `last_index + 1 == next_index`.
    ///
    /// In the Replicate state `next_index` advances optimistically past `last_index` and the
    /// message joins the inflight window, unless it carried no entries. In the Probe state the
    /// progress pauses until an answer arrives. Panics in the Snapshot state (nothing may be
    /// sent then), or if in the Replicate state the message cannot have started at
    /// `next_index`, or the inflight window is full (check [`Progress::is_paused`] first).
    pub fn sent_entries(&mut self, last_index: Index) {
        match self.state {
            ProgressState::Replicate => {
                assert!(
                    last_index + 1 >= self.next_index,
                    "sent entries up to {last_index}, before next index {}: {self}",
                    self.next_index
                );
                if last_index >= self.next_index {
                    self.next_index = last_index + 1;
                    self.inflights.add(last_index);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {
                panic!(
                    "sent entries up to {last_index} to a follower in the Snapshot state: {self}"
                )
            }
        }
        self.assert_invariants();
    }

    /// Records that the follower rejected the append whose previous entry was at `rejected`,
    /// with `match_hint` its guess of the last index where the logs may match. Returns false,
    /// changing nothing, if the rejection is stale (reordered or duplicated).
    ///
    /// In the Replicate state a rejection at or below `matched` is stale; otherwise the
    /// progress moves to the Probe state at `matched + 1`, emptying the inflight window. (etcd's
    /// `MaybeDecrTo` only lowers `Next` and leaves the move to Probe to its caller; doing both
    /// here means the window never holds indexes at or past `next_index`.) In the Probe and
    /// Snapshot states only the answer to the latest probe, at `next_index - 1`, counts:
    /// `next_index` moves back to just after the hint, but never to or below `matched`, and
    /// never forward; the probe pause is lifted.
    pub fn maybe_decrease_to(&mut self, rejected: Index, match_hint: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.matched {
                    return false;
                }
                // Sets next_index to matched + 1 and asserts the invariants.
                self.become_probe();
                return true;
            }
            ProgressState::Probe | ProgressState::Snapshot => {
                if rejected != self.next_index - 1 {
                    return false;
                }
                // The hint comes from the network: saturate rather than overflow on garbage.
                let hinted = rejected.min(match_hint.saturating_add(1));
                self.next_index = hinted.max(self.matched + 1);
                self.probe_sent = false;
            }
        }
        self.assert_invariants();
        true
    }

    /// Whether the leader must hold off sending appends: a probe is unanswered, the inflight
    /// window is full, or a snapshot is being sent.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }

    /// Panics, with the whole progress in the message, if an invariant written on the fields
    /// does not hold.
    pub fn assert_invariants(&self) {
        assert!(
            self.matched < self.next_index,
            "progress invariant matched < next_index broken: {self}"
        );
        let in_snapshot = self.state == ProgressState::Snapshot;
        assert!(
            (self.pending_snapshot != 0) == in_snapshot,
            "progress invariant 'pending snapshot exactly in the Snapshot state' broken: {self}"
        );
        assert!(
            !self.probe_sent || self.state == ProgressState::Probe,
            "progress invariant 'probe sent only in the Probe state' broken: {self}"
        );
        assert!(
            self.inflights.count() == 0 || self.state == ProgressState::Replicate,
            "progress invariant 'inflights only in the Replicate state' broken: {self}"
        );
        if let Some(first) = self.inflights.first_index() {
            assert!(
                first > self.matched,
                "progress invariant 'inflights above matched' broken: first inflight {first}: {self}"
            );
        }
    }
}

/// Formats as the state and indexes, then whichever flags are set, e.g.
/// `Replicate matched=5 next_index=9 inflight=2`.
impl fmt::Display for Progress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} matched={} next_index={}",
            self.state, self.matched, self.next_index
        )?;
        if self.is_learner {
            formatter.write_str(" learner")?;
        }
        if self.is_paused() {
            formatter.write_str(" paused")?;
        }
        if self.pending_snapshot > 0 {
            write!(formatter, " pending_snapshot={}", self.pending_snapshot)?;
        }
        if !self.recent_active {
            formatter.write_str(" inactive")?;
        }
        let inflight = self.inflights.count();
        if inflight > 0 {
            write!(formatter, " inflight={inflight}")?;
            if self.inflights.full() {
                formatter.write_str("[full]")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A progress in `state` with the given indexes and a window of 4.
    fn progress(state: ProgressState, matched: Index, next_index: Index) -> Progress {
        let mut progress = Progress::new(next_index, 4);
        progress.matched = matched;
        match state {
            ProgressState::Probe => {}
            ProgressState::Replicate => {
                progress.state = ProgressState::Replicate;
            }
            ProgressState::Snapshot => {
                progress.state = ProgressState::Snapshot;
                progress.pending_snapshot = next_index;
            }
        }
        progress.assert_invariants();
        progress
    }

    /// A progress in the Snapshot state, sending the snapshot at `snapshot_index`.
    fn progress_with_snapshot(snapshot_index: Index) -> Progress {
        let mut progress = Progress::new(1, 4);
        progress.become_snapshot(snapshot_index);
        progress
    }

    #[test]
    fn new_progress_probes_at_the_given_index() {
        let progress = Progress::new(7, 4);
        assert_eq!(progress.state, ProgressState::Probe);
        assert_eq!((progress.matched, progress.next_index), (0, 7));
        assert!(!progress.is_paused());
        assert_eq!(
            progress.to_string(),
            "Probe matched=0 next_index=7 inactive"
        );
    }

    #[test]
    #[should_panic(expected = "matched < next_index")]
    fn new_progress_at_index_zero_panics() {
        Progress::new(0, 4);
    }

    #[test]
    fn become_probe_from_replicate_restarts_after_matched() {
        let mut progress = progress(ProgressState::Replicate, 5, 6);
        progress.sent_entries(9);
        assert_eq!(progress.inflights.count(), 1);
        progress.become_probe();
        assert_eq!(progress.state, ProgressState::Probe);
        assert_eq!(progress.next_index, 6);
        assert_eq!(
            progress.inflights.count(),
            0,
            "leaving Replicate empties the window"
        );
    }

    #[test]
    fn become_probe_from_snapshot_starts_after_the_snapshot() {
        let mut progress = progress(ProgressState::Probe, 1, 5);
        progress.become_snapshot(10);
        assert_eq!(progress.state, ProgressState::Snapshot);
        assert_eq!(progress.pending_snapshot, 10);
        assert!(progress.is_paused());
        progress.become_probe();
        assert_eq!(progress.next_index, 11);
        assert_eq!(progress.pending_snapshot, 0);

        // If the follower acknowledged beyond the snapshot meanwhile, probe after that.
        let mut progress = progress_with_snapshot(10);
        progress.maybe_update(12);
        progress.become_probe();
        assert_eq!(progress.next_index, 13);
    }

    #[test]
    fn become_replicate_streams_after_matched() {
        let mut progress = progress(ProgressState::Probe, 3, 9);
        progress.probe_sent = true;
        progress.become_replicate();
        assert_eq!(progress.state, ProgressState::Replicate);
        assert_eq!(progress.next_index, 4);
        assert!(!progress.probe_sent);
    }

    #[test]
    #[should_panic(expected = "empty snapshot index 0")]
    fn become_snapshot_at_zero_panics() {
        Progress::new(1, 4).become_snapshot(0);
    }

    #[test]
    fn maybe_update_raises_matched_and_next_index() {
        let mut progress = progress(ProgressState::Probe, 3, 5);
        progress.probe_sent = true;
        assert!(!progress.maybe_update(2), "below matched is stale");
        assert!(!progress.maybe_update(3), "equal to matched is stale");
        assert!(
            progress.probe_sent,
            "a stale response does not lift the pause"
        );
        assert!(progress.maybe_update(4));
        assert_eq!(
            (progress.matched, progress.next_index),
            (4, 5),
            "next_index is already past 4"
        );
        assert!(!progress.probe_sent);
        assert!(progress.maybe_update(8));
        assert_eq!((progress.matched, progress.next_index), (8, 9));
    }

    #[test]
    fn maybe_update_frees_acknowledged_inflights() {
        let mut progress = progress(ProgressState::Replicate, 0, 1);
        progress.sent_entries(2);
        progress.sent_entries(4);
        progress.sent_entries(6);
        assert_eq!(progress.next_index, 7);
        assert!(progress.maybe_update(4));
        assert_eq!(progress.inflights.count(), 1);
        assert_eq!(progress.next_index, 7, "an ack never moves next_index back");
    }

    #[test]
    fn sent_entries_in_replicate_fills_the_window() {
        let mut progress = progress(ProgressState::Replicate, 0, 1);
        for last_index in [1, 2, 3] {
            progress.sent_entries(last_index);
            assert!(!progress.is_paused());
        }
        // An empty append (commit only) takes no slot.
        progress.sent_entries(3);
        assert_eq!(progress.inflights.count(), 3);
        progress.sent_entries(10);
        assert_eq!(progress.next_index, 11);
        assert!(progress.is_paused(), "window of 4 is full");
        assert_eq!(
            progress.to_string(),
            "Replicate matched=0 next_index=11 paused inactive inflight=4[full]"
        );
        progress.maybe_update(1);
        assert!(!progress.is_paused());
    }

    #[test]
    fn sent_entries_in_probe_pauses_until_answered() {
        let mut progress = progress(ProgressState::Probe, 0, 5);
        progress.sent_entries(7);
        assert!(progress.is_paused());
        assert_eq!(
            progress.next_index, 5,
            "probing does not advance next_index"
        );
        assert!(progress.maybe_decrease_to(4, 2));
        assert!(!progress.is_paused());
    }

    #[test]
    #[should_panic(expected = "Snapshot state")]
    fn sent_entries_in_snapshot_panics() {
        progress_with_snapshot(10).sent_entries(11);
    }

    #[test]
    #[should_panic(expected = "before next index")]
    fn sent_entries_behind_next_index_panics() {
        let mut progress = progress(ProgressState::Replicate, 0, 5);
        progress.sent_entries(2);
    }

    #[test]
    fn maybe_decrease_to_in_replicate() {
        let mut progress = progress(ProgressState::Replicate, 5, 10);
        assert!(!progress.maybe_decrease_to(5, 0), "at matched: stale");
        assert!(!progress.maybe_decrease_to(4, 0), "below matched: stale");
        assert_eq!(progress.next_index, 10);
        progress.sent_entries(12);
        assert!(progress.maybe_decrease_to(9, 0));
        assert_eq!(
            progress.next_index, 6,
            "back to matched + 1 whatever the hint"
        );
        assert_eq!(progress.state, ProgressState::Probe);
        assert_eq!(progress.inflights.count(), 0);
    }

    #[test]
    fn maybe_decrease_to_in_probe() {
        let mut progress = progress(ProgressState::Probe, 0, 10);
        assert!(
            !progress.maybe_decrease_to(5, 5),
            "not the latest probe: stale"
        );
        assert!(
            !progress.maybe_decrease_to(10, 5),
            "not the latest probe: stale"
        );
        assert_eq!(progress.next_index, 10);

        // The hint moves next_index back to just after it.
        progress.probe_sent = true;
        assert!(progress.maybe_decrease_to(9, 4));
        assert_eq!(progress.next_index, 5);
        assert!(!progress.probe_sent);

        // A hint at or past the rejected index only steps back by one.
        assert!(progress.maybe_decrease_to(4, 100));
        assert_eq!(progress.next_index, 4);

        // A garbage hint does not overflow.
        assert!(progress.maybe_decrease_to(3, Index::MAX));
        assert_eq!(progress.next_index, 3);
    }

    #[test]
    fn maybe_decrease_to_never_goes_to_or_below_matched() {
        let mut progress = progress(ProgressState::Probe, 5, 9);
        assert!(progress.maybe_decrease_to(8, 0));
        assert_eq!(progress.next_index, 6);

        let mut progress = Progress::new(1, 4);
        assert!(progress.maybe_decrease_to(0, 0));
        assert_eq!(progress.next_index, 1, "next_index stays at least 1");
    }

    #[test]
    fn snapshot_state_is_always_paused() {
        let progress = progress_with_snapshot(3);
        assert!(progress.is_paused());
        assert_eq!(
            progress.to_string(),
            "Snapshot matched=0 next_index=1 paused pending_snapshot=3 inactive"
        );
    }

    #[test]
    #[should_panic(expected = "probe sent only in the Probe state")]
    fn invariant_violations_are_reported_with_the_state() {
        let mut progress = progress(ProgressState::Replicate, 0, 1);
        progress.probe_sent = true;
        progress.sent_entries(1);
    }
}

/// Random sequences of the calls the leader makes keep every invariant.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Call {
        BecomeProbe,
        BecomeReplicate,
        BecomeSnapshot(Index),
        MaybeUpdate(Index),
        /// Send up to `next_index - 1 + count` if the progress is not paused.
        SendEntries(Index),
        MaybeDecreaseTo(Index, Index),
        /// Reject the latest probe (or append), with a hint.
        RejectLatest(Index),
    }

    fn call() -> impl Strategy<Value = Call> {
        prop_oneof![
            Just(Call::BecomeProbe),
            Just(Call::BecomeReplicate),
            (1..40u64).prop_map(Call::BecomeSnapshot),
            (0..40u64).prop_map(Call::MaybeUpdate),
            (0..4u64).prop_map(Call::SendEntries),
            (0..40u64, 0..40u64).prop_map(|(rejected, hint)| Call::MaybeDecreaseTo(rejected, hint)),
            (0..40u64).prop_map(Call::RejectLatest),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_under_any_call_sequence(
            next_index in 1..20u64,
            calls in proptest::collection::vec(call(), 0..60),
        ) {
            let mut progress = Progress::new(next_index, 3);
            for call in calls {
                let matched_before = progress.matched;
                match call {
                    Call::BecomeProbe => progress.become_probe(),
                    Call::BecomeReplicate => progress.become_replicate(),
                    Call::BecomeSnapshot(index) => progress.become_snapshot(index),
                    Call::MaybeUpdate(index) => {
                        let grew = progress.maybe_update(index);
                        prop_assert_eq!(grew, index > matched_before);
                    }
                    Call::SendEntries(count) => {
                        if !progress.is_paused() {
                            progress.sent_entries(progress.next_index - 1 + count);
                        }
                    }
                    Call::MaybeDecreaseTo(rejected, hint) => {
                        let next_before = progress.next_index;
                        if progress.maybe_decrease_to(rejected, hint) {
                            prop_assert!(progress.next_index <= next_before);
                        } else {
                            prop_assert_eq!(progress.next_index, next_before, "a stale rejection changes nothing");
                        }
                    }
                    Call::RejectLatest(hint) => {
                        let rejected = progress.next_index - 1;
                        let accepted = progress.maybe_decrease_to(rejected, hint);
                        let stale_in_replicate =
                            progress.state == ProgressState::Replicate && rejected <= progress.matched;
                        prop_assert_eq!(accepted, !stale_in_replicate);
                    }
                }
                progress.assert_invariants();
                prop_assert!(progress.matched >= matched_before, "matched never decreases");
            }
        }
    }
}
