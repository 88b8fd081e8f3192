"""tests/gpu/test_decode_torch.py — the paged KV cache as PyTorch sees it: flash_attn_with_kvcache
(FlashAttention-2's signature: paged and contiguous caches, new k/v appended in place, RoPE on k
and q, int / tensor / absent cache_seqlens), CUDA graph capture of append + attention replayed
with new lengths, tables and tokens, torch.compile(fullgraph=True), torch.library.opcheck on the
two custom ops, and the errors bad input gets.

References are independent of the package's index math: slots and positions are worked out here
with Python loops over the block table, then decode_ref's append / gather / fp32 attention;
outputs follow the rule of docs/architecture.md ("How we measure"), caches are compared bitwise.
"""

import pytest
import torch

import tessera
from tessera import kvcache
from attention_ref import fresh_seed
import decode_ref as dr

OPS = torch.ops.tessera
BF16 = torch.bfloat16


def kvcache_expected(q, kc0, vc0, k, v, cos, sin, seqlens, table, causal, interleaved, scale):
    """What flash_attn_with_kvcache must do, from the caches before the call: (k_cache, v_cache,
    per-sequence references over the packed rows [batch * seqlen_q])."""
    batch, seqlen_q, heads, head_dim = q.shape
    bs = kc0.shape[1]
    table = torch.arange(batch).view(batch, 1) if table is None else table.cpu()
    new = 0 if k is None else k.shape[1]
    slots = [int(table[b, (seqlens[b] + i) // bs]) * bs + (seqlens[b] + i) % bs
             for b in range(batch) for i in range(new)]
    k_pos = [seqlens[b] + i for b in range(batch) for i in range(new)]
    q_rows = q.reshape(batch * seqlen_q, heads, head_dim)
    kc, vc = kc0, vc0
    if k is not None:
        k_rows, v_rows = (t.reshape(-1, *t.shape[2:]) for t in (k, v))
        if cos is not None:
            k_rows = dr.rope_ref(k_rows, cos, sin, torch.tensor(k_pos), interleaved)
            q_pos = [seqlens[b] + (i if causal else 0) for b in range(batch)
                     for i in range(seqlen_q)]
            q_rows = dr.rope_ref(q_rows, cos, sin, torch.tensor(q_pos), interleaved)
        kc, vc = dr.append_ref(kc0, vc0, k_rows, v_rows, torch.tensor(slots, device=q.device))
    lens = [seqlens[b] + new for b in range(batch)]
    refs = dr.paged_attention_ref(q_rows, kc, vc, [seqlen_q] * batch, lens, table, scale, causal)
    return kc, vc, refs


def check_kvcache(out, lse, kc, vc, expected, seed):
    want_k, want_v, refs = expected
    assert torch.equal(dr.bits(kc), dr.bits(want_k)), f"k_cache after the append (seed {seed})"
    assert torch.equal(dr.bits(vc), dr.bits(want_v)), f"v_cache after the append (seed {seed})"
    batch, seqlen_q, heads, head_dim = out.shape
    rows = out.reshape(batch * seqlen_q, heads, head_dim)
    lse_rows = None if lse is None else lse.permute(1, 0, 2).reshape(heads, batch * seqlen_q)
    dr.check_paged(rows, lse_rows, refs, seed)


def _tables(capacity, rotary_dim, dtype, rope_type="default"):
    # FlashAttention-2 takes cos/sin in q's dtype, (seqlen_ro >= capacity, rotary_dim / 2).
    cos, sin = dr.rope_tables(dr.inv_freq_for(rope_type, rotary_dim), capacity, "cuda")
    return cos.to(dtype), sin.to(dtype)


def _p(*values, quick=False, id=None):
    return pytest.param(*values, id=id, marks=[pytest.mark.quick] if quick else [])


# ---- flash_attn_with_kvcache ---------------------------------------------------------------------

@pytest.mark.parametrize("block_size", [_p(16, quick=True), 64, 256])
@pytest.mark.parametrize("rotary", [None, _p("half", quick=True), "interleaved"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("seqlen_new", [1, 5])
def test_kvcache_paged(block_size, rotary, causal, seqlen_new):
    """Append seqlen_new tokens to paged caches (shuffled tables) and attend, as decoding does;
    rotate-half on 64 of 128 dims, interleaved on all 128."""
    seed = fresh_seed()
    heads, kv_heads, head_dim, dtype = 8, 2, 128, BF16
    seqlens = [0, 17, 1000, 4000]
    table, num_blocks = dr.make_table([n + seqlen_new for n in seqlens], block_size,
                                      extra_blocks=2)
    table = table.cuda()
    kc = torch.randn(num_blocks, block_size, kv_heads, head_dim, dtype=dtype, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(4, seqlen_new, heads, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(4, seqlen_new, kv_heads, head_dim, dtype=dtype, device="cuda")
    v = torch.randn_like(k)
    cos = sin = None
    if rotary:
        cos, sin = _tables(table.shape[1] * block_size, 64 if rotary == "half" else 128, dtype)
    kc0, vc0 = kc.clone(), vc.clone()
    out, lse = tessera.flash_attn_with_kvcache(
        q, kc, vc, k, v, rotary_cos=cos, rotary_sin=sin,
        cache_seqlens=torch.tensor(seqlens, dtype=torch.int32, device="cuda"), block_table=table,
        causal=causal, rotary_interleaved=rotary == "interleaved", return_softmax_lse=True)
    torch.cuda.synchronize()
    assert out.shape == q.shape and lse.shape == (4, heads, seqlen_new)
    expected = kvcache_expected(q, kc0, vc0, k, v, cos, sin, seqlens, table, causal,
                                rotary == "interleaved", head_dim ** -0.5)
    check_kvcache(out, lse, kc, vc, expected, seed)


@pytest.mark.quick
@pytest.mark.parametrize("layout", ["pairs-paged", "pairs-contiguous", "head-major-paged"])
def test_kvcache_strided(layout):
    """k_cache / v_cache as strided views, as FlashAttention-2 accepts them: views of one buffer
    with a wider stride(0) (pages [num_blocks, 2, page, Hkv, D]; contiguous rows [batch, 2,
    seqlen, Hkv, D] plus a NaN pad after each row's values), or head-major pages ((num_blocks,
    Hkv, page, D) transposed) with one head's keys and values side by side and a NaN pad. Pads are
    never read, never written."""
    seed = fresh_seed()
    heads, kv_heads, head_dim, dtype = 8, 2, 128, BF16
    seqlens, seqlen_new = [0, 17, 1000, 700], 2
    if layout.endswith("paged"):
        table, n = dr.make_table([s + seqlen_new for s in seqlens], 16, extra_blocks=1)
        table, shape = table.cuda(), (n, 16, kv_heads, head_dim)
    else:
        table, shape = None, (4, 1003, kv_heads, head_dim)
    kc, vc = (torch.randn(shape, dtype=dtype, device="cuda") for _ in range(2))
    if layout.startswith("pairs"):
        pad = 24 if table is None else 0
        kc, vc, buf = dr.share_kv(kc, vc, pad)
        pads = buf[:, 2 * kc[0].numel():]
    else:
        kc, vc, buf = dr.head_major(kc, vc, interleave=True, pad=8)
        pads = buf[:, :, 2 * 16 * head_dim:]
    q = torch.randn(4, seqlen_new, heads, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(4, seqlen_new, kv_heads, head_dim, dtype=dtype, device="cuda")
    v = torch.randn_like(k)
    capacity = table.shape[1] * 16 if table is not None else shape[1]
    cos, sin = _tables(capacity, 128, dtype)
    kc0, vc0 = kc.clone(), vc.clone()
    out, lse = tessera.flash_attn_with_kvcache(
        q, kc, vc, k, v, cos, sin, torch.tensor(seqlens, dtype=torch.int32, device="cuda"),
        block_table=table, causal=True, rotary_interleaved=False, return_softmax_lse=True)
    torch.cuda.synchronize()
    expected = kvcache_expected(q, kc0, vc0, k, v, cos, sin, seqlens, table, True, False,
                                head_dim ** -0.5)
    check_kvcache(out, lse, kc, vc, expected, seed)
    assert torch.isnan(pads).all(), "a pad was written"


@pytest.mark.parametrize("head_dim", [_p(64, quick=True), 256])
@pytest.mark.parametrize("seqlens", [300, [0, 5, 770]], ids=["int", "tensor"])
@pytest.mark.parametrize("num_splits", [0, 4])
def test_kvcache_contiguous(head_dim, seqlens, num_splits):
    """Contiguous caches (batch_cache 4 > batch 3, seqlen_cache 777: an odd 'block'), 12 / 3
    heads, 3 new tokens, rotate-half on half the dims; the unused cache row stays untouched."""
    seed = fresh_seed()
    dtype = torch.float16
    kc = torch.randn(4, 777, 3, head_dim, dtype=dtype, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(3, 3, 12, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(3, 3, 3, head_dim, dtype=dtype, device="cuda")
    v = torch.randn_like(k)
    cos, sin = _tables(777, head_dim // 2, dtype, "llama3")
    arg = seqlens if isinstance(seqlens, int) else torch.tensor(seqlens, dtype=torch.int32,
                                                                device="cuda")
    lens = [seqlens] * 3 if isinstance(seqlens, int) else seqlens
    kc0, vc0 = kc.clone(), vc.clone()
    out, lse = tessera.flash_attn_with_kvcache(q, kc, vc, k, v, cos, sin, arg, causal=True,
                                               rotary_interleaved=False, num_splits=num_splits,
                                               return_softmax_lse=True)
    torch.cuda.synchronize()
    expected = kvcache_expected(q, kc0, vc0, k, v, cos, sin, lens, None, True, False,
                                head_dim ** -0.5)
    check_kvcache(out, lse, kc, vc, expected, seed)


@pytest.mark.quick
@pytest.mark.parametrize("seqlen_q", [1, 4])
def test_kvcache_without_new_tokens(seqlen_q):
    """No k/v: attention over what the (paged) cache holds; seqlen_q 4 is a verify step over
    draft tokens already written (causal, bottom-right)."""
    seed = fresh_seed()
    seqlens = [4, 17, 1025, 8000, 97]
    table, num_blocks = dr.make_table(seqlens, 32, extra_blocks=1)
    table = table.cuda()
    kc = torch.randn(num_blocks, 32, 2, 128, dtype=BF16, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(5, seqlen_q, 16, 128, dtype=BF16, device="cuda")
    lens_t = torch.tensor(seqlens, dtype=torch.int32, device="cuda")
    kc0 = kc.clone()
    out = tessera.flash_attn_with_kvcache(q, kc, vc, cache_seqlens=lens_t, block_table=table,
                                          causal=True)
    torch.cuda.synchronize()
    assert torch.equal(dr.bits(kc), dr.bits(kc0))
    expected = kvcache_expected(q, kc0, vc, None, None, None, None, seqlens, table, True, False,
                                128 ** -0.5)
    check_kvcache(out, None, kc, vc, expected, seed)


@pytest.mark.quick
def test_kvcache_full_cache():
    """cache_seqlens=None: every slot of the (contiguous) cache is a key."""
    seed = fresh_seed()
    kc = torch.randn(2, 333, 1, 128, dtype=BF16, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(2, 1, 4, 128, dtype=BF16, device="cuda")
    out = tessera.flash_attn_with_kvcache(q, kc, vc)
    torch.cuda.synchronize()
    check_kvcache(out, None, kc, vc, kvcache_expected(q, kc, vc, None, None, None, None,
                                                      [333, 333], None, False, False,
                                                      128 ** -0.5), seed)


# ---- CUDA graphs ---------------------------------------------------------------------------------

@pytest.mark.quick
@pytest.mark.parametrize("num_splits", [0, 17])
def test_cuda_graph_append_attention_replay(num_splits):
    """One capture of append (RoPE) + attention at capacity 4096; replays with new lengths (1 to
    4096 keys), new block tables, new tokens give the right caches and outputs each time."""
    seed = fresh_seed()
    batch, heads, kv_heads, head_dim, bs, max_blocks = 4, 8, 2, 128, 16, 256
    num_blocks = batch * max_blocks + 8
    kc = torch.randn(num_blocks, bs, kv_heads, head_dim, dtype=BF16, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.empty(batch, 1, heads, head_dim, dtype=BF16, device="cuda")
    k = torch.empty(batch, 1, kv_heads, head_dim, dtype=BF16, device="cuda")
    v = torch.empty_like(k)
    seqlens = torch.zeros(batch, dtype=torch.int32, device="cuda")
    table = torch.zeros(batch, max_blocks, dtype=torch.int32, device="cuda")
    cos, sin = _tables(bs * max_blocks, head_dim, BF16, "llama3")

    def fill(lens):
        perm = torch.randperm(num_blocks)[: batch * max_blocks].view(batch, max_blocks)
        table.copy_(perm.to(torch.int32))
        seqlens.copy_(torch.tensor(lens, dtype=torch.int32))
        for t in (q, k, v):
            t.copy_(torch.randn_like(t))

    def step():
        return tessera.flash_attn_with_kvcache(q, kc, vc, k, v, cos, sin, seqlens,
                                               block_table=table, causal=True,
                                               rotary_interleaved=False, num_splits=num_splits,
                                               return_softmax_lse=True)

    fill([10, 20, 30, 40])
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out, static_lse = step()
    for lens in ([0, 1, 17, 97], [4095, 1025, 3000, 2], [2047, 4000, 5, 0]):
        fill(lens)
        kc0, vc0 = kc.clone(), vc.clone()
        graph.replay()
        torch.cuda.synchronize()
        expected = kvcache_expected(q, kc0, vc0, k, v, cos, sin, lens, table, True, False,
                                    head_dim ** -0.5)
        check_kvcache(static_out, static_lse, kc, vc, expected, seed)


@pytest.mark.quick
def test_cuda_graph_paged_attention_replay():
    """tessera.paged_attention captured with bounds (max_q_len 5, max_seq_len 8192) and replayed
    with other q lengths per sequence (cu_seqlens changes, total_q fixed) and other seq_lens."""
    seed = fresh_seed()
    num_seqs, heads, kv_heads, head_dim, bs, max_blocks = 3, 16, 2, 64, 32, 256
    num_blocks = num_seqs * max_blocks
    kc = torch.randn(num_blocks, bs, kv_heads, head_dim, dtype=BF16, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(9, heads, head_dim, dtype=BF16, device="cuda")
    cu = torch.zeros(num_seqs + 1, dtype=torch.int32, device="cuda")
    seq_lens = torch.zeros(num_seqs, dtype=torch.int32, device="cuda")
    table = torch.randperm(num_blocks, device="cuda").to(torch.int32).view(num_seqs, max_blocks)

    def step():
        return tessera.paged_attention(q, kc, vc, cu, seq_lens, table, 5, 8192, causal=True,
                                       return_lse=True)

    def fill(q_lens, lens):
        cu.copy_(dr.cu_seqlens(q_lens, "cuda"))
        seq_lens.copy_(torch.tensor(lens, dtype=torch.int32))
        table.copy_(torch.randperm(num_blocks, device="cuda").to(torch.int32).view_as(table))
        q.copy_(torch.randn_like(q))

    fill([3, 3, 3], [3, 3, 3])
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out, static_lse = step()
    for q_lens, lens in (([1, 5, 3], [1, 8192, 700]), ([5, 4, 0], [5, 17, 0]),
                         ([2, 2, 5], [6000, 33, 8000])):
        fill(q_lens, lens)
        graph.replay()
        torch.cuda.synchronize()
        refs = dr.paged_attention_ref(q, kc, vc, q_lens, lens, table, head_dim ** -0.5, True)
        used = sum(q_lens)  # rows past the last sequence belong to none and are not checked
        dr.check_paged(static_out[:used], static_lse[:, :used], refs, seed)


# ---- torch.compile, opcheck ----------------------------------------------------------------------

@pytest.mark.quick
def test_compile_fullgraph_kvcache():
    fresh_seed()
    torch._dynamo.reset()
    seqlens = [5, 1000, 33]
    table, num_blocks = dr.make_table([n + 1 for n in seqlens], 16, extra_blocks=1)
    table = table.cuda()
    kc = torch.randn(num_blocks, 16, 2, 128, dtype=BF16, device="cuda")
    vc = torch.randn_like(kc)
    q = torch.randn(3, 1, 8, 128, dtype=BF16, device="cuda")
    k = torch.randn(3, 1, 2, 128, dtype=BF16, device="cuda")
    lens = torch.tensor(seqlens, dtype=torch.int32, device="cuda")
    cos, sin = _tables(table.shape[1] * 16, 128, BF16)

    def f(q, kc, vc, k, v, lens):
        out, lse = tessera.flash_attn_with_kvcache(q, kc, vc, k, v, cos, sin, lens,
                                                   block_table=table, causal=True,
                                                   return_softmax_lse=True)
        return out, lse

    kc_c, vc_c, kc_e, vc_e = kc.clone(), vc.clone(), kc.clone(), vc.clone()
    out_c, lse_c = torch.compile(f, fullgraph=True)(q, kc_c, vc_c, k, k, lens)
    out_e, lse_e = f(q, kc_e, vc_e, k, k, lens)
    assert torch.equal(out_c, out_e) and torch.equal(lse_c, lse_e)
    assert torch.equal(kc_c, kc_e) and torch.equal(vc_c, vc_e)  # the append happened once, in place


def _opcheck_batch():
    return dr.make_batch([1, 17, 300], [1, 5, 3], 8, 2, 128, BF16, 16)


@pytest.mark.quick
@pytest.mark.parametrize("return_lse", [True, False])
def test_opcheck_paged_attention(return_lse):
    fresh_seed()
    b = _opcheck_batch()
    torch.library.opcheck(OPS.paged_attention.default,
                          (b.q, b.k_cache, b.v_cache, b.cu_seqlens_q, b.seq_lens, b.block_table, 5,
                           300, 0.125, True, 0, return_lse))


@pytest.mark.quick
@pytest.mark.parametrize("rope", [0, 1, 2])
def test_opcheck_paged_kv_append(rope):
    fresh_seed()
    b = _opcheck_batch()
    k = torch.randn(6, 2, 128, dtype=BF16, device="cuda")
    slots = torch.tensor([3, -1, 0, 9, 30, 31], device="cuda")
    pos = torch.arange(6, dtype=torch.int32, device="cuda")
    cos, sin = dr.rope_tables(dr.inv_freq_default(64), 64, "cuda")
    args = ((k, k, slots, b.k_cache, b.v_cache, b.q[:4], cos, sin, pos, None, rope) if rope
            else (k, k, slots, b.k_cache, b.v_cache, None, None, None, None, None, 0))
    torch.library.opcheck(OPS.paged_kv_append.default, args)


# ---- errors --------------------------------------------------------------------------------------

def _small():
    q = torch.randn(2, 1, 4, 64, dtype=BF16, device="cuda")
    kc = torch.randn(2, 8, 2, 64, dtype=BF16, device="cuda")
    return q, kc


@pytest.mark.quick
@pytest.mark.parametrize("kwargs,match", [
    ({"cache_batch_idx": torch.zeros(2, dtype=torch.int32)}, "cache_batch_idx"),
    ({"cache_leftpad": torch.zeros(2, dtype=torch.int32)}, "cache_leftpad"),
    ({"window_size": (8, 0)}, "window_size"), ({"softcap": 30.0}, "softcap"),
    ({"alibi_slopes": torch.zeros(4)}, "alibi_slopes")])
def test_kvcache_unsupported(kwargs, match):
    q, kc = _small()
    with pytest.raises(NotImplementedError, match=match):
        tessera.flash_attn_with_kvcache(q, kc, kc, **kwargs)


@pytest.mark.quick
@pytest.mark.parametrize("make,match", [
    (lambda q, kc: ((q[0], kc, kc), {}), "q must be 4-D"),
    (lambda q, kc: ((q.float(), kc, kc), {}), "q has dtype torch.float32"),
    (lambda q, kc: ((q.cpu(), kc, kc), {}), "CUDA"),
    (lambda q, kc: ((q, kc.half(), kc.half()), {}), "k_cache has dtype"),
    (lambda q, kc: ((q, kc, kc[:1]), {}), "same shape"),
    (lambda q, kc: ((q, torch.stack([kc, kc], 1)[:, 0], kc), {}), "same strides"),
    (lambda q, kc: ((q, *[kc.as_strided(kc.shape, (512, 128, 64, 1))] * 2), {}),
     r"strides \(512, 128, 64, 1\) make rows .* overlap"),
    (lambda q, kc: ((q, *[kc.as_strided(kc.shape, (1024, 128, 0, 1))] * 2), {}), "overlap"),
    (lambda q, kc: ((q, *[torch.randn(2, 8, 2, 68, dtype=BF16, device="cuda")[..., :64]] * 2), {}),
     "multiples of 8"),
    (lambda q, kc: ((q, *[torch.randn(2, 8, 2, 128, dtype=BF16, device="cuda")[..., ::2]] * 2), {}),
     "k_cache must be contiguous in its last dim"),
    (lambda q, kc: ((q, kc[:1], kc[:1]), {}), "batch 2"),
    (lambda q, kc: ((q[:, :, :3], kc, kc), {}), "multiple of num_kv_heads"),
    (lambda q, kc: ((q, kc, kc), {"block_table": torch.zeros(2, 1, dtype=torch.int64,
                                                               device="cuda")}),
     "block_table must be torch.int32"),
    (lambda q, kc: ((q, kc, kc), {"block_table": torch.zeros(3, 1, dtype=torch.int32,
                                                               device="cuda")}),
     r"block_table must have shape \[2, \*\]"),
    (lambda q, kc: ((q, kc, kc), {"cache_seqlens": torch.zeros(3, dtype=torch.int32,
                                                                 device="cuda")}),
     "cache_seqlens must have shape"),
    (lambda q, kc: ((q, kc, kc), {"cache_seqlens": torch.zeros(2, dtype=torch.int64,
                                                                 device="cuda")}),
     "cache_seqlens must be torch.int32"),
    (lambda q, kc: ((q, kc, kc, q[:, :, :2]), {}), "k and v must be given together"),
    (lambda q, kc: ((q, kc, kc, q[:, :, :2], q[:, :, :2]), {}), "cache_seqlens is needed"),
    (lambda q, kc: ((q, kc, kc, q[:, :, :1], q[:, :, :1]), {"cache_seqlens": 0}), "k must be"),
    (lambda q, kc: ((q, kc, kc), {"rotary_cos": torch.zeros(8, 16, device="cuda"),
                                  "rotary_sin": torch.zeros(8, 16, device="cuda")}),
     "only with new k/v"),
    (lambda q, kc: ((q, kc, kc, q[:, :, :2], q[:, :, :2], torch.zeros(8, 40, device="cuda"),
                     torch.zeros(8, 40, device="cuda"), 0), {}), "rotary_dim <= head_dim"),
    (lambda q, kc: ((q, kc, kc, q[:, :, :2], q[:, :, :2], torch.zeros(4, 16, device="cuda"),
                     torch.zeros(4, 16, device="cuda"), 0), {}), "seqlen_ro"),
    (lambda q, kc: ((q, kc, kc, q[:, :0, :2], q[:, :0, :2], torch.zeros(8, 16, device="cuda"),
                     torch.zeros(8, 16, device="cuda"), 0), {}), "seqlen_new is 0"),
    (lambda q, kc: ((torch.zeros(2, 1, 4, 80, dtype=BF16, device="cuda"),
                     torch.zeros(2, 8, 2, 80, dtype=BF16, device="cuda"),
                     torch.zeros(2, 8, 2, 80, dtype=BF16, device="cuda")), {}), "head_dim 80"),
])
def test_kvcache_errors(make, match):
    q, kc = _small()
    args, kwargs = make(q, kc)
    with pytest.raises(ValueError, match=match):
        tessera.flash_attn_with_kvcache(*args, **kwargs)


@pytest.mark.quick
def test_engine_api_errors():
    b = _opcheck_batch()
    kc = b.k_cache
    k = torch.randn(4, 2, 128, dtype=BF16, device="cuda")
    slots32 = torch.zeros(4, dtype=torch.int32, device="cuda")
    slots = slots32.long()
    cos = torch.zeros(64, 32, device="cuda")
    with pytest.raises(ValueError, match="slot_mapping must be torch.int64"):
        tessera.paged_kv_append(k, k, kc, kc, slots32)
    with pytest.raises(ValueError, match=r"slot_mapping must have shape \[4\]"):
        tessera.paged_kv_append(k, k, kc, kc, slots[:3])
    with pytest.raises(ValueError, match="positions"):
        tessera.paged_kv_append(k, k, kc, kc, slots, rotary_cos=cos, rotary_sin=cos)
    with pytest.raises(ValueError, match="k must be"):
        tessera.paged_kv_append(k[:, :1], k[:, :1], kc, kc, slots)
    with pytest.raises(ValueError, match="q_positions"):
        tessera.paged_kv_append(k, k, kc, kc, slots, torch.zeros(4, dtype=torch.int32,
                                                                 device="cuda"), cos, cos,
                                q=b.q[:5].repeat(2, 1, 1))
    with pytest.raises(ValueError, match="at least one new k/v token"):
        tessera.paged_kv_append(k[:0], k[:0], kc, kc, slots[:0], slots32[:0], cos, cos, q=b.q,
                                q_positions=torch.zeros(9, dtype=torch.int32, device="cuda"))
    args = [b.q, kc, b.v_cache, b.cu_seqlens_q, b.seq_lens, b.block_table]
    with pytest.raises(ValueError, match="seq_lens must be torch.int32"):
        tessera.paged_attention(*args[:4], b.seq_lens.long(), b.block_table)
    with pytest.raises(ValueError, match=r"block_table must have shape \[3, \*\]"):
        tessera.paged_attention(*args[:5], b.block_table[:2])
    with pytest.raises(ValueError, match="max_q_len"):
        tessera.paged_attention(*args, -1)
    with pytest.raises(ValueError, match="num_splits"):
        tessera.paged_attention(*args, num_splits=-2)


@pytest.mark.quick
def test_kernel_rejects_bad_strides():
    """What the Python checks let through reaches the launcher's own checks: a q head stride that
    is not a multiple of 8 elements is a ValueError with the launcher's reason, not a crash."""
    b = _opcheck_batch()
    q = torch.randn(b.q.shape[0], 8, 132, dtype=BF16, device="cuda")[..., :128]
    out = torch.empty(q.shape, dtype=BF16, device="cuda")
    with pytest.raises(ValueError):
        kvcache.paged_attention_into(q, b.k_cache, b.v_cache, b.cu_seqlens_q, b.seq_lens,
                                     b.block_table, out, None, 5, 300, 0.125, True)
    with pytest.raises(ValueError):
        kvcache.paged_attention_plan(3, 0, 0, 128, 1, 3, 300, 132, 0)
    # Caches whose rows overlap (blocks half a block apart), past the Python checks.
    narrow = b.k_cache.as_strided(b.k_cache.shape, (1024, 256, 128, 1))
    reason = r"cache strides \(block 1024, token 256, head 128 elements\) overlap"
    with pytest.raises(ValueError, match=reason):
        kvcache.paged_attention_into(b.q, narrow, narrow, b.cu_seqlens_q, b.seq_lens, b.block_table,
                                     torch.empty_like(b.q), None, 5, 300, 0.125, True)
    k = torch.randn(4, 2, 128, dtype=BF16, device="cuda")
    slots = torch.arange(4, device="cuda")
    with pytest.raises(ValueError, match=r"paged_kv_append: cache strides \(block 1024"):
        kvcache.paged_kv_append_into(k, k, slots, narrow, narrow)


# ---- RoPE tables against transformers -----------------------------------------------------------

@pytest.mark.parametrize("rope_type", ["linear", "llama3"])
def test_rope_inv_freq_matches_transformers(rope_type):
    """decode_ref's inv_freq against transformers' own (skipped where its API differs)."""
    pytest.importorskip("transformers")
    try:
        from transformers import LlamaConfig
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
        init = ROPE_INIT_FUNCTIONS[rope_type]
    except (ImportError, KeyError) as e:
        pytest.skip(f"transformers has no '{rope_type}' RoPE init here ({e})")
    if rope_type == "linear":
        theta, scaling = 10000.0, {"rope_type": "linear", "factor": 4.0}
    else:
        theta, scaling = 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8192}
    try:
        cfg = LlamaConfig(hidden_size=512, num_attention_heads=4, head_dim=128, rope_theta=theta,
                          rope_scaling=dict(scaling), max_position_embeddings=131072)
        if getattr(cfg, "rope_parameters", None) is not None:  # transformers 5
            cfg.rope_parameters = dict(scaling, rope_theta=theta)
        theirs = init(cfg, "cpu")[0].float()
    except Exception as e:  # noqa: BLE001 - a different transformers API, not a tessera bug
        pytest.skip(f"transformers' RoPE init API differs here ({type(e).__name__}: {e})")
    torch.testing.assert_close(dr.inv_freq_for(rope_type, 128), theirs, rtol=1e-6, atol=0)
