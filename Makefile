# The verbs people type. `make sim` is the main job, `make test` the regression gate that CI runs.
CARGO ?= cargo
SEEDS ?= 0..300
JOBS ?= 2

.PHONY: all test lint fmt unit sim sweep bench bench-compare fuzz fuzz-install fuzz-smoke doc clean

all: test

## test: the regression gate (formatting, lints, every test). CI runs exactly this.
test: lint unit fuzz-smoke

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

## fuzz: every cargo-fuzz target for FUZZ_SECONDS each, on stable Rust (no sanitizer).
## New inputs go to fuzz/corpus/ (ignored); fuzz/seeds/ holds the committed seed corpora.
FUZZ_TARGETS ?= message_decode wal_decode wal_damage raft_step
FUZZ_SECONDS ?= 600
fuzz-install:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-install
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target && \
		$(CARGO) fuzz run -s none $$target corpus/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

## fuzz-smoke: the short run that `make test` includes.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

clean:
	$(CARGO) clean
