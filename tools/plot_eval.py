#!/usr/bin/python3
"""Plots metagmm eval's adaptation curves: query log-likelihood per point against adaptation steps,
one line per method with its 95% confidence band (DIR/curves.csv -> DIR/loglik.png).

Usage: tools/plot_eval.py DIR [--title TEXT]

Two panels: every method on the left; on the right the same curves with the vertical axis
zoomed onto the best methods (EM from scratch on a small support can sit far below them).
Needs Debian's python3-matplotlib.
"""
import argparse
import csv
import os
import sys
from collections import OrderedDict


def read_curves(path):
    curves = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            c = curves.setdefault(row["method"], {"step": [], "mean": [], "ci": []})
            c["step"].append(int(row["step"]))
            c["mean"].append(float(row["loglik"]))
            c["ci"].append(float(row["ci95"]))
    return curves


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", help="metagmm eval --out DIR")
    parser.add_argument("--title", default="", help="title above the panels")
    args = parser.parse_args()
    source = os.path.join(args.directory, "curves.csv")
    if not os.path.isfile(source):
        print(f"plot_eval: {source}: no such file (run metagmm eval --out {args.directory} first)", file=sys.stderr)
        return 2
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_eval: needs matplotlib (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return 2
    curves = read_curves(source)
    if not curves:
        print(f"plot_eval: {source}: no curves", file=sys.stderr)
        return 2
    last = {m: c["mean"][-1] for m, c in curves.items()}
    ranked = sorted(last.values(), reverse=True)
    # Zoom: from a little above the top down to past the third-best final value.
    top = max(max(c["mean"][i] + c["ci"][i] for i in range(len(c["mean"]))) for c in curves.values())
    floor = ranked[min(3, len(ranked) - 1)]
    span = max(top - floor, 0.05)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for axis, zoom in zip(axes, (False, True)):
        for method, c in curves.items():
            style = "--" if method == "oracle" else "-"
            low = [m - h for m, h in zip(c["mean"], c["ci"])]
            high = [m + h for m, h in zip(c["mean"], c["ci"])]
            line, = axis.plot(c["step"], c["mean"], style, marker="o", markersize=3, label=method)
            axis.fill_between(c["step"], low, high, color=line.get_color(), alpha=0.2)
        axis.set_xlabel("adaptation steps on the support")
        axis.set_ylabel("query log-likelihood per point")
        axis.grid(alpha=0.3)
        if zoom:
            axis.set_ylim(floor - 0.5 * span, top + 0.1 * span)
            axis.set_title("zoomed on the best")
        else:
            axis.set_title("all methods (mean, 95% CI over tasks)")
    axes[0].legend(fontsize=8)
    if args.title:
        figure.suptitle(args.title)
    figure.tight_layout()
    out = os.path.join(args.directory, "loglik.png")
    figure.savefig(out + ".tmp.png", dpi=110)
    os.replace(out + ".tmp.png", out)
    print(f"plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
