//! Raft's safety properties over terms, roles and logs, checked incrementally: each call looks
//! only at what changed (new entries, newly committed indexes), never at whole logs.
//!
//! # What "commit never goes back" means across a restart
//!
//! A node's commit index lives in its hard state, but a `Ready` that only advances the commit
//! index need not be fsynced (`must_sync` is false), so after a crash the recovered commit
//! index may be lower than the one the node last held in memory; and a node that crashed while
//! persisting a `Ready` may even have held a commit index above its last durable entry (raft
//! advances `committed` when the message arrives, before the entries are persisted). Neither is
//! a bug. What must hold, and what [`Invariants::observe_restart`] checks, is:
//!
//! 1. the recovered term is at least the last durable term, and if equal, the vote is the same
//!    (one vote per term survives a crash: Raft §5.1, §5.2);
//! 2. the recovered commit index is at least the commit index of the last hard state known
//!    durable (the world records it whenever the node's disk has nothing unsynced);
//! 3. every recovered entry agrees with every entry any node ever held at the same index and
//!    term, and every recovered entry up to the recovered commit index is the committed entry
//!    there (entries no node was seen committing yet, such as the bootstrap entries, are
//!    recorded as committed).
//!
//! Within one incarnation the commit and applied indexes never decrease.

use raft::{HardState, Index, NodeId, Term};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

use super::{Property, Violation};

/// What a node's log holds at an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// An entry of this term.
    Term(Term),
    /// Covered by the node's snapshot: compacted away.
    Compacted,
    /// Past the end of the log.
    Beyond,
}

/// The identity of an entry's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryDigest {
    /// The entry's index.
    pub index: Index,
    /// The entry's term.
    pub term: Term,
    /// A hash of its type and data.
    pub data_hash: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    data_hash: u64,
    previous_term: Term,
    first_node: NodeId,
}

#[derive(Clone, Debug, Default)]
struct NodeWatch {
    commit: Index,
    applied: Index,
    leader_term: Term,
    durable: HardState,
    durability_checked: bool,
}

/// Counters for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionStats {
    /// Distinct (term, leader) pairs seen.
    pub elections: u64,
    /// The highest term a leader was seen in.
    pub highest_term: Term,
}

/// The state the invariants remember between steps.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: FxHashMap<Term, NodeId>,
    entries: FxHashMap<(Index, Term), Fingerprint>,
    /// `committed_terms[i]`: the term of the entry committed at index `i` (index 0 unused).
    committed_terms: Vec<Term>,
    /// For each term, the highest index first seen committed by a node in that term.
    committed_in_term: BTreeMap<Term, Index>,
    nodes: Vec<NodeWatch>,
    /// Counters.
    pub stats: ElectionStats,
}

impl Invariants {
    /// Invariants over nodes `1..=node_count`.
    pub fn new(node_count: usize) -> Invariants {
        Invariants {
            committed_terms: vec![0],
            nodes: vec![
                NodeWatch {
                    durability_checked: true,
                    ..NodeWatch::default()
                };
                node_count
            ],
            ..Invariants::default()
        }
    }

    fn watch(&mut self, node: NodeId) -> &mut NodeWatch {
        &mut self.nodes[node as usize - 1]
    }

    /// Each term's leader, by term.
    pub fn leaders(&self) -> BTreeMap<Term, NodeId> {
        self.leaders
            .iter()
            .map(|(&term, &node)| (term, node))
            .collect()
    }

    /// The commit index last observed at `node` in its current life.
    pub fn node_commit(&self, node: NodeId) -> Index {
        self.nodes[node as usize - 1].commit
    }

    /// The highest index known committed.
    pub fn committed_index(&self) -> Index {
        self.committed_terms.len() as Index - 1
    }

    /// The term of the committed entry at `index`, if known.
    pub fn committed_term(&self, index: Index) -> Option<Term> {
        self.committed_terms
            .get(index as usize)
            .copied()
            .filter(|_| index > 0)
    }

