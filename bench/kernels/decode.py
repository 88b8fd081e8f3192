"""bench/kernels/decode.py — paged decode attention: tessera against PyTorch SDPA (cudnn and flash
backends) on contiguous K/V of the same size, same run. Prints a table, writes decode_bench.json,
decode_bench.md (the docs/benchmarks.md tables) and, with matplotlib, decode_bandwidth.png.

Problem: one new query token per sequence (q_len 1), Hq=32, Hkv=8, D=128, bf16, every sequence L
keys; B in {1, 8, 64} x L in {512 .. 32768} (--quick: B in {1, 64}, L in {4096, 8192, 32768},
which holds the three rows the issue sets targets for).
  - tessera: tessera.paged_attention over a paged cache [num_blocks, block_size (16), Hkv, D]
    with a random shuffled block table (append not included); its plan's split count is recorded.
    K and V are views of one [num_blocks, 2, block_size, Hkv, D] tensor, a block's keys and values
    side by side, as the CUDA engine allocates its cache (--kv separate: two tensors instead).
    --table ordered gives each sequence consecutive blocks instead (a fresh allocator's layout):
    the difference is what the scattered pages cost.
  - SDPA: q (B, Hq, 1, D), k/v (B, Hkv, L, D) contiguous with enable_gqa=True; a backend that
    rejects GQA gets k/v expanded to (B, Hq, L, D) instead (it then reads 4x the bytes counted;
    noted per result as "gqa").

Measurement (docs/architecture.md "How we measure", the timing code of bench/kernels/attention.py):
  - bandwidth = bytes of K and V read, B * L * Hkv * D * 2 bytes * 2, over the median time;
  - time: median over >= 20 timed runs after warm-up, CUDA events, each run a CUDA graph replay of
    one call per rotating input set, the sets together > 2x L2 (fresh torch.randn each, never
    zeros); eager timing (noted) if capture fails;
  - the copy ceiling in the same run: torch copy_ of a 4 GiB buffer, bytes read + written / time;
    tessera's fraction of it is printed per row.

    python3 bench/kernels/decode.py --out gpu-out [--quick]
    python3 bench/kernels/decode.py --report gpu-out/decode_bench.json   # md + png again, no GPU
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

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
sys.path[:0] = [os.path.join(_ROOT, "python"), os.path.join(_ROOT, "tests"), _HERE]

from attention_cases import Decode, decode_cases  # noqa: E402 - the registry tests/gpu shares

# The problem every case shares (tests/attention_cases.py, Decode's defaults): Llama-3-8B heads.
HEADS, KV_HEADS, HEAD_DIM = Decode(1, 1).heads, Decode(1, 1).kv_heads, Decode(1, 1).head_dim
IMPLS = ("tessera", "cudnn", "flash")
MEMORY_LIMIT = 60e9    # bytes of inputs one implementation may hold at once
COPY_BYTES = 4 * 2**30
# The targets: (batch, seqlen, min TB/s, min speedup over cuDNN).
CRITERIA = ((64, 8192, 3.5, 1.0), (1, 32768, 2.5, None), (1, 4096, None, 3.0))


def kv_bytes(batch: int, seqlen: int) -> int:
    return batch * seqlen * KV_HEADS * HEAD_DIM * 2 * 2


def input_bytes(impl: str, batch: int, seqlen: int, expanded: bool = False) -> int:
    kv = kv_bytes(batch, seqlen) * (HEADS // KV_HEADS if expanded else 1)
    return kv + batch * HEADS * HEAD_DIM * 2


# ---- inputs and calls ----------------------------------------------------------------------------

def make_tessera(batch, seqlen, block_size, nsets, ordered=False, kv="pairs"):
    import torch

    import tessera

    blocks_per_seq = math.ceil(seqlen / block_size)
    num_blocks = batch * blocks_per_seq
    sets = []
    for _ in range(nsets):
        shape = (num_blocks, block_size, KV_HEADS, HEAD_DIM)
        table = (torch.arange(num_blocks, device="cuda") if ordered
                 else torch.randperm(num_blocks, device="cuda")).to(torch.int32)
        if kv == "pairs":
            pairs = torch.randn(num_blocks, 2, *shape[1:], dtype=torch.bfloat16, device="cuda")
            k_cache, v_cache = pairs[:, 0], pairs[:, 1]
        else:
            k_cache = torch.randn(shape, dtype=torch.bfloat16, device="cuda")
            v_cache = torch.randn(shape, dtype=torch.bfloat16, device="cuda")
        sets.append(dict(
            q=torch.randn(batch, HEADS, HEAD_DIM, dtype=torch.bfloat16, device="cuda"),
            k_cache=k_cache, v_cache=v_cache,
            cu_seqlens_q=torch.arange(batch + 1, dtype=torch.int32, device="cuda"),
            seq_lens=torch.full((batch,), seqlen, dtype=torch.int32, device="cuda"),
            block_table=table.view(batch, blocks_per_seq)))

    def fn(i):
        s = sets[i % len(sets)]
        return tessera.paged_attention(s["q"], s["k_cache"], s["v_cache"], s["cu_seqlens_q"],
                                       s["seq_lens"], s["block_table"], 1, seqlen, causal=True)

    from tessera import _decode_ops

    s = sets[0]
    plan = _decode_ops.plan_for(s["q"], s["k_cache"], batch, 1, seqlen)
    return sets, fn, {"plan": list(plan), "block_size": block_size}


def make_sdpa(impl, batch, seqlen, nsets, expanded):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}[impl]
    kv_heads = HEADS if expanded else KV_HEADS
    sets = []
    for _ in range(nsets):
        sets.append(tuple(torch.randn(shape, dtype=torch.bfloat16, device="cuda") for shape in (
            (batch, HEADS, 1, HEAD_DIM), (batch, kv_heads, seqlen, HEAD_DIM),
            (batch, kv_heads, seqlen, HEAD_DIM))))

    def fn(i):
        q, k, v = sets[i % len(sets)]
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=not expanded)

    return sets, fn, {"gqa": "expanded k/v to 32 heads (enable_gqa rejected): reads 4x the "
                             "bytes counted" if expanded else "enable_gqa=True"}


# ---- timing --------------------------------------------------------------------------------------

def bench_one(impl, batch, seqlen, args):
    import torch

    from attention import L2_BYTES, time_fn

    res, first_error = {"status": "ok"}, None
    attempts = [False] if impl == "tessera" else [False, True]  # SDPA: GQA, then expanded
    for expanded in attempts:
        need = input_bytes(impl, batch, seqlen, expanded)
        if need > MEMORY_LIMIT:
            return {"status": f"skipped (inputs {need / 1e9:.0f} GB > {MEMORY_LIMIT / 1e9:.0f} GB)"}
        nsets = max(1, min(64, math.ceil(2 * L2_BYTES / need)))
        made = None
        try:
            if impl == "tessera":
                made = make_tessera(batch, seqlen, args.block_size, nsets, args.table == "ordered",
                                    args.kv)
            else:
                made = make_sdpa(impl, batch, seqlen, nsets, expanded)
            made[1](0)  # a backend that cannot run this problem raises here
            torch.cuda.synchronize()
            res = time_it(made[1], made[2], nsets, batch, seqlen, args, time_fn)
        except torch.cuda.OutOfMemoryError:
            res = {"status": "oom"}
        except (RuntimeError, ValueError) as e:
            res = {"status": f"error: {str(e).splitlines()[0][:200]}"}
        finally:
            made = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        if "ms" in res or res["status"] == "oom":
            break
        # An SDPA backend that rejected enable_gqa gets expanded k/v on the next attempt.
        first_error = first_error or res.get("status")
    if expanded and first_error:
        res["enable_gqa_error"] = first_error
    return res


def time_it(fn, info, nsets, batch, seqlen, args, time_fn) -> dict:
    res = dict(status="ok", **info)
    times, fields = time_fn(fn, args.runs, args.warmup, nsets, args.no_graph)
    res.update(fields)
    res["ms"] = statistics.median(times)
    res["ms_min"] = min(times)
    res["runs"] = len(times)
    res["tbps"] = kv_bytes(batch, seqlen) / (res["ms"] * 1e-3) / 1e12
    return res


def copy_ceiling(runs: int, warmup: int) -> dict:
    """Device-to-device copy of 4 GiB: (bytes read + bytes written) / median time."""
    import torch

    src = torch.randint(0, 256, (COPY_BYTES,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(warmup):
        dst.copy_(src)
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    del src, dst
    torch.cuda.empty_cache()
    ms = statistics.median(times)
    return {"bytes": 2 * COPY_BYTES, "ms": ms, "tbps": 2 * COPY_BYTES / (ms * 1e-3) / 1e12,
            "runs": runs}


# ---- summary -------------------------------------------------------------------------------------

def summarize(row, copy_tbps):
    impls = row["impls"]
    t = impls.get("tessera", {})
    for peer in ("cudnn", "flash"):
        p = impls.get(peer, {})
        if "ms" in t and "ms" in p:
            row[f"tessera_over_{peer}"] = p["ms"] / t["ms"]
    if "tbps" in t and copy_tbps:
        row["tessera_fraction_of_copy"] = t["tbps"] / copy_tbps


def criteria(rows, copy_tbps):
    out = []
    for batch, seqlen, min_tbps, min_vs_cudnn in CRITERIA:
        row = next((r for r in rows if r["batch"] == batch and r["seqlen"] == seqlen), None)
        c = {"batch": batch, "seqlen": seqlen, "min_tbps": min_tbps, "min_vs_cudnn": min_vs_cudnn}
        if row is None:
            out.append(dict(c, met=None, note="not measured"))
            continue
        tbps = row["impls"].get("tessera", {}).get("tbps")
        vs = row.get("tessera_over_cudnn")
        c.update(tbps=tbps, vs_cudnn=vs, fraction_of_copy=row.get("tessera_fraction_of_copy"))
        met = True
        if min_tbps is not None:
            met = met and tbps is not None and tbps >= min_tbps
        if min_vs_cudnn is not None:
            met = met and vs is not None and vs >= min_vs_cudnn
        c["met"] = met
        out.append(c)
    return out


def _cell(r):
    if "tbps" in r:
        return f"{r['tbps']:7.2f}"
    s = r.get("status", "-")
    return f"{'OOM' if s == 'oom' else 'skip' if s.startswith('skipped') else 'err':>7s}"


def print_row(row, impls):
    cells = " ".join(_cell(row["impls"].get(i, {})) for i in impls)
    ratios = " ".join(f"{row[k]:6.2f}x" if k in row else "      -"
                      for k in ("tessera_over_cudnn", "tessera_over_flash"))
    frac = row.get("tessera_fraction_of_copy")
    us = row["impls"].get("tessera", {}).get("ms")
    print(f"B={row['batch']:<3d} L={row['seqlen']:<6d} {row['kv_bytes'] / 2**20:9.0f} {cells}  "
          f"{ratios}  {f'{frac:5.0%}' if frac else '    -'}  "
          f"{f'{us * 1e3:8.1f}' if us else '       -'}", flush=True)


def _criterion_name(c):
    parts = []
    if c["min_tbps"] is not None:
        parts.append(f">= {c['min_tbps']} TB/s")
    if c["min_vs_cudnn"] is not None:
        parts.append(f">= {c['min_vs_cudnn']:.1f}x cuDNN")
    return f"B={c['batch']}, L={c['seqlen']}: " + " and ".join(parts)


def report(data) -> str:
    """decode_bench.md: the docs/benchmarks.md section, every number from the JSON."""
    meta, rows, copy = data["meta"], data["results"], data.get("copy", {})
    impls = [i for i in IMPLS if any(i in r["impls"] for r in rows)]

    def tb(r):
        return f"{r['tbps']:.2f}" if "tbps" in r else (
            "OOM" if r.get("status") == "oom" else "skipped"
            if r.get("status", "").startswith("skipped") else "n/a")

    def us(r):
        return f"{r['ms'] * 1e3:.1f}" if "ms" in r else ""

    parts = [f"Measured {meta['date']} on {meta['device']} ({meta['sm_count']} SMs), torch "
             f"{meta['torch']}, CUDA {meta['cuda']}, cuDNN {meta['cudnn']}; median of "
             f"{meta['runs']} runs. Decode: q_len 1, Hq={HEADS}, Hkv={KV_HEADS}, D={HEAD_DIM}, "
             f"bf16; tessera block_size {meta['block_size']} with {meta.get('table', 'shuffled')} block tables, "
             f"K and V "
             f"{'side by side per block' if meta.get('kv') == 'pairs' else 'in two tensors'}. "
             f"Bandwidth: {meta['bandwidth']}. Copy ceiling (4 GiB copy_, same run): "
             f"{copy.get('tbps', float('nan')):.2f} TB/s.", ""]
    head = (["B", "L", "K+V MiB"] + [f"{i} TB/s" for i in impls] + [f"{i} µs" for i in impls] +
            ["tessera / cuDNN", "tessera / flash", "tessera % of copy"])
    parts += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = ([str(r["batch"]), str(r["seqlen"]), f"{r['kv_bytes'] / 2**20:,.0f}"] +
                 [tb(r["impls"].get(i, {})) for i in impls] +
                 [us(r["impls"].get(i, {})) for i in impls] +
                 [f"{r[k]:.2f}x" if k in r else "" for k in ("tessera_over_cudnn",
                                                             "tessera_over_flash")] +
                 [f"{r['tessera_fraction_of_copy']:.0%}" if "tessera_fraction_of_copy" in r
                  else ""])
        parts.append("| " + " | ".join(cells) + " |")
    parts += ["", "| target | tessera TB/s | vs cuDNN | % of copy | met |",
              "| --- | --- | --- | --- | --- |"]
    for c in data.get("criteria", []):
        tbps, vs, frac = c.get("tbps"), c.get("vs_cudnn"), c.get("fraction_of_copy")
        met = {True: "yes", False: "**no**", None: "not measured"}[c.get("met")]
        parts.append(f"| {_criterion_name(c)} | {f'{tbps:.2f}' if tbps else ''} | "
                     f"{f'{vs:.3f}x' if vs else ''} | {f'{frac:.0%}' if frac else ''} | {met} |")
    gqa = sorted({f"{i}: {r['impls'][i]['gqa']}" for r in rows for i in r["impls"]
                  if "gqa" in r["impls"][i]})
    timings = sorted({i.get("timing", "") for r in rows for i in r["impls"].values()} - {""})
    parts += ["", f"SDPA GQA: {'; '.join(gqa) or 'n/a'}. Timing: {', '.join(timings)}."]
    return "\n".join(parts) + "\n"


def write_outputs(data, out_dir, plot=True):
    with open(os.path.join(out_dir, "decode_bench.md"), "w") as f:
        f.write(report(data))
    print(f"wrote {os.path.join(out_dir, 'decode_bench.md')}")
    if not plot:
        return
    try:
        import plot_decode
    except ImportError as e:
        print(f"no plot here ({e}); on a machine with matplotlib run: "
              f"python3 bench/kernels/plot_decode.py {os.path.join(out_dir, 'decode_bench.json')}")
        return
    print(f"wrote {plot_decode.plot(data, out_dir)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"), help="output folder")
    ap.add_argument("--quick", action="store_true",
                    help="B in {1, 64}, L in {4096, 8192, 32768} (the target rows)")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per case (>= 20)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--block-size", type=int, default=16, help="tessera's cache block size")
    ap.add_argument("--table", choices=("shuffled", "ordered"), default="shuffled",
                    help="tessera's block tables: a random permutation of the blocks (default) or "
                         "each sequence's blocks consecutive")
    ap.add_argument("--kv", choices=("pairs", "separate"), default="pairs",
                    help="tessera's K and V: views of one [blocks, 2, ...] tensor (the engine's "
                         "cache, default) or two tensors")
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma list of " + ",".join(IMPLS))
    ap.add_argument("--no-graph", action="store_true", help="time eager calls, not graph replays")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--report", metavar="JSON", help="only rewrite decode_bench.md and the plot "
                    "from an earlier run's JSON (next to it), no GPU needed")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            write_outputs(json.load(f), os.path.dirname(os.path.abspath(args.report)),
                          not args.no_plot)
        return
    if args.runs < 20:
        ap.error("--runs must be >= 20 (docs/architecture.md: medians over >= 20 timed runs)")
    impls = [i for i in args.impls.split(",") if i]
    for i in impls:
        if i not in IMPLS:
            ap.error(f"unknown impl {i!r} (choose from {', '.join(IMPLS)})")
    os.makedirs(args.out, exist_ok=True)

    import torch

    import tessera  # noqa: F401 - fail early when the extension is missing

    dev = torch.cuda.get_device_properties(0)
    meta = {
        "device": dev.name, "sm_count": dev.multi_processor_count, "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": args.runs, "warmup": args.warmup, "heads": HEADS, "kv_heads": KV_HEADS,
        "head_dim": HEAD_DIM, "dtype": "bf16", "q_len": 1, "block_size": args.block_size, "table": args.table,
        "kv": args.kv,
        "bandwidth": "bytes of K and V read, B*L*Hkv*D*2 bytes*2, over the median time",
        "time": "median ms per call; CUDA graph of one call per rotating input set (> 2x L2) "
                "unless noted ('timing')",
        "layout": f"tessera: paged [num_blocks, block_size, Hkv, D], {args.table} block table, "
                  "K and V " + ("in one [num_blocks, 2, ...] tensor; " if args.kv == "pairs"
                                else "apart; ") +
                  "SDPA: contiguous (B, H, L, D)",
    }
    copy = copy_ceiling(args.runs, args.warmup)
    print(f"{dev.name}, torch {torch.__version__}, CUDA {torch.version.cuda}; copy ceiling "
          f"{copy['tbps']:.2f} TB/s; K+V TB/s, median of {args.runs}")
    print(f"{'shape':16s} {'KV MiB':>9s} " + " ".join(f"{i:>7s}" for i in impls) +
          "  t/cudnn t/flash  %copy  t us")
    rows = []
    for case in decode_cases(bench="quick" if args.quick else "full"):
        batch, seqlen = case.batch, case.seqlen
        row = {"batch": batch, "seqlen": seqlen, "kv_bytes": kv_bytes(batch, seqlen), "impls": {}}
        for impl in impls:
            row["impls"][impl] = bench_one(impl, batch, seqlen, args)
        summarize(row, copy["tbps"])
        print_row(row, impls)
        rows.append(row)
    data = {"meta": meta, "copy": copy, "results": rows, "criteria": criteria(rows, copy["tbps"])}
    for c in data["criteria"]:
        met = {True: "met", False: "NOT MET", None: "not measured"}[c["met"]]
        got = (f"{c['tbps']:.2f} TB/s" if c.get("tbps") else "-") + (
            f", {c['vs_cudnn']:.3f}x cuDNN" if c.get("vs_cudnn") else "")
        print(f"target {_criterion_name(c)}: {got} -> {met}")
    path = os.path.join(args.out, "decode_bench.json")
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    print(f"wrote {path}")
    write_outputs(data, args.out, not args.no_plot)


if __name__ == "__main__":
    main()
