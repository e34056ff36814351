#!/usr/bin/python3
"""Weak and strong scaling of metagmm train: runs tools/bench/scaling.sh here (or reads the output it
printed on another machine) and reports each configuration's parallel efficiency,
rate(R) / (R rate(1)), with rate the tasks per second train reports for its own loop (start-up
excluded) and rate(1) the median of all one-rank runs, or with two step counts (--steps 300 1500) the tasks per second of the steps between
the two runs: a long training's steady state. With --independent it also runs R unconnected
one-rank trainings at once, whose efficiency is the machine's own slowdown with R busy cores, the
ceiling of weak scaling on it. Writes OUT/scaling.csv and, with matplotlib, OUT/scaling.png.

Usage: tools/bench/scaling.py [--ranks 1 2 4 8 16] [--per-rank 10] [--batch 160] [--steps S [S2]]
                        [--independent] [--out build/scaling]
       tools/bench/scaling.py --from FILE... [--baseline FILE...] [--out DIR]
                        (outputs of tools/bench/scaling.sh elsewhere; repeated rounds give medians)
Ranks beyond the machine's cores are oversubscribed and say nothing about scaling.
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINE = re.compile(r"^config=(\S+) kind=(\S+) ranks=(\d+) batch=(\d+)(?: steps=(\d+))?(?: copy=(\d+))? "
                  r"time: total ([0-9.e+-]+) s, .* ([0-9.e+]+) tasks/s$")


def parse(text):
    """{(config, kind, ranks): tasks/s}, {(config, kind, ranks): meta-batch} and the machine line.

    A case measured at two step counts is rated by the steps between them (the steady state);
    independent copies (kind "independent") by their sum, so that their efficiency reads like the
    others'."""
    runs, batches, machine = {}, {}, "?"
    for line in text.splitlines():
        if line.startswith("machine:"):
            machine = line[len("machine:"):].strip()
        match = LINE.match(line)
        if match:
            config, kind, ranks, batch, steps, copy, total, rate = match.groups()
            key = (config, kind, int(ranks))
            batches[key] = int(batch)
            runs.setdefault(key, {}).setdefault(int(copy or 0), {})[int(steps or 0)] = (float(total), float(rate))
        elif line.startswith("config="):
            print(f"scaling: a run failed: {line}", file=sys.stderr)
    rates = {}
    for key, copies in runs.items():
        per_copy = [steady_rate(by_steps, batches[key]) for by_steps in copies.values()]
        rates[key] = sum(per_copy)
    return rates, batches, machine


def read(path):
    with open(path) as f:
        return f.read()


def combine(rounds):
    """The median over rounds of each case's rate."""
    keys = {key for rates in rounds for key in rates}
    return {key: statistics.median([rates[key] for rates in rounds if key in rates]) for key in keys}


def one_rank_baselines(rounds):
    """{config: the median of every one-rank rate}: one rank runs the same code whatever the kind
    (and in the steady state at any meta-batch), so each such run samples the one baseline, and
    their median resists the run-to-run swings of a shared machine. Efficiency is rate(R) / (R
    times it)."""
    samples = {}
    for rates in rounds:
        for (config, _, ranks), rate in rates.items():
            if ranks == 1:
                samples.setdefault(config, []).append(rate)
    return {config: statistics.median(values) for config, values in samples.items()}


def steady_rate(by_steps, batch):
    """Tasks/s between the shortest and the longest run, or the one run's own rate."""
    if len(by_steps) < 2:
        return next(iter(by_steps.values()))[1]
    short, long = min(by_steps), max(by_steps)
    seconds = by_steps[long][0] - by_steps[short][0]
    return batch * (long - short) / seconds if seconds > 0 else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--per-rank", type=int, default=10, help="weak scaling: tasks per rank per meta-step")
    parser.add_argument("--batch", type=int, default=160, help="strong scaling: the meta-batch")
    parser.add_argument("--steps", type=int, nargs="+", default=[2000],
                        help="meta-steps per run; two counts rate the steps between them")
    parser.add_argument("--independent", action="store_true",
                        help="also run R unconnected one-rank trainings at once (the machine's ceiling)")
    parser.add_argument("--from", dest="sources", nargs="+", metavar="FILE",
                        help="outputs of tools/bench/scaling.sh (on another machine); repeated rounds are combined by "
                             "their median")
    parser.add_argument("--baseline", nargs="+", default=[], metavar="FILE",
                        help="more outputs whose one-rank runs join the baseline (e.g. the other variant of an "
                             "interleaved comparison: one rank runs the same either way)")
    parser.add_argument("--out", default="build/scaling", help="directory for the runs and the results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.sources:
        texts = [read(path) for path in args.sources]
    else:
        env = dict(os.environ, PER_RANK=str(args.per_rank), BATCH=str(args.batch),
                   STEPS=" ".join(map(str, args.steps)), INDEPENDENT="1" if args.independent else "0")
        texts = [subprocess.run(["sh", os.path.join(ROOT, "tools", "bench", "scaling.sh"), args.out, *map(str, args.ranks)],
                                capture_output=True, text=True, check=True, env=env).stdout]
    rounds = [parse(text) for text in texts]
    rates = combine([r for r, _, _ in rounds])
    batches = {key: batch for _, b, _ in rounds for key, batch in b.items()}
    machine = rounds[0][2]
    if not rates:
        sys.exit("scaling: no measurements")
    baseline = one_rank_baselines([r for r, _, _ in rounds] + [parse(read(path))[0] for path in args.baseline])
    print(f"machine: {machine}")
    rows = []
    for config in ("reptile", "maml"):
        ranks = sorted({r for (c, _, r) in rates if c == config})
        if not ranks:
            continue
        weak = batches.get((config, "weak", ranks[0]), 0) // ranks[0]
        strong = batches.get((config, "strong", ranks[0]), 0)
        sizes = [f"weak = {weak} tasks per rank per step"] if weak else []
        sizes += [f"strong = {strong} tasks per step"] if strong else []
        print(f"== {config} (jobs/configs/{config}-anchored.ini): {', '.join(sizes + [''])}"
              f"one rank: {fmt(baseline.get(config), 0, 0)} tasks/s")
        print(f"{'ranks':>5} {'weak tasks/s':>13} {'efficiency':>10} {'strong tasks/s':>15} {'efficiency':>10}"
              f" {'independent':>11}")
        for r in ranks:
            row = {"config": config, "ranks": r}
            for kind in ("weak", "strong", "independent"):
                rate = rates.get((config, kind, r))
                row[f"{kind}_rate"] = rate
                row[f"{kind}_efficiency"] = rate / (r * baseline[config]) if rate and config in baseline else None
            rows.append(row)
            print(f"{r:>5} {fmt(row['weak_rate'], 13, 0)} {fmt(row['weak_efficiency'])} "
                  f"{fmt(row['strong_rate'], 15, 0)} {fmt(row['strong_efficiency'])} {fmt(row['independent_efficiency'], 11)}")
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
        for kind, style in (("weak", "-o"), ("strong", "--s"), ("independent", ":^")):
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