    /// Election safety (Raft §5.2) and leader completeness (§5.4): `node` is in `term` and
    /// leads it or not; `slot_at` reads its log.
    pub fn observe_role(
        &mut self,
        node: NodeId,
        term: Term,
        is_leader: bool,
        slot_at: impl Fn(Index) -> Slot,
    ) -> Result<(), Violation> {
        if !is_leader {
            return Ok(());
        }
        if self.watch(node).leader_term == term {
            return Ok(());
        }
        self.watch(node).leader_term = term;
        match self.leaders.get(&term) {
            Some(&other) if other != node => {
                return Err(Violation::at(
                    Property::ElectionSafety,
                    node,
                    format!("node {node} leads term {term}, which node {other} already led"),
                ))
            }
            Some(_) => {}
            None => {
                self.leaders.insert(term, node);
                self.stats.elections += 1;
                self.stats.highest_term = self.stats.highest_term.max(term);
            }
        }
        // Entries committed by leaders of earlier terms must all be in this leader's log; by
        // log matching it is enough to look at the highest of them.
        let Some(index) = self
            .committed_in_term
            .range(..term)
            .map(|(_, &index)| index)
            .max()
        else {
            return Ok(());
        };
        let expected = self.committed_terms[index as usize];
        if expected == 0 {
            return Ok(());
        }
        match slot_at(index) {
            Slot::Term(found) if found == expected => Ok(()),
            Slot::Compacted => Ok(()),
            found => Err(Violation::at(
                Property::LeaderCompleteness,
                node,
                format!(
                    "node {node} leads term {term} but holds {found:?} at index {index}, where the \
                     committed entry has term {expected}"
                ),
            )),
        }
    }

    /// Log matching (Raft §5.3): `entries` were just appended to `node`'s log after an entry
    /// of `previous_term`. Every (index, term) names one entry, always after the same
    /// predecessor term; by induction two logs that share an (index, term) agree up to it.
    pub fn observe_appended(
        &mut self,
        node: NodeId,
        previous_term: Term,
        entries: impl IntoIterator<Item = EntryDigest>,
    ) -> Result<(), Violation> {
        let mut previous_term = previous_term;
        for entry in entries {
            let seen = Fingerprint {
                data_hash: entry.data_hash,
                previous_term,
                first_node: node,
            };
            match self.entries.get(&(entry.index, entry.term)) {
                None => {
                    self.entries.insert((entry.index, entry.term), seen);
                }
                Some(first) => {
                    if first.data_hash != seen.data_hash || first.previous_term != previous_term {
                        return Err(Violation::at(
                            Property::LogMatching,
                            node,
                            format!(
                                "entry ({}, term {}) at node {node} (data {:016x}, after term \
                                 {previous_term}) differs from node {}'s (data {:016x}, after \
                                 term {})",
                                entry.index,
                                entry.term,
                                entry.data_hash,
                                first.first_node,
                                first.data_hash,
                                first.previous_term
                            ),
                        ));
                    }
                }
            }
            previous_term = entry.term;
        }
        Ok(())
    }

    /// State machine safety (Raft §5.4.3): `node`, in `node_term`, now has commit index
    /// `commit`. Checks that it did not go back and that each newly committed index holds the
    /// entry every other node committed there.
    pub fn observe_commit(
        &mut self,
        node: NodeId,
        node_term: Term,
        commit: Index,
        slot_at: impl Fn(Index) -> Slot,
    ) -> Result<(), Violation> {
        let previous = self.watch(node).commit;
        if commit < previous {
            return Err(Violation::at(
                Property::IndexWentBack,
                node,
                format!("commit index went back from {previous} to {commit}"),
            ));
        }
        for index in previous + 1..=commit {
            let term = match slot_at(index) {
                Slot::Term(term) => term,
                // Installed from a snapshot: the snapshot's entries were committed by others.
                Slot::Compacted => continue,
                Slot::Beyond => {
                    return Err(Violation::at(
                        Property::CommittedEntryChanged,
                        node,
                        format!("commit index {commit} is past the end of the log at {index}"),
                    ))
                }
            };
            self.commit_one(node, node_term, index, term)?;
        }
        self.watch(node).commit = commit;
        Ok(())
    }

    fn commit_one(
        &mut self,
        node: NodeId,
        node_term: Term,
        index: Index,
        term: Term,
    ) -> Result<(), Violation> {
        let known = self.committed_terms.len() as Index;
        if index < known {
            let expected = self.committed_terms[index as usize];
            if expected == 0 {
                // A gap left by a node that skipped this index through a snapshot.
                self.committed_terms[index as usize] = term;
                return Ok(());
            }
            if expected != term {
                return Err(Violation::at(
                    Property::CommittedEntryChanged,
                    node,
                    format!(
                        "node {node} committed index {index} with term {term}, but term \
                         {expected} was committed there before"
                    ),
                ));
            }
            return Ok(());
        }
        // A newly committed index. Earlier ones this node skipped (a snapshot) stay unknown:
        // fill them with the term 0 placeholder only if a gap opened.
        while (self.committed_terms.len() as Index) < index {
            self.committed_terms.push(0);
        }
        self.committed_terms.push(term);
        let highest = self.committed_in_term.entry(node_term).or_insert(0);
        *highest = (*highest).max(index);
        Ok(())
    }

