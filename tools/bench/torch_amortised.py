#!/usr/bin/python3
"""Amortised adaptation in PyTorch, as a careful PyTorch user would write it: float64, log-sum-exp,
all tasks of a meta-batch as one tensor (batched), autograd through the set encoder and the m
MAP-EM steps (meta/set_encoder.hpp and gmm/map.hpp's formulas: a per-point MLP, K seeds attending
over the points, a mean pool, a head MLP shared by the seeds, a gated attention-weighted mean; then
MAP-EM steps towards the encoder's start with relevance factors exp(log r)). The peer that
tools/bench/amortised.py measures `metagmm train --algo amortised` against, on the same task set and
settings, one thread.

Timing (default): prints "seconds_per_step <value>" and "peak_rss_mb <value>".
--check CHECKPOINT --episodes DIR/episodes.h5: instead, the query log-likelihood per point after
the checkpoint's own steps on each saved episode (eval --save-episodes), one line per episode
("<task> <value>"), computed here from the checkpoint's weights: an independent implementation to
compare with eval's numbers.
"""
import math

import h5py
import numpy as np
import torch

from torch_reptile import episode_sampler, load_train_tasks, meta_step_arguments, report_rate

EPSILON10 = 10 * np.finfo(float).eps  # as the M-steps: keeps an empty component's averages finite


def log_density(x, log_weight, means, variances):
    """log w_k + log N(x_i; mu_k, diag v_k): [B, N, K]."""
    d = x.shape[-1]
    z = (x.unsqueeze(-2) - means.unsqueeze(-3)) ** 2 / variances.unsqueeze(-3)
    return (log_weight.unsqueeze(-2) - 0.5 * z.sum(-1) - 0.5 * torch.log(variances).sum(-1).unsqueeze(-2)
            - 0.5 * d * math.log(2 * math.pi))


def mlp(x, layers):
    """Affine layers (W [out, in], b [out]) with ReLU between them and none after the last."""
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i + 1 < len(layers):
            x = torch.relu(x)
    return x


def encoder_start(base, encoder, x):
    """The set encoder's starting mixture (logits, means, log sd) for points x [B, n, d]."""
    point, seeds, head, gate = encoder
    logits, means, log_sd = base
    K, d = means.shape
    h = seeds.shape[1]
    embedded = mlp(x, point)                                            # B n h
    attention = torch.softmax(embedded @ seeds.T / math.sqrt(h), dim=1)  # B n K, over the points
    pooled = attention.transpose(1, 2) @ embedded                       # B K h
    pooled_points = attention.transpose(1, 2) @ x                       # B K d
    mean_pool = embedded.mean(1, keepdim=True).expand(-1, K, -1)        # B K h
    out = mlp(torch.cat([pooled, mean_pool, pooled_points], -1), head)  # B K 1 + 2d
    return (logits + out[..., 0], means + gate * (pooled_points - means) + out[..., 1:1 + d],
            log_sd + out[..., 1 + d:])


def map_step(current, prior, x, relevance, reg_covar):
    """One MAP-EM step from `current` towards `prior` (Reynolds et al. 2000), diag covariances."""
    logits, means, log_sd = current
    gamma = torch.softmax(log_density(x, torch.log_softmax(logits, -1), means, torch.exp(2 * log_sd)), -1)
    n = gamma.sum(1) + EPSILON10                                        # B K
    first = gamma.transpose(1, 2) @ x / n.unsqueeze(-1)                 # E_k[x]
    second = gamma.transpose(1, 2) @ x ** 2 / n.unsqueeze(-1)           # E_k[x^2]
    aw, am, av = (n / (n + r) for r in relevance)
    prior_logits, prior_means, prior_log_sd = prior
    weights = aw * n / n.sum(-1, keepdim=True) + (1 - aw) * torch.softmax(prior_logits, -1)
    weights = weights / weights.sum(-1, keepdim=True)
    mu = am.unsqueeze(-1) * first + (1 - am.unsqueeze(-1)) * prior_means
    data = second - 2 * first * mu + mu ** 2                            # E_k[(x - mu)^2]
    variances = (av.unsqueeze(-1) * data + (1 - av.unsqueeze(-1)) * (torch.exp(2 * prior_log_sd)
                                                                      + (prior_means - mu) ** 2) + reg_covar)
    return torch.log(weights), mu, 0.5 * torch.log(variances)


def adapted_query_loss(base, log_relevance, encoder, support, query, steps, reg_covar):
    """Mean negative log-likelihood per query point after the steps, per task [B]."""
    prior = encoder_start(base, encoder, support)
    relevance = torch.exp(log_relevance)
    current = prior
    for _ in range(steps):
        current = map_step(current, prior, support, relevance, reg_covar)
    logits, means, log_sd = current
    return -torch.logsumexp(log_density(query, torch.log_softmax(logits, -1), means, torch.exp(2 * log_sd)), -1).mean(-1)


