# The verbs people type. `make sim` is the main job, `make test` the regression gate that CI runs.
CARGO ?= cargo
SEEDS ?= 0..300
JOBS ?= 2

.PHONY: all test lint fmt unit sim sweep bench bench-compare fuzz doc clean

all: test

## test: the regression gate (formatting, lints, every test). CI runs exactly this.
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all

## sim: the main job.
sim:
	$(CARGO) run --release -p raft --example cluster

## bench: criterion benchmarks and the checker's comparison against porcupine.
bench:
	$(CARGO) bench -p raft --bench propose
	$(CARGO) bench -p simulator --bench checker

## bench-compare: propose→commit on our raft against tikv's raft-rs 0.7, interleaved in one run,
## with the ratio ours / raft-rs. Its crate is outside the workspace (own Cargo.lock).
## Criterion's view of the same: `cd bench/raft-rs-compare && cargo bench`.
bench-compare:
	cd bench/raft-rs-compare && $(CARGO) run --release

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

clean:
	$(CARGO) clean
