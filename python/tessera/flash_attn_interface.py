"""tessera.flash_attn_interface — FlashAttention-2's Python API (flash_attn 2.x) on tessera's kernels.

Code written against `flash_attn` switches with one import:

    from tessera.flash_attn_interface import flash_attn_func, flash_attn_varlen_func

Same names, argument order, defaults, layouts and return values as flash_attn 2.x:
out, or (out, softmax_lse, None) with return_attn_probs=True (flash_attn returns the attention
probabilities only when dropout is on, which tessera does not support). Features tessera's
kernels do not have raise NotImplementedError naming the argument: dropout_p > 0, window_size
other than (-1, -1), softcap != 0, alibi_slopes, block_table. Like flash_attn, an input whose last
dim is not contiguous is copied first.
"""

from __future__ import annotations


from torch import Tensor

from . import attention as _attention

__all__ = [
    "flash_attn_func",
    "flash_attn_kvpacked_func",
    "flash_attn_qkvpacked_func",
    "flash_attn_varlen_func",
    "flash_attn_varlen_kvpacked_func",
    "flash_attn_varlen_qkvpacked_func",
]


def _unsupported(fn: str, dropout_p, window_size, softcap, alibi_slopes, block_table=None) -> None:
    def no(what: str) -> None:
        raise NotImplementedError(f"tessera.flash_attn_interface.{fn}: {what} is not supported by "
                                  "tessera's kernels")

    if dropout_p is not None and dropout_p > 0.0:
        no(f"dropout_p={dropout_p} (attention dropout; pass dropout_p=0.0)")
    if window_size is not None and tuple(window_size) != (-1, -1):
        no(f"window_size={tuple(window_size)} (sliding-window attention; pass (-1, -1))")
    if softcap is not None and softcap != 0.0:
        no(f"softcap={softcap} (logit soft-capping; pass 0.0)")
    if alibi_slopes is not None:
        no("alibi_slopes (ALiBi bias; pass None)")
    if block_table is not None:
        no("block_table (paged KV; pass None)")


def _contig(t: Tensor) -> Tensor:
    return t.contiguous() if t.stride(-1) != 1 else t


def _result(out_lse, return_attn_probs: bool):
    out, lse = out_lse
    return (out, lse, None) if return_attn_probs else out


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                    return_attn_probs=False):
    """q: (batch, seqlen_q, nheads, headdim); k, v: (batch, seqlen_k, nheads_k, headdim).

    Returns out (batch, seqlen_q, nheads, headdim) [, softmax_lse (batch, nheads, seqlen_q), None].
    """
    _unsupported("flash_attn_func", dropout_p, window_size, softcap, alibi_slopes)
    res = _attention.flash_attn_func(_contig(q), _contig(k), _contig(v), causal=causal,
                                     softmax_scale=softmax_scale, deterministic=deterministic,
                                     return_lse=True)
    return _result(res, return_attn_probs)


def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False,
                              window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                              deterministic=False, return_attn_probs=False):
    """qkv: (batch, seqlen, 3, nheads, headdim). Returns out (batch, seqlen, nheads, headdim)."""
    _unsupported("flash_attn_qkvpacked_func", dropout_p, window_size, softcap, alibi_slopes)
    _check_packed("flash_attn_qkvpacked_func", "qkv", qkv, 5, 3)
    q, k, v = qkv.unbind(dim=2)
    res = _attention.flash_attn_func(_contig(q), _contig(k), _contig(v), causal=causal,
                                     softmax_scale=softmax_scale, deterministic=deterministic,
                                     return_lse=True)
    return _result(res, return_attn_probs)


def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False,
                             window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                             deterministic=False, return_attn_probs=False):
    """q: (batch, seqlen_q, nheads, headdim); kv: (batch, seqlen_k, 2, nheads_k, headdim)."""
    _unsupported("flash_attn_kvpacked_func", dropout_p, window_size, softcap, alibi_slopes)
    _check_packed("flash_attn_kvpacked_func", "kv", kv, 5, 2)
    k, v = kv.unbind(dim=2)
    res = _attention.flash_attn_func(_contig(q), _contig(k), _contig(v), causal=causal,
                                     softmax_scale=softmax_scale, deterministic=deterministic,
                                     return_lse=True)
    return _result(res, return_attn_probs)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                           dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                           softcap=0.0, alibi_slopes=None, deterministic=False,
                           return_attn_probs=False, block_table=None):
    """q: (total_q, nheads, headdim); k, v: (total_k, nheads_k, headdim); cu_seqlens_*: int32
    (batch + 1). Returns out (total_q, nheads, headdim) [, softmax_lse (nheads, total_q), None]."""
    _unsupported("flash_attn_varlen_func", dropout_p, window_size, softcap, alibi_slopes,
                 block_table)
    res = _attention.flash_attn_varlen_func(
        _contig(q), _contig(k), _contig(v), cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
        max_seqlen_k, causal=causal, softmax_scale=softmax_scale, deterministic=deterministic,
        return_lse=True)
    return _result(res, return_attn_probs)


def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0,
                                     softmax_scale=None, causal=False, window_size=(-1, -1),
                                     softcap=0.0, alibi_slopes=None, deterministic=False,
                                     return_attn_probs=False):
    """qkv: (total, 3, nheads, headdim); cu_seqlens: int32 (batch + 1)."""
    _unsupported("flash_attn_varlen_qkvpacked_func", dropout_p, window_size, softcap,
                 alibi_slopes)
    _check_packed("flash_attn_varlen_qkvpacked_func", "qkv", qkv, 4, 3)
    q, k, v = qkv.unbind(dim=1)
    res = _attention.flash_attn_varlen_func(
        _contig(q), _contig(k), _contig(v), cu_seqlens, cu_seqlens, max_seqlen, max_seqlen,
        causal=causal, softmax_scale=softmax_scale, deterministic=deterministic, return_lse=True)
    return _result(res, return_attn_probs)


def flash_attn_varlen_kvpacked_func(q, kv, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                                    max_seqlen_k, dropout_p=0.0, softmax_scale=None,
                                    causal=False, window_size=(-1, -1), softcap=0.0,
                                    alibi_slopes=None, deterministic=False,
                                    return_attn_probs=False):
    """q: (total_q, nheads, headdim); kv: (total_k, 2, nheads_k, headdim)."""
    _unsupported("flash_attn_varlen_kvpacked_func", dropout_p, window_size, softcap,
                 alibi_slopes)
    _check_packed("flash_attn_varlen_kvpacked_func", "kv", kv, 4, 2)
    k, v = kv.unbind(dim=1)
    res = _attention.flash_attn_varlen_func(
        _contig(q), _contig(k), _contig(v), cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
        max_seqlen_k, causal=causal, softmax_scale=softmax_scale, deterministic=deterministic,
        return_lse=True)
    return _result(res, return_attn_probs)


def _check_packed(fn: str, name: str, t, ndim: int, count: int) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"tessera.{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
    packed_dim = ndim - 3
    if t.dim() != ndim or t.shape[packed_dim] != count:
        raise ValueError(f"tessera.{fn}: {name} must be {ndim}-D with size {count} at dim "
                         f"{packed_dim}, got shape {tuple(t.shape)}")
