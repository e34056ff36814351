#!/usr/bin/python3
"""Does anything learned on digits 0-4 help prototypes on digits 5-9? An independent check of
the ProtoNet digits result (README "ProtoNet on the digits") with numpy and scikit-learn only:
5-way prototype accuracy on digits 5-9 over the same random episodes for raw pixels, for
projections learned from digits 0-4 (PCA), for a fixed blur, and for the hidden features of a
scikit-learn MLPClassifier trained on digits 0-4.

    /usr/bin/python3 tools/experiments/digits_transfer_check.py [--episodes 1000]
"""
import argparse
import os
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

DIGITS = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")


def accuracy(features, labels, shots, episodes, queries=15):
    """Mean 5-way prototype accuracy on classes 5-9 (the same episodes for every `features`)."""
    rng = np.random.default_rng(0)
    correct = []
    for _ in range(episodes):
        prototypes, query, truth = [], [], []
        for k, c in enumerate(rng.permutation(np.arange(5, 10))):
            rows = rng.permutation(np.nonzero(labels == c)[0])[: shots + queries]
            prototypes.append(features[rows[:shots]].mean(0))
            query.append(features[rows[shots:]])
            truth += [k] * queries
        distances = ((np.vstack(query)[:, None, :] - np.array(prototypes)[None]) ** 2).sum(-1)
        correct.append(np.mean(distances.argmin(1) == np.array(truth)))
    return np.mean(correct)


def blur(sigma):
    g = np.arange(8)
    kernel = np.exp(-(g[:, None] - g[None]) ** 2 / (2 * sigma * sigma))
    kernel /= kernel.sum(1, keepdims=True)
    return np.kron(kernel, kernel).T


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    data = np.loadtxt(DIGITS, delimiter=",")
    x, y = data[:, :64], data[:, 64].astype(int)
    train = y < 5
    _, _, components = np.linalg.svd(x[train] - x[train].mean(0), full_matrices=False)
    maps = [("raw pixels", lambda z: z)]
    maps += [(f"PCA-{k} of digits 0-4", lambda z, k=k: z @ components[:k].T) for k in (20, 40)]
    maps += [(f"blur sigma {s}", lambda z, s=s: z @ blur(s)) for s in (0.5, 0.8)]
    for width, iterations in ((256, 20), (256, 200)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = MLPClassifier(hidden_layer_sizes=(width,), max_iter=iterations, random_state=0).fit(x[train] / 16, y[train])
        maps.append((f"MLP({width}) hidden layer, {iterations} epochs on 0-4",
                     lambda z, m=mlp: np.maximum(z / 16 @ m.coefs_[0] + m.intercepts_[0], 0)))
    print(f"5-way prototype accuracy on digits 5-9, {args.episodes} episodes, 15 queries per class")
    print(f"{'features':44s} {'1-shot':>8s} {'5-shot':>8s}")
    for name, features in maps:
        mapped = features(x)
        print(f"{name:44s} {accuracy(mapped, y, 1, args.episodes):8.4f} {accuracy(mapped, y, 5, args.episodes):8.4f}")


if __name__ == "__main__":
    main()
