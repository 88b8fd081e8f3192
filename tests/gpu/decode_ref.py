"""tests/gpu/decode_ref.py — references and batch builders the paged KV cache tests share.

- RoPE tables the transformers way (inv_freq for the default, linear and llama3 types, then
  cos/sin of position * inv_freq in fp32) and `rope_ref`, which rotates exactly as the append kernel
  promises (fp32, x*cos - y*sin and y*cos + x*sin with each product rounded, one rounding to the
  dtype): appended caches and rotated queries are compared bitwise against it.
- `append_ref`: the caches after an append, by plain indexing (slots < 0 skipped).
- `paged_attention_ref`: per sequence, the keys/values gathered through the block table, then the
  fp32 attention of attention_ref.py (bottom-right causal, GQA) and PyTorch SDPA in the inputs'
  precision on the same gathered data, for the rule of docs/architecture.md ("How we measure") (`check_paged`).
- `PagedBatch` / `make_batch`: random caches with shuffled (non-monotonic) block tables; unused
  table entries point at valid blocks of other data, so reading past a sequence gives wrong
  answers rather than a fault.

Everything works on CPU tensors too (small sizes), which is how the index math was tried without a
GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from attention_ref import attention_ref, check, max_err, sdpa_lowp

# ---- RoPE ----------------------------------------------------------------------------------------


def inv_freq_default(rotary_dim: int, theta: float = 10000.0) -> torch.Tensor:
    """theta ** (-2i / rotary_dim), i < rotary_dim / 2, as transformers computes it (fp32)."""
    exponents = torch.arange(0, rotary_dim, 2, dtype=torch.int64).float() / rotary_dim
    return 1.0 / (theta ** exponents)


def inv_freq_linear(rotary_dim: int, theta: float = 10000.0, factor: float = 4.0) -> torch.Tensor:
    """Linear position interpolation: positions divided by factor, i.e. inv_freq / factor."""
    return inv_freq_default(rotary_dim, theta) / factor


def inv_freq_llama3(rotary_dim: int, theta: float = 500000.0, factor: float = 8.0,
                    low_freq_factor: float = 1.0, high_freq_factor: float = 4.0,
                    original_max_position: int = 8192) -> torch.Tensor:
    """Llama 3.1's frequency-dependent scaling: long wavelengths divided by factor, short ones
    kept, those in between interpolated smoothly between the two."""
    inv_freq = inv_freq_default(rotary_dim, theta)
    wavelen = 2 * math.pi / inv_freq
    low_freq_wavelen = original_max_position / low_freq_factor    # longer than this: scaled
    high_freq_wavelen = original_max_position / high_freq_factor  # shorter than this: kept
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (original_max_position / wavelen - low_freq_factor) / (high_freq_factor -
                                                                     low_freq_factor)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, blended, scaled)


def inv_freq_for(rope_type: str, rotary_dim: int) -> torch.Tensor:
    if rope_type == "default":
        return inv_freq_default(rotary_dim)
    if rope_type == "linear":
        return inv_freq_linear(rotary_dim, factor=4.0)
    if rope_type == "llama3":
        return inv_freq_llama3(rotary_dim)
    raise ValueError(rope_type)


def rope_tables(inv_freq: torch.Tensor, max_position: int, device) -> tuple:
    """cos, sin: fp32 [max_position, rotary_dim / 2], row p = p * inv_freq (fp32 outer product)."""
    positions = torch.arange(max_position, dtype=torch.float32)
    freqs = torch.outer(positions, inv_freq.float())
    return freqs.cos().to(device).contiguous(), freqs.sin().to(device).contiguous()


def rope_ref(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, positions: torch.Tensor,
             interleaved: bool) -> torch.Tensor:
    """x: [tokens, heads, D] rotated at positions (int [tokens], clamped into the table) by the
    fp32 tables [P, rotary_dim / 2]; dims >= rotary_dim copied. Bitwise what the kernel writes:
    each product is its own fp32 op (no FMA in eager torch), then one rounding to x's dtype."""
    cos, sin = cos.float(), sin.float()
    rotary_dim = 2 * cos.shape[1]
    pos = positions.long().clamp(0, cos.shape[0] - 1)
    c = cos[pos][:, None, :]
    s = sin[pos][:, None, :]
    xf = x.float()
    if interleaved:
        a, b = xf[..., 0:rotary_dim:2], xf[..., 1:rotary_dim:2]
    else:
        a, b = xf[..., : rotary_dim // 2], xf[..., rotary_dim // 2: rotary_dim]
    lo = (a * c - b * s).to(x.dtype)
    hi = (b * c + a * s).to(x.dtype)
    out = x.clone()
    if interleaved:
        out[..., 0:rotary_dim:2] = lo
        out[..., 1:rotary_dim:2] = hi
    else:
        out[..., : rotary_dim // 2] = lo
        out[..., rotary_dim // 2: rotary_dim] = hi
    return out


# ---- append --------------------------------------------------------------------------------------


def append_ref(k_cache, v_cache, k, v, slots):
    """The caches after writing rows of k/v ([tokens, Hkv, D], already rotated) into `slots`
    (int64 [tokens]; negative skipped). Returns new tensors; the inputs are left alone."""
    kc = k_cache.clone(memory_format=torch.contiguous_format)  # caches may be strided views
    vc = v_cache.clone(memory_format=torch.contiguous_format)
    keep = slots >= 0
    idx = slots[keep]
    kc.view(-1, *kc.shape[2:])[idx] = k[keep]
    vc.view(-1, *vc.shape[2:])[idx] = v[keep]
    return kc, vc


def bits(t: torch.Tensor) -> torch.Tensor:
    """Reinterpret fp16/bf16 as int16 so comparisons are bitwise (NaN == NaN, -0 != +0)."""
    return t.view(torch.int16)


# ---- batches -------------------------------------------------------------------------------------


@dataclass
class PagedBatch:
    q: torch.Tensor             # [total_q, Hq, D]
    k_cache: torch.Tensor       # [num_blocks, block_size, Hkv, D]
    v_cache: torch.Tensor
    cu_seqlens_q: torch.Tensor  # int32 [num_seqs + 1]
    seq_lens: torch.Tensor      # int32 [num_seqs]
    block_table: torch.Tensor   # int32 [num_seqs, max_blocks]
    q_lens: list
    lens: list

    @property
    def capacity(self) -> int:
        return self.block_table.shape[1] * self.k_cache.shape[1]


def make_table(lens, block_size, extra_blocks=0, spare_blocks=3, generator=None):
    """Block table (CPU int32 [num_seqs, max_blocks]) for sequences of `lens` tokens: each gets
    its blocks from one random permutation of the physical blocks (non-monotonic rows, sequences
    interleaved in memory); entries past a sequence's blocks point at random valid blocks.
    Returns (table, num_blocks)."""
    need = [max(1, math.ceil(n / block_size)) for n in lens]
    max_blocks = max(need) + extra_blocks
    num_blocks = sum(need) + spare_blocks
    perm = torch.randperm(num_blocks, generator=generator)
    table = torch.randint(0, num_blocks, (len(lens), max_blocks), generator=generator)
    start = 0
    for s, n in enumerate(need):
        table[s, :n] = perm[start:start + n]
        start += n
    return table.to(torch.int32), num_blocks


def cu_seqlens(lens, device) -> torch.Tensor:
    out = [0]
    for n in lens:
        out.append(out[-1] + n)
    return torch.tensor(out, dtype=torch.int32, device=device)


def make_batch(lens, q_lens, heads, kv_heads, head_dim, dtype, block_size, device="cuda",
               extra_blocks=0) -> PagedBatch:
    """Random q and caches (every slot random, never zeros) for sequences of `lens` keys, the
    last q_lens[s] of them new (q rows; more rows than keys: the first ones see none)."""
    table, num_blocks = make_table(lens, block_size, extra_blocks)
    shape = (num_blocks, block_size, kv_heads, head_dim)
    return PagedBatch(
        q=torch.randn(sum(q_lens), heads, head_dim, dtype=dtype, device=device),
        k_cache=torch.randn(shape, dtype=dtype, device=device),
        v_cache=torch.randn(shape, dtype=dtype, device=device),
        cu_seqlens_q=cu_seqlens(q_lens, device),
        seq_lens=torch.tensor(lens, dtype=torch.int32, device=device),
        block_table=table.to(device), q_lens=list(q_lens), lens=list(lens))


def share_kv(k_cache: torch.Tensor, v_cache: torch.Tensor, pad: int = 0):
    """The same caches as views of one allocation: block b's keys, then its values, then `pad`
    NaN elements (block stride 2 * block + pad; pad 0 is [num_blocks, 2, block_size, Hkv, D], the
    CUDA engine's layout). Returns (k_view, v_view, buffer)."""
    n = k_cache.shape[0]
    dense = k_cache[0].numel()
    buf = torch.full((n, 2 * dense + pad), float("nan"), dtype=k_cache.dtype, device=k_cache.device)
    buf[:, :dense] = k_cache.reshape(n, dense)
    buf[:, dense:2 * dense] = v_cache.reshape(n, dense)
    return (buf[:, :dense].view(k_cache.shape), buf[:, dense:2 * dense].view(v_cache.shape), buf)


def head_major(k_cache: torch.Tensor, v_cache: torch.Tensor, interleave: bool = False,
               pad: int = 0):
    """The same caches with head-major blocks (a block holds each KV head's block_size rows
    together: [num_blocks, Hkv, block_size, D], seen as [num_blocks, block_size, Hkv, D] through
    strides). interleave: one buffer [num_blocks, Hkv, 2 * block_size * D + pad] holding, per block
    and head, its keys, then its values, then `pad` NaN elements. Returns (k_view, v_view, buffer
    or None)."""
    n, bs, h, d = k_cache.shape
    if not interleave:
        return (k_cache.transpose(1, 2).contiguous().transpose(1, 2),
                v_cache.transpose(1, 2).contiguous().transpose(1, 2), None)
    row = bs * d
    buf = torch.full((n, h, 2 * row + pad), float("nan"), dtype=k_cache.dtype,
                     device=k_cache.device)
    buf[:, :, :row] = k_cache.transpose(1, 2).reshape(n, h, row)
    buf[:, :, row:2 * row] = v_cache.transpose(1, 2).reshape(n, h, row)
    return (buf[:, :, :row].view(n, h, bs, d).transpose(1, 2),
            buf[:, :, row:2 * row].view(n, h, bs, d).transpose(1, 2), buf)


# ---- attention -----------------------------------------------------------------------------------


def gather_kv(cache: torch.Tensor, table_row: torch.Tensor, seq_len: int) -> torch.Tensor:
    """The first seq_len tokens of one sequence, [seq_len, Hkv, D], read through its table row."""
    block_size = cache.shape[1]
    nblocks = math.ceil(seq_len / block_size)
    blocks = table_row[:nblocks].long()
    return cache[blocks].reshape(-1, *cache.shape[2:])[:seq_len]


@dataclass
class SeqRef:
    rows: slice                # its rows of q/out (and columns of lse)
    ref: torch.Tensor          # fp32 [1, q_len, Hq, D]
    ref_lse: torch.Tensor      # fp32 [1, Hq, q_len]
    lowp: torch.Tensor         # SDPA in the inputs' precision, [1, q_len, Hq, D]
    visible: torch.Tensor      # bool [q_len]: rows that see at least one key
    label: str


def paged_attention_ref(q, k_cache, v_cache, q_lens, lens, block_table, scale, causal,
                        lowp=True) -> list:
    """Per sequence (q_len > 0): fp32 reference and SDPA low-precision result over the keys and
    values gathered through the block table (block_table may live on any device)."""
    refs, start = [], 0
    table = block_table.to(k_cache.device)
    for s, (q_len, n) in enumerate(zip(q_lens, lens)):
        rows = slice(start, start + q_len)
        start += q_len
        if q_len == 0:
            continue
        qs = q[rows][None]
        ks = gather_kv(k_cache, table[s], n)[None]
        vs = gather_kv(v_cache, table[s], n)[None]
        ref, ref_lse, visible = attention_ref(qs, ks, vs, causal, scale)
        if lowp and n > 0:
            low = torch.nan_to_num(sdpa_lowp(qs, ks, vs, causal, scale))
        else:
            low = torch.zeros_like(ref)
        refs.append(SeqRef(rows, ref, ref_lse, low, visible, f"seq {s} (q {q_len}, keys {n})"))
    return refs


def check_paged(out, lse, refs, seed, factor=2.0) -> float:
    """The rule of docs/architecture.md ("How we measure") per sequence on out [total_q, Hq, D]; lse [Hq, total_q] (or None) within
    1e-3 relative of the fp32 reference; rows with no visible key exactly 0 and +inf. Returns the
    largest error seen."""
    assert not out.isnan().any(), f"NaN in the output (unwritten or computed), seed {seed}"
    worst = 0.0
    for r in refs:
        ours = out[r.rows][None]
        report = check(r.label, ours, r.lowp, r.ref, factor, rows=r.visible, seed=seed)
        worst = max(worst, report.ours)
        hidden = ~r.visible
        if hidden.any():
            assert (ours[:, hidden] == 0).all(), f"{r.label}: rows with no key must be 0 ({seed})"
        if lse is None:
            continue
        ls = lse[:, r.rows][None]
        assert not ls.isnan().any(), f"{r.label}: NaN in lse (seed {seed})"
        lv, rv = ls[:, :, r.visible], r.ref_lse[:, :, r.visible]
        if lv.numel():
            err = (lv - rv).abs().max().item()
            bound = 1e-3 * max(1.0, rv.abs().max().item())
            assert err <= bound, f"{r.label}: lse err {err:.3e} > {bound:.1e} (seed {seed})"
        if hidden.any():
            assert torch.isposinf(ls[:, :, hidden]).all(), f"{r.label}: lse +inf ({seed})"
    return worst


__all__ = ["inv_freq_default", "inv_freq_linear", "inv_freq_llama3", "inv_freq_for",
           "rope_tables", "rope_ref", "append_ref", "bits", "PagedBatch", "make_table",
           "cu_seqlens", "make_batch", "gather_kv", "SeqRef", "paged_attention_ref",
           "check_paged", "max_err"]
