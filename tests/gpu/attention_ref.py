"""tests/gpu/attention_ref.py — the reference and the error rule the attention tests share.

Reference: attention computed by plain torch ops in fp32 (or fp64) from the same fp16/bf16 inputs,
with FlashAttention's semantics (bottom-right causal, GQA by head groups, rows with no visible key
output 0 and lse +inf). It is differentiable, and finite everywhere, so its gradients are the
reference gradients.

Rule (docs/architecture.md, "How we measure"): max |ours - ref| <= factor x max |torch_lowp - ref| (+ a tiny absolute floor for
cases where PyTorch is exact, e.g. a single key), factor 2 for outputs and 3 for gradients, where
torch_lowp is PyTorch's SDPA on the same fp16/bf16 inputs in that precision.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ABS_FLOOR = 1e-5  # below one fp16 ulp at 0.02; only matters when PyTorch's error is exactly 0


def fresh_seed() -> int:
    """A new seed per test (fresh inputs every run), fixed by TESSERA_TEST_SEED to reproduce."""
    env = os.environ.get("TESSERA_TEST_SEED")
    seed = int(env) if env else random.SystemRandom().randrange(2**31)
    torch.manual_seed(seed)
    return seed


def causal_mask(seqlen_q: int, seqlen_k: int, device) -> torch.Tensor:
    """True where key j is hidden from query i: j > i + seqlen_k - seqlen_q (bottom-right)."""
    i = torch.arange(seqlen_q, device=device)[:, None]
    j = torch.arange(seqlen_k, device=device)[None, :]
    return j > i + (seqlen_k - seqlen_q)


def attention_ref(q, k, v, causal: bool, softmax_scale: float, dtype=torch.float32):
    """q: [B, Sq, H, D], k/v: [B, Sk, Hkv, D] -> out [B, Sq, H, D] (dtype), lse [B, H, Sq] fp32."""
    qf, kf, vf = (t.to(dtype) for t in (q, k, v))
    group = q.shape[2] // k.shape[2]
    kf = kf.repeat_interleave(group, dim=2)
    vf = vf.repeat_interleave(group, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", qf, kf) * softmax_scale
    seqlen_q, seqlen_k = q.shape[1], k.shape[1]
    if causal:
        hidden = causal_mask(seqlen_q, seqlen_k, q.device)
    else:
        hidden = torch.zeros(seqlen_q, seqlen_k, dtype=torch.bool, device=q.device)
    if seqlen_k == 0:
        hidden = torch.ones(seqlen_q, 0, dtype=torch.bool, device=q.device)
    row_visible = ~hidden.all(dim=-1) if seqlen_k > 0 else torch.zeros(seqlen_q, dtype=torch.bool,
                                                                       device=q.device)
    # Fully hidden rows are replaced by zeros before softmax (finite values and gradients) and
    # their probabilities zeroed after.
    s = s.masked_fill(hidden, float("-inf"))
    s = torch.where(row_visible[:, None], s, torch.zeros((), dtype=s.dtype, device=s.device))
    p = torch.softmax(s, dim=-1) * row_visible[:, None]
    out = torch.einsum("bhqk,bkhd->bqhd", p, vf)
    lse = torch.logsumexp(s, dim=-1)
    lse = torch.where(row_visible, lse, torch.full((), float("inf"), dtype=lse.dtype,
                                                   device=lse.device))
    return out, lse.float(), row_visible


# fp32 scores one reference chunk may hold (1 GiB): the benchmark shapes (S = 16384, 16-32 heads)
# would need 16-32 GiB at once.
REF_CHUNK_ELEMS = 2**28


def ref_chunks(q, k):
    """(batch index, kv-head slice, q-head slice) pieces whose fp32 scores fit REF_CHUNK_ELEMS
    (one kv head with its query heads at least), for the references of large cases."""
    batch, seqlen_q, heads, _ = q.shape
    kv_heads, seqlen_k = k.shape[2], k.shape[1]
    group = heads // kv_heads
    per_kv_head = max(1, group * seqlen_q * seqlen_k)
    step = max(1, min(kv_heads, REF_CHUNK_ELEMS // per_kv_head))
    for b in range(batch):
        for h0 in range(0, kv_heads, step):
            h1 = min(kv_heads, h0 + step)
            yield b, slice(h0, h1), slice(h0 * group, h1 * group)


def attention_ref_chunked(q, k, v, causal: bool, softmax_scale: float):
    """attention_ref over ref_chunks: the same results at any size (out in fp32)."""
    out = torch.empty(q.shape, dtype=torch.float32, device=q.device)
    lse = torch.empty(q.shape[0], q.shape[2], q.shape[1], dtype=torch.float32, device=q.device)
    visible = None
    for b, kvh, qh in ref_chunks(q, k):
        o, l, visible = attention_ref(q[b:b + 1, :, qh], k[b:b + 1, :, kvh], v[b:b + 1, :, kvh],
                                      causal, softmax_scale)
        out[b:b + 1, :, qh] = o
        lse[b:b + 1, qh] = l
    return out, lse, visible


def sdpa_lowp(q, k, v, causal: bool, softmax_scale: float):
    """PyTorch's own attention in the inputs' precision ([B, S, H, D] in and out)."""
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))  # SDPA layout [B, H, S, D]
    seqlen_q, seqlen_k = q.shape[1], k.shape[1]
    gqa = q.shape[2] != k.shape[2]
    if causal and seqlen_q != seqlen_k:
        mask = ~causal_mask(seqlen_q, seqlen_k, q.device)
        o = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, scale=softmax_scale,
                                           enable_gqa=gqa)
    else:
        o = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, scale=softmax_scale,
                                           enable_gqa=gqa)
    return o.transpose(1, 2)


def max_err(a: torch.Tensor, b: torch.Tensor, rows=None) -> float:
    d = (a.double() - b.double()).abs()
    if rows is not None:  # rows: bool [Sq] of visible query rows ([B, Sq, H, D] tensors)
        d = d[:, rows]
    d = torch.nan_to_num(d, nan=float("inf"))
    return d.max().item() if d.numel() else 0.0


@dataclass
class ErrorReport:
    name: str
    ours: float
    torch: float
    factor: float

    @property
    def bound(self) -> float:
        return self.factor * self.torch + ABS_FLOOR

    def ok(self) -> bool:
        return self.ours <= self.bound

    def __str__(self) -> str:
        return (f"{self.name}: tessera err {self.ours:.3e}, torch err {self.torch:.3e}, "
                f"bound {self.factor:g}x = {self.bound:.3e}")


def check(name: str, ours, lowp, ref, factor: float, rows=None, seed=None) -> ErrorReport:
    """Asserts the rule; ours/lowp/ref of the same shape; NaN in ours counts as infinite error."""
    report = ErrorReport(name, max_err(ours, ref, rows), max_err(lowp, ref, rows), factor)
    assert report.ok(), f"{report} (seed {seed})"
    return report


def poisoned(shape, dtype, device) -> torch.Tensor:
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


def rand_qkv(batch, seqlen_q, seqlen_k, heads, kv_heads, head_dim, dtype, device="cuda",
             requires_grad=False):
    q = torch.randn(batch, seqlen_q, heads, head_dim, dtype=dtype, device=device)
    k = torch.randn(batch, seqlen_k, kv_heads, head_dim, dtype=dtype, device=device)
    v = torch.randn(batch, seqlen_k, kv_heads, head_dim, dtype=dtype, device=device)
    if requires_grad:
        for t in (q, k, v):
            t.requires_grad_(True)
    return q, k, v
