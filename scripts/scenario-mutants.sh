#!/usr/bin/env bash
# Re-plants the bug each bug scenario is named for and requires the scenario to catch it.
#
# For every patch scenarios/mutations/NAME.patch (or only the NAMEs given as arguments, or those
# in $SCENARIO_MUTANTS): a scratch copy of the source tree gets the patch, raftsim is built from
# it, and `raftsim replay scenarios/NAME.json` must NOT reach the outcome the file expects. First
# the scratch copy is built without any patch, and every chosen scenario must pass there, so that
# a kill is never a scenario that fails anyway. The real tree is never modified.
#
# Exit 0 when every scenario kills its mutant; 1 when one survives; 2 on an error (a scenario
# named etcd-* or regression-* without a patch, a patch without its scenario, a patch that does
# not apply, a failed build, a scenario that fails unpatched, raftsim crashing).
#
# Environment: CARGO (cargo), SCENARIO_MUTANTS_PROFILE (mutants: the workspace profile that
# builds fastest, see Cargo.toml), SCENARIO_MUTANTS_JOBS (2), SCENARIO_MUTANTS_DIR (the scratch
# tree, its target directory and logs; default ${CARGO_TARGET_DIR:-target}/scenario-mutants,
# kept between runs so that dependencies and unchanged crates are not built again).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
read -r -a cargo <<<"${CARGO:-cargo}"
profile=${SCENARIO_MUTANTS_PROFILE:-mutants}
jobs=${SCENARIO_MUTANTS_JOBS:-2}
target_base=${CARGO_TARGET_DIR:-$root/target}
case $target_base in /*) ;; *) target_base=$root/$target_base ;; esac
work=${SCENARIO_MUTANTS_DIR:-$target_base/scenario-mutants}
tree=$work/tree
logs=$work/logs
raftsim=$work/target/$profile/raftsim
mutations=scenarios/mutations

error() {
    echo "scenario-mutants: $*" >&2
    exit 2
}

# Every scenario named for a bug has a patch that re-plants it, and every patch a scenario.
missing=0
for scenario in scenarios/etcd-*.json scenarios/regression-*.json; do
    [[ -e $scenario ]] || continue
    name=$(basename "$scenario" .json)
    if [[ ! -f $mutations/$name.patch ]]; then
        echo "scenario-mutants: $scenario has no $mutations/$name.patch that re-plants its bug" >&2
        missing=1
    fi
done
for patch in "$mutations"/*.patch; do
    [[ -e $patch ]] || continue
    name=$(basename "$patch" .patch)
    if [[ ! -f scenarios/$name.json ]]; then
        echo "scenario-mutants: $patch has no scenario scenarios/$name.json" >&2
        missing=1
    fi
done
[[ $missing == 0 ]] || exit 2

# Which patches: the arguments, else $SCENARIO_MUTANTS, else all.
names=("$@")
if [[ ${#names[@]} == 0 && -n ${SCENARIO_MUTANTS:-} ]]; then
    read -r -a names <<<"$SCENARIO_MUTANTS"
fi
if [[ ${#names[@]} == 0 ]]; then
    for patch in "$mutations"/*.patch; do
        [[ -e $patch ]] && names+=("$(basename "$patch" .patch)")
    done
fi
[[ ${#names[@]} -gt 0 ]] || error "no patches in $mutations"
for name in "${names[@]}"; do
    [[ -f $mutations/$name.patch ]] || error "no patch $mutations/$name.patch"
done

# The scratch tree mirrors the sources of the real tree (its working copy, uncommitted changes
# included). A file is copied only when its content differs, so that it gets a new time stamp
# exactly when it changed: cargo decides what to rebuild by time stamps, and a copy that kept an
# old one could leave a crate built from another patch. It is a git repository of its own so that
# `git apply` applies patches to it and not to the repository it sits in.
sync_tree() {
    mkdir -p "$tree"
    [[ -d $tree/.git ]] || git -C "$tree" init --quiet
    local wanted
    wanted=$(git ls-files --cached --others --exclude-standard -- Cargo.toml Cargo.lock raft kvapp simulator)
    local file
    while IFS= read -r file; do
        [[ -f $file ]] || continue
        if ! cmp -s "$file" "$tree/$file"; then
            mkdir -p "$(dirname "$tree/$file")"
            cp "$file" "$tree/$file"
        fi
    done <<<"$wanted"
    # Files gone from the real tree go from the copy too.
    (cd "$tree" && find Cargo.toml Cargo.lock raft kvapp simulator -type f 2>/dev/null) |
        while IFS= read -r file; do
            if ! grep -qxF -- "$file" <<<"$wanted" || [[ ! -f $file ]]; then
                rm -f "$tree/$file"
            fi
        done
}

build() {
    local log=$1
    if ! CARGO_TARGET_DIR=$work/target "${cargo[@]}" build --manifest-path "$tree/Cargo.toml" \
        --profile "$profile" -j "$jobs" -p simulator --bin raftsim >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        return 1
    fi
}

# Replays a scenario into a log, sets `summary` to its verdict and unmet requirements, and returns
# replay's exit code (0: the expected outcome).
replay() {
    local name=$1 log=$2 code=0
    "$raftsim" replay "scenarios/$name.json" --brief >"$log" 2>&1 || code=$?
    local verdict
    verdict=$(sed -n 's/^  verdict *//p' "$log" | head -n 1)
    # A liveness failure lists every outstanding operation: the start says enough.
    if [[ ${#verdict} -gt 110 ]]; then
        verdict="${verdict:0:110}…"
    fi
    local unmet
    unmet=$(grep -c '^requirement not met' "$log" || true)
    summary="${verdict:-no verdict}"
    [[ $unmet == 0 ]] || summary+="; $unmet requirement(s) not met"
    return "$code"
}

mkdir -p "$logs"
started=$SECONDS

sync_tree
echo "scenario-mutants: building raftsim without patches ($profile profile)"
build "$logs/unpatched.build.log" || error "the unpatched tree does not build (log: $logs/unpatched.build.log)"
for name in "${names[@]}"; do
    code=0
    replay "$name" "$logs/$name.unpatched.log" || code=$?
    if [[ $code != 0 ]]; then
        error "scenarios/$name.json does not reach its expected outcome even without its patch" \
            "($summary; log: $logs/$name.unpatched.log)"
    fi
done

survived=()
for name in "${names[@]}"; do
    patch=$root/$mutations/$name.patch
    sync_tree
    git -C "$tree" apply "$patch" || error "$mutations/$name.patch does not apply"
    build_started=$SECONDS
    if ! build "$logs/$name.build.log"; then
        git -C "$tree" apply -R "$patch"
        error "$name: the build with its patch failed (log: $logs/$name.build.log); a build error is not a kill"
    fi
    build_seconds=$((SECONDS - build_started))
    code=0
    replay "$name" "$logs/$name.log" || code=$?
    git -C "$tree" apply -R "$patch"
    if [[ $code == 0 ]]; then
        echo "$name: SURVIVED (verdict $summary; expected outcome reached with the bug back in; built in ${build_seconds}s)"
        survived+=("$name")
    elif grep -q '^expected .*: DID NOT MATCH$' "$logs/$name.log"; then
        echo "$name: killed (verdict $summary; replay exit $code; built in ${build_seconds}s)"
    else
        # Not a judged run (a bad file, raftsim itself crashing): no verdict to count as a kill.
        error "$name: raftsim replay ended with exit code $code without a verdict (log: $logs/$name.log)"
    fi
done

echo "scenario-mutants: ${#names[@]} patches, $((${#names[@]} - ${#survived[@]})) killed, ${#survived[@]} survived, $((SECONDS - started))s (logs: $logs)"
if [[ ${#survived[@]} -gt 0 ]]; then
    echo "scenario-mutants: survived: ${survived[*]}: rewrite these scenarios until they catch their bug" >&2
    exit 1
fi
