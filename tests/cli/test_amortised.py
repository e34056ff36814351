#!/usr/bin/python3
"""Amortised adaptation end to end, on a small version of the Set Transformer's amortised-clustering
protocol (the `uniform` family: K = 4 means uniform in [-4, 4]^2, one isotropic scale 0.3,
Dirichlet(1) weights): `train --algo amortised` (a set encoder proposing each task's start, MAP-EM
steps from it) against the best single learned start on the same tasks (`maml --inner map`, the
learned prior and relevance factors with the same steps), both from the pooled model, scored by
`eval` on held-out tasks; `--support all` (fit a whole task, score its own points); collapse
reporting; `fit --init CHECKPOINT` and `inspect` on an encoder checkpoint; the refusals.

The engine's guarantees (rank-count invariance, exact resume) for this algorithm run here too, on
its own small run. Run by ctest with METAGMM set.
"""
import os
import shutil
import unittest

import h5py
import numpy as np

from support import RefusalChecks, SharedDirectory, checkpoint_content, metagmm as run, metagmm_ranks

Z95 = 1.959963984540054  # two-sided 95% normal quantile
STEPS = 400
COMMON = ["--tasks", None, "--components", 4, "--support", 20, "--query", 60, "--meta-batch", 16,
          "--inner-steps", 2, "--relevance", 4, "--validate-every", 100, "--validation-tasks", 40]


def train_args(tasks, pooled, *more):
    common = list(COMMON)
    common[1] = tasks
    return ["train", *common, "--init", pooled, "--steps", STEPS, *more]


