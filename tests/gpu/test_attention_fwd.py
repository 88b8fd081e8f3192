"""tests/gpu/test_attention_fwd.py — the forward kernel against an fp32 reference (docs/architecture.md, "How we measure").

Every case: fresh random inputs, output and lse poisoned with NaN before the launch (through
tessera.attention_fwd_into), max error <= 2x PyTorch SDPA's error in the same precision, lse
compared too. The shapes are tests/attention_cases.py's, the registry bench/kernels/attention.py
times: seqlens 1, 17, 97, 128, 1025, 4096, every head dim and dtype, causal and not, Sq != Sk both
ways (bottom-right causal), MHA / GQA / MQA with non-power-of-two head counts, and the benchmark's
shapes up to S = 16384. Here besides: softmax scales, fully masked rows, strided views, varlen
batches with uneven (1 and 0) lengths, and 50-run bitwise determinism.
"""

import math

import pytest
import torch

import tessera
from attention_cases import DECODE_HEAD_DIMS, HEAD_DIMS, prefill_cases
from attention_ref import (attention_ref, attention_ref_chunked, check, fresh_seed, poisoned,
                           rand_qkv, sdpa_lowp)

DTYPES = [torch.float16, torch.bfloat16]
DTYPE = {"fp16": torch.float16, "bf16": torch.bfloat16}


def run_fwd(q, k, v, causal, scale):
    """Our forward into NaN-poisoned out [B, Sq, H, D] and lse [B, H, Sq]."""
    b, sq, h, _ = q.shape
    out = poisoned(q.shape, q.dtype, q.device)
    lse = poisoned((b, h, sq), torch.float32, q.device)
    tessera.attention_fwd_into(q, k, v, out, lse, scale, causal)
    torch.cuda.synchronize()
    return out, lse


def check_fwd(q, k, v, causal, seed, scale=None):
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    out, lse = run_fwd(q, k, v, causal, scale)
    ref, ref_lse, visible = attention_ref_chunked(q, k, v, causal, scale)
    lowp = torch.nan_to_num(sdpa_lowp(q, k, v, causal, scale))
    assert not out.isnan().any(), f"NaN in the output (unwritten or computed), seed {seed}"
    assert not lse.isnan().any(), f"NaN in lse, seed {seed}"
    check("out", out, lowp, ref, 2.0, rows=visible, seed=seed)
    # lse has no low-precision PyTorch twin: it is fp32 from fp32 accumulators; 1e-3 relative.
    lv, rv = lse[:, :, visible], ref_lse[:, :, visible]
    if lv.numel():
        err = (lv - rv).abs().max().item()
        assert err <= 1e-3 * max(1.0, rv.abs().max().item()), f"lse err {err:.3e} (seed {seed})"
    hidden = ~visible
    if hidden.any():  # rows with no visible key: exactly 0 and +inf
        assert (out[:, hidden] == 0).all(), f"fully masked rows must be exactly 0 (seed {seed})"
        assert torch.isposinf(lse[:, :, hidden]).all(), f"fully masked rows: lse +inf (seed {seed})"
    return out, lse


def case_param(c):
    return pytest.param(c, id=c.id, marks=[pytest.mark.quick] if c.quick else [])


@pytest.mark.parametrize("case", [case_param(c) for c in prefill_cases()])
def test_fwd_case(case):
    """Every case of tests/attention_cases.py: square (every head dim and dtype, lengths 1 to
    4096), Sq != Sk both ways (with causal and Sq > Sk the first Sq - Sk rows see no key), MHA /
    GQA / MQA with non-power-of-two head counts, and the shapes bench/kernels/attention.py times."""
    seed = fresh_seed()
    q, k, v = rand_qkv(case.batch, case.seqlen_q, case.seqlen_k, case.heads, case.kv_heads,
                       case.head_dim, DTYPE[case.dtype])
    check_fwd(q, k, v, case.causal, seed)


@pytest.mark.quick
@pytest.mark.parametrize("scale", [0.05, 1.0, 2.5, -0.3, -1.0])
@pytest.mark.parametrize("d", [64, 128])
def test_fwd_softmax_scale(scale, d):
    # A negative scale takes its own path (the kernel negates Q in shared memory).
    seed = fresh_seed()
    check_fwd(*rand_qkv(2, 150, 150, 4, 4, d, torch.bfloat16), True, seed, scale=scale)


@pytest.mark.quick
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
def test_fwd_fully_masked_rows(dtype):
    """causal, Sq = 200 > Sk = 50: rows 0..149 see nothing -> exactly 0, lse +inf, no NaN."""
    seed = fresh_seed()
    out, lse = check_fwd(*rand_qkv(2, 200, 50, 4, 2, 64, dtype), True, seed)
    assert (out[:, :150] == 0).all() and torch.isposinf(lse[:, :, :150]).all()
    assert torch.isfinite(out).all()


