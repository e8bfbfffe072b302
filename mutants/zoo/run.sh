#!/usr/bin/env bash
# The bug zoo: how many swarm seeds the simulator needs to find each of a set of classic Raft
# bugs, planted by hand into raft/ and kvapp/ (one small patch per bug in this directory).
#
# For each patch: a scratch copy of the committed tree (a detached git worktree in a temporary
# directory, removed afterwards), `git apply` of the patch, a build of raftsim with the `zoo`
# profile (release without LTO), then `raftsim sweep --swarm --seeds 0..SEEDS --jobs JOBS`,
# whose failing seeds are the measure. A patch that does not apply or does not build is an
# error, never a find. The table goes to stdout and to mutants/zoo/results.md.
#
# Usage: mutants/zoo/run.sh [RESULTS_FILE]        (or `make bug-zoo`)
#
# Environment:
#   ZOO=NAME[,NAME...]  only these patches (names without .patch; spaces also separate)
#   SEEDS=500           swarm seeds per patch: a count N (seeds 0..N) or a range A..B
#   MORE_SEEDS=0        if above the end of SEEDS: a patch not found goes on to seeds
#                       END..MORE_SEEDS with the same binary (e.g. MORE_SEEDS=3000)
#   JOBS=2              sweep worker threads; BUILD_JOBS=2 cargo build jobs
#   UNIT=0              1: also run `cargo test -p raft` and `cargo test -p kvapp --lib` on
#                       each patched tree and report which of them fail (UNIT_TIMEOUT=900 s)
#   BASELINE=1          0: skip the unpatched control row (and the traces-changed column)
#   TRACE_SEEDS=50      the traces-changed column: of the first TRACE_SEEDS seeds, how many
#                       run differently (another trace hash) than on the unpatched tree; 0
#                       means the simulator never drove the patched code into acting differently
#   BASE=HEAD           the commit the scratch copies start from (the patches are against main)
#   CARGO_TARGET_DIR    shared by every scratch copy so dependencies build once (default:
#                       the repository's target/)
#
# Exit status: 0 when every patch applied and built (found or not), 1 otherwise, 2 on misuse.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
zoo_dir="$root/mutants/zoo"
results=${1:-$zoo_dir/results.md}
cargo=${CARGO:-cargo}
jobs=${JOBS:-2}
build_jobs=${BUILD_JOBS:-2}
unit=${UNIT:-0}
unit_timeout=${UNIT_TIMEOUT:-900}
baseline=${BASELINE:-1}
base=${BASE:-HEAD}
more_seeds=${MORE_SEEDS:-0}
trace_seeds=${TRACE_SEEDS:-50}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

seeds=${SEEDS:-500}
if [[ $seeds =~ ^[0-9]+$ ]]; then
    seed_first=0 seed_end=$seeds
elif [[ $seeds =~ ^([0-9]+)\.\.([0-9]+)$ ]]; then
    seed_first=${BASH_REMATCH[1]} seed_end=${BASH_REMATCH[2]}
else
    echo "run.sh: SEEDS must be a count N or a range A..B, not '$seeds'" >&2
    exit 2
fi
if ((seed_end <= seed_first)); then
    echo "run.sh: empty seed range $seed_first..$seed_end" >&2
    exit 2
fi
command -v jq >/dev/null || { echo "run.sh: needs jq" >&2; exit 2; }

