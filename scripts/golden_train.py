#!/usr/bin/env python3
"""Golden reference for the trainer: the upstream GPT recipe (UPSTREAM.md) at a tiny size, written
plainly in fp32 PyTorch on the CPU, trained for 10 optimizer steps. The TypeScript trainer loads the
same initial weights and batches and must reproduce the losses (tests/train/golden_*_test.ts), in
the spirit of llm.c's test_gpt2.

Run:  python3 -m venv .venv && .venv/bin/pip install torch numpy
      .venv/bin/python scripts/golden_train.py          # writes tests/fixtures/train_golden/

Choices stated once (the TypeScript side implements exactly the same):
- Orthogonalisation: Polar Express, 5 steps (coefficients below, as the engine's Muon), input
  scaled by 1/(||G||_F * 1.02 + 1e-6), run on X or X^T so the Gram matrix is the smaller side.
- Muon: Nesterov momentum (buf = lerp(buf, g, 1-mu); u = lerp(g, buf, mu)), momentum ramp
  0.85 -> 0.95 over 300 steps, second-moment normalisation (NorMuon: per row when rows >= cols,
  else per column, beta2 0.95, Frobenius norm preserved), lr * sqrt(max(1, rows/cols)), decoupled
  cautious weight decay p -= lr*u + lr*wd*p*(u*p >= 0) with wd = 0.2 * (1 - progress).
- AdamW: betas (0.8, 0.95), eps 1e-10, bias-corrected, no weight decay; LRs scaled by
  (width/768)^-0.5 for every AdamW group (embeddings 0.6, lm_head 0.004, x0 lambdas 0.5,
  resid lambdas 0.005).
- Schedule on progress = step / steps: flat to 0.5, then linear to 0.
- Attention window w: query i sees keys j with i - w <= j <= i (flash-attention convention);
  S = seq/2, L = seq; the last layer is always L.
- RMSNorm parameter-free, eps = torch F.rms_norm default for f32 (finfo(f32).eps).
- Init as upstream, except that the zero-initialised matrices (output projections, gates) get a
  small random init here (uniform +-0.1*bound): with exact zeros the gradients of the lambdas are
  pure rounding noise, and Adam turns noise into full-size steps of random sign, so no two
  implementations could agree. The trainer itself keeps upstream's zeros.
Weights are stored in torch's Linear layout (out, in), row-major f32 little-endian.
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                       "train_golden")

CONFIG = {
    "vocab_size": 128,
    "depth": 2,
    "n_embd": 64,
    "head_dim": 32,
    "seq_len": 32,
    "batch_size": 4,
    "window_pattern": "SL",
    "softcap": 15.0,
    "rope_base": 10000.0,
    "norm_eps": float(torch.finfo(torch.float32).eps),
    "ve_gate_channels": 32,
    "steps": 10,
    "seed": 1337,
    # optimizer
    "embedding_lr": 0.6,
    "unembedding_lr": 0.004,
    "matrix_lr": 0.04,
    "scalar_lr": 0.5,
    "resid_lr_frac": 0.01,
    "weight_decay": 0.2,
    "adam_betas": [0.8, 0.95],
    "adam_eps": 1e-10,
    "muon_momentum_start": 0.85,
    "muon_momentum_end": 0.95,
    "muon_momentum_ramp_steps": 300,
    "muon_beta2": 0.95,
    "ns_steps": 5,
    "warmdown_ratio": 0.5,
}

# Polar Express coefficients (a, b, c) per iteration: X <- a X + (b A + c A^2) X, A = X X^T.
POLAR_EXPRESS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551408284075),
]


def norm(x):
    """Parameter-free RMSNorm over the last dim."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + CONFIG["norm_eps"])


def rotary(x, cos, sin):
    """Half-split rotary on (B, T, H, D); cos/sin are (T, D/2)."""
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c + x2 * s, -x1 * s + x2 * c], dim=-1)


def has_value_embedding(layer, depth):
    """Alternating layers, always including the last."""
    return layer % 2 == (depth - 1) % 2


