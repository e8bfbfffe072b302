//! A sans-IO Raft consensus library with the feature set of etcd's `raft` package.
//!
//! The library never touches a file, a socket, a thread, a clock or the operating system's
//! randomness. Time enters through [`RawNode::tick`], messages through [`RawNode::step`],
//! application requests through [`RawNode::propose`] and friends, and the persisted log through
//! the [`Storage`] trait. Randomness (the election timeout) comes from a ChaCha8 generator seeded
//! from [`Config::seed`], so a node is a pure function of its seed and its inputs: the property
//! the simulator in this repository depends on.
//!
//! # The contract
//!
//! The application owns the loop. Whenever [`RawNode::has_ready`] is true it takes a [`Ready`]
//! and handles it in exactly this order:
//!
//! 1. **Persist** the hard state, the entries and the snapshot (fsync when `must_sync`).
//! 2. **Send** the messages.
//! 3. **Apply** the snapshot and the committed entries to the state machine.
//! 4. **Advance**: call [`RawNode::advance`].
//!
//! Persisting before sending is what makes a vote or an acknowledgement durable before anyone
//! relies on it (Raft §5.1: "respond to RPCs only after updating stable storage").
//!
//! A driver that sends every `Ready` may hand the drained message vector back with
//! [`RawNode::recycle_messages`], so the next `Ready` reuses its allocation.
//!
//! # Example: a one-node cluster
//!
//! ```
//! use raft::{Config, ConfState, EntryType, MemStorage, RawNode};
//!
//! let storage = MemStorage::new_with_conf_state(ConfState::with_voters([1]));
//! let mut node = RawNode::new(&Config::new(1), storage).unwrap();
//! node.campaign().unwrap();
//!
//! let mut applied = Vec::new();
//! let mut proposed = false;
//! for _ in 0..10 {
//!     if node.raft.role == raft::StateRole::Leader && !proposed {
//!         node.propose(b"hello".to_vec()).unwrap();
//!         proposed = true;
//!     }
//!     while node.has_ready() {
//!         let ready = node.ready();
//!         // 1. Persist.
//!         if let Some(hard_state) = ready.hard_state {
//!             node.storage_mut().set_hard_state(hard_state);
//!         }
//!         node.storage_mut().append(&ready.entries).unwrap();
//!         // 2. Send: a single node has nobody to talk to.
//!         assert!(ready.messages.is_empty());
//!         // 3. Apply.
//!         for entry in ready.committed_entries {
//!             if entry.entry_type == EntryType::Normal && !entry.data.is_empty() {
//!                 applied.push(entry.data);
//!             }
//!         }
//!         // 4. Advance.
//!         node.advance();
//!     }
//!     node.tick();
//! }
//! assert_eq!(applied, vec![b"hello".to_vec()]);
//! ```

#![warn(missing_docs)]

pub mod codec;
pub mod confchange;
pub mod config;
pub mod coverage;
pub mod error;
pub mod log;
pub mod log_unstable;
pub mod message;
pub mod quorum;
pub mod raft;
pub mod raw_node;
pub mod read_only;
pub mod storage;
pub mod tracker;

pub use crate::config::{Config, ConfigError, ReadOnlyOption};
pub use crate::error::RaftError;
pub use crate::message::*;
pub use crate::raft::{CampaignType, SoftState, StateRole, LEASE_MARGIN_TICKS};
pub use crate::raw_node::{RawNode, Ready, Status};
pub use crate::read_only::ReadState;
pub use crate::storage::{MemStorage, RaftState, Storage, StorageError};
