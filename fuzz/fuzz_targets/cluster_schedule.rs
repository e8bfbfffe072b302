//! The fuzzer's bytes drive the simulator's choices for a short run of a small cluster: the
//! first byte picks the configuration (1, 3 or 5 nodes, PreVote, CheckQuorum, membership
//! changes or disk corruption, snapshot and replication sizes), the rest steer which faults
//! strike when (crashes, also inside a disk write, pauses, partitions, clogs, leader transfers,
//! forced elections), how the network delays, loses and duplicates messages (and so the delivery
//! order), how a crash tears unsynced writes, and what the clients ask. Every oracle is on: the
//! Raft invariants after every step, acknowledged writes survive, the liveness phase, the store
//! audits and the linearizability checker. See `simulator::fuzzing` for the input layout.
//!
//! Any verdict but a pass is a crash, with one exception: `Verdict::KnownBug`, a failure with the
//! signature of a bug already reported and not fixed yet (listed with its diagnosis in
//! `simulator/src/known_bugs.rs`, e.g. `kvapp-removed-node-still-needed` under membership
//! changes), is a documented known issue and passes, as it does in `make sim`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use simulator::fuzzing::run_tape;
use simulator::report::Class;

fuzz_target!(|input: &[u8]| {
    let report = run_tape(input);
    match report.verdict.class() {
        Class::Pass | Class::KnownBug => {}
        Class::Safety | Class::Liveness | Class::Panic | Class::Nondeterminism => {
            panic!("{}", report.text(true))
        }
    }
});
