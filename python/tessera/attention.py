"""tessera.attention — the public attention API: input checks with clear errors, then the custom ops.

    flash_attn_func(q, k, v, causal=False, softmax_scale=None, deterministic=False, return_lse=False)
        q: [batch, seqlen_q, num_heads, head_dim]   k, v: [batch, seqlen_k, num_kv_heads, head_dim]
        -> out like q  (and lse fp32 [batch, num_heads, seqlen_q] when return_lse)
    flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, ...)
        q: [total_q, num_heads, head_dim]   k, v: [total_k, num_kv_heads, head_dim]
        cu_seqlens_*: int32 [batch + 1] prefix sums on the same device
        -> out like q  (and lse fp32 [num_heads, total_q] when return_lse)

Semantics are FlashAttention-2's: softmax_scale defaults to head_dim ** -0.5; causal masks are
aligned bottom-right (query i sees keys j <= i + seqlen_k - seqlen_q); a query row that sees no
key outputs 0 (lse +inf); GQA/MQA when num_kv_heads divides num_heads. Gradients flow to q, k, v
(lse is not differentiable); `deterministic` makes the backward bitwise reproducible.

The checks read only tensor metadata (no host sync, no data access), so they are traced away by
torch.compile and are safe inside CUDA graph capture; cu_seqlens contents are not checked.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _ops

_DTYPES = (torch.float16, torch.bfloat16)
# "meta" lets shapes be traced without a GPU; tests/python adds "cpu" with a reference kernel.
_DEVICE_TYPES = ("cuda", "meta")


def _fail(fn: str, message: str) -> None:
    raise ValueError(f"tessera.{fn}: {message}")


def _check_tensor(fn: str, name: str, t, ndim: int, layout: str) -> None:
    if not isinstance(t, Tensor):
        _fail(fn, f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _DTYPES:
        _fail(fn, f"{name} has dtype {t.dtype}; only torch.float16 and torch.bfloat16 are supported")
    if t.device.type not in _DEVICE_TYPES:
        _fail(fn, f"{name} is on {t.device}; the kernels need CUDA tensors")
    if t.dim() != ndim:
        _fail(fn, f"{name} must be {ndim}-D {layout}, got shape {tuple(t.shape)}")
    if t.stride(-1) != 1 and t.numel() > 0:
        _fail(fn, f"{name} must be contiguous in its last dim (head_dim), got strides "
                  f"{tuple(t.stride())}; call .contiguous() first")


def _check_qkv(fn: str, q, k, v, varlen: bool) -> None:
    ndim = 3 if varlen else 4
    layout_q = "[total_q, num_heads, head_dim]" if varlen else "[batch, seqlen_q, num_heads, head_dim]"
    layout_kv = ("[total_k, num_kv_heads, head_dim]" if varlen
                 else "[batch, seqlen_k, num_kv_heads, head_dim]")
    _check_tensor(fn, "q", q, ndim, layout_q)
    _check_tensor(fn, "k", k, ndim, layout_kv)
    _check_tensor(fn, "v", v, ndim, layout_kv)
    if not (q.dtype == k.dtype == v.dtype):
        _fail(fn, f"q, k, v must have the same dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        _fail(fn, f"q, k, v must be on the same device, got {q.device}, {k.device}, {v.device}")
    if tuple(k.shape) != tuple(v.shape):
        _fail(fn, f"k and v must have the same shape, got {tuple(k.shape)} and {tuple(v.shape)}")
    head_dim = q.shape[-1]
    if k.shape[-1] != head_dim:
        _fail(fn, f"q has head_dim {head_dim} but k and v have {k.shape[-1]}")
    dims = _ops.supported_head_dims()
    if head_dim not in dims:
        _fail(fn, f"head_dim {head_dim} is not supported (supported: {', '.join(map(str, dims))})")
    num_heads, num_kv_heads = q.shape[-2], k.shape[-2]
    if num_kv_heads == 0 or num_heads % num_kv_heads != 0:
        _fail(fn, f"num_heads ({num_heads}, q.shape[-2]) must be a multiple of num_kv_heads "
                  f"({num_kv_heads}, k.shape[-2])")
    if not varlen and q.shape[0] != k.shape[0]:
        _fail(fn, f"q and k must have the same batch size, got {q.shape[0]} and {k.shape[0]}")


def _check_cu_seqlens(fn: str, q: Tensor, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                      max_seqlen_k) -> None:
    for name, cu in (("cu_seqlens_q", cu_seqlens_q), ("cu_seqlens_k", cu_seqlens_k)):
        if not isinstance(cu, Tensor):
            _fail(fn, f"{name} must be a torch.Tensor, got {type(cu).__name__}")
        if cu.dtype != torch.int32:
            _fail(fn, f"{name} must be torch.int32, got {cu.dtype}")
        if cu.dim() != 1 or cu.shape[0] < 2:
            _fail(fn, f"{name} must be 1-D [batch + 1] with batch >= 1, got shape {tuple(cu.shape)}")
        if cu.device != q.device:
            _fail(fn, f"{name} is on {cu.device} but q is on {q.device}")
        if not cu.is_contiguous():
            _fail(fn, f"{name} must be contiguous")
    if cu_seqlens_q.shape[0] != cu_seqlens_k.shape[0]:
        _fail(fn, f"cu_seqlens_q and cu_seqlens_k must have the same length (batch + 1), got "
                  f"{cu_seqlens_q.shape[0]} and {cu_seqlens_k.shape[0]}")
    for name, m in (("max_seqlen_q", max_seqlen_q), ("max_seqlen_k", max_seqlen_k)):
        if isinstance(m, bool) or not isinstance(m, (int, torch.SymInt)) or m < 0:
            _fail(fn, f"{name} must be a non-negative int, got {m!r}")


def _scale(q: Tensor, softmax_scale: Optional[float]):
    return q.shape[-1] ** -0.5 if softmax_scale is None else softmax_scale


def flash_attn_func(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                    softmax_scale: Optional[float] = None, deterministic: bool = False,
                    return_lse: bool = False):
    """Attention over [batch, seq, heads, head_dim] tensors; see the module docstring."""
    _check_qkv("flash_attn_func", q, k, v, varlen=False)
    out, lse = _ops.attention_fwd_op(q, k, v, _scale(q, softmax_scale), bool(causal),
                                     bool(deterministic))
    return (out, lse) if return_lse else out


def flash_attn_varlen_func(q: Tensor, k: Tensor, v: Tensor, cu_seqlens_q: Tensor,
                           cu_seqlens_k: Tensor, max_seqlen_q: int, max_seqlen_k: int,
                           causal: bool = False, softmax_scale: Optional[float] = None,
                           deterministic: bool = False, return_lse: bool = False):
    """Attention over packed variable-length sequences; see the module docstring.

    max_seqlen_q/k must be at least the longest sequence (they size the grid); cu_seqlens_* must
    start at 0, be non-decreasing and end at total_q/total_k (not checked: that would sync).
    """
    fn = "flash_attn_varlen_func"
    _check_qkv(fn, q, k, v, varlen=True)
    _check_cu_seqlens(fn, q, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k)
    out, lse = _ops.attention_varlen_fwd_op(q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q),
                                            int(max_seqlen_k), _scale(q, softmax_scale),
                                            bool(causal), bool(deterministic))
    return (out, lse) if return_lse else out
