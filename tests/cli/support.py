"""Helpers shared by the command-line tests: running a command and reading files."""
import os
import shutil
import subprocess
import tempfile

import h5py
import numpy as np

METAGMM = os.environ.get("METAGMM", "metagmm")
MPIRUN = os.environ.get("MPIRUN", "mpirun")
# mpirun as root, waiting ranks yielding the cores (more ranks than cores); LeakSanitizer's
# report of OpenMPI's own allocations is not ours.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1",
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
LONG_TIMEOUT = 900


def run_checked(argv, check=True, timeout=300, env=None):
    """Runs argv (any items, as text); with `check`, a non-zero status fails with its stderr."""
    argv = [str(item) for item in argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return result


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def metagmm(*args, check=True):
    """Runs metagmm with `args` on one rank (no mpirun)."""
    return run_checked([METAGMM, *args], check=check, timeout=LONG_TIMEOUT)


def metagmm_ranks(ranks, *args):
    """Runs metagmm with `args` under mpirun with `ranks` ranks; a failure fails the test."""
    return run_checked([MPIRUN, "--oversubscribe", "-np", ranks, METAGMM, *args], timeout=LONG_TIMEOUT, env=MPI_ENV)


class RefusalChecks:
    """Mixed into a TestCase: refused(*args, expect=TEXT) runs metagmm on one rank and checks the
    bad-input contract: exit status 2 and one line on stderr that contains TEXT."""

    def refused(self, *args, expect):
        result = metagmm(*args, check=False)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn(expect, result.stderr)


class SharedDirectory:
    """Mixed into a TestCase: one temporary directory for the whole class, made by
    make_directory() (call it first in setUpClass) and removed after the class; path(*names)
    names files in it."""

    @classmethod
    def make_directory(cls, prefix):
        cls.dir = tempfile.mkdtemp(prefix=prefix)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def path(cls, *names):
        return os.path.join(cls.dir, *names)


def bits(array):
    """The exact bits of a float array, so NaN == NaN and -0.0 != 0.0."""
    array = np.ascontiguousarray(array)
    return array.view(np.uint8).tobytes()


def checkpoint_content(path, skip=("metrics/elapsed",)):
    """Every dataset and attribute, except wall-clock times and the checksum that covers them."""
    content = {}
    with h5py.File(path, "r") as f:
        for name, value in f.attrs.items():
            if name != "checksum":
                content["@" + name] = value
        def visit(name, item):
            if isinstance(item, h5py.Dataset) and name not in skip:
                content[name] = bits(item[()])
            for key, value in item.attrs.items():
                content[f"{name}@{key}"] = value
        f.visititems(visit)
    return content