# The patches to run, in file order, or those named in ZOO.
patches=()
if [[ -n ${ZOO:-} ]]; then
    for name in ${ZOO//,/ }; do
        name=${name%.patch}
        [[ -f $zoo_dir/$name.patch ]] || { echo "run.sh: no patch $zoo_dir/$name.patch" >&2; exit 2; }
        patches+=("$name")
    done
else
    for file in "$zoo_dir"/*.patch; do
        patches+=("$(basename "$file" .patch)")
    done
fi
((${#patches[@]} > 0)) || { echo "run.sh: no patches in $zoo_dir" >&2; exit 2; }

# One scratch path for the whole run: the workspace crates keep the same path, hence the same
# cargo metadata, so each build after the first reuses the incremental cache and recompiles
# only what the patch changed.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bug-zoo.XXXXXX")
tree="$scratch/tree"
cleanup() {
    if [[ -d $tree ]]; then
        git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true
    fi
    git -C "$root" worktree prune >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raftsim="$CARGO_TARGET_DIR/mutants-sim/raftsim"
# The control row's trace hashes, one line per seed of the traces-changed column.
base_hashes="$scratch/base-hashes"
rows=()
details=()
errors=0
started=$(date +%s)

log() { printf '%s\n' "$*" >&2; }

# Records a patch that could not be measured, and drops its scratch copy.
error_row() {
    local row="| $1 | $2 | ERROR: $3 | | | | |"
    if [[ $unit == 1 ]]; then
        row+=" |"
    fi
    rows+=("$row")
    errors=$((errors + 1))
    git -C "$root" worktree remove --force "$tree"
}

# Sweeps seeds $1..$2 with the built raftsim into $3 (JSON); fails on a usage error or bad JSON.
sweep() {
    local status=0
    "$raftsim" sweep --swarm --seeds "$1..$2" --jobs "$jobs" --quiet --json >"$3" 2>"$3.err" || status=$?
    # 0 pass; 4 safety, 5 liveness, 6 panic, 7 nondeterminism, 8 known bug: all are verdicts.
    case $status in
        0 | 4 | 5 | 6 | 7 | 8) jq -e '.failures' "$3" >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}

# Prints the trace hash of each of the first trace_seeds swarm seeds, one a line. (Read from the
# report's text: jq would round the 64-bit hash to a double.)
trace_hashes() {
    local seed
    for ((seed = seed_first; seed < seed_first + trace_seeds; seed++)); do
        "$raftsim" run --swarm --seed "$seed" --json 2>/dev/null \
            | sed -n 's/^ *"trace_hash": \([0-9]*\).*/\1/p' || true
    done
}

# The traces-changed column: how many of those seeds hash differently than the control's.
traces_changed() {
    if [[ ! -s $base_hashes ]]; then
        echo "-"
        return
    fi
    local changed
    changed=$(trace_hashes | paste -d ' ' "$base_hashes" - | awk '$1 != $2' | wc -l)
    echo "$changed / $trace_seeds"
}