    /// `node`'s applied index; it never goes back and never passes the commit index.
    pub fn observe_applied(&mut self, node: NodeId, applied: Index) -> Result<(), Violation> {
        let watch = self.watch(node);
        if applied < watch.applied {
            return Err(Violation::at(
                Property::IndexWentBack,
                node,
                format!(
                    "applied index went back from {} to {applied}",
                    watch.applied
                ),
            ));
        }
        if applied > watch.commit {
            return Err(Violation::at(
                Property::IndexWentBack,
                node,
                format!(
                    "applied index {applied} is past the commit index {}",
                    watch.commit
                ),
            ));
        }
        watch.applied = applied;
        Ok(())
    }

    /// `hard_state` is durable on `node`'s disk.
    pub fn note_durable(&mut self, node: NodeId, hard_state: HardState) {
        let watch = self.watch(node);
        if hard_state.term > watch.durable.term
            || (hard_state.term == watch.durable.term && hard_state.commit >= watch.durable.commit)
        {
            watch.durable = hard_state;
        }
    }

    /// The node's disk was damaged on purpose: its durable state no longer binds it.
    pub fn forgive_durability(&mut self, node: NodeId) {
        self.watch(node).durability_checked = false;
    }

    /// `node` starts over on an empty disk (it left the cluster and joins again): nothing it
    /// had binds it any more.
    pub fn reset_node(&mut self, node: NodeId) {
        *self.watch(node) = NodeWatch {
            durability_checked: true,
            ..NodeWatch::default()
        };
    }

    /// `node` crashed: its volatile indexes are gone.
    pub fn on_crash(&mut self, node: NodeId) {
        let watch = self.watch(node);
        watch.commit = 0;
        watch.applied = 0;
        watch.leader_term = 0;
    }

    /// `node` restarted with `recovered` (its raft hard state after opening) and `applied`
    /// (its snapshot index); `recovered_entries` is its whole log after the snapshot and
    /// `slot_at` reads it. See the module docs for the properties.
    pub fn observe_restart(
        &mut self,
        node: NodeId,
        recovered: HardState,
        applied: Index,
        previous_term: Term,
        recovered_entries: impl IntoIterator<Item = EntryDigest>,
        slot_at: impl Fn(Index) -> Slot,
    ) -> Result<(), Violation> {
        let watch = self.watch(node).clone();
        if watch.durability_checked {
            let durable = watch.durable;
            if recovered.term < durable.term {
                return Err(Violation::at(
                    Property::DurableStateLost,
                    node,
                    format!(
                        "term went back from durable {} to {}",
                        durable.term, recovered.term
                    ),
                ));
            }
            if recovered.term == durable.term && durable.vote != 0 && recovered.vote != durable.vote
            {
                return Err(Violation::at(
                    Property::DurableStateLost,
                    node,
                    format!(
                        "vote in term {} changed from durable {} to {}",
                        durable.term, durable.vote, recovered.vote
                    ),
                ));
            }
            if recovered.commit < durable.commit {
                return Err(Violation::at(
                    Property::DurableStateLost,
                    node,
                    format!(
                        "recovered commit index {} is below the durable {}",
                        recovered.commit, durable.commit
                    ),
                ));
            }
        }
        self.observe_appended(node, previous_term, recovered_entries)?;
        for index in applied + 1..=recovered.commit {
            match slot_at(index) {
                Slot::Term(term) => self.commit_one(node, recovered.term, index, term)?,
                Slot::Compacted => {}
                Slot::Beyond => {
                    return Err(Violation::at(
                        Property::DurableStateLost,
                        node,
                        format!(
                            "recovered commit index {} is past the recovered log at {index}",
                            recovered.commit
                        ),
                    ))
                }
            }
        }
        let watch = self.watch(node);
        watch.commit = recovered.commit;
        watch.applied = applied;
        watch.durable = HardState {
            term: recovered.term.max(watch.durable.term),
            ..recovered
        };
        watch.durability_checked = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(index: Index, term: Term, data_hash: u64) -> EntryDigest {
        EntryDigest {
            index,
            term,
            data_hash,
        }
    }

    fn log(terms: &'static [Term]) -> impl Fn(Index) -> Slot {
        move |index| match terms.get(index as usize - 1) {
            Some(&term) => Slot::Term(term),
            None => Slot::Beyond,
        }
    }

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let mut invariants = Invariants::new(3);
        invariants.observe_role(1, 2, true, log(&[])).unwrap();
        invariants.observe_role(1, 2, true, log(&[])).unwrap();
        invariants.observe_role(2, 3, true, log(&[])).unwrap();
        let violation = invariants.observe_role(3, 2, true, log(&[])).unwrap_err();
        assert_eq!(violation.property, Property::ElectionSafety);
    }

