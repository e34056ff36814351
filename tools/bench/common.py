"""What every benchmark and experiment script shares: where the repository and the metagmm binary
are, the environment mpirun needs, and running metagmm for its timing line. Import it with
`sys.path.insert(0, <tools/bench>)` from outside tools/bench.

The binary is found one way everywhere: $METAGMM if set, else BUILD/metagmm under the repository
(BUILD defaults to build/release, the test command's optimised build)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH))
DEFAULT_BUILD = "build/release"
# mpirun as root (our machines run the tests as root).
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
TIME_LINE = re.compile(r"time: total (\S+) s, adapt (\S+) s, reduce (\S+) s \(waiting (\S+) s\), update (\S+) s, "
                       r"validate (\S+) s, "
                       r"checkpoint (\S+) s \((\d+) saves\), (\d+) steps, (\S+) tasks/s")


def metagmm_binary(build=DEFAULT_BUILD):
    """$METAGMM, or BUILD/metagmm (BUILD relative to the repository unless absolute)."""
    return os.environ.get("METAGMM") or os.path.join(ROOT, build, "metagmm")


def bench_arguments(description, seconds, seconds_help):
    """The options the meta-training benchmarks take; add more, then parse."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=DEFAULT_BUILD)
    parser.add_argument("--seconds", type=float, default=seconds, help=seconds_help)
    parser.add_argument("--cases", default="small,large")
    return parser


def bench_paths(args, peer, name):
    """The metagmm binary, the PyTorch peer script (in tools/bench) and a fresh working directory."""
    return (metagmm_binary(args.build), os.path.join(BENCH, peer), tempfile.mkdtemp(prefix=f"metagmm_bench_{name}_"))


def generate_tasks(binary, work, name, dim, components, points):
    """An anchored task set of 400 tasks of `points` points each for a case; returns its path."""
    tasks = os.path.join(work, f"{name.split()[0]}.h5")
    subprocess.run([binary, "generate", "--family", "anchored", "--dim", str(dim), "--components", str(components),
                    "--tasks", "400", "--points", f"{points}:{points}", "--seed", "1", "--out", tasks],
                   check=True, capture_output=True)
    return tasks


def train(binary, tasks, run_dir, extra, ranks=None):
    """metagmm train (under mpirun with `ranks`); its timing line as numbers."""
    args = [binary, "train", "--tasks", tasks, "--run-dir", run_dir, *map(str, extra)]
    if ranks:
        args = ["mpirun", "--oversubscribe", "--bind-to", "core", "-np", str(ranks), *args]
    out = subprocess.run(args, capture_output=True, text=True, env=ENV, check=True).stdout
    match = TIME_LINE.search(out)
    if not match:
        sys.exit(f"no timing line in the output of {' '.join(args)}:\n{out}")
    keys = ["total", "adapt", "reduce", "wait", "update", "validate", "checkpoint", "saves", "steps", "tasks_per_second"]
    return dict(zip(keys, map(float, match.groups())))
