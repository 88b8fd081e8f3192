"""tessera._ops — the attention kernels as torch custom ops (torch.library) with autograd.

Owns: the two launch entry points that write into caller-allocated tensors (`attention_fwd_into`,
`attention_bwd_into`: the tests poison those with NaN), and the four custom ops built on them:

    tessera::attention_fwd         (q, k, v, softmax_scale, causal, deterministic) -> (out, lse)
    tessera::attention_varlen_fwd  (q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                                    softmax_scale, causal, deterministic) -> (out, lse)
    tessera::attention_bwd / attention_varlen_bwd -> (dq, dk, dv)

Layouts (kernels/attention/params.h): fixed q/out [B, Sq, H, D], k/v [B, Sk, Hkv, D], lse fp32
[B, H, Sq]; varlen q/out [total_q, H, D], k/v [total_k, Hkv, D], lse fp32 [H, total_q].

Invariants: every tensor (outputs, lse, backward workspace) is allocated by torch before the launch
and nothing synchronizes with the host, so the ops run inside CUDA graph capture; each op has a
fake (meta) implementation with the real one's shapes, dtypes and strides (contiguous outputs), so
torch.compile(fullgraph=True) traces them without a graph break. Input validation with user-facing
messages lives in tessera.attention; here only what the launch itself needs is enforced.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

try:  # The extension exists only in a CUDA build with TESSERA_PYTHON=ON (python/CMakeLists.txt).
    from . import _C  # type: ignore[attr-defined]
except ImportError as _e:  # noqa: N816 - kept for the error message
    _C = None
    _C_IMPORT_ERROR = _e
else:
    _C_IMPORT_ERROR = None

_DTYPE_CODES = {torch.float16: 1, torch.bfloat16: 2}
_CANDIDATE_HEAD_DIMS = (32, 64, 80, 96, 128, 160, 192, 224, 256)


def _ext():
    if _C is None:
        raise RuntimeError(
            "tessera._C is not built: configure with -DTESSERA_CUDA=ON -DTESSERA_PYTHON=ON and build "
            f"(tools/gpu.sh does), then put python/ on PYTHONPATH ({_C_IMPORT_ERROR})")
    return _C


def supported_head_dims(backward: bool = False) -> tuple[int, ...]:
    """Head dims the built kernels accept (asked once at import; the documented set without _C)."""
    return _BWD_HEAD_DIMS if backward else _FWD_HEAD_DIMS


if _C is not None:
    _FWD_HEAD_DIMS = tuple(d for d in _CANDIDATE_HEAD_DIMS if _C.attention_fwd_supports_head_dim(d))
    _BWD_HEAD_DIMS = tuple(d for d in _CANDIDATE_HEAD_DIMS if _C.attention_bwd_supports_head_dim(d))
else:
    _FWD_HEAD_DIMS = _BWD_HEAD_DIMS = (64, 96, 128, 256)


# ---- raw launches into caller-allocated tensors ---------------------------------------------------

def _strides(t: Tensor) -> tuple[int, int, int]:
    # (batch, row, head) element strides; the batch stride is ignored for packed (varlen) tensors.
    if t.dim() == 4:
        return (t.stride(0), t.stride(1), t.stride(2))
    return (0, t.stride(0), t.stride(1))


def _shape(q: Tensor, k: Tensor, softmax_scale: float, causal: bool,
           cu_seqlens_q: Optional[Tensor], cu_seqlens_k: Optional[Tensor],
           max_seqlen_q: int, max_seqlen_k: int) -> tuple:
    # The tuple layout tessera._C expects (see python/src/attention_bindings.cpp, ShapeTuple).
    code = _DTYPE_CODES[q.dtype]
    if cu_seqlens_q is None:
        batch, seqlen_q, num_heads, head_dim = q.shape
        seqlen_k, num_kv_heads = k.shape[1], k.shape[2]
        return (batch, num_heads, num_kv_heads, head_dim, seqlen_q, seqlen_k, 0, 0, 0,
                float(softmax_scale), bool(causal), code)
    total_q, num_heads, head_dim = q.shape
    return (cu_seqlens_q.numel() - 1, num_heads, k.shape[1], head_dim, int(max_seqlen_q),
            int(max_seqlen_k), cu_seqlens_q.data_ptr(), cu_seqlens_k.data_ptr(), total_q,
            float(softmax_scale), bool(causal), code)


def _stream(t: Tensor) -> int:
    return torch.cuda.current_stream(t.device).cuda_stream


def attention_fwd_into(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                       softmax_scale: float, causal: bool,
                       cu_seqlens_q: Optional[Tensor] = None, cu_seqlens_k: Optional[Tensor] = None,
                       max_seqlen_q: int = 0, max_seqlen_k: int = 0) -> None:
    """Run the forward kernel, writing `out` (like q) and `lse` (fp32, contiguous) in place.

    No allocation, no host sync: usable inside CUDA graph capture. Inputs are not validated beyond
    what the kernel's own checks catch; tessera.flash_attn_func is the checked path.
    """
    ext = _ext()
    shape = _shape(q, k, softmax_scale, causal, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                   max_seqlen_k)
    with torch.cuda.device(q.device):
        ext.attention_fwd(shape, q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(),
                          lse.data_ptr(), _strides(q), _strides(k), _strides(v), _strides(out),
                          _stream(q))


def attention_bwd_workspace_bytes(q: Tensor, k: Tensor, softmax_scale: float, causal: bool,
                                  cu_seqlens_q: Optional[Tensor] = None,
                                  cu_seqlens_k: Optional[Tensor] = None,
                                  max_seqlen_q: int = 0, max_seqlen_k: int = 0) -> int:
    shape = _shape(q, k, softmax_scale, causal, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                   max_seqlen_k)
    return int(_ext().attention_bwd_workspace(shape))


def attention_bwd_into(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                       dq: Tensor, dk: Tensor, dv: Tensor, softmax_scale: float, causal: bool,
                       deterministic: bool = False,
                       cu_seqlens_q: Optional[Tensor] = None, cu_seqlens_k: Optional[Tensor] = None,
                       max_seqlen_q: int = 0, max_seqlen_k: int = 0,
                       workspace: Optional[Tensor] = None) -> None:
    """Run the backward kernel, writing dq, dk, dv (like q, k, v) in place.

    `workspace`: a CUDA tensor of at least attention_bwd_workspace_bytes() bytes (allocated here
    through torch's caching allocator when None, which is also capture-safe).
    """
    ext = _ext()
    shape = _shape(q, k, softmax_scale, causal, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                   max_seqlen_k)
    if workspace is None:
        nbytes = int(ext.attention_bwd_workspace(shape))
        # fp32 elements, at least one so data_ptr() is a real (256-byte aligned) address.
        workspace = torch.empty(max(1, (nbytes + 3) // 4), dtype=torch.float32, device=q.device)
    with torch.cuda.device(q.device):
        ext.attention_bwd(shape, q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(),
                          dout.data_ptr(), lse.data_ptr(), dq.data_ptr(), dk.data_ptr(),
                          dv.data_ptr(), workspace.data_ptr(), _strides(q), _strides(k),
                          _strides(v), _strides(out), _strides(dout), _strides(dq), _strides(dk),
                          _strides(dv), bool(deterministic), _stream(q))


# ---- custom ops ----------------------------------------------------------------------------------

def _unit_last(t: Tensor) -> Tensor:
    # The kernels need a unit last-dim stride. Incoming gradients can be expanded (stride 0, from
    # .sum()) and compiled graphs may hand over other layouts: copy only then.
    return t if t.stride(-1) == 1 else t.contiguous()


def _fwd_outputs(q: Tensor, lse_shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(lse_shape, dtype=torch.float32, device=q.device)
    return out, lse


def _lse_shape(q: Tensor, varlen: bool) -> tuple[int, ...]:
    if varlen:
        return (q.shape[1], q.shape[0])               # [H, total_q]
    return (q.shape[0], q.shape[2], q.shape[1])       # [B, H, Sq]


def _run_fwd(q, k, v, softmax_scale, causal, cu_q, cu_k, max_q, max_k):
    varlen = cu_q is not None
    q, k, v = _unit_last(q), _unit_last(k), _unit_last(v)
    out, lse = _fwd_outputs(q, _lse_shape(q, varlen))
    seq_k_empty = (k.shape[0] if varlen else k.shape[1]) == 0
    if q.numel() == 0:
        return out, lse
    if seq_k_empty:  # every row sees no key: O = 0, lse = +inf (params.h)
        out.zero_()
        lse.fill_(float("inf"))
        return out, lse
    attention_fwd_into(q, k, v, out, lse, softmax_scale, causal, cu_q, cu_k, max_q, max_k)
    return out, lse


def _run_bwd(dout, q, k, v, out, lse, softmax_scale, causal, deterministic, cu_q, cu_k, max_q,
             max_k):
    dout, q, k, v, out = (_unit_last(t) for t in (dout, q, k, v, out))
    lse = lse.contiguous()
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    if q.numel() == 0 or k.numel() == 0:
        return dq.zero_(), dk.zero_(), dv.zero_()
    attention_bwd_into(dout, q, k, v, out, lse, dq, dk, dv, softmax_scale, causal, deterministic,
                       cu_q, cu_k, max_q, max_k)
    return dq, dk, dv


@torch.library.custom_op("tessera::attention_fwd", mutates_args=(), device_types="cuda")
def attention_fwd_op(q: Tensor, k: Tensor, v: Tensor, softmax_scale: float, causal: bool,
                     deterministic: bool) -> tuple[Tensor, Tensor]:
    # `deterministic` only reaches the backward (through setup_context); the forward always is.
    return _run_fwd(q, k, v, softmax_scale, causal, None, None, 0, 0)


@attention_fwd_op.register_fake
def _(q, k, v, softmax_scale, causal, deterministic):
    return _fwd_outputs(q, _lse_shape(q, False))


@torch.library.custom_op("tessera::attention_varlen_fwd", mutates_args=(), device_types="cuda")
def attention_varlen_fwd_op(q: Tensor, k: Tensor, v: Tensor, cu_seqlens_q: Tensor,
                            cu_seqlens_k: Tensor, max_seqlen_q: int, max_seqlen_k: int,
                            softmax_scale: float, causal: bool,
                            deterministic: bool) -> tuple[Tensor, Tensor]:
    return _run_fwd(q, k, v, softmax_scale, causal, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                    max_seqlen_k)


@attention_varlen_fwd_op.register_fake
def _(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, softmax_scale, causal,
      deterministic):
    return _fwd_outputs(q, _lse_shape(q, True))


@torch.library.custom_op("tessera::attention_bwd", mutates_args=(), device_types="cuda")
def attention_bwd_op(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                     softmax_scale: float, causal: bool,
                     deterministic: bool) -> tuple[Tensor, Tensor, Tensor]:
    return _run_bwd(dout, q, k, v, out, lse, softmax_scale, causal, deterministic, None, None, 0, 0)


def _bwd_fake(q, k, v):
    return (torch.empty(q.shape, dtype=q.dtype, device=q.device),
            torch.empty(k.shape, dtype=k.dtype, device=k.device),
            torch.empty(v.shape, dtype=v.dtype, device=v.device))


@attention_bwd_op.register_fake
def _(dout, q, k, v, out, lse, softmax_scale, causal, deterministic):
    return _bwd_fake(q, k, v)


@torch.library.custom_op("tessera::attention_varlen_bwd", mutates_args=(), device_types="cuda")
def attention_varlen_bwd_op(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor,
                            lse: Tensor, cu_seqlens_q: Tensor, cu_seqlens_k: Tensor,
                            max_seqlen_q: int, max_seqlen_k: int, softmax_scale: float,
                            causal: bool, deterministic: bool) -> tuple[Tensor, Tensor, Tensor]:
    return _run_bwd(dout, q, k, v, out, lse, softmax_scale, causal, deterministic, cu_seqlens_q,
                    cu_seqlens_k, max_seqlen_q, max_seqlen_k)


@attention_varlen_bwd_op.register_fake
def _(dout, q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
      softmax_scale, causal, deterministic):
    return _bwd_fake(q, k, v)


# ---- autograd: save q, k, v, out, lse; the backward recomputes from lse ---------------------------

def _setup_fwd(ctx, inputs, output):
    q, k, v, softmax_scale, causal, deterministic = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse)
    ctx.softmax_scale, ctx.causal, ctx.deterministic = softmax_scale, causal, deterministic
    ctx.mark_non_differentiable(lse)


def _backward_fwd(ctx, grad_out, grad_lse):
    # grad_lse is ignored: lse is non-differentiable (as in FlashAttention).
    q, k, v, out, lse = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dq, dk, dv = attention_bwd_op(grad_out, q, k, v, out, lse, ctx.softmax_scale, ctx.causal,
                                  ctx.deterministic)
    return dq, dk, dv, None, None, None


attention_fwd_op.register_autograd(_backward_fwd, setup_context=_setup_fwd)


def _setup_varlen_fwd(ctx, inputs, output):
    (q, k, v, cu_q, cu_k, max_q, max_k, softmax_scale, causal, deterministic) = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, cu_q, cu_k)
    ctx.max_q, ctx.max_k = max_q, max_k
    ctx.softmax_scale, ctx.causal, ctx.deterministic = softmax_scale, causal, deterministic
    ctx.mark_non_differentiable(lse)


def _backward_varlen_fwd(ctx, grad_out, grad_lse):
    q, k, v, out, lse, cu_q, cu_k = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dq, dk, dv = attention_varlen_bwd_op(grad_out, q, k, v, out, lse, cu_q, cu_k, ctx.max_q,
                                         ctx.max_k, ctx.softmax_scale, ctx.causal,
                                         ctx.deterministic)
    return dq, dk, dv, None, None, None, None, None, None, None


attention_varlen_fwd_op.register_autograd(_backward_varlen_fwd, setup_context=_setup_varlen_fwd)
