"""bench/kernels/attention.py — tessera's attention against PyTorch SDPA (flash, cudnn, efficient,
math), same run, same machine. Prints a table, writes attention_bench.json and the PNG plots.

Cases: the benchmark tier of tests/attention_cases.py (which tests/gpu checks, every one, forward
and backward): the seed shape (B=1, H=8, S=512, D=64, fp16, causal and not) and the
FlashAttention-3 paper shapes (bf16, B*S = 16384, H*D = 2048, S = 512 ... 16384, D = 64 and 128,
causal and not), each forward ("fwd") and forward + backward ("fwd_bwd").

Measurement (docs/architecture.md "How we measure"):
  - FLOPs: fwd 4*B*H*Sq*Sk*D, halved for causal; bwd 2.5x fwd, so fwd_bwd is 3.5x fwd.
  - Time: median over >= 20 timed runs after warm-up, CUDA events. Each run replays a CUDA graph
    of `inner` calls (so host launch overhead, which can exceed the kernel at the seed shape, is
    not measured for anyone) over rotating input sets that together exceed 2x L2 (fresh
    torch.randn per set, never zeros); falls back to eager timing, noted per result, when capture
    fails. --no-graph forces eager.
  - Peak memory: torch.cuda.max_memory_allocated() during one eager call, minus what was allocated
    before it (inputs), so it is what the attention itself needs.
  - Layouts: tessera takes (B, S, H, D); SDPA gets contiguous (B, H, S, D) tensors, its native
    layout, so neither side pays for a transpose. Noted in the JSON.
  - The math backend is skipped above --math-max-seqlen and an OOM is caught and reported; the
    speedup and memory saved against math are shown wherever it ran.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(_ROOT, "python"))
sys.path.insert(0, os.path.join(_ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from attention_cases import prefill_cases  # noqa: E402 - the registry the GPU tests share

IMPLS = ["tessera", "flash", "cudnn", "efficient", "math"]
_BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
L2_BYTES = 50 * 2**20  # H200


def cases(quick: bool):
    """The benchmark's tier of tests/attention_cases.py, as the dicts this script's JSON holds."""
    return [c.bench_dict() for c in prefill_cases(bench="quick" if quick else "full")]


def flops(c, mode):
    f = 4 * c["batch"] * c["heads"] * c["seqlen"] * c["seqlen"] * c["head_dim"]
    if c["causal"]:
        f /= 2
    return f * (3.5 if mode == "fwd_bwd" else 1.0)


def make_inputs(c, impl, mode, nsets):
    dtype = torch.float16 if c["dtype"] == "fp16" else torch.bfloat16
    b, h, s, d = c["batch"], c["heads"], c["seqlen"], c["head_dim"]
    shape = (b, s, h, d) if impl == "tessera" else (b, h, s, d)
    grad = mode == "fwd_bwd"
    sets = []
    for _ in range(nsets):
        q, k, v = (torch.randn(shape, dtype=dtype, device="cuda", requires_grad=grad)
                   for _ in range(3))
        do = torch.randn(shape, dtype=dtype, device="cuda") if grad else None
        sets.append((q, k, v, do))
    return sets


def make_fn(c, impl, mode, sets):
    causal = c["causal"]
    if impl == "tessera":
        import tessera

        def attn(q, k, v):
            return tessera.flash_attn_func(q, k, v, causal=causal)
    else:
        backend = _BACKENDS[impl]

        def attn(q, k, v):
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def fn(i):
        q, k, v, do = sets[i % len(sets)]
        if mode == "fwd":
            with torch.no_grad():
                return attn(q, k, v)
        o = attn(q, k, v)
        return torch.autograd.grad(o, (q, k, v), do)

    return fn


def peak_bytes(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    r = fn(0)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del r
    return peak


def time_eager(fn, runs, warmup, nsets):
    for i in range(warmup):
        fn(i)
    times = []
    for r in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(r)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def time_graph(fn, runs, warmup, inner):
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(max(2, warmup)):
            fn(i)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        keep = [fn(i) for i in range(inner)]  # noqa: F841 - outputs live in the graph's pool
    for _ in range(warmup):
        graph.replay()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / inner)
    del graph, keep
    return times


def time_fn(fn, runs, warmup, nsets, no_graph=False):
    """Per-call times (ms) of fn over `nsets` rotating input sets: a CUDA graph of nsets calls,
    or eager timing when capture fails or no_graph. Returns (times, fields for the result: how it
    was timed, and the capture error if there was one)."""
    times, fields = None, {"timing": "eager"}
    if not no_graph:
        try:
            times = time_graph(fn, runs, warmup, inner=nsets)
            fields["timing"] = f"cuda graph x{nsets}"
        except Exception as e:  # noqa: BLE001 - any capture failure: time eagerly instead
            fields["graph_error"] = f"{type(e).__name__}: {str(e)[:200]}"
            torch.cuda.synchronize()
    if times is None:
        times = time_eager(fn, runs, warmup, nsets)
    return times, fields


def bench_one(c, impl, mode, args):
    res = {"status": "ok"}
    if impl == "math" and c["seqlen"] > args.math_max_seqlen:
        return {"status": f"skipped (S > --math-max-seqlen {args.math_max_seqlen})"}
    elem = 2
    set_bytes = 3 * c["batch"] * c["heads"] * c["seqlen"] * c["head_dim"] * elem
    set_bytes *= 4 / 3 if mode == "fwd_bwd" else 1
    nsets = max(1, min(64, math.ceil(2 * L2_BYTES / set_bytes)))
    sets = fn = None
    try:
        sets = make_inputs(c, impl, mode, nsets)
        fn = make_fn(c, impl, mode, sets)
        res["peak_bytes"] = peak_bytes(fn)
        times, fields = time_fn(fn, args.runs, args.warmup, nsets, args.no_graph)
        res.update(fields)
        res["ms"] = statistics.median(times)
        res["ms_min"] = min(times)
        res["runs"] = len(times)
        res["tflops"] = flops(c, mode) / (res["ms"] * 1e-3) / 1e12
    except torch.cuda.OutOfMemoryError:
        res = {"status": "oom"}
    except RuntimeError as e:
        res = {"status": f"error: {str(e).splitlines()[0][:200]}"}
    finally:
        del sets, fn
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    return res


def label(c):
    return (f"{c['case']:5s} B={c['batch']:<2d} H={c['heads']:<2d} S={c['seqlen']:<5d} "
            f"D={c['head_dim']:<3d} {'causal' if c['causal'] else 'full  '} {c['dtype']}")


def summarize(row):
    impls = row["impls"]
    t, f, m = impls.get("tessera", {}), impls.get("flash", {}), impls.get("math", {})
    if "ms" in t and "ms" in f:
        row["tessera_over_flash"] = f["ms"] / t["ms"]
    if "ms" in t and "ms" in m:
        row["speedup_vs_math"] = m["ms"] / t["ms"]
        row["memory_saved_vs_math_bytes"] = m["peak_bytes"] - t["peak_bytes"]


def cell(r):
    if "tflops" in r:
        return f"{r['tflops']:7.1f}"
    s = r.get("status", "-")
    return f"{'OOM' if s == 'oom' else 'skip' if s.startswith('skipped') else 'err':>7s}"


def print_row(row, impls):
    mib = lambda b: f"{b / 2**20:8.0f}" if b is not None else "       -"  # noqa: E731
    cells = " ".join(cell(row["impls"].get(i, {})) for i in impls)
    ratio = row.get("tessera_over_flash")
    vs_math = row.get("speedup_vs_math")
    t_mem = row["impls"].get("tessera", {}).get("peak_bytes")
    m_mem = row["impls"].get("math", {}).get("peak_bytes")
    print(f"{label(row['shape'])} {row['mode']:7s} {cells}  "
          f"{(f'{ratio:5.2f}x' if ratio else '    -'):>6s} {(f'{vs_math:6.1f}x' if vs_math else '     -'):>7s}"
          f" {mib(t_mem)} {mib(m_mem)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"), help="output folder")
    ap.add_argument("--quick", action="store_true", help="seed shape + S in {512, 4096} only")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per case (>= 20)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma list of " + ",".join(IMPLS))
    ap.add_argument("--modes", default="fwd,fwd_bwd")
    ap.add_argument("--math-max-seqlen", type=int, default=8192)
    ap.add_argument("--no-graph", action="store_true", help="time eager calls, not graph replays")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    if args.runs < 20:
        ap.error("--runs must be >= 20 (docs/architecture.md: medians over >= 20 timed runs)")
    impls = [i for i in args.impls.split(",") if i]
    modes = [m for m in args.modes.split(",") if m]
    os.makedirs(args.out, exist_ok=True)

    import tessera  # noqa: F401 - fail early when the extension is missing

    dev = torch.cuda.get_device_properties(0)
    meta = {
        "device": dev.name, "sm_count": dev.multi_processor_count,
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": args.runs, "warmup": args.warmup,
        "flops": "fwd 4*B*H*S*S*D (/2 causal); fwd_bwd 3.5x fwd",
        "layout": "tessera (B, S, H, D) contiguous; SDPA (B, H, S, D) contiguous (native layouts)",
        "time": "median ms per call; CUDA graph of `inner` calls over rotating input sets unless "
                "noted ('timing')",
        "peak_bytes": "max_memory_allocated during one eager call minus allocated before (inputs)",
        "math_max_seqlen": args.math_max_seqlen,
    }
    print(f"{dev.name}, torch {torch.__version__}, CUDA {torch.version.cuda}; TFLOP/s, median of "
          f"{args.runs}")
    print(f"{'shape':49s} {'mode':7s} " + " ".join(f"{i:>7s}" for i in impls) +
          "  t/flash  vs math  MiB(t)  MiB(math)")
    rows = []
    for mode in modes:
        for c in cases(args.quick):
            row = {"shape": c, "mode": mode, "flops": flops(c, mode), "impls": {}}
            for impl in impls:
                row["impls"][impl] = bench_one(c, impl, mode, args)
            summarize(row)
            print_row(row, impls)
            rows.append(row)
    path = os.path.join(args.out, "attention_bench.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=1)
    print(f"wrote {path}")
    if not args.no_plot:
        try:
            import plot_attention

            for p in plot_attention.plot(path, args.out):
                print(f"wrote {p}")
        except ImportError as e:
            print(f"no plots here ({e}); on a machine with matplotlib run: "
                  f"python3 bench/kernels/plot_attention.py {path}")


if __name__ == "__main__":
    main()
