#!/usr/bin/python3
"""The metagmm command as a user meets it: outputs checked with h5py and scikit-learn (readers
independent of our code), every kind of bad input refused with one line and exit status 2
without touching existing files, options from config files.

Run by ctest with METAGMM pointing at the binary; needs Debian's python3-h5py and python3-sklearn.
"""
import csv
import os
import shutil
import tempfile
import unittest

import h5py
import numpy as np
from sklearn.mixture import GaussianMixture

from support import read_bytes, run_checked

METAGMM = os.environ.get("METAGMM", "metagmm")


def run(*args, check=True):
    return run_checked([METAGMM, *args], check=check)


class Workspace(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="metagmm_cli_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def generate(self, name="tasks.h5", *extra):
        out = self.path(name)
        run("generate", "--out", out, "--tasks", 30, "--points", "40:80", "--seed", 3, *extra)
        return out


class TaskSetLayout(Workspace):
    def test_generated_file_as_h5py_sees_it(self):
        for family, covariance in [("uniform", "spherical"), ("anchored", "diag"), ("warped", "full")]:
            out = self.generate(f"{family}.h5", "--family", family, "--truth-covariance", covariance, "--dim", 3)
            with h5py.File(out, "r") as f:
                self.assertEqual(f.attrs["format"], "metagmm.taskset")
                self.assertEqual(f.attrs["version"], 1)
                self.assertEqual(f.attrs["dim"], 3)
                self.assertEqual(f.attrs["generator"], family)
                self.assertIn("seed = 3", f.attrs["settings"])
                points, offsets, split, labels = f["points"], f["task_offsets"][:], f["task_split"][:], f["labels"][:]
                self.assertEqual(points.dtype, np.float64)
                self.assertEqual(points.shape[1], 3)
                self.assertIsNotNone(points.chunks)
                self.assertEqual(points.compression, "gzip")
                self.assertEqual(offsets.dtype, np.int64)
                self.assertEqual(offsets[0], 0)
                self.assertEqual(offsets[-1], points.shape[0])
                sizes = np.diff(offsets)
                self.assertTrue(np.all((sizes >= 40) & (sizes <= 80)))
                self.assertEqual(split.dtype, np.int8)
                self.assertEqual(sorted(np.bincount(split, minlength=3)), sorted([24, 3, 3]))
                self.assertEqual(labels.dtype, np.int32)
                truth = f["truth"]
                self.assertEqual(truth.attrs["covariance_type"], covariance)
                self.assertEqual(truth.attrs["space"], "latent" if family == "warped" else "data")
                comp = truth["component_offsets"][:]
                self.assertEqual(len(comp), 31)
                cov = truth["covariances"]
                expected_shape = {"spherical": (comp[-1],), "diag": (comp[-1], 3), "full": (comp[-1], 3, 3)}[covariance]
                self.assertEqual(cov.shape, expected_shape)
                weights = truth["weights"][:]
                for t in range(30):
                    self.assertAlmostEqual(weights[comp[t]:comp[t + 1]].sum(), 1.0, places=12)
                    task_labels = labels[offsets[t]:offsets[t + 1]]
                    self.assertTrue(np.all((task_labels >= 0) & (task_labels < comp[t + 1] - comp[t])))
                if family != "warped":
                    # Points of the largest component of a task sit around its true mean.
                    t = int(np.argmax(sizes))
                    x, l = points[offsets[t]:offsets[t + 1]], labels[offsets[t]:offsets[t + 1]]
                    k = np.bincount(l).argmax()
                    mean = truth["means"][comp[t] + k]
                    self.assertLess(np.abs(x[l == k].mean(axis=0) - mean).max(), 1.5)
                else:
                    self.assertIn("rotation_in", truth["warp"])

    def test_same_seed_same_bytes_of_points(self):
        a, b = self.generate("a.h5"), self.generate("b.h5")
        with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
            np.testing.assert_array_equal(fa["points"][:], fb["points"][:])
            np.testing.assert_array_equal(fa["task_split"][:], fb["task_split"][:])

    def test_import_matches_the_csv_as_python_reads_it(self):
        rng = np.random.default_rng(1)
        src = self.path("data.csv")
        rows = []
        with open(src, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["a", "b", "c", "label", "task"])
            for i in range(50):
                row = [*(rng.normal(size=3) * 10.0 ** rng.integers(-3, 4)), int(rng.integers(0, 3)), f"t{i % 4}"]
                rows.append(row)
                writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
        out = self.path("imported.h5")
        run("import", "--csv", src, "--out", out, "--label-column", "label", "--task-column", "task")
        with h5py.File(out, "r") as f:
            offsets = f["task_offsets"][:]
            self.assertEqual(len(offsets), 5)
            for t in range(4):
                expected = [r for r in rows if r[4] == f"t{t}"]
                np.testing.assert_array_equal(f["points"][offsets[t]:offsets[t + 1]], np.array([r[:3] for r in expected]))
                np.testing.assert_array_equal(f["labels"][offsets[t]:offsets[t + 1]], [r[3] for r in expected])
            self.assertEqual(f.attrs["generator"], "import")


class Fit(Workspace):
    def test_a_split_pooled_equals_its_points_in_one_csv(self):
        """FILE:train pools the train split's tasks: the same fit as their points written out by h5py."""
        tasks = self.generate()
        with h5py.File(tasks, "r") as f:
            offsets, split, points = f["task_offsets"][()], f["task_split"][()], f["points"][()]
        pooled = np.concatenate([points[offsets[t]:offsets[t + 1]] for t in np.nonzero(split == 0)[0]])
        csv_path = self.path("pooled.csv")
        np.savetxt(csv_path, pooled, delimiter=",", fmt="%.17g")  # round-trips every double
        start = self.path("start.h5")
        run("fit", "--data", f"{tasks}:0", "--components", 3, "--covariance", "diag", "--out", start)
        report = run("fit", "--data", f"{tasks}:train", "--init", start, "--out", self.path("a.h5")).stdout
        self.assertIn(f"the 24 tasks of the train split, pooled), {len(pooled)} points", report)
        run("fit", "--data", csv_path, "--init", start, "--out", self.path("b.h5"))
        with h5py.File(self.path("a.h5")) as a, h5py.File(self.path("b.h5")) as b:
            self.assertEqual(a["parameters"][()].tobytes(), b["parameters"][()].tobytes())
        result = run("fit", "--data", f"{csv_path}:train", "--components", 2, "--out", self.path("c.h5"), check=False)
        self.assertEqual(result.returncode, 2)

    def test_fit_agrees_with_scikit_learn_reading_our_parameters(self):
        tasks = self.generate()
        for covariance in ["diag", "spherical", "full"]:
            out = self.path(f"fit_{covariance}.h5")
            result = run("fit", "--data", f"{tasks}:2", "--components", 3, "--covariance", covariance, "--out", out)
            self.assertIn("iterations", result.stdout)
            with h5py.File(tasks, "r") as f:
                o = f["task_offsets"][:]
                X = f["points"][o[2]:o[3]]
            with h5py.File(out, "r") as f:
                self.assertEqual(f.attrs["format"], "metagmm.gmm")
                gm = GaussianMixture(n_components=3, covariance_type=covariance)
                gm.weights_ = f["weights"][:]
                gm.means_ = f["means"][:]
                gm.covariances_ = f["covariances"][:]
                gm.precisions_cholesky_ = f["precisions_cholesky"][:]
                ours = f.attrs["mean_log_likelihood"]
                assignments = f["assignments"][:]
            self.assertAlmostEqual(gm.weights_.sum(), 1.0, places=12)
            # Same parameters, two independent implementations of the density: rounding only.
            self.assertLess(abs(gm.score(X) - ours), 1e-9 * abs(ours))
            np.testing.assert_array_equal(gm.predict(X), assignments)
            with open(self.path(f"fit_{covariance}.assignments.csv")) as handle:
                table = list(csv.DictReader(handle))
            np.testing.assert_array_equal([int(r["component"]) for r in table], assignments)

    def test_fit_a_csv_and_restart_from_a_model_file(self):
        rng = np.random.default_rng(2)
        X = np.concatenate([rng.normal(-5, 1, size=(60, 2)), rng.normal(5, 1, size=(60, 2))])
        src = self.path("points.csv")
        np.savetxt(src, X, delimiter=",", header="x,y", comments="")
        first = self.path("first.h5")
        run("fit", "--data", src, "--components", 2, "--covariance", "diag", "--out", first)
        again = run("fit", "--data", src, "--init", first, "--out", self.path("again.h5"))
        self.assertIn("converged", again.stdout)
        with h5py.File(first, "r") as f:
            means = np.sort(f["means"][:, 0])
        np.testing.assert_allclose(means, [-5, 5], atol=0.6)

    def test_config_file_under_command_line(self):
        config = self.path("gen.ini")
        with open(config, "w") as handle:
            handle.write("dim = 4\ntasks = 9\nfamily = uniform\n")
        out = self.path("cfg.h5")
        run("generate", "--config", config, "--tasks", 5, "--out", out)
        with h5py.File(out, "r") as f:
            self.assertEqual(f.attrs["dim"], 4)
            self.assertEqual(len(f["task_split"]), 5)
            self.assertEqual(f.attrs["generator"], "uniform")

    def test_help_explains_every_option(self):
        for command, options in {
            "generate": ["--family", "--out", "--dim", "--components", "--tasks", "--points", "--seed", "--truth-covariance", "--split", "--config"],
            "import": ["--csv", "--out", "--label-column", "--task-column", "--delimiter", "--header", "--class-split",
                       "--validation-fraction"],
            "fit": ["--data", "--components", "--covariance", "--init", "--max-iter", "--tol", "--reg-covar", "--out",
                    "--encoder", "prototypes"],
            "train": ["--algo", "protonet", "--encoder-widths", "--ways", "--shots", "--queries", "--unlabelled",
                      "--distractor-classes", "--refine-steps", "--distractor-cluster"],
            "eval": ["--checkpoint", "--tasks", "--split", "--out", "--episodes", "--seed", "--ways", "--shots",
                     "--queries", "--unlabelled", "--refine-steps", "--head-tasks", "--head-covariance",
                     "--head-reg-covar", "--head-max-iter", "--support", "--query", "--steps", "--converge-steps",
                     "--tol", "--reg-covar", "--relevance", "--pooled", "--max-tasks", "--plot", "--progress-seconds"],
            "inspect": ["FILE"],
        }.items():
            text = run(command, "--help").stdout
            for option in options:
                self.assertIn(option, text, f"{command} --help does not mention {option}")

    def test_inspect_describes_task_sets_and_models(self):
        tasks = self.generate()
        text = run("inspect", tasks).stdout
        self.assertIn("tasks       30 (train 24, validation 3, test 3)", text)
        model = self.path("m.h5")
        run("fit", "--data", tasks, "--components", 2, "--out", model)
        self.assertIn("2 components, full covariance", run("inspect", model).stdout)


class BadInput(Workspace):
    """Each case: exit status 2, one line naming the culprit, no output written or touched."""

    def expect_refused(self, args, phrase, outputs=()):
        before = {p: read_bytes(p) for p in outputs if os.path.exists(p)}
        listing = sorted(os.listdir(self.dir))
        result = run(*args, check=False)
        self.assertEqual(result.returncode, 2, f"{args}: status {result.returncode}\n{result.stderr}")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got:\n{result.stderr}")
        self.assertIn(phrase, lines[0])
        self.assertEqual(sorted(os.listdir(self.dir)), listing, f"{args}: files appeared or vanished")
        for p, content in before.items():
            self.assertEqual(read_bytes(p), content, f"{args}: {p} was modified")

    def bad_task_set(self, name, spoil):
        path = self.path(name)
        points = np.arange(16, dtype=np.float64).reshape(8, 2)
        fields = {"format": "metagmm.taskset", "version": 1, "dim": 2, "points": points,
                  "task_offsets": np.array([0, 4, 8], dtype=np.int64), "task_split": np.array([0, 2], dtype=np.int8)}
        spoil(fields)
        with h5py.File(path, "w") as f:
            for key in ("format", "version", "dim"):
                f.attrs[key] = fields[key]
            for key in ("points", "task_offsets", "task_split"):
                f[key] = fields[key]
        return path

    def test_every_bad_task_set_is_refused(self):
        out = self.path("existing.h5")
        with open(out, "wb") as handle:
            handle.write(b"previous result")
        cases = [
            ("format.h5", lambda f: f.update(format="other"), "expected 'metagmm.taskset'"),
            ("version.h5", lambda f: f.update(version=7), "version 7 is not supported"),
            ("dtype.h5", lambda f: f.update(points=f["points"].astype(np.float32)), "expected float64 of rank 2, found float32"),
            ("rank.h5", lambda f: f.update(points=f["points"].ravel()), "expected float64 of rank 2"),
            ("offsets_start.h5", lambda f: f.update(task_offsets=np.array([1, 4, 8], dtype=np.int64)), "must start at 0"),
            ("offsets_order.h5", lambda f: f.update(task_offsets=np.array([0, 6, 4, 8], dtype=np.int64), task_split=np.zeros(3, np.int8)), "not increasing"),
            ("offsets_end.h5", lambda f: f.update(task_offsets=np.array([0, 4, 12], dtype=np.int64)), "past the end"),
            ("offsets_dtype.h5", lambda f: f.update(task_offsets=np.array([0, 4, 8], dtype=np.int32)), "expected int64"),
            ("dim.h5", lambda f: f.update(dim=3), "attribute dim is 3"),
        ]
        for name, spoil, phrase in cases:
            with self.subTest(name):
                bad = self.bad_task_set(name, spoil)
                self.expect_refused(["fit", "--data", bad, "--components", 2, "--out", out], phrase, [out])
                self.expect_refused(["inspect", bad], "none of metagmm.taskset" if name == "format.h5" else phrase)

    def test_nan_or_inf_points(self):
        def spoil(f):
            f["points"][5, 1] = np.nan
        bad = self.bad_task_set("nan.h5", spoil)
        self.expect_refused(["fit", "--data", f"{bad}:1", "--components", 2, "--out", self.path("o.h5")], "NaN or Inf")
        src = self.path("inf.csv")
        with open(src, "w") as handle:
            handle.write("x,y\n1,2\n3,inf\n")
        self.expect_refused(["import", "--csv", src, "--out", self.path("o.h5")], "NaN and Inf are not allowed")

    def test_missing_and_foreign_files(self):
        self.expect_refused(["inspect", self.path("nope.h5")], "no such file")
        self.expect_refused(["fit", "--data", self.path("nope.h5"), "--components", 2, "--out", self.path("o.h5")], "no such file")
        text = self.path("text.h5")
        with open(text, "w") as handle:
            handle.write("hello\n")
        self.expect_refused(["inspect", text], "not an HDF5 file")
        self.expect_refused(["fit", "--data", self.generate(), "--init", text, "--out", self.path("o.h5")], "not an HDF5 file")

    def test_dimension_mismatch_and_too_many_components(self):
        tasks = self.generate()
        model3 = self.path("model3.h5")
        other = self.generate("three.h5", "--dim", 3)
        run("fit", "--data", other, "--components", 2, "--out", model3)
        self.expect_refused(["fit", "--data", tasks, "--init", model3, "--out", self.path("o.h5")], "has dimension 3")
        self.expect_refused(["fit", "--data", f"{tasks}:0", "--components", 500, "--out", self.path("o.h5")], "larger than the")
        self.expect_refused(["fit", "--data", f"{tasks}:999", "--components", 2, "--out", self.path("o.h5")], "task 999 does not exist")

    def test_unwritable_output(self):
        tasks = self.generate()
        self.expect_refused(["fit", "--data", tasks, "--components", 2, "--out", self.path("missing_dir/o.h5")], "does not exist")
        self.expect_refused(["generate", "--out", os.path.join(tasks, "o.h5")], "does not exist")

    def test_bad_options(self):
        out = self.path("o.h5")
        self.expect_refused(["generate", "--out", out, "--bogus", 1], "unrecognised option '--bogus'")
        self.expect_refused(["generate", "--out", out, "--dim", 0], "--dim")
        self.expect_refused(["generate", "--out", out, "--dim", "two"], "dim")
        self.expect_refused(["generate", "--out", out, "--drop", 1.5], "--drop")
        self.expect_refused(["generate", "--out", out, "--points", "9:3"], "--points")
        self.expect_refused(["generate", "--out", out, "--family", "gaussian"], "--family")
        self.expect_refused(["generate", "--out", out, "--split", "0.5:0.6:0.1"], "--split")
        self.expect_refused(["generate"], "--out is required")
        tasks = self.generate()
        self.expect_refused(["fit", "--data", tasks, "--components", 2, "--covariance", "tied", "--out", out], "--covariance")
        self.expect_refused(["fit", "--data", tasks, "--components", 2, "--tol", -1, "--out", out], "--tol")
        self.expect_refused(["fit", "--data", tasks, "--components", 2, "--init", "kmeans", "--out", out], "--init")
        config = self.path("bad.ini")
        with open(config, "w") as handle:
            handle.write("colour = blue\n")
        self.expect_refused(["generate", "--config", config, "--out", out], "--config")


if __name__ == "__main__":
    unittest.main()
