#!/usr/bin/env python3
"""PyTorch baseline of the forward benchmark: a Hugging Face folder's forward pass in plain torch.

Reads config.json and model.safetensors (float32, F16 or BF16; parsed here, no `safetensors` or
`transformers` package needed) of a GPT-2, GPT-NeoX (Pythia) or Llama model, as lib/bench/random_models.ts
writes them and `save_pretrained` does, and runs WINDOWS windows of TOKENS tokens through blocks 0..LAYER,
capturing blocks.LAYER.hook_resid_post (the residual stream after that block), under torch.inference_mode.
The maths is each family's, written with plain tensor ops as transformers writes it:

  gpt2      x = wte[ids] + wpe[pos]; x += c_proj(attn(ln_1(x))); x += mlp(ln_2(x)),
            mlp(h) = c_proj(gelu_tanh(c_fc(h))); Conv1D weights are [in, out] (torch.addmm)
  gpt_neox  x = embed_in[ids]; x += dense(attn(input_layernorm(x))) + mlp(post_attention_layernorm(x))
            (parallel residual; sequential when use_parallel_residual is false), exact GELU; the fused
            query_key_value rows are grouped per head as (q, k, v); rotary (rotate_half) on the first
            rotary_pct of each head
  llama     x = embed_tokens[ids]; x += o_proj(attn(rms(x))); x += down(silu(gate(rms(x))) * up(rms(x)));
            rotary (rotate_half) on whole heads, grouped-query attention

Attention is causal softmax(q k^T / sqrt(d_head)) v. Token ids are the benchmark's deterministic ones:
id(w, t) = ((w * TOKENS + t) * 2654435761 + SEED * 97) mod vocab, the same formula as lib/bench/forward.ts.

Prints one JSON line: impl, family, torch, windows, tokens, layer, threads, blas, median_ms, min_ms,
max_ms, tokens_per_s (from the median forward), tokens_per_s_min/max, load_s, weights_mb, peak_rss_mb
(the whole process: loading's peak or the forwards'), forward_peak_rss_mb (the peak while the forwards run, counted from the end of
loading: /proc/self/clear_refs resets the high-water mark) and forward_extra_mb (that peak less the RSS
after loading). --dump FILE writes the activations at every hook point of blocks 0..LAYER (and
hook_embed) of the first forward as a safetensors file, which the tests compare with saekit's.

  /usr/bin/python3 tasks/baselines/torch_forward.py --model runs/bench-models/gpt2-0 --layer 5
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import time

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def blas_in_use() -> str:
    with open(f"/proc/{os.getpid()}/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line.lower()}
    if any("openblas" in name for name in names):
        return "openblas"
    if any("mkl" in name for name in names):
        return "mkl"
    return "reference" if names else "unknown"


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def read_safetensors(path: str) -> dict:
    """Tensors by name; float32 ones are views of one buffer that holds the file (no second copy)."""
    data = bytearray(os.path.getsize(path))
    with open(path, "rb") as f:
        f.readinto(data)
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DTYPES:
            continue  # metadata, and buffers such as GPT-2's U8 causal masks
        start, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        count = math.prod(info["shape"])
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=base + start) if count else torch.zeros(0)
        t = t.reshape(info["shape"])
        tensors[name] = t if dtype == torch.float32 else t.float()
    return tensors


def causal_attention(q, k, v):
    """q [B, H, T, dh], k and v [B, Hkv, T, dh] -> [B, T, H * dh]."""
    b, h, t, dh = q.shape
    if k.shape[1] != h:
        k = k.repeat_interleave(h // k.shape[1], dim=1)
        v = v.repeat_interleave(h // v.shape[1], dim=1)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    probs = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    return torch.matmul(probs, v).transpose(1, 2).reshape(b, t, h * dh)


def rotary_tables(dims: int, seq: int, base: float):
    inv_freq = 1.0 / (base ** (torch.arange(0, dims, 2, dtype=torch.int64).float() / dims))
    freqs = torch.outer(torch.arange(seq, dtype=torch.int64).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Forward:
    """One family's forward through blocks 0..layer; hook(name, value) sees every hook point when dumping."""

    def __init__(self, config: dict, w: dict):
        self.c = config
        self.w = w
        self.family = config["model_type"]
        if self.family not in ("gpt2", "gpt_neox", "llama"):
            raise SystemExit(f"config.json: model_type expected gpt2, gpt_neox or llama, received {self.family}")

    def run(self, ids, layer: int, hook):
        return getattr(self, self.family)(ids, layer, hook)

    def gpt2(self, ids, layer, hook):
        c, w = self.c, self.w
        p = "transformer." if "transformer.wte.weight" in w else ""
        d, heads = c["n_embd"], c["n_head"]
        eps = c.get("layer_norm_epsilon", 1e-5)
        b, t = ids.shape
        x = hook("hook_embed", F.embedding(ids, w[p + "wte.weight"]))
        x = x + w[p + "wpe.weight"][:t]

        def conv1d(h, name):  # Conv1D: [in, out] weight, as transformers computes it
            out = torch.addmm(w[name + ".bias"], h.reshape(-1, h.shape[-1]), w[name + ".weight"])
            return out.reshape(b, t, -1)

        for l in range(layer + 1):
            at = f"{p}h.{l}."
            x = hook(f"blocks.{l}.hook_resid_pre", x)
            h = hook(f"blocks.{l}.ln1.hook_normalized", F.layer_norm(x, (d,), w[at + "ln_1.weight"], w[at + "ln_1.bias"], eps))
            q, k, v = conv1d(h, at + "attn.c_attn").split(d, dim=2)
            split = lambda z: z.reshape(b, t, heads, d // heads).transpose(1, 2)
            z = causal_attention(split(q), split(k), split(v))
            x = hook(f"blocks.{l}.hook_resid_mid", x + hook(f"blocks.{l}.hook_attn_out", conv1d(z, at + "attn.c_proj")))
            h = hook(f"blocks.{l}.ln2.hook_normalized", F.layer_norm(x, (d,), w[at + "ln_2.weight"], w[at + "ln_2.bias"], eps))
            post = hook(f"blocks.{l}.mlp.hook_post", F.gelu(conv1d(h, at + "mlp.c_fc"), approximate="tanh"))
            x = hook(f"blocks.{l}.hook_resid_post", x + hook(f"blocks.{l}.hook_mlp_out", conv1d(post, at + "mlp.c_proj")))
        return x

    def gpt_neox(self, ids, layer, hook):
        c, w = self.c, self.w
        d, heads = c["hidden_size"], c["num_attention_heads"]
        dh = d // heads
        eps = c.get("layer_norm_eps", 1e-5)
        pct = c.get("rotary_pct", c.get("partial_rotary_factor", 0.25))
        rot = int(dh * pct)
        base = c.get("rotary_emb_base", c.get("rope_theta", 10000))
        parallel = c.get("use_parallel_residual", True)
        exact = c.get("hidden_act", "gelu") == "gelu"
        b, t = ids.shape
        cos, sin = rotary_tables(rot, t, base)
        x = hook("hook_embed", F.embedding(ids, w["gpt_neox.embed_in.weight"]))

        def rotate(z):  # z [B, H, T, dh]: rotate_half on the first rot dimensions
            zr, zp = z[..., :rot], z[..., rot:]
            return torch.cat((zr * cos + rotate_half(zr) * sin, zp), dim=-1)

        def linear(h, name):
            return F.linear(h, w[name + ".weight"], w.get(name + ".bias"))

        for l in range(layer + 1):
            at = f"gpt_neox.layers.{l}."
            x = hook(f"blocks.{l}.hook_resid_pre", x)
            h = hook(f"blocks.{l}.ln1.hook_normalized",
                     F.layer_norm(x, (d,), w[at + "input_layernorm.weight"], w[at + "input_layernorm.bias"], eps))
            qkv = linear(h, at + "attention.query_key_value").reshape(b, t, heads, 3 * dh).transpose(1, 2)
            q, k, v = qkv[..., :dh], qkv[..., dh : 2 * dh], qkv[..., 2 * dh :]
            z = causal_attention(rotate(q), rotate(k), v)
            attn = hook(f"blocks.{l}.hook_attn_out", linear(z, at + "attention.dense"))
            mlp_in = x if parallel else hook(f"blocks.{l}.hook_resid_mid", x + attn)
            h2 = hook(f"blocks.{l}.ln2.hook_normalized",
                      F.layer_norm(mlp_in, (d,), w[at + "post_attention_layernorm.weight"],
                                   w[at + "post_attention_layernorm.bias"], eps))
            pre = linear(h2, at + "mlp.dense_h_to_4h")
            post = hook(f"blocks.{l}.mlp.hook_post", F.gelu(pre) if exact else F.gelu(pre, approximate="tanh"))
            mlp = hook(f"blocks.{l}.hook_mlp_out", linear(post, at + "mlp.dense_4h_to_h"))
            x = hook(f"blocks.{l}.hook_resid_post", x + attn + mlp if parallel else mlp_in + mlp)
        return x

    def llama(self, ids, layer, hook):
        c, w = self.c, self.w
        d, heads = c["hidden_size"], c["num_attention_heads"]
        kv_heads = c.get("num_key_value_heads", heads)
        dh = c.get("head_dim", d // heads)
        eps = c.get("rms_norm_eps", 1e-6)
        b, t = ids.shape
        cos, sin = rotary_tables(dh, t, c.get("rope_theta", 10000))
        x = hook("hook_embed", F.embedding(ids, w["model.embed_tokens.weight"]))

        def rms(z, gain):
            return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + eps) * gain

        def heads_of(z, n):
            return z.reshape(b, t, n, dh).transpose(1, 2)

        for l in range(layer + 1):
            at = f"model.layers.{l}."
            x = hook(f"blocks.{l}.hook_resid_pre", x)
            h = hook(f"blocks.{l}.ln1.hook_normalized", rms(x, w[at + "input_layernorm.weight"]))
            q = heads_of(F.linear(h, w[at + "self_attn.q_proj.weight"]), heads)
            k = heads_of(F.linear(h, w[at + "self_attn.k_proj.weight"]), kv_heads)
            v = heads_of(F.linear(h, w[at + "self_attn.v_proj.weight"]), kv_heads)
            z = causal_attention(q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin, v)
            attn = hook(f"blocks.{l}.hook_attn_out", F.linear(z, w[at + "self_attn.o_proj.weight"]))
            x = hook(f"blocks.{l}.hook_resid_mid", x + attn)
            h2 = hook(f"blocks.{l}.ln2.hook_normalized", rms(x, w[at + "post_attention_layernorm.weight"]))
            gate = F.linear(h2, w[at + "mlp.gate_proj.weight"])
            post = hook(f"blocks.{l}.mlp.hook_post", F.silu(gate) * F.linear(h2, w[at + "mlp.up_proj.weight"]))
            mlp = hook(f"blocks.{l}.hook_mlp_out", F.linear(post, w[at + "mlp.down_proj.weight"]))
            x = hook(f"blocks.{l}.hook_resid_post", x + mlp)
        return x


def bench_tokens(windows: int, tokens: int, vocab: int, seed: int):
    ids = [[((wi * tokens + ti) * 2654435761 + seed * 97) % vocab for ti in range(tokens)] for wi in range(windows)]
    return torch.tensor(ids, dtype=torch.int64)


def write_safetensors(path: str, tensors: dict) -> None:
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = tensors[name].contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)


