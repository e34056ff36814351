#!/usr/bin/python3
"""Hierarchical empirical Bayes and the meta-learned Bayesian adaptation end to end: `fit --prior
heb` writes the prior (read with h5py), `eval`'s heb method agrees with an independent numpy
implementation on the same episodes (DIR/episodes.h5), `fit --adapt heb` adapts one task, `train
--algo bayes --prior` starts at the prior and is bit-identical on 1 and 2 ranks, and the refusals.

Run by ctest with METAGMM set; needs Debian's python3-h5py and python3-scipy (digamma).
"""
import os
import unittest

import h5py
import numpy as np
from scipy.special import digamma, logsumexp

from support import RefusalChecks, SharedDirectory, checkpoint_content, metagmm as run, metagmm_ranks

# Per-task query log-likelihood: the two implementations sum in different orders, and the
# per-task EM fits stop at a tolerance of 1e-12 per point (parameters within ~1e-6 of the fixed
# point, the same in both but for an iteration more or less at the boundary).
HEB_TOLERANCE = 1e-6
STEPS = 3
ADAM_RATE = 1e-3  # bayes' default --outer-lr: Adam's first step moves each coordinate by at most it
FIT_TOLERANCE, FIT_ITERATIONS = 1e-12, 1000  # as task/hierarchical_prior.cpp
REG_COVAR = 1e-6
EPS10 = 10 * np.finfo(float).eps


def diag_log_density(x, weights, means, variances):
    """log w_k + log N(x_i; mu_k, diag v_k): [N, K]."""
    return (np.log(weights)[None, :] - 0.5 * np.sum(np.log(2 * np.pi * variances), axis=1)[None, :]
            - 0.5 * np.sum((x[:, None, :] - means[None, :, :]) ** 2 / variances[None, :, :], axis=2))


def em_from(x, weights, means, variances):
    """scikit-learn's EM for diagonal covariances and its stopping rule, from a given start."""
    previous = -np.inf
    for _ in range(FIT_ITERATIONS):
        log_density = diag_log_density(x, weights, means, variances)
        ll = logsumexp(log_density, axis=1)
        gamma = np.exp(log_density - ll[:, None])
        if abs(ll.mean() - previous) < FIT_TOLERANCE:
            break
        previous = ll.mean()
        n = gamma.sum(axis=0) + EPS10
        weights = n / len(x)
        means = gamma.T @ x / n[:, None]
        variances = (gamma.T @ x ** 2 - 2 * means * (gamma.T @ x) + n[:, None] * means ** 2) / n[:, None] + REG_COVAR
    return weights, means, variances


def estimate_prior(task_points, pooled, coupled=False):
    """The method of moments of task/hierarchical_prior.hpp, written from its formulas; coupled:
    the stacked means' full covariance less the mean sampling noise, eigenvalues floored."""
    fits = [em_from(x, *pooled) for x in task_points]
    sizes = np.array([len(x) for x in task_points], float)
    w = np.array([f[0] for f in fits])
    mu = np.array([f[1] for f in fits])
    v = np.array([f[2] for f in fits])
    n = np.maximum(sizes[:, None, None] * w[:, :, None], 2.0)
    m = mu.mean(axis=0)
    s2 = (v * n / (n - 1)).mean(axis=0)
    tau2 = np.maximum(mu.var(axis=0, ddof=1) - (v / n).mean(axis=0), 1e-4 * s2)
    spread = np.log(v).var(axis=0, ddof=1) - (2 / (n - 1)).mean(axis=0)
    kappa = np.clip(np.where(spread > 0, 2 / np.where(spread > 0, spread, 1), 1e4), 1, 1e4)
    wbar = w.mean(axis=0)
    excess = np.maximum(w.var(axis=0, ddof=1) - (w * (1 - w) / sizes[:, None]).mean(axis=0), 0).sum()
    A = (wbar * (1 - wbar)).sum() / excess - 1 if excess > 0 else 1e4
    alpha = np.clip(A, 1, 1e4) * wbar / wbar.sum()
    prior = dict(alpha=alpha, m=m, tau2=tau2, s2=s2, kappa=kappa, e=s2 + tau2)
    if coupled:
        cov = np.cov(mu.reshape(len(fits), -1), rowvar=False) - np.diag((v / n).mean(axis=0).ravel())
        values, vectors = np.linalg.eigh(cov)
        floor = max(1e-4 * s2.min(), values.max() / 1e6)
        prior["cov"] = vectors @ np.diag(np.maximum(values, floor)) @ vectors.T
        prior["e"] = s2 + np.diag(prior["cov"]).reshape(s2.shape)
    return prior