# The unit-test column: which of the two test commands fail on the patched tree.
unit_tests() {
    local caught=() status
    for command in "test -p raft" "test -p kvapp --lib"; do
        local crate=${command#test -p }
        crate=${crate%% *}
        # shellcheck disable=SC2086
        if ! (cd "$tree" && "$cargo" $command -j "$build_jobs" --no-run) >"$scratch/unit.log" 2>&1; then
            caught+=("$crate: build error")
            continue
        fi
        status=0
        # shellcheck disable=SC2086
        (cd "$tree" && timeout "$unit_timeout" "$cargo" $command -j "$build_jobs") >"$scratch/unit.log" 2>&1 || status=$?
        if ((status == 124)); then
            caught+=("$crate (timeout)")
        elif ((status != 0)); then
            local failed
            failed=$(grep -c -- '\.\.\. FAILED$' "$scratch/unit.log" || true)
            caught+=("$crate ($failed)")
        fi
    done
    if ((${#caught[@]} == 0)); then
        echo "none"
    else
        local IFS=,
        echo "${caught[*]}" | sed 's/,/, /g'
    fi
}

# Runs one patch (or the unpatched tree for the name "(none)") and appends its table row.
run_one() {
    local name=$1 class patch_file="" t0 t1 build_s sweep_s
    if [[ $name == "(none)" ]]; then
        class="control"
    else
        patch_file="$zoo_dir/$name.patch"
        class=$(sed -n 's/^Class: //p' "$patch_file" | head -n 1)
        class=${class:-?}
    fi
    log "== $name ($class)"
    git -C "$root" worktree add --detach --quiet "$tree" "$base"
    if [[ -n $patch_file ]] && ! git -C "$tree" apply "$patch_file" 2>"$scratch/apply.log"; then
        log "   ERROR: the patch does not apply to $base:"
        sed 's/^/     /' "$scratch/apply.log" >&2
        error_row "$name" "$class" "does not apply"
        return
    fi
    t0=$(date +%s)
    if ! (cd "$tree" && "$cargo" build -j "$build_jobs" --profile mutants-sim -p simulator --bin raftsim) \
        >"$scratch/build.log" 2>&1; then
        log "   ERROR: the patched tree does not build:"
        grep -E '^(error|warning: unused)' -A 6 "$scratch/build.log" | head -n 30 | sed 's/^/     /' >&2
        error_row "$name" "$class" "build failed"
        return
    fi
    t1=$(date +%s)
    build_s=$((t1 - t0))
    local json="$scratch/sweep.json" end=$seed_end
    if ! sweep "$seed_first" "$seed_end" "$json"; then
        log "   ERROR: raftsim sweep failed:"
        sed 's/^/     /' "$json.err" | tail -n 20 >&2
        error_row "$name" "$class" "sweep failed"
        return
    fi
    local failing
    failing=$(jq '.failures | length' "$json")
    if ((failing == 0 && more_seeds > seed_end)); then
        log "   not found in $seed_first..$seed_end; going on to $seed_end..$more_seeds"
        if ! sweep "$seed_end" "$more_seeds" "$json"; then
            log "   ERROR: raftsim sweep failed:"
            sed 's/^/     /' "$json.err" | tail -n 20 >&2
            error_row "$name" "$class" "sweep failed"
            return
        fi
        end=$more_seeds
        failing=$(jq '.failures | length' "$json")
    fi
    sweep_s=$(($(date +%s) - t1))
    local changed="-"
    if [[ $name == "(none)" ]]; then
        trace_hashes >"$base_hashes"
    else
        changed=$(traces_changed)
    fi
    local total=$((end - seed_first)) found first classes
    if ((failing > 0)); then
        found="yes"
        first=$(jq '[.failures[].seed] | min' "$json")
        classes=$(jq -r '[.failures[].class] | group_by(.) | map("\(.[0]) \(length)") | join(", ")' "$json")
        details+=("- \`$name\`, seed $first: $(jq -r --argjson seed "$first" \
            '.failures[] | select(.seed == $seed) | .summary' "$json" | head -n 1 | cut -c 1-220)")
    else
        found="no"
        first="-"
        classes="-"
    fi
    local row="| $name | $class | $changed | $found | $failing / $total | $first | $classes |"
    if [[ $unit == 1 ]]; then
        local caught
        caught=$(unit_tests)
        row+=" $caught |"
        log "   unit tests: $caught"
    fi
    rows+=("$row")
    log "   $found: $failing of $total seeds fail (first $first; $classes); traces changed $changed; build ${build_s}s, sweeps ${sweep_s}s"
    git -C "$root" worktree remove --force "$tree"
}

if [[ $baseline == 1 ]]; then
    run_one "(none)"
fi
for name in "${patches[@]}"; do
    run_one "$name"
done

elapsed=$(($(date +%s) - started))
found_count=0
control_note=""
for row in "${rows[@]}"; do
    if [[ $row != *"| yes |"* ]]; then
        continue
    fi
    if [[ $row == "| (none) |"* ]]; then
        control_note="The unpatched tree fails some seeds too: a find may not be the patch's."
        log "WARNING: $control_note"
    else
        found_count=$((found_count + 1))
    fi
done

header="| patch | class | traces changed | found | failing seeds | first failing seed | failure classes |"
rule="|---|---|---|---|---|---|---|"
if [[ $unit == 1 ]]; then
    header+=" unit tests that fail |"
    rule+="---|"
fi
seeds_text="$seed_first..$seed_end"
if ((more_seeds > seed_end)); then
    seeds_text+=", then $seed_end..$more_seeds for those not found"
fi
{
    echo "# Bug zoo results"
    echo
    echo "Swarm seeds $seeds_text, \`--jobs $jobs\`, from $(git -C "$root" rev-parse --short "$base")" \
        "on $(date -u +%Y-%m-%d). Found: $found_count of ${#patches[@]} patches." \
        "Wall time: $((elapsed / 60)) min $((elapsed % 60)) s."
    echo "Written by \`mutants/zoo/run.sh\` (\`make bug-zoo\`); each patch's first lines say what it breaks."
    if [[ -n $control_note ]]; then
        echo "**$control_note**"
    fi
    echo
    echo "$header"
    echo "$rule"
    printf '%s\n' "${rows[@]}"
    if ((${#details[@]} > 0)); then
        echo
        echo "First failure of each patch found:"
        echo
        printf '%s\n' "${details[@]}"
    fi
} >"$results.partial"
mv "$results.partial" "$results"
cat "$results"
log "wrote $results"
if ((errors > 0)); then
    log "$errors patch(es) did not apply, build or sweep"
    exit 1
fi
