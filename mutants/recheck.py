#!/usr/bin/env python3
"""Judges again, with the simulator as it is now, every mutant the simulator missed so far.

Usage: mutants/recheck.py OUT_DIR SEEDS -- CARGO_MUTANTS_ARGS...

After a blind spot is closed (an oracle, a swarm option, a coverage floor), the mutants still
missed (by their shard, or by the latest recheck that judged them) are run once more through
the simulator's pass; the outcomes go to OUT_DIR/recheck-N/sim (N counting up), and
mutants/report.py lets each recheck stand over what came before it.
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
    # The latest verdict of each mutant: the shards', then every earlier recheck in order.
    latest = {}
    shards = [path for path in sorted(out_dir.iterdir()) if path.is_dir()]
    rechecks = sorted((path for path in shards if path.name.startswith("recheck-")),
                      key=lambda path: int(path.name.split("-", 1)[1]))
    for directory in [path for path in shards if path not in rechecks] + rechecks:
        for outcome in ("caught", "missed", "timeout", "unviable"):
            listing = directory / "sim" / "mutants.out" / f"{outcome}.txt"
            if listing.exists():
                for line in listing.read_text().splitlines():
                    if line.strip():
                        latest[line.strip()] = outcome
    missed = {name for name, outcome in latest.items() if outcome == "missed"}
    if not missed:
        print(f"no survivors in {out_dir}: nothing to recheck", file=sys.stderr)
        return 0
    target = out_dir / f"recheck-{len(rechecks) + 1}" / "sim"
    print(f"rechecking {len(missed)} survivors", file=sys.stderr)
    regexes = []
    for name in sorted(missed):
        regexes += ["--re", "^" + re.escape(name) + "$"]
    # The output directory goes before CARGO_MUTANTS_ARGS, which end with the test's own
    # arguments after `--`.
    command = ["cargo", "mutants", "-o", str(target), *regexes, *cargo_args]
    target.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, RAFTSIM_MUTANT_SEEDS=seeds)
    return subprocess.call(command, env=environment)


if __name__ == "__main__":
    sys.exit(main())
