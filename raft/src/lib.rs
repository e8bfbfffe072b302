//! A sans-IO Raft consensus library with the feature set of etcd's `raft` package.

#![warn(missing_docs)]

pub mod codec;
pub mod confchange;
pub mod config;
pub mod log;
pub mod log_unstable;
pub mod message;
pub mod quorum;
pub mod storage;
pub mod tracker;

pub use config::{Config, ConfigError, ReadOnlyOption};
pub use message::*;
pub use storage::{MemStorage, RaftState, Storage, StorageError};
