//! A replicated key-value service on the `raft` crate.
