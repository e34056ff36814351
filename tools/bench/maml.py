#!/usr/bin/python3
"""MAML meta-step cost: second-order MAML, first-order MAML and Reptile in metagmm train at
m = 1, 5, 10 inner steps, beside the same meta-step in PyTorch (tools/bench/torch_maml.py,
create_graph=True for second order, one thread, per-task and batched) measured in the same run;
then the peak memory of second-order MAML as m grows, in both.

    /usr/bin/python3 tools/bench/maml.py [--build build/release] [--seconds 1] [--repeats 3] [--cases small,large]

Needs build/release (tools/build.sh build/release) and Debian's python3-torch
(tools/install_deps.sh bench). Cases (diag covariances, inner SGD, 10 tasks per meta-step,
N support and 20 query points per task, outer Adam):
  small: K=4, d=2,  N=200
  large: K=8, d=16, N=200
Every time is the fastest of --repeats runs, for both sides: this machine's timings vary by
about 20% from run to run, and the minimum is the least disturbed.
"""
import os
import re
import subprocess
import sys

from common import bench_arguments, bench_paths, generate_tasks

CASES = [("small K=4 d=2 N=200", 4, 2, 200), ("large K=8 d=16 N=200", 8, 16, 200)]
QUERY = 20
META_BATCH = 10
INNER_LR = 0.05
STEPS = [1, 5, 10]
MEMORY_STEPS = [1, 5, 10, 20, 40]
TIME_LINE = re.compile(r"time: total (\S+) s, .* (\d+) steps, (\S+) tasks/s")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def peak_rss_mb(args):
    """The command's own peak resident set (os.wait4 reports it per child), and its stdout."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(args)} failed with status {status}")
    return usage.ru_maxrss / 1024, out


def settings(components, support, algorithm, steps):
    return ["--algo", algorithm, "--components", components, "--covariance", "diag", "--support", support,
            "--query", QUERY, "--meta-batch", META_BATCH, "--inner", "sgd", "--inner-steps", steps,
            "--inner-lr", INNER_LR, "--outer", "adam", "--outer-lr", 0.01, "--validate-every", 0,
            "--checkpoint-every", 0]


def metagmm_seconds_per_step(binary, tasks, work, extra, seconds):
    """Seconds per meta-step, from a run sized to last about `seconds` (after a short calibration)."""
    def timed(steps, name):
        run_dir = os.path.join(work, name)
        _, out = peak_rss_mb([binary, "train", "--tasks", tasks, "--run-dir", run_dir, *map(str, extra),
                              "--steps", str(steps)])
        subprocess.run(["rm", "-rf", run_dir], check=True)
        match = TIME_LINE.search(out)
        return float(match.group(1)) / int(match.group(2))
    guess = timed(20, "calibrate")
    return timed(max(20, int(seconds / guess)), "measure")


def torch_run(script, tasks, components, support, steps, order, batched, seconds):
    args = ["/usr/bin/python3", script, "--tasks", tasks, "--components", str(components), "--support", str(support),
            "--query", str(QUERY), "--meta-batch", str(META_BATCH), "--inner-steps", str(steps),
            "--inner-lr", str(INNER_LR), "--order", order, "--seconds", str(seconds)] + (["--batched"] if batched else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    values = dict(line.split() for line in out.strip().splitlines())
    return float(values["seconds_per_step"]), float(values["peak_rss_mb"])


def main():
    parser = bench_arguments(__doc__, 1.0, "measuring time per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration; the fastest counts")
    args = parser.parse_args()
    binary, script, work = bench_paths(args, "torch_maml.py", "maml")
    print(f"machine: {os.cpu_count()} cores; one thread per process; float64 everywhere; times in ms per meta-step "
          f"of {META_BATCH} tasks")
    for name, components, dim, support in CASES:
        if name.split()[0] not in args.cases.split(","):
            continue
        tasks = generate_tasks(binary, work, name, dim, components, support + QUERY)
        print(f"\n== {name}")
        print("   m   reptile    fomaml      maml  maml/fomaml  | torch 1st  torch 2nd  torch 2nd   | maml vs best")
        print("                                                 | batched    batched    per-task    | torch 2nd")
        for steps in STEPS:
            # Rounds of every configuration in turn, so that both sides see the same slow and fast
            # periods of the machine; each configuration's fastest round counts.
            times = {}
            for _ in range(args.repeats):
                for a in ("reptile", "fomaml", "maml"):
                    seconds = metagmm_seconds_per_step(binary, tasks, work, settings(components, support, a, steps),
                                                       args.seconds)
                    times[a] = min(times.get(a, seconds), seconds)
                for key, order, batched in (("first", "first", True), ("second", "second", True),
                                            ("per_task", "second", False)):
                    seconds, _ = torch_run(script, tasks, components, support, steps, order, batched, args.seconds)
                    times[key] = min(times.get(key, seconds), seconds)
            ours = {a: 1e3 * times[a] for a in ("reptile", "fomaml", "maml")}
            first, second, per_task = times["first"], times["second"], times["per_task"]
            best = min(second, per_task) * 1e3
            print(f"{steps:4d} {ours['reptile']:9.3f} {ours['fomaml']:9.3f} {ours['maml']:9.3f} "
                  f"{ours['maml'] / ours['fomaml']:11.2f}x  | {first * 1e3:9.2f} {second * 1e3:10.2f} "
                  f"{per_task * 1e3:10.2f}   | {best / ours['maml']:8.1f}x")
        # Peak memory: metagmm keeps, per task, the m + 1 iterates, the m support gradients and the
        # m support statistics (K x (2d + 1) = P numbers for diag): the tape, (3m + 1) P doubles.
        # PyTorch keeps the graph.
        print("peak resident memory of second-order MAML (MB), short runs")
        print("   m   metagmm   tape (KiB)   torch batched")
        parameters = components * (1 + 2 * dim)
        for steps in MEMORY_STEPS:
            extra = settings(components, support, "maml", steps) + ["--steps", 20]
            ours, _ = peak_rss_mb([binary, "train", "--tasks", tasks, "--run-dir", os.path.join(work, f"mem-{name.split()[0]}-{steps}"),
                                   *map(str, extra)])
            _, theirs = torch_run(script, tasks, components, support, steps, "second", True, 0.5)
            tape = (3 * steps + 1) * parameters * 8 / 1024
            print(f"{steps:4d} {ours:9.1f} {tape:12.1f} {theirs:15.1f}")


if __name__ == "__main__":
    main()
