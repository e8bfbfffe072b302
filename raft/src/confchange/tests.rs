//! Unit tests of the changer, and a proptest of random change sequences against a model.
//! The scripted cases are in `datadriven.rs` and `testdata/`.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::message::{ConfChangeTransition, ConfState};
use crate::tracker::ProgressState;

fn add_voter(node_id: NodeId) -> ConfChangeSingle {
    ConfChangeSingle {
        change_type: ConfChangeType::AddNode,
        node_id,
    }
}

fn add_learner(node_id: NodeId) -> ConfChangeSingle {
    ConfChangeSingle {
        change_type: ConfChangeType::AddLearnerNode,
        node_id,
    }
}

fn remove_node(node_id: NodeId) -> ConfChangeSingle {
    ConfChangeSingle {
        change_type: ConfChangeType::RemoveNode,
        node_id,
    }
}

/// A tracker restored from `conf_state`, with an inflight window of 4.
fn tracker_of(conf_state: &ConfState) -> ProgressTracker {
    let mut tracker = ProgressTracker::new(4);
    let (config, progress) = restore(&tracker, 1, conf_state).expect("a consistent conf state");
    tracker.apply(config, progress);
    tracker
}

#[test]
fn added_nodes_get_fresh_active_progress() {
    let tracker = tracker_of(&ConfState::with_voters([1]));
    let changer = Changer {
        tracker: &tracker,
        last_index: 7,
    };
    let (_, progress) = changer.simple(&[add_voter(2), add_learner(3)]).unwrap();
    for (id, is_learner) in [(2, false), (3, true)] {
        let node_progress = &progress[&id];
        assert_eq!(node_progress.matched, 0);
        assert_eq!(node_progress.next_index, 7);
        assert_eq!(node_progress.state, ProgressState::Probe);
        assert!(
            node_progress.recent_active,
            "CheckQuorum must not count a new node as silent"
        );
        assert_eq!(node_progress.is_learner, is_learner);
        assert_eq!(node_progress.inflights.capacity(), 4);
    }

    let at_zero = Changer {
        tracker: &tracker,
        last_index: 0,
    };
    let (_, progress) = at_zero.simple(&[add_voter(2)]).unwrap();
    assert_eq!(progress[&2].next_index, 1, "next_index stays above matched");
}

#[test]
fn existing_nodes_keep_their_progress() {
    let mut tracker = tracker_of(&ConfState::with_voters([1, 2, 3]));
    tracker.progress.get_mut(&3).unwrap().maybe_update(42);
    let changer = Changer {
        tracker: &tracker,
        last_index: 50,
    };
    let (config, progress) = changer
        .enter_joint(false, &[add_learner(3), add_voter(4)])
        .unwrap();
    assert_eq!(config.learners_next, [3].into());
    assert_eq!(progress[&3].matched, 42);
    assert!(!progress[&3].is_learner, "a staged learner still votes");
}

#[test]
fn the_tracker_is_not_modified() {
    let tracker = tracker_of(&ConfState::with_voters([1, 2, 3]));
    let before = tracker.clone();
    let changer = Changer {
        tracker: &tracker,
        last_index: 3,
    };
    changer
        .enter_joint(true, &[remove_node(1), add_voter(4)])
        .unwrap();
    changer
        .simple(&[remove_node(1), remove_node(2)])
        .unwrap_err();
    changer.simple(&[add_learner(2)]).unwrap();
    assert_eq!(tracker, before);
}

#[test]
fn apply_conf_change_dispatches_on_the_change() {
    let tracker = tracker_of(&ConfState::with_voters([1, 2, 3]));

    // One voter, transition Auto: a simple change.
    let (config, _) = apply_conf_change(&tracker, 3, &ConfChange::add_voter(4)).unwrap();
    assert_eq!(config.to_string(), "voters=(1 2 3 4)");

    // Two changes, transition Auto: joint, left automatically.
    let two = ConfChange {
        changes: vec![add_voter(4), remove_node(1)],
        ..ConfChange::default()
    };
    let (config, _) = apply_conf_change(&tracker, 3, &two).unwrap();
    assert_eq!(config.to_string(), "voters=(2 3 4)&&(1 2 3) auto_leave");

    // One change, explicit transition: joint, left by the application.
    let explicit = ConfChange {
        transition: ConfChangeTransition::JointExplicit,
        ..ConfChange::add_voter(4)
    };
    let (config, progress) = apply_conf_change(&tracker, 3, &explicit).unwrap();
    assert_eq!(config.to_string(), "voters=(1 2 3 4)&&(1 2 3)");

    // The empty change leaves.
    let mut joint = tracker.clone();
    joint.apply(config, progress);
    let (config, _) = apply_conf_change(&joint, 3, &ConfChange::leave_joint()).unwrap();
    assert_eq!(config.to_string(), "voters=(1 2 3 4)");
    assert_eq!(
        apply_conf_change(&tracker, 3, &ConfChange::leave_joint()),
        Err(ConfChangeError::NotJoint)
    );
}

