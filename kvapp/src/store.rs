//! The replicated key-value state machine.
//!
//! Clients send [`Command`]s; the leader proposes each one as the data of a normal Raft entry
//! ([`encode_command`]); every node applies committed commands in log order with
//! [`Store::apply`] and the node that received the command answers the client with the
//! [`Reply`].
//!
//! # Exactly-once application
//!
//! A client may retry a command whose answer it never saw, so the same command can be committed
//! more than once. Each command carries `(client_id, sequence)`; the store keeps one
//! [`Session`] per client: the highest sequence number applied for it and that command's reply
//! (Raft thesis §6.3). Applying a command then goes:
//!
//! | sequence compared with the session's | effect | reply |
//! |---|---|---|
//! | no session yet, or higher | apply, replace the session | the command's own reply |
//! | equal (a retry of the latest command) | nothing | the cached reply, unchanged |
//! | lower (a retry of an older command) | nothing | [`Reply::Stale`] |
//!
//! A client must therefore have at most one command in flight and number its commands with
//! increasing sequence numbers; in return the table holds exactly one session per client, so it
//! is bounded by the number of clients.
//!
//! # Closing sessions
//!
//! Sessions end only through the log, so that every replica ends the same ones at the same
//! index (the thesis, §6.3, expires them by timestamps carried in entries; here the clients'
//! owner says when). [`Operation::CloseSessions`] ends the sessions of a range of client ids
//! and closes the range for good: a later command from a client id in it, such as a retry of
//! an old command still travelling the network, is refused with [`Reply::SessionClosed`]
//! rather than applied a second time after its session is gone. The closed ranges are merged
//! as they grow, so they number no more than the separate ranges ever closed (the server
//! closes one growing range per node: the client ids of the node's earlier runs, then all of
//! them once the node is removed; see `server::client_ids`). A close is idempotent and has no
//! session of its own.
//!
//! Everything is a `BTreeMap` so that snapshots are byte-identical on every node.

use std::collections::BTreeMap;

use raft::codec::{self, CodecError};
use serde::{Deserialize, Serialize};

/// Identifies a client across retries and across leaders.
pub type ClientId = u64;

/// A client's command number; each client numbers its commands in increasing order.
pub type Sequence = u64;

/// What a command does to the map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Read `key` (a read through the log; linearizable by construction).
    Get {
        /// The key.
        key: String,
    },
    /// Append `value` to the value of `key`, treating a missing key as empty.
    Append {
        /// The key.
        key: String,
        /// The suffix.
        value: String,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Set `key` to `value` only if its value is `expected` (`None`: only if it is absent).
    CompareAndSet {
        /// The key.
        key: String,
        /// The value the key must have for the swap to happen.
        expected: Option<String>,
        /// The new value.
        value: String,
    },
    /// End the sessions of client ids `first..=last` and refuse every later command from
    /// them (see the module docs). It touches no key; its own client id and sequence only
    /// identify it to the node that submitted it.
    CloseSessions {
        /// The first client id closed.
        first: ClientId,
        /// The last client id closed (an empty range when below `first`).
        last: ClientId,
    },
}

/// One client request as it travels in a log entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Command {
    /// Who sent it.
    pub client_id: ClientId,
    /// The client's number for it; see the module docs for the dedup rules.
    pub sequence: Sequence,
    /// What to do.
    pub operation: Operation,
}

/// The answer to a command.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Put, append and delete: the command was applied; `previous` is the value before it.
    Written {
        /// The key's value before the command, `None` if it was absent.
        previous: Option<String>,
    },
    /// Get: the key's value, `None` if absent.
    Value {
        /// The value read.
        value: Option<String>,
    },
    /// Compare-and-set: whether the swap happened, and the value the key had before.
    CompareAndSet {
        /// True when the key held `expected` and now holds the new value.
        swapped: bool,
        /// The key's value before the command, `None` if it was absent.
        previous: Option<String>,
    },
    /// The command is older than the latest one applied for its client; it was not applied
    /// (now) and its original answer is gone.
    Stale {
        /// The sequence number of the client's latest applied command.
        latest_sequence: Sequence,
    },
    /// Close-sessions: the range is closed; `ended` sessions were open in it.
    SessionsClosed {
        /// The sessions it ended.
        ended: u64,
    },
    /// The command's client id lies in a closed range: it was not applied, and no command of
    /// that client ever will be.
    SessionClosed,
}

