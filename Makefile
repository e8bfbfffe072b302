# The verbs people type. `make sim` is the main job, `make test` the regression gate that CI runs.
CARGO ?= cargo
SEEDS ?= 0..300
JOBS ?= 2

.PHONY: all test lint fmt unit sim sim-gate coverage-floors scenario-mutants mutants mutants-install mutants-sim mutants-unit mutants-recheck mutants-report bug-zoo sweep repro shrink replay determinism bench bench-compare fuzz fuzz-install fuzz-smoke doc clean

# The simulator's command line, built in release (a debug build simulates ten times slower).
RAFTSIM ?= $(CARGO) run --quiet --release -p simulator --bin raftsim --
# Seeds of the gate's sweep and of its determinism check.
GATE_SEEDS ?= 0..500
DETERMINISM_SEEDS ?= 0..50

all: test

## test: the regression gate (formatting, lints, every test, which replays every scenario file
## against its snapshot, and every bug scenario against its re-planted bug). CI runs exactly this.
test: lint unit fuzz-smoke sim-gate scenario-mutants

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
## 7 nondeterminism, 8 known bug, 9 a coverage floor missed, 3 usage error. Seeds that hit a
## known, reported and not yet fixed bug (simulator/src/known_bugs.rs) are listed but do not
## fail `sim` or the gate. The sweep ends with its coverage table (README: coverage points).
sim:
	$(RAFTSIM) sweep --swarm --seeds $(SEEDS) --jobs $(JOBS) --allow-known-bugs $(ARGS)

## sim-gate: what `make test` adds: a bounded swarm sweep and a determinism check.
sim-gate:
	$(RAFTSIM) sweep --swarm --seeds $(GATE_SEEDS) --jobs $(JOBS) --allow-known-bugs --quiet \
		--coverage-floors $(COVERAGE_FLOORS)
	$(RAFTSIM) sweep --swarm --seeds $(DETERMINISM_SEEDS) --jobs $(JOBS) --allow-known-bugs --check-determinism --quiet

## coverage-floors: writes the floors the gate checks (half the gate's seeds that reach each
## coverage point) after a change that deliberately explores differently; say why in the commit.
COVERAGE_FLOORS ?= simulator/coverage-floors.txt
coverage-floors:
	$(RAFTSIM) sweep --swarm --seeds $(GATE_SEEDS) --jobs $(JOBS) --allow-known-bugs --quiet \
		--write-coverage-floors $(COVERAGE_FLOORS)

## scenario-mutants: every scenario named for a bug (scenarios/etcd-*, scenarios/regression-*)
## must catch that bug: scenarios/mutations/NAME.patch re-plants it in a scratch copy of the
## sources (under target/scenario-mutants/), raftsim is built from it (the fast `mutants`
## profile) and `raftsim replay scenarios/NAME.json` must fail. One line per patch: killed or
## SURVIVED. Fails if one survives, a patch is missing or does not apply, or a build fails.
## SCENARIO_MUTANTS='NAME …' runs only those patches.
SCENARIO_MUTANTS ?=
scenario-mutants:
	CARGO='$(CARGO)' SCENARIO_MUTANTS_JOBS=$(JOBS) SCENARIO_MUTANTS='$(SCENARIO_MUTANTS)' scripts/scenario-mutants.sh

