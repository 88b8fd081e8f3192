"""tessera._decode_ops — the paged KV cache kernels (kernels/attention/decode/decode.h) as ops.

Owns: the raw launches into caller-allocated tensors (`paged_kv_append_into`,
`paged_attention_into`: the tests poison outputs with NaN through them), the CPU-side plan cache,
and the two custom ops built on them:

    tessera::paged_kv_append  (k, v, slot_mapping, k_cache!, v_cache!, q?, rotary_cos?, rotary_sin?,
                               k_positions?, q_positions?, rope_layout) -> q_rotated
    tessera::paged_attention  (q, k_cache, v_cache, cu_seqlens_q, seq_lens, block_table, max_q_len,
                               max_seq_len, softmax_scale, causal, num_splits, return_lse)
                               -> (out, lse)

Layouts (kernels/attention/paged_kv.h): q/out [total_q, num_heads, head_dim], new k/v
[num_tokens, num_kv_heads, head_dim] (token and head strides free, last dim contiguous), caches
[num_blocks, block_size, num_kv_heads, head_dim] (block, token and head strides free and the same
for K and V, rows not overlapping: e.g. K/V pairs in one buffer, or head-major blocks), lse fp32
[num_heads, total_q],
cu_seqlens_q int32 [num_seqs + 1], seq_lens int32 [num_seqs] (cached tokens after the append),
block_table int32 [num_seqs, max_blocks_per_seq], slot_mapping int64 [num_tokens] (negative: skip),
positions int32, rotary cos/sin fp32 [max_position, rotary_dim / 2].

Invariants: every tensor (outputs, lse, workspace) is allocated by torch before the launch, nothing
reads device memory from the host, and plans come from sizes and bounds only (never the lengths),
so both ops run inside CUDA graph capture and replay with new lengths, tables and slots. The fake
implementations give the real shapes, so torch.compile(fullgraph=True) traces them. User-facing
validation lives in tessera.kvcache; here only what the launch needs is arranged.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _ops

ROPE_NONE, ROPE_ROTATE_HALF, ROPE_INTERLEAVED = 0, 1, 2  # decode.h RopeLayout

# Plans are cheap CPU calls, but a decode step is tens of microseconds of GPU time: keep them.
# Keyed by every plan input; bounded because an engine sees many distinct total_q values.
_PLANS: dict[tuple, tuple] = {}
_PLAN_CACHE_LIMIT = 4096
_NUM_SMS: dict[int, int] = {}


def _num_sms(device: torch.device) -> int:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _NUM_SMS:
        _NUM_SMS[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _NUM_SMS[index]


def paged_attention_plan(num_seqs: int, num_heads: int, num_kv_heads: int, head_dim: int,
                         max_q_len: int, max_total_q: int, max_seq_len: int, num_sms: int,
                         num_splits: int = 0) -> tuple:
    """The kernels' work split for these sizes and bounds (tessera._C.paged_attention_plan).

    Returns the plan tuple (num_splits, rows_per_cta, row_blocks, max_q_len, num_seqs, max_total_q,
    workspace_bytes), cached. A plan holds for any run within its bounds.
    """
    key = (int(num_seqs), int(num_heads), int(num_kv_heads), int(head_dim), int(max_q_len),
           int(max_total_q), int(max_seq_len), int(num_sms), int(num_splits))
    plan = _PLANS.get(key)
    if plan is None:
        plan = tuple(_ops._ext().paged_attention_plan(*key))
        if len(_PLANS) >= _PLAN_CACHE_LIMIT:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def plan_for(q: Tensor, k_cache: Tensor, num_seqs: int, max_q_len: int, max_seq_len: int,
             num_splits: int = 0) -> tuple:
    """The plan paged_attention_into uses for these tensors (q: [total_q, num_heads, head_dim])."""
    return paged_attention_plan(num_seqs, q.shape[1], k_cache.shape[2], q.shape[2], max_q_len,
                                q.shape[0], max_seq_len, _num_sms(q.device), num_splits)


def _workspace_bytes(plan: tuple) -> int:
    return int(plan[6])


def cache_strides(cache: Tensor) -> tuple:
    """(block, token, head) element strides of a [num_blocks, block_size, num_kv_heads, head_dim]
    cache as the kernels take them: 0 (the dense default) for a dimension of one entry, whose
    stride torch leaves arbitrary and no kernel uses."""
    return tuple(cache.stride(i) if cache.shape[i] > 1 else 0 for i in range(3))


def _stride_kwargs(cache: Tensor) -> dict:
    block, token, head = cache_strides(cache)
    return dict(cache_block_stride=block, cache_token_stride=token, cache_head_stride=head)


def _addr(t: Optional[Tensor]) -> int:
    return 0 if t is None else t.data_ptr()


# ---- raw launches --------------------------------------------------------------------------------

def paged_attention_into(q: Tensor, k_cache: Tensor, v_cache: Tensor, cu_seqlens_q: Tensor,
                         seq_lens: Tensor, block_table: Tensor, out: Tensor,
                         lse: Optional[Tensor], max_q_len: int, max_seq_len: int,
                         softmax_scale: float, causal: bool, num_splits: int = 0,
                         workspace: Optional[Tensor] = None) -> tuple:
    """Run paged attention, writing `out` (like q) and, when given, `lse` (fp32 [num_heads,
    total_q], contiguous) in place. Returns the plan it ran with.

    No host sync; allocates only the split-KV workspace (through torch's caching allocator, which
    is capture-safe) when `workspace` is None. Index tensors must be contiguous int32 and q/out
    last-dim contiguous; tessera.paged_attention is the checked path.
    """
    ext = _ops._ext()
    num_seqs = seq_lens.shape[0]
    num_blocks, block_size, num_kv_heads, head_dim = k_cache.shape
    plan = plan_for(q, k_cache, num_seqs, max_q_len, max_seq_len, num_splits)
    nbytes = _workspace_bytes(plan)
    if nbytes > 0 and workspace is None:
        workspace = torch.empty(nbytes, dtype=torch.uint8, device=q.device)
    with torch.cuda.device(q.device):
        ext.paged_attention(
            plan, q.data_ptr(), q.stride(0), q.stride(1), out.data_ptr(), out.stride(0),
            out.stride(1), _addr(lse), k_cache.data_ptr(), v_cache.data_ptr(), num_blocks,
            block_size, num_kv_heads, head_dim, cu_seqlens_q.data_ptr(), seq_lens.data_ptr(),
            block_table.data_ptr(), num_seqs, block_table.shape[1], q.shape[1],
            float(softmax_scale), bool(causal), _ops._DTYPE_CODES[q.dtype],
            _addr(workspace) if nbytes > 0 else 0, _ops._stream(q),
            **_stride_kwargs(k_cache))
    return plan


def paged_kv_append_into(k: Tensor, v: Tensor, slot_mapping: Tensor, k_cache: Tensor,
                         v_cache: Tensor, q: Optional[Tensor] = None,
                         q_out: Optional[Tensor] = None, rope_layout: int = ROPE_NONE,
                         rotary_cos: Optional[Tensor] = None, rotary_sin: Optional[Tensor] = None,
                         k_positions: Optional[Tensor] = None,
                         q_positions: Optional[Tensor] = None) -> None:
    """Write k/v rows into their slots of the caches (RoPE on k, and q into q_out, when asked).

    k, v: [num_tokens, num_kv_heads, head_dim]; q, q_out: [num_q_tokens, num_heads, head_dim]
    (q_out may be q); slot_mapping int64 [num_tokens]; positions int32; cos/sin fp32
    [max_position, rotary_dim / 2] contiguous. No allocation, no host sync.
    """
    ext = _ops._ext()
    num_blocks, block_size, num_kv_heads, head_dim = k_cache.shape
    rotary_dim = 0 if rotary_cos is None else 2 * rotary_cos.shape[1]
    max_position = 0 if rotary_cos is None else rotary_cos.shape[0]
    has_q = q is not None
    with torch.cuda.device(k_cache.device):
        ext.paged_kv_append(
            k.data_ptr(), k.stride(0), k.stride(1), v.data_ptr(), v.stride(0), v.stride(1),
            slot_mapping.data_ptr(), k.shape[0], k_cache.data_ptr(), v_cache.data_ptr(),
            num_blocks, block_size, num_kv_heads, head_dim,
            _addr(q), q.stride(0) if has_q else 0, q.stride(1) if has_q else 0,
            _addr(q_out), q_out.stride(0) if has_q else 0, q_out.stride(1) if has_q else 0,
            q.shape[0] if has_q else 0, q.shape[1] if has_q else 0,
            int(rope_layout), rotary_dim, _addr(rotary_cos), _addr(rotary_sin), max_position,
            _addr(k_positions), _addr(q_positions), _ops._DTYPE_CODES[k_cache.dtype],
            _ops._stream(k_cache), **_stride_kwargs(k_cache))


# ---- custom ops ----------------------------------------------------------------------------------

def _unit_last(t: Tensor) -> Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def _contig(t: Optional[Tensor]) -> Optional[Tensor]:
    return t if t is None or t.is_contiguous() else t.contiguous()


def _attention_outputs(q: Tensor, return_lse: bool) -> tuple[Tensor, Tensor]:
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse_shape = (q.shape[1], q.shape[0]) if return_lse else (0,)
    return out, torch.empty(lse_shape, dtype=torch.float32, device=q.device)


@torch.library.custom_op("tessera::paged_attention", mutates_args=(), device_types="cuda")
def paged_attention_op(q: Tensor, k_cache: Tensor, v_cache: Tensor, cu_seqlens_q: Tensor,
                       seq_lens: Tensor, block_table: Tensor, max_q_len: int, max_seq_len: int,
                       softmax_scale: float, causal: bool, num_splits: int,
                       return_lse: bool) -> tuple[Tensor, Tensor]:
    # lse is [num_heads, total_q] when return_lse, else an empty placeholder (the kernel skips it).
    q = _unit_last(q)
    out, lse = _attention_outputs(q, return_lse)
    if q.shape[0] == 0:
        return out, lse
    if (seq_lens.shape[0] == 0 or k_cache.shape[0] == 0 or k_cache.shape[1] == 0
            or block_table.shape[1] == 0):
        # No sequence or no cache storage: every row sees no key (out 0, lse +inf, as the kernel
        # gives such rows).
        out.zero_()
        lse.fill_(float("inf"))
        return out, lse
    paged_attention_into(q, k_cache, v_cache, _contig(cu_seqlens_q), _contig(seq_lens),
                         _contig(block_table), out, lse if return_lse else None, max_q_len,
                         max_seq_len, softmax_scale, causal, num_splits)
    return out, lse


@paged_attention_op.register_fake
def _(q, k_cache, v_cache, cu_seqlens_q, seq_lens, block_table, max_q_len, max_seq_len,
      softmax_scale, causal, num_splits, return_lse):
    return _attention_outputs(q, return_lse)


def _rotated_q(q: Optional[Tensor], k: Tensor) -> Tensor:
    # The rotated query (contiguous, like q) or, without q, an empty placeholder.
    if q is None:
        return torch.empty((0,), dtype=k.dtype, device=k.device)
    return torch.empty(q.shape, dtype=q.dtype, device=q.device)


@torch.library.custom_op("tessera::paged_kv_append", mutates_args=("k_cache", "v_cache"),
                         device_types="cuda")
def paged_kv_append_op(k: Tensor, v: Tensor, slot_mapping: Tensor, k_cache: Tensor,
                       v_cache: Tensor, q: Optional[Tensor], rotary_cos: Optional[Tensor],
                       rotary_sin: Optional[Tensor], k_positions: Optional[Tensor],
                       q_positions: Optional[Tensor], rope_layout: int) -> Tensor:
    # Returns q rotated at q_positions (k_positions when None) when q is given, else an empty
    # tensor; q itself is never written.
    q_out = _rotated_q(q, k)
    if q is not None and rope_layout == ROPE_NONE:
        q_out.copy_(q)
        q = None
    k, v = _unit_last(k), _unit_last(v)
    if q is not None:
        q = _unit_last(q)
    if k.shape[0] == 0 and (q is None or q.shape[0] == 0):
        return q_out
    if rope_layout == ROPE_NONE:
        rotary_cos = rotary_sin = k_positions = q_positions = None
    paged_kv_append_into(k, v, _contig(slot_mapping), k_cache, v_cache, q,
                         q_out if q is not None else None, rope_layout, _contig(rotary_cos),
                         _contig(rotary_sin), _contig(k_positions), _contig(q_positions))
    return q_out


@paged_kv_append_op.register_fake
def _(k, v, slot_mapping, k_cache, v_cache, q, rotary_cos, rotary_sin, k_positions, q_positions,
      rope_layout):
    return _rotated_q(q, k)
