//! A sans-IO Raft consensus library with the feature set of etcd's `raft` package.

#![warn(missing_docs)]

pub mod codec;
pub mod confchange;
pub mod message;
pub mod quorum;
pub mod tracker;

pub use message::*;