    #[test]
    fn different_entries_at_one_index_and_term_are_caught() {
        let mut invariants = Invariants::new(3);
        invariants
            .observe_appended(1, 1, [digest(5, 2, 7), digest(6, 2, 8)])
            .unwrap();
        invariants
            .observe_appended(2, 1, [digest(5, 2, 7)])
            .unwrap();
        let violation = invariants
            .observe_appended(3, 2, [digest(6, 2, 9)])
            .unwrap_err();
        assert_eq!(violation.property, Property::LogMatching);
        // Same data but a different predecessor breaks log matching too.
        let violation = invariants
            .observe_appended(3, 1, [digest(6, 2, 8)])
            .unwrap_err();
        assert_eq!(violation.property, Property::LogMatching);
    }

    #[test]
    fn a_changed_committed_entry_is_caught() {
        let mut invariants = Invariants::new(2);
        invariants.observe_commit(1, 2, 3, log(&[1, 1, 2])).unwrap();
        let violation = invariants
            .observe_commit(2, 3, 3, log(&[1, 1, 3]))
            .unwrap_err();
        assert_eq!(violation.property, Property::CommittedEntryChanged);
    }

    #[test]
    fn a_commit_index_going_back_is_caught() {
        let mut invariants = Invariants::new(1);
        invariants.observe_commit(1, 1, 3, log(&[1, 1, 1])).unwrap();
        let violation = invariants
            .observe_commit(1, 1, 2, log(&[1, 1, 1]))
            .unwrap_err();
        assert_eq!(violation.property, Property::IndexWentBack);
        let mut invariants = Invariants::new(1);
        invariants.observe_commit(1, 1, 3, log(&[1, 1, 1])).unwrap();
        invariants.observe_applied(1, 2).unwrap();
        assert_eq!(
            invariants.observe_applied(1, 1).unwrap_err().property,
            Property::IndexWentBack
        );
        assert_eq!(
            invariants.observe_applied(1, 4).unwrap_err().property,
            Property::IndexWentBack
        );
    }

    #[test]
    fn a_leader_missing_a_committed_entry_is_caught() {
        let mut invariants = Invariants::new(3);
        invariants
            .observe_commit(1, 2, 4, log(&[1, 1, 2, 2]))
            .unwrap();
        let violation = invariants
            .observe_role(2, 3, true, log(&[1, 1, 2]))
            .unwrap_err();
        assert_eq!(violation.property, Property::LeaderCompleteness);
        invariants
            .observe_role(3, 4, true, log(&[1, 1, 2, 2, 4]))
            .unwrap();
    }

    #[test]
    fn lost_durable_state_is_caught_but_a_lower_volatile_commit_is_not() {
        let durable = HardState {
            term: 3,
            vote: 2,
            commit: 5,
        };
        let mut invariants = Invariants::new(2);
        invariants
            .observe_commit(1, 3, 6, log(&[1, 1, 2, 3, 3, 3]))
            .unwrap();
        invariants.note_durable(1, durable);
        invariants.on_crash(1);
        // Recovered commit 5 < volatile 6: fine, 5 was the durable one.
        invariants
            .observe_restart(1, durable, 0, 0, [], log(&[1, 1, 2, 3, 3, 3]))
            .unwrap();
        invariants.on_crash(1);
        let forgot_vote = HardState { vote: 1, ..durable };
        let violation = invariants
            .observe_restart(1, forgot_vote, 0, 0, [], log(&[1, 1, 2, 3, 3, 3]))
            .unwrap_err();
        assert_eq!(violation.property, Property::DurableStateLost);
        let lost_commit = HardState {
            commit: 4,
            ..durable
        };
        let violation = invariants
            .observe_restart(1, lost_commit, 0, 0, [], log(&[1, 1, 2, 3, 3, 3]))
            .unwrap_err();
        assert_eq!(violation.property, Property::DurableStateLost);
        let changed = invariants
            .observe_restart(1, durable, 0, 0, [], log(&[1, 1, 2, 3, 4, 4]))
            .unwrap_err();
        assert_eq!(changed.property, Property::CommittedEntryChanged);
        invariants.forgive_durability(1);
        invariants
            .observe_restart(1, lost_commit, 0, 0, [], log(&[1, 1, 2, 3]))
            .unwrap();
    }
}
