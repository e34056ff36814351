#!/usr/bin/python3
"""metagmm eval of mixture checkpoints end to end on a tiny configuration: a task set generated,
Reptile and MAML trained, both evaluated against the baselines under mpirun with 2 ranks and
with 1, and the output files read back with h5py and the csv module. The summary is recomputed
from the per-task numbers; the pooled model fitted by eval is checked against `metagmm fit`'s.

Run by ctest with METAGMM pointing at the binary and MPIRUN at mpirun.
"""
import csv
import math
import os
import shutil
import unittest

import h5py
import numpy as np

from support import RefusalChecks, SharedDirectory, metagmm as run, metagmm_ranks as run_ranks, read_bytes

STEPS = 5
METHODS = ["reptile", "reptile+em", "reptile+x10", "maml", "maml+em", "maml+x10", "em-kmeans++", "em-kmeans++x10", "em-random", "pooled+em",
           "heb", "pooled+map",
           "oracle"]
# Every per-task number except the wall times is a pure function of (seed, task, method).
DETERMINISTIC = ["task", "query_points", "query_log_likelihood", "support_log_likelihood", "adjusted_rand_index",
                 "steps_to_tolerance", "diverged"]
Z95 = 1.959963984540054


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class MixtureEval(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_eval_")
        cls.tasks = cls.path("tasks.h5")
        run("generate", "--family", "anchored", "--dim", 2, "--components", 3, "--tasks", 400, "--points", "40:80",
            "--split", "0.5:0.1:0.4", "--seed", 3, "--out", cls.tasks)
        common = ["--tasks", cls.tasks, "--components", 3, "--covariance", "diag", "--support", 10, "--steps", 300,
                  "--meta-batch", 5, "--inner-steps", 5, "--inner-lr", 0.3, "--checkpoint-every", 300]
        run_ranks(2, "train", *common, "--run-dir", cls.path("reptile"), "--algo", "reptile")
        run_ranks(2, "train", *common, "--run-dir", cls.path("maml"), "--algo", "maml", "--meta-sgd", "block",
                  "--outer", "adam", "--outer-lr", 0.02)
        cls.checkpoints = [cls.path("reptile/checkpoint-000000000300.h5"), cls.path("maml/checkpoint-000000000300.h5")]
        cls.eval_args = ["eval", "--checkpoint", *cls.checkpoints, "--steps", STEPS, "--converge-steps", 30]
        cls.report = run_ranks(2, *cls.eval_args, "--out", cls.path("two"), "--plot").stdout
        run(*cls.eval_args, "--out", cls.path("one"))

    def summary(self, name="two"):
        return {row["method"]: row for row in read_csv(self.path(name, "summary.csv"))}

    def curves(self, name="two"):
        curves = {}
        for row in read_csv(self.path(name, "curves.csv")):
            curves.setdefault(row["method"], []).append((float(row["loglik"]), float(row["ci95"])))
        return curves

    def test_every_method_is_reported(self):
        self.assertEqual(list(self.summary()), METHODS)
        self.assertEqual(list(self.curves()), METHODS)
        with h5py.File(self.path("two", "eval.h5")) as f:
            self.assertEqual(f.attrs["format"], "metagmm.eval")
            self.assertEqual(f.attrs["methods"].split("\n"), METHODS)
            self.assertEqual(f.attrs["checkpoints"].split("\n"), self.checkpoints)
            self.assertEqual(f.attrs["split"], "test")
        with open(self.path("two", "table.md")) as f:
            table = f.read()
        for method in METHODS:
            self.assertIn(f"| {method} |", table)
            self.assertIn(f"| {method} |", self.report)

    def test_file_layout_and_ranges(self):
        with h5py.File(self.path("two", "eval.h5")) as f, h5py.File(self.tasks) as tasks:
            test_tasks = np.flatnonzero(tasks["task_split"][()] == 2)
            self.assertEqual(list(f["task"][()]), list(test_tasks))  # every test task, in order
            sizes = np.diff(tasks["task_offsets"][()])[test_tasks]
            self.assertEqual(list(f["query_points"][()]), list(sizes - 10))  # the rest of each task
            shape = (len(METHODS), len(test_tasks))
            self.assertEqual(f["query_log_likelihood"].shape, shape + (STEPS + 1,))
            self.assertEqual(f["support_log_likelihood"].shape, shape + (STEPS + 1,))
            for name in ("adjusted_rand_index", "steps_to_tolerance", "diverged", "seconds"):
                self.assertEqual(f[name].shape, shape, name)
            self.assertTrue(np.all(np.isfinite(f["query_log_likelihood"][()])))
            ari = f["adjusted_rand_index"][()]
            self.assertTrue(np.all((ari >= -1) & (ari <= 1)))
            steps = f["steps_to_tolerance"][()]
            self.assertTrue(np.all((steps >= 0) & (steps <= 30)))
            self.assertTrue(np.all(f["seconds"][()] >= 0))
            oracle = METHODS.index("oracle")
            # The oracle takes no steps: the same numbers at every step, converged at once.
            q = f["query_log_likelihood"][oracle]
            self.assertTrue(np.all(q == q[:, :1]))
            self.assertTrue(np.all(steps[oracle] == 0))
            # Every method starting from one fixed model starts from the same numbers on a task.
            for a, b in (("reptile", "reptile+em"), ("maml", "maml+em"), ("pooled+em", "pooled+map")):
                np.testing.assert_array_equal(f["query_log_likelihood"][METHODS.index(a), :, 0],
                                              f["query_log_likelihood"][METHODS.index(b), :, 0])

    def test_learned_start_among_restarts_is_the_best_support_fit(self):
        """NAME+x10: the learner's own run is one of the 10, so its support log-likelihood after the
        steps is never below the learner's own; and where it picked another run, that run is one of
        em-kmeans++x10's first nine, never above em-kmeans++x10. Runs are ranked after the last step
        they are followed to (max(--steps, --converge-steps)): here both are the STEPS recorded."""
        out = self.path("restarts")
        run("eval", "--checkpoint", *self.checkpoints, "--steps", STEPS, "--converge-steps", STEPS, "--max-tasks", 40,
            "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f:
            support = f["support_log_likelihood"][:, :, -1]
            diverged = f["diverged"][()]
        for name in ("reptile", "maml"):
            own, best = support[METHODS.index(name)], support[METHODS.index(name + "+x10")]
            complete = diverged[METHODS.index(name)] == 0
            self.assertTrue(np.all(best[complete] >= own[complete]))
            chose_em = best != own
            self.assertTrue(np.all(best[chose_em] <= support[METHODS.index("em-kmeans++x10")][chose_em]))

    def test_adjusted_rand_index_at_every_step(self):
        with h5py.File(self.path("two", "eval.h5")) as f:
            by_step, final = f["adjusted_rand_index_by_step"][()], f["adjusted_rand_index"][()]
            methods = f.attrs["methods"].split("\n")
        self.assertEqual(by_step.shape, (len(methods), final.shape[1], STEPS + 1))
        np.testing.assert_array_equal(by_step[:, :, -1], final)  # the last step is the reported one
        self.assertTrue(np.all((by_step >= -1) & (by_step <= 1)))
        oracle = by_step[methods.index("oracle")]
        np.testing.assert_array_equal(oracle, oracle[:, :1].repeat(STEPS + 1, axis=1))  # the oracle does not move
        # EM from k-means++ is not its start: some task's assignments change along the steps.
        self.assertTrue(np.any(by_step[methods.index("em-kmeans++"), :, 0] != by_step[methods.index("em-kmeans++"), :, -1]))
        rows = [row for row in read_csv(self.path("two", "curves.csv")) if row["method"] == "reptile"]
        self.assertEqual([int(row["step"]) for row in rows], list(range(STEPS + 1)))
        for j, row in enumerate(rows):
            self.assertAlmostEqual(float(row["ari"]), by_step[methods.index("reptile"), :, j].mean(), delta=1e-9)
        summary = self.summary()["reptile"]
        self.assertAlmostEqual(float(rows[-1]["ari"]), float(summary["ari"]), delta=1e-12)

    def test_summary_recomputed_from_the_per_task_numbers(self):
        summary, curves = self.summary(), self.curves()
        with h5py.File(self.path("two", "eval.h5")) as f:
            query = f["query_log_likelihood"][()]
            ari = f["adjusted_rand_index"][()]
            n = query.shape[1]
            for m, method in enumerate(METHODS):
                for step in range(STEPS + 1):
                    values = query[m, :, step]
                    mean, half = values.mean(), Z95 * values.std(ddof=1) / math.sqrt(n)
                    # Relative 1e-8: the files print 10 significant digits.
                    self.assertAlmostEqual(curves[method][step][0], mean, delta=1e-8 * abs(mean))
                    self.assertAlmostEqual(curves[method][step][1], half, delta=1e-8 * half + 1e-12)
                row = summary[method]
                self.assertEqual(int(row["tasks"]), n)
                self.assertAlmostEqual(float(row["ari"]), ari[m].mean(), delta=1e-8)
                for key in ("ci95_step0", "ci95_step1", f"ci95_step{STEPS}", "ari_ci95", "steps_ci95"):
                    self.assertTrue(math.isfinite(float(row[key])) and float(row[key]) > 0 or method == "oracle", key)

    def test_oracle_on_top_and_meta_learned_ahead_of_random_starts(self):
        curves = self.curves()
        for step in range(STEPS + 1):
            best_other = max(curves[m][step][0] for m in METHODS if m != "oracle")
            self.assertGreater(curves["oracle"][step][0], best_other, f"step {step}")
        for meta in ("reptile", "maml"):
            for start in ("em-random", "em-kmeans++"):
                # Ahead by more than both intervals: not a draw.
                gap = curves[meta][1][0] - curves[start][1][0]
                self.assertGreater(gap, curves[meta][1][1] + curves[start][1][1], f"{meta} vs {start} at 1 step")

    def test_same_numbers_for_any_number_of_ranks(self):
        with h5py.File(self.path("one", "eval.h5")) as one, h5py.File(self.path("two", "eval.h5")) as two:
            for name in DETERMINISTIC:
                self.assertEqual(one[name][()].tobytes(), two[name][()].tobytes(), name)
        self.assertEqual(read_bytes(self.path("one", "curves.csv")), read_bytes(self.path("two", "curves.csv")))

    def test_plot(self):
        png = read_bytes(self.path("two", "loglik.png"))
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertIn("plot: ", self.report)

    def test_pooled_model_from_fit_gives_the_same_numbers(self):
        pooled = self.path("pooled.h5")
        run("fit", "--data", self.tasks + ":train", "--components", 3, "--covariance", "diag", "--out", pooled)
        run(*self.eval_args, "--out", self.path("given"), "--pooled", pooled)
        with h5py.File(self.path("given", "eval.h5")) as given, h5py.File(self.path("one", "eval.h5")) as fitted:
            for method in ("pooled+em", "pooled+map"):
                m = METHODS.index(method)
                np.testing.assert_array_equal(given["query_log_likelihood"][m], fitted["query_log_likelihood"][m])

    def test_fewer_tasks_and_other_options(self):
        out = self.path("small")
        report = run("eval", "--checkpoint", self.checkpoints[0], "--max-tasks", 7, "--steps", 2, "--support", 20,
                     "--query", 15, "--relevance", "4:8:16", "--split", "validation", "--out", out).stdout
        self.assertIn("relevance = 4:8:16", report)
        with h5py.File(os.path.join(out, "eval.h5")) as f:
            self.assertEqual(f["query_log_likelihood"].shape, (10, 7, 3))  # reptile, +em, +x10 and 7 baselines
            self.assertEqual(list(f["query_points"][()]), [15] * 7)
            self.assertEqual(f.attrs["split"], "validation")

    def test_names_rename_the_checkpoints_columns_only(self):
        out = self.path("named")
        run(*self.eval_args, "--names", "run-a", "run_b.2", "--max-tasks", 7, "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f, h5py.File(self.path("one", "eval.h5")) as default:
            named, methods = f.attrs["methods"].split("\n"), default.attrs["methods"].split("\n")
            renamed = {"reptile": "run-a", "reptile+em": "run-a+em", "reptile+x10": "run-a+x10", "maml": "run_b.2",
                       "maml+em": "run_b.2+em", "maml+x10": "run_b.2+x10"}
            self.assertEqual(named, [renamed.get(m, m) for m in methods])
            # The same numbers under the new names (the first 7 tasks of the default run).
            np.testing.assert_array_equal(f["query_log_likelihood"][()], default["query_log_likelihood"][:, :7, :])
        with open(os.path.join(out, "table.md")) as f:
            self.assertIn("| run-a |", f.read())

    def test_bad_options(self):
        base = ["eval", "--checkpoint", self.checkpoints[0]]
        kept = self.path("kept")
        shutil.copytree(self.path("one"), kept)
        before = {name: read_bytes(os.path.join(kept, name)) for name in os.listdir(kept)}
        self.refused(*base, "--out", kept, "--support", 2, expect="--support 2")
        self.refused(*base, "--out", kept, "--steps", -1, expect="--steps")
        self.refused(*base, "--out", kept, "--tol", 0, expect="--tol")
        self.refused(*base, "--out", kept, "--relevance", "1:2", expect="--relevance")
        self.refused(*base, "--out", kept, "--support", 75, expect="need at least 76")
        other = self.path("other.h5")
        run("generate", "--dim", 3, "--tasks", 10, "--out", other)
        self.refused(*base, "--out", kept, "--tasks", other, expect="d = 3")
        wrong = self.path("wrong_pooled.h5")
        run("fit", "--data", self.tasks + ":5", "--components", 2, "--covariance", "diag", "--out", wrong)
        self.refused(*base, "--out", kept, "--pooled", wrong, expect="--pooled")
        run_ranks(2, "train", "--tasks", self.tasks, "--components", 2, "--steps", 2, "--run-dir", self.path("k2"))
        self.refused(*base, self.path("k2/checkpoint-000000000002.h5"), "--out", kept, expect="the baselines need one shape")
        self.refused(*base, "--names", "a", "b", "--out", kept, expect="--names: 2 names for 1 checkpoints")
        self.refused(*base, self.checkpoints[1], "--names", "a", "a", "--out", kept, expect="'a' is given twice")
        self.refused(*base, "--names", "a|b", "--out", kept, expect="expected letters, digits")
        self.refused(*base, "--names", "oracle", "--out", kept, expect="'oracle' is also the name of another method")
        # Nothing half-written, the earlier results untouched.
        self.assertEqual({name: read_bytes(os.path.join(kept, name)) for name in os.listdir(kept)}, before)


if __name__ == "__main__":
    unittest.main()
