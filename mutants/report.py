#!/usr/bin/env python3
"""Tabulates cargo-mutants outcomes, per file and per pass, against the triage of survivors.

Usage: mutants/report.py OUT_DIR TRIAGE_FILE

OUT_DIR holds one directory per shard (`make mutants-sim MUTANT_SHARD=k/n` writes k-of-n/sim,
`make mutants-unit` k-of-n/unit), each pass's with the mutants.out/ that `cargo mutants -o`
leaves: caught.txt, missed.txt, timeout.txt and unviable.txt, one mutant per line. A mutant is
named by cargo-mutants' own line ("raft/src/log.rs:120:9: replace ... with ..."). Every shard
found is merged, and each OUT_DIR/recheck-N/sim (`make mutants-recheck`: the survivors judged
again after a blind spot was closed) stands over what came before it for the mutants it judged; a mutant counts for the unit tests only if the simulator's pass judged it too.

TRIAGE_FILE lists survivors that were looked at, one per line starting with "- `NAME`" and
followed by the verdict (equivalent, or a gap, with what would catch it). The report prints:
per file, how many mutants each pass caught, missed, timed out and could not build; the
simulator's kill rate over viable, non-equivalent mutants, beside the unit tests' (a Markdown
table, as mutants/README.md shows it); and every mutant the simulator missed, marked with the
unit tests' outcome and its triage verdict.
Exit 0 always when the outcome files are readable: it reports, it does not judge.
"""

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
    # A long name puts its verdict on the next line, after a dash.
    triaged = {name: verdict.lstrip("—-: ") for name, verdict in triaged.items()}
    # The verdict word and its first clause are enough for the table.
    return {name: verdict[:110] + ("…" if len(verdict) > 110 else "")
            for name, verdict in triaged.items()}


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_dir, triage_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    sim, unit, shards = {}, {}, []
    if not out_dir.is_dir():
        print(f"{out_dir} does not exist: run `make mutants-sim` first", file=sys.stderr)
        return 2
    for shard in sorted(path for path in out_dir.iterdir() if path.is_dir()):
        if shard.name.startswith("recheck-"):
            continue
        part = read_pass(shard / "sim")
        if part is None:
            continue
        shards.append(shard.name)
        sim.update(part)
        unit.update(read_pass(shard / "unit") or {})
    if not sim:
        print(f"no simulator pass in {out_dir}/*/sim/mutants.out: run `make mutants-sim` first",
              file=sys.stderr)
        return 2
    print(f"shards: {', '.join(shards)}; {len(sim)} mutants judged by the simulator, "
          f"{sum(1 for name in sim if name in unit)} of them by the unit tests too")
    # `make mutants-recheck` judged the survivors again with the simulator as it then was.
    rechecks = sorted((path for path in out_dir.iterdir() if path.name.startswith("recheck-")),
                      key=lambda path: int(path.name.split("-", 1)[1]))
    for recheck_dir in rechecks:
        recheck = read_pass(recheck_dir / "sim") or {}
        caught = [name for name, outcome in recheck.items()
                  if name in sim and outcome in ("caught", "timeout") and sim[name] == "missed"]
        print(f"{recheck_dir.name}: {len(recheck)} survivors judged again, "
              f"{len(caught)} of them caught this time")
        sim.update((name, outcome) for name, outcome in recheck.items() if name in sim)
    print()
    triaged = read_triage(triage_path)

    # The table, in Markdown for mutants/README.md. A mutant is killed when its pass
    # caught it or it timed out (it changed behaviour enough to hang); equivalent mutants are the
    # simulator's survivors whose triage verdict says so, and leave both rates' denominators.
    def equivalent(name):
        return triaged.get(name, "").startswith("equivalent")

    print("| file | mutants | unviable | killed by the simulator | killed by unit tests "
          "| survived the simulator | equivalent | simulator's kill rate | unit tests' kill rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = sorted({file_of(name) for name in sim}) + ["all"]
    for path in rows:
        names = [name for name in sim if path == "all" or file_of(name) == path]
        viable = [name for name in names if sim[name] != "unviable"]
        killed_sim = sum(1 for name in viable if sim[name] in ("caught", "timeout"))
        judged_unit = [name for name in viable if unit.get(name) in ("caught", "timeout", "missed")]
        killed_unit = sum(1 for name in judged_unit if unit[name] in ("caught", "timeout"))
        survived = [name for name in viable if sim[name] == "missed"]
        equivalents = sum(1 for name in survived if equivalent(name))
        # Equivalent means no behaviour of the system changes; a unit test of the function
        # itself may still see the change, and then the mutant counts as killed for the unit
        # tests rather than leaving their denominator.
        unit_equivalents = sum(1 for name in judged_unit
                               if sim[name] == "missed" and equivalent(name)
                               and unit[name] == "missed")

        def percent(numerator, denominator):
            return f"{100.0 * numerator / denominator:.0f}%" if denominator else "-"

        label = f"**{path}**" if path == "all" else f"`{path}`"
        print(f"| {label} | {len(names)} | {len(names) - len(viable)} | {killed_sim} "
              f"| {killed_unit} of {len(judged_unit)} | {len(survived)} | {equivalents} "
              f"| {percent(killed_sim, len(viable) - equivalents)} "
              f"| {percent(killed_unit, len(judged_unit) - unit_equivalents)} |")

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