## mutants: mutation testing with cargo-mutants (installed when missing) of raft and kvapp's
## store, WAL and node driver, in two passes over the same mutants: mutants-sim, the simulator
## alone (simulator/tests/mutant_sweep.rs: a swarm sweep of MUTANT_SEEDS seeds and every
## scenario's expectation), and mutants-unit, the mutated crate's own tests alone; both build in
## the mutants-sim profile. MUTANT_SHARD=k/n runs one round-robin shard (mutant i on shard
## i mod n, so every shard spreads over all of MUTANT_FILES): k/24 is about 48 mutants, some
## 10 minutes for the simulator's pass and 15 for the unit tests' on 2 cores. Each shard's
## outcomes go to mutants/out/k-of-n/ (ignored by git); `make mutants-report` tabulates every
## shard found there per file against mutants/triage.md.
MUTANT_SHARD ?= 0/24
MUTANT_SEEDS ?= 300
MUTANT_JOBS ?= 1
MUTANT_FILES ?= raft/src/raft.rs raft/src/log.rs raft/src/read_only.rs raft/src/tracker/*.rs \
	raft/src/quorum/*.rs raft/src/confchange/*.rs kvapp/src/store.rs kvapp/src/wal.rs \
	kvapp/src/wal/*.rs kvapp/src/node.rs
## MUTANT_SAME_AS=k-of-n: instead of a shard, exactly the mutants that the simulator's pass in
## mutants/out/k-of-n/sim judged, chosen by name (mutants/names.py), into the same directory:
## for the other pass after an edit to the sources moved mutants to other shards.
ifdef MUTANT_SAME_AS
MUTANT_OUT = mutants/out/$(MUTANT_SAME_AS)
MUTANT_SELECT = --re "$$(python3 mutants/names.py $(MUTANT_OUT)/sim)"
else
MUTANT_OUT = mutants/out/$(subst /,-of-,$(MUTANT_SHARD))
MUTANT_SELECT = --shard $(MUTANT_SHARD) --sharding round-robin
endif
MUTANTS = $(CARGO) mutants $(MUTANT_SELECT) -j $(MUTANT_JOBS) \
	--profile mutants-sim --build-timeout 900 $(foreach file,$(MUTANT_FILES),-f '$(file)')
mutants-install:
	@command -v cargo-mutants >/dev/null 2>&1 || $(CARGO) install cargo-mutants --locked

mutants: mutants-sim mutants-unit mutants-report

# The baseline is run here, once, rather than by cargo-mutants in each shard.
mutants-sim: mutants-install
	$(CARGO) test --profile mutants-sim -p simulator --test mutant_sweep -- --ignored
	mkdir -p $(MUTANT_OUT)/sim
	RAFTSIM_MUTANT_SEEDS=$(MUTANT_SEEDS) $(MUTANTS) --test-package simulator --baseline skip \
		--timeout 60 -C --test -C mutant_sweep -o $(MUTANT_OUT)/sim -- -- --ignored || true

# Each mutant is judged by every test of the crate it is in (cargo-mutants' default): raft's by
# raft's, kvapp's by kvapp's, the multi-process server tests included.
mutants-unit: mutants-install
	mkdir -p $(MUTANT_OUT)/unit
	$(MUTANTS) --timeout 120 -o $(MUTANT_OUT)/unit || true

# Judges the survivors of every shard again with the simulator as it is now (after a blind spot
# was closed); mutants-report lets these outcomes stand over the shards'.
mutants-recheck: mutants-install
	$(CARGO) test --profile mutants-sim -p simulator --test mutant_sweep -- --ignored
	python3 mutants/recheck.py mutants/out $(MUTANT_SEEDS) -- -j $(MUTANT_JOBS) --profile mutants-sim \
		--build-timeout 900 $(foreach file,$(MUTANT_FILES),-f '$(file)') --test-package simulator \
		--baseline skip --timeout 60 -C --test -C mutant_sweep -- -- --ignored || true

mutants-report:
	python3 mutants/report.py mutants/out mutants/triage.md

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
## New inputs go to FUZZ_CORPUS (fuzz/corpus/, ignored); fuzz/seeds/ holds the committed seed
## corpora. FUZZ_SEED=0 lets libFuzzer pick its seed (it prints it: `INFO: Seed: N`).
FUZZ_TARGETS ?= message_decode wal_decode wal_damage raft_step cluster_schedule
FUZZ_SECONDS ?= 600
FUZZ_SEED ?= 0
FUZZ_CORPUS ?= corpus
fuzz-install:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-install
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_CORPUS)/$$target && \
		$(CARGO) fuzz run -s none $$target $(FUZZ_CORPUS)/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -print_final_stats=1 || exit 1; \
	done

## fuzz-smoke: the short run that `make test` includes, reproducible: a fixed libFuzzer seed and
## an empty corpus (only the committed seeds), so a failure CI finds is found again here by
## `make fuzz-smoke FUZZ_TARGETS=name` (inputs run in the same order; only where 30 s ends varies).
fuzz-smoke:
	rm -rf fuzz/corpus-smoke
	$(MAKE) fuzz FUZZ_SECONDS=30 FUZZ_SEED=1 FUZZ_CORPUS=corpus-smoke

## bug-zoo: the simulator's bug-finding power: for each hand-planted bug in mutants/zoo/*.patch,
## a scratch copy with the patch applied, a raftsim build (profile mutants-sim: release without LTO) and
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
