#!/usr/bin/env python3
"""PyTorch baseline for `deno task bench`: the same SAE training step as saekit's.

The step, for x of shape [batch, d_in] (--arch topk keeps the k largest of each row, MSE only):
  f     = relu((x - b_dec) @ W_enc + b_enc)
  x_hat = f @ W_dec + b_dec
  loss  = mean_batch(l1 * sum_j |f_j| + mean_i (x_hat_i - x_i)^2)
  backward; remove from each W_dec row's gradient its part along the row;
  Adam step (lr 1e-3, betas 0.9/0.99); rescale W_dec rows to unit norm.

Dense PyTorch, as a user of the Python SAE libraries runs it. Prints one JSON
line: median_ms, min_ms, max_ms, activations_per_s, peak_rss_mb, blas, threads.
"""
import argparse
import json
import os
import resource
import statistics
import time

import torch


def blas_in_use() -> str:
    with open(f"/proc/{os.getpid()}/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line.lower()}
    if any("openblas" in name for name in names):
        return "openblas"
    if any("mkl" in name for name in names):
        return "mkl"
    return "reference" if names else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--d-in", type=int, default=512)
    parser.add_argument("--d-sae", type=int, default=4096)
    parser.add_argument("--arch", choices=["relu", "topk"], default="relu")
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--l1", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    batch, d_in, d_sae = args.batch, args.d_in, args.d_sae
    x = torch.randn(batch, d_in, generator=gen)
    w_enc = torch.nn.Parameter(torch.empty(d_in, d_sae).uniform_(-(6 / d_in) ** 0.5, (6 / d_in) ** 0.5, generator=gen))
    b_enc = torch.nn.Parameter(torch.empty(d_sae).uniform_(-(1 / d_in) ** 0.5, (1 / d_in) ** 0.5, generator=gen))
    w_dec = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(d_sae, d_in, generator=gen), dim=-1))
    b_dec = torch.nn.Parameter(torch.zeros(d_in))
    optimizer = torch.optim.Adam([w_enc, b_enc, w_dec, b_dec], lr=1e-3, betas=(0.9, 0.99))

    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        pre = (x - b_dec) @ w_enc + b_enc
        if args.arch == "relu":
            f = torch.relu(pre)
        else:  # TopK, dense as the Python libraries compute it
            values, indices = torch.topk(pre, args.k, dim=-1)
            f = torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))
        x_hat = f @ w_dec + b_dec
        loss = (x_hat - x).pow(2).mean(-1).mean()
        if args.arch == "relu":
            loss = loss + args.l1 * f.abs().sum(-1).mean()
        loss.backward()
        with torch.no_grad():
            unit = w_dec / w_dec.norm(dim=-1, keepdim=True)
            w_dec.grad -= (w_dec.grad * unit).sum(-1, keepdim=True) * unit
        optimizer.step()
        with torch.no_grad():
            w_dec /= w_dec.norm(dim=-1, keepdim=True)
        loss.item()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)

    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch",
        "arch": args.arch,
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
    }))


if __name__ == "__main__":
    main()
