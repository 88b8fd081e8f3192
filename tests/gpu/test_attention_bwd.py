"""tests/gpu/test_attention_bwd.py — the backward kernel (dq, dk, dv) against fp32 reference grads.

Every case: fresh random inputs and upstream gradient, dq/dk/dv poisoned with NaN before the launch
(tessera.attention_bwd_into), max error <= 3x the error of PyTorch SDPA's backward in the same
precision, both measured against autograd through the fp32 reference. The shapes are those of
tests/attention_cases.py (the forward's and the benchmark's, up to S = 16384): the head dims the
kernels support for the backward (an unsupported one must fail with a clear error), both dtypes,
causal and not, Sq != Sk, GQA / MQA; here besides: varlen, fully masked rows (finite gradients,
dq = 0 there) and 50-run bitwise reproducibility in deterministic mode.
"""

import pytest
import torch

import tessera
from attention_cases import prefill_cases
from attention_ref import (attention_ref, check, fresh_seed, poisoned, rand_qkv, ref_chunks,
                           sdpa_lowp)

DTYPES = [torch.float16, torch.bfloat16]
DTYPE = {"fp16": torch.float16, "bf16": torch.bfloat16}
BWD_DIMS = tessera.supported_head_dims(backward=True)


def run_fwd_bwd(q, k, v, dout, causal, scale, deterministic=False, cu=None):
    """Our forward, then our backward into NaN-poisoned dq, dk, dv. cu: (cu_q, cu_k, max_q, max_k)."""
    if cu is None:
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[0], q.shape[2], q.shape[1], device=q.device)
        tessera.attention_fwd_into(q, k, v, out, lse, scale, causal)
        varlen = ()
    else:
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[1], q.shape[0], device=q.device)
        tessera.attention_fwd_into(q, k, v, out, lse, scale, causal, *cu)
        varlen = cu
    dq, dk, dv = (poisoned(t.shape, t.dtype, t.device) for t in (q, k, v))
    tessera.attention_bwd_into(dout, q, k, v, out, lse, dq, dk, dv, scale, causal, deterministic,
                               *varlen)
    torch.cuda.synchronize()
    return dq, dk, dv


def reference_grads(q, k, v, dout, causal, scale):
    """(ref grads from fp32, PyTorch low-precision grads, visible rows). The fp32 reference runs
    over ref_chunks (batch x kv-head groups), so the benchmark's S = 16384 shapes fit."""
    ref_grads = [torch.empty(t.shape, dtype=torch.float32, device=t.device) for t in (q, k, v)]
    visible = None
    for b, kvh, qh in ref_chunks(q, k):
        qf, kf, vf = (t[b:b + 1, :, h].detach().float().requires_grad_(True)
                      for t, h in ((q, qh), (k, kvh), (v, kvh)))
        ref, _, visible = attention_ref(qf, kf, vf, causal, scale)
        gq, gk, gv = torch.autograd.grad(ref, (qf, kf, vf), dout[b:b + 1, :, qh].float())
        ref_grads[0][b:b + 1, :, qh] = gq
        ref_grads[1][b:b + 1, :, kvh] = gk
        ref_grads[2][b:b + 1, :, kvh] = gv
        del ref, gq, gk, gv
    ql, kl, vl = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    lowp = sdpa_lowp(ql, kl, vl, causal, scale)
    lowp_grads = torch.autograd.grad(lowp, (ql, kl, vl), dout)
    return ref_grads, [torch.nan_to_num(g) for g in lowp_grads], visible


def check_bwd(q, k, v, causal, seed, deterministic=False):
    scale = q.shape[-1] ** -0.5
    dout = torch.randn_like(q)
    ours = run_fwd_bwd(q, k, v, dout, causal, scale, deterministic)
    ref, lowp, visible = reference_grads(q, k, v, dout, causal, scale)
    for name, g in zip(("dq", "dk", "dv"), ours):
        assert torch.isfinite(g).all(), f"{name} has NaN/inf (poisoned element unwritten?), seed {seed}"
    check("dq", ours[0], lowp[0], ref[0], 3.0, rows=visible, seed=seed)
    check("dk", ours[1], lowp[1], ref[1], 3.0, seed=seed)
    check("dv", ours[2], lowp[2], ref[2], 3.0, seed=seed)
    if (~visible).any():
        assert (ours[0][:, ~visible] == 0).all(), f"dq of fully masked rows must be 0 (seed {seed})"
    return ours