def test_fwd_strided_views():
    """q/k/v as slices of a packed qkv buffer (row stride 3*H*D, head stride D)."""
    seed = fresh_seed()
    qkv = torch.randn(2, 97, 3, 4, 64, dtype=torch.float16, device="cuda")
    q, k, v = qkv.unbind(dim=2)
    check_fwd(q, k, v, True, seed)


# ---- varlen ---------------------------------------------------------------------------------------

def _cu(lengths):
    return torch.tensor([0] + list(torch.tensor(lengths).cumsum(0).tolist()), dtype=torch.int32,
                        device="cuda")


def check_varlen(lens_q, lens_k, heads, kv_heads, head_dim, dtype, causal, seed):
    cu_q, cu_k = _cu(lens_q), _cu(lens_k)
    total_q, total_k = sum(lens_q), sum(lens_k)
    q = torch.randn(total_q, heads, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(total_k, kv_heads, head_dim, dtype=dtype, device="cuda")
    v = torch.randn(total_k, kv_heads, head_dim, dtype=dtype, device="cuda")
    scale = head_dim ** -0.5
    out = poisoned(q.shape, dtype, "cuda")
    lse = poisoned((heads, total_q), torch.float32, "cuda")
    tessera.attention_fwd_into(q, k, v, out, lse, scale, causal, cu_q, cu_k, max(lens_q),
                               max(lens_k))
    torch.cuda.synchronize()
    assert not out.isnan().any() and not lse.isnan().any(), f"NaN left in out/lse (seed {seed})"
    for i, (lq, lk) in enumerate(zip(lens_q, lens_k)):  # each sequence on its own
        sq, sk = slice(cu_q[i].item(), cu_q[i + 1].item()), slice(cu_k[i].item(), cu_k[i + 1].item())
        qi, ki, vi = q[None, sq], k[None, sk], v[None, sk]
        if lq == 0:
            continue
        if lk == 0:  # no key at all: zeros and +inf
            assert (out[sq] == 0).all() and torch.isposinf(lse[:, sq]).all(), f"seed {seed}"
            continue
        ref, ref_lse, visible = attention_ref(qi, ki, vi, causal, scale)
        lowp = torch.nan_to_num(sdpa_lowp(qi, ki, vi, causal, scale))
        check(f"seq {i} ({lq}x{lk})", out[None, sq], lowp, ref, 2.0, rows=visible, seed=seed)
        lv, rv = lse[None, :, sq][:, :, visible], ref_lse[:, :, visible]
        if lv.numel():
            assert (lv - rv).abs().max().item() <= 1e-3 * max(1.0, rv.abs().max().item())
        if (~visible).any():
            assert (out[None, sq][:, ~visible] == 0).all()
    return out, lse


@pytest.mark.quick
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("head_dim", HEAD_DIMS)
def test_fwd_varlen(head_dim, causal, dtype):
    seed = fresh_seed()
    lens_q = [1, 17, 97, 128, 300, 3]
    lens_k = [1, 40, 97, 64, 1025, 1]    # k shorter and longer than q: bottom-right per sequence
    check_varlen(lens_q, lens_k, 8, 2, head_dim, dtype, causal, seed)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_fwd_varlen_zero_length(causal):
    """cu_seqlens with repeated entries (empty sequences) in q, in k, and in both."""
    seed = fresh_seed()
    check_varlen([5, 0, 17, 0, 33], [7, 0, 0, 20, 33], 4, 4, 64, torch.bfloat16, causal, seed)


# ---- determinism -------------------------------------------------------------------------------

@pytest.mark.quick
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_fwd_bitwise_deterministic(causal):
    fresh_seed()
    q, k, v = rand_qkv(2, 1025, 1025, 8, 2, 128, torch.bfloat16)
    first, first_lse = run_fwd(q, k, v, causal, 128 ** -0.5)
    for _ in range(49):
        out, lse = run_fwd(q, k, v, causal, 128 ** -0.5)
        assert torch.equal(out.view(torch.int16), first.view(torch.int16))
        assert torch.equal(lse.view(torch.int32), first_lse.view(torch.int32))


@pytest.mark.quick
def test_registry_head_dims_are_the_built_kernels():
    """tests/attention_cases.py lists the head dims this build compiled (no more, no fewer)."""
    assert tuple(tessera.supported_head_dims()) == HEAD_DIMS
    assert tuple(tessera.kvcache.DECODE_HEAD_DIMS) == DECODE_HEAD_DIMS


@pytest.mark.quick
def test_fwd_unsupported_head_dim_raises():
    q = torch.randn(1, 8, 2, 80, dtype=torch.float16, device="cuda")
    with pytest.raises(ValueError, match="head_dim 80"):
        tessera.flash_attn_func(q, q, q)
    with pytest.raises(ValueError, match="80"):  # the kernel's own check, through the bindings
        tessera.attention_fwd_into(q, q, q, torch.empty_like(q),
                                   torch.empty(1, 2, 8, device="cuda"), 1 / math.sqrt(80), False)
