#!/usr/bin/python3
"""The portable build's kernel levels as a user meets them: METAGMM_ISA, --version, the default
binary on an AVX2-only processor (qemu-x86_64 -cpu Haswell) giving the native run's results,
the ranks of a job agreeing on one level, the level recorded in checkpoints and kept on resume,
and the kernels' objects sharing no symbol with the rest of the program.

Run by ctest with METAGMM (the binary), MPIRUN and KERNEL_OBJECTS (the kernels' object files,
colon-separated); SANITIZED=1 in the sanitizer build, where the qemu runs are skipped.
"""
import os
import re
import shutil
import subprocess
import unittest

import h5py
import numpy as np

from support import MPI_ENV, MPIRUN, METAGMM, SharedDirectory, bits, checkpoint_content, run_checked

QEMU = shutil.which("qemu-x86_64")
SANITIZED = os.environ.get("SANITIZED", "0") == "1"  # qemu-user cannot map ASan's shadow memory
# The same algorithm at two widths sums in two orders: after a fixed 20 EM iterations (no stopping
# rule, which could stop one level an iteration before the other) the parameters agree to about
# 1e-12; 1e-9 leaves room for EM's amplification of rounding in flat directions.
LEVEL_TOLERANCE = 1e-9
FIXED_EM = ["--tol", 0, "--max-iter", 20]
TIMEOUT = 600


def run(*args, env_extra=None, qemu_cpu=None, check=True, mpi=False):
    env = dict(MPI_ENV if mpi else os.environ)
    env.pop("METAGMM_ISA", None)
    env.update(env_extra or {})
    argv = ([QEMU, "-cpu", qemu_cpu] if qemu_cpu else []) + [METAGMM, *map(str, args)]
    return run_checked(argv, check=check, timeout=TIMEOUT, env=env)


def supported_levels():
    out = run("--version").stdout
    return re.search(r"this processor supports (.*)", out).group(1).split()


def compiled_levels():
    return re.search(r"kernels\s+(.*) compiled in", run("--version").stdout).group(1).split()


def model_arrays(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in ("parameters", "weights", "means")}


