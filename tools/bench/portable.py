#!/usr/bin/python3
"""The portable build against a native one on this machine, in one run: EM iterations (the
cases of tools/bench/em.py, through Google Benchmark) and meta-training throughput (Reptile and
second-order MAML, as tools/bench/reptile.py and tools/bench/maml.py run them). The two builds
alternate round by round so that drifts of this noisy machine hit both alike. Noise here only
ever adds time (other work on the host, frequency changes), so each case is judged by its best
round (the median is shown beside it), as the portable build's speed as a fraction of the
native one's.

    /usr/bin/python3 tools/bench/portable.py [--portable build/release] [--native build/native] [--rounds 7]

The portable build is tools/build.sh build/release (the default: x86-64-v3, kernels chosen at
start-up); the native one is made here if missing (-DMETAGMM_NATIVE=ON: everything -march=native).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
from common import ENV, ROOT  # noqa: E402
from em import write_cases  # noqa: E402

TRAIN_CASES = [  # name, algorithm, components, dim, support, steps
    ("reptile small K=4 d=2 N=200", "reptile", 4, 2, 200, 3000),
    ("reptile large K=16 d=32 N=1000", "reptile", 16, 32, 1000, 100),
    ("maml small K=4 d=2 N=50", "maml", 4, 2, 50, 1500),
]
TIME_LINE = re.compile(r"(\S+) tasks/s")
WITHIN = 0.05  # the aim: the portable build within 5% of a native build on every case


def build_native(directory):
    subprocess.run(["bash", os.path.join(TOOLS, "build.sh"), directory, "-DMETAGMM_NATIVE=ON", "-DBUILD_TESTING=OFF"],
                   env=dict(os.environ, BUILD_TARGET="metagmm"), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", directory, "-j", str(os.cpu_count()), "--target", "metagmm_bench"],
                   check=True, stdout=subprocess.DEVNULL)


def em_times(build, data):
    """Seconds per EM iteration (and per loss-and-gradient evaluation) of each case, one run."""
    out = subprocess.run([os.path.join(build, "tools", "bench", "metagmm_bench"), "--benchmark_filter=^(em|loss_gradient)/",
                          "--benchmark_format=json"], env={**os.environ, "METAGMM_BENCH_DATA": data}, check=True,
                         capture_output=True, text=True).stdout
    times = {}
    for row in json.loads(out)["benchmarks"]:
        kind, name = row["run_name"].split("/")[:2]
        count = row["em_iterations"] if kind == "em" else row["evaluations"]
        times[f"{kind} {name}"] = row["real_time"] * 1e-3 / count
    return times


def train_rate(binary, tasks, work, algorithm, components, support, steps):
    run_dir = tempfile.mkdtemp(dir=work)
    args = [binary, "train", "--algo", algorithm, "--tasks", tasks, "--run-dir", run_dir, "--components", components,
            "--covariance", "diag", "--support", support, "--query", 20, "--meta-batch", 10, "--inner", "sgd",
            "--inner-steps", 5, "--inner-lr", 0.1, "--steps", steps, "--validate-every", 0, "--checkpoint-every", 0]
    out = subprocess.run(list(map(str, args)), env=ENV, check=True, capture_output=True, text=True).stdout
    return float(TIME_LINE.search(out).group(1))


def kernel_line(binary):
    out = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout
    target = re.search(r"built for\s+(\S+)", out).group(1)
    level = re.search(r"in use\s+(\S+)", out).group(1)
    return f"{target}, kernels in use {level}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portable", default="build/release")
    parser.add_argument("--native", default="build/native")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    portable, native = (os.path.join(ROOT, b) if not os.path.isabs(b) else b for b in (args.portable, args.native))
    if not os.path.exists(os.path.join(native, "tools", "bench", "metagmm_bench")):
        build_native(native)
    binaries = {"portable": os.path.join(portable, "metagmm"), "native": os.path.join(native, "metagmm")}
    builds = {"portable": portable, "native": native}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    avx512 = "avx512f" in open("/proc/cpuinfo").read()
    print(f"machine: {cpu}, {os.cpu_count()} cores, {'with' if avx512 else 'without'} AVX-512; one thread")
    for name, binary in binaries.items():
        print(f"{name:9} {binary}: {kernel_line(binary)}")
    samples = {}  # case -> build -> [seconds per unit of work]
    with tempfile.TemporaryDirectory(prefix="metagmm_portable_") as work:
        data = os.path.join(work, "em")
        os.makedirs(data)
        write_cases(data)
        tasks = {}
        for name, algorithm, components, dim, support, steps in TRAIN_CASES:
            tasks[name] = os.path.join(work, f"{algorithm}-{dim}-{components}-{support}.h5")
            subprocess.run([binaries["portable"], "generate", "--family", "anchored", "--dim", str(dim), "--components",
                            str(components), "--tasks", "400", "--points", f"{support + 20}:{support + 20}", "--seed", "1",
                            "--out", tasks[name]], check=True, capture_output=True)
        for round_ in range(args.rounds):
            order = ["portable", "native"] if round_ % 2 == 0 else ["native", "portable"]
            for build in order:
                for case, seconds in em_times(builds[build], data).items():
                    samples.setdefault(case, {}).setdefault(build, []).append(seconds)
                for name, algorithm, components, dim, support, steps in TRAIN_CASES:
                    rate = train_rate(binaries[build], tasks[name], work, algorithm, components, support, steps)
                    samples.setdefault(name, {}).setdefault(build, []).append(1.0 / rate)
    print(f"\nbest of {args.rounds} rounds, builds alternating; speed = native time / portable time "
          "(of the best rounds; of the medians in brackets)")
    header = f"{'case':44} {'portable':>12} {'native':>12} {'speed':>7} {'(median)':>9}  verdict"
    print(header)
    print("-" * len(header))
    worst = float("inf")
    for case, by_build in samples.items():
        ours, theirs = min(by_build["portable"]), min(by_build["native"])
        speed = theirs / ours
        median_speed = statistics.median(by_build["native"]) / statistics.median(by_build["portable"])
        worst = min(worst, speed)
        if case in {c[0] for c in TRAIN_CASES}:
            cells = f"{1 / ours:8.0f} t/s {1 / theirs:8.0f} t/s"
        else:
            cells = f"{ours * 1e3:9.3f} ms {theirs * 1e3:9.3f} ms"
        verdict = "within 5%" if speed >= 1 - WITHIN else "SLOWER than 5%"
        print(f"{case:44} {cells} {speed:7.3f} {f'({median_speed:.3f})':>9}  {verdict}")
    print(f"\nworst case: the portable build at {worst:.3f} of the native build's speed "
          f"({'within' if worst >= 1 - WITHIN else 'outside'} the 5% aim)")


if __name__ == "__main__":
    main()
