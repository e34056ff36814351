#!/usr/bin/python3
"""Meta-training speed of `metagmm train --algo amortised` (a set encoder proposing each task's
start, MAP-EM steps from it; one rank) against the same encoder and loss in PyTorch
(tools/bench/torch_amortised.py: float64, autograd through the encoder and the steps, batched, one
thread), measured in one run on the same task set and settings: the amortised-clustering family
(uniform, d = 2, K = 4, means in [-4, 4]^2, scale 0.3), meta-batch 16, set encoder 64,64 with head
64, support 20 (query 100) and 200 (query 100), m = 1, 2 and 5 MAP-EM steps. Each configuration's
fastest of --repeats rounds counts; the rate is also given as tasks per second.

First it checks that the peer computes the same function: a short metagmm run is evaluated with
eval --save-episodes, and the peer recomputes every episode's query log-likelihood after the
checkpoint's steps from the checkpoint's weights (the worst difference is printed; the timing is
not run if it exceeds 1e-9 nats per point).

Usage: /usr/bin/python3 tools/bench/amortised.py [--build build/release] [--seconds 2] [--repeats 3]
Needs build/release (tools/build.sh build/release) and Debian's python3-torch.
"""
import os
import subprocess

import h5py
import numpy as np

from common import bench_arguments, bench_paths
from maml import metagmm_seconds_per_step

QUERY, META_BATCH = 100, 16
SUPPORTS, STEPS = (20, 200), (1, 2, 5)
WIDTHS = ["--set-widths", "64,64", "--head-widths", "64"]
AGREEMENT = 1e-9  # nats per point: the two sum the same terms in other orders (measured ~1e-14)


def check_agreement(binary, script, work, tasks):
    run_dir, out = os.path.join(work, "check"), os.path.join(work, "check-eval")
    subprocess.run([binary, "train", "--algo", "amortised", "--tasks", tasks, "--components", "4", "--support", "20",
                    "--query", "50", "--meta-batch", "8", "--inner-steps", "2", *WIDTHS, "--steps", "50",
                    "--validate-every", "0", "--run-dir", run_dir], check=True, capture_output=True)
    checkpoint = os.path.join(run_dir, "checkpoint-000000000050.h5")
    subprocess.run([binary, "eval", "--checkpoint", checkpoint, "--names", "amortised", "--tasks", tasks, "--steps",
                    "2", "--support", "20", "--max-tasks", "50", "--relevance", "4", "--save-episodes", "--out", out],
                   check=True, capture_output=True)
    lines = subprocess.run(["/usr/bin/python3", script, "--tasks", tasks, "--components", "4", "--support", "20",
                            "--query", "50", "--check", checkpoint, "--episodes", os.path.join(out, "episodes.h5")],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    theirs = np.array([float(line.split()[1]) for line in lines if line.strip()])
    with h5py.File(os.path.join(out, "eval.h5")) as f:
        ours = f["query_log_likelihood"][f.attrs["methods"].split("\n").index("amortised"), :, 2]
    worst = float(np.max(np.abs(ours - theirs)))
    print(f"agreement: {len(ours)} episodes, worst |metagmm - torch| query log-likelihood {worst:.2e} nats per point "
          f"(bar {AGREEMENT:g})")
    if not worst <= AGREEMENT:
        raise SystemExit("the PyTorch peer does not compute the same function; no timing")


def main():
    parser = bench_arguments(__doc__, 2.0, "measuring time per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    binary, script, work = bench_paths(args, "torch_amortised.py", "amortised")
    tasks = os.path.join(work, "tasks.h5")
    subprocess.run([binary, "generate", "--family", "uniform", "--dim", "2", "--components", "4", "--tasks", "400",
                    "--points", "300:300", "--box", "4", "--scale", "0.3", "--concentration", "1", "--seed", "1",
                    "--out", tasks], check=True, capture_output=True)
    check_agreement(binary, script, work, tasks)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; one thread per process; float64; ms per meta-step of "
          f"{META_BATCH} tasks, uniform d = 2, K = 4, {QUERY} query points, set encoder 64,64, head 64")
    print("support   m   metagmm   torch batched   torch / metagmm   metagmm tasks/s")
    for support in SUPPORTS:
        for steps in STEPS:
            extra = ["--algo", "amortised", "--components", 4, "--covariance", "diag", "--support", support,
                     "--query", QUERY, "--meta-batch", META_BATCH, "--inner-steps", steps, *WIDTHS,
                     "--validate-every", 0, "--checkpoint-every", 0]
            ours = theirs = float("inf")
            for _ in range(args.repeats):
                ours = min(ours, metagmm_seconds_per_step(binary, tasks, work, extra, args.seconds))
                out = subprocess.run(["/usr/bin/python3", script, "--tasks", tasks, "--components", "4", "--support",
                                      str(support), "--query", str(QUERY), "--meta-batch", str(META_BATCH),
                                      "--inner-steps", str(steps), "--seconds", str(args.seconds)],
                                     capture_output=True, text=True, check=True).stdout
                values = dict(line.split() for line in out.strip().splitlines())
                theirs = min(theirs, float(values["seconds_per_step"]))
            print(f"{support:7d} {steps:3d} {ours * 1e3:9.3f} {theirs * 1e3:15.3f} {theirs / ours:16.1f}x "
                  f"{META_BATCH / ours:17.0f}", flush=True)


if __name__ == "__main__":
    main()