/// What the store remembers about one client.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Session {
    /// The highest sequence number applied for this client.
    pub sequence: Sequence,
    /// The reply that command produced; never [`Reply::Stale`].
    pub reply: Reply,
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The bytes are not an encoded store snapshot.
    #[error("store snapshot does not decode: {0}")]
    Undecodable(CodecError),
    /// A session caches a reply that [`Store::apply`] never records: [`Reply::Stale`],
    /// [`Reply::SessionClosed`] or [`Reply::SessionsClosed`].
    #[error("store snapshot caches a {reply} reply for client {client_id}")]
    UnrecordedReplyCached {
        /// The client whose session is wrong.
        client_id: ClientId,
        /// The kind of reply.
        reply: &'static str,
    },
    /// The closed ranges are not in order, overlap, touch, or run backwards.
    #[error("store snapshot's closed client id ranges are malformed at {first}..={last}")]
    ClosedRangesMalformed {
        /// The first client id of the offending range.
        first: ClientId,
        /// Its last client id.
        last: ClientId,
    },
    /// A session survives inside a closed range.
    #[error("store snapshot holds a session for client {client_id}, whose range is closed")]
    SessionInClosedRange {
        /// The client.
        client_id: ClientId,
    },
}

/// The key-value map plus the client sessions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Store {
    values: BTreeMap<String, String>,
    /// One entry per client; see the module docs.
    sessions: BTreeMap<ClientId, Session>,
    /// Closed client id ranges, first to last (inclusive); disjoint, and never touching, since
    /// touching ranges are merged.
    closed: BTreeMap<ClientId, ClientId>,
}

/// The snapshot layout before sessions could be closed, still read so that a node upgraded
/// over its old snapshot files starts.
#[derive(Deserialize)]
struct StoreWithoutClosedRanges {
    values: BTreeMap<String, String>,
    sessions: BTreeMap<ClientId, Session>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Applies one committed command and returns its reply, following the dedup rules in the
    /// module docs.
    pub fn apply(&mut self, command: &Command) -> Reply {
        if let Operation::CloseSessions { first, last } = command.operation {
            return Reply::SessionsClosed {
                ended: self.close_sessions(first, last),
            };
        }
        if self.is_closed(command.client_id) {
            return Reply::SessionClosed;
        }
        if let Some(session) = self.sessions.get(&command.client_id) {
            if command.sequence == session.sequence {
                return session.reply.clone();
            }
            if command.sequence < session.sequence {
                return Reply::Stale {
                    latest_sequence: session.sequence,
                };
            }
        }
        let reply = self.execute(&command.operation);
        self.sessions.insert(
            command.client_id,
            Session {
                sequence: command.sequence,
                reply: reply.clone(),
            },
        );
        reply
    }

    fn execute(&mut self, operation: &Operation) -> Reply {
        match operation {
            Operation::Put { key, value } => Reply::Written {
                previous: self.set(key, value),
            },
            Operation::Get { key } => Reply::Value {
                value: self.values.get(key).cloned(),
            },
            Operation::Append { key, value } => {
                // An existing value grows in place; only the reply copies the old one.
                let previous = match self.values.get_mut(key) {
                    Some(slot) => {
                        let previous = slot.clone();
                        slot.push_str(value);
                        Some(previous)
                    }
                    None => self.values.insert(key.clone(), value.clone()),
                };
                Reply::Written { previous }
            }
            Operation::Delete { key } => Reply::Written {
                previous: self.values.remove(key),
            },
            Operation::CloseSessions { .. } => unreachable!("apply handles closes first"),
            Operation::CompareAndSet {
                key,
                expected,
                value,
            } => {
                let swapped = self.values.get(key) == expected.as_ref();
                let previous = if swapped {
                    self.set(key, value)
                } else {
                    self.values.get(key).cloned()
                };
                Reply::CompareAndSet { swapped, previous }
            }
        }
    }

    /// Whether `client_id` lies in a closed range.
    pub fn is_closed(&self, client_id: ClientId) -> bool {
        self.closed
            .range(..=client_id)
            .next_back()
            .is_some_and(|(_, &last)| client_id <= last)
    }