def unflatten_mlp(flat, widths, inputs):
    """Layer by layer, W (out x in, row by row) then b: meta/encoder.hpp's layout."""
    layers, at = [], 0
    for out in widths:
        w = flat[at:at + out * inputs].reshape(out, inputs)
        b = flat[at + out * inputs:at + out * inputs + out]
        layers.append((w, b))
        at += out * inputs + out
        inputs = out
    assert at == len(flat)
    return layers


def initial_parameters(K, d, set_widths, head_widths, rng):
    """A base mixture from the pooled data's spread, He-initialised MLPs (the head's last layer
    zero), normal seeds, gate 0: the same kind of start as metagmm's."""
    def he(widths, inputs, zero_last=False):
        layers = []
        for i, out in enumerate(widths):
            scale = 0.0 if zero_last and i + 1 == len(widths) else math.sqrt(2.0 / inputs)
            layers.append((torch.tensor(rng.normal(size=(out, inputs)) * scale), torch.zeros(out, dtype=torch.float64)))
            inputs = out
        return layers
    h = set_widths[-1]
    base = [torch.zeros(K, dtype=torch.float64), torch.tensor(rng.uniform(-4, 4, size=(K, d))),
            torch.zeros(K, d, dtype=torch.float64)]
    encoder = (he(set_widths, d), torch.tensor(rng.normal(size=(K, h))), he(head_widths + [1 + 2 * d], 2 * h + d, True),
               torch.zeros((), dtype=torch.float64))
    return base, torch.full((3,), math.log(4.0), dtype=torch.float64), encoder


def leaves(base, log_relevance, encoder):
    point, seeds, head, gate = encoder
    return base + [log_relevance, seeds, gate] + [t for layer in point + head for t in layer]


def check(args):
    """Query log-likelihood per saved episode after the checkpoint's own steps, from its weights."""
    with h5py.File(args.check) as f:
        settings = {key: f["settings"].attrs[key] for key in f["settings"].attrs}
        flat = f["model/parameters"][()]
        K, d = int(f["model"].attrs["components"]), int(f["model"].attrs["dim"])
        extra = {name: torch.from_numpy(f["extra"][name][()]) for name in f["extra"]}
    as_text = lambda value: value.decode() if isinstance(value, bytes) else str(value)
    set_widths = [int(w) for w in as_text(settings["set-widths"]).split(",")]
    head_widths = [int(w) for w in as_text(settings["head-widths"]).split(",")] + [1 + 2 * d]
    steps, reg_covar = int(settings["inner-steps"]), float(settings["reg-covar"])
    flat = torch.from_numpy(flat)
    base = [flat[:K], flat[K:K + K * d].reshape(K, d), flat[K + K * d:].reshape(K, d)]
    h = set_widths[-1]
    encoder = (unflatten_mlp(extra["set_point_mlp"], set_widths, d), extra["set_seeds"].reshape(K, h),
               unflatten_mlp(extra["set_head"], head_widths, 2 * h + d), extra["set_gate"][0])
    with h5py.File(args.episodes) as f:
        for name in sorted(f, key=int):
            support = torch.from_numpy(f[name]["support"][()]).unsqueeze(0)
            query = torch.from_numpy(f[name]["query"][()]).unsqueeze(0)
            loss = adapted_query_loss(base, extra["log_relevance"], encoder, support, query, steps, reg_covar)
            print(f[name].attrs["task"], repr(-loss.item()))


def main():
    parser = meta_step_arguments(__doc__, outer_lr=0.003)
    parser.add_argument("--set-widths", default="64,64")
    parser.add_argument("--head-widths", default="64")
    parser.add_argument("--check", help="a metagmm amortised checkpoint: check mode")
    parser.add_argument("--episodes", help="check mode: eval --save-episodes's episodes.h5")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.check:
        check(args)
        return
    tasks = load_train_tasks(args.tasks)
    rng = np.random.default_rng(0)
    d = tasks[0].shape[1]
    base, log_relevance, encoder = initial_parameters(args.components, d, [int(w) for w in args.set_widths.split(",")],
                                                      [int(w) for w in args.head_widths.split(",")], rng)
    parameters = leaves(base, log_relevance, encoder)
    for p in parameters:
        p.requires_grad_(True)
    outer = torch.optim.Adam(parameters, lr=args.outer_lr)
    episode = episode_sampler(tasks, args.support, args.query, rng)

    def meta_step():
        episodes = [episode() for _ in range(args.meta_batch)]
        outer.zero_grad()
        support = torch.stack([s for s, _ in episodes])
        query = torch.stack([q for _, q in episodes])
        adapted_query_loss(base, log_relevance, encoder, support, query, args.inner_steps, 1e-6).mean().backward()
        outer.step()

    report_rate(meta_step, args.seconds)


if __name__ == "__main__":
    main()
