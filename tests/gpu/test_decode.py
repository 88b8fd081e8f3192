"""tests/gpu/test_decode.py — paged attention and the paged KV append against references.

Attention (through tessera.kvcache.paged_attention_into, so out and lse are NaN-poisoned before
the launch): per sequence, max error <= 2x PyTorch SDPA's error in the inputs' precision against
an fp32 reference over the same keys and values gathered through the block table (docs/architecture.md, "How we measure"), lse
within 1e-3, rows that see no key exactly 0 / +inf. Batches mix lengths 1 .. 32768 (odd ones: 1,
17, 97, 1025), block sizes 16, 32, 64, 128 (and 1, 8, 24, 48, 80, which 64-key tiles straddle), head
dims 64, 96, 128, 256, fp16 and bf16, GQA ratios 1, 4,
8 and 12/3 heads, 1 and up to 200 new tokens per sequence (causal inside them, bottom-right),
forced split counts 1, 3, 17, 128 and the plan's choice, shuffled block tables, stale NaN slots.

Append: the whole caches after the append compared bitwise with plain indexing (untouched slots
unchanged, slots of -1 skipped), RoPE rotate-half and interleaved with full and partial
rotary_dim, default / linear / llama3 tables, the rotated q bitwise too.

flash_attn_with_kvcache, CUDA graphs, torch.compile and opcheck: tests/gpu/test_decode_torch.py.
"""

import pytest
import torch

from tessera import kvcache
from attention_cases import decode_cases
from attention_ref import fresh_seed, poisoned
import decode_ref as dr

DTYPES = [torch.float16, torch.bfloat16]
DTYPE_IDS = ["fp16", "bf16"]


def run_paged(b: dr.PagedBatch, causal, scale=None, num_splits=0, max_seq_len=None):
    """Our paged attention into NaN-poisoned out [total_q, Hq, D] and lse [Hq, total_q]."""
    scale = b.q.shape[-1] ** -0.5 if scale is None else scale
    out = poisoned(b.q.shape, b.q.dtype, b.q.device)
    lse = poisoned((b.q.shape[1], b.q.shape[0]), torch.float32, b.q.device)
    max_seq_len = max(1, max(b.lens)) if max_seq_len is None else max_seq_len
    kvcache.paged_attention_into(b.q, b.k_cache, b.v_cache, b.cu_seqlens_q, b.seq_lens,
                                 b.block_table, out, lse, max(1, max(b.q_lens)), max_seq_len,
                                 scale, causal, num_splits)
    torch.cuda.synchronize()
    return out, lse


def check_batch(b: dr.PagedBatch, causal, seed, scale=None, num_splits=0):
    scale = b.q.shape[-1] ** -0.5 if scale is None else scale
    out, lse = run_paged(b, causal, scale, num_splits)
    refs = dr.paged_attention_ref(b.q, b.k_cache, b.v_cache, b.q_lens, b.lens, b.block_table,
                                  scale, causal)
    dr.check_paged(out, lse, refs, seed)
    return out, lse


def _p(*values, quick=False, id=None):
    return pytest.param(*values, id=id, marks=[pytest.mark.quick] if quick else [])


# ---- the registry's decode cases (tests/attention_cases.py), which bench/kernels/decode.py times --

@pytest.mark.parametrize("case", [_p(c, quick=c.quick, id=c.id) for c in decode_cases()])
def test_decode_case(case):
    """One new token per sequence over equal lengths, the cache in the engine's (and the
    benchmark's) layout: K and V of a block side by side in one allocation, shuffled table."""
    seed = fresh_seed()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[case.dtype]
    b = dr.make_batch([case.seqlen] * case.batch, [1] * case.batch, case.heads, case.kv_heads,
                      case.head_dim, dtype, case.block_size)
    b.k_cache, b.v_cache, _ = dr.share_kv(b.k_cache, b.v_cache)
    check_batch(b, True, seed)


# ---- paged attention: every block size x head dim x dtype ----------------------------------------

MIXED_LENS = [1, 17, 97, 1025, 300, 2048]


def _grid():
    quick = {(16, 128, torch.bfloat16), (128, 64, torch.float16), (32, 256, torch.bfloat16), (64, 96, torch.float16)}
    for block_size in (16, 32, 64, 128):
        for head_dim in kvcache.DECODE_HEAD_DIMS:
            for dtype, name in zip(DTYPES, DTYPE_IDS):
                yield _p(block_size, head_dim, dtype, quick=(block_size, head_dim, dtype) in quick,
                         id=f"bs{block_size}-d{head_dim}-{name}")


