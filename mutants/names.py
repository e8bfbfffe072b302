#!/usr/bin/env python3
"""Prints a regex (for cargo-mutants' --re) that selects exactly the mutants one pass judged.

Usage: mutants/names.py PASS_DIR

PASS_DIR is a pass's output directory (mutants/out/k-of-n/sim): its mutants.out/ lists each
mutant it judged in caught.txt, missed.txt, timeout.txt or unviable.txt. cargo-mutants matches
--re against the whole name ("raft/src/log.rs:120:9: replace ... with ..."), so the other pass
judges the same mutants even after an edit elsewhere moved them to other shards. A name that no
longer exists (its line moved) matches nothing: compare the count printed on stderr with
`cargo mutants --list` under the same --re.
"""

import pathlib
import sys

# The characters regex-syntax treats as meta characters; everything else stands for itself.
META = set("\\.+*?()|[]{}^$#&-~")


def escape(name):
    return "".join("\\" + char if char in META else char for char in name)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1]) / "mutants.out"
    names = []
    for outcome in ("caught", "missed", "timeout", "unviable"):
        path = out / f"{outcome}.txt"
        if path.exists():
            names += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        print(f"{out} lists no judged mutants", file=sys.stderr)
        return 1
    print(f"{len(names)} mutants from {out}", file=sys.stderr)
    print("^(?:" + "|".join(escape(name) for name in sorted(set(names))) + ")$")
    return 0


if __name__ == "__main__":
    sys.exit(main())