class IsaTest(SharedDirectory, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_isa_")
        cls.tasks = cls.path("tasks.h5")
        run("generate", "--family", "anchored", "--dim", 3, "--components", 3, "--tasks", 40, "--points", "150:150",
            "--seed", 4, "--out", cls.tasks)
        cls.train_args = ["train", "--algo", "reptile", "--tasks", cls.tasks, "--components", 3, "--covariance", "diag",
                          "--meta-batch", 4, "--support", 20, "--query", 20, "--inner-steps", 3, "--validate-every", 0,
                          "--checkpoint-every", 5, "--seed", 9]

    def train(self, run_dir, steps, env_extra=None, qemu_cpu=None, extra=()):
        out = run(*self.train_args, "--run-dir", run_dir, "--steps", steps, *extra, env_extra=env_extra,
                  qemu_cpu=qemu_cpu).stdout
        return out, os.path.join(run_dir, f"checkpoint-{steps:012d}.h5")

    def test_version_names_the_build_and_the_levels(self):
        out = run("--version").stdout
        self.assertRegex(out, r"^metagmm \d+\.\d+\.\d+ \(revision \S+\)")
        self.assertIn("compiler", out)
        self.assertRegex(out, r"built for\s+(x86-64-v3|native)")
        self.assertRegex(out, r"in use\s+\S+ \(the highest this processor supports\)")
        lowest = compiled_levels()[0]
        self.assertRegex(run("--version", env_extra={"METAGMM_ISA": lowest}).stdout,
                         rf"in use\s+{lowest} \(METAGMM_ISA\)")
        if "x86-64-v3" in out:
            self.assertEqual(compiled_levels(), ["sse2", "avx2", "avx512"])

    def test_an_unknown_or_unsupported_level_is_refused(self):
        out = self.path("refused.h5")
        for value, expect in [("avx3", "METAGMM_ISA=avx3: expected sse2, avx2, avx512 or auto"),
                              ("AVX2", "METAGMM_ISA=AVX2: expected")]:
            result = run("fit", "--data", self.tasks + ":0", "--components", 2, "--out", out,
                         env_extra={"METAGMM_ISA": value}, check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn(expect, result.stderr)
            self.assertFalse(os.path.exists(out))
        if "avx512" not in supported_levels():
            result = run("fit", "--data", self.tasks + ":0", "--components", 2, "--out", out,
                         env_extra={"METAGMM_ISA": "avx512"}, check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertRegex(result.stderr, "METAGMM_ISA=avx512: .*(this processor lacks it|not compiled)")
            self.assertFalse(os.path.exists(out))
        self.assertEqual(run("--version", env_extra={"METAGMM_ISA": "auto"}).returncode, 0)

    def test_forced_levels_give_results_equal_to_rounding_and_record_the_level(self):
        fits = {}
        for level in supported_levels():
            if level not in compiled_levels():
                continue
            path = self.path(f"fit-{level}.h5")
            run("fit", "--data", self.tasks + ":3", "--components", 3, *FIXED_EM, "--out", path,
                env_extra={"METAGMM_ISA": level})
            with h5py.File(path, "r") as f:
                self.assertEqual(f.attrs["isa"], level)
                self.assertIn("metagmm_version", f.attrs)
                self.assertIn("git_revision", f.attrs)
            fits[level] = model_arrays(path)
            # The same level twice: the same bits.
            run("fit", "--data", self.tasks + ":3", "--components", 3, *FIXED_EM, "--out", path,
                env_extra={"METAGMM_ISA": level})
            self.assertEqual(bits(model_arrays(path)["parameters"]), bits(fits[level]["parameters"]))
        reference = next(iter(fits.values()))
        for level, arrays in fits.items():
            np.testing.assert_allclose(arrays["means"], reference["means"], rtol=LEVEL_TOLERANCE, atol=LEVEL_TOLERANCE,
                                       err_msg=level)

    @unittest.skipUnless(QEMU and not SANITIZED, "needs qemu-x86_64 (Debian's qemu-user) and a build without sanitizers")
    def test_the_default_binary_on_an_avx2_only_processor(self):
        # The same binary as an AVX2-only node runs it: it starts, picks avx2 and computes what
        # the native run does (the same bits at the same level, rounding apart otherwise).
        version = run("--version", qemu_cpu="Haswell").stdout
        self.assertRegex(version, r"this processor supports sse2 avx2\n")
        self.assertRegex(version, r"in use\s+avx2")
        native, emulated = self.path("native-fit.h5"), self.path("haswell-fit.h5")
        fit = ["fit", "--data", self.tasks + ":5", "--components", 3, "--covariance", "diag", *FIXED_EM]
        run(*fit, "--out", native)
        run(*fit, "--out", emulated, qemu_cpu="Haswell")
        np.testing.assert_allclose(model_arrays(emulated)["means"], model_arrays(native)["means"],
                                   rtol=LEVEL_TOLERANCE, atol=LEVEL_TOLERANCE)
        run(*fit, "--out", native, env_extra={"METAGMM_ISA": "avx2"})
        run(*fit, "--out", emulated, env_extra={"METAGMM_ISA": "avx2"}, qemu_cpu="Haswell")
        self.assertEqual(bits(model_arrays(emulated)["parameters"]), bits(model_arrays(native)["parameters"]))
        # A short meta-training: the same checkpoint, bit for bit, at the same level.
        _, native_checkpoint = self.train(self.path("train-native"), 10, env_extra={"METAGMM_ISA": "avx2"})
        out, emulated_checkpoint = self.train(self.path("train-haswell"), 10, qemu_cpu="Haswell")
        self.assertIn("kernels: avx2", out)
        self.assertEqual(checkpoint_content(emulated_checkpoint), checkpoint_content(native_checkpoint))

    @unittest.skipUnless(QEMU and not SANITIZED, "needs qemu-x86_64 (Debian's qemu-user) and a build without sanitizers")
    def test_a_processor_below_the_baseline_gets_one_line(self):
        result = run("--version", qemu_cpu="Nehalem", check=False)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("this processor lacks x86-64-v", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def mixed_job(self, run_dir, levels, steps=10):
        argv = [MPIRUN, "--oversubscribe"]
        for i, level in enumerate(levels):
            if i:
                argv.append(":")
            argv += ["-np", "1", "env", f"METAGMM_ISA={level}", METAGMM, *map(str, self.train_args),
                     "--run-dir", run_dir, "--steps", steps]
        out = run_checked(argv, timeout=TIMEOUT, env=MPI_ENV).stdout
        return out, os.path.join(run_dir, f"checkpoint-{steps:012d}.h5")

    def test_ranks_forced_to_different_levels_agree_on_the_lower(self):
        levels = [level for level in compiled_levels() if level in supported_levels()]
        if len(levels) < 2:
            self.skipTest("one kernel level only (a native build)")
        for low, high in zip(levels, levels[1:]):
            out, mixed = self.mixed_job(self.path(f"mixed-{low}-{high}"), [high, low])
            self.assertIn(f"kernels: {low} (the lowest of the ranks' levels: 1 {low}, 1 {high})", out)
            _, single = self.train(self.path(f"single-{low}"), 10, env_extra={"METAGMM_ISA": low})
            self.assertEqual(checkpoint_content(mixed), checkpoint_content(single))
            with h5py.File(mixed, "r") as f:
                self.assertEqual(f.attrs["isa"], low)

    def test_a_resume_keeps_the_recorded_level(self):
        low = compiled_levels()[0]
        if low not in supported_levels() or len(compiled_levels()) < 2:
            self.skipTest("one kernel level only (a native build)")
        _, whole = self.train(self.path("whole"), 20, env_extra={"METAGMM_ISA": low})
        run_dir = self.path("resumed")
        _, first = self.train(run_dir, 10, env_extra={"METAGMM_ISA": low})
        shutil.copy(first, self.path("first-half.h5"))
        # No METAGMM_ISA: the checkpoint's level, not this processor's highest.
        out = run(*self.train_args, "--run-dir", run_dir, "--steps", 20, "--resume", "auto").stdout
        self.assertIn(f"kernels: {low} (the checkpoint's level)", out)
        self.assertNotIn("warning", out)
        final = os.path.join(run_dir, f"checkpoint-{20:012d}.h5")
        self.assertEqual(checkpoint_content(final), checkpoint_content(whole))
        self.assertIn(f"kernels {low}", run("inspect", final).stdout)
        with h5py.File(final, "r") as f:
            self.assertEqual(f.attrs["isa"], low)
            self.assertRegex(f.attrs["metagmm_version"], r"^\d+\.\d+\.\d+$")
            self.assertTrue(f.attrs["git_revision"])

    def test_a_resume_says_when_it_cannot_keep_the_level(self):
        cases = [("avx10", "which this build lacks")]
        if "avx512" in compiled_levels() and "avx512" not in supported_levels():
            cases.append(("avx512", "which not every rank of this job supports"))
        for recorded, reason in cases:
            run_dir = self.path(f"cannot-{recorded}")
            _, first = self.train(run_dir, 5)
            with h5py.File(first, "r+") as f:  # provenance, not covered by the checksum
                f.attrs["isa"] = recorded
            out = run(*self.train_args, "--run-dir", run_dir, "--steps", 10, "--resume", "auto").stdout
            self.assertRegex(out, f"warning: the checkpoint was computed with {recorded} kernels, {reason}; "
                                  "continuing with \\S+; results may differ from an uninterrupted run in the last bits")
        # METAGMM_ISA wins over the checkpoint, and says so.
        levels = [level for level in compiled_levels() if level in supported_levels()]
        if len(levels) >= 2:
            run_dir = self.path("forced-over-checkpoint")
            self.train(run_dir, 5, env_extra={"METAGMM_ISA": levels[0]})
            out = run(*self.train_args, "--run-dir", run_dir, "--steps", 10, "--resume", "auto",
                      env_extra={"METAGMM_ISA": levels[1]}).stdout
            self.assertIn(f"computed with {levels[0]} kernels, METAGMM_ISA asks for {levels[1]}", out)


class KernelSymbolsTest(unittest.TestCase):
    """Each level's kernels define symbols only in their own namespaces (metagmm::kernels::LEVEL and
    Eigen renamed to metagmm_eigen_LEVEL): no inline function of a shared header is emitted there,
    where the linker could pick one level's copy for every caller (an AVX-512 instruction in code
    an AVX2 node runs). They run no code at load time either (no constructors)."""

    def test_no_shared_symbols_and_no_constructors(self):
        objects = [path for path in os.environ.get("KERNEL_OBJECTS", "").split(":") if path]
        if not objects:
            self.skipTest("KERNEL_OBJECTS not given")
        for path in objects:
            level = re.search(r"metagmm_kernels_(\w+)\.dir", path).group(1)
            symbols = run_checked(["nm", "-C", "--defined-only", path]).stdout.splitlines()
            exported = [line for line in symbols if len(line.split()) >= 3 and line.split()[1].isupper()]
            self.assertTrue(any(f"metagmm::kernels::{level}::table" in line for line in exported), path)
            # AddressSanitizer adds an ODR indicator per global (named after it) and a constructor
            # that registers the globals: its instrumentation, not our code.
            allowed = (f"metagmm::kernels::{level}::", f"metagmm_eigen_{level}::", "DW.ref.__gxx_personality_v0",
                       f"__odr_asan._ZN7metagmm7kernels{len(level)}{level}")
            strays = [line for line in exported if not any(name in line for name in allowed)]
            self.assertEqual(strays, [], path)
            if SANITIZED:
                continue
            sections = run_checked(["readelf", "-S", "-W", path]).stdout
            self.assertNotIn(".init_array", sections, path)
            self.assertNotIn(".ctors", sections, path)


if __name__ == "__main__":
    unittest.main()
