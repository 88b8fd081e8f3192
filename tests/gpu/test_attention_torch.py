"""tests/gpu/test_attention_torch.py — the attention kernels as torch ops: opcheck, autograd against
the fp32 reference, torch.compile(fullgraph=True), CUDA graph capture + replay, the
flash_attn_interface compatibility layer, and O(S) memory at B=1, H=16, S=65536, D=128.
"""

import pytest
import torch

import tessera
from tessera import flash_attn_interface as fa
from attention_ref import attention_ref, check, fresh_seed, rand_qkv, sdpa_lowp

OPS = torch.ops.tessera


def _cu(lengths):
    return torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32,
                        device="cuda")


# ---- opcheck ---------------------------------------------------------------------------------------

@pytest.mark.quick
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_opcheck_fwd(causal):
    fresh_seed()
    q, k, v = rand_qkv(2, 97, 130, 6, 2, 64, torch.bfloat16, requires_grad=True)
    torch.library.opcheck(OPS.attention_fwd.default, (q, k, v, 0.125, causal, False))


@pytest.mark.quick
def test_opcheck_varlen_fwd():
    fresh_seed()
    lens_q, lens_k = [1, 17, 40], [3, 17, 64]
    q = torch.randn(sum(lens_q), 4, 64, dtype=torch.float16, device="cuda", requires_grad=True)
    k = torch.randn(sum(lens_k), 2, 64, dtype=torch.float16, device="cuda", requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    args = (q, k, v, _cu(lens_q), _cu(lens_k), max(lens_q), max(lens_k), 0.125, True, False)
    torch.library.opcheck(OPS.attention_varlen_fwd.default, args)


@pytest.mark.quick
def test_opcheck_bwd():
    fresh_seed()
    q, k, v = rand_qkv(2, 97, 130, 6, 2, 64, torch.bfloat16)
    out, lse = OPS.attention_fwd(q, k, v, 0.125, True, False)
    dout = torch.randn_like(out)
    torch.library.opcheck(OPS.attention_bwd.default, (dout, q, k, v, out, lse, 0.125, True, True))


# ---- autograd through the op, against the fp32 reference --------------------------------------------

@pytest.mark.quick
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_autograd_against_reference(causal, dtype):
    seed = fresh_seed()
    q, k, v = rand_qkv(2, 150, 97, 8, 2, 128, dtype, requires_grad=True)
    dout = torch.randn(q.shape, dtype=dtype, device="cuda")
    out = tessera.flash_attn_func(q, k, v, causal=causal)
    ours = torch.autograd.grad(out, (q, k, v), dout)
    qf, kf, vf = (t.detach().float().requires_grad_(True) for t in (q, k, v))
    ref, _, visible = attention_ref(qf, kf, vf, causal, 128 ** -0.5)
    refg = torch.autograd.grad(ref, (qf, kf, vf), dout.float())
    ql, kl, vl = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    low = sdpa_lowp(ql, kl, vl, causal, 128 ** -0.5)
    lowg = [torch.nan_to_num(g) for g in torch.autograd.grad(low, (ql, kl, vl), dout)]
    check("out", out.detach(), torch.nan_to_num(low.detach()), ref.detach(), 2.0, rows=visible,
          seed=seed)
    check("dq", ours[0], lowg[0], refg[0], 3.0, rows=visible, seed=seed)
    check("dk", ours[1], lowg[1], refg[1], 3.0, seed=seed)
    check("dv", ours[2], lowg[2], refg[2], 3.0, seed=seed)


@pytest.mark.quick
def test_autograd_expanded_grad():
    """out.sum().backward() hands the op a stride-0 gradient: it must be handled."""
    fresh_seed()
    q, k, v = rand_qkv(1, 64, 64, 4, 4, 64, torch.float16, requires_grad=True)
    tessera.flash_attn_func(q, k, v, causal=True).sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


# ---- torch.compile ---------------------------------------------------------------------------------

@pytest.mark.quick
def test_compile_fullgraph_fwd_bwd():
    fresh_seed()
    torch._dynamo.reset()
    q, k, v = rand_qkv(2, 128, 128, 8, 2, 64, torch.bfloat16, requires_grad=True)
    w = torch.randn(q.shape, device="cuda")

    def loss_fn(q, k, v):
        o = tessera.flash_attn_func(q, k, v, causal=True, deterministic=True)
        return (o.float() * w).sum(), o

    compiled = torch.compile(loss_fn, fullgraph=True)  # a graph break is an error
    loss_c, out_c = compiled(q, k, v)
    grads_c = torch.autograd.grad(loss_c, (q, k, v))
    loss_e, out_e = loss_fn(q, k, v)
    grads_e = torch.autograd.grad(loss_e, (q, k, v))
    assert torch.equal(out_c, out_e)
    for a, b in zip(grads_c, grads_e):
        assert torch.equal(a, b)  # deterministic backward, same kernel, same inputs


@pytest.mark.quick
def test_compile_fullgraph_varlen():
    fresh_seed()
    torch._dynamo.reset()
    lens = [5, 17, 1]
    q = torch.randn(sum(lens), 4, 128, dtype=torch.float16, device="cuda")
    cu = _cu(lens)
    f = torch.compile(lambda q: tessera.flash_attn_varlen_func(q, q, q, cu, cu, 17, 17,
                                                               causal=True), fullgraph=True)
    assert torch.equal(f(q), tessera.flash_attn_varlen_func(q, q, q, cu, cu, 17, 17, causal=True))


# ---- CUDA graphs -----------------------------------------------------------------------------------

@pytest.mark.quick
def test_cuda_graph_capture_replay():
    fresh_seed()
    q, k, v = rand_qkv(2, 256, 256, 8, 8, 128, torch.float16, requires_grad=True)
    dout = torch.randn_like(q)

    def step():
        out = tessera.flash_attn_func(q, k, v, causal=True, deterministic=True)
        return (out,) + torch.autograd.grad(out, (q, k, v), dout)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as torch.cuda.graph wants
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = step()
    for _ in range(3):  # new inputs into the captured buffers, replay, compare with eager
        with torch.no_grad():
            for t in (q, k, v, dout):
                t.copy_(torch.randn_like(t))
        graph.replay()
        torch.cuda.synchronize()
        eager = step()
        for a, b in zip(static, eager):
            assert torch.equal(a, b)


# ---- flash_attn_interface ----------------------------------------------------------------------------

@pytest.mark.quick
def test_flash_attn_interface_matches():
    fresh_seed()
    qkv = torch.randn(2, 97, 3, 4, 64, dtype=torch.bfloat16, device="cuda")
    q, k, v = (t.contiguous() for t in qkv.unbind(dim=2))
    base = tessera.flash_attn_func(q, k, v, causal=True)
    assert torch.equal(fa.flash_attn_func(q, k, v, causal=True), base)
    assert torch.equal(fa.flash_attn_qkvpacked_func(qkv, causal=True), base)
    assert torch.equal(fa.flash_attn_kvpacked_func(q, qkv[:, :, 1:], causal=True), base)
    out, lse, probs = fa.flash_attn_func(q, k, v, causal=True, return_attn_probs=True)
    assert torch.equal(out, base) and lse.shape == (2, 4, 97) and probs is None
    cu = _cu([97, 97])
    flat = qkv.reshape(2 * 97, 3, 4, 64)
    var = fa.flash_attn_varlen_qkvpacked_func(flat, cu, 97, causal=True)
    assert torch.equal(var.view(2, 97, 4, 64), base)
    var = fa.flash_attn_varlen_kvpacked_func(flat[:, 0], flat[:, 1:], cu, cu, 97, 97, causal=True)
    assert torch.equal(var.view(2, 97, 4, 64), base)
    var = fa.flash_attn_varlen_func(flat[:, 0], flat[:, 1], flat[:, 2], cu, cu, 97, 97, causal=True)
    assert torch.equal(var.view(2, 97, 4, 64), base)


@pytest.mark.quick
@pytest.mark.parametrize("kwargs,match", [
    ({"dropout_p": 0.1}, "dropout_p"), ({"window_size": (8, 0)}, "window_size"),
    ({"softcap": 30.0}, "softcap"), ({"alibi_slopes": torch.zeros(4)}, "alibi_slopes")])
def test_flash_attn_interface_unsupported(kwargs, match):
    q = torch.randn(1, 8, 4, 64, dtype=torch.float16, device="cuda")
    with pytest.raises(NotImplementedError, match=match):
        fa.flash_attn_func(q, q, q, **kwargs)


@pytest.mark.quick
@pytest.mark.parametrize("make,match", [
    (lambda: (torch.randn(1, 8, 4, 64, device="cuda"),) * 3, "dtype"),
    (lambda: (torch.randn(1, 8, 4, 64, dtype=torch.float16),) * 3, "CUDA"),
    (lambda: (torch.randn(1, 8, 4, 64, dtype=torch.float16, device="cuda"),
              torch.randn(1, 8, 3, 64, dtype=torch.float16, device="cuda"),
              torch.randn(1, 8, 3, 64, dtype=torch.float16, device="cuda")), "multiple"),
    (lambda: (torch.randn(1, 8, 4, 64, dtype=torch.float16, device="cuda"),
              torch.randn(1, 8, 4, 64, dtype=torch.bfloat16, device="cuda"),
              torch.randn(1, 8, 4, 64, dtype=torch.bfloat16, device="cuda")), "same dtype"),
    (lambda: (torch.randn(1, 8, 64, 4, dtype=torch.float16, device="cuda").transpose(2, 3),) * 3,
     "contiguous"),
    (lambda: (torch.randn(8, 4, 64, dtype=torch.float16, device="cuda"),) * 3, "4-D")])
def test_validation_errors(make, match):
    with pytest.raises(ValueError, match=match):
        tessera.flash_attn_func(*make())


# ---- memory: O(S), never the S x S matrix ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_memory_is_linear_in_seqlen(causal):
    seed = fresh_seed()
    b, s, h, d = 1, 65536, 16, 128
    q, k, v = rand_qkv(b, s, s, h, h, d, torch.bfloat16)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out, lse = tessera.flash_attn_func(q, k, v, causal=causal, return_lse=True)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    out_bytes = out.numel() * out.element_size() + lse.numel() * 4
    print(f"\n[memory] B={b} H={h} S={s} D={d} causal={causal}: peak extra {extra / 2**20:.1f} MiB "
          f"(out+lse {out_bytes / 2**20:.1f} MiB; S^2 bytes = {s * s / 2**30:.1f} GiB; "
          f"fp32 scores would be {b * h * s * s * 4 / 2**30:.0f} GiB)")
    assert extra <= out_bytes * 1.05 + 2**20, "the forward allocated more than its outputs"
    assert extra < s * s / 8
    assert torch.isfinite(out).all()
    # Spot-check the last 16 query rows against the reference (bottom-right causal keeps them).
    rows = slice(s - 16, s)
    ref, _, visible = attention_ref(q[:, rows], k, v, causal, d ** -0.5)
    low = sdpa_lowp(q[:, rows], k, v, causal, d ** -0.5)
    check("out[-16:]", out[:, rows], low, ref, 2.0, rows=visible, seed=seed)
