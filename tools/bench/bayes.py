#!/usr/bin/python3
"""Meta-training speed of `metagmm train --algo bayes` (meta-learned Bayesian adaptation, one
rank) against the same algorithm in PyTorch (tools/bench/torch_bayes.py: float64, autograd
through the steps, batched, one thread), measured in one run on the same task set, prior and
settings: d = 8, K = 4, meta-batch 20, 200 query points, m = 1, 5 and 10 variational-EM steps,
support 10 and 40. Each configuration's fastest of --repeats rounds counts. --mean-coupling full
times the coupled-means variant on both sides.

Usage: /usr/bin/python3 tools/bench/bayes.py [--build build/release] [--seconds 2] [--repeats 3] [--mean-coupling full]
Needs build/release (tools/build.sh build/release) and Debian's python3-torch.
"""
import os
import subprocess

from common import bench_arguments, bench_paths
from maml import metagmm_seconds_per_step

QUERY, META_BATCH = 200, 20
SUPPORTS, STEPS = (10, 40), (1, 5, 10)


def main():
    parser = bench_arguments(__doc__, 2.0, "measuring time per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mean-coupling", choices=["none", "full"], default="none")
    args = parser.parse_args()
    binary, script, work = bench_paths(args, "torch_bayes.py", "bayes")
    tasks, pooled, prior = (os.path.join(work, name) for name in ("tasks.h5", "pooled.h5", "prior.h5"))
    for command in (["generate", "--family", "anchored", "--dim", 8, "--components", 4, "--tasks", 400, "--points",
                     "300:300", "--box", 5, "--jitter", 1, "--drop", 0, "--concentration", 2, "--seed", 1, "--out", tasks],
                    ["fit", "--data", tasks + ":train", "--components", 4, "--covariance", "diag", "--out", pooled],
                    ["fit", "--data", tasks + ":train", "--prior", "heb", "--init", pooled, "--out", prior]):
        subprocess.run([binary, *map(str, command)], check=True, capture_output=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; one thread per process; float64; ms per meta-step of "
          f"{META_BATCH} tasks, d = 8, K = 4, {QUERY} query points, mean coupling {args.mean_coupling}")
    print("support   m   metagmm   torch batched   torch / metagmm")
    for support in SUPPORTS:
        for steps in STEPS:
            extra = ["--algo", "bayes", "--prior", prior, "--mean-coupling", args.mean_coupling, "--components", 4, "--covariance", "diag", "--support",
                     support, "--query", QUERY, "--meta-batch", META_BATCH, "--inner-steps", steps, "--outer-lr",
                     0.001, "--validate-every", 0, "--checkpoint-every", 0]
            ours = theirs = float("inf")
            for _ in range(args.repeats):
                ours = min(ours, metagmm_seconds_per_step(binary, tasks, work, extra, args.seconds))
                out = subprocess.run(["/usr/bin/python3", script, "--tasks", tasks, "--prior", prior, "--components",
                                      "4", "--support", str(support), "--query", str(QUERY), "--meta-batch",
                                      str(META_BATCH), "--inner-steps", str(steps), "--seconds", str(args.seconds),
                                      "--mean-coupling", args.mean_coupling],
                                     capture_output=True, text=True, check=True).stdout
                values = dict(line.split() for line in out.strip().splitlines())
                theirs = min(theirs, float(values["seconds_per_step"]))
            print(f"{support:7d} {steps:3d} {ours * 1e3:9.3f} {theirs * 1e3:15.3f} {theirs / ours:15.1f}x", flush=True)


if __name__ == "__main__":
    main()
