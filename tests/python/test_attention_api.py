"""tests/python/test_attention_api.py — the tessera package's torch plumbing on a machine with no GPU.

The CUDA kernels cannot run here, so this file registers a CPU kernel (the fp32 reference of
tests/gpu/attention_ref.py, computed then cast) for the tessera::* ops and checks what does not
depend on the kernels: fake (meta) implementations, opcheck, autograd wiring (saved tensors,
non-differentiable lse), torch.compile(fullgraph=True) with no graph break, input validation
messages, and flash_attn_interface's signatures against FlashAttention-2's.
Needs torch (CPU is enough); tessera._C is not needed.
"""

import inspect
import os
import sys

import pytest

torch = pytest.importorskip("torch")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(_ROOT, "python"), os.path.join(_ROOT, "tests", "gpu")]

import tessera  # noqa: E402
from tessera import attention as tattention  # noqa: E402
from tessera import flash_attn_interface as fa  # noqa: E402
from attention_ref import attention_ref  # noqa: E402


def _cpu_fwd(q, k, v, softmax_scale, causal, deterministic):
    out, lse, _ = attention_ref(q, k, v, causal, softmax_scale)
    return out.to(q.dtype).contiguous(), lse.contiguous()


def _cpu_bwd(dout, q, k, v, out, lse, softmax_scale, causal, deterministic):
    # Closed-form attention gradients (autograd is unavailable below the op's dispatch key):
    # dV = P^T dO, dS = P * (dO V^T - rowsum(dO * O)), dQ = scale dS K, dK = scale dS^T Q.
    qf, kf, vf, of, dof = (t.float() for t in (q, k, v, out, dout))
    group = q.shape[2] // k.shape[2]
    kr, vr = kf.repeat_interleave(group, 2), vf.repeat_interleave(group, 2)
    s = torch.einsum("bqhd,bkhd->bhqk", qf, kr) * softmax_scale
    p = torch.exp(s - lse[..., None])  # lse = +inf on rows with no visible key: p = 0
    if causal:
        sq, sk = q.shape[1], k.shape[1]
        hidden = torch.arange(sk)[None, :] > torch.arange(sq)[:, None] + (sk - sq)
        p = p.masked_fill(hidden, 0.0)
    dv = torch.einsum("bhqk,bqhd->bkhd", p, dof)
    dp = torch.einsum("bqhd,bkhd->bhqk", dof, vr)
    ds = p * (dp - (dof * of).sum(-1).transpose(1, 2)[..., None])
    dq = torch.einsum("bhqk,bkhd->bqhd", ds, kr) * softmax_scale
    dk = torch.einsum("bhqk,bqhd->bkhd", ds, qf) * softmax_scale
    b, skk, hk, d = k.shape
    dk = dk.view(b, skk, hk, group, d).sum(3)
    dv = dv.view(b, skk, hk, group, d).sum(3)
    return tuple(g.to(q.dtype).contiguous() for g in (dq, dk, dv))


@pytest.fixture(scope="module", autouse=True)
def cpu_kernels():
    torch.library.register_kernel("tessera::attention_fwd", "cpu", _cpu_fwd)
    torch.library.register_kernel("tessera::attention_bwd", "cpu", _cpu_bwd)
    saved = tattention._DEVICE_TYPES
    tattention._DEVICE_TYPES = saved + ("cpu",)
    yield
    tattention._DEVICE_TYPES = saved


def _qkv(dtype=torch.bfloat16, requires_grad=False):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 9, 4, 64, generator=g).to(dtype)
    k = torch.randn(2, 5, 2, 64, generator=g).to(dtype)
    v = torch.randn(2, 5, 2, 64, generator=g).to(dtype)
    return [t.requires_grad_(requires_grad) for t in (q, k, v)]


def test_fake_shapes_meta():
    q = torch.empty(3, 17, 8, 128, dtype=torch.float16, device="meta")
    k = torch.empty(3, 40, 1, 128, dtype=torch.float16, device="meta")
    out, lse = tessera.flash_attn_func(q, k, k, causal=True, return_lse=True)
    assert out.shape == q.shape and out.dtype == q.dtype and lse.shape == (3, 8, 17)
    assert lse.dtype == torch.float32
    qv = torch.empty(30, 8, 64, dtype=torch.bfloat16, device="meta")
    kv = torch.empty(50, 2, 64, dtype=torch.bfloat16, device="meta")
    cu = torch.empty(4, dtype=torch.int32, device="meta")
    out, lse = tessera.flash_attn_varlen_func(qv, kv, kv, cu, cu, 20, 30, return_lse=True)
    assert out.shape == qv.shape and lse.shape == (8, 30)


def test_opcheck_fwd_and_bwd():
    q, k, v = _qkv(requires_grad=True)
    torch.library.opcheck(torch.ops.tessera.attention_fwd.default, (q, k, v, 0.125, True, False))
    out, lse = torch.ops.tessera.attention_fwd(q, k, v, 0.125, True, False)
    dout = torch.randn_like(out)
    torch.library.opcheck(torch.ops.tessera.attention_bwd.default,
                          (dout, q.detach(), k.detach(), v.detach(), out.detach(), lse.detach(),
                           0.125, True, False))