@pytest.mark.parametrize("block_size,head_dim,dtype", list(_grid()))
def test_decode_block_sizes(block_size, head_dim, dtype):
    """One new token per sequence over mixed odd lengths, GQA 4."""
    seed = fresh_seed()
    b = dr.make_batch(MIXED_LENS, [1] * len(MIXED_LENS), 8, 2, head_dim, dtype, block_size)
    check_batch(b, True, seed)


@pytest.mark.parametrize("block_size", [_p(8, quick=True), 1, 24, _p(48, quick=True), 80])
@pytest.mark.parametrize("head_dim", [64, 256])
def test_decode_other_block_sizes(block_size, head_dim):
    """Block sizes off the usual four: blocks smaller than a 16-key MMA step (1, 8), and blocks that
    a 64-key tile straddles at odd offsets (24, 48, 80)."""
    seed = fresh_seed()
    b = dr.make_batch(MIXED_LENS, [1] * len(MIXED_LENS), 8, 2, head_dim, torch.bfloat16, block_size)
    check_batch(b, True, seed)


@pytest.mark.parametrize("block_size", [16, 128])
@pytest.mark.parametrize("num_splits", [_p(0, quick=True), 1, 3, 17])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_decode_32k_with_short(block_size, num_splits, dtype):
    """A 32768-token sequence batched with short ones, bench heads (32 / 8, D 128)."""
    seed = fresh_seed()
    lens = [32768, 1, 17, 97, 1025]
    b = dr.make_batch(lens, [1] * len(lens), 32, 8, 128, dtype, block_size)
    check_batch(b, True, seed, num_splits=num_splits)


@pytest.mark.parametrize("num_splits", [_p(0, quick=True), 3])
def test_chunk_tail_32k(num_splits):
    """200 new tokens at the end of 32768 (a chunked prefill's last chunk) next to drafts."""
    seed = fresh_seed()
    lens, q_lens = [32768, 1025, 33, 5], [200, 33, 33, 5]
    b = dr.make_batch(lens, q_lens, 8, 2, 128, torch.bfloat16, 16)
    check_batch(b, True, seed, num_splits=num_splits)


# ---- heads, query lengths, splits ----------------------------------------------------------------

@pytest.mark.parametrize("heads,kv_heads", [_p(8, 8, quick=True), (8, 2), _p(16, 2, quick=True),
                                            _p(12, 3, quick=True), (7, 7), (6, 1)],
                         ids=["mha8", "gqa4", "gqa8", "gqa4-12x3", "mha7", "mqa6"])
@pytest.mark.parametrize("q_len", [1, 5])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_decode_heads(heads, kv_heads, q_len, dtype):
    seed = fresh_seed()
    lens = [q_len, 17 + q_len, 97, 1025, 2000]
    b = dr.make_batch(lens, [q_len] * len(lens), heads, kv_heads, 128, dtype, 32)
    check_batch(b, True, seed)


@pytest.mark.parametrize("causal", [_p(True, quick=True), False], ids=["causal", "full"])
@pytest.mark.parametrize("head_dim", kvcache.DECODE_HEAD_DIMS)
@pytest.mark.parametrize("num_splits", [0, 3])
def test_multi_token_queries(causal, head_dim, num_splits):
    """5, 33 and 200 new tokens per sequence; q_len == seq_len is a whole prefill in the cache."""
    seed = fresh_seed()
    lens, q_lens = [5, 1025, 200, 97, 4096, 17], [5, 33, 200, 1, 200, 17]
    b = dr.make_batch(lens, q_lens, 8, 2, head_dim, torch.bfloat16, 64)
    check_batch(b, causal, seed, num_splits=num_splits)


@pytest.mark.parametrize("num_splits", [_p(1, quick=True), 3, _p(17, quick=True), 128, 0])
@pytest.mark.parametrize("q_len", [1, 33])
def test_forced_splits(num_splits, q_len):
    """More splits than some sequences have keys (or blocks): empty splits must merge as nothing."""
    seed = fresh_seed()
    lens = [max(q_len, n) for n in (1, 17, 97, 1025, 4096)]
    b = dr.make_batch(lens, [q_len] * len(lens), 16, 4, 128, torch.float16, 16)
    check_batch(b, True, seed, num_splits=num_splits)


