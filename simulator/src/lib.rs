//! Deterministic cluster simulator and linearizability checker.

pub mod checker;
pub mod cli;
