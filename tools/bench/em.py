#!/usr/bin/python3
"""EM benchmark: metagmm beside scikit-learn and VLFeat on the same data and start, one thread,
in the same run. Prints seconds per EM iteration, the ratios, and metagmm's GFLOP/s against
the core's peak.

    /usr/bin/python3 tools/bench/em.py [--build build/release] [--repeats 5]

Needs the benchmark targets built (tools/build.sh build/release) and, for the peers, Debian's
python3-sklearn and libvlfeat-dev (tools/install_deps.sh bench). scikit-learn runs with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (the environment's setting slows OpenBLAS on this
processor ~1.7x; shared/PITFALLS.md) and one BLAS thread.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

NOMINAL_PEAK_GFLOPS = 108.0  # one AVX-512 core (shared/BENCHMARKS.md); measured again below

# name, tasks, points per task, dim, components, covariance, EM iterations timed per task
CASES = [
    ("W1_diag_N100000_d16_K16", 1, 100_000, 16, 16, "diag", 1),
    ("W2_diag_N200000_d64_K32", 1, 200_000, 64, 32, "diag", 1),
    ("F_full_N20000_d16_K8", 1, 20_000, 16, 8, "full", 1),
    ("W3_diag_1000tasks_N200_d2_K4", 1000, 200, 2, 4, "diag", 10),
]


def flops(tasks, n, d, k, covariance, iterations):
    per_task = 3 * n * k * d * d + 8 * n * k if covariance == "full" else 8 * n * k * d + 8 * n * k
    return per_task * tasks * iterations


def write_cases(directory):
    rng = np.random.default_rng(7)
    for name, tasks, n, d, k, covariance, iterations in CASES:
        X = np.empty((tasks * n, d))
        weights = np.empty((tasks, k))
        means = np.empty((tasks, k, d))
        covariances = np.empty((tasks, k, d, d) if covariance == "full" else (tasks, k, d))
        for t in range(tasks):
            centers = rng.normal(scale=4.0, size=(k, d))
            labels = rng.integers(0, k, size=n)
            X[t * n:(t + 1) * n] = centers[labels] + rng.normal(size=(n, d))
            weights[t] = rng.dirichlet(np.full(k, 5.0))
            means[t] = X[t * n + rng.choice(n, size=k, replace=False)]
            if covariance == "full":
                covariances[t] = np.eye(d)[None] * rng.uniform(0.5, 2.0, size=(k, 1, 1))
            else:
                covariances[t] = rng.uniform(0.5, 2.0, size=(k, d))
        with h5py.File(os.path.join(directory, name + ".h5"), "w") as f:
            for key, value in dict(name=name, tasks=tasks, points=n, components=k, dim=d,
                                   covariance_type=covariance, iterations=iterations).items():
                f.attrs[key] = value
            f["X"], f["weights"], f["means"], f["covariances"] = X, weights, means, covariances


def sklearn_worker(directory, repeats):
    """Runs in a child process whose environment has OpenBLAS set up for timing."""
    from sklearn.mixture import GaussianMixture
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky
    from threadpoolctl import threadpool_info, threadpool_limits
    results = {}
    with threadpool_limits(limits=1):
        for name, tasks, n, d, k, covariance, iterations in CASES:
            with h5py.File(os.path.join(directory, name + ".h5"), "r") as f:
                X, weights, means, covariances = f["X"][:], f["weights"][:], f["means"][:], f["covariances"][:]
            models = []
            for t in range(tasks):
                gm = GaussianMixture(n_components=k, covariance_type=covariance, reg_covar=1e-6)
                gm.weights_, gm.means_, gm.covariances_ = weights[t], means[t], covariances[t]
                gm.precisions_cholesky_ = _compute_precision_cholesky(covariances[t], covariance)
                models.append(gm)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for t, gm in enumerate(models):
                    Xt = X[t * n:(t + 1) * n]
                    for _ in range(iterations):
                        _, log_resp = gm._e_step(Xt)
                        gm._m_step(Xt, log_resp)
                best = min(best, (time.perf_counter() - start) / (tasks * iterations))
                for t, gm in enumerate(models):  # same start for every repeat
                    gm.weights_, gm.means_, gm.covariances_ = weights[t], means[t], covariances[t]
                    gm.precisions_cholesky_ = _compute_precision_cholesky(covariances[t], covariance)
            results[name] = best
        blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    print(json.dumps({"times": results, "blas": blas}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build/release", help="build directory with tools/bench targets")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-worker", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sklearn_worker:
        sklearn_worker(args.sklearn_worker, args.repeats)
        return

    bench = os.path.join(args.build, "tools", "bench", "metagmm_bench")
    vlfeat = os.path.join(args.build, "tools", "bench", "vlfeat_em")
    with tempfile.TemporaryDirectory(prefix="metagmm_bench_") as directory:
        write_cases(directory)
        ours_json = subprocess.run(
            [bench, "--benchmark_filter=^(em|loss_gradient|peak)/", "--benchmark_format=json",
             f"--benchmark_repetitions={args.repeats}",
             "--benchmark_report_aggregates_only=true"],
            env={**os.environ, "METAGMM_BENCH_DATA": directory}, check=True, capture_output=True, text=True).stdout
        ours, gradient, peak = {}, {}, None
        for row in json.loads(ours_json)["benchmarks"]:
            if row.get("aggregate_name") != "median":
                continue
            kind, name = row["run_name"].split("/")[:2]  # "em/NAME/real_time"
            if kind == "em":
                ours[name] = row["real_time"] * 1e-3 / row["em_iterations"]  # ms -> s, per EM iteration
            elif kind == "loss_gradient":
                gradient[name] = row["real_time"] * 1e-3 / row["evaluations"]
            else:
                peak = (row["GFLOPS"], int(row["vector_doubles"]))  # the counter is already in GFLOP/s
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        worker = subprocess.run([sys.executable, __file__, "--sklearn-worker", directory, "--repeats", str(args.repeats)],
                                env=env, check=True, capture_output=True, text=True)
        sk = json.loads(worker.stdout)
        vl = {}
        if os.path.exists(vlfeat):
            for name, *_rest in CASES:
                if _rest[4] != "diag":
                    continue
                out = subprocess.run([vlfeat, os.path.join(directory, name + ".h5"), str(args.repeats)],
                                     check=True, capture_output=True, text=True).stdout.split()
                vl[name] = float(out[1])

    peak_gflops, width = peak
    print(f"EM iteration, one thread; median of {args.repeats} (ours), best of {args.repeats} (peers); "
          f"scikit-learn BLAS: {sk['blas']}")
    print(f"core peak measured in this run: {peak_gflops:.1f} GFLOP/s (FMA loop, {width} doubles per vector; "
          f"the {NOMINAL_PEAK_GFLOPS:.0f} GFLOP/s of BENCHMARKS.md needs AVX-512)")
    header = f"{'case':32} {'metagmm':>11} {'sklearn':>11} {'ratio':>7} {'VLFeat':>11} {'ratio':>7} {'GFLOP/s':>8} {'of peak':>8}"
    print(header)
    print("-" * len(header))
    for name, tasks, n, d, k, covariance, iterations in CASES:
        t_ours, t_sk = ours[name], sk["times"][name]
        gflops = flops(1, n, d, k, covariance, 1) / t_ours * 1e-9
        t_vl = vl.get(name)
        vl_text = f"{t_vl * 1e3:9.3f}ms {t_vl / t_ours:6.1f}x" if t_vl else f"{'-':>11} {'-':>7}"
        print(f"{name:32} {t_ours * 1e3:9.3f}ms {t_sk * 1e3:9.3f}ms {t_sk / t_ours:6.1f}x {vl_text} {gflops:8.1f} {gflops / peak_gflops:7.0%}")
    print("times are per EM iteration (W3: per task and iteration; x1000x10 for the whole case);"
          " ratio = peer time / metagmm time")
    print()
    print("loss + exact gradient (one statistics pass, no M-step):")
    for name, tasks, n, d, k, covariance, iterations in CASES:
        print(f"  {name:32} {gradient[name] * 1e3:9.3f}ms per evaluation"
              f"{' (per task)' if tasks > 1 else ''}")


if __name__ == "__main__":
    main()