@pytest.mark.quick
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("num_splits", [0, 5])
def test_rows_without_keys(causal, num_splits):
    """Sequences with no new tokens (repeated cu_seqlens entries), with no keys at all, and, when
    causal, more new tokens than keys (the first rows see nothing): out 0, lse +inf."""
    seed = fresh_seed()
    lens, q_lens = [0, 5, 0, 3, 40, 0], [0, 2, 1, 5, 0, 3]
    b = dr.make_batch(lens, q_lens, 4, 2, 64, torch.bfloat16, 16)
    out, lse = check_batch(b, causal, seed, num_splits=num_splits)
    assert (out[2] == 0).all() and torch.isposinf(lse[:, 2]).all()  # seq 2: no key at all


@pytest.mark.quick
@pytest.mark.parametrize("scale", [0.05, 1.0, 2.5, -0.3])
def test_softmax_scale(scale):
    seed = fresh_seed()
    b = dr.make_batch([1025, 17, 4096], [1, 3, 1], 8, 2, 128, torch.bfloat16, 16)
    check_batch(b, True, seed, scale=scale)


@pytest.mark.quick
def test_strided_q_and_loose_bounds():
    """q as a slice of a fused qkv buffer (token stride (Hq + 2 Hkv) * D), max_seq_len far above
    the real lengths (what a captured graph sees), a table wider than needed."""
    seed = fresh_seed()
    lens = [17, 1025, 1]
    b = dr.make_batch(lens, [1, 1, 1], 8, 2, 128, torch.float16, 32, extra_blocks=200)
    qkv = torch.randn(3, 8 + 4, 128, dtype=torch.float16, device="cuda")
    b.q = qkv[:, :8]
    out, lse = run_paged(b, True, max_seq_len=b.capacity)
    refs = dr.paged_attention_ref(b.q, b.k_cache, b.v_cache, b.q_lens, lens, b.block_table,
                                  128 ** -0.5, True)
    dr.check_paged(out, lse, refs, seed)


