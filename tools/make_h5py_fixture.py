#!/usr/bin/python3
"""Writes tests/fixtures/h5py_taskset.h5: a small task set written by h5py alone, following
the format in include/metagmm/task/taskset.hpp, so that tests check our reader against an
independent writer (not only a round trip through our own code).

Point (row r, column j) of the whole file is r + j / 10, so a test knows every value; task t
has 3 + t points; labels are (row mod 3); truth is one diag component per task.

Run with Debian's python3: /usr/bin/python3 tools/make_h5py_fixture.py
"""
import os
import sys

import h5py
import numpy as np


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "h5py_taskset.h5")
    tasks, d = 5, 3
    sizes = [3 + t for t in range(tasks)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    points = np.arange(n, dtype=np.float64)[:, None] + np.arange(d, dtype=np.float64)[None, :] / 10.0
    with h5py.File(out, "w") as f:
        f.attrs["format"] = "metagmm.taskset"
        f.attrs["version"] = np.int64(1)
        f.attrs["dim"] = np.int64(d)
        f.attrs["generator"] = "h5py fixture"
        f.attrs["settings"] = "written by tools/make_h5py_fixture.py\n"
        f.create_dataset("points", data=points, chunks=(4, d), compression="gzip", shuffle=True)
        f.create_dataset("task_offsets", data=offsets)
        f.create_dataset("task_split", data=np.array([0, 0, 1, 2, 0], dtype=np.int8))
        f.create_dataset("labels", data=(np.arange(n) % 3).astype(np.int32))
        truth = f.create_group("truth")
        truth.attrs["covariance_type"] = "diag"
        truth.attrs["space"] = "data"
        truth["component_offsets"] = np.arange(tasks + 1, dtype=np.int64)
        truth["weights"] = np.ones(tasks)
        truth["means"] = np.arange(tasks * d, dtype=np.float64).reshape(tasks, d)
        truth["covariances"] = 1.0 + np.arange(tasks * d, dtype=np.float64).reshape(tasks, d)
        truth["anchors"] = np.full(tasks, -1, dtype=np.int32)
    print("wrote", out)


if __name__ == "__main__":
    main()