def case_param(c):
    return pytest.param(c, id=c.id, marks=[pytest.mark.quick] if c.quick else [])


@pytest.mark.parametrize("case", [case_param(c) for c in prefill_cases()])
def test_bwd_case(case):
    """Every case of tests/attention_cases.py (the forward's and the benchmark's). A head dim with
    no backward kernel must fail with an error naming it."""
    seed = fresh_seed()
    q, k, v = rand_qkv(case.batch, case.seqlen_q, case.seqlen_k, case.heads, case.kv_heads,
                       case.head_dim, DTYPE[case.dtype])
    if case.head_dim not in BWD_DIMS:
        with pytest.raises(ValueError, match=str(case.head_dim)):
            run_fwd_bwd(q, k, v, torch.randn_like(q), case.causal, case.head_dim ** -0.5)
        return
    check_bwd(q, k, v, case.causal, seed)


@pytest.mark.parametrize("case", [case_param(c) for c in prefill_cases(group="heads")
                                  if c.dtype == "bf16"])
def test_bwd_heads_deterministic(case):
    """GQA / MQA / odd head counts through the deterministic (no atomics) dq path."""
    seed = fresh_seed()
    check_bwd(*rand_qkv(case.batch, case.seqlen_q, case.seqlen_k, case.heads, case.kv_heads,
                        case.head_dim, torch.bfloat16), case.causal, seed, deterministic=True)


@pytest.mark.quick
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
def test_bwd_fully_masked_rows(dtype):
    """causal, Sq = 200 > Sk = 50: the first 150 rows see nothing; gradients finite, dq there 0."""
    seed = fresh_seed()
    dq, dk, dv = check_bwd(*rand_qkv(2, 200, 50, 4, 2, 64, dtype), True, seed)
    assert (dq[:, :150] == 0).all()


def _cu(lengths):
    return torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32,
                        device="cuda")


@pytest.mark.quick
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_bwd_varlen(head_dim, causal):
    seed = fresh_seed()
    lens_q, lens_k = [1, 17, 97, 300, 5], [1, 40, 97, 129, 1]
    cu_q, cu_k = _cu(lens_q), _cu(lens_k)
    heads, kv_heads, dtype = 8, 2, torch.float16
    q = torch.randn(sum(lens_q), heads, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(sum(lens_k), kv_heads, head_dim, dtype=dtype, device="cuda")
    v = torch.randn_like(k)
    dout = torch.randn_like(q)
    scale = head_dim ** -0.5
    dq, dk, dv = run_fwd_bwd(q, k, v, dout, causal, scale,
                             cu=(cu_q, cu_k, max(lens_q), max(lens_k)))
    for name, g in (("dq", dq), ("dk", dk), ("dv", dv)):
        assert torch.isfinite(g).all(), f"{name}: NaN/inf left (seed {seed})"
    for i in range(len(lens_q)):
        sq = slice(cu_q[i].item(), cu_q[i + 1].item())
        sk = slice(cu_k[i].item(), cu_k[i + 1].item())
        ref, lowp, visible = reference_grads(q[None, sq], k[None, sk], v[None, sk],
                                             dout[None, sq], causal, scale)
        check(f"seq {i} dq", dq[None, sq], lowp[0], ref[0], 3.0, rows=visible, seed=seed)
        check(f"seq {i} dk", dk[None, sk], lowp[1], ref[1], 3.0, seed=seed)
        check(f"seq {i} dv", dv[None, sk], lowp[2], ref[2], 3.0, seed=seed)


@pytest.mark.quick
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_bwd_deterministic_bitwise(causal):
    """deterministic=True: 50 runs on the same inputs give bitwise equal dq, dk, dv."""
    fresh_seed()
    q, k, v = rand_qkv(2, 1025, 1025, 8, 2, 128, torch.bfloat16)
    dout = torch.randn_like(q)
    first = run_fwd_bwd(q, k, v, dout, causal, 128 ** -0.5, deterministic=True)
    for _ in range(49):
        again = run_fwd_bwd(q, k, v, dout, causal, 128 ** -0.5, deterministic=True)
        for name, a, b in zip(("dq", "dk", "dv"), again, first):
            assert torch.equal(a.view(torch.int16), b.view(torch.int16)), f"{name} differs"