def test_autograd_wiring():
    q, k, v = _qkv(dtype=torch.float32, requires_grad=False)
    q, k, v = (t.to(torch.bfloat16).requires_grad_(True) for t in (q, k, v))
    out, lse = tessera.flash_attn_func(q, k, v, causal=True, return_lse=True)
    assert not lse.requires_grad  # non-differentiable, as in FlashAttention
    out.float().pow(2).sum().backward()
    assert q.grad.shape == q.shape and k.grad.shape == k.shape and v.grad.shape == v.shape
    # Rows 0..3 of a causal 9x5 problem see no key: zero output, +inf lse, zero dq.
    assert (out[:, :4] == 0).all() and torch.isposinf(lse[:, :, :4]).all()
    assert (q.grad[:, :4] == 0).all()


def test_compile_fullgraph():
    torch._dynamo.reset()
    q, k, v = _qkv(requires_grad=True)

    def f(q, k, v):
        return tessera.flash_attn_func(q, k, v, causal=True).float().sum()

    loss = torch.compile(f, fullgraph=True, backend="aot_eager")(q, k, v)
    loss.backward()
    assert torch.allclose(loss, f(q, k, v))
    assert q.grad is not None


def test_validation_messages():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="torch.float32"):
        tessera.flash_attn_func(q.float(), k, v)
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        tessera.flash_attn_func(q, k[:, :, :1].expand(2, 5, 3, 64).contiguous(),
                                v[:, :, :1].expand(2, 5, 3, 64).contiguous())
    with pytest.raises(ValueError, match="head_dim 80"):
        tessera.flash_attn_func(torch.zeros(2, 9, 4, 80, dtype=torch.bfloat16),
                                torch.zeros(2, 5, 2, 80, dtype=torch.bfloat16),
                                torch.zeros(2, 5, 2, 80, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="same batch size"):
        tessera.flash_attn_func(q, k[:1], v[:1])
    cu = torch.tensor([0, 4, 9], dtype=torch.int64)
    with pytest.raises(ValueError, match="cu_seqlens_q must be torch.int32"):
        tessera.flash_attn_varlen_func(q[0], k[0], v[0], cu, cu, 5, 5)


# FlashAttention-2 (flash_attn 2.6+) signatures: names, order and defaults.
_FA2 = {
    "flash_attn_func": "q k v dropout_p=0.0 softmax_scale=None causal=False window_size=(-1, -1) "
                       "softcap=0.0 alibi_slopes=None deterministic=False return_attn_probs=False",
    "flash_attn_qkvpacked_func": "qkv dropout_p=0.0 softmax_scale=None causal=False "
                                 "window_size=(-1, -1) softcap=0.0 alibi_slopes=None "
                                 "deterministic=False return_attn_probs=False",
    "flash_attn_kvpacked_func": "q kv dropout_p=0.0 softmax_scale=None causal=False "
                                "window_size=(-1, -1) softcap=0.0 alibi_slopes=None "
                                "deterministic=False return_attn_probs=False",
    "flash_attn_varlen_func": "q k v cu_seqlens_q cu_seqlens_k max_seqlen_q max_seqlen_k "
                              "dropout_p=0.0 softmax_scale=None causal=False window_size=(-1, -1) "
                              "softcap=0.0 alibi_slopes=None deterministic=False "
                              "return_attn_probs=False block_table=None",
    "flash_attn_varlen_qkvpacked_func": "qkv cu_seqlens max_seqlen dropout_p=0.0 "
                                        "softmax_scale=None causal=False window_size=(-1, -1) "
                                        "softcap=0.0 alibi_slopes=None deterministic=False "
                                        "return_attn_probs=False",
    "flash_attn_varlen_kvpacked_func": "q kv cu_seqlens_q cu_seqlens_k max_seqlen_q max_seqlen_k "
                                       "dropout_p=0.0 softmax_scale=None causal=False "
                                       "window_size=(-1, -1) softcap=0.0 alibi_slopes=None "
                                       "deterministic=False return_attn_probs=False",
}


@pytest.mark.parametrize("name", sorted(_FA2))
def test_flash_attn_interface_signatures(name):
    params = inspect.signature(getattr(fa, name)).parameters.values()
    got = " ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                   for p in params)
    assert got == _FA2[name]


def test_flash_attn_interface_cpu_path():
    q, k, v = _qkv()
    base = tessera.flash_attn_func(q, k, v, causal=True)
    assert torch.equal(fa.flash_attn_func(q, k, v, causal=True), base)
    out, lse, probs = fa.flash_attn_func(q, k, v, causal=True, return_attn_probs=True)
    assert torch.equal(out, base) and lse.shape == (2, 4, 9) and probs is None
    with pytest.raises(NotImplementedError, match="dropout_p"):
        fa.flash_attn_func(q, k, v, dropout_p=0.5)
    with pytest.raises(NotImplementedError, match="block_table"):
        fa.flash_attn_varlen_func(q[0], k[0], v[0], None, None, 9, 5, block_table=torch.zeros(1))
