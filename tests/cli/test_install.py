#!/usr/bin/python3
"""The install as a cluster's software team uses it: a plain build that needs no test
dependencies, `cmake --install` into a prefix, the tree moved elsewhere (nothing points back at the source or build tree), the installed binary finding
its plot script, the job scripts and configs under share/metagmm/, a C++ project built against
find_package(metagmm), and the Lmod module file loaded by Debian's lmod.

Run by ctest with METAGMM_BUILD_DIR (the build tree to install) and METAGMM_PYTHON.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

from support import run_checked

BUILD = os.environ.get("METAGMM_BUILD_DIR", "")
HERE = os.path.dirname(os.path.abspath(__file__))
LMOD_INIT = "/usr/share/lmod/lmod/init/bash"
# The consumer's Evaluator against numpy's log-sum-exp on the same model and points: double
# sums over a few hundred points, each rounded at ~1e-16.
LOGLIK_TOLERANCE = 1e-12
TIMEOUT = 600


def diag_mean_log_likelihood(model_path, points):
    with h5py.File(model_path, "r") as f:
        weights, means, variances = f["weights"][()], f["means"][()], f["covariances"][()]
    diff = points[:, None, :] - means[None, :, :]
    log_density = (np.log(weights)[None, :] - 0.5 * np.sum(np.log(2 * np.pi * variances), axis=1)[None, :]
                   - 0.5 * np.sum(diff ** 2 / variances[None, :, :], axis=2))
    top = log_density.max(axis=1, keepdims=True)
    return float(np.mean(top[:, 0] + np.log(np.exp(log_density - top).sum(axis=1))))


@unittest.skipUnless(BUILD, "METAGMM_BUILD_DIR not given")
class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="metagmm_install_")
        staged = os.path.join(cls.dir, "staged")
        run_checked(["cmake", "--install", BUILD, "--prefix", staged], timeout=TIMEOUT)
        # A prefix is often copied to a shared file system afterwards: everything must still work.
        cls.prefix = os.path.join(cls.dir, "moved", "metagmm")
        os.makedirs(os.path.dirname(cls.prefix))
        shutil.move(staged, cls.prefix)
        cls.binary = os.path.join(cls.prefix, "bin", "metagmm")
        cls.tasks = os.path.join(cls.dir, "tasks.h5")
        run_checked([cls.binary, "generate", "--family", "anchored", "--dim", 2, "--components", 3, "--tasks", 60,
                     "--points", "60:60", "--split", "0.5:0.1:0.4", "--seed", 2, "--out", cls.tasks])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def test_the_layout(self):
        version = re.search(r"^metagmm (\S+)", run_checked([self.binary, "--version"]).stdout).group(1)
        for relative in ["bin/metagmm", "share/metagmm/plot_eval.py", "share/metagmm/jobs/train.sbatch",
                         "share/metagmm/jobs/eval.sbatch", "share/metagmm/jobs/sweep.sbatch",
                         "share/metagmm/jobs/lib/launch.sh", "share/metagmm/jobs/env/default.sh",
                         "share/metagmm/jobs/configs/reptile-anchored.ini", f"share/modulefiles/metagmm/{version}.lua",
                         "lib/cmake/metagmm/metagmmConfig.cmake", "lib/cmake/metagmm/metagmmConfigVersion.cmake",
                         "lib/libmetagmm_gmm.a", "include/metagmm/gmm/stats.hpp", "include/metagmm/core/isa.hpp"]:
            self.assertTrue(os.path.exists(os.path.join(self.prefix, relative)), relative)
        # Nothing installed names the source or build tree (the job scripts, the module, the binary).
        source = os.path.dirname(os.path.dirname(HERE))
        for root, _, files in os.walk(os.path.join(self.prefix, "share")):
            for name in files:
                with open(os.path.join(root, name), errors="replace") as handle:
                    self.assertNotIn(source, handle.read(), os.path.join(root, name))
        with open(self.binary, "rb") as handle:
            self.assertNotIn(os.path.join(source, "tools").encode(), handle.read())

    def test_eval_plots_with_the_installed_script(self):
        run_dir = self.path("run")
        run_checked([self.binary, "train", "--algo", "reptile", "--tasks", self.tasks, "--components", 3,
                     "--steps", 5, "--meta-batch", 4, "--support", 10, "--checkpoint-every", 5,
                     "--validate-every", 0, "--run-dir", run_dir])
        out = self.path("eval")
        result = run_checked([self.binary, "eval", "--checkpoint", os.path.join(run_dir, "checkpoint-000000000005.h5"),
                              "--tasks", self.tasks, "--steps", 2, "--converge-steps", 5, "--out", out, "--plot"],
                             timeout=TIMEOUT)
        self.assertNotIn("plot: skipped", result.stdout)
        self.assertTrue(os.path.getsize(os.path.join(out, "loglik.png")) > 1000, result.stdout)

    def test_a_cmake_project_builds_against_the_package(self):
        build = self.path("consumer-build")
        run_checked(["cmake", "-S", os.path.join(os.path.dirname(HERE), "consumer"), "-B", build,
                     f"-DCMAKE_PREFIX_PATH={self.prefix}", "-DCMAKE_BUILD_TYPE=Release"], timeout=TIMEOUT)
        run_checked(["cmake", "--build", build], timeout=TIMEOUT)
        model = self.path("consumer-model.h5")
        run_checked([self.binary, "fit", "--data", self.tasks + ":4", "--components", 3, "--covariance", "diag",
                     "--out", model])
        out = run_checked([os.path.join(build, "consumer"), model, self.tasks, 4]).stdout
        self.assertRegex(out, r"kernels (sse2|avx2|avx512)\n")
        ours = float(re.search(r"mean_log_likelihood (\S+)", out).group(1))
        with h5py.File(self.tasks, "r") as f:
            offsets = f["task_offsets"][()]
            points = f["points"][offsets[4]:offsets[5]]
        reference = diag_mean_log_likelihood(model, points)
        self.assertLess(abs(ours - reference) / abs(reference), LOGLIK_TOLERANCE)

    def test_a_plain_build_needs_no_test_dependencies(self):
        # The binary alone configures without GoogleTest, Google Benchmark or Python.
        source = os.path.dirname(os.path.dirname(HERE))
        build = self.path("plain-build")
        result = run_checked(["cmake", "-S", source, "-B", build, "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON",
                              "-DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON", "-DCMAKE_DISABLE_FIND_PACKAGE_Python3=ON"],
                             timeout=TIMEOUT)
        self.assertIn("Build files have been written", result.stdout)
        with open(os.path.join(build, "CMakeCache.txt")) as cache:
            text = cache.read()
        self.assertIn("BUILD_TESTING:BOOL=OFF", text)
        self.assertIn("METAGMM_BENCHMARKS:BOOL=OFF", text)
        self.assertIn("METAGMM_NATIVE:BOOL=OFF", text)

    @unittest.skipUnless(os.path.exists(LMOD_INIT), "needs Debian's lmod")
    def test_the_module_file(self):
        script = (f"source {LMOD_INIT} && module use {self.prefix}/share/modulefiles && module load metagmm && "
                  f"command -v metagmm && metagmm --version && echo \"jobs=$METAGMM_JOBS\" && "
                  f"metagmm fit --data {self.tasks}:1 --components 2 --out {self.path('module-fit.h5')}")
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT,
                                env={k: v for k, v in os.environ.items() if not k.startswith(("METAGMM", "LMOD", "MODULE"))})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(os.path.join(self.prefix, "bin", "metagmm") + "\n", result.stdout)
        self.assertRegex(result.stdout, r"metagmm \d+\.\d+\.\d+ \(revision")
        self.assertIn(f"jobs={self.prefix}/share/metagmm/jobs\n", result.stdout)
        self.assertTrue(os.path.exists(self.path("module-fit.h5")))


if __name__ == "__main__":
    unittest.main()
