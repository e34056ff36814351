#!/usr/bin/python3
"""Writes tests/fixtures/sklearn_em.h5: EM runs of scikit-learn's GaussianMixture from a given
start, the reference that tests/unit/em_test.cpp compares metagmm's EM against.

For each covariance type: data X, the start (weights, means, covariances, precisions), and for
several iteration counts the parameters after that many EM iterations (tol=0, so exactly that
many) and the mean log-likelihood (score) at them.

Run with Debian's python3 (it sees python3-sklearn): /usr/bin/python3 tools/make_sklearn_fixture.py
"""
import os
import sys
import warnings

import h5py
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

ITERATIONS = [1, 5, 25]


def make_data(rng, n, d, k):
    centers = rng.uniform(-6, 6, size=(k, d))
    labels = rng.integers(0, k, size=n)
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    return centers[labels] + rng.normal(size=(n, d)) * scales[labels]


def start_for(rng, X, k, covariance_type):
    n, d = X.shape
    weights = rng.dirichlet(np.full(k, 3.0))
    means = X[rng.choice(n, size=k, replace=False)] + 0.1 * rng.normal(size=(k, d))
    if covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(k, d))
        precisions = 1.0 / covariances
    elif covariance_type == "spherical":
        covariances = rng.uniform(0.5, 2.0, size=k)
        precisions = 1.0 / covariances
    else:
        covariances = np.empty((k, d, d))
        for j in range(k):
            a = rng.normal(size=(d, d))
            covariances[j] = a @ a.T / d + np.eye(d)
        precisions = np.linalg.inv(covariances)
    return weights, means, covariances, precisions


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "sklearn_em.h5")
    rng = np.random.default_rng(20261126)
    with h5py.File(out, "w") as f:
        f.attrs["generator"] = "tools/make_sklearn_fixture.py"
        f.attrs["sklearn_version"] = sklearn.__version__
        for covariance_type, n, d, k in [("diag", 400, 3, 3), ("spherical", 400, 3, 3), ("full", 400, 3, 3)]:
            X = make_data(rng, n, d, k)
            weights, means, covariances, precisions = start_for(rng, X, k, covariance_type)
            group = f.create_group(covariance_type)
            group["X"] = X
            group["start/weights"] = weights
            group["start/means"] = means
            group["start/covariances"] = covariances
            for iterations in ITERATIONS:
                gm = GaussianMixture(n_components=k, covariance_type=covariance_type, tol=0.0, max_iter=iterations,
                                     reg_covar=1e-6, init_params="random", weights_init=weights, means_init=means,
                                     precisions_init=precisions, random_state=0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    gm.fit(X)
                assert gm.n_iter_ == iterations
                result = group.create_group(f"iter_{iterations}")
                result["weights"] = gm.weights_
                result["means"] = gm.means_
                result["covariances"] = gm.covariances_
                result["precisions_cholesky"] = gm.precisions_cholesky_
                result.attrs["score"] = gm.score(X)
                result.attrs["lower_bound"] = gm.lower_bound_
    print("wrote", out)


if __name__ == "__main__":
    main()
