//! Deterministic cluster simulator: N `kvapp::Node`s in one thread over a simulated network,
//! disks and clocks, with faults, clients, safety oracles, a liveness phase and the
//! linearizability checker. See `README.md` and `raftsim --help`.

#![warn(missing_docs)]

pub mod clock;
pub mod disk;
pub mod history;
pub mod network;
pub mod options;
pub mod oracles;
pub mod partition;
pub mod random;
pub mod workload;
