# The verbs people type. `make sim` is the main job, `make test` the regression gate that CI runs.
CARGO ?= cargo
SEEDS ?= 0..300
JOBS ?= 2

.PHONY: all test lint fmt unit sim sim-gate sweep repro shrink replay determinism bench bench-compare fuzz fuzz-install fuzz-smoke bug-zoo doc clean

# The simulator's command line, built in release (a debug build simulates ten times slower).
RAFTSIM ?= $(CARGO) run --quiet --release -p simulator --bin raftsim --
# Seeds of the gate's sweep and of its determinism check.
GATE_SEEDS ?= 0..500
DETERMINISM_SEEDS ?= 0..50

all: test

## test: the regression gate (formatting, lints, every test, which replays every scenario file
## against its snapshot). CI runs exactly this.
test: lint unit fuzz-smoke sim-gate

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all

## sim: the main job: a swarm sweep of SEEDS (each seed draws its own cluster size, faults and
## workload), with a progress bar and a table of failures; every failure prints the command that
## reproduces it. Exit codes: 0 pass, 4 safety violation, 5 liveness failure, 6 panic,
## 7 nondeterminism, 8 known bug, 3 usage error. Seeds that hit a known, reported and not yet
## fixed bug (simulator/src/known_bugs.rs) are listed but do not fail `sim` or the gate.
sim:
	$(RAFTSIM) sweep --swarm --seeds $(SEEDS) --jobs $(JOBS) --allow-known-bugs $(ARGS)

## sim-gate: what `make test` adds: a bounded swarm sweep and a determinism check.
sim-gate:
	$(RAFTSIM) sweep --swarm --seeds $(GATE_SEEDS) --jobs $(JOBS) --allow-known-bugs --quiet
	$(RAFTSIM) sweep --swarm --seeds $(DETERMINISM_SEEDS) --jobs $(JOBS) --allow-known-bugs --check-determinism --quiet

## sweep: any seed range with any options, e.g.
##   make sweep SEEDS=1000..2000 ARGS='--set cluster.node_count=3 --set faults.fault_window_ms=5000'
sweep:
	$(RAFTSIM) sweep --seeds $(SEEDS) --jobs $(JOBS) $(ARGS)

## repro: one swarm seed with its full report, e.g. `make repro SEED=17` (ARGS='--trace' prints
## every event; a failure's own reproduction line has the exact flags).
repro:
	@test -n "$(SEED)" || { echo "usage: make repro SEED=N [ARGS='--trace']"; exit 2; }
	$(RAFTSIM) run --swarm --seed $(SEED) $(ARGS)

## shrink: a failing seed made into a small scenario file that fails the same way, e.g.
##   make shrink SEED=826 ARGS="--swarm --set faults.membership_change_probability=0.3 -o scenarios/x.json"
## (without -o in ARGS it writes shrunk-seed-SEED.json; scenarios/README.md says how it works).
shrink:
	@test -n "$(SEED)" || { echo "usage: make shrink SEED=N ARGS='[--swarm] [--set a.b=v] -o FILE'"; exit 2; }
	$(RAFTSIM) shrink --seed $(SEED) $(if $(findstring -o ,$(ARGS)),,-o shrunk-seed-$(SEED).json) $(ARGS)

## replay: every scenario file in scenarios/ with the release raftsim; fails on the first whose
## outcome is not the one the file expects (`make unit` replays them too, against snapshots/).
replay:
	@for file in scenarios/*.json; do \
		$(RAFTSIM) replay $$file --brief > /dev/null || { echo "$$file: not the expected outcome"; \
		echo "  see: $(RAFTSIM) replay $$file"; exit 1; }; \
		echo "$$file: as expected"; \
	done

## determinism: run every seed of DETERMINISM_SEEDS twice and name the first event that differs.
determinism:
	$(RAFTSIM) sweep --swarm --seeds $(DETERMINISM_SEEDS) --jobs $(JOBS) --check-determinism

## bench: the simulator's speed (steady load, messages per second, swarm seeds per core-minute),
## criterion benchmarks and the checker's comparison against porcupine. The steady load runs
## BENCH_REPEAT times (median and best); BENCH_AGAINST=path/to/an/older/raftsim interleaves that
## binary's runs with these and prints the ratios, pair by pair.
BENCH_REPEAT ?= 5
BENCH_AGAINST ?=
bench:
	$(RAFTSIM) bench --repeat $(BENCH_REPEAT) $(if $(BENCH_AGAINST),--against $(BENCH_AGAINST))
	$(CARGO) bench -p raft --bench propose
	$(CARGO) bench -p raft --bench codec
	$(CARGO) bench -p simulator --bench checker

## bench-compare: propose→commit on our raft against tikv's raft-rs 0.7, interleaved in one run,
## with the ratio ours / raft-rs. Its crate is outside the workspace (own Cargo.lock).
## Criterion's view of the same: `cd bench/raft-rs-compare && cargo bench`.
bench-compare:
	cd bench/raft-rs-compare && $(CARGO) run --release

## fuzz: every cargo-fuzz target for FUZZ_SECONDS each, on stable Rust (no sanitizer).
## New inputs go to fuzz/corpus/ (ignored); fuzz/seeds/ holds the committed seed corpora.
FUZZ_TARGETS ?= message_decode wal_decode wal_damage raft_step cluster_schedule
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

## bug-zoo: the simulator's bug-finding power: for each hand-planted bug in mutants/zoo/*.patch,
## a scratch copy with the patch applied, a raftsim build (profile zoo: release without LTO) and
## a swarm sweep; prints and writes mutants/zoo/results.md (found or not, failing seeds, first
## failing seed). ZOO=name,... for some patches; SEEDS=500 (a count or A..B); MORE_SEEDS=3000
## sweeps on for those not found; UNIT=1 adds which of `cargo test -p raft` and
## `cargo test -p kvapp --lib` catch each bug. Not part of `make test`.
bug-zoo:
	mutants/zoo/run.sh

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

clean:
	$(CARGO) clean
