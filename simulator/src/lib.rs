//! Deterministic cluster simulator and linearizability checker: N `kvapp::Node`s in one thread
//! over a simulated network, disks and clocks, with faults, clients, safety oracles, a liveness
//! phase and the linearizability checker. See `README.md` and `raftsim --help`.

pub mod bench;
pub mod checker;
pub mod cli;
pub mod clock;
pub mod coverage;
pub mod determinism;
pub mod disk;
pub mod event;
pub mod faults;
pub mod fuzzing;
pub mod history;
pub mod known_bugs;
pub mod linearizability;
pub mod liveness;
pub mod network;
pub mod options;
pub mod oracles;
pub mod partition;
pub mod process;
pub mod random;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod shrink;
pub mod swarm;
pub mod sweep;
pub mod trace;
pub mod workload;
pub mod world;