def vocab_of(config: dict) -> int:
    return config["vocab_size"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face folder (config.json, model.safetensors)")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--layer", type=int, default=5, help="the last block run; its hook_resid_post is captured")
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0, help="of the token ids")
    parser.add_argument("--dump", default=None, help="write every hook's activations of the first forward here")
    args = parser.parse_args()
    for name in ("windows", "tokens", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: expected a positive integer, received {getattr(args, name)}")
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    weights = read_safetensors(os.path.join(args.model, "model.safetensors"))
    load_s = time.perf_counter() - start
    forward = Forward(config, weights)
    layers = config.get("n_layer", config.get("num_hidden_layers"))
    if not 0 <= args.layer < layers:
        parser.error(f"--layer: expected an integer in [0, {layers - 1}], received {args.layer}")
    max_seq = config.get("n_positions", config.get("max_position_embeddings", 2048))
    if args.tokens > max_seq:
        parser.error(f"--tokens: expected at most {max_seq} (the model's positions), received {args.tokens}")
    ids = bench_tokens(args.windows, args.tokens, vocab_of(config), args.seed)
    weights_mb = sum(t.numel() * 4 for t in weights.values()) / 2**20
    after_load = rss_mb("VmRSS")
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:  # start the high-water mark anew: the forward's own peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

    dumped = {}

    def record(name, value):
        dumped[name] = value.clone()
        return value

    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.repeats):
            hook = record if (args.dump and i == 0) else (lambda name, value: value)
            t0 = time.perf_counter()
            out = forward.run(ids, args.layer, hook)
            out = out.contiguous()
            elapsed = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(elapsed)
    forward_peak = rss_mb("VmHWM")
    if args.dump:
        write_safetensors(args.dump, dumped)
    tokens = args.windows * args.tokens
    med = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch",
        "family": forward.family,
        "torch": torch.__version__,
        "windows": args.windows,
        "tokens": args.tokens,
        "layer": args.layer,
        "threads": args.threads,
        "blas": blas_in_use(),
        "median_ms": round(med * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "tokens_per_s": round(tokens / med),
        "tokens_per_s_min": round(tokens / max(times)),
        "tokens_per_s_max": round(tokens / min(times)),
        "load_s": round(load_s, 2),
        "weights_mb": round(weights_mb),
        "peak_rss_mb": round(max(load_peak, forward_peak)),
        "forward_peak_rss_mb": round(forward_peak),
        "forward_extra_mb": round(forward_peak - after_load),
    }))


if __name__ == "__main__":
    main()