class AmortisedAdaptation(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_amortised_")
        cls.tasks, cls.pooled = cls.path("tasks.h5"), cls.path("pooled.h5")
        run("generate", "--family", "uniform", "--dim", 2, "--components", 4, "--tasks", 900, "--points", "100:200",
            "--box", 4, "--scale", 0.3, "--concentration", 1, "--split", "0.6:0.05:0.35", "--seed", 3,
            "--out", cls.tasks)
        run("fit", "--data", cls.tasks + ":train", "--components", 4, "--covariance", "diag", "--out", cls.pooled)
        cls.map_train = run(*train_args(cls.tasks, cls.pooled, "--algo", "maml", "--inner", "map", "--outer", "adam",
                                        "--outer-lr", 0.01, "--run-dir", cls.path("map"))).stdout
        cls.amortised_train = run(*train_args(cls.tasks, cls.pooled, "--algo", "amortised", "--set-widths", "32,32",
                                              "--head-widths", "32", "--outer-lr", 0.003,
                                              "--run-dir", cls.path("amortised"))).stdout
        cls.map_checkpoint = cls.path("map", f"checkpoint-{STEPS:012d}.h5")
        cls.checkpoint = cls.path("amortised", f"checkpoint-{STEPS:012d}.h5")
        cls.report = run("eval", "--checkpoint", cls.map_checkpoint, cls.checkpoint, "--names", "map-maml",
                         "amortised", "--tasks", cls.tasks, "--pooled", cls.pooled, "--support", 20, "--query", 60,
                         "--steps", 2, "--relevance", 4, "--out", cls.path("eval")).stdout

    def final(self, name, method, what="query_log_likelihood"):
        with h5py.File(self.path(name, "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
            return f[what][methods.index(method)][..., -1] if what.endswith("likelihood") else \
                f[what][methods.index(method)]

    def test_encoder_beats_the_best_single_learned_start(self):
        difference = self.final("eval", "amortised") - self.final("eval", "map-maml")
        self.assertEqual(len(difference), 315)
        mean, half = difference.mean(), Z95 * difference.std(ddof=1) / np.sqrt(len(difference))
        print(f"[ amortised ] query log-likelihood, amortised - map-maml: {mean:+.4f} ± {half:.4f}")
        self.assertGreater(mean - half, 0.0, f"difference {mean:+.4f} ± {half:.4f}")
        with h5py.File(self.path("eval", "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
            ari = f["adjusted_rand_index"][()]
        gain = ari[methods.index("amortised")] - ari[methods.index("map-maml")]
        self.assertGreater(gain.mean() - Z95 * gain.std(ddof=1) / np.sqrt(len(gain)), 0.0)

    def test_columns_named_after_run_directories(self):
        out = self.path("run-dirs")
        run("eval", "--checkpoint", self.map_checkpoint, self.checkpoint, "--names", "run-dirs", "--tasks", self.tasks,
            "--pooled", self.pooled, "--support", 20, "--query", 60, "--steps", 2, "--relevance", 4, "--n-init", 1,
            "--max-tasks", 5, "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
        self.assertEqual(methods[:3], ["map", "map+em", "amortised"])  # the maml checkpoint lives in map/

    def test_bayes_steps_from_a_hierarchical_prior(self):
        """--amortised-inner bayes: the encoder proposes the prior's means and first E-step mixture,
        the rest of the prior starts at the fit --prior heb file and is learned with it."""
        prior = self.path("prior.h5")
        run("fit", "--data", self.tasks + ":train", "--prior", "heb", "--init", self.pooled, "--out", prior)
        run("train", "--algo", "amortised", "--amortised-inner", "bayes", "--prior", prior, "--tasks", self.tasks,
            "--components", 4, "--support", 20, "--query", 60, "--meta-batch", 8, "--inner-steps", 3,
            "--set-widths", "16", "--head-widths", "16", "--outer-lr", 0.001, "--steps", 30, "--validate-every", 0,
            "--run-dir", self.path("amortised-bayes"))
        checkpoint = self.path("amortised-bayes", "checkpoint-000000000030.h5")
        with h5py.File(checkpoint) as f:
            names = sorted(f["extra"].keys())
            learned = f["extra/log_strength"][()]
        self.assertEqual(names, sorted(["log_concentration", "log_between_variance", "log_within_variance",
                                        "log_strength", "set_point_mlp", "set_seeds", "set_head", "set_gate"]))
        self.assertEqual(learned.shape, (8,))
        shown = run("inspect", checkpoint).stdout
        self.assertIn("amortised-inner = bayes", shown)
        report = run("fit", "--data", self.tasks + ":870", "--init", checkpoint, "--out", self.path("ab.h5")).stdout
        self.assertIn("3 inner steps of amortised", report)
        self.refused("train", "--algo", "amortised", "--amortised-inner", "bayes", "--tasks", self.tasks,
                     "--components", 4, "--run-dir", self.path("no-prior"), expect="--prior FILE")

    def test_encoder_blocks_are_stored_and_shown(self):
        with h5py.File(self.checkpoint) as f:
            self.assertEqual(f.attrs["algorithm"], "amortised")
            names = list(f["extra"].keys())
            seeds = f["extra/set_seeds"][()]
            gate = f["extra/set_gate"][()]
        self.assertEqual(sorted(names), sorted(["log_relevance", "set_point_mlp", "set_seeds", "set_head", "set_gate"]))
        self.assertEqual(seeds.shape, (4 * 32,))
        self.assertNotEqual(gate[0], 0.0)  # training moved the gate from its start
        shown = run("inspect", self.checkpoint).stdout
        for name in names:
            self.assertIn(name, shown)
        self.assertIn("set-widths = 32,32", shown)

    def test_fit_adapts_a_new_task_by_the_encoder_and_its_steps(self):
        data = self.tasks + ":850"
        start = run("fit", "--data", data, "--init", self.checkpoint, "--steps", 0, "--out", self.path("s0.h5")).stdout
        adapted = run("fit", "--data", data, "--init", self.checkpoint, "--out", self.path("s2.h5")).stdout
        with h5py.File(self.path("s0.h5")) as s0, h5py.File(self.path("s2.h5")) as s2:
            self.assertFalse(np.array_equal(s0["means"][()], s2["means"][()]))
        self.assertIn("0 inner steps of amortised (the meta-learned start itself)", start)
        self.assertIn("2 inner steps of amortised", adapted)
        loglik = lambda report: float(report.split("loglik")[1].split()[0])
        self.assertGreater(loglik(adapted), loglik(start))  # the steps improve on the encoder's start

    def test_fit_restarts_include_the_encoder_start(self):
        """--adapt em starts EM at the encoder's proposal for the data (not at the base mixture);
        --n-init 5 keeps the best of that fit and four from k-means++, so it is never worse."""
        loglik = lambda report: float(report.split("loglik")[1].split()[0])
        data = self.tasks + ":860"
        from_encoder = run("fit", "--data", data, "--init", self.checkpoint, "--adapt", "em", "--out",
                           self.path("em.h5")).stdout
        from_base = run("fit", "--data", data, "--init", self.pooled, "--adapt", "em", "--out",
                        self.path("base.h5")).stdout
        restarts = run("fit", "--data", data, "--init", self.checkpoint, "--n-init", 5, "--out",
                       self.path("n5.h5")).stdout
        self.assertNotEqual(loglik(from_encoder), loglik(from_base))  # another start
        self.assertGreaterEqual(loglik(restarts), loglik(from_encoder))
        with h5py.File(self.path("n5.h5")) as f:
            self.assertIn("n-init = 5", f.attrs["settings"])
            self.assertIn("adapt = em", f.attrs["settings"])
        self.refused("fit", "--data", data, "--init", self.checkpoint, "--n-init", 3, "--adapt", "inner",
                     "--out", self.path("bad.h5"), expect="--n-init 3 with a checkpoint")

    def test_whole_task_evaluation_scores_every_point(self):
        out = self.path("whole")
        run("eval", "--checkpoint", self.checkpoint, "--tasks", self.tasks, "--pooled", self.pooled,
            "--support", "all", "--steps", 2, "--relevance", 4, "--max-tasks", 30, "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f, h5py.File(self.tasks) as tasks:
            test_tasks = np.flatnonzero(tasks["task_split"][()] == 2)[:30]
            sizes = np.diff(tasks["task_offsets"][()])[test_tasks]
            self.assertEqual(list(f["query_points"][()]), list(sizes))  # every point of each task
            # The support is the query: both curves are the same numbers.
            np.testing.assert_array_equal(f["query_log_likelihood"][()], f["support_log_likelihood"][()])
            self.assertIn("support = all", f.attrs["settings"])
            self.assertEqual(f["collapsed"].shape, f["diverged"].shape)

    def test_collapse_is_reported(self):
        """A learner whose components all coincide stays collapsed (EM and Reptile keep them equal):
        train's validation warns and eval counts it per method."""
        start = self.path("collapsed.h5")
        shutil.copy(self.pooled, start)
        with h5py.File(start, "r+") as f:
            group = f["model"] if "model" in f else f
            flat = group["parameters"][()]
            K, d = 4, 2
            flat[:K] = 0.0
            flat[K:K + K * d] = np.tile(flat[K:K + d], K)
            flat[K + K * d:] = np.tile(flat[K + K * d:K + K * d + d], K)
            group["parameters"][...] = flat
            for view in ("weights", "means", "covariances", "precisions_cholesky"):
                del group[view]  # views that no longer describe the parameters would be refused
        report = run("train", "--algo", "reptile", "--inner", "em", "--inner-steps", 1, "--tasks", self.tasks,
                     "--components", 4, "--support", 20, "--query", 60, "--steps", 20, "--meta-batch", 4,
                     "--validate-every", 10, "--validation-tasks", 20, "--init", self.path("collapsed.h5"),
                     "--run-dir", self.path("reptile")).stderr
        self.assertIn("the adaptation collapses 20 of 20 validation tasks", report)
        out = self.path("collapse-eval")
        run("eval", "--checkpoint", self.path("reptile", "checkpoint-000000000020.h5"), "--tasks", self.tasks,
            "--pooled", self.pooled, "--steps", 1, "--max-tasks", 20, "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
            collapsed = f["collapsed"][()]
        self.assertEqual(collapsed[methods.index("reptile")].sum(), 20)
        # Dirichlet(1) weights: now and then all 20 support points of a task come from one true
        # component, and then even the true mixture counts as collapsed; rarely, not everywhere.
        self.assertLessEqual(collapsed[methods.index("oracle")].sum(), 3)
        with open(os.path.join(out, "summary.csv")) as f:
            header = f.readline().strip().split(",")
            rows = {line.split(",")[0]: line.strip().split(",") for line in f}
        self.assertEqual(rows["reptile"][header.index("collapsed")], "20")

    def test_rank_count_and_resume_give_the_same_bits(self):
        args = ["train", "--algo", "amortised", "--tasks", self.tasks, "--components", 4, "--support", 20,
                "--query", 30, "--meta-batch", 6, "--inner-steps", 2, "--set-widths", "8", "--head-widths", "8",
                "--set-attention", 1, "--set-heads", 2, "--set-inducing", 3, "--outer-lr-decay-steps", 10,
                "--init", self.pooled, "--validate-every", 5, "--validation-tasks", 10, "--keep", 10]
        metagmm_ranks(1, *args, "--steps", 10, "--run-dir", self.path("one"))
        metagmm_ranks(3, *args, "--steps", 10, "--run-dir", self.path("three"))
        # The learning rate's schedule is a function of the step: a run stopped half way and resumed
        # takes the same steps.
        metagmm_ranks(2, *args, "--steps", 5, "--run-dir", self.path("resumed"))
        metagmm_ranks(2, *args, "--steps", 10, "--resume", "auto", "--run-dir", self.path("resumed"))
        final = "checkpoint-000000000010.h5"
        one = checkpoint_content(self.path("one", final))
        self.assertEqual(one, checkpoint_content(self.path("three", final)))
        resumed = checkpoint_content(self.path("resumed", final), skip=("metrics/elapsed", "config"))
        one.pop("config", None)
        self.assertEqual(set(one), set(resumed))
        for key in one:
            self.assertEqual(one[key], resumed[key], key)

    def test_refusals(self):
        other = self.path("three-d.csv")
        with open(other, "w") as f:
            for i in range(12):
                f.write(f"{i * 0.1},{i * 0.2},{i * 0.3}\n")
        self.refused("fit", "--data", other, "--init", self.checkpoint, "--out", self.path("bad.h5"),
                     expect="dimension 2")
        tiny = self.path("tiny.h5")  # tasks of 3 points: too few for K = 4 components
        run("generate", "--family", "uniform", "--dim", 2, "--components", 4, "--tasks", 20, "--points", "3:3",
            "--out", tiny)
        self.refused("eval", "--checkpoint", self.checkpoint, "--tasks", tiny, "--support", "all",
                     "--out", self.path("bad"), expect="--support all: k-means++ and random starts need at least 4")
        self.refused("train", "--algo", "amortised", "--tasks", self.tasks, "--components", 4, "--covariance",
                     "full", "--run-dir", self.path("bad-run"), expect="covariance")
        self.refused("train", "--algo", "amortised", "--tasks", self.tasks, "--components", 4, "--set-widths",
                     "8,x", "--run-dir", self.path("bad-run"), expect="set-widths")
        self.refused("train", "--algo", "amortised", "--tasks", self.tasks, "--components", 4, "--set-widths",
                     "8", "--set-attention", 1, "--set-heads", 3, "--run-dir", self.path("bad-run"),
                     expect="set-heads")
        self.refused("train", "--algo", "amortised", "--tasks", self.tasks, "--components", 4,
                     "--outer-lr-decay-steps", -5, "--run-dir", self.path("bad-run"), expect="outer-lr-decay-steps")
        self.refused("eval", "--checkpoint", self.checkpoint, "--tasks", self.tasks, "--support", "some",
                     "--out", self.path("bad"), expect="--support")


if __name__ == "__main__":
    unittest.main()
