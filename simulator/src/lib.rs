//! Deterministic cluster simulator and linearizability checker.
