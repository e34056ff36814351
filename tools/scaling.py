#!/usr/bin/python3
"""Weak and strong scaling of metagmm train: runs tools/scaling.sh here (or reads the output it
printed on another machine) and reports each configuration's parallel efficiency,
rate(R) / (R rate(1)), with rate the tasks per second train reports for its own loop (start-up
excluded). Writes OUT/scaling.csv and, with matplotlib, OUT/scaling.png.

Usage: tools/scaling.py [--ranks 1 2 4 8 16] [--per-rank 10] [--batch 160] [--out build/scaling]
       tools/scaling.py --from FILE [--out DIR]          (the output of tools/scaling.sh elsewhere)
Ranks beyond the machine's cores are oversubscribed and say nothing about scaling.
"""
import argparse
import csv
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LINE = re.compile(r"^config=(\S+) kind=(\S+) ranks=(\d+) batch=(\d+) time: total .* ([0-9.e+]+) tasks/s$")


def parse(text):
    """{(config, kind, ranks): tasks/s}, {(config, kind, ranks): meta-batch} and the machine line."""
    rates, batches, machine = {}, {}, "?"
    for line in text.splitlines():
        if line.startswith("machine:"):
            machine = line[len("machine:"):].strip()
        match = LINE.match(line)
        if match:
            key = (match.group(1), match.group(2), int(match.group(3)))
            batches[key], rates[key] = int(match.group(4)), float(match.group(5))
        elif line.startswith("config="):
            print(f"scaling: a run failed: {line}", file=sys.stderr)
    return rates, batches, machine


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--per-rank", type=int, default=10, help="weak scaling: tasks per rank per meta-step")
    parser.add_argument("--batch", type=int, default=160, help="strong scaling: the meta-batch")
    parser.add_argument("--from", dest="source", help="the output of tools/scaling.sh on another machine")
    parser.add_argument("--out", default="build/scaling", help="directory for the runs and the results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.source:
        with open(args.source) as f:
            text = f.read()
    else:
        env = dict(os.environ, PER_RANK=str(args.per_rank), BATCH=str(args.batch))
        text = subprocess.run(["sh", os.path.join(ROOT, "tools", "scaling.sh"), args.out,
                               *map(str, args.ranks)], capture_output=True, text=True, check=True, env=env).stdout
    rates, batches, machine = parse(text)
    if not rates:
        sys.exit("scaling: no measurements")
    print(f"machine: {machine}")
    rows = []
    for config in ("reptile", "maml"):
        ranks = sorted({r for (c, _, r) in rates if c == config})
        if not ranks:
            continue
        weak = batches.get((config, "weak", ranks[0]), 0) // ranks[0]
        strong = batches.get((config, "strong", ranks[0]), 0)
        print(f"== {config} (jobs/configs/{config}-anchored.ini): weak = {weak} tasks per rank per step, "
              f"strong = {strong} tasks per step")
        print(f"{'ranks':>5} {'weak tasks/s':>13} {'efficiency':>10} {'strong tasks/s':>15} {'efficiency':>10}")
        for r in ranks:
            row = {"config": config, "ranks": r}
            for kind in ("weak", "strong"):
                rate, base = rates.get((config, kind, r)), rates.get((config, kind, ranks[0]))
                row[f"{kind}_rate"] = rate
                row[f"{kind}_efficiency"] = rate * ranks[0] / (r * base) if rate and base else None
            rows.append(row)
            print(f"{r:>5} {fmt(row['weak_rate'], 13, 0)} {fmt(row['weak_efficiency'])} "
                  f"{fmt(row['strong_rate'], 15, 0)} {fmt(row['strong_efficiency'])}")
    with open(os.path.join(args.out, "scaling.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, machine, args.out)


def fmt(value, width=10, digits=2):
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def plot(rows, machine, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"results: {out}/scaling.csv (no plot: apt-get install python3-matplotlib)")
        return
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for config in ("reptile", "maml"):
        mine = [row for row in rows if row["config"] == config]
        for kind, style in (("weak", "-o"), ("strong", "--s")):
            points = [(row["ranks"], row[f"{kind}_efficiency"]) for row in mine if row[f"{kind}_efficiency"]]
            axis.plot([p[0] for p in points], [p[1] for p in points], style, label=f"{config}, {kind}")
    axis.axhline(0.9, color="grey", lw=0.6)
    axis.axhline(0.75, color="grey", lw=0.6, ls="--")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("MPI ranks")
    axis.set_ylabel("parallel efficiency")
    axis.set_ylim(0, 1.15)
    axis.set_title(machine, fontsize=8)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(os.path.join(out, "scaling.png"), dpi=110)
    print(f"results: {out}/scaling.csv, {out}/scaling.png")


if __name__ == "__main__":
    main()
