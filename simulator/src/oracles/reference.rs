//! A reference state machine: a `kvapp::Store` fed with the committed log in order, as the
//! oracles learn it. Every node's store must equal the reference's at the node's applied
//! index, and every reply a client was given for a command must be the reply the reference
//! produced when it first applied that command (acknowledged writes survive, with the same
//! result).
//!
//! Comparing whole stores after every step would cost O(store) per step, so the reference keeps
//! an order-independent digest (a wrapping sum of per-key and per-session hashes) updated in
//! O(1) per entry, and remembers it for every index; a node's store is digested from scratch
//! only when it is audited.

use std::hash::{Hash, Hasher};

use kvapp::store::{decode_command, ClientId, Command, Reply, Sequence, Session, Store};
use raft::tracker::ProgressTracker;
use raft::{ConfChange, ConfState, Entry, EntryType, Index, NodeId};
use rustc_hash::{FxHashMap, FxHasher};

use super::{Property, Violation};

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    // FxHash of similar inputs can be close; the final mix spreads them before summing.
    crate::random::mix64(hasher.finish())
}

fn value_hash(key: &str, value: Option<&str>) -> u64 {
    value.map_or(0, |value| hash_of(&(1u8, key, value)))
}

fn session_hash(client: ClientId, session: Option<&Session>) -> u64 {
    session.map_or(0, |session| hash_of(&(2u8, client, session)))
}

fn closed_range_hash(first: ClientId, last: ClientId) -> u64 {
    hash_of(&(3u8, first, last))
}

/// The digest of a whole store: its values, sessions and closed client id ranges.
pub fn store_digest(store: &Store) -> u64 {
    let mut digest = 0u64;
    for (key, value) in store.values() {
        digest = digest.wrapping_add(value_hash(key, Some(value)));
    }
    for (client, session) in store.sessions() {
        digest = digest.wrapping_add(session_hash(client, Some(session)));
    }
    for (first, last) in store.closed_ranges() {
        digest = digest.wrapping_add(closed_range_hash(first, last));
    }
    digest
}

/// The reference state machine; see the module docs.
#[derive(Debug)]
pub struct Reference {
    store: Store,
    applied: Index,
    digest: u64,
    /// `digests[i]`: the digest after applying index `i`.
    digests: Vec<u64>,
    first_application: FxHashMap<(ClientId, Sequence), (Index, Reply)>,
    /// Why the reference stopped following the log, if it did.
    stalled: Option<String>,
    /// Committed commands refused because their client's session was closed.
    refused_for_closed_sessions: u64,
    /// Acknowledgements given by nodes that had applied further than the reference has: the
    /// node, its applied index, the command and the reply, checked once the reference gets
    /// there. (A node can apply entries whose commitment the oracles only learn later, when a
    /// configuration change shrinks the quorum and the node compacts them in the same step.)
    pending_acknowledgements: Vec<(NodeId, Index, Command, Reply)>,
    /// The configuration the committed log implies, from each index that changed it on:
    /// `(index, configuration)`, ascending, starting at index 0 with the empty one.
    configurations: Vec<(Index, ConfState)>,
}

/// The configuration after `change` is applied to `conf`, as raft computes it; `None` when
/// raft refuses the change (every node then refuses it the same way).
pub fn next_configuration(conf: &ConfState, change: &ConfChange) -> Option<ConfState> {
    let mut tracker = ProgressTracker::new(1);
    let (config, progress) = raft::confchange::restore(&tracker, 1, conf).ok()?;
    tracker.apply(config, progress);
    let (config, progress) = raft::confchange::apply_conf_change(&tracker, 1, change).ok()?;
    tracker.apply(config, progress);
    Some(tracker.conf_state())
}

impl Default for Reference {
    fn default() -> Reference {
        Reference::new()
    }
}

