#!/usr/bin/env python3
"""PyTorch baseline for `deno task bench`: the SAE training step of each saekit architecture.

Dense PyTorch with autograd, as SAELens and dictionary_learning write the step, and saekit's
definitions (lib/sae/arch/*.ts) and defaults (lib/config.ts). For x of shape [batch, d_in], with a
tied bias (x_bar = x - b_dec), z = x_bar @ W_enc, pre = z + b_enc and mse(a) = mean_i (a_i - x_i)^2:

  relu        f = relu(pre); loss = mse(f @ W_dec + b_dec) + l1 * sum_j f_j
  relu-april  as relu, but the penalty is l1 * sum_j f_j * |W_dec_j| and the decoder is free
  topk        f = pre on the k largest positive pre-activations of each row; loss = mse
  batchtopk   f = pre on the k * batch largest positive pre-activations of the batch; loss = mse;
              after the update, theta tracks the smallest kept activation (theta = min f on the first
              step, then 0.99 theta + 0.01 min f)
  matryoshka  batchtopk's f; loss = sum_t w_t mse(b_dec + f[:, :m_t] @ W_dec[:m_t]) over the prefixes
              m_t = d_sae/16, /8, /4, /2, d_sae (repeats dropped), w_t = 1/T; theta as batchtopk
  jumprelu    f = pre * [pre > theta] with the raw threshold theta (initially 0.05); loss = mse +
              l1 * sum_j [pre_j > theta_j]; theta trained through the rectangle kernel
              K(u) = [|u| < 1/2], u = (pre - theta)/eps, eps = 0.05 (straight-through estimators:
              d f/d theta := -(theta/eps) K, d [pre > theta]/d theta := -(1/eps) K)
  gated       pi_gate = pre, pi_mag = z * exp(r_mag) + b_mag, f = [pi_gate > 0] relu(pi_mag);
              loss = mse + l1 * sum_j relu(pi_gate_j) + the gate's reconstruction
              mse(relu(pi_gate) @ W_dec.detach() + b_dec.detach())

Every architecture but relu-april keeps the decoder rows at unit norm: each row's gradient loses its
part along the row before the update, and the rows are rescaled to unit norm after it. Adam: lr 1e-3,
betas 0.9/0.99, eps 1e-8. The initialisation follows saekit's rules: relu's encoder is fan-in uniform
(W_enc ~ U(+-sqrt(6/d_in)), b_enc ~ U(+-1/sqrt(d_in))); every other encoder starts as the decoder's
transpose with b_enc = 0; decoder rows are Gaussian scaled to norm 1 (0.1 for the free decoder).

--l0 N (the architectures with a coefficient: relu, relu-april, jumprelu, gated) starts from encoder
biases that make the batch's average L0 about N, by the rule of lib/bench/l0.ts: with r = round(batch
* N / d_sae), each feature's bias puts its firing point (0, or jumprelu's theta) halfway between the
r-th and (r+1)-th largest value of its column of z over the batch, so every feature fires on exactly
r items and the average L0 is d_sae * r / batch.

Prints one JSON line: impl, arch, torch, sizes, median_ms, min_ms, max_ms, activations_per_s,
peak_rss_mb, blas, threads and start_l0 (the average L0 of the first step's forward pass, before any
update). --init FILE starts from the parameters and batch of a JSON file, and --dump FILE writes the
parameters after the last step, every step's loss and the first step's gradients (before the decoder's
projection): what tests/bench/torch_baseline_test.ts compares with saekit's step.

  /usr/bin/python3 tasks/baselines/torch_sae_step.py --arch gated --batch 4096 --d-in 512 --d-sae 4096
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

import torch

ARCHS = ["relu", "relu-april", "topk", "batchtopk", "matryoshka", "jumprelu", "gated"]
K_SPARSITY = {"topk", "batchtopk", "matryoshka"}  # their L0 is set by k
FREE_DECODER = {"relu-april"}
FAN_IN_ENCODER = {"relu"}
TRACKED_THRESHOLD = {"batchtopk", "matryoshka"}
JUMPRELU_BANDWIDTH = 0.05  # saekit's jumpreluBandwidth
JUMPRELU_INIT_THRESHOLD = 0.05  # saekit's jumpreluInitThreshold
THRESHOLD_DECAY = 0.99  # saekit's thresholdDecay


def blas_in_use() -> str:
    with open(f"/proc/{os.getpid()}/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line.lower()}
    if any("openblas" in name for name in names):
        return "openblas"
    if any("mkl" in name for name in names):
        return "mkl"
    return "reference" if names else "unknown"


def default_prefixes(d_sae: int) -> list:
    """saekit's defaultPrefixes: d_sae/16, /8, /4, /2 and d_sae, floored, at least 1, repeats dropped."""
    widths = [max(1, d_sae // d) for d in (16, 8, 4, 2, 1)]
    return [w for i, w in enumerate(widths) if i == 0 or w > widths[i - 1]]


def rectangle(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    """pre * [pre > theta]; d/d pre = [pre > theta], d/d theta := -(theta/eps) K((pre - theta)/eps)."""

    @staticmethod
    def forward(ctx, pre, theta):
        ctx.save_for_backward(pre, theta)
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        kernel = rectangle((pre - theta) / JUMPRELU_BANDWIDTH)
        d_theta = (-(theta / JUMPRELU_BANDWIDTH) * kernel * grad).sum(0)
        return grad * (pre > theta).to(pre.dtype), d_theta


class Heaviside(torch.autograd.Function):
    """[pre > theta]; no gradient to pre, d/d theta := -(1/eps) K((pre - theta)/eps)."""

    @staticmethod
    def forward(ctx, pre, theta):
        ctx.save_for_backward(pre, theta)
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        kernel = rectangle((pre - theta) / JUMPRELU_BANDWIDTH)
        return torch.zeros_like(pre), (-(1.0 / JUMPRELU_BANDWIDTH) * kernel * grad).sum(0)


def init_params(arch: str, d_in: int, d_sae: int, gen: torch.Generator) -> dict:
    norm = 0.1 if arch in FREE_DECODER else 1.0
    w_dec = torch.randn(d_sae, d_in, generator=gen)
    w_dec = w_dec / w_dec.norm(dim=-1, keepdim=True) * norm
    if arch in FAN_IN_ENCODER:
        bound = math.sqrt(6 / d_in)
        w_enc = torch.empty(d_in, d_sae).uniform_(-bound, bound, generator=gen)
        b_enc = torch.empty(d_sae).uniform_(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in), generator=gen)
    else:
        w_enc = w_dec.t().clone()
        b_enc = torch.zeros(d_sae)
    params = {"w_enc": w_enc, "b_enc": b_enc, "w_dec": w_dec, "b_dec": torch.zeros(d_in)}
    if arch == "jumprelu":
        params["threshold"] = torch.full((d_sae,), JUMPRELU_INIT_THRESHOLD)
    if arch in TRACKED_THRESHOLD:
        params["threshold"] = torch.zeros(d_sae)
    if arch == "gated":
        params["r_mag"] = torch.zeros(d_sae)
        params["b_mag"] = torch.zeros(d_sae)
    return params


def l0_bias(z: torch.Tensor, l0: float, firing: torch.Tensor) -> torch.Tensor:
    """Encoder biases from which every feature fires on r = round(batch * l0 / d_sae) items of the batch."""
    batch, d_sae = z.shape
    r = round(batch * l0 / d_sae)
    if r < 1 or r > batch - 1:
        raise SystemExit(
            f"--l0: expected batch * N / d_sae to round to an integer in [1, {batch - 1}] "
            f"(batch {batch}, d_sae {d_sae}), received N = {l0} (r = {r})"
        )
    top = torch.topk(z, r + 1, dim=0).values  # [r + 1, d_sae], largest first
    return firing - (top[r - 1] + top[r]) / 2


def batch_topk(pre: torch.Tensor, k: int) -> torch.Tensor:
    """pre on the k * batch largest positive pre-activations of the whole batch, zero elsewhere."""
    flat = torch.relu(pre).flatten()
    values, indices = torch.topk(flat, k * pre.shape[0])
    return torch.zeros_like(flat).scatter_(-1, indices, values).view_as(pre)


def step_loss(arch: str, p: dict, x: torch.Tensor, k: int, l1: float, prefixes: list):
    """The loss of one batch (mean over items) and the activations f."""
    z = (x - p["b_dec"]) @ p["w_enc"]
    pre = z + p["b_enc"]
    mse = lambda x_hat: (x_hat - x).pow(2).mean(-1).mean()  # noqa: E731
    if arch in ("relu", "relu-april"):
        f = torch.relu(pre)
    elif arch == "topk":
        values, indices = torch.topk(pre, k, dim=-1)
        f = torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))
    elif arch in TRACKED_THRESHOLD:
        f = batch_topk(pre, k)
    elif arch == "jumprelu":
        f = JumpReLU.apply(pre, p["threshold"])
    else:  # gated
        pi_mag = z * p["r_mag"].exp() + p["b_mag"]
        f = (pre > 0).to(pre.dtype) * torch.relu(pi_mag)

    if arch == "matryoshka":
        loss = 0
        x_hat = p["b_dec"]
        start = 0
        for end in prefixes:
            x_hat = x_hat + f[:, start:end] @ p["w_dec"][start:end]
            loss = loss + mse(x_hat) / len(prefixes)
            start = end
    else:
        loss = mse(f @ p["w_dec"] + p["b_dec"])

    if arch == "relu":
        loss = loss + l1 * f.abs().sum(-1).mean()
    elif arch == "relu-april":
        loss = loss + l1 * (f * p["w_dec"].norm(dim=-1)).sum(-1).mean()
    elif arch == "jumprelu":
        loss = loss + l1 * Heaviside.apply(pre, p["threshold"]).sum(-1).mean()
    elif arch == "gated":
        gate = torch.relu(pre)
        loss = loss + l1 * gate.sum(-1).mean()
        loss = loss + mse(gate @ p["w_dec"].detach() + p["b_dec"].detach())
    return loss, f


