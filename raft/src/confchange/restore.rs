//! Rebuilding a configuration from its persisted form (etcd-io/raft `confchange/restore.go`).

use super::{ChangeResult, Changer, ConfChangeError};
use crate::message::{ConfChangeSingle, ConfChangeType, ConfState, Index, NodeId, INVALID_ID};
use crate::tracker::ProgressTracker;

/// Rebuilds the configuration described by `conf_state` (from a snapshot, or at restart) by
/// replaying it as changes from an empty configuration, as etcd's `confchange.Restore` does:
/// simple changes adding each voter, then, if the state is joint, one joint change.
///
/// The replay starts from an empty configuration whatever `tracker` holds; only
/// `tracker.max_inflight` is used, so every node gets fresh progress (probed from
/// `last_index`). An empty `conf_state` gives the empty configuration.
///
/// Replaying only goes through legal changes, so it rejects states no sequence of changes can
/// produce: if the result does not describe the same configuration as `conf_state` (up to
/// order and duplicates), the error is [`ConfChangeError::UnrestorableConfState`].
pub fn restore(
    tracker: &ProgressTracker,
    last_index: Index,
    conf_state: &ConfState,
) -> ChangeResult {
    let mut scratch = ProgressTracker::new(tracker.max_inflight);
    let (outgoing_changes, incoming_changes) = replay_changes(conf_state);
    // Not joint: add the voters and learners one by one. Joint: add the outgoing voters one by
    // one, then enter joint with the incoming changes all together.
    let (one_by_one, joint_changes) = if outgoing_changes.is_empty() {
        (incoming_changes, None)
    } else {
        (outgoing_changes, Some(incoming_changes))
    };
    for change in &one_by_one {
        let changer = Changer {
            tracker: &scratch,
            last_index,
        };
        let (config, progress) = changer.simple(std::slice::from_ref(change))?;
        scratch.apply(config, progress);
    }
    if let Some(changes) = joint_changes {
        let changer = Changer {
            tracker: &scratch,
            last_index,
        };
        let (config, progress) = changer.enter_joint(conf_state.auto_leave, &changes)?;
        scratch.apply(config, progress);
    }

    let expected = normalized(conf_state);
    let restored = scratch.conf_state();
    if restored != expected {
        return Err(ConfChangeError::UnrestorableConfState {
            conf_state: Box::new(expected),
            restored: Box::new(restored),
        });
    }
    Ok((scratch.config, scratch.progress))
}

/// The changes that rebuild `conf_state`: first those that build the outgoing voters as a
/// plain configuration (empty if not joint), then those that, applied on top (entering a joint
/// configuration if the first list is not empty), produce the incoming half and the learners.
///
/// For voters (1 2 3), outgoing voters (1 2 4 6), learners (5) and staged learners (4):
/// - outgoing: add 1, add 2, add 4, add 6, giving voters (1 2 4 6);
/// - incoming: remove 1, 2, 4 and 6, add 1, 2 and 3, add learner 5, add learner 4. Entering
///   joint with these keeps (1 2 4 6) as the outgoing half; 4, still an outgoing voter, is
///   staged as a learner rather than made one.
///
/// Node id 0 is left out rather than replayed: the changer would skip it silently, whereas
/// leaving it out makes the final comparison with `conf_state` report it.
fn replay_changes(conf_state: &ConfState) -> (Vec<ConfChangeSingle>, Vec<ConfChangeSingle>) {
    let changes = |ids: &[NodeId], change_type: ConfChangeType| -> Vec<ConfChangeSingle> {
        let valid = ids.iter().copied().filter(|&node_id| node_id != INVALID_ID);
        valid
            .map(|node_id| ConfChangeSingle {
                change_type,
                node_id,
            })
            .collect()
    };
    let outgoing = changes(&conf_state.voters_outgoing, ConfChangeType::AddNode);
    let incoming = [
        changes(&conf_state.voters_outgoing, ConfChangeType::RemoveNode),
        changes(&conf_state.voters, ConfChangeType::AddNode),
        changes(&conf_state.learners, ConfChangeType::AddLearnerNode),
        changes(&conf_state.learners_next, ConfChangeType::AddLearnerNode),
    ]
    .concat();
    (outgoing, incoming)
}

