"""dev/kernels/decode_check.py — the paged decode kernels' fast iteration loop (not a test suite:
tests/gpu/test_decode.py is). Calls tessera._C directly: a few correctness cases against a torch
fp32 reference over the gathered cache, then timings of the issue's three shapes (Hq=32, Hkv=8,
D=128, bf16, block size 16) against SDPA cudnn in the same run, bandwidth = K+V bytes / time.

    PYTHONPATH=python python3 dev/kernels/decode_check.py [--no-time] [--splits N] [--heads Hq:Hkv] [--kv-ab]

--kv-ab times each shape over other cache layouts too (separate caches allocated later, K/V pairs,
two head-major layouts), alternating in one process, and checks each output is bitwise the dense
NHD one.

A/B inside one process (two processes can differ by 1%): with DECODE_AB=VAR each timed shape runs
with the environment variable VAR unset, set to DECODE_AB_VALUE (default 1), and unset again. It is
for a dev patch whose launcher reads VAR; no committed launcher reads one.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from tessera import _C

BF16 = 2


SEQ_TABLE = False
KV_AB = False  # --kv-ab
AB = os.environ.get("DECODE_AB", "")  # env var of a variant the launcher reads: timed off / on / off
PROFILE = False
SHAPES = ((64, 8192), (1, 32768), (1, 4096), (8, 8192), (64, 2048))


def make_cache(lens, hkv, d, bs, dtype):
    nblk_per = [(L + bs - 1) // bs for L in lens]
    total = sum(nblk_per) + 3
    perm = (torch.arange(total, device="cuda", dtype=torch.int32) if SEQ_TABLE
            else torch.randperm(total, device="cuda", dtype=torch.int32))
    maxb = max(max(nblk_per), 1)
    table = torch.full((len(lens), maxb), -1, dtype=torch.int32, device="cuda")
    o = 0
    for i, n in enumerate(nblk_per):
        table[i, :n] = perm[o:o + n]
        o += n
    kc = torch.randn(total, bs, hkv, d, device="cuda", dtype=dtype)
    vc = torch.randn(total, bs, hkv, d, device="cuda", dtype=dtype)
    return kc, vc, table


def gather(cache, table, L, bs):
    nb = (L + bs - 1) // bs
    return cache[table[:nb].long()].reshape(nb * bs, *cache.shape[2:])[:L]


def run(q, kc, vc, table, lens, qlens, hq, causal, splits=0, lse=True):
    hkv, d = kc.shape[2], kc.shape[3]
    bs = kc.shape[1]
    cu = torch.tensor([0] + list(torch.tensor(qlens).cumsum(0).tolist()), dtype=torch.int32, device="cuda")
    sl = torch.tensor(lens, dtype=torch.int32, device="cuda")
    plan = _C.paged_attention_plan(len(lens), hq, hkv, d, max(qlens), q.shape[0], max(lens), 132, splits)
    ws = torch.empty(max(1, plan[6] // 4), dtype=torch.float32, device="cuda")
    out = torch.full_like(q, float("nan"))
    lse_t = torch.full((hq, q.shape[0]), float("nan"), device="cuda") if lse else None
    _C.paged_attention(plan, q.data_ptr(), q.stride(0), q.stride(1), out.data_ptr(), out.stride(0), out.stride(1),
                       lse_t.data_ptr() if lse else 0, kc.data_ptr(), vc.data_ptr(), kc.shape[0], bs, hkv, d,
                       cu.data_ptr(), sl.data_ptr(), table.data_ptr(), len(lens), table.shape[1], hq,
                       d ** -0.5, causal, BF16 if q.dtype == torch.bfloat16 else 1, ws.data_ptr(),
                       torch.cuda.current_stream().cuda_stream)
    return out, lse_t, plan


def check(lens, qlens, hq, hkv, d, bs, causal, dtype=torch.bfloat16, splits=0):
    kc, vc, table = make_cache(lens, hkv, d, bs, dtype)
    q = torch.randn(sum(qlens), hq, d, device="cuda", dtype=dtype)
    out, lse, plan = run(q, kc, vc, table, lens, qlens, hq, causal, splits)
    torch.cuda.synchronize()
    worst = 0.0
    o = 0
    g = hq // hkv
    for i, (L, ql) in enumerate(zip(lens, qlens)):
        if ql == 0:
            continue
        k = gather(kc, table[i], L, bs).float().repeat_interleave(g, dim=1)
        v = gather(vc, table[i], L, bs).float().repeat_interleave(g, dim=1)
        qq = q[o:o + ql].float()
        s = torch.einsum("qhd,khd->hqk", qq, k) * d ** -0.5
        if causal:
            qi = torch.arange(ql, device="cuda")[:, None] + L - ql
            kj = torch.arange(L, device="cuda")[None, :]
            s = s.masked_fill(kj > qi, float("-inf"))
        ref_lse = torch.logsumexp(s, -1)
        p = torch.softmax(s, -1).nan_to_num()
        ref = torch.einsum("hqk,khd->qhd", p, v)
        err = (out[o:o + ql].float() - ref).abs().max().item()
        lerr = (lse[:, o:o + ql] - ref_lse).abs().max().item() if L > 0 else 0.0
        worst = max(worst, err)
        if not (err < 2e-2 and (lerr < 1e-3 or L == 0)):
            print(f"  FAIL seq {i} L={L} ql={ql}: out err {err:.3e} lse err {lerr:.3e}")
        o += ql
    print(f"lens {lens[:6]}{'...' if len(lens) > 6 else ''} qlens {qlens[:4]} hq {hq} hkv {hkv} d {d} bs {bs} "
          f"causal {causal} splits {plan[0]}: max err {worst:.3e}")
    return worst < 2e-2


def bench_ms(fn, iters=50):
    g = torch.cuda.CUDAGraph()
    fn()
    torch.cuda.synchronize()
    with torch.cuda.graph(g):
        for _ in range(10):
            fn()
    g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / 10)
    ts.sort()
    return ts[len(ts) // 2]


def timing(B, L, splits=0, bs=16, hq=32, hkv=8):
    d = 128
    dtype = torch.bfloat16
    nbytes = 2 * B * L * hkv * d * 2
    sets = max(1, min(8, math.ceil(200e6 / nbytes)))  # rotate inputs so L2 (50 MB) holds none of them
    caches = [make_cache([L] * B, hkv, d, bs, dtype) for _ in range(sets)]
    q = torch.randn(B, hq, d, device="cuda", dtype=dtype)
    cu = torch.arange(B + 1, dtype=torch.int32, device="cuda")
    sl = torch.full((B,), L, dtype=torch.int32, device="cuda")
    plan = _C.paged_attention_plan(B, hq, hkv, d, 1, B, L, 132, splits)
    ws = torch.empty(max(1, plan[6] // 4), dtype=torch.float32, device="cuda")
    out = torch.empty_like(q)
    it = [0]

    def launch(k_cache, v_cache, num_blocks, table, block_stride=0, token_stride=0, head_stride=0):
        _C.paged_attention(plan, q.data_ptr(), q.stride(0), q.stride(1), out.data_ptr(), out.stride(0),
                           out.stride(1), 0, k_cache.data_ptr(), v_cache.data_ptr(), num_blocks, bs, hkv, d,
                           cu.data_ptr(), sl.data_ptr(), table.data_ptr(), B, table.shape[1], hq, d ** -0.5, False,
                           BF16, ws.data_ptr(), torch.cuda.current_stream().cuda_stream,  # the capture stream
                           cache_block_stride=block_stride, cache_token_stride=token_stride,
                           cache_head_stride=head_stride)

    def rotating(sets_list, fn):
        def call():
            entry = sets_list[it[0] % sets]
            it[0] += 1
            fn(*entry)
        return call

    ours = rotating(caches, lambda kc, vc, table: launch(kc, vc, kc.shape[0], table))
    t_ours = bench_ms(ours)
    if KV_AB:  # the same tables over other cache layouts, timed alternating in this process
        # name -> (make one buffer of a set, views (k, v) of it, strides (block, token, head))
        layouts = {
            # separate K and V caches again, allocated after the first ones: a difference that
            # follows the allocation order, not the layout, shows up here
            "separate-late": (lambda nb: torch.randn(2, nb, bs, hkv, d, device="cuda", dtype=dtype),
                              lambda b: (b[0], b[1]), lambda b: (b.stride(1), hkv * d, d)),
            # K/V pairs [blocks, 2, bs, hkv, d] (the engine's cache)
            "pairs": (lambda nb: torch.randn(nb, 2, bs, hkv, d, device="cuda", dtype=dtype),
                      lambda b: (b[:, 0], b[:, 1]), lambda b: (b.stride(0), hkv * d, d)),
            # head-major, a head's K and V of one block side by side [blocks, hkv, 2, bs, d]: 8 KB runs
            "hnd-pairs": (lambda nb: torch.randn(nb, hkv, 2, bs, d, device="cuda", dtype=dtype),
                          lambda b: (b[:, :, 0], b[:, :, 1]), lambda b: (b.stride(0), d, 2 * bs * d)),
            # head-major, K then V of a block [blocks, 2, hkv, bs, d]
            "hnd-kv": (lambda nb: torch.randn(nb, 2, hkv, bs, d, device="cuda", dtype=dtype),
                       lambda b: (b[:, 0], b[:, 1]), lambda b: (b.stride(0), d, bs * d)),
        }
        variants, same = {}, {}
        for name, (make, views, strides) in layouts.items():
            sets_l = [(make(c[0].shape[0]), c[2]) for c in caches]

            def call_l(buf, table, views=views, strides=strides):
                kv_, vv_ = views(buf)
                bst, ts, hs = strides(buf)
                launch(kv_, vv_, kv_.shape[0], table, bst, ts, hs)
            variants[name] = rotating(sets_l, call_l)
            # the strided read gives what a dense NHD cache holding the same data gives, bit for bit
            buf0, tb0 = sets_l[0]
            call_l(buf0, tb0)
            ref_out = out.clone()
            kv_, vv_ = views(buf0)
            if name.startswith("hnd"):  # views are [blocks, hkv, bs, d]
                kv_, vv_ = kv_.transpose(1, 2), vv_.transpose(1, 2)
            launch(kv_.contiguous(), vv_.contiguous(), kv_.shape[0], tb0)
            torch.cuda.synchronize()
            same[name] = torch.equal(out, ref_out)
        times = {"separate": [t_ours], **{n: [] for n in variants}}
        for _ in range(4):
            for n, fn in variants.items():
                times[n].append(bench_ms(fn))
            times["separate"].append(bench_ms(ours))
        print("    layouts (output identical to dense NHD: " + ", ".join(f"{n} {v}" for n, v in same.items()) + "): " +
              " | ".join(f"{n} " + " ".join(f"{t*1e3:.1f}" for t in ts) for n, ts in times.items()) + " us")
        del variants
    if AB:
        os.environ[AB] = os.environ.get("DECODE_AB_VALUE", "1")
        t_exp = bench_ms(ours)
        del os.environ[AB]
        t_ours2 = bench_ms(ours)
        print(f"    A/B {AB}={os.environ.get('DECODE_AB_VALUE', '1')}: off {t_ours*1e3:.1f} us, on {t_exp*1e3:.1f} us, "
              f"off again {t_ours2*1e3:.1f} us")
    if PROFILE:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(20):
                ours()
            torch.cuda.synchronize()
        for ev in prof.key_averages():
            if ev.device_type is not None and "paged" in ev.key:
                print(f"    {ev.key[:60]:60s} {ev.device_time_total / max(1, ev.count):8.1f} us x{ev.count}")
    del caches
    qs = torch.randn(B, hq, 1, d, device="cuda", dtype=dtype)
    kvs = [(torch.randn(B, hkv, L, d, device="cuda", dtype=dtype), torch.randn(B, hkv, L, d, device="cuda", dtype=dtype))
           for _ in range(sets)]
    res = {}
    for name, be in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        def peer():
            ks, vs = kvs[it[0] % sets]
            it[0] += 1
            return F.scaled_dot_product_attention(qs, ks, vs, enable_gqa=True)
        try:
            with sdpa_kernel(be):
                t = bench_ms(peer)
        except Exception as e:  # noqa: BLE001
            print(f"  {name}: {type(e).__name__} {str(e)[:100]}")
            continue
        res[name] = t
    peers = " ".join(f"{n} {t*1e3:.1f}us ({nbytes/t/1e9:.2f} TB/s, ours x{t/t_ours:.2f})" for n, t in res.items())
    print(f"B={B:3d} L={L:6d} splits {plan[0]:3d}: tessera {t_ours*1e3:8.1f} us {nbytes/t_ours/1e9:5.2f} TB/s | {peers}")


def heads_arg(text):
    try:
        hq, hkv = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--heads wants Hq:Hkv, got {text!r}") from None
    if hq < 1 or hkv < 1 or hq % hkv:
        raise argparse.ArgumentTypeError(f"--heads {text}: Hq must be a positive multiple of Hkv")
    return hq, hkv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-time", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--splits", type=int, default=0)
    ap.add_argument("--bs", type=int, default=16)
    ap.add_argument("--heads", default="32:8", type=heads_arg, help="Hq:Hkv of the timed shapes")
    ap.add_argument("--seq-table", action="store_true", help="blocks in memory order (no shuffle)")
    ap.add_argument("--kv-ab", action="store_true",
                    help="also time other cache layouts (K/V pairs, head-major) alternating with separate NHD caches")
    ap.add_argument("--profile", action="store_true", help="per-kernel times (torch.profiler)")
    ap.add_argument("--shapes", default="", help="B:L,B:L,... (default: the issue's shapes and two more)")
    args = ap.parse_args()
    global SEQ_TABLE, PROFILE, KV_AB
    SEQ_TABLE, PROFILE, KV_AB = args.seq_table, args.profile, args.kv_ab
    if args.shapes:
        global SHAPES
        SHAPES = tuple(tuple(int(x) for x in p.split(":")) for p in args.shapes.split(","))
    torch.manual_seed(0)
    ok = True
    if not args.no_check:
        for d in (64, 128, 256):
            for bs in (16, 64):
                ok &= check([1, 17, 97, 1025, 300], [1] * 5, 32, 8, d, bs, True)
        ok &= check([1, 17, 97, 1025, 5000], [1] * 5, 32, 8, 128, 32, True, splits=7)
        ok &= check([32768, 3], [1, 1], 32, 8, 128, 128, True)
        ok &= check([40, 100, 2000], [5, 33, 200], 32, 8, 128, 16, True)
        ok &= check([40, 100, 2000], [5, 33, 200], 32, 8, 128, 16, True, splits=3)
        ok &= check([40, 100, 2000], [5, 33, 200], 12, 3, 64, 16, False, dtype=torch.float16)
        ok &= check([17, 1025], [1, 1], 8, 8, 128, 16, True)
        ok &= check([17, 1025], [3, 1], 8, 1, 256, 16, True, splits=2)
        ok &= check([0, 5], [0, 1], 8, 1, 128, 16, True)
        print("CHECK", "PASSED" if ok else "FAILED")
    if not args.no_time:
        for B, L in SHAPES:
            timing(B, L, args.splits, args.bs, *args.heads)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