def load_init(path: str) -> tuple:
    with open(path) as file:
        data = json.load(file)
    x = torch.tensor(data.pop("x"), dtype=torch.float32)
    return x, {name: torch.tensor(value, dtype=torch.float32) for name, value in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--d-in", type=int, default=512)
    parser.add_argument("--d-sae", type=int, default=4096)
    parser.add_argument("--arch", choices=ARCHS, default="relu")
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--l1", type=float, default=1e-3)
    parser.add_argument("--l0", type=float, default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--init", default=None)
    parser.add_argument("--dump", default=None)
    args = parser.parse_args()
    if args.l0 is not None and args.arch in K_SPARSITY:
        parser.error(f"--l0: expected an architecture with a coefficient, received {args.arch} (its L0 is --k)")
    if args.steps < 1:
        parser.error(f"--steps: expected a positive integer, received {args.steps}")

    torch.set_num_threads(args.threads)
    arch = args.arch
    if args.init is None:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(args.batch, args.d_in, generator=gen)
        values = init_params(arch, args.d_in, args.d_sae, gen)
    else:
        x, values = load_init(args.init)
    batch, d_in = x.shape
    d_sae = values["w_enc"].shape[1]
    if args.l0 is not None:
        with torch.no_grad():
            z = (x - values["b_dec"]) @ values["w_enc"]
            firing = values["threshold"] if arch == "jumprelu" else torch.zeros(d_sae)
            values["b_enc"] = l0_bias(z, args.l0, firing)
            del z

    tracked = values.pop("threshold") if arch in TRACKED_THRESHOLD else None
    p = {name: torch.nn.Parameter(value) for name, value in values.items()}
    optimizer = torch.optim.Adam(list(p.values()), lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    unit_norm = arch not in FREE_DECODER
    prefixes = default_prefixes(d_sae)
    w_dec = p["w_dec"]

    times, losses = [], []
    start_l0 = None
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, f = step_loss(arch, p, x, args.k, args.l1, prefixes)
        loss.backward()
        if step == 0 and args.dump is not None:
            first_grads = {name: value.grad.detach().tolist() for name, value in p.items()}
        if unit_norm:
            with torch.no_grad():
                unit = w_dec / w_dec.norm(dim=-1, keepdim=True)
                w_dec.grad -= (w_dec.grad * unit).sum(-1, keepdim=True) * unit
        optimizer.step()
        with torch.no_grad():
            if unit_norm:
                w_dec /= w_dec.norm(dim=-1, keepdim=True)
            if tracked is not None:
                active = f[f > 0]
                if active.numel() > 0:
                    smallest = active.min()
                    tracked = (
                        torch.full_like(tracked, smallest.item())
                        if step == 0
                        else THRESHOLD_DECAY * tracked + (1 - THRESHOLD_DECAY) * smallest
                    )
        losses.append(loss.item())
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
        if step == 0:
            start_l0 = (f > 0).sum().item() / batch
        del f, loss

    if args.dump is not None:
        out = {name: value.detach().tolist() for name, value in p.items()}
        if tracked is not None:
            out["threshold"] = tracked.tolist()
        out["losses"] = losses
        out["grads"] = first_grads
        with open(args.dump, "w") as file:
            json.dump(out, file)

    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch",
        "arch": arch,
        "torch": torch.__version__,
        "batch": batch,
        "d_in": d_in,
        "d_sae": d_sae,
        "median_ms": round(median * 1e3, 1),
        "min_ms": round(min(times) * 1e3, 1),
        "max_ms": round(max(times) * 1e3, 1),
        "activations_per_s": round(batch / median),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "blas": blas_in_use(),
        "threads": args.threads,
        "start_l0": round(start_l0, 2),
    }))


if __name__ == "__main__":
    main()
