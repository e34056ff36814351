#!/usr/bin/python3
"""Reptile-GMM in PyTorch, written as a careful PyTorch user would: vectorised, log-sum-exp,
float64, autograd for the inner gradient steps. The peer that tools/bench/reptile.py measures
metagmm train against, on the same task set and settings.

Two formulations:
  per-task: one task at a time, each inner step one vectorised loss over the support points;
  batched:  all tasks of a meta-batch as one tensor (the strongest CPU formulation).

Prints one line: "tasks/s <value>".
"""
import argparse
import math
import resource
import time

import h5py
import numpy as np
import torch


def gmm_loss(logits, means, log_sd, x):
    """Mean negative log-likelihood of x (... x N x d) under diagonal mixtures (... x K ...)."""
    d = x.shape[-1]
    log_w = torch.log_softmax(logits, -1)                                  # ... K
    z = (x.unsqueeze(-2) - means.unsqueeze(-3)) * torch.exp(-log_sd).unsqueeze(-3)   # ... N K d
    log_density = -0.5 * (z * z).sum(-1) - log_sd.sum(-1).unsqueeze(-2) - 0.5 * d * math.log(2 * math.pi)
    return -torch.logsumexp(log_density + log_w.unsqueeze(-2), -1).mean(-1)  # ...


def load_train_tasks(path):
    """The training split's tasks of a task-set file, one float64 tensor each."""
    with h5py.File(path, "r") as f:
        points, offsets, split = f["points"][()], f["task_offsets"][()], f["task_split"][()]
    return [torch.from_numpy(points[offsets[t]:offsets[t + 1]]) for t in np.flatnonzero(split == 0)]


def initial_theta(tasks, components, rng):
    """Equal weights, means at random pooled points, the pooled spread as every component's."""
    pooled = torch.cat(tasks[:16])
    return [torch.zeros(components, dtype=torch.float64),
            pooled[rng.choice(len(pooled), components, replace=False)].clone(),
            torch.log(pooled.std(0)).repeat(components, 1)]


def episode_sampler(tasks, support, query, rng):
    """A function drawing one random task's support and query points."""
    def episode():
        x = tasks[rng.integers(len(tasks))]
        order = torch.from_numpy(rng.permutation(len(x))[: support + query])
        return x[order[:support]], x[order[support:]]
    return episode


def meta_step_arguments(description, outer_lr):
    """The options every PyTorch peer takes: the task set, the episode and the meta-step."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--components", type=int, required=True)
    parser.add_argument("--support", type=int, required=True)
    parser.add_argument("--query", type=int, required=True)
    parser.add_argument("--meta-batch", type=int, default=10)
    parser.add_argument("--inner-steps", type=int, default=5)
    parser.add_argument("--inner-lr", type=float, default=0.1)
    parser.add_argument("--outer-lr", type=float, default=outer_lr)
    parser.add_argument("--seconds", type=float, default=5.0, help="measure for about this long")
    parser.add_argument("--batched", action="store_true")
    return parser


def rate_loop(meta_step, seconds):
    """Meta-steps per second over about `seconds`, after one warm-up step."""
    meta_step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        meta_step()
        steps += 1
    return steps / (time.perf_counter() - started)


def report_rate(meta_step, seconds):
    """Prints "seconds_per_step" and "peak_rss_mb" (the process's maximum resident set)."""
    rate = rate_loop(meta_step, seconds)
    print(f"seconds_per_step {1.0 / rate:.6g}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


def adapt(theta, support, steps, lr):
    params = [p.clone().requires_grad_(True) for p in theta]
    for _ in range(steps):
        loss = gmm_loss(*params, support).sum()
        grads = torch.autograd.grad(loss, params)
        params = [(p - lr * g).detach().requires_grad_(True) for p, g in zip(params, grads)]
    return [p.detach() for p in params]


def main():
    args = meta_step_arguments(__doc__, outer_lr=1.0).parse_args()
    torch.set_num_threads(1)

    tasks = load_train_tasks(args.tasks)
    rng = np.random.default_rng(0)
    theta = initial_theta(tasks, args.components, rng)
    B = args.meta_batch
    episode = episode_sampler(tasks, args.support, args.query, rng)

    def meta_step():
        episodes = [episode() for _ in range(B)]
        if args.batched:
            support = torch.stack([s for s, _ in episodes])
            query = torch.stack([q for _, q in episodes])
            start = [p.unsqueeze(0).expand(B, *p.shape) for p in theta]
            adapted = adapt(start, support, args.inner_steps, args.inner_lr)
            with torch.no_grad():
                gmm_loss(*adapted, query).mean()
            mean_adapted = [a.mean(0) for a in adapted]
        else:
            total = [torch.zeros_like(p) for p in theta]
            for support, query in episodes:
                adapted = adapt(theta, support, args.inner_steps, args.inner_lr)
                with torch.no_grad():
                    gmm_loss(*adapted, query)
                total = [t + a for t, a in zip(total, adapted)]
            mean_adapted = [t / B for t in total]
        # Reptile: a step towards the mean adapted parameters.
        for p, a in zip(theta, mean_adapted):
            p += args.outer_lr * (a - p)

    print(f"tasks/s {rate_loop(meta_step, args.seconds) * B:.1f}")


if __name__ == "__main__":
    main()