impl Reference {
    /// An empty store.
    pub fn new() -> Reference {
        Reference {
            store: Store::new(),
            applied: 0,
            digest: 0,
            digests: vec![0],
            first_application: FxHashMap::default(),
            stalled: None,
            refused_for_closed_sessions: 0,
            pending_acknowledgements: Vec::new(),
            configurations: vec![(0, ConfState::default())],
        }
    }

    /// The configuration the committed log implies at `index` (after applying it).
    pub fn configuration_at(&self, index: Index) -> &ConfState {
        let position = self
            .configurations
            .partition_point(|(changed_at, _)| *changed_at <= index);
        &self.configurations[position.saturating_sub(1)].1
    }

    /// The newest configuration the committed log implies, and the index that made it.
    pub fn latest_configuration(&self) -> (Index, &ConfState) {
        let (index, conf) = self.configurations.last().expect("never empty");
        (*index, conf)
    }

    /// The last index applied.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// Why the reference could not follow the log (the entries were compacted everywhere
    /// before it saw them), if that happened; later audits are skipped.
    pub fn stalled(&self) -> Option<&str> {
        self.stalled.as_deref()
    }

    /// Gives up following the log.
    pub fn stall(&mut self, reason: String) {
        if self.stalled.is_none() {
            self.stalled = Some(reason);
        }
    }

    /// Committed commands the reference refused because their client's session was closed.
    pub fn refused_for_closed_sessions(&self) -> u64 {
        self.refused_for_closed_sessions
    }

    /// Acknowledgements not checked yet because the reference has not reached them.
    pub fn unverified_acknowledgements(&self) -> usize {
        self.pending_acknowledgements.len()
    }