@pytest.mark.quick
@pytest.mark.parametrize("num_splits", [1, 7])
def test_stale_nan_slots_are_not_read(num_splits):
    """Slots past each sequence's length in its last block, blocks no sequence owns and the table
    entries past a sequence's blocks all hold NaN (stale or never-written cache memory): a kernel
    that lets a masked key or value into the sum would turn the output NaN."""
    seed = fresh_seed()
    lens = [1, 17, 97, 1025, 31]
    b = dr.make_batch(lens, [1, 1, 1, 1, 1], 8, 2, 128, torch.bfloat16, 16)
    bs = b.k_cache.shape[1]
    used = torch.zeros(b.k_cache.shape[0] * bs, dtype=torch.bool)
    table = b.block_table.cpu()
    for s, n in enumerate(lens):
        for p in range(n):
            used[int(table[s, p // bs]) * bs + p % bs] = True
    nan_spare = int(torch.nonzero(~used.view(-1, bs).any(1))[0])  # a block nobody owns
    for s, n in enumerate(lens):
        table[s, -(-n // bs):] = nan_spare
    b.block_table = table.to("cuda")
    stale = (~used).to("cuda")
    for c in (b.k_cache, b.v_cache):
        c.view(-1, *c.shape[2:])[stale] = float("nan")
    check_batch(b, True, seed, num_splits=num_splits)


@pytest.mark.parametrize("pad", [_p(0, quick=True), 72], ids=["kv-pairs", "padded"])
@pytest.mark.parametrize("block_size", [16, _p(1, quick=True), 64])
@pytest.mark.parametrize("num_splits", [0, 3])
def test_keys_and_values_in_one_allocation(pad, block_size, num_splits):
    """K and V as views of one [num_blocks, 2 * block + pad] buffer (the CUDA engine's cache):
    the block stride comes from stride(0); the NaN pads must never be read."""
    seed = fresh_seed()
    b = dr.make_batch([1, 17, 97, 1025, 300], [1, 1, 1, 3, 1], 16, 4, 128, torch.bfloat16,
                      block_size)
    b.k_cache, b.v_cache, _ = dr.share_kv(b.k_cache, b.v_cache, pad)
    assert b.k_cache.stride(0) == 2 * b.k_cache[0].numel() + pad
    check_batch(b, True, seed, num_splits=num_splits)


@pytest.mark.quick
@pytest.mark.parametrize("pad", [0, 40])
def test_append_into_one_allocation(pad):
    """Append into K/V views of one buffer: the caches bitwise as plain indexing gives them, the
    pads between blocks still NaN."""
    fresh_seed()
    q, k, v, slots, k_cache, v_cache = _append_case(200, 8, 2, 128, torch.bfloat16, 16, 40, 7)
    kv_k, kv_v, buf = dr.share_kv(k_cache, v_cache, pad)
    check_append(q, k, v, slots, kv_k, kv_v, "half", 128)
    assert torch.isnan(buf[:, 2 * k_cache[0].numel():]).all(), "a pad was written"


@pytest.mark.parametrize("interleave,pad", [_p(False, 0, quick=True, id="hnd"),
                                             _p(True, 0, id="hnd-kv-per-head"),
                                             _p(True, 40, quick=True, id="hnd-kv-per-head-padded")])
@pytest.mark.parametrize("block_size", [16, 1, 64])
@pytest.mark.parametrize("num_splits", [0, 3])
def test_head_major_blocks(interleave, pad, block_size, num_splits):
    """Caches whose blocks are head-major ([num_blocks, Hkv, block_size, D] transposed), alone and
    with one head's keys and values side by side plus a NaN pad that must never be read."""
    seed = fresh_seed()
    b = dr.make_batch([1, 17, 97, 1025, 300], [1, 1, 1, 3, 1], 16, 4, 128, torch.bfloat16,
                      block_size)
    b.k_cache, b.v_cache, _ = dr.head_major(b.k_cache, b.v_cache, interleave, pad)
    if block_size > 1:
        assert b.k_cache.stride(1) == 128 and b.k_cache.stride(2) >= block_size * 128
    check_batch(b, True, seed, num_splits=num_splits)


@pytest.mark.quick
@pytest.mark.parametrize("interleave,pad", [(False, 0), (True, 0), (True, 40)])
def test_append_head_major(interleave, pad):
    """Append into head-major blocks: the caches bitwise as plain indexing gives them, any pad
    still NaN."""
    fresh_seed()
    q, k, v, slots, k_cache, v_cache = _append_case(200, 8, 2, 128, torch.bfloat16, 16, 40, 7)
    hk, hv, buf = dr.head_major(k_cache, v_cache, interleave, pad)
    check_append(q, k, v, slots, hk, hv, "half", 128)
    if buf is not None:
        assert torch.isnan(buf[:, :, 2 * 16 * 128:]).all(), "a pad was written"


@pytest.mark.quick
def test_bitwise_deterministic():
    fresh_seed()
    b = dr.make_batch([32768, 17, 1025], [1, 5, 1], 32, 8, 128, torch.bfloat16, 16)
    first, first_lse = run_paged(b, True, num_splits=0)
    for _ in range(20):
        out, lse = run_paged(b, True, num_splits=0)
        assert torch.equal(dr.bits(out), dr.bits(first))
        assert torch.equal(lse.view(torch.int32), first_lse.view(torch.int32))


# ---- append --------------------------------------------------------------------------------------

ROPES = [("none", 1.0), ("half", 1.0), ("half", 0.5), ("interleaved", 1.0), ("interleaved", 0.25)]


def _append_case(num_tokens, heads, kv_heads, head_dim, dtype, block_size, num_blocks, pad_every):
    """k, v as strided slices of one fused qkv buffer, q too; distinct random slots, every
    pad_every-th set to -1 (padding)."""
    qkv = torch.randn(num_tokens, heads + 2 * kv_heads, head_dim, dtype=dtype, device="cuda")
    q, k, v = qkv[:, :heads], qkv[:, heads:heads + kv_heads], qkv[:, heads + kv_heads:]
    slots = torch.randperm(num_blocks * block_size, device="cuda")[:num_tokens]
    if pad_every:
        slots[::pad_every] = -1
    shape = (num_blocks, block_size, kv_heads, head_dim)
    k_cache = torch.randn(shape, dtype=dtype, device="cuda")
    v_cache = torch.randn(shape, dtype=dtype, device="cuda")
    return q, k, v, slots, k_cache, v_cache


def check_append(q, k, v, slots, k_cache, v_cache, rope, rotary_dim, rope_type="default",
                 q_positions=False, max_position=4096):
    """Append (with q rotated when rope is on) and compare the caches and q bitwise."""
    num_tokens = k.shape[0]
    kc0, vc0 = k_cache.clone(), v_cache.clone()
    kwargs, pos, qpos, cos, sin = {}, None, None, None, None
    if rope != "none":
        cos, sin = dr.rope_tables(dr.inv_freq_for(rope_type, rotary_dim), max_position, "cuda")
        pos = torch.randint(0, max_position, (num_tokens,), dtype=torch.int32, device="cuda")
        if q_positions:
            qpos = torch.randint(0, max_position, (q.shape[0],), dtype=torch.int32, device="cuda")
        kwargs = dict(positions=pos, rotary_cos=cos, rotary_sin=sin,
                      rotary_interleaved=rope == "interleaved", q=q, q_positions=qpos)
    q_out = kvcache.paged_kv_append(k, v, k_cache, v_cache, slots, **kwargs)
    torch.cuda.synchronize()
    k_rot = k if rope == "none" else dr.rope_ref(k, cos, sin, pos, rope == "interleaved")
    want_k, want_v = dr.append_ref(kc0, vc0, k_rot, v, slots)
    assert torch.equal(dr.bits(k_cache), dr.bits(want_k)), "k_cache differs from the reference"
    assert torch.equal(dr.bits(v_cache), dr.bits(want_v)), "v_cache differs from the reference"
    if rope == "none":
        assert q_out is None
    else:
        q_want = dr.rope_ref(q, cos, sin, qpos if q_positions else pos, rope == "interleaved")
        assert torch.equal(dr.bits(q_out), dr.bits(q_want)), "rotated q differs"
        if rotary_dim < q.shape[-1]:  # the unrotated tail is a plain copy
            assert torch.equal(dr.bits(q_out[..., rotary_dim:]), dr.bits(q[..., rotary_dim:]))


@pytest.mark.parametrize("rope,frac", [_p(r, f, quick=r != "none" and f < 1,
                                          id=f"{r}-{f}") for r, f in ROPES])
@pytest.mark.parametrize("head_dim", kvcache.DECODE_HEAD_DIMS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_append_exact(rope, frac, head_dim, dtype):
    """77 tokens (every 5th padding), 12 / 3 heads, k/v/q strided views, random slots and
    positions; rotary_dim = frac * head_dim."""
    fresh_seed()
    case = _append_case(77, 12, 3, head_dim, dtype, 16, 40, pad_every=5)
    check_append(*case, rope, int(head_dim * frac), q_positions=dtype == torch.bfloat16)


@pytest.mark.quick
@pytest.mark.parametrize("block_size", [16, 32, 64, 128, 1, 7])
def test_append_block_sizes(block_size):
    fresh_seed()
    case = _append_case(300, 8, 2, 128, torch.bfloat16, block_size, 4096 // block_size + 5, 0)
    check_append(*case, "half", 128)


@pytest.mark.parametrize("rope_type", [_p("default", quick=True), "linear",
                                       _p("llama3", quick=True)])
@pytest.mark.parametrize("rope", ["half", "interleaved"])
def test_append_rope_types(rope_type, rope):
    """The three RoPE types are three tables; positions reach 32767 (llama3's long range)."""
    fresh_seed()
    case = _append_case(129, 32, 8, 128, torch.bfloat16, 16, 64, pad_every=0)
    check_append(*case, rope, 128, rope_type=rope_type, max_position=32768)


@pytest.mark.quick
def test_append_then_attend():
    """A decode step as an engine runs it: append the new token of every sequence (RoPE on k and
    q), then attend over the caches with the rotated q."""
    seed = fresh_seed()
    lens = [1, 17, 97, 1025, 4096]
    b = dr.make_batch(lens, [1] * len(lens), 8, 2, 128, torch.bfloat16, 16)
    table = b.block_table.cpu()
    slots = torch.tensor([int(table[s, (n - 1) // 16]) * 16 + (n - 1) % 16
                          for s, n in enumerate(lens)], dtype=torch.int64, device="cuda")
    pos = torch.tensor([n - 1 for n in lens], dtype=torch.int32, device="cuda")
    k = torch.randn(len(lens), 2, 128, dtype=torch.bfloat16, device="cuda")
    v = torch.randn_like(k)
    cos, sin = dr.rope_tables(dr.inv_freq_llama3(128), 8192, "cuda")
    q_raw = b.q
    b.q = kvcache.paged_kv_append(k, v, b.k_cache, b.v_cache, slots, positions=pos,
                                  rotary_cos=cos, rotary_sin=sin, q=q_raw)
    assert torch.equal(dr.bits(b.q), dr.bits(dr.rope_ref(q_raw, cos, sin, pos, False)))
    check_batch(b, True, seed)