def heb_query_log_likelihood(prior, support, query, steps):
    """Variational EM under the prior, scored as the posterior predictive (gmm/bayes.hpp)."""
    alpha, m, tau2, s2, kappa = prior["alpha"], prior["m"], prior["tau2"], prior["s2"], prior["kappa"]
    log_density = diag_log_density(support, alpha / alpha.sum(), m, prior["e"])
    v_prev = s2
    for _ in range(steps):
        gamma = np.exp(log_density - logsumexp(log_density, axis=1)[:, None])
        n = gamma.sum(axis=0)[:, None]
        F, Q = gamma.T @ support, gamma.T @ support ** 2
        if "cov" in prior:  # one Gaussian over the stacked means
            precision = np.linalg.inv(prior["cov"])
            covariance = np.linalg.inv(precision + np.diag((n / v_prev).ravel()))
            mu = (covariance @ (precision @ m.ravel() + (F / v_prev).ravel())).reshape(m.shape)
            P = np.diag(covariance).reshape(m.shape)
        else:
            P = 1 / (1 / tau2 + n / v_prev)
            mu = P * (m / tau2 + F / v_prev)
        v = (kappa * s2 + Q - 2 * mu * F + n * mu ** 2 + n * P) / (kappa + n)
        a = alpha + n[:, 0]
        log_weight = digamma(a) - digamma(a.sum())
        log_density = (log_weight[None, :] - 0.5 * np.sum(P / v, axis=1)[None, :] +
                       diag_log_density(support, np.ones(len(a)), mu, v))
        v_prev = v
    return logsumexp(diag_log_density(query, a / a.sum(), mu, v + P), axis=1).mean()


