#!/usr/bin/env python3
"""Judges again, with the simulator as it is now, every mutant the simulator missed so far.

Usage: mutants/recheck.py OUT_DIR SEEDS -- CARGO_MUTANTS_ARGS...

After a blind spot is closed (an oracle, a swarm option, a coverage floor), the mutants that
survived the shards in OUT_DIR/*/sim are run once more through the simulator's pass; the
outcomes go to OUT_DIR/recheck/sim, and mutants/report.py lets them stand over the shards'.
Only the survivors are rebuilt, so this takes minutes where the shards took hours. The
mutants are picked by name (cargo-mutants' --re, anchored), so the source files must be the
ones the shards mutated: a changed line in raft or kvapp renames its mutants.
"""

import os
import pathlib
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 4 or sys.argv[3] != "--":
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_dir, seeds, cargo_args = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[4:]
    missed = set()
    for shard in sorted(out_dir.glob("*/sim/mutants.out/missed.txt")):
        if shard.parts[-4] == "recheck":
            continue
        missed.update(line.strip() for line in shard.read_text().splitlines() if line.strip())
    if not missed:
        print(f"no survivors in {out_dir}/*/sim: nothing to recheck", file=sys.stderr)
        return 0
    print(f"rechecking {len(missed)} survivors", file=sys.stderr)
    regexes = []
    for name in sorted(missed):
        regexes += ["--re", "^" + re.escape(name) + "$"]
    command = ["cargo", "mutants", *regexes, *cargo_args, "-o", str(out_dir / "recheck" / "sim")]
    (out_dir / "recheck" / "sim").mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, RAFTSIM_MUTANT_SEEDS=seeds)
    return subprocess.call(command, env=environment)


if __name__ == "__main__":
    sys.exit(main())