def layer_windows(cfg):
    """Left window per layer from the pattern; the last layer is always long."""
    T = cfg["seq_len"]
    pattern = cfg["window_pattern"]
    out = []
    for i in range(cfg["depth"]):
        ch = pattern[i % len(pattern)]
        out.append(T // 2 if ch == "S" else T)
    out[-1] = T
    return out


def init_params(cfg, gen):
    V, C, L = cfg["vocab_size"], cfg["n_embd"], cfg["depth"]
    H = C // cfg["head_dim"]
    kv = H * cfg["head_dim"]
    s = math.sqrt(3.0) / math.sqrt(C)

    def uniform(*shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1) * s

    def small(*shape):  # see the module docstring: zeros would make the golden ill-conditioned
        return uniform(*shape) * 0.1

    p = {}
    p["wte"] = torch.randn(V, C, generator=gen)
    for i in range(L):
        p[f"h.{i}.attn.c_q"] = uniform(C, C)
        p[f"h.{i}.attn.c_k"] = uniform(kv, C)
        p[f"h.{i}.attn.c_v"] = uniform(kv, C)
        p[f"h.{i}.attn.c_proj"] = small(C, C)
        if has_value_embedding(i, L):
            p[f"h.{i}.attn.ve_gate"] = small(H, cfg["ve_gate_channels"])
        p[f"h.{i}.mlp.c_fc"] = uniform(4 * C, C)
        p[f"h.{i}.mlp.c_proj"] = small(C, 4 * C)
        if has_value_embedding(i, L):
            p[f"ve.{i}"] = uniform(V, kv)
    p["lm_head"] = torch.randn(V, C, generator=gen) * 0.001
    p["resid_lambdas"] = torch.ones(L)
    p["x0_lambdas"] = torch.full((L,), 0.1)
    return p


def forward(p, cfg, idx, targets):
    B, T = idx.shape
    C, L, D = cfg["n_embd"], cfg["depth"], cfg["head_dim"]
    H = C // D
    inv_freq = 1.0 / (cfg["rope_base"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)  # (T, D/2)
    cos, sin = freqs.cos(), freqs.sin()
    windows = layer_windows(cfg)
    pos = torch.arange(T)
    dist = pos[:, None] - pos[None, :]  # (T, T): i - j

    x = norm(F.embedding(idx, p["wte"]))
    x0 = x
    for i in range(L):
        x = p["resid_lambdas"][i] * x + p["x0_lambdas"][i] * x0
        # attention
        h = norm(x)
        q = (h @ p[f"h.{i}.attn.c_q"].T).view(B, T, H, D)
        k = (h @ p[f"h.{i}.attn.c_k"].T).view(B, T, H, D)
        v = (h @ p[f"h.{i}.attn.c_v"].T).view(B, T, H, D)
        if has_value_embedding(i, L):
            ve = F.embedding(idx, p[f"ve.{i}"]).view(B, T, H, D)
            gate = 2 * torch.sigmoid(h[..., :cfg["ve_gate_channels"]] @ p[f"h.{i}.attn.ve_gate"].T)
            v = v + gate.unsqueeze(-1) * ve
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)
        q, k = norm(q), norm(k)
        att = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(D)
        allowed = (dist >= 0) & (dist <= windows[i])
        att = att.masked_fill(~allowed, float("-inf")).softmax(-1)
        y = torch.einsum("bhij,bjhd->bihd", att, v).reshape(B, T, C)
        x = x + y @ p[f"h.{i}.attn.c_proj"].T
        # mlp
        h = norm(x)
        x = x + F.relu(h @ p[f"h.{i}.mlp.c_fc"].T).square() @ p[f"h.{i}.mlp.c_proj"].T
    x = norm(x)
    logits = x @ p["lm_head"].T
    logits = cfg["softcap"] * torch.tanh(logits / cfg["softcap"])
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def orthogonalize(g, steps):
    tall = g.size(0) > g.size(1)
    x = g.T if tall else g
    x = x / (x.norm() * 1.02 + 1e-6)
    for a, b, c in POLAR_EXPRESS[:steps]:
        A = x @ x.T
        B = b * A + c * (A @ A)
        x = a * x + B @ x
    return x.T if tall else x


def lr_multiplier(progress, cfg):
    if progress < 1.0 - cfg["warmdown_ratio"]:
        return 1.0
    return max(0.0, (1.0 - progress) / cfg["warmdown_ratio"])


def muon_momentum(step, cfg):
    frac = min(step / cfg["muon_momentum_ramp_steps"], 1.0)
    return (1 - frac) * cfg["muon_momentum_start"] + frac * cfg["muon_momentum_end"]


class Optimizer:
    """AdamW groups + Muon for block matrices, as stated in the module docstring."""

    def __init__(self, p, cfg):
        self.cfg = cfg
        scale = (cfg["n_embd"] / 768) ** -0.5
        self.adam_lr = {}
        for name in p:
            if name == "wte" or name.startswith("ve."):
                self.adam_lr[name] = cfg["embedding_lr"] * scale
            elif name == "lm_head":
                self.adam_lr[name] = cfg["unembedding_lr"] * scale
            elif name == "x0_lambdas":
                self.adam_lr[name] = cfg["scalar_lr"] * scale
            elif name == "resid_lambdas":
                self.adam_lr[name] = cfg["scalar_lr"] * cfg["resid_lr_frac"] * scale
        self.muon = [n for n in p if n.startswith("h.")]
        self.state = {}
        self.t = 0

    def step(self, p, grads, step, progress):
        cfg = self.cfg
        lrm = lr_multiplier(progress, cfg)
        self.t += 1
        b1, b2 = cfg["adam_betas"]
        for name, base_lr in self.adam_lr.items():
            g = grads[name]
            st = self.state.setdefault(name, {"m": torch.zeros_like(g), "v": torch.zeros_like(g)})
            st["m"].lerp_(g, 1 - b1)
            st["v"].lerp_(g * g, 1 - b2)
            m_hat = st["m"] / (1 - b1 ** self.t)
            v_hat = st["v"] / (1 - b2 ** self.t)
            p[name] -= base_lr * lrm * m_hat / (v_hat.sqrt() + cfg["adam_eps"])
        mu = muon_momentum(step, cfg)
        wd = cfg["weight_decay"] * (1.0 - progress)
        for name in self.muon:
            g = grads[name]
            rows, cols = g.shape
            st = self.state.setdefault(name, {
                "buf": torch.zeros_like(g),
                "v": torch.zeros(rows, 1) if rows >= cols else torch.zeros(1, cols),
            })
            st["buf"].lerp_(g, 1 - mu)
            u = g.lerp(st["buf"], mu)  # Nesterov
            o = orthogonalize(u, cfg["ns_steps"])
            # second-moment normalisation along the longer side, Frobenius norm kept
            v_mean = (o * o).mean(dim=1 if rows >= cols else 0, keepdim=True)
            st["v"].lerp_(v_mean, 1 - cfg["muon_beta2"])
            scaled = o * st["v"].clamp_min(1e-10).rsqrt()
            o = scaled * (o.norm() / scaled.norm().clamp_min(1e-10))
            lr = cfg["matrix_lr"] * lrm * math.sqrt(max(1.0, rows / cols))
            mask = ((o * p[name]) >= 0).float()  # cautious: decay only where it agrees
            p[name] -= lr * o + lr * wd * p[name] * mask


def make_batches(cfg, rng):
    """A learnable token stream: a sparse random Markov chain (4 successors per token)."""
    V, B, T, n = cfg["vocab_size"], cfg["batch_size"], cfg["seq_len"], cfg["steps"]
    successors = rng.integers(0, V, size=(V, 4))
    total = n * B * (T + 1)
    stream = np.empty(total, dtype=np.int64)
    tok = 0
    for i in range(total):
        stream[i] = tok
        tok = successors[tok, rng.integers(0, 4)]
    return stream.reshape(n, B, T + 1)


def write_f32(path, tensors):
    with open(path, "wb") as f:
        for t in tensors:
            f.write(t.detach().contiguous().numpy().astype("<f4").tobytes())


def main():
    cfg = CONFIG
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = torch.Generator().manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    p = init_params(cfg, gen)
    names = list(p.keys())
    manifest_params = []
    offset = 0
    for n in names:
        manifest_params.append({"name": n, "shape": list(p[n].shape), "offset": offset})
        offset += p[n].numel()
    write_f32(os.path.join(OUT_DIR, "init.bin"), [p[n] for n in names])
    batches = make_batches(cfg, rng)
    batches.astype("<i4").tofile(os.path.join(OUT_DIR, "tokens.bin"))

    opt = Optimizer(p, cfg)
    losses = []
    for step in range(cfg["steps"]):
        for t in p.values():
            t.requires_grad_(True)
            t.grad = None
        row = torch.from_numpy(batches[step])
        loss = forward(p, cfg, row[:, :-1], row[:, 1:])
        loss.backward()
        grads = {n: p[n].grad.detach().clone() for n in names}
        losses.append(loss.item())
        if step == 0:
            write_f32(os.path.join(OUT_DIR, "grads0.bin"), [grads[n] for n in names])
        with torch.no_grad():
            for n in names:
                p[n] = p[n].detach().clone()
            opt.step(p, grads, step, step / cfg["steps"])
        if step == 0:
            write_f32(os.path.join(OUT_DIR, "params1.bin"), [p[n] for n in names])
        print(f"step {step}: loss {loss.item():.6f}")

    manifest = {
        "about": "scripts/golden_train.py: tiny upstream recipe in fp32 PyTorch, 10 steps",
        "torch": torch.__version__,
        "config": cfg,
        "windows": layer_windows(cfg),
        "layout": "f32 little-endian, row-major, Linear weights as (out, in)",
        "params": manifest_params,
        "num_floats": offset,
        "files": {
            "init": "init.bin",
            "grads0": "grads0.bin (gradients of step 0)",
            "params1": "params1.bin (weights after optimizer step 0)",
            "tokens": "tokens.bin (int32, [steps, batch, seq+1])",
        },
        "losses": losses,
    }
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def bench(steps=3, threads=2, tokens=16384, rows=16):
    """Tokens/s of full training steps (fwd+bwd+optim) of the model of the reference CPU config
    (depth 4, width 256, head_dim 64, seq 256, vocab 4096), `tokens` per step in micro-batches
    of `rows` rows (the reference config: 16384 tokens as 4 x 16 rows; the CPU default recipe:
    2048 tokens as 1 x 8 rows), fp32, `threads` CPU threads. Prints one JSON line."""
    import time
    torch.set_num_threads(threads)
    cfg = dict(CONFIG, vocab_size=4096, depth=4, n_embd=256, head_dim=64, seq_len=256,
               window_pattern="L", batch_size=rows)
    gen = torch.Generator().manual_seed(0)
    p = init_params(cfg, gen)
    opt = Optimizer(p, cfg)
    micro = max(1, tokens // (rows * cfg["seq_len"]))
    times = []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        grads = {n: torch.zeros_like(t) for n, t in p.items()}
        for _ in range(micro):
            for t in p.values():
                t.requires_grad_(True)
                t.grad = None
            idx = torch.randint(0, cfg["vocab_size"], (cfg["batch_size"], cfg["seq_len"] + 1),
                                generator=gen)
            loss = forward(p, cfg, idx[:, :-1], idx[:, 1:]) / micro
            loss.backward()
            for n in p:
                grads[n] += p[n].grad
        with torch.no_grad():
            for n in list(p.keys()):
                p[n] = p[n].detach().clone()
            opt.step(p, grads, step, 0.0)
        if step > 0:  # the first step warms up
            times.append(time.perf_counter() - t0)
    tokens = micro * cfg["batch_size"] * cfg["seq_len"]
    best = min(times)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "tokens_per_step": tokens,
                      "steps": len(times), "tokens_per_second": tokens / best,
                      "median_tokens_per_second": tokens / sorted(times)[len(times) // 2]}))


if __name__ == "__main__":
    import sys
    if "--bench" in sys.argv:
        def flag(name, default):
            return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default
        bench(steps=flag("--steps", 3), tokens=flag("--tokens", 16384), rows=flag("--rows", 16))
    else:
        main()