#[test]
fn errors_describe_themselves() {
    let error = ConfChangeError::TooManyVoterChanges { changed: 3 };
    assert_eq!(
        error.to_string(),
        "3 voters changed without entering a joint configuration (at most 1 may)"
    );
}

#[test]
#[should_panic(expected = "tracker invariant broken")]
fn a_corrupt_tracker_is_a_bug() {
    let mut tracker = tracker_of(&ConfState::with_voters([1, 2]));
    tracker.progress.remove(&2);
    let _ = Changer {
        tracker: &tracker,
        last_index: 1,
    }
    .simple(&[add_voter(3)]);
}

/// One call to the changer.
#[derive(Clone, Debug)]
enum Operation {
    Simple(Vec<ConfChangeSingle>),
    EnterJoint(bool, Vec<ConfChangeSingle>),
    LeaveJoint,
}

fn change() -> impl Strategy<Value = ConfChangeSingle> {
    // Node 0 now and then, to exercise the skipping of refused changes.
    let node_id = prop_oneof![1 => Just(0u64), 12 => 1..=6u64];
    let change_type = prop_oneof![
        Just(ConfChangeType::AddNode),
        Just(ConfChangeType::AddLearnerNode),
        Just(ConfChangeType::RemoveNode),
    ];
    (change_type, node_id).prop_map(|(change_type, node_id)| ConfChangeSingle {
        change_type,
        node_id,
    })
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => proptest::collection::vec(change(), 0..=2).prop_map(Operation::Simple),
        2 => (any::<bool>(), proptest::collection::vec(change(), 0..=5))
            .prop_map(|(auto_leave, changes)| Operation::EnterJoint(auto_leave, changes)),
        2 => Just(Operation::LeaveJoint),
    ]
}

/// What a change should produce according to the rules, computed independently of the changer.
#[derive(Debug)]
struct Expected {
    conf_state: ConfState,
    /// The nodes with progress afterwards.
    tracked: BTreeSet<NodeId>,
    /// The nodes among them whose progress is new.
    fresh: BTreeSet<NodeId>,
}

/// The role a change list gives a node; the last change to a node decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Voter,
    Learner,
}

fn model(tracker: &ProgressTracker, operation: &Operation) -> Result<Expected, ConfChangeError> {
    let before = &tracker.config;
    let joint = before.voters.is_joint();
    let incoming_before = before.voters.incoming.voters().clone();
    let (changes, outgoing, auto_leave) = match operation {
        Operation::LeaveJoint => {
            if !joint {
                return Err(ConfChangeError::NotJoint);
            }
            let learners: BTreeSet<NodeId> = before
                .learners
                .union(&before.learners_next)
                .copied()
                .collect();
            let tracked = incoming_before.union(&learners).copied().collect();
            let conf_state = ConfState {
                voters: incoming_before.into_iter().collect(),
                learners: learners.into_iter().collect(),
                ..ConfState::default()
            };
            return Ok(Expected {
                conf_state,
                tracked,
                fresh: BTreeSet::new(),
            });
        }
        Operation::Simple(changes) => {
            if joint {
                return Err(ConfChangeError::SimpleChangeWhileJoint);
            }
            (changes, BTreeSet::new(), false)
        }
        Operation::EnterJoint(auto_leave, changes) => {
            if joint {
                return Err(ConfChangeError::AlreadyJoint);
            }
            if incoming_before.is_empty() {
                return Err(ConfChangeError::JointWithoutVoters);
            }
            (changes, incoming_before.clone(), *auto_leave)
        }
    };

    let mut roles: BTreeMap<NodeId, Role> = BTreeMap::new();
    roles.extend(incoming_before.iter().map(|&id| (id, Role::Voter)));
    roles.extend(
        before
            .learners
            .iter()
            .chain(&before.learners_next)
            .map(|&id| (id, Role::Learner)),
    );
    let mut tracked: BTreeSet<NodeId> = tracker.progress.keys().copied().collect();
    let mut fresh = BTreeSet::new();
    for change in changes.iter().filter(|change| change.node_id != INVALID_ID) {
        let id = change.node_id;
        match change.change_type {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                if tracked.insert(id) {
                    fresh.insert(id);
                }
                let role = match change.change_type {
                    ConfChangeType::AddNode => Role::Voter,
                    ConfChangeType::AddLearnerNode | ConfChangeType::RemoveNode => Role::Learner,
                };
                roles.insert(id, role);
            }
            ConfChangeType::RemoveNode => {
                roles.remove(&id);
                if !outgoing.contains(&id) {
                    tracked.remove(&id);
                    fresh.remove(&id);
                }
            }
        }
    }

    let with_role = |role: Role| {
        roles
            .iter()
            .filter(move |(_, &r)| r == role)
            .map(|(&id, _)| id)
    };
    let incoming: BTreeSet<NodeId> = with_role(Role::Voter).collect();
    if incoming.is_empty() {
        return Err(ConfChangeError::RemovedAllVoters);
    }
    if matches!(operation, Operation::Simple(_)) {
        let changed = incoming.symmetric_difference(&incoming_before).count();
        if changed > 1 {
            return Err(ConfChangeError::TooManyVoterChanges { changed });
        }
    }
    let (learners_next, learners): (Vec<NodeId>, Vec<NodeId>) =
        with_role(Role::Learner).partition(|id| outgoing.contains(id));
    let conf_state = ConfState {
        voters: incoming.into_iter().collect(),
        learners,
        voters_outgoing: outgoing.into_iter().collect(),
        learners_next,
        auto_leave,
    };
    Ok(Expected {
        conf_state,
        tracked,
        fresh,
    })
}

