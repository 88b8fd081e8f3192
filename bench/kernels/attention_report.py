"""bench/kernels/attention_report.py — turns bench/kernels/attention.py's JSON into the markdown
tables of docs/benchmarks.md ("Attention (H200)") and, with matplotlib, the plots next to it.

    python3 bench/kernels/attention_report.py gpu-out/attention_bench.json > /tmp/attention.md
    python3 bench/kernels/attention_report.py gpu-out/attention_bench.json --plots docs/img

Every number printed comes from the JSON; nothing is filled in by hand.
"""

from __future__ import annotations

import argparse
import json
import sys

IMPLS = ["tessera", "flash", "cudnn", "efficient", "math"]


def _tflops(r):
    if "tflops" in r:
        return f"{r['tflops']:.0f}" if r["tflops"] >= 10 else f"{r['tflops']:.1f}"
    s = r.get("status", "")
    return "OOM" if s == "oom" else "skipped" if s.startswith("skipped") else "n/a" if s else ""


def _mib(b):
    return f"{b / 2**20:,.0f}" if b is not None else ""


def table(rows, mode):
    impls = [i for i in IMPLS if any(i in r["impls"] for r in rows)]
    head = (["shape (B, H, S, D)", "causal"] + [f"{i} TFLOP/s" for i in impls] +
            ["tessera / flash", "speedup vs math", "peak MiB tessera", "peak MiB math"])
    out = [f"**{mode.replace('_', ' + ')}**", "", "| " + " | ".join(head) + " |",
           "|" + " --- |" * len(head)]
    for r in rows:
        if r["mode"] != mode:
            continue
        s = r["shape"]
        ratio = r.get("tessera_over_flash")
        vs_math = r.get("speedup_vs_math")
        cells = ([f"{s['batch']}, {s['heads']}, {s['seqlen']}, {s['head_dim']} ({s['dtype']})",
                  "yes" if s["causal"] else "no"] +
                 [_tflops(r["impls"].get(i, {})) for i in impls] +
                 [f"{ratio:.2f}x" if ratio else "", f"{vs_math:.1f}x" if vs_math else "",
                  _mib(r["impls"].get("tessera", {}).get("peak_bytes")),
                  _mib(r["impls"].get("math", {}).get("peak_bytes"))])
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def report(data) -> str:
    meta = data["meta"]
    rows = data["results"]
    parts = [f"Measured {meta['date']} on {meta['device']} ({meta['sm_count']} SMs), torch "
             f"{meta['torch']}, CUDA {meta['cuda']}, cuDNN {meta['cudnn']}; median of "
             f"{meta['runs']} runs. FLOPs: {meta['flops']}. Layouts: {meta['layout']}.", ""]
    for mode in ("fwd", "fwd_bwd"):
        if any(r["mode"] == mode for r in rows):
            parts += [table(rows, mode), ""]
    timings = sorted({i.get("timing", "") for r in rows for i in r["impls"].values()} - {""})
    parts.append(f"Timing: {', '.join(timings)}.")
    return "\n".join(parts)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--plots", default=None, help="also write the PNG plots into this folder")
    a = ap.parse_args()
    with open(a.json) as f:
        print(report(json.load(f)))
    if a.plots:
        import plot_attention

        for p in plot_attention.plot(a.json, a.plots):
            print(f"wrote {p}", file=sys.stderr)
