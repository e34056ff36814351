#!/usr/bin/python3
"""Reptile meta-training throughput: metagmm train beside a PyTorch Reptile-GMM
(tools/bench/torch_reptile.py, one thread, per-task and batched) on the same task set and settings,
measured in the same run; then weak scaling over MPI ranks and the share of step time spent in
the reduction and in checkpoints at default settings.

    /usr/bin/python3 tools/bench/reptile.py [--build build/release] [--ranks 1,2] [--seconds 5]

Needs build/release (tools/build.sh build/release) and Debian's python3-torch
(tools/install_deps.sh bench). Cases (diag covariances, 5 inner SGD steps, 10 tasks per
meta-step, support N points and 20 query points per task):
  small: K=4,  d=2,  N=200
  large: K=16, d=32, N=1000
"""
import os
import subprocess

from common import bench_arguments, bench_paths, generate_tasks, train  # noqa: E402

CASES = [  # name, components, dim, support points, metagmm steps
    ("small K=4 d=2 N=200", 4, 2, 200, 3000),
    ("large K=16 d=32 N=1000", 16, 32, 1000, 100),
]
QUERY = 20
META_BATCH = 10
INNER_STEPS = 5
INNER_LR = 0.1
TARGETS = {"small K=4 d=2 N=200": 50.0, "large K=16 d=32 N=1000": 20.0}
def case_settings(components, support):
    return ["--components", components, "--covariance", "diag", "--support", support, "--query", QUERY,
            "--meta-batch", META_BATCH, "--inner", "sgd", "--inner-steps", INNER_STEPS, "--inner-lr", INNER_LR]


def torch_rate(script, tasks, components, support, seconds, batched):
    args = ["/usr/bin/python3", script, "--tasks", tasks, "--components", str(components), "--support", str(support),
            "--query", str(QUERY), "--meta-batch", str(META_BATCH), "--inner-steps", str(INNER_STEPS),
            "--inner-lr", str(INNER_LR), "--seconds", str(seconds)] + (["--batched"] if batched else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main():
    parser = bench_arguments(__doc__, 5.0, "PyTorch measuring time per case")
    parser.add_argument("--ranks", default="1,2", help="rank counts for weak scaling")
    args = parser.parse_args()
    binary, script, work = bench_paths(args, "torch_reptile.py", "reptile")
    print(f"machine: {os.cpu_count()} cores; one thread per process; float64 everywhere")
    for name, components, dim, support, steps in CASES:
        if name.split()[0] not in args.cases.split(","):
            continue
        tasks = generate_tasks(binary, work, name, dim, components, support + QUERY)
        settings = case_settings(components, support)
        # Throughput: no validation or checkpoints in the loop (the peer has neither).
        ours = train(binary, tasks, os.path.join(work, f"{name}-1"),
                     settings + ["--steps", steps, "--validate-every", 0, "--checkpoint-every", 0])
        per_task = torch_rate(script, tasks, components, support, args.seconds, batched=False)
        batched = torch_rate(script, tasks, components, support, args.seconds, batched=True)
        rate = ours["tasks_per_second"]
        print(f"\n== {name}, meta-batch {META_BATCH}, {INNER_STEPS} inner steps")
        print(f"metagmm, 1 rank        {rate:10.1f} tasks/s")
        print(f"PyTorch per-task       {per_task:10.1f} tasks/s   metagmm is {rate / per_task:6.1f}x "
              f"(target {TARGETS[name]:.0f}x)")
        print(f"PyTorch batched        {batched:10.1f} tasks/s   metagmm is {rate / batched:6.1f}x")

        # Weak scaling: 10 tasks per rank per meta-step; default validation and checkpoints.
        # reduce% is the reduction's share of rank 0's time, including the time it waited for
        # slower ranks to finish adapting (load imbalance), which is shown separately.
        base = None
        print("ranks  meta-batch  tasks/s     efficiency  reduce%  (of which waiting%)  checkpoint%")
        for ranks in map(int, args.ranks.split(",")):
            extra = case_settings(components, support)
            extra[extra.index("--meta-batch") + 1] = META_BATCH * ranks
            result = train(binary, tasks, os.path.join(work, f"{name}-weak-{ranks}"), extra + ["--steps", steps],
                           ranks=ranks if ranks > 1 else None)
            rate = result["tasks_per_second"]
            base = base or rate
            total = result["total"]
            print(f"{ranks:5d}  {META_BATCH * ranks:10d}  {rate:10.1f}  {rate / (base * ranks):10.2f}  "
                  f"{100 * result['reduce'] / total:7.2f}  {100 * result['wait'] / total:19.2f}  "
                  f"{100 * result['checkpoint'] / total:11.2f}")


if __name__ == "__main__":
    main()