fn run(tracker: &ProgressTracker, last_index: Index, operation: &Operation) -> ChangeResult {
    let changer = Changer {
        tracker,
        last_index,
    };
    match operation {
        Operation::Simple(changes) => changer.simple(changes),
        Operation::EnterJoint(auto_leave, changes) => changer.enter_joint(*auto_leave, changes),
        Operation::LeaveJoint => changer.leave_joint(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random change sequences agree with the model, keep the invariants (asserted by
    /// `apply`), keep the progress of surviving nodes, and round-trip through `restore`.
    #[test]
    fn random_changes_follow_the_rules(operations in proptest::collection::vec(operation(), 1..40)) {
        let mut tracker = ProgressTracker::new(4);
        for (step, operation) in operations.iter().enumerate() {
            let step = step as Index + 1;
            // Mark every existing progress so that kept and fresh progress differ.
            for (&id, progress) in tracker.progress.iter_mut() {
                progress.maybe_update(step * 100 + id);
                progress.recent_active = false;
            }
            let last_index = step * 100;
            let expected = model(&tracker, operation);
            let actual = run(&tracker, last_index, operation);
            let (config, progress) = match (actual, expected) {
                (Err(actual), Err(expected)) => {
                    prop_assert_eq!(actual, expected, "{:?} on {}", operation, tracker.config);
                    continue;
                }
                (Ok(actual), Ok(expected)) => {
                    let (config, progress) = actual;
                    prop_assert_eq!(&config.to_conf_state(), &expected.conf_state, "{:?} on {}", operation, tracker.config);
                    let tracked: BTreeSet<NodeId> = progress.keys().copied().collect();
                    prop_assert_eq!(&tracked, &expected.tracked);
                    for (id, node_progress) in &progress {
                        if expected.fresh.contains(id) {
                            prop_assert_eq!(node_progress.matched, 0);
                            prop_assert_eq!(node_progress.next_index, last_index);
                            prop_assert!(node_progress.recent_active);
                        } else {
                            let mut before = tracker.progress[id].clone();
                            before.is_learner = node_progress.is_learner;
                            prop_assert_eq!(node_progress, &before, "{} kept its progress", id);
                        }
                    }
                    (config, progress)
                }
                (actual, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "{operation:?} on {}: changer gave {actual:?}, model {expected:?}",
                        tracker.config
                    )));
                }
            };
            tracker.apply(config, progress);

            let (restored_config, restored_progress) = restore(&tracker, last_index, &tracker.conf_state())
                .map_err(|error| TestCaseError::fail(format!("restore of {}: {error}", tracker.config)))?;
            prop_assert_eq!(&restored_config, &tracker.config);
            let learner_flags = |progress: &ProgressMap| -> Vec<(NodeId, bool)> {
                progress.iter().map(|(&id, node_progress)| (id, node_progress.is_learner)).collect()
            };
            prop_assert_eq!(learner_flags(&restored_progress), learner_flags(&tracker.progress));
        }
    }
}
