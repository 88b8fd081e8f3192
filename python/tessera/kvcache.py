"""tessera.kvcache — the paged KV cache API: append with fused RoPE, paged attention, and
FlashAttention-2's flash_attn_with_kvcache on top of them.

    paged_kv_append(k, v, k_cache, v_cache, slot_mapping, positions=None, rotary_cos=None,
                    rotary_sin=None, rotary_interleaved=False, q=None, q_positions=None)
        k, v: [num_tokens, num_kv_heads, head_dim] -> written in place into the caches at
        slot_mapping (int64 [num_tokens]; slot = block * block_size + offset; negative: skipped);
        returns q rotated (a new tensor) when q is given, else None
    paged_attention(q, k_cache, v_cache, cu_seqlens_q, seq_lens, block_table, max_q_len,
                    max_seq_len, softmax_scale=None, causal=True, num_splits=0, return_lse=False)
        q: [total_q, num_heads, head_dim] packed new tokens -> out like q (, lse fp32
        [num_heads, total_q])
    flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, ...)  FlashAttention-2's
        signature and semantics (its docstring below)

Caches are [num_blocks, block_size, num_kv_heads, head_dim], one per layer for K and V
(kernels/attention/paged_kv.h). Each block is dense; the stride from block to block (stride(0))
is free as long as K and V share it, so both may be views of one [num_blocks, 2, block_size,
num_kv_heads, head_dim] tensor (kv[:, 0], kv[:, 1]: a block's keys and values side by side, the
layout the CUDA engine uses and, at B=64 with scattered blocks, ~1% faster to read). seq_lens
counts the tokens of each sequence AFTER this step's append and its new (query) tokens are the
tail, so causal masking is bottom-right aligned.
RoPE tables are fp32 [max_position, rotary_dim / 2] (row p: cos/sin of p * inv_freq): every RoPE
type (default, linear, llama3, ...) is just a different table; elements past rotary_dim are copied.

Capturable: the checks read tensor metadata only, index math (slot mapping, positions) runs as torch
ops on the device, plans use bounds (max_seq_len; the cache capacity in flash_attn_with_kvcache),
so nothing syncs with the host and a CUDA graph of append + attention replays with new lengths.
Bad input raises ValueError naming the argument; features the kernels lack, NotImplementedError.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from . import _decode_ops
from ._decode_ops import (ROPE_INTERLEAVED, ROPE_NONE, ROPE_ROTATE_HALF, paged_attention_into,
                          paged_attention_plan, paged_kv_append_into)

__all__ = [
    "flash_attn_with_kvcache",
    "paged_attention",
    "paged_kv_append",
    "paged_attention_into",
    "paged_kv_append_into",
    "paged_attention_plan",
    "DECODE_HEAD_DIMS",
]

# The head dims of the paged kernels: those of the prefill forward (tessera.supported_head_dims()).
DECODE_HEAD_DIMS = (64, 96, 128, 256)
_DTYPES = (torch.float16, torch.bfloat16)
# "meta" lets shapes be traced without a GPU; a CPU test may add "cpu" with a reference kernel.
_DEVICE_TYPES = ("cuda", "meta")


def _fail(fn: str, message: str):
    raise ValueError(f"tessera.{fn}: {message}")


def _is_int(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, torch.SymInt))


def _check_tensor(fn: str, name: str, t, ndim: int, layout: str, dtypes=_DTYPES,
                  device: Optional[torch.device] = None) -> None:
    if not isinstance(t, Tensor):
        _fail(fn, f"{name} must be a torch.Tensor {layout}, got {type(t).__name__}")
    if t.dim() != ndim:
        _fail(fn, f"{name} must be {ndim}-D {layout}, got shape {tuple(t.shape)}")
    if t.dtype not in dtypes:
        names = " or ".join(str(d) for d in dtypes)
        _fail(fn, f"{name} has dtype {t.dtype}; expected {names}")
    if device is None:
        if t.device.type not in _DEVICE_TYPES:
            _fail(fn, f"{name} is on {t.device}; the kernels need CUDA tensors")
    elif t.device != device:
        _fail(fn, f"{name} is on {t.device} but q is on {device}")


def _check_unit_last(fn: str, name: str, t: Tensor) -> None:
    if t.stride(-1) != 1 and t.numel() > 0:
        _fail(fn, f"{name} must be contiguous in its last dim (head_dim), got strides "
                  f"{tuple(t.stride())}")


def _rows_disjoint(shape, strides) -> bool:
    """Whether no two head_dim rows of a [num_blocks, block_size, num_kv_heads, head_dim] tensor
    share an element (PagedKvLayout::rows_disjoint, kernels/attention/paged_kv.h): in increasing
    order of stride, each dimension of more than one entry steps over all the inner ones span."""
    extent = shape[3]
    for n, s in sorted(((shape[i], strides[i]) for i in range(3) if shape[i] > 1),
                       key=lambda e: e[1]):
        if s < extent:
            return False
        extent += (n - 1) * s
    return True


def _check_caches(fn: str, k_cache, v_cache, dtype: torch.dtype, device: torch.device,
                  layout: str) -> None:
    for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
        _check_tensor(fn, name, c, 4, layout, device=device)
        if c.dtype != dtype:
            _fail(fn, f"{name} has dtype {c.dtype} but q/k have {dtype}")
        # Appends write into the caller's cache: a copy would lose them, so no copy is made. Any
        # strides above the last dim are taken (as FlashAttention-2 takes them): K and V sharing
        # one allocation, head-major blocks, ...
        _check_unit_last(fn, name, c)
    if tuple(k_cache.shape) != tuple(v_cache.shape):
        _fail(fn, f"k_cache and v_cache must have the same shape, got {tuple(k_cache.shape)} and "
                  f"{tuple(v_cache.shape)}")
    strides = _decode_ops.cache_strides(k_cache)
    if strides != _decode_ops.cache_strides(v_cache):
        _fail(fn, f"k_cache and v_cache must have the same strides, got {tuple(k_cache.stride())} "
                  f"and {tuple(v_cache.stride())}")
    if any(s % 8 for s in strides):
        _fail(fn, f"k_cache strides {tuple(k_cache.stride())} must be multiples of 8 elements "
                  f"(16 bytes) above the last dim")
    if not _rows_disjoint(k_cache.shape, k_cache.stride()):
        _fail(fn, f"k_cache strides {tuple(k_cache.stride())} make rows of {layout} overlap: in "
                  f"increasing order, each stride must step over everything the smaller ones span")
    head_dim = k_cache.shape[3]
    if head_dim not in DECODE_HEAD_DIMS:
        _fail(fn, f"head_dim {head_dim} (k_cache.shape[3]) is not supported (supported: "
                  f"{', '.join(map(str, DECODE_HEAD_DIMS))})")
    if k_cache.shape[2] == 0:
        _fail(fn, "k_cache has 0 kv heads (shape[2])")


def _check_heads(fn: str, num_heads: int, num_kv_heads: int, head_dim: int,
                 q_head_dim: int) -> None:
    if q_head_dim != head_dim:
        _fail(fn, f"q has head_dim {q_head_dim} but the caches have {head_dim}")
    if num_heads % num_kv_heads != 0:
        _fail(fn, f"num_heads ({num_heads}, q.shape[-2]) must be a multiple of num_kv_heads "
                  f"({num_kv_heads}, k_cache.shape[2])")


def _check_index(fn: str, name: str, t, shape: tuple, dtype: torch.dtype,
                 device: torch.device) -> None:
    # shape entries of None accept any size.
    if not isinstance(t, Tensor):
        _fail(fn, f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        _fail(fn, f"{name} must be {dtype}, got {t.dtype}")
    want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
    if t.dim() != len(shape) or any(s is not None and t.shape[i] != s for i, s in enumerate(shape)):
        _fail(fn, f"{name} must have shape {want}, got {tuple(t.shape)}")
    if t.device != device:
        _fail(fn, f"{name} is on {t.device} but q is on {device}")


def _check_rotary(fn: str, rotary_cos, rotary_sin, head_dim: int, device: torch.device) -> int:
    """Checks the cos/sin tables [max_position, rotary_dim / 2]; returns rotary_dim."""
    if (rotary_cos is None) != (rotary_sin is None):
        _fail(fn, "rotary_cos and rotary_sin must be given together")
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    for name, t in (("rotary_cos", rotary_cos), ("rotary_sin", rotary_sin)):
        _check_tensor(fn, name, t, 2, "[max_position, rotary_dim / 2]", dtypes, device)
    if tuple(rotary_cos.shape) != tuple(rotary_sin.shape):
        _fail(fn, f"rotary_cos and rotary_sin must have the same shape, got "
                  f"{tuple(rotary_cos.shape)} and {tuple(rotary_sin.shape)}")
    rotary_dim = 2 * rotary_cos.shape[1]
    if rotary_dim == 0 or rotary_dim > head_dim:
        _fail(fn, f"rotary_cos.shape[1] ({rotary_cos.shape[1]}) must be rotary_dim / 2 with "
                  f"0 < rotary_dim <= head_dim ({head_dim})")
    if rotary_cos.shape[0] == 0:
        _fail(fn, "rotary_cos has no rows (max_position 0)")
    return rotary_dim


def _table(t: Tensor) -> Tensor:
    # The kernels read fp32 tables; FlashAttention-2 takes them in q's dtype.
    return t.to(torch.float32).contiguous()


# ---- append --------------------------------------------------------------------------------------

def paged_kv_append(k: Tensor, v: Tensor, k_cache: Tensor, v_cache: Tensor, slot_mapping: Tensor,
                    positions: Optional[Tensor] = None, rotary_cos: Optional[Tensor] = None,
                    rotary_sin: Optional[Tensor] = None, rotary_interleaved: bool = False,
                    q: Optional[Tensor] = None,
                    q_positions: Optional[Tensor] = None) -> Optional[Tensor]:
    """Write new keys/values into the paged caches, with RoPE applied to k (and q) on the way.

    k, v: [num_tokens, num_kv_heads, head_dim] fp16/bf16 (token/head strides free, last dim
    contiguous). k_cache, v_cache: [num_blocks, block_size, num_kv_heads, head_dim] (last dim
    contiguous; any other strides, the same for both, with no two rows overlapping, e.g. views of
    one [num_blocks, 2, ...] buffer or of head-major blocks), updated in place. slot_mapping:
    int64 [num_tokens], row t goes to slot slot_mapping[t] (= block * block_size + offset;
    negative = padding, nothing written; slots are not range-checked on the host, which would need
    a sync). With rotary_cos/rotary_sin (fp32, or fp16/bf16 converted, [max_position,
    rotary_dim / 2]; positions past the table are clamped to its last row), row t is rotated at
    positions[t] (int32 [num_tokens]) in the GPT-NeoX rotate-half layout, or the GPT-J interleaved
    one when rotary_interleaved. q ([num_q_tokens, num_heads, head_dim])
    is rotated at q_positions (int32 [num_q_tokens]; default: positions, then num_q_tokens must not
    exceed num_tokens) into a new tensor, which is returned; without q, None.
    """
    fn = "paged_kv_append"
    layout_kv = "[num_tokens, num_kv_heads, head_dim]"
    _check_tensor(fn, "k", k, 3, layout_kv)
    device = k.device
    _check_tensor(fn, "v", v, 3, layout_kv, device=device)
    if v.dtype != k.dtype:
        _fail(fn, f"k and v must have the same dtype, got {k.dtype} and {v.dtype}")
    if tuple(k.shape) != tuple(v.shape):
        _fail(fn, f"k and v must have the same shape, got {tuple(k.shape)} and {tuple(v.shape)}")
    cache_layout = "[num_blocks, block_size, num_kv_heads, head_dim]"
    _check_caches(fn, k_cache, v_cache, k.dtype, device, cache_layout)
    if tuple(k.shape[1:]) != tuple(k_cache.shape[2:]):
        _fail(fn, f"k must be [num_tokens, {k_cache.shape[2]}, {k_cache.shape[3]}] to match "
                  f"k_cache {tuple(k_cache.shape)}, got {tuple(k.shape)}")
    num_tokens = k.shape[0]
    _check_index(fn, "slot_mapping", slot_mapping, (num_tokens,), torch.int64, device)
    rope = ROPE_NONE
    if rotary_cos is not None or rotary_sin is not None:
        _check_rotary(fn, rotary_cos, rotary_sin, k.shape[2], device)
        rope = ROPE_INTERLEAVED if rotary_interleaved else ROPE_ROTATE_HALF
        if positions is None:
            _fail(fn, "positions (int32 [num_tokens]) are needed with rotary_cos/rotary_sin")
        _check_index(fn, "positions", positions, (num_tokens,), torch.int32, device)
    elif positions is not None or q_positions is not None:
        _fail(fn, "positions/q_positions were given without rotary_cos/rotary_sin")
    if q is not None:
        _check_tensor(fn, "q", q, 3, "[num_q_tokens, num_heads, head_dim]", device=device)
        if q.dtype != k.dtype:
            _fail(fn, f"q has dtype {q.dtype} but k has {k.dtype}")
        _check_heads(fn, q.shape[1], k.shape[1], k.shape[2], q.shape[2])
        if q_positions is not None:
            _check_index(fn, "q_positions", q_positions, (q.shape[0],), torch.int32, device)
        elif rope != ROPE_NONE and q.shape[0] > num_tokens:
            _fail(fn, f"q has {q.shape[0]} tokens but positions only {num_tokens}: pass "
                      "q_positions")
        if rope != ROPE_NONE and num_tokens == 0 and q.shape[0] > 0:
            # The launcher takes k, v and slot_mapping as required arrays even with no rows.
            _fail(fn, "rotating q needs at least one new k/v token (k has 0 rows)")
    elif q_positions is not None:
        _fail(fn, "q_positions was given without q")
    for name, t in (("k", k), ("v", v), ("q", q)):
        if t is not None:
            _check_unit_last(fn, name, t)
    cos = _table(rotary_cos) if rope != ROPE_NONE else None
    sin = _table(rotary_sin) if rope != ROPE_NONE else None
    q_out = _decode_ops.paged_kv_append_op(k, v, slot_mapping, k_cache, v_cache, q, cos, sin,
                                           positions, q_positions, rope)
    return q_out if q is not None else None


# ---- attention -----------------------------------------------------------------------------------

def paged_attention(q: Tensor, k_cache: Tensor, v_cache: Tensor, cu_seqlens_q: Tensor,
                    seq_lens: Tensor, block_table: Tensor, max_q_len: Optional[int] = None,
                    max_seq_len: Optional[int] = None, softmax_scale: Optional[float] = None,
                    causal: bool = True, num_splits: int = 0, return_lse: bool = False):
    """Attention of each sequence's new tokens over its paged keys and values.

    q: [total_q, num_heads, head_dim] fp16/bf16, sequence s owning rows
    [cu_seqlens_q[s], cu_seqlens_q[s+1]) (cu_seqlens_q int32 [num_seqs + 1]). seq_lens: int32
    [num_seqs], the keys of s (its new tokens included, as their tail: query row i of s sits at
    position seq_lens[s] - q_len + i; causal is bottom-right). block_table: int32 [num_seqs,
    max_blocks_per_seq]. k_cache, v_cache: [num_blocks, block_size, num_kv_heads, head_dim], strided
    as paged_kv_append takes them. max_q_len / max_seq_len bound the new tokens / keys of any
    sequence (they size the work split; lengths beyond them are not checked here, which would need
    a sync); defaults total_q and the table's capacity max_blocks_per_seq * block_size.
    num_splits: 0 lets the plan choose the split-KV factor, n forces it. softmax_scale defaults to
    head_dim ** -0.5.
    Returns out like q (contiguous), and with return_lse also lse fp32 [num_heads, total_q]
    (natural log; +inf on rows that see no key, whose out is 0). GQA when num_kv_heads divides
    num_heads (query heads h*g .. h*g+g-1 read kv head h).
    """
    fn = "paged_attention"
    _check_tensor(fn, "q", q, 3, "[total_q, num_heads, head_dim]")
    device = q.device
    _check_caches(fn, k_cache, v_cache, q.dtype, device,
                  "[num_blocks, block_size, num_kv_heads, head_dim]")
    _check_heads(fn, q.shape[1], k_cache.shape[2], k_cache.shape[3], q.shape[2])
    _check_unit_last(fn, "q", q)
    if not isinstance(cu_seqlens_q, Tensor) or cu_seqlens_q.dim() != 1 or cu_seqlens_q.shape[0] < 1:
        _fail(fn, "cu_seqlens_q must be a 1-D int32 tensor [num_seqs + 1]")
    num_seqs = cu_seqlens_q.shape[0] - 1
    _check_index(fn, "cu_seqlens_q", cu_seqlens_q, (num_seqs + 1,), torch.int32, device)
    _check_index(fn, "seq_lens", seq_lens, (num_seqs,), torch.int32, device)
    _check_index(fn, "block_table", block_table, (num_seqs, None), torch.int32, device)
    capacity = block_table.shape[1] * k_cache.shape[1]
    max_q_len = q.shape[0] if max_q_len is None else max_q_len
    max_seq_len = capacity if max_seq_len is None else max_seq_len
    for name, value, low in (("max_q_len", max_q_len, 0), ("max_seq_len", max_seq_len, 0),
                             ("num_splits", num_splits, 0)):
        if not _is_int(value) or value < low:
            _fail(fn, f"{name} must be an int >= {low}, got {value!r}")
    scale = q.shape[-1] ** -0.5 if softmax_scale is None else float(softmax_scale)
    out, lse = _decode_ops.paged_attention_op(q, k_cache, v_cache, cu_seqlens_q, seq_lens,
                                              block_table, max(1, max_q_len), max_seq_len, scale,
                                              bool(causal), num_splits, bool(return_lse))
    return (out, lse) if return_lse else out


# ---- FlashAttention-2's flash_attn_with_kvcache --------------------------------------------------

def _unsupported(cache_batch_idx, cache_leftpad, window_size, softcap, alibi_slopes) -> None:
    def no(what: str) -> None:
        raise NotImplementedError(f"tessera.flash_attn_with_kvcache: {what} is not supported by "
                                  "tessera's kernels")

    if cache_batch_idx is not None:
        no("cache_batch_idx (index into the cache batch; pass None, or use block_table)")
    if cache_leftpad is not None:
        no("cache_leftpad (left-padded caches; pass None)")
    if window_size is not None and tuple(window_size) != (-1, -1):
        no(f"window_size={tuple(window_size)} (sliding-window attention; pass (-1, -1))")
    if softcap is not None and softcap != 0.0:
        no(f"softcap={softcap} (logit soft-capping; pass 0.0)")
    if alibi_slopes is not None:
        no("alibi_slopes (ALiBi bias; pass None)")


def flash_attn_with_kvcache(
    q,
    k_cache,
    v_cache,
    k=None,
    v=None,
    rotary_cos=None,
    rotary_sin=None,
    cache_seqlens: Optional[Union[int, Tensor]] = None,
    cache_batch_idx: Optional[Tensor] = None,
    cache_leftpad: Optional[Tensor] = None,
    block_table: Optional[Tensor] = None,
    softmax_scale=None,
    causal=False,
    window_size=(-1, -1),
    softcap=0.0,
    rotary_interleaved=True,
    alibi_slopes=None,
    num_splits=0,
    return_softmax_lse=False,
):
    """FlashAttention-2's incremental-decoding attention (flash_attn 2.x signature and semantics).

    q: (batch, seqlen_q, nheads, headdim) fp16/bf16, headdim 64, 128 or 256.
    k_cache, v_cache: (batch_cache >= batch, seqlen_cache, nheads_k, headdim), row b the cache
        of sequence b; or with block_table (int32 (batch, max_blocks)) a paged cache
        (num_blocks, page_block_size, nheads_k, headdim), any page_block_size >= 1. The last dim
        is contiguous; the other strides are free (the same for both, multiples of 8, no two
        rows overlapping), as in FlashAttention-2: K and V may be views of one buffer, pages may
        be head-major (a (num_blocks, nheads_k, page_block_size, headdim) tensor transposed).
    k, v: optional (batch, seqlen_new, nheads_k, headdim): written into the caches in place at
        positions cache_seqlens[b] + i before the attention, which then sees them.
    rotary_cos, rotary_sin: optional (seqlen_ro, rotary_dim / 2), only with k/v, seqlen_ro at
        least the cache capacity: k is rotated at positions cache_seqlens[b] + i; q at
        cache_seqlens[b] + i when causal, else at cache_seqlens[b]; rotary_interleaved pairs
        dims (0, 1), (2, 3), ... (GPT-J), else (i, i + rotary_dim / 2) (GPT-NeoX).
    cache_seqlens: int or int32 (batch,): tokens already in each cache (before the append).
        None: the caches are full (seqlen = capacity), which leaves no room for k/v.
    causal: bottom-right aligned over the cache_seqlens + seqlen_new keys. softmax_scale defaults
        to headdim ** -0.5. num_splits: 0 = heuristic, n = forced split-KV factor.
    Returns out (batch, seqlen_q, nheads, headdim) and, with return_softmax_lse, lse fp32
    (batch, nheads, seqlen_q).

    Not supported (NotImplementedError): cache_batch_idx, cache_leftpad, window_size other than
    (-1, -1), softcap, alibi_slopes. Lengths are not read on the host (no sync): keys past the
    cache capacity are dropped and the attention length is clamped to the capacity.
    """
    fn = "flash_attn_with_kvcache"
    _unsupported(cache_batch_idx, cache_leftpad, window_size, softcap, alibi_slopes)
    _check_tensor(fn, "q", q, 4, "(batch, seqlen_q, nheads, headdim)")
    device, dtype = q.device, q.dtype
    batch, seqlen_q, num_heads, head_dim = q.shape
    paged = block_table is not None
    cache_layout = ("(num_blocks, page_block_size, nheads_k, headdim)" if paged
                    else "(batch_cache, seqlen_cache, nheads_k, headdim)")
    _check_caches(fn, k_cache, v_cache, dtype, device, cache_layout)
    num_kv_heads = k_cache.shape[2]
    _check_heads(fn, num_heads, num_kv_heads, head_dim, k_cache.shape[3])
    _check_unit_last(fn, "q", q)
    block_size = k_cache.shape[1]
    if paged:
        _check_index(fn, "block_table", block_table, (batch, None), torch.int32, device)
        if block_table.shape[1] == 0:
            _fail(fn, f"block_table must have at least one column, got {tuple(block_table.shape)}")
        block_table = block_table.contiguous()
    else:
        if k_cache.shape[0] < batch:
            _fail(fn, f"k_cache has {k_cache.shape[0]} sequences (shape[0]) but q has batch "
                      f"{batch}")
        # A contiguous cache is a paged one with one block of seqlen_cache slots per sequence.
        block_table = torch.arange(batch, dtype=torch.int32, device=device).view(batch, 1)
    capacity = block_table.shape[1] * block_size

    if (k is None) != (v is None):
        _fail(fn, "k and v must be given together")
    seqlen_new = 0
    if k is not None:
        layout_new = f"({batch}, seqlen_new, {num_kv_heads}, {head_dim})"
        for name, t in (("k", k), ("v", v)):
            _check_tensor(fn, name, t, 4, "(batch, seqlen_new, nheads_k, headdim)", device=device)
            if t.dtype != dtype:
                _fail(fn, f"{name} has dtype {t.dtype} but q has {dtype}")
            if t.shape[0] != batch or t.shape[2] != num_kv_heads or t.shape[3] != head_dim:
                _fail(fn, f"{name} must be {layout_new}, got {tuple(t.shape)}")
        if tuple(k.shape) != tuple(v.shape):
            _fail(fn, f"k and v must have the same shape, got {tuple(k.shape)} and "
                      f"{tuple(v.shape)}")
        seqlen_new = k.shape[1]
    rotary = rotary_cos is not None or rotary_sin is not None
    if rotary:
        if k is None:
            _fail(fn, "rotary_cos/rotary_sin are applied only with new k/v; pass k and v too")
        _check_rotary(fn, rotary_cos, rotary_sin, head_dim, device)
        if seqlen_new == 0:
            _fail(fn, "rotary_cos/rotary_sin need at least one new token in k/v (seqlen_new is 0)")
        if rotary_cos.shape[0] < capacity:
            _fail(fn, f"rotary_cos/rotary_sin have {rotary_cos.shape[0]} rows but the cache holds "
                      f"{capacity} positions; seqlen_ro must be at least that")

    if cache_seqlens is None:
        if k is not None:
            _fail(fn, "cache_seqlens is needed with k/v (where to append); None means the caches "
                      "are full")
        base = torch.full((batch,), capacity, dtype=torch.int32, device=device)
    elif _is_int(cache_seqlens):
        base = torch.full((batch,), cache_seqlens, dtype=torch.int32, device=device)
    else:
        _check_index(fn, "cache_seqlens", cache_seqlens, (batch,), torch.int32, device)
        base = cache_seqlens
    # Lengths stay on the device: clamp instead of checking (a check would sync).
    base = base.clamp(0, capacity)
    seq_lens = (base + seqlen_new).clamp(max=capacity).to(torch.int32)

    q_rows = q.reshape(batch * seqlen_q, num_heads, head_dim)
    if k is not None and seqlen_new > 0:
        steps = torch.arange(seqlen_new, dtype=torch.int64, device=device)
        pos = base.to(torch.int64)[:, None] + steps[None, :]                # (batch, seqlen_new)
        in_cache = pos < capacity
        block_index = (pos // block_size).clamp(max=block_table.shape[1] - 1)
        block = torch.gather(block_table, 1, block_index)
        slots = torch.where(in_cache, block.to(torch.int64) * block_size + pos % block_size,
                            torch.full_like(pos, -1)).reshape(-1)
        k_rows = k.reshape(batch * seqlen_new, num_kv_heads, head_dim)
        v_rows = v.reshape(batch * seqlen_new, num_kv_heads, head_dim)
        if rotary:
            k_pos = pos.to(torch.int32).reshape(-1)
            q_steps = torch.arange(seqlen_q, dtype=torch.int32, device=device)
            if causal:
                q_pos = base[:, None] + q_steps[None, :]
            else:
                q_pos = base[:, None].expand(batch, seqlen_q)
            q_pos = q_pos.to(torch.int32).reshape(-1)
            q_rows = paged_kv_append(k_rows, v_rows, k_cache, v_cache, slots, positions=k_pos,
                                     rotary_cos=rotary_cos, rotary_sin=rotary_sin,
                                     rotary_interleaved=bool(rotary_interleaved), q=q_rows,
                                     q_positions=q_pos)
        else:
            paged_kv_append(k_rows, v_rows, k_cache, v_cache, slots)

    cu_seqlens_q = torch.arange(batch + 1, dtype=torch.int32, device=device) * seqlen_q
    res = paged_attention(q_rows, k_cache, v_cache, cu_seqlens_q, seq_lens, block_table,
                          max_q_len=max(1, seqlen_q), max_seq_len=capacity,
                          softmax_scale=softmax_scale, causal=causal, num_splits=num_splits,
                          return_lse=return_softmax_lse)
    if not return_softmax_lse:
        return res.view(batch, seqlen_q, num_heads, head_dim)
    out, lse = res
    lse = lse.view(num_heads, batch, seqlen_q).permute(1, 0, 2).contiguous()
    return out.view(batch, seqlen_q, num_heads, head_dim), lse