    /// Applies the committed entry at `applied() + 1`, then checks the acknowledgements that
    /// were waiting for it.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), Violation> {
        self.apply_entry(entry);
        if self
            .pending_acknowledgements
            .iter()
            .any(|(_, applied, _, _)| *applied <= self.applied)
        {
            let (due, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.pending_acknowledgements)
                    .into_iter()
                    .partition(|(_, applied, _, _)| *applied <= self.applied);
            self.pending_acknowledgements = waiting;
            for (node, _, command, reply) in due {
                self.verify_acknowledged(node, &command, &reply)?;
            }
        }
        Ok(())
    }

    fn apply_entry(&mut self, entry: &Entry) {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "the reference applies in order"
        );
        if entry.entry_type == EntryType::Normal && !entry.data.is_empty() {
            if let Ok(command) = decode_command(&entry.data) {
                self.apply_command(entry.index, &command);
            }
        }
        if entry.entry_type == EntryType::ConfChange {
            if let Ok(change) = raft::codec::decode_conf_change(&entry.data) {
                let (_, current) = self.latest_configuration();
                if let Some(next) = next_configuration(current, &change) {
                    self.configurations.push((entry.index, next));
                }
            }
        }
        self.applied = entry.index;
        self.digests.push(self.digest);
    }

    fn apply_command(&mut self, index: Index, command: &Command) {
        let key = match &command.operation {
            kvapp::store::Operation::Put { key, .. }
            | kvapp::store::Operation::Get { key }
            | kvapp::store::Operation::Append { key, .. }
            | kvapp::store::Operation::Delete { key }
            | kvapp::store::Operation::CompareAndSet { key, .. } => key.clone(),
            kvapp::store::Operation::CloseSessions { .. } => {
                // It ends sessions and changes the closed ranges: rare enough to digest the
                // whole store again. A close keeps no session, so each copy answers for
                // itself; the first is remembered, for the kind of answer.
                let reply = self.store.apply(command);
                self.digest = store_digest(&self.store);
                self.first_application
                    .entry((command.client_id, command.sequence))
                    .or_insert((index, reply));
                return;
            }
        };
        let client = command.client_id;
        let value_before = value_hash(&key, self.store.get(&key));
        let session_before = self.store.session(client).cloned();
        let reply = self.store.apply(command);
        let value_after = value_hash(&key, self.store.get(&key));
        let session_after = self.store.session(client);
        self.digest = self
            .digest
            .wrapping_sub(value_before)
            .wrapping_add(value_after)
            .wrapping_sub(session_hash(client, session_before.as_ref()))
            .wrapping_add(session_hash(client, session_after));
        // A command refused for a closed session was not applied; an earlier copy may have
        // been, and keeps its place.
        let refused = reply == Reply::SessionClosed;
        self.refused_for_closed_sessions += u64::from(refused);
        let fresh =
            !refused && session_before.is_none_or(|session| session.sequence < command.sequence);
        if fresh {
            self.first_application
                .insert((client, command.sequence), (index, reply));
        }
    }

    /// Whether `node`'s store, at applied index `applied`, equals the reference's there.
    /// Indexes the reference has not reached yet are not checked.
    pub fn check_store(
        &self,
        node: NodeId,
        applied: Index,
        store: &Store,
    ) -> Result<(), Violation> {
        if self.stalled.is_some() || applied > self.applied {
            return Ok(());
        }
        let expected = self.digests[applied as usize];
        let found = store_digest(store);
        if found != expected {
            return Err(Violation::at(
                Property::AppliedStateDiverged,
                node,
                format!(
                    "store at applied index {applied} has digest {found:016x}, the reference \
                     {expected:016x}; node's values: {:?}",
                    store.values()
                ),
            ));
        }
        Ok(())
    }

    /// `node`, applied up to `node_applied`, answered `command` with `reply` (applied): the
    /// command must have been applied by the reference, up to that index, with the same reply.
    /// Checked now if the reference got that far, else when it does.
    pub fn check_acknowledged(
        &mut self,
        node: NodeId,
        node_applied: Index,
        command: &Command,
        reply: &Reply,
    ) -> Result<(), Violation> {
        if self.stalled.is_some() {
            return Ok(());
        }
        if node_applied > self.applied {
            self.pending_acknowledgements.push((
                node,
                node_applied,
                command.clone(),
                reply.clone(),
            ));
            return Ok(());
        }
        self.verify_acknowledged(node, command, reply)
    }

    fn verify_acknowledged(
        &self,
        node: NodeId,
        command: &Command,
        reply: &Reply,
    ) -> Result<(), Violation> {
        if *reply == Reply::SessionClosed {
            // A refusal, not an acknowledgement: right only if the session is closed by now
            // (closed ranges only grow).
            if self.store.is_closed(command.client_id) {
                return Ok(());
            }
            return Err(Violation::at(
                Property::AcknowledgedWrite,
                node,
                format!(
                    "client {} seq {} was refused for a closed session, but the committed log up \
                     to {} never closed it",
                    command.client_id, command.sequence, self.applied
                ),
            ));
        }
        match self
            .first_application
            .get(&(command.client_id, command.sequence))
        {
            None => Err(Violation::at(
                Property::AcknowledgedWrite,
                node,
                format!(
                    "client {} seq {} was answered {reply:?} but the committed log up to {} \
                     never applied it",
                    command.client_id, command.sequence, self.applied
                ),
            )),
            // Each copy of a close answers how many sessions it ended; what matters is that
            // one was applied and the answer is a close's.
            Some((_, Reply::SessionsClosed { .. }))
                if matches!(reply, Reply::SessionsClosed { .. }) =>
            {
                Ok(())
            }
            Some((index, expected)) if expected != reply => Err(Violation::at(
                Property::AcknowledgedWrite,
                node,
                format!(
                    "client {} seq {} was answered {reply:?} but applying it at index {index} \
                     gave {expected:?}",
                    command.client_id, command.sequence
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvapp::store::{encode_command, Operation};

    fn conf_entry(index: Index, change: &ConfChange) -> Entry {
        Entry {
            index,
            term: 1,
            entry_type: EntryType::ConfChange,
            data: raft::codec::encode_conf_change(change),
        }
    }

    #[test]
    fn the_configuration_follows_the_committed_changes_by_index() {
        let mut reference = Reference::new();
        for (index, id) in [(1, 1), (2, 2), (3, 3)] {
            reference
                .apply(&conf_entry(index, &ConfChange::add_voter(id)))
                .unwrap();
        }
        let mut joint = ConfChange::add_learner(4);
        joint.changes.extend(ConfChange::remove_node(1).changes);
        joint.transition = raft::ConfChangeTransition::JointExplicit;
        reference.apply(&conf_entry(4, &joint)).unwrap();
        // A change raft refuses (a simple change while joint) leaves the configuration as is.
        reference
            .apply(&conf_entry(5, &ConfChange::add_voter(5)))
            .unwrap();
        reference
            .apply(&conf_entry(6, &ConfChange::leave_joint()))
            .unwrap();
        assert_eq!(reference.configuration_at(0), &ConfState::default());
        assert_eq!(reference.configuration_at(2).voters, vec![1, 2]);
        let during = reference.configuration_at(5);
        assert_eq!(during.voters, vec![2, 3]);
        assert_eq!(during.voters_outgoing, vec![1, 2, 3]);
        assert_eq!(during.learners, vec![4]);
        assert!(!during.auto_leave);
        let after = reference.configuration_at(6);
        assert_eq!(
            (after.voters.clone(), after.learners.clone()),
            (vec![2, 3], vec![4])
        );
        assert_eq!(reference.latest_configuration().0, 6);
    }

    fn put(
        index: Index,
        client: ClientId,
        sequence: Sequence,
        key: &str,
        value: &str,
    ) -> (Entry, Command) {
        let command = Command {
            client_id: client,
            sequence,
            operation: Operation::Put {
                key: key.to_string(),
                value: value.to_string(),
            },
        };
        (entry(index, &command), command)
    }

    fn entry(index: Index, command: &Command) -> Entry {
        Entry {
            term: 1,
            index,
            entry_type: EntryType::Normal,
            data: encode_command(command),
        }
    }

    #[test]
    fn the_incremental_digest_matches_a_fresh_one() {
        let mut reference = Reference::new();
        let mut store = Store::new();
        for index in 1..=20 {
            let (entry, command) = put(index, index % 3, index, &format!("k{}", index % 4), "v");
            reference.apply(&entry).unwrap();
            store.apply(&command);
            reference.check_store(1, index, &store).unwrap();
        }
    }

    fn close(index: Index, client: ClientId, sequence: Sequence) -> (Entry, Command) {
        let command = Command {
            client_id: client,
            sequence,
            operation: Operation::CloseSessions {
                first: client,
                last: client,
            },
        };
        (entry(index, &command), command)
    }

    #[test]
    fn closes_keep_the_digest_and_a_refused_copy_keeps_the_first_answer() {
        let mut reference = Reference::new();
        let mut store = Store::new();
        let (first, written) = put(1, 4, 1, "k", "v");
        let (closing, close_command) = close(2, 4, 2);
        // A copy of the first put, still travelling when the session closed.
        let (late, _) = put(3, 4, 1, "k", "v");
        let (other, _) = put(4, 5, 1, "k", "w");
        for (index, (entry, command)) in [
            (first, written.clone()),
            (closing, close_command.clone()),
            (late, written.clone()),
            (other.clone(), decode_command(&other.data).unwrap()),
        ]
        .into_iter()
        .enumerate()
        {
            reference.apply(&entry).unwrap();
            store.apply(&command);
            reference
                .check_store(1, index as Index + 1, &store)
                .unwrap();
        }
        assert!(store.is_closed(4));
        assert_eq!(store.get("k"), Some("w"), "the late copy was not applied");
        // The put's answer is still its first application's, not the refusal.
        reference
            .check_acknowledged(1, 4, &written, &Reply::Written { previous: None })
            .unwrap();
        // A close's copies each answer for themselves: any close answer will do.
        reference
            .check_acknowledged(1, 4, &close_command, &Reply::SessionsClosed { ended: 0 })
            .unwrap();
        let wrong_kind = reference
            .check_acknowledged(1, 4, &close_command, &Reply::Written { previous: None })
            .unwrap_err();
        assert_eq!(wrong_kind.property, Property::AcknowledgedWrite);
        // A refusal is right for a closed client, and a violation for an open one.
        reference
            .check_acknowledged(1, 4, &written, &Reply::SessionClosed)
            .unwrap();
        let (_, open) = put(5, 5, 2, "k", "x");
        let refused = reference
            .check_acknowledged(1, 4, &open, &Reply::SessionClosed)
            .unwrap_err();
        assert_eq!(refused.property, Property::AcknowledgedWrite);
        // A store that missed the close is caught by its digest.
        let mut unclosed = Store::new();
        unclosed.apply(&written);
        reference.check_store(2, 1, &unclosed).unwrap();
        let violation = reference.check_store(2, 2, &unclosed).unwrap_err();
        assert_eq!(violation.property, Property::AppliedStateDiverged);
    }

    #[test]
    fn a_diverged_store_is_caught() {
        let mut reference = Reference::new();
        let (entry, _) = put(1, 0, 1, "k", "v");
        reference.apply(&entry).unwrap();
        let mut wrong = Store::new();
        wrong.apply(&Command {
            client_id: 0,
            sequence: 1,
            operation: Operation::Put {
                key: "k".to_string(),
                value: "w".to_string(),
            },
        });
        let violation = reference.check_store(2, 1, &wrong).unwrap_err();
        assert_eq!(violation.property, Property::AppliedStateDiverged);
        // An empty store at index 0 is right.
        reference.check_store(2, 0, &Store::new()).unwrap();
    }

    #[test]
    fn a_lost_or_misreported_acknowledged_write_is_caught() {
        let mut reference = Reference::new();
        let (entry, command) = put(1, 0, 1, "k", "v");
        reference.apply(&entry).unwrap();
        reference
            .check_acknowledged(1, 1, &command, &Reply::Written { previous: None })
            .unwrap();
        let wrong = reference
            .check_acknowledged(
                1,
                1,
                &command,
                &Reply::Written {
                    previous: Some("x".to_string()),
                },
            )
            .unwrap_err();
        assert_eq!(wrong.property, Property::AcknowledgedWrite);
        let (_, never_committed) = put(2, 1, 1, "k", "lost");
        let lost = reference
            .check_acknowledged(
                1,
                1,
                &never_committed,
                &Reply::Written {
                    previous: Some("v".to_string()),
                },
            )
            .unwrap_err();
        assert_eq!(lost.property, Property::AcknowledgedWrite);
    }

    #[test]
    fn an_acknowledgement_ahead_of_the_reference_is_checked_when_it_gets_there() {
        let mut reference = Reference::new();
        let (first, first_command) = put(1, 0, 1, "k", "v");
        let (second, _) = put(2, 1, 1, "k", "w");
        // Node 3 applied both and answered client 0; the reference knows neither yet.
        reference
            .check_acknowledged(3, 2, &first_command, &Reply::Written { previous: None })
            .unwrap();
        assert_eq!(reference.unverified_acknowledgements(), 1);
        reference.apply(&first).unwrap();
        assert_eq!(reference.unverified_acknowledgements(), 1);
        reference.apply(&second).unwrap();
        assert_eq!(reference.unverified_acknowledgements(), 0);
        // An answer for a command the log never applies fails once the reference passes it.
        let (_, ghost) = put(3, 1, 2, "k", "ghost");
        reference
            .check_acknowledged(3, 3, &ghost, &Reply::Written { previous: None })
            .unwrap();
        let (third, _) = put(3, 0, 2, "k", "x");
        assert_eq!(
            reference.apply(&third).unwrap_err().property,
            Property::AcknowledgedWrite
        );
    }
}