    /// Ends the sessions in `first..=last`, closes the range (merged with any range it
    /// overlaps or touches), and returns how many sessions it ended.
    fn close_sessions(&mut self, first: ClientId, last: ClientId) -> u64 {
        if last < first {
            return 0;
        }
        let ended: Vec<ClientId> = self
            .sessions
            .range(first..=last)
            .map(|(&client_id, _)| client_id)
            .collect();
        for client_id in &ended {
            self.sessions.remove(client_id);
        }
        let (mut merged_first, mut merged_last) = (first, last);
        let touching: Vec<(ClientId, ClientId)> = self
            .closed
            .range(..=last.saturating_add(1))
            .rev()
            .take_while(|&(_, &other_last)| other_last.saturating_add(1) >= first)
            .map(|(&other_first, &other_last)| (other_first, other_last))
            .collect();
        for (other_first, other_last) in touching {
            self.closed.remove(&other_first);
            merged_first = merged_first.min(other_first);
            merged_last = merged_last.max(other_last);
        }
        self.closed.insert(merged_first, merged_last);
        ended.len() as u64
    }

    /// The closed client id ranges, first to last, in order.
    pub fn closed_ranges(&self) -> impl Iterator<Item = (ClientId, ClientId)> + '_ {
        self.closed.iter().map(|(&first, &last)| (first, last))
    }

    /// Sets `key` to `value` and returns the value it replaced. An existing key is updated in
    /// place, without a copy of the key.
    fn set(&mut self, key: &str, value: &str) -> Option<String> {
        match self.values.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, value.to_string())),
            None => self.values.insert(key.to_string(), value.to_string()),
        }
    }

    /// The value of `key` in this replica, for reads that do not go through the log (after a
    /// ReadIndex round, or a local read the client asked for).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// All keys and values, in key order.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// The session of `client_id`, if it has one.
    pub fn session(&self, client_id: ClientId) -> Option<&Session> {
        self.sessions.get(&client_id)
    }

    /// Every session held, by client id.
    pub fn sessions(&self) -> impl Iterator<Item = (ClientId, &Session)> + '_ {
        self.sessions
            .iter()
            .map(|(&client_id, session)| (client_id, session))
    }

    /// The number of client sessions held (one per client seen and not closed).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The snapshot payload: the map and the sessions, encoded with the raft codec.
    pub fn snapshot_data(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Rebuilds a store from [`Store::snapshot_data`] output, checking what it decodes. The
    /// layout from before sessions could be closed is read too (with no closed ranges).
    pub fn restore(data: &[u8]) -> Result<Store, StoreError> {
        let store: Store = match codec::decode(data) {
            Ok(store) => store,
            Err(error) => match codec::decode::<StoreWithoutClosedRanges>(data) {
                Ok(old) => Store {
                    values: old.values,
                    sessions: old.sessions,
                    closed: BTreeMap::new(),
                },
                // The current layout's error says more about bytes that are neither.
                Err(_) => return Err(StoreError::Undecodable(error)),
            },
        };
        for (&client_id, session) in &store.sessions {
            let reply = match session.reply {
                Reply::Stale { .. } => "stale",
                Reply::SessionClosed => "session-closed",
                Reply::SessionsClosed { .. } => "sessions-closed",
                Reply::Written { .. } | Reply::Value { .. } | Reply::CompareAndSet { .. } => {
                    continue
                }
            };
            return Err(StoreError::UnrecordedReplyCached { client_id, reply });
        }
        let mut previous_last: Option<ClientId> = None;
        for (&first, &last) in &store.closed {
            let apart = previous_last
                .is_none_or(|previous| previous.checked_add(1).is_some_and(|next| next < first));
            if last < first || !apart {
                return Err(StoreError::ClosedRangesMalformed { first, last });
            }
            previous_last = Some(last);
            if let Some((&client_id, _)) = store.sessions.range(first..=last).next() {
                return Err(StoreError::SessionInClosedRange { client_id });
            }
        }
        Ok(store)
    }
}

/// Encodes a command as the data of a normal entry.
pub fn encode_command(command: &Command) -> Vec<u8> {
    codec::encode(command)
}

/// Decodes the data of a normal entry into a command.
pub fn decode_command(data: &[u8]) -> Result<Command, CodecError> {
    codec::decode(data)
}

/// Encodes a reply for the client.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    codec::encode(reply)
}