/// `conf_state` with every list sorted and deduplicated, as a tracker reports it.
fn normalized(conf_state: &ConfState) -> ConfState {
    let sorted = |ids: &Vec<NodeId>| {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    ConfState {
        voters: sorted(&conf_state.voters),
        learners: sorted(&conf_state.learners),
        voters_outgoing: sorted(&conf_state.voters_outgoing),
        learners_next: sorted(&conf_state.learners_next),
        auto_leave: conf_state.auto_leave,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::ProgressState;

    fn conf_state(
        voters: &[NodeId],
        learners: &[NodeId],
        voters_outgoing: &[NodeId],
        learners_next: &[NodeId],
        auto_leave: bool,
    ) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            voters_outgoing: voters_outgoing.to_vec(),
            learners_next: learners_next.to_vec(),
            auto_leave,
        }
    }

    #[test]
    fn consistent_states_round_trip() {
        let cases = [
            conf_state(&[], &[], &[], &[], false),
            conf_state(&[1], &[], &[], &[], false),
            conf_state(&[1, 2, 3], &[], &[], &[], false),
            conf_state(&[1, 2, 3], &[4, 5], &[], &[], false),
            conf_state(&[1, 2, 3], &[], &[1, 2], &[], false),
            conf_state(&[1, 2, 3], &[], &[4, 5, 6], &[], true),
            conf_state(&[1, 2, 3], &[5], &[1, 2, 4, 6], &[4], false),
            conf_state(&[1, 2, 3], &[5], &[1, 2, 4, 6], &[4], true),
            conf_state(&[4], &[], &[1, 2, 3], &[1, 2, 3], true),
            conf_state(&[1, 2], &[3], &[1, 2], &[], true),
        ];
        for case in cases {
            let tracker = ProgressTracker::new(8);
            let (config, progress) = restore(&tracker, 10, &case)
                .unwrap_or_else(|error| panic!("restoring {case:?}: {error}"));
            let mut restored = ProgressTracker::new(8);
            restored.apply(config, progress);
            assert_eq!(restored.conf_state(), case);
            for (id, progress) in &restored.progress {
                assert_eq!(progress.matched, 0, "{id} in {case:?}");
                assert_eq!(progress.next_index, 10, "{id} in {case:?}");
                assert_eq!(progress.state, ProgressState::Probe, "{id} in {case:?}");
                assert_eq!(progress.inflights.capacity(), 8);
            }
        }
    }

    #[test]
    fn order_and_duplicates_do_not_matter() {
        let shuffled = conf_state(&[3, 1, 2, 1], &[5, 5], &[6, 4, 2, 1], &[4], false);
        let (config, _) = restore(&ProgressTracker::new(4), 0, &shuffled).unwrap();
        assert_eq!(
            config.to_conf_state(),
            conf_state(&[1, 2, 3], &[5], &[1, 2, 4, 6], &[4], false)
        );
    }

    #[test]
    fn the_tracker_configuration_is_ignored() {
        let mut tracker = ProgressTracker::new(4);
        let (config, progress) =
            restore(&tracker, 0, &conf_state(&[7, 8, 9], &[], &[], &[], false)).unwrap();
        tracker.apply(config, progress);
        let target = conf_state(&[1], &[2], &[], &[], false);
        let (config, progress) = restore(&tracker, 5, &target).unwrap();
        assert_eq!(config.to_conf_state(), target);
        assert_eq!(progress.keys().copied().collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn inconsistent_states_are_refused() {
        let unrestorable = [
            // A node both voter and learner.
            conf_state(&[1, 2], &[2], &[], &[], false),
            // A node both outgoing voter and learner.
            conf_state(&[1], &[2], &[1, 2], &[], false),
            // A staged learner that is not an outgoing voter.
            conf_state(&[1], &[], &[1, 2], &[3], false),
            // A staged learner outside a joint configuration.
            conf_state(&[1, 2], &[], &[], &[2], false),
            // A staged learner that is still an incoming voter.
            conf_state(&[1, 2], &[], &[1, 2], &[2], false),
            // auto_leave outside a joint configuration.
            conf_state(&[1], &[], &[], &[], true),
            // The reserved id 0, as a voter, outgoing voter or learner.
            conf_state(&[0, 1], &[], &[], &[], false),
            conf_state(&[1], &[], &[0], &[], false),
            conf_state(&[1], &[0], &[], &[], false),
        ];
        for case in unrestorable {
            let result = restore(&ProgressTracker::new(4), 0, &case);
            assert!(
                matches!(result, Err(ConfChangeError::UnrestorableConfState { .. })),
                "{case:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn states_without_incoming_voters_are_refused() {
        for case in [
            conf_state(&[], &[1], &[], &[], false),
            conf_state(&[], &[], &[1, 2], &[], false),
        ] {
            assert_eq!(
                restore(&ProgressTracker::new(4), 0, &case),
                Err(ConfChangeError::RemovedAllVoters),
                "{case:?}"
            );
        }
    }
}
