#!/usr/bin/python3
"""Meta-learned Bayesian adaptation in PyTorch, as a careful PyTorch user would write it: float64,
log-sum-exp, all tasks of a meta-batch as one tensor (batched), autograd through the m
variational-EM steps (gmm/bayes.hpp's formulas: q(mu) Gaussian, q(w) Dirichlet with digamma, point
variances; the posterior predictive scored on the query; with --mean-coupling full, one Gaussian
prior over all K d means with a learned Cholesky factor and a batched Kd x Kd Cholesky inverse per
step). The peer that tools/bench/bayes.py
measures `metagmm train --algo bayes` against, on the same task set and settings, one thread.

Prints "seconds_per_step <value>" and "peak_rss_mb <value>".
"""
import math

import h5py
import numpy as np
import torch

from torch_reptile import episode_sampler, load_train_tasks, meta_step_arguments, report_rate


def log_density(x, log_weight, means, variances):
    """log w_k + log N(x_i; mu_k, diag v_k): [B, N, K] for x [B, N, d] and [B, K, ...] parameters."""
    d = x.shape[-1]
    z = (x.unsqueeze(-2) - means.unsqueeze(-3)) ** 2 / variances.unsqueeze(-3)
    return (log_weight.unsqueeze(-2) - 0.5 * z.sum(-1) - 0.5 * torch.log(variances).sum(-1).unsqueeze(-2)
            - 0.5 * d * math.log(2 * math.pi))


def adapted_query_loss(prior, support, query, steps, coupling=None):
    """The posterior predictive's mean negative log-likelihood of the query after the steps;
    coupling: C of the coupled prior (Kd x Kd, its strictly lower part used) or None."""
    logits, m, log_e, log_A, log_tau2, log_s2, log_kappa = prior
    pi = torch.softmax(logits, -1)
    alpha = torch.exp(log_A) * pi
    tau2, s2, kappa, e = torch.exp(log_tau2), torch.exp(log_s2), torch.exp(log_kappa), torch.exp(2 * log_e)
    B = support.shape[0]
    ell = log_density(support, torch.log(pi).expand(B, -1), m.expand(B, -1, -1), e.expand(B, -1, -1))
    v_prev = s2.expand(B, -1, -1)
    if coupling is not None:
        lower = torch.tril(coupling, -1) + torch.diag(torch.exp(0.5 * log_tau2).reshape(-1))
        precision = torch.cholesky_inverse(lower)           # (L L^T)^-1
        shifted = precision @ m.reshape(-1)
    for _ in range(steps):
        gamma = torch.softmax(ell, -1)                      # B N K
        n = gamma.sum(-2).unsqueeze(-1)                     # B K 1
        F = gamma.transpose(-1, -2) @ support               # B K d
        Q = gamma.transpose(-1, -2) @ support ** 2
        if coupling is None:
            P = 1 / (1 / tau2 + n / v_prev)
            mu = P * (m / tau2 + F / v_prev)
        else:
            covariance = torch.cholesky_inverse(torch.linalg.cholesky(
                precision + torch.diag_embed((n / v_prev).reshape(B, -1))))
            mu = (covariance @ (shifted + (F / v_prev).reshape(B, -1)).unsqueeze(-1)).reshape(F.shape)
            P = torch.diagonal(covariance, dim1=-2, dim2=-1).reshape(F.shape)
        v = (kappa * s2 + Q - 2 * mu * F + n * mu ** 2 + n * P) / (kappa + n)
        a = alpha + n.squeeze(-1)
        log_weight = torch.digamma(a) - torch.digamma(a.sum(-1, keepdim=True)) - 0.5 * (P / v).sum(-1)
        ell = log_density(support, log_weight, mu, v)
        v_prev = v
    w = a / a.sum(-1, keepdim=True)
    return -torch.logsumexp(log_density(query, torch.log(w), mu, v + P), -1).mean(-1)


def load_prior(path):
    with h5py.File(path, "r") as f:
        flat = torch.from_numpy(f["parameters"][()])
        K, d = int(f.attrs["components"]), int(f.attrs["dim"])
    sizes = [K, K * d, K * d, 1, K * d, K * d, K * d]
    shapes = [(K,), (K, d), (K, d), (1,), (K, d), (K, d), (K, d)]
    parts, start = [], 0
    for size, shape in zip(sizes, shapes):
        parts.append(flat[start:start + size].reshape(shape).clone().requires_grad_(True))
        start += size
    return parts


def main():
    parser = meta_step_arguments(__doc__, outer_lr=0.001)
    parser.add_argument("--prior", required=True)
    parser.add_argument("--mean-coupling", choices=["none", "full"], default="none")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tasks = load_train_tasks(args.tasks)
    rng = np.random.default_rng(0)
    prior = load_prior(args.prior)
    coupling = None
    if args.mean_coupling == "full":
        Kd = prior[1].numel()
        coupling = torch.zeros(Kd, Kd, dtype=torch.float64, requires_grad=True)
    outer = torch.optim.Adam(prior + ([coupling] if coupling is not None else []), lr=args.outer_lr)
    episode = episode_sampler(tasks, args.support, args.query, rng)

    def meta_step():
        episodes = [episode() for _ in range(args.meta_batch)]
        outer.zero_grad()
        support = torch.stack([s for s, _ in episodes])
        query = torch.stack([q for _, q in episodes])
        adapted_query_loss(prior, support, query, args.inner_steps, coupling).mean().backward()
        outer.step()

    report_rate(meta_step, args.seconds)


if __name__ == "__main__":
    main()