/// Decodes a reply.
pub fn decode_reply(data: &[u8]) -> Result<Reply, CodecError> {
    codec::decode(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn command(client_id: ClientId, sequence: Sequence, operation: Operation) -> Command {
        Command {
            client_id,
            sequence,
            operation,
        }
    }

    fn put(key: &str, value: &str) -> Operation {
        Operation::Put {
            key: key.to_string(),
            value: value.to_string(),
        }
    }

    fn get(key: &str) -> Operation {
        Operation::Get {
            key: key.to_string(),
        }
    }

    fn written(previous: Option<&str>) -> Reply {
        Reply::Written {
            previous: previous.map(str::to_string),
        }
    }

    #[test]
    fn put_and_get() {
        let mut store = Store::new();
        assert_eq!(
            store.apply(&command(1, 1, get("k"))),
            Reply::Value { value: None }
        );
        assert_eq!(store.apply(&command(1, 2, put("k", "a"))), written(None));
        assert_eq!(
            store.apply(&command(1, 3, put("k", "b"))),
            written(Some("a"))
        );
        assert_eq!(
            store.apply(&command(1, 4, get("k"))),
            Reply::Value {
                value: Some("b".to_string())
            }
        );
        assert_eq!(store.get("k"), Some("b"));
    }

    #[test]
    fn append_creates_and_extends() {
        let mut store = Store::new();
        let append = |value: &str| Operation::Append {
            key: "k".to_string(),
            value: value.to_string(),
        };
        assert_eq!(store.apply(&command(1, 1, append("x"))), written(None));
        assert_eq!(store.apply(&command(1, 2, append("y"))), written(Some("x")));
        assert_eq!(store.get("k"), Some("xy"));
    }

    #[test]
    fn delete_removes_and_reports_the_previous_value() {
        let mut store = Store::new();
        let delete = Operation::Delete {
            key: "k".to_string(),
        };
        assert_eq!(store.apply(&command(1, 1, delete.clone())), written(None));
        store.apply(&command(1, 2, put("k", "v")));
        assert_eq!(store.apply(&command(1, 3, delete)), written(Some("v")));
        assert_eq!(store.get("k"), None);
        assert!(store.values().is_empty());
    }

    #[test]
    fn compare_and_set_swaps_only_on_a_match() {
        let mut store = Store::new();
        let compare_and_set = |expected: Option<&str>, value: &str| Operation::CompareAndSet {
            key: "k".to_string(),
            expected: expected.map(str::to_string),
            value: value.to_string(),
        };
        assert_eq!(
            store.apply(&command(1, 1, compare_and_set(Some("a"), "b"))),
            Reply::CompareAndSet {
                swapped: false,
                previous: None
            }
        );
        assert_eq!(store.get("k"), None);
        assert_eq!(
            store.apply(&command(1, 2, compare_and_set(None, "a"))),
            Reply::CompareAndSet {
                swapped: true,
                previous: None
            }
        );
        assert_eq!(
            store.apply(&command(1, 3, compare_and_set(Some("x"), "b"))),
            Reply::CompareAndSet {
                swapped: false,
                previous: Some("a".to_string())
            }
        );
        assert_eq!(
            store.apply(&command(1, 4, compare_and_set(Some("a"), "b"))),
            Reply::CompareAndSet {
                swapped: true,
                previous: Some("a".to_string())
            }
        );
        assert_eq!(store.get("k"), Some("b"));
    }

    #[test]
    fn a_retried_command_applies_once_and_answers_its_first_reply() {
        let mut store = Store::new();
        let append = command(
            7,
            1,
            Operation::Append {
                key: "k".to_string(),
                value: "x".to_string(),
            },
        );
        assert_eq!(store.apply(&append), written(None));
        // Another client's write in between must not change the cached answer.
        store.apply(&command(8, 1, put("k", "other")));
        assert_eq!(store.apply(&append), written(None));
        assert_eq!(store.get("k"), Some("other"));
    }

    #[test]
    fn an_older_command_is_stale_and_not_applied() {
        let mut store = Store::new();
        store.apply(&command(7, 5, put("k", "five")));
        assert_eq!(
            store.apply(&command(7, 4, put("k", "four"))),
            Reply::Stale { latest_sequence: 5 }
        );
        assert_eq!(store.get("k"), Some("five"));
        assert_eq!(store.session(7).map(|session| session.sequence), Some(5));
    }

    #[test]
    fn the_session_table_holds_one_entry_per_client() {
        let mut store = Store::new();
        for sequence in 1..=100 {
            store.apply(&command(1, sequence, put("k", "v")));
            store.apply(&command(2, sequence, get("k")));
        }
        assert_eq!(store.session_count(), 2);
    }

    #[test]
    fn snapshot_and_restore_round_trip() {
        let mut store = Store::new();
        store.apply(&command(1, 1, put("a", "1")));
        store.apply(&command(2, 9, put("b", "2")));
        let restored = Store::restore(&store.snapshot_data());
        assert_eq!(restored.as_ref(), Ok(&store));
    }

    #[test]
    fn restore_rejects_bad_bytes_and_stale_sessions() {
        assert!(matches!(
            Store::restore(b"garbage"),
            Err(StoreError::Undecodable(_))
        ));
        let mut store = Store::new();
        store.sessions.insert(
            3,
            Session {
                sequence: 1,
                reply: Reply::Stale { latest_sequence: 0 },
            },
        );
        assert_eq!(
            Store::restore(&store.snapshot_data()),
            Err(StoreError::UnrecordedReplyCached {
                client_id: 3,
                reply: "stale"
            })
        );
    }

    fn close(first: ClientId, last: ClientId) -> Command {
        command(99, 1, Operation::CloseSessions { first, last })
    }

    #[test]
    fn a_close_ends_the_sessions_in_its_range_and_refuses_their_later_commands() {
        let mut store = Store::new();
        for client in 1..=5 {
            store.apply(&command(client, 1, put(&format!("k{client}"), "a")));
        }
        assert_eq!(
            store.apply(&close(2, 4)),
            Reply::SessionsClosed { ended: 3 }
        );
        assert_eq!(store.session_count(), 2);
        // A retry of an applied command and a new command are both refused, and change nothing.
        assert_eq!(
            store.apply(&command(3, 1, put("k3", "a"))),
            Reply::SessionClosed
        );
        assert_eq!(
            store.apply(&command(4, 2, put("k4", "b"))),
            Reply::SessionClosed
        );
        assert_eq!(store.get("k4"), Some("a"));
        assert_eq!(store.session(4), None);
        // Just outside the range, clients go on.
        assert_eq!(
            store.apply(&command(1, 1, put("k1", "a"))),
            written(None),
            "the cached reply of client 1's command"
        );
        assert_eq!(
            store.apply(&command(5, 2, put("k5", "b"))),
            written(Some("a"))
        );
        // Closing again is harmless; the close itself keeps no session.
        assert_eq!(
            store.apply(&close(2, 4)),
            Reply::SessionsClosed { ended: 0 }
        );
        assert_eq!(store.session(99), None);
        // A backwards range closes nothing.
        assert_eq!(
            store.apply(&close(9, 8)),
            Reply::SessionsClosed { ended: 0 }
        );
        assert_eq!(store.closed_ranges().collect::<Vec<_>>(), vec![(2, 4)]);
        let restored = Store::restore(&store.snapshot_data()).unwrap();
        assert_eq!(restored, store);
        assert!(restored.is_closed(3) && !restored.is_closed(5));
    }

    #[test]
    fn closed_ranges_merge_when_they_overlap_or_touch() {
        let mut store = Store::new();
        for (first, last) in [
            (10, 12),
            (20, 22),
            (14, 15),
            (13, 13),
            (0, 0),
            (u64::MAX, u64::MAX),
        ] {
            store.apply(&close(first, last));
        }
        assert_eq!(
            store.closed_ranges().collect::<Vec<_>>(),
            vec![(0, 0), (10, 15), (20, 22), (u64::MAX, u64::MAX)]
        );
        store.apply(&close(11, 21));
        assert_eq!(
            store.closed_ranges().collect::<Vec<_>>(),
            vec![(0, 0), (10, 22), (u64::MAX, u64::MAX)]
        );
        for (id, closed) in [
            (0, true),
            (1, false),
            (9, false),
            (10, true),
            (22, true),
            (23, false),
        ] {
            assert_eq!(store.is_closed(id), closed, "client {id}");
        }
    }

    #[test]
    fn restore_reads_the_layout_from_before_closed_ranges() {
        #[derive(Serialize)]
        struct Before {
            values: BTreeMap<String, String>,
            sessions: BTreeMap<ClientId, Session>,
        }
        let mut store = Store::new();
        store.apply(&command(1, 4, put("a", "1")));
        let before = Before {
            values: store.values.clone(),
            sessions: store.sessions.clone(),
        };
        let restored = Store::restore(&codec::encode(&before)).unwrap();
        assert_eq!(restored, store);
        // And the current layout with trailing garbage is neither.
        let mut damaged = store.snapshot_data();
        damaged.push(0);
        assert!(matches!(
            Store::restore(&damaged),
            Err(StoreError::Undecodable(_))
        ));
    }

    #[test]
    fn restore_rejects_malformed_closed_ranges() {
        let with = |ranges: &[(ClientId, ClientId)], session: Option<ClientId>| {
            let mut store = Store::new();
            store.closed = ranges.iter().copied().collect();
            if let Some(client) = session {
                // Straight into the table: apply would refuse a closed client.
                let reply = Reply::Value { value: None };
                store
                    .sessions
                    .insert(client, Session { sequence: 1, reply });
            }
            Store::restore(&store.snapshot_data())
        };
        assert!(with(&[(1, 2), (4, 5)], Some(3)).is_ok());
        assert_eq!(
            with(&[(5, 4)], None),
            Err(StoreError::ClosedRangesMalformed { first: 5, last: 4 })
        );
        assert_eq!(
            with(&[(1, 3), (3, 5)], None),
            Err(StoreError::ClosedRangesMalformed { first: 3, last: 5 })
        );
        assert_eq!(
            with(&[(1, 3), (4, 5)], None),
            Err(StoreError::ClosedRangesMalformed { first: 4, last: 5 }),
            "touching ranges would have been merged"
        );
        assert_eq!(
            with(&[(1, 2), (4, 5)], Some(4)),
            Err(StoreError::SessionInClosedRange { client_id: 4 })
        );
    }

    #[test]
    fn commands_and_replies_round_trip_through_the_codec() {
        let original = command(
            4,
            2,
            Operation::CompareAndSet {
                key: "k".to_string(),
                expected: None,
                value: "v".to_string(),
            },
        );
        assert_eq!(decode_command(&encode_command(&original)), Ok(original));
        let reply = Reply::Stale { latest_sequence: 3 };
        assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
        assert!(decode_command(&[]).is_err());
    }

    fn operation_strategy() -> impl Strategy<Value = Operation> {
        // Few keys and short values, so that commands collide and compare-and-set succeeds.
        let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string);
        let value = prop::sample::select(vec!["", "x", "y"]).prop_map(str::to_string);
        let expected = prop::option::of(value.clone());
        prop_oneof![
            (key.clone(), value.clone()).prop_map(|(key, value)| Operation::Put { key, value }),
            key.clone().prop_map(|key| Operation::Get { key }),
            (key.clone(), value.clone()).prop_map(|(key, value)| Operation::Append { key, value }),
            key.clone().prop_map(|key| Operation::Delete { key }),
            (key, expected, value).prop_map(|(key, expected, value)| {
                Operation::CompareAndSet {
                    key,
                    expected,
                    value,
                }
            }),
            (0..3u64, 0..3u64).prop_map(|(first, last)| Operation::CloseSessions { first, last }),
        ]
    }

    fn command_strategy() -> impl Strategy<Value = Command> {
        // Small client and sequence ranges, so that retries and stale commands are common.
        (0..3u64, 0..6u64, operation_strategy()).prop_map(|(client_id, sequence, operation)| {
            Command {
                client_id,
                sequence,
                operation,
            }
        })
    }

    proptest! {
        #[test]
        fn a_restored_snapshot_behaves_like_the_original(
            commands in prop::collection::vec(command_strategy(), 0..60),
            split in 0usize..60,
        ) {
            let split = split.min(commands.len());
            let mut original = Store::new();
            for command in &commands[..split] {
                original.apply(command);
            }
            let mut restored = Store::restore(&original.snapshot_data())
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&restored, &original);
            // Same state is not enough: the sessions must also make the same dedup decisions.
            for command in &commands[split..] {
                prop_assert_eq!(restored.apply(command), original.apply(command));
            }
            prop_assert_eq!(restored.snapshot_data(), original.snapshot_data());
        }

        #[test]
        fn closed_ranges_close_exactly_the_ids_closed_and_stay_merged(
            closes in prop::collection::vec((0..24u64, 0..24u64), 0..12),
        ) {
            let mut store = Store::new();
            let mut closed = [false; 26];
            for &(first, last) in &closes {
                store.apply(&close(first, last));
                for id in first..=last {
                    closed[id as usize] = true;
                }
            }
            for (id, &expected) in closed.iter().enumerate() {
                prop_assert_eq!(store.is_closed(id as u64), expected, "client {}", id);
            }
            let ranges: Vec<_> = store.closed_ranges().collect();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].1 + 1 < pair[1].0, "{:?}", ranges);
            }
            prop_assert!(Store::restore(&store.snapshot_data()).is_ok());
        }
    }
}