class HierarchicalEmpiricalBayes(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_heb_")
        cls.tasks, cls.pooled, cls.prior = cls.path("tasks.h5"), cls.path("pooled.h5"), cls.path("prior.h5")
        run("generate", "--family", "anchored", "--dim", 3, "--components", 3, "--tasks", 300, "--points", "150:150",
            "--box", 5, "--scale", 1, "--jitter", 1, "--drop", 0, "--concentration", 2, "--split", "0.5:0.1:0.4",
            "--seed", 5, "--out", cls.tasks)
        run("fit", "--data", cls.tasks + ":train", "--components", 3, "--covariance", "diag", "--out", cls.pooled)
        run("fit", "--data", cls.tasks + ":train", "--prior", "heb", "--init", cls.pooled, "--out", cls.prior)
        cls.coupled_prior = cls.path("coupled_prior.h5")
        run("fit", "--data", cls.tasks + ":train", "--prior", "heb-coupled", "--init", cls.pooled, "--out",
            cls.coupled_prior)
        common = ["--tasks", cls.tasks, "--components", 3, "--covariance", "diag", "--support", 10, "--query", 50,
                  "--inner-steps", STEPS, "--meta-batch", 8, "--steps", 40, "--validate-every", 0]
        cls.trained = {}
        for ranks in (1, 2):
            directory = cls.path(f"run{ranks}")
            metagmm_ranks(ranks, "train", "--algo", "bayes", "--prior", cls.prior, *common, "--run-dir", directory)
            cls.trained[ranks] = os.path.join(directory, "checkpoint-000000000040.h5")
            directory = cls.path(f"coupled{ranks}")
            metagmm_ranks(ranks, "train", "--algo", "bayes", "--prior", cls.prior, "--mean-coupling", "full", *common,
                          "--run-dir", directory)
            cls.trained["coupled", ranks] = os.path.join(directory, "checkpoint-000000000040.h5")
        cls.report = run("eval", "--checkpoint", cls.trained[1], cls.trained["coupled", 1], "--tasks", cls.tasks, "--pooled", cls.pooled,
                         "--support", 10, "--query", 100, "--steps", STEPS, "--heb-steps", STEPS, "--max-tasks", 30,
                         "--heb-coupled", "--save-episodes", "--out", cls.path("eval")).stdout

    def test_prior_file_layout(self):
        with h5py.File(self.prior) as f:
            self.assertEqual(f.attrs["format"], "metagmm.prior")
            self.assertEqual(f["prior/mean"].shape, (3, 3))
            self.assertEqual(f["parameters"].shape, (3 + 2 * 9 + 1 + 3 * 9,))
            self.assertTrue(np.all(f["prior/strength"][()] >= 1))
            np.testing.assert_allclose(f["prior/first_variance"][()],
                                       f["prior/within_variance"][()] + f["prior/between_variance"][()], rtol=1e-15)
            self.assertEqual(f["model"].attrs["components"], 3)
            concentration = f["prior/concentration"][()].sum()
        report = run("inspect", self.prior).stdout
        self.assertIn("format      metagmm.prior version 1", report)
        self.assertIn(f"concentration {concentration:.4g} ", report)

    def test_eval_heb_agrees_with_numpy(self):
        self.check_against_numpy("heb", coupled=False)

    def test_eval_heb_coupled_agrees_with_numpy(self):
        self.check_against_numpy("heb-coupled", coupled=True)

    def check_against_numpy(self, method, coupled):
        with h5py.File(self.tasks) as f:
            offsets, split, points = f["task_offsets"][()], f["task_split"][()], f["points"][()]
        with h5py.File(self.pooled) as f:
            pooled = (f["weights"][()], f["means"][()], f["covariances"][()])
        prior = estimate_prior([points[offsets[t]:offsets[t + 1]] for t in np.flatnonzero(split == 0)], pooled,
                               coupled)
        with h5py.File(self.path("eval", "eval.h5")) as f:
            methods = f.attrs["methods"].split("\n")
            ours = f["query_log_likelihood"][methods.index(method), :, STEPS]
        with h5py.File(self.path("eval", "episodes.h5")) as f:
            self.assertEqual(f.attrs["tasks"], 30)
            reference = np.array([heb_query_log_likelihood(prior, f[f"{i}/support"][()], f[f"{i}/query"][()], STEPS)
                                  for i in range(30)])
        self.assertEqual(len(ours), 30)
        error = np.max(np.abs(ours - reference))
        print(f"{method} against numpy: worst per-task difference {error:.3g}")
        self.assertLess(error, HEB_TOLERANCE)

    def test_eval_reports_the_baselines(self):
        for text in ("| heb |", "| em-kmeans++x10 |", "| bayes |", "| bayes#2 |", "| heb-coupled |", "heb-steps = 3\n"):
            self.assertIn(text, self.report)

    def test_bayes_starts_at_the_prior_and_is_rank_invariant(self):
        self.assertEqual(checkpoint_content(self.trained[1]), checkpoint_content(self.trained[2]))
        with h5py.File(self.trained[1]) as f, h5py.File(self.prior) as p:
            self.assertEqual(f.attrs["algorithm"], "bayes")
            self.assertEqual(f["extra/log_strength"].shape, (9,))
            # Trained: moved from the prior, but not far in 40 steps.
            moved = np.abs(f["extra/log_strength"][()] - np.log(p["prior/strength"][()].ravel())).max()
            self.assertGreater(moved, 0)
            self.assertLess(moved, 1)

    def test_coupled_means_start_uncoupled_learn_and_are_rank_invariant(self):
        trained = self.trained["coupled", 1]
        self.assertEqual(checkpoint_content(trained), checkpoint_content(self.trained["coupled", 2]))
        with h5py.File(trained) as f:
            self.assertEqual(f.attrs["algorithm"], "bayes")
            self.assertEqual(f["settings"].attrs["mean-coupling"], "full")
            coupling = f["extra/mean_coupling"][()]
        self.assertEqual(coupling.shape, (9 * 8 // 2,))  # C's strictly lower entries for K d = 9
        self.assertGreater(np.abs(coupling).max(), 0)  # it starts at 0 and has moved
        with h5py.File(self.trained[1]) as f:
            self.assertNotIn("mean_coupling", f["extra"])

    def test_coupled_prior_file_is_eval_heb_coupled_and_starts_the_coupled_learner(self):
        with h5py.File(self.coupled_prior) as f:
            self.assertEqual(f["parameters"].shape, (3 + 2 * 9 + 1 + 3 * 9 + 9 * 8 // 2,))
            coupling = f["prior/mean_coupling"][()]
        self.assertEqual(coupling.shape, (9, 9))
        self.assertEqual(np.abs(np.triu(coupling)).max(), 0)  # only the factor's strictly-lower part
        self.assertGreater(np.abs(coupling).max(), 0)
        self.assertIn("coupled means", run("inspect", self.coupled_prior).stdout)
        # eval's heb under the file is eval's own heb-coupled, estimated from the same training tasks.
        out = self.path("eval_coupled_file")
        run("eval", "--checkpoint", self.trained[1], "--tasks", self.tasks, "--pooled", self.pooled, "--prior",
            self.coupled_prior, "--heb-coupled", "--support", 10, "--query", 100, "--steps", STEPS, "--heb-steps", STEPS,
            "--max-tasks", 30, "--out", out)
        with h5py.File(os.path.join(out, "eval.h5")) as f:
            methods, scores = f.attrs["methods"].split("\n"), f["query_log_likelihood"][()]
        # The file keeps the variances as logs: exp(log x) may differ from x in the last bit.
        np.testing.assert_allclose(scores[methods.index("heb")], scores[methods.index("heb-coupled")], rtol=1e-12)
        # One Adam step moves each meta-parameter by exactly the rate: the coupled learner starts at the file's
        # coupling (not at 0, the uncoupled start; the coupling's entries are far larger than the rate).
        directory = self.path("from_coupled")
        run("train", "--algo", "bayes", "--prior", self.coupled_prior, "--mean-coupling", "full", "--tasks", self.tasks,
            "--components", 3, "--covariance", "diag", "--support", 10, "--query", 50, "--inner-steps", STEPS,
            "--meta-batch", 8, "--steps", 1, "--validate-every", 0, "--run-dir", directory)
        with h5py.File(os.path.join(directory, "checkpoint-000000000001.h5")) as f:
            learned = f["extra/mean_coupling"][()]
        start = coupling[np.tril_indices(9, -1)]  # row by row, as the flat form
        moved = np.abs(learned - start)
        self.assertLessEqual(moved.max(), ADAM_RATE * (1 + 1e-9))
        self.assertGreater(moved.max(), 0)
        self.assertGreater(np.abs(start).max(), 10 * ADAM_RATE)

    def test_fit_adapts_one_task_under_the_prior(self):
        out = self.path("task.h5")
        report = run("fit", "--data", self.tasks + ":250", "--init", self.prior, "--heb-steps", 4, "--out", out).stdout
        self.assertIn("4 variational-EM steps under the hierarchical prior", report)
        with h5py.File(out) as f:
            self.assertEqual(f.attrs["format"], "metagmm.gmm")
            self.assertIn("adapt = heb", f.attrs["settings"])

    def test_fit_restarts_keep_the_best(self):
        one, ten = self.path("one.h5"), self.path("ten.h5")
        run("fit", "--data", self.tasks + ":3", "--components", 3, "--covariance", "diag", "--out", one)
        run("fit", "--data", self.tasks + ":3", "--components", 3, "--covariance", "diag", "--n-init", 10, "--out", ten)
        with h5py.File(one) as a, h5py.File(ten) as b:
            self.assertGreaterEqual(b.attrs["mean_log_likelihood"], a.attrs["mean_log_likelihood"])

    def test_refusals(self):
        out = self.path("refused.h5")
        self.refused("fit", "--data", self.tasks + ":1", "--adapt", "heb", "--init", self.pooled, "--out", out,
                     expect="--adapt heb: needs --init PRIOR")
        self.refused("fit", "--data", self.tasks + ":1", "--adapt", "heb", "--components", 3, "--out", out,
                     expect="--adapt heb: needs --init PRIOR")
        other = self.path("other.h5")
        run("generate", "--family", "anchored", "--dim", 2, "--components", 3, "--tasks", 30, "--points", "50:50",
            "--split", "0.2:0.4:0.4", "--seed", 1, "--out", other)
        self.refused("fit", "--data", other + ":0", "--init", self.prior, "--out", out, expect="has dimension 3")
        self.refused("fit", "--data", other + ":train", "--prior", "heb", "--components", 3, "--out", out,
                     expect="needs at least 10")
        self.refused("train", "--algo", "bayes", "--tasks", self.tasks, "--components", 3, "--covariance", "diag",
                     "--run-dir", self.path("none"), expect="--prior")
        self.refused("train", "--algo", "bayes", "--prior", self.pooled, "--tasks", self.tasks, "--components", 3,
                     "--covariance", "diag", "--run-dir", self.path("none"), expect="expected 'metagmm.prior'")
        self.refused("train", "--algo", "bayes", "--prior", self.prior, "--tasks", self.tasks, "--components", 2,
                     "--covariance", "diag", "--run-dir", self.path("none"), expect="a prior for 3 components")
        self.refused("train", "--algo", "bayes", "--prior", self.coupled_prior, "--tasks", self.tasks, "--components", 3,
                     "--covariance", "diag", "--run-dir", self.path("none"), expect="holds coupled means")
        self.refused("fit", "--data", self.tasks + ":train", "--prior", "coupled", "--init", self.pooled, "--out", out,
                     expect="--prior: expected heb or heb-coupled")
        self.refused("fit", "--data", self.tasks + ":250", "--init", self.prior, "--steps", 2, "--out", out,
                     expect="heb takes --heb-steps")
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(self.path("none")))


if __name__ == "__main__":
    unittest.main()
