#!/usr/bin/env python3
"""PyTorch golden values for the engine's ops: writes tests/fixtures/ops/golden.json.

A tiny configuration of every op the GPT recipe uses (linear, rmsnorm, rotary, windowed causal
attention, softcapped cross-entropy) with inputs, outputs and the gradients of
L = sum(out * r) for a random r, plus two steps of AdamW and Muon written exactly as upstream's
fused optimizer steps (in float32, without the bf16 cast of the orthogonalisation).
tests/engine/golden_test.ts compares every backend against it.

Re-run (torch in a venv; pip is configured with a local index here):
    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python scripts/golden_ops.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float32)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ops", "golden.json")


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def rand(*shape, scale=1.0):
    return (torch.rand(*shape) * 2 - 1) * scale


def leaf(t):
    return t.clone().requires_grad_(True)


fixtures = {}

# ---- linear: y = x @ w^T ------------------------------------------------------------------
x, w = leaf(rand(2, 3, 8)), leaf(rand(6, 8))
y = F.linear(x, w)
r = rand(*y.shape)
(y * r).sum().backward()
fixtures["linear"] = {"x": flat(x), "xShape": list(x.shape), "w": flat(w), "wShape": list(w.shape),
                      "r": flat(r), "y": flat(y), "dx": flat(x.grad), "dw": flat(w.grad)}

# ---- parameter-free RMSNorm (F.rms_norm, eps None = finfo(f32).eps) -------------------------
x = leaf(rand(2, 3, 8, scale=2.0))
y = F.rms_norm(x, (x.size(-1),))
r = rand(*y.shape)
(y * r).sum().backward()
fixtures["rmsnorm"] = {"x": flat(x), "shape": list(x.shape), "r": flat(r), "y": flat(y),
                       "dx": flat(x.grad)}

# ---- rotary, half split, base 10000, on (B, T, H, D) ----------------------------------------
B, T, H, D = 1, 5, 2, 8
x = leaf(rand(B, T, H, D))
inv_freq = 1.0 / (10000 ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
cos, sin = freqs.cos().float()[None, :, None, :], freqs.sin().float()[None, :, None, :]
x1, x2 = x[..., : D // 2], x[..., D // 2:]
y = torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], dim=3)
r = rand(*y.shape)
(y * r).sum().backward()
fixtures["rotary"] = {"x": flat(x), "shape": [B, T, H, D], "r": flat(r), "y": flat(y),
                      "dx": flat(x.grad)}

# ---- causal attention with a sliding window (flash-attn window_size=(window, 0)) ------------
B, T, H, D, window = 2, 7, 2, 4, 2
q, k, v = leaf(rand(B, T, H, D)), leaf(rand(B, T, H, D)), leaf(rand(B, T, H, D))
i = torch.arange(T)[:, None]
j = torch.arange(T)[None, :]
mask = (j <= i) & (i - j <= window)
yh = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                    attn_mask=mask)
y = yh.transpose(1, 2).reshape(B, T, H * D)
r = rand(*y.shape)
(y * r).sum().backward()
fixtures["attention"] = {"q": flat(q), "k": flat(k), "v": flat(v), "shape": [B, T, H, D],
                         "window": window, "r": flat(r), "y": flat(y), "dq": flat(q.grad),
                         "dk": flat(k.grad), "dv": flat(v.grad)}

# ---- softcapped cross-entropy: mean loss and per-token losses -------------------------------
N, V, cap = 6, 11, 3.0
logits = leaf(rand(N, V, scale=5.0))
targets = torch.randint(0, V, (N,))
z = cap * torch.tanh(logits / cap)
losses = F.cross_entropy(z, targets, reduction="none")
loss = losses.mean()
loss.backward()
fixtures["cross_entropy"] = {"logits": flat(logits), "shape": [N, V], "targets":
                             targets.tolist(), "softcap": cap, "losses": flat(losses),
                             "loss": float(loss.detach()), "dlogits": flat(logits.grad)}


# ---- AdamW: upstream adamw_step_fused, two steps --------------------------------------------
def adamw_step(p, grad, m, v, step, lr, beta1, beta2, eps, wd):
    p.mul_(1 - lr * wd)
    m.lerp_(grad, 1 - beta1)
    v.lerp_(grad.square(), 1 - beta2)
    bias1 = 1 - beta1 ** step
    bias2 = 1 - beta2 ** step
    denom = (v / bias2).sqrt() + eps
    p.add_(m / denom, alpha=-(lr / bias1))


p = rand(4, 5)
grads = [rand(4, 5), rand(4, 5)]
hp = {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-10, "wd": 0.1}
fixtures["adamw"] = {"p0": flat(p), "shape": [4, 5], "grads": [flat(g) for g in grads], **hp}
m, v = torch.zeros_like(p), torch.zeros_like(p)
for s, g in enumerate(grads, start=1):
    adamw_step(p, g, m, v, s, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"], hp["wd"])
fixtures["adamw"]["p2"] = flat(p)

# ---- Muon: upstream muon_step_fused in float32, two steps, a wide and a tall matrix ---------
POLAR = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]


def muon_step(grad, p, mom, second, momentum, lr, wd, beta2, ns_steps, red_dim):
    mom.lerp_(grad, 1 - momentum)
    g = grad.lerp(mom, momentum)
    X = g / (g.norm() * 1.02 + 1e-6)
    if g.size(-2) > g.size(-1):
        for a, b, c in POLAR[:ns_steps]:
            A = X.mT @ X
            Bm = b * A + c * (A @ A)
            X = a * X + X @ Bm
    else:
        for a, b, c in POLAR[:ns_steps]:
            A = X @ X.mT
            Bm = b * A + c * (A @ A)
            X = a * X + Bm @ X
    g = X
    v_mean = g.square().mean(dim=red_dim, keepdim=True)
    red_dim_size = g.size(red_dim)
    v_norm = (v_mean.sum() * red_dim_size).sqrt()
    second.lerp_(v_mean, 1 - beta2)
    step_size = second.clamp_min(1e-10).rsqrt()
    v_norm_new = ((v_mean * red_dim_size) * step_size.square()).sum().sqrt()
    g = g * (step_size * (v_norm / v_norm_new.clamp_min(1e-10)))
    mask = (g * p) >= 0
    p.sub_(lr * g + lr * wd * p * mask)


for name, (rows, cols) in {"muon_wide": (6, 10), "muon_tall": (10, 6)}.items():
    p = rand(rows, cols, scale=0.5)
    grads = [rand(rows, cols), rand(rows, cols)]
    hp = {"lr": 0.02, "momentum": 0.9, "wd": 0.2, "beta2": 0.95}
    fixtures[name] = {"p0": flat(p), "shape": [rows, cols], "grads": [flat(g) for g in grads],
                      **hp}
    mom = torch.zeros_like(p)
    red_dim = -1 if rows >= cols else -2
    second = torch.zeros((rows, 1) if rows >= cols else (1, cols))
    lr = hp["lr"] * max(1.0, rows / cols) ** 0.5  # upstream scales lr by the aspect ratio
    for g in grads:
        muon_step(g.clone(), p, mom, second, hp["momentum"], lr, hp["wd"], hp["beta2"], 5, red_dim)
    fixtures[name]["p2"] = flat(p)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"generator": "scripts/golden_ops.py", "torch": torch.__version__, **fixtures}, f)
    f.write("\n")
print(f"wrote {os.path.relpath(OUT)}: {', '.join(fixtures)}")
assert not math.isnan(fixtures["cross_entropy"]["loss"])
