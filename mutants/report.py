#!/usr/bin/env python3
"""Tabulates cargo-mutants outcomes, per file and per pass, against the triage of survivors.

Usage: mutants/report.py OUT_DIR TRIAGE_FILE

OUT_DIR holds one directory per pass (`make mutants` writes sim/, unit-raft/, unit-kvapp/),
each with the mutants.out/ that `cargo mutants -o` leaves: caught.txt, missed.txt,
timeout.txt and unviable.txt, one mutant per line. A mutant is named by cargo-mutants'
own line ("raft/src/log.rs:120:9: replace ... with ..."). The unit passes are one pass split
in two (raft's mutants judged by raft's tests, kvapp's by kvapp's), so they are merged.

TRIAGE_FILE lists survivors that were looked at, one per line starting with "- `NAME`" and
followed by the verdict (equivalent, or a gap, with what would catch it). The report prints:
per file, how many mutants each pass caught, missed, timed out and could not build; the
simulator's kill rate over viable mutants, beside the unit tests'; and every mutant the
simulator missed, marked with the unit tests' outcome and whether it is triaged.
Exit 0 always when the outcome files are readable: it reports, it does not judge.
"""

import collections
import pathlib
import re
import sys

OUTCOMES = ("caught", "missed", "timeout", "unviable")


def read_pass(directory):
    """Mutant name -> outcome, from one pass's mutants.out directory."""
    result = {}
    out = directory / "mutants.out"
    if not out.is_dir():
        return None
    for outcome in OUTCOMES:
        path = out / f"{outcome}.txt"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                result[line] = outcome
    return result


def file_of(name):
    return name.split(":", 1)[0]


def read_triage(path):
    triaged = {}
    if not path.exists():
        return triaged
    current = None
    for line in path.read_text().splitlines():
        match = re.match(r"^- `([^`]+)`\s*[:—-]?\s*(.*)$", line)
        if match:
            current = match.group(1)
            triaged[current] = match.group(2).strip()
        elif current is not None and line.startswith("  ") and line.strip():
            triaged[current] = (triaged[current] + " " + line.strip()).strip()
        else:
            current = None
    # The verdict word and its first clause are enough for the table.
    return {name: verdict[:110] + ("…" if len(verdict) > 110 else "")
            for name, verdict in triaged.items()}


def rate(counts):
    viable = counts["caught"] + counts["missed"] + counts["timeout"]
    if viable == 0:
        return "-"
    # A timeout counts as caught, as cargo-mutants counts it: the mutant changed behaviour.
    return f"{100.0 * (counts['caught'] + counts['timeout']) / viable:.1f}%"


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_dir, triage_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    sim = read_pass(out_dir / "sim")
    unit = {}
    for name in ("unit-raft", "unit-kvapp"):
        part = read_pass(out_dir / name)
        if part:
            unit.update(part)
    if sim is None:
        print(f"no simulator pass in {out_dir}/sim/mutants.out: run `make mutants-sim` first",
              file=sys.stderr)
        return 2
    triaged = read_triage(triage_path)

    per_file = collections.defaultdict(lambda: {"sim": collections.Counter(),
                                                 "unit": collections.Counter()})
    for name, outcome in sim.items():
        per_file[file_of(name)]["sim"][outcome] += 1
    for name, outcome in unit.items():
        if name in sim:
            per_file[file_of(name)]["unit"][outcome] += 1

    header = f"{'file':34} {'sim caught/missed/timeout/unviable':>36} {'sim':>7}   {'unit tests':>24} {'unit':>7}"
    print(header)
    totals = {"sim": collections.Counter(), "unit": collections.Counter()}
    for path in sorted(per_file):
        counts = per_file[path]
        for side in ("sim", "unit"):
            totals[side].update(counts[side])
        s, u = counts["sim"], counts["unit"]
        print(f"{path:34} {s['caught']:>12}/{s['missed']}/{s['timeout']}/{s['unviable']:<10}"
              f"{rate(s):>9}   {u['caught']:>10}/{u['missed']}/{u['timeout']}/{u['unviable']:<8}"
              f"{rate(u):>7}")
    s, u = totals["sim"], totals["unit"]
    print(f"{'all':34} {s['caught']:>12}/{s['missed']}/{s['timeout']}/{s['unviable']:<10}"
          f"{rate(s):>9}   {u['caught']:>10}/{u['missed']}/{u['timeout']}/{u['unviable']:<8}"
          f"{rate(u):>7}")

    missed = sorted(name for name, outcome in sim.items() if outcome == "missed")
    print()
    print(f"{len(missed)} mutants the simulator missed "
          f"(unit tests' outcome; triage verdict or UNTRIAGED):")
    untriaged = 0
    for name in missed:
        verdict = triaged.get(name)
        if verdict is None:
            untriaged += 1
        print(f"  [{unit.get(name, 'not run'):8}] {name}")
        print(f"      {verdict if verdict is not None else 'UNTRIAGED'}")
    both = [name for name in missed if unit.get(name) == "missed"]
    print()
    print(f"missed by both passes: {len(both)}; missed by the simulator only: "
          f"{sum(1 for name in missed if unit.get(name) in ('caught', 'timeout'))}; "
          f"untriaged: {untriaged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
