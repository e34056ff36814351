#!/usr/bin/python3
"""ProtoNet training speed: episodes per second of metagmm train --algo protonet on one rank,
beside a PyTorch ProtoNet of the same shape (tools/bench/torch_protonet.py, one thread, float64 like
metagmm, and float32 for reference), measured in the same run.

    /usr/bin/python3 tools/bench/protonet.py [--build build/release] [--seconds 2] [--repeats 3]

Needs build/release (tools/build.sh build/release) and Debian's python3-torch
(tools/install_deps.sh bench). The task set is scikit-learn's digits, meta-train digits 0-4
(metagmm import --class-split 0-4::5-9). Cases: 5-way, 1 and 5 shots, 15 queries per class,
encoder 64-64-64 (ReLU), outer Adam; meta-batch 1 (one episode per update, as ProtoNet is
usually trained) and 8. PyTorch runs per episode and batched (the meta-batch as one tensor).
Every rate is the best of --repeats rounds, the configurations taking turns in each round:
this machine's timings vary by about 20% from run to run, and the best is the least disturbed.
"""
import os
import re
import subprocess
import sys

import sklearn

from common import ENV, bench_arguments, bench_paths

DIGITS = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")
WIDTHS = "64,64"
QUERIES = 15
RATE = re.compile(r"(\S+) tasks/s")


def metagmm_rate(binary, tasks, work, shots, meta_batch, seconds):
    """Episodes per second of a run sized to last about `seconds` (after a short calibration)."""
    def timed(steps):
        run_dir = os.path.join(work, "run")
        out = subprocess.run([binary, "train", "--algo", "protonet", "--tasks", tasks, "--run-dir", run_dir,
                              "--ways", "5", "--shots", str(shots), "--queries", str(QUERIES), "--encoder-widths", WIDTHS,
                              "--meta-batch", str(meta_batch), "--steps", str(steps), "--validate-every", "0",
                              "--checkpoint-every", "0"], capture_output=True, text=True, env=ENV, check=True).stdout
        subprocess.run(["rm", "-rf", run_dir], check=True)
        return float(RATE.search(out).group(1))
    guess = timed(max(1, 200 // meta_batch))
    return timed(max(10, int(seconds * guess / meta_batch)))


def torch_rate(script, tasks, shots, meta_batch, seconds, batched, float32):
    args = ["/usr/bin/python3", script, "--tasks", tasks, "--widths", WIDTHS, "--ways", "5", "--shots", str(shots),
            "--queries", str(QUERIES), "--meta-batch", str(meta_batch), "--seconds", str(seconds)]
    args += ["--batched"] * batched + ["--float32"] * float32
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return float(out.split()[1])


def main():
    parser = bench_arguments(__doc__, 2.0, "seconds measured per configuration and round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best rate counts")
    args = parser.parse_args()
    binary, script, work = bench_paths(args, "torch_protonet.py", "protonet")
    tasks = os.path.join(work, "digits.h5")
    subprocess.run([binary, "import", "--csv", DIGITS, "--label-column", "64", "--class-split", "0-4::5-9",
                    "--out", tasks], check=True, capture_output=True)
    print(f"machine: {os.cpu_count()} cores, one thread per process; digits 0-4, 5-way, {QUERIES} queries per "
          f"class, encoder 64-{WIDTHS.replace(',', '-')}, Adam; episodes/s, best of {args.repeats} rounds")
    print(" shots batch   metagmm | torch f64  torch f64  torch f32 | metagmm vs torch f64")
    print("                  f64  | per-ep.    batched    batched   | per-ep.   batched")
    for shots in (1, 5):
        for meta_batch in (1, 8):
            best = {}
            for _ in range(args.repeats):
                rates = {"ours": metagmm_rate(binary, tasks, work, shots, meta_batch, args.seconds)}
                rates["per_episode"] = torch_rate(script, tasks, shots, meta_batch, args.seconds, False, False)
                rates["batched"] = torch_rate(script, tasks, shots, meta_batch, args.seconds, True, False)
                rates["batched32"] = torch_rate(script, tasks, shots, meta_batch, args.seconds, True, True)
                for key, rate in rates.items():
                    best[key] = max(best.get(key, 0.0), rate)
            print(f"{shots:6d} {meta_batch:5d} {best['ours']:9.0f}  | {best['per_episode']:9.0f} {best['batched']:10.0f} "
                  f"{best['batched32']:10.0f} | {best['ours'] / best['per_episode']:6.1f}x {best['ours'] / best['batched']:8.1f}x",
                  flush=True)
    subprocess.run(["rm", "-rf", work], check=True)


if __name__ == "__main__":
    sys.exit(main())
