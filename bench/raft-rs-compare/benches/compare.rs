//! Criterion groups for the propose → commit scenario on both libraries: one group per cluster
//! size, one function per library, so criterion's report puts them side by side. For the
//! interleaved ratio table run `cargo run --release` (what `make bench-compare` does).

use criterion::{criterion_group, criterion_main, Criterion};
use raft_rs_compare::{ours_side, raft_rs_side, Scenario};

fn side<S: Scenario>(c: &mut Criterion, voters: u64) {
    let mut bench = S::new(voters);
    c.benchmark_group(format!("propose_commit/{voters}_voter"))
        .bench_function(S::NAME, |b| b.iter(|| bench.propose_and_commit()));
}

fn propose_commit(c: &mut Criterion) {
    for voters in [1u64, 3] {
        side::<ours_side::Bench>(c, voters);
        side::<raft_rs_side::Bench>(c, voters);
    }
}

criterion_group!(benches, propose_commit);
criterion_main!(benches);
