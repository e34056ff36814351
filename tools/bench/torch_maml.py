#!/usr/bin/python3
"""MAML-GMM in PyTorch, written as a careful PyTorch user would: float64, log-sum-exp, and
autograd through the inner gradient steps with create_graph=True (second order) or without it
(first order: the inner gradients are constants, so the meta-gradient is the query gradient at the
adapted parameters). The peer that tools/bench/maml.py measures metagmm train against, on the
same task set and settings, one thread.

Two formulations:
  per-task: one task at a time, each inner step one vectorised loss over the support points;
  batched:  all tasks of a meta-batch as one tensor, one backward pass for the meta-batch.

Prints "seconds_per_step <value>" and "peak_rss_mb <value>" (the process's maximum resident set).
"""
import numpy as np
import torch

from torch_reptile import episode_sampler, gmm_loss, initial_theta, load_train_tasks, meta_step_arguments, report_rate


def adapted_query_loss(start, support, query, steps, lr, second_order):
    """L(theta_m; Q) as a function of the start, differentiable back to it."""
    params = start
    for _ in range(steps):
        loss = gmm_loss(*params, support).sum()
        grads = torch.autograd.grad(loss, params, create_graph=second_order)
        params = [p - lr * g for p, g in zip(params, grads)]
    return gmm_loss(*params, query)


def main():
    parser = meta_step_arguments(__doc__, outer_lr=0.01)
    parser.add_argument("--order", choices=["first", "second"], default="second")
    args = parser.parse_args()
    torch.set_num_threads(1)

    tasks = load_train_tasks(args.tasks)
    rng = np.random.default_rng(0)
    theta = [p.requires_grad_(True) for p in initial_theta(tasks, args.components, rng)]
    outer = torch.optim.Adam(theta, lr=args.outer_lr)
    B = args.meta_batch
    episode = episode_sampler(tasks, args.support, args.query, rng)
    second_order = args.order == "second"

    def meta_step():
        episodes = [episode() for _ in range(B)]
        outer.zero_grad()
        if args.batched:
            support = torch.stack([s for s, _ in episodes])
            query = torch.stack([q for _, q in episodes])
            start = [p.unsqueeze(0).expand(B, *p.shape) for p in theta]
            loss = adapted_query_loss(start, support, query, args.inner_steps, args.inner_lr, second_order).mean()
            loss.backward()
        else:
            for support, query in episodes:
                loss = adapted_query_loss(theta, support, query, args.inner_steps, args.inner_lr, second_order) / B
                loss.backward()
        outer.step()

    report_rate(meta_step, args.seconds)


if __name__ == "__main__":
    main()
