#!/usr/bin/python3
"""Meta-learned MAP adaptation end to end, on one small cell of tools/experiments/benchmark_map.py's grid: a
jittered anchored family, the pooled model fitted by `metagmm fit`, `train --algo maml --inner
map --init POOLED`, and `metagmm eval` against pooled+MAP, once with Reynolds' fixed r = 16 and
once with r tuned on the validation tasks. Also: what inspect shows, the refusals.

The engine's guarantees for this algorithm (rank-count invariance, exact resume, signals, damaged
checkpoints) run in test_train.py (the MapMaml classes). Run by ctest with METAGMM set.
"""
import os
import shutil
import unittest

import h5py
import numpy as np

from support import RefusalChecks, SharedDirectory, metagmm as run

Z95 = 1.959963984540054  # two-sided 95% normal quantile; 300 paired tasks


class MetaLearnedMap(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_map_")
        cls.tasks, cls.pooled = cls.path("tasks.h5"), cls.path("pooled.h5")
        # d = 4, K = 3 anchors, jitter 1: the pooled model's variances carry the jitter, and a
        # task's 10 support points say little about its own means.
        run("generate", "--family", "anchored", "--dim", 4, "--components", 3, "--tasks", 700, "--points", "220:220",
            "--box", 5, "--scale", 1, "--jitter", 1, "--drop", 0, "--concentration", 2, "--split", "0.5:0.0715:0.4285",
            "--seed", 4, "--out", cls.tasks)
        run("fit", "--data", cls.tasks + ":train", "--components", 3, "--covariance", "diag", "--out", cls.pooled)
        run("train", "--algo", "maml", "--inner", "map", "--inner-steps", 3, "--relevance", 4, "--init", cls.pooled,
            "--tasks", cls.tasks, "--components", 3, "--support", 10, "--query", 100, "--meta-batch", 10,
            "--steps", 600, "--outer", "adam", "--outer-lr", 0.01, "--validate-every", 0,
            "--run-dir", cls.path("run"))
        cls.checkpoint = cls.path("run", "checkpoint-000000000600.h5")
        common = ["eval", "--checkpoint", cls.checkpoint, "--tasks", cls.tasks, "--pooled", cls.pooled,
                  "--support", 10, "--query", 200, "--steps", 3]
        cls.fixed_report = run(*common, "--relevance", 16, "--out", cls.path("fixed")).stdout
        cls.tuned_report = run(*common, "--out", cls.path("tuned")).stdout

    def difference(self, name):
        """Per-task query log-likelihood after 3 steps: meta-learned MAP minus pooled+MAP."""
        with h5py.File(self.path(name, "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
            final = f["query_log_likelihood"][:, :, -1]
            return final[methods.index("maml")] - final[methods.index("pooled+map")]

    def test_beats_pooled_map_with_fixed_relevance(self):
        difference = self.difference("fixed")
        self.assertEqual(len(difference), 300)
        mean, half = difference.mean(), Z95 * difference.std(ddof=1) / np.sqrt(len(difference))
        # Significantly above: the paired 95% interval lies above zero.
        self.assertGreater(mean - half, 0.0, f"difference {mean:+.4f} ± {half:.4f}")

    def test_tuned_relevance_is_reported_and_never_worse_on_validation(self):
        self.assertIn("relevance = 16:16:16\n", self.fixed_report)
        self.assertIn("(tuned: 57 settings from the grid 0.5,1,2,4,8,16,32,64,128", self.tuned_report)
        # The tuned baseline is at least as good as r = 16 on the test tasks too (up to noise):
        # the grid holds 16, and validation and test tasks come from one family.
        with h5py.File(self.path("fixed", "eval.h5")) as fixed, h5py.File(self.path("tuned", "eval.h5")) as tuned:
            m = fixed.attrs["methods"].split("\n").index("pooled+map")
            gain = tuned["query_log_likelihood"][m, :, -1] - fixed["query_log_likelihood"][m, :, -1]
        self.assertGreater(gain.mean() + Z95 * gain.std(ddof=1) / np.sqrt(len(gain)), 0.0)

    def test_relevance_factors_are_learned_and_shown(self):
        with h5py.File(self.checkpoint) as f:
            log_r = f["extra/log_relevance"][()]
        self.assertEqual(log_r.shape, (3,))
        self.assertFalse(np.allclose(log_r, np.log(4.0)), log_r)  # moved from their start
        shown = run("inspect", self.checkpoint).stdout
        self.assertIn("extra       log_relevance [3]: relevance " + " ".join(f"{r:.4g}" for r in np.exp(log_r)),
                      shown)

    def test_fit_adapts_by_the_learned_map_steps(self):
        """fit --init CHECKPOINT adapts by the checkpoint's 3 MAP steps with its learned relevance:
        the same as --adapt map with those factors for exactly 3 steps."""
        data = self.tasks + ":1"
        report = run("fit", "--data", data, "--init", self.checkpoint, "--out", self.path("inner.h5")).stdout
        self.assertIn("3 inner steps of maml, as in training", report)
        with h5py.File(self.checkpoint) as f:
            relevance = ":".join(repr(float(r)) for r in np.exp(f["extra/log_relevance"][()]))
        run("fit", "--data", data, "--init", self.checkpoint, "--adapt", "map", "--relevance", relevance,
            "--max-iter", 3, "--tol", "1e-300", "--out", self.path("map.h5"))
        with h5py.File(self.path("inner.h5")) as inner, h5py.File(self.path("map.h5")) as fixed:
            self.assertEqual(fixed.attrs["iterations"], 3)
            # The factors went through text (17 digits) and exp in two libraries: equal to rounding.
            for key in ("weights", "means", "covariances"):
                np.testing.assert_allclose(inner[key][()], fixed[key][()], rtol=1e-10)

    def test_a_resumed_run_does_not_read_its_start_again(self):
        start = self.path("start.h5")
        shutil.copy(self.pooled, start)
        run_dir = self.path("resumed")
        common = ["--tasks", self.tasks, "--run-dir", run_dir]
        run("train", "--algo", "maml", "--inner", "map", "--components", 3, "--support", 10, "--init", start,
            "--steps", 4, *common)
        os.remove(start)
        run("train", "--resume", "auto", "--steps", 6, *common)
        self.assertTrue(os.path.exists(os.path.join(run_dir, "checkpoint-000000000006.h5")))

    def test_refusals(self):
        base = ["train", "--algo", "maml", "--inner", "map", "--tasks", self.tasks, "--steps", 2,
                "--run-dir", self.path("refused")]
        self.refused(*base, "--covariance", "full", expect="--covariance full")
        self.refused(*base, "--meta-sgd", "block", expect="--meta-sgd block")
        self.refused(*base, "--relevance", "0:4:4", expect="--relevance")
        self.refused(*base, "--components", 2, "--init", self.pooled, expect="--init " + self.pooled)
        self.refused(*base, "--components", 3, "--init", self.path("missing.h5"), expect="missing.h5")
        self.assertFalse(os.path.exists(self.path("refused", "checkpoint-000000000002.h5")))
        evaluate = ["eval", "--checkpoint", self.checkpoint, "--tasks", self.tasks, "--out", self.path("refused-eval")]
        self.refused(*evaluate, "--relevance-grid", "1,x", expect="--relevance-grid")
        self.refused(*evaluate, "--tune-tasks", -1, expect="--tune-tasks")
        no_validation = self.path("no_validation.h5")
        run("generate", "--dim", 4, "--components", 3, "--tasks", 20, "--points", "60:60", "--split", "0.5:0:0.5",
            "--out", no_validation)
        self.refused("eval", "--checkpoint", self.checkpoint, "--tasks", no_validation, "--out",
                     self.path("refused-eval"), expect="has no validation tasks; give --relevance R")
        self.assertFalse(os.path.exists(self.path("refused-eval")))


if __name__ == "__main__":
    unittest.main()
