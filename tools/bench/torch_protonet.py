#!/usr/bin/python3
"""Prototypical Networks in PyTorch, written as a careful PyTorch user would: an nn.Sequential
MLP, torch.cdist-free squared distances by matrix products, log_softmax, autograd, Adam. The
peer that tools/bench/protonet.py measures metagmm train --algo protonet against, on the same
task set, episode shape, encoder and precision (float64 unless --float32).

Two formulations:
  per-episode: one episode at a time, the meta-batch's losses summed before one backward;
  batched:     the meta-batch's episodes as one (B, rows, d) tensor through the encoder and
               batched matrix products.
Episodes are drawn with numpy from the train split's labelled points inside the timed loop, as
metagmm draws its own.

Prints one line: "episodes/s <value>".
"""
import argparse
import time

import h5py
import numpy as np
import torch


def load_train_classes(path):
    """The train split's points grouped by class, from a task set with labels."""
    with h5py.File(path, "r") as f:
        offsets, split = f["task_offsets"][()], f["task_split"][()]
        points, labels = f["points"][()], f["labels"][()]
    classes = {}
    for t in np.nonzero(split == 0)[0]:
        rows = slice(offsets[t], offsets[t + 1])
        for x, label in zip(points[rows], labels[rows]):
            classes.setdefault((t, int(label)), []).append(x)
    return [np.array(v) for v in classes.values()]


def encoder(dim, widths, dtype):
    layers, previous = [], dim
    for i, width in enumerate(widths):
        linear = torch.nn.Linear(previous, width, dtype=dtype)
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i + 1 < len(widths):
            layers.append(torch.nn.ReLU())
        previous = width
    return torch.nn.Sequential(*layers)


def episode(classes, ways, shots, queries, rng):
    """Support (ways*shots, d) grouped by class, then queries (ways*queries, d), as one array."""
    chosen = rng.choice(len(classes), ways, replace=False)
    support, query = [], []
    for c in chosen:
        rows = classes[c][rng.choice(len(classes[c]), shots + queries, replace=False)]
        support.append(rows[:shots])
        query.append(rows[shots:])
    return np.concatenate(support + query)


def loss_of(z, ways, shots, queries, labels):
    """Mean query -log softmax(-|z_q - c_k|^2)[label]; z: (..., rows, e)."""
    support, query = z[..., : ways * shots, :], z[..., ways * shots:, :]
    prototypes = support.reshape(*support.shape[:-2], ways, shots, -1).mean(-2)
    distances = ((query * query).sum(-1, keepdim=True) - 2 * query @ prototypes.transpose(-1, -2)
                 + (prototypes * prototypes).sum(-1).unsqueeze(-2))
    log_p = torch.log_softmax(-distances, dim=-1)
    return -log_p.gather(-1, labels.expand(*log_p.shape[:-1], 1)).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--widths", default="64,64")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--meta-batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batched", action="store_true")
    parser.add_argument("--float32", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = torch.float32 if args.float32 else torch.float64
    classes = load_train_classes(args.tasks)
    net = encoder(classes[0].shape[1], [int(w) for w in args.widths.split(",")], dtype)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    labels = torch.arange(args.ways).repeat_interleave(args.queries).unsqueeze(-1)
    rng = np.random.default_rng(0)
    shape = (args.ways, args.shots, args.queries)

    def meta_step():
        episodes = [episode(classes, *shape, rng) for _ in range(args.meta_batch)]
        optimizer.zero_grad()
        if args.batched:
            loss = loss_of(net(torch.from_numpy(np.stack(episodes)).to(dtype)), *shape, labels)
        else:
            loss = sum(loss_of(net(torch.from_numpy(e).to(dtype)), *shape, labels) for e in episodes) / len(episodes)
        loss.backward()
        optimizer.step()

    meta_step()  # warm-up
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        meta_step()
        steps += 1
    print(f"episodes/s {steps * args.meta_batch / (time.perf_counter() - started)}")


if __name__ == "__main__":
    main()
