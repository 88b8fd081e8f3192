#!/usr/bin/env python3
"""bench/serving/offline.py — offline engine throughput: N requests of random prompts submitted at
once, EOS ignored, through `tessera bench --offline` (which does the work and writes JSON).

With several --num-prompts values it runs one point each (same input/output lengths), so the table
and the plot show how throughput and latency move with the number of requests in flight.

Usage: offline.py [--binary build/cpu/tessera] [--model DIR] [--num-prompts 1,16,64]
                  [--input-len 128] [--output-len 64] [--out DIR] [-- extra tessera bench flags]
Prints a Markdown table; writes DIR/serving_offline.json and, when matplotlib is there,
DIR/serving_offline.png.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_point(args, n, extra):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    cmd = [args.binary, "bench", "--offline", "--num-prompts", str(n), "--input-len", str(args.input_len),
           "--output-len", str(args.output_len), "--json", path] + extra
    if args.model:
        cmd += ["--model", args.model]
    print("$ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    with open(path) as f:
        result = json.load(f)
    os.unlink(path)
    return result


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    n = [r["config"]["num_prompts"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(n, [r["output_tokens_per_s"] for r in results], "o-", label="output tokens/s")
    a.plot(n, [r["input_tokens_per_s"] for r in results], "s-", label="input tokens/s")
    a.set_xscale("log", base=2)
    a.set_xlabel("requests submitted at once")
    a.set_ylabel("tokens/s")
    a.legend()
    for key, label in (("ttft_ms", "TTFT p50"), ("itl_ms", "inter-token p50")):
        b.plot(n, [r[key]["p50"] for r in results], "o-", label=label)
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xlabel("requests submitted at once")
    b.set_ylabel("ms")
    b.legend()
    fig.suptitle(f"tessera offline serving: {results[0]['model']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "cpu", "tessera"))
    p.add_argument("--model", default=None, help="checkpoint folder (default: the demo model)")
    p.add_argument("--num-prompts", default="1,16,64")
    p.add_argument("--input-len", type=int, default=128)
    p.add_argument("--output-len", type=int, default=64)
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench-serving"))
    args, extra = p.parse_known_args()
    extra = [e for e in extra if e != "--"]
    os.makedirs(args.out, exist_ok=True)
    results = [run_point(args, int(n), extra) for n in args.num_prompts.split(",")]

    print(f"offline serving, {args.input_len} in / {args.output_len} out tokens per request, {results[0]['model']}\n")
    print("| requests | req/s | input tok/s | output tok/s | TTFT p50 / p99 (ms) | ITL p50 / p99 (ms) | preemptions |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['config']['num_prompts']} | {r['requests_per_s']:.2f} | {r['input_tokens_per_s']:.0f} | "
              f"{r['output_tokens_per_s']:.0f} | {r['ttft_ms']['p50']:.1f} / {r['ttft_ms']['p99']:.1f} | "
              f"{r['itl_ms']['p50']:.1f} / {r['itl_ms']['p99']:.1f} | {r['num_preemptions']} |")
    with open(os.path.join(args.out, "serving_offline.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot(results, os.path.join(args.out, "serving_offline.png"))
    print(f"\nwrote {args.out}/serving_offline.json", file=sys.stderr)


if __name__ == "__main__":
    main()
