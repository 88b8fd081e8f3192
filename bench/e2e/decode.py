"""bench/e2e/decode.py — whole-model latency: tessera against HF transformers on the same
random-weight checkpoint, same run, same GPU. Prints the docs/benchmarks.md tables, writes
e2e_decode.json, e2e_decode.md and (with matplotlib) e2e_decode.png.

For each preset (default llama-3.2-1b and llama-3-8b; bf16 weights from `tessera make-model`):
  1. tessera, in subprocesses, before this process touches the GPU (they never share it):
     `tessera bench --device cuda --batch 1,8,32 --input-len 512 --output-len 128 --json` (b
     sequences of 512 random ids prefilled: prefill_ms; then 127 greedy decode steps:
     decode_tokens_per_s = b / step time) and one long prefill `--batch 1 --input-len 4096
     --output-len 2`.
  2. HF transformers on the same folder, bf16 on cuda, per attention implementation (--hf-attn;
     default sdpa, HF's default, and eager, which the issue's ~15 tok/s baseline used):
     - prefill: one forward over [b, input_len] random ids with use_cache=True and only the last
       position's logits (as generate() runs its prefill), CUDA-synchronized wall time, median of
       --prefill-runs after a warm-up;
     - decode: what a user of HF gets, generate(do_sample=False) with static lengths
       (min_new_tokens = max_new_tokens, eos unset so nothing stops early): the median time of
       generate(output_len tokens) minus the median time of generate(1 token), which is the
       prefill and the first token, over the output_len - 1 remaining steps. Same definition of a
       decode step as tessera's. Median of --decode-runs (each one is itself a mean over 127
       steps) after a warm-up.
  The bandwidth floor (HBM at 4.1 TB/s, the device-to-device copy ceiling measured on the H200): batch 1 reads every
  weight once per token, floor = 4.1e12 / weights_bytes tok/s (the issue's definition); the plot's
  floor line for batch b counts the KV cache read too: b * 4.1e12 / (weights + b * KV bytes at
  the mean context). The issue's targets (llama-3-8b) are judged at the end.

Every preset's tessera runs come first, then HF preset by preset, one model on the GPU at a time
(deleted and the cache emptied after each). Checkpoints go to a temporary folder (llama-3-8b is
16 GB) removed at the end, or stay in --model-dir-root and are reused. Subprocess logs and
tessera's own JSON land in --logs (default OUT/e2e_logs). Exit status 1 when any tessera or HF run failed (the
others are still measured and reported).

    python3 bench/e2e/decode.py --out gpu-out [--presets llama-3-8b] [--model-dir-root /tmp/models]
    python3 bench/e2e/decode.py --report gpu-out/e2e_decode.json [more.json ...]   # no GPU needed
    python3 bench/e2e/decode.py --presets tiny --device cpu --hf-device cpu --batches 1,2 \\
        --input-len 32 --output-len 8 --prefill-len 64 --out /tmp/e2e   # plumbing on a CPU build
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent
sys.path.insert(0, str(_HERE))

HBM_BYTES_PER_S = 4.1e12
HF_ATTN = ("sdpa", "eager")
# The targets: (preset, what, batch or prompt length, bound, value).
TARGETS = (("llama-3-8b", "decode_tokens_per_s", 1, ">=", 200.0),
           ("llama-3-8b", "decode_tokens_per_s", 32, ">=", 5000.0),
           ("llama-3-8b", "prefill_long_ms", 4096, "<=", 150.0))


# ---- the checkpoint and tessera ----------------------------------------------------------------

def find_binary(arg: str | None) -> Path:
    env = os.environ.get("TESSERA_BIN")
    return Path(arg or env or _ROOT / "build" / "cuda" / "tessera")


def run(cmd: list[str], log: Path, timeout: int) -> None:
    """Runs cmd with stdout + stderr into `log`; a failure raises with the log's tail."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        # First line: what failed and its last words (the report shows it); then more of the log.
        raise RuntimeError(f"`{Path(cmd[0]).name} {cmd[1]}` exited with {p.returncode}: "
                           f"{(tail or [''])[-1]} (log {log})\n  " + "\n  ".join(tail[-15:]))
    print(f"  {Path(cmd[0]).name} {cmd[1]}: {took:.1f}s (log {log})", flush=True)


def ensure_model(binary: Path, preset: str, model_dir: Path, logs: Path, timeout: int) -> None:
    """make-model into model_dir unless a random-weight checkpoint is already there."""
    cfg = model_dir / "config.json"
    if cfg.exists() and json.loads(cfg.read_text()).get("tessera_random_weights") and \
            any(model_dir.glob("*.safetensors")):
        print(f"  reusing {model_dir}")
        return
    run([str(binary), "make-model", "--preset", preset, "--out", str(model_dir), "--seed", "0",
         "--dtype", "bf16"], logs / f"make_model_{preset}.log", timeout)


def tessera_bench(binary: Path, model_dir: Path, device: str, batches, input_len: int,
                  output_len: int, tag: str, logs: Path, timeout: int) -> dict:
    """`tessera bench` (latency mode) -> its JSON, or {"error": ...}."""
    out = logs / f"tessera_{tag}.json"
    cmd = [str(binary), "bench", "--model", str(model_dir), "--device", device,
           "--batch", ",".join(str(b) for b in batches), "--input-len", str(input_len),
           "--output-len", str(output_len), "--json", str(out)]
    try:
        run(cmd, logs / f"tessera_{tag}.log", timeout)
        return json.loads(out.read_text())
    except (RuntimeError, subprocess.TimeoutExpired, OSError, json.JSONDecodeError) as e:
        print(f"  tessera {tag} failed: {e}", flush=True)
        return {"error": str(e)[-2000:]}


def checkpoint_facts(model_dir: Path) -> dict:
    """Weight bytes (the safetensors payload) and KV bytes per token (bf16) from the folder."""
    cfg = json.loads((model_dir / "config.json").read_text())
    weights = 0
    for f in model_dir.glob("*.safetensors"):
        with open(f, "rb") as fh:
            header = int.from_bytes(fh.read(8), "little")
        weights += f.stat().st_size - 8 - header
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    kv = 2 * cfg["num_hidden_layers"] * cfg.get("num_key_value_heads",
                                                cfg["num_attention_heads"]) * head_dim * 2
    return {"weights_bytes_files": weights, "kv_bytes_per_token": kv,
            "vocab_size": cfg["vocab_size"], "num_hidden_layers": cfg["num_hidden_layers"]}


# ---- HF transformers ---------------------------------------------------------------------------

def load_hf(model_dir: Path, attn: str, device: str):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kw = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": torch.bfloat16,
          "attn_implementation": attn}
    try:  # straight onto the GPU where transformers can (accelerate, or 5.x)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), device_map=device, **kw)
    except (ImportError, ValueError):
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kw).to(device)
    model.eval()
    gc_ = model.generation_config
    gc_.eos_token_id = None  # generate() refills eos from here when its kwarg is None
    gc_.pad_token_id = 0     # silences the padding notice; nothing is padded
    return model


class Clock:
    """Wall time of a callable, synchronized on the device (CUDA) before and after."""

    def __init__(self, device: str):
        import torch

        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def __call__(self, fn) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return (time.perf_counter() - t0) * 1e3


def median_ms(clock: Clock, fn, runs: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        clock(fn)
    times = [clock(fn) for _ in range(runs)]
    return statistics.median(times), times


def hf_measure(model, device: str, batches, input_len: int, output_len: int, prefill_len: int,
               args) -> dict:
    """HF prefill and decode figures for one loaded model (module docstring)."""
    import inspect

    import torch

    vocab = model.config.vocab_size
    gen = torch.Generator(device=device).manual_seed(0)
    keep = next((k for k in ("logits_to_keep", "num_logits_to_keep")
                 if k in inspect.signature(model.forward).parameters), None)
    clock = Clock(device)

    def ids(b, n):
        return torch.randint(0, vocab, (b, n), generator=gen, device=device)

    @torch.inference_mode()
    def prefill(x):
        extra = {keep: 1} if keep else {}
        return model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True, **extra)

    @torch.inference_mode()
    def generate(x, n):
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, num_beams=1,
                             max_new_tokens=n, min_new_tokens=n, eos_token_id=None)
        if out.shape[1] != x.shape[1] + n:
            raise RuntimeError(f"generate returned {out.shape[1] - x.shape[1]} tokens, not {n}")

    def guarded(fn):
        try:
            return fn()
        except torch.cuda.OutOfMemoryError:
            return {"status": "oom"}
        except RuntimeError as e:  # one failed point is recorded, the others still run
            return {"status": f"error: {str(e).splitlines()[0][:300]}"}
        finally:
            gc.collect()
            if device.startswith("cuda"):
                torch.cuda.empty_cache()

    def prefill_point(b, n):
        x = ids(b, n)
        ms, times = median_ms(clock, lambda: prefill(x), args.prefill_runs, args.warmup)
        return {"batch": b, "input_len": n, "prefill_ms": ms, "prefill_ms_runs": times,
                "prefill_tokens_per_s": b * n / (ms * 1e-3)}

    def decode_point(b):
        x = ids(b, input_len)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.warmup):
            generate(x, output_len)
        # Interleaved, so a drift of the machine's state shows in both medians alike.
        one_runs, full_runs = [], []
        for _ in range(args.decode_runs):
            one_runs.append(clock(lambda: generate(x, 1)))
            full_runs.append(clock(lambda: generate(x, output_len)))
        one, full = statistics.median(one_runs), statistics.median(full_runs)
        res = {"batch": b, "generate_1_ms": one, "generate_full_ms": full,
               "generate_1_ms_runs": one_runs, "generate_full_ms_runs": full_runs}
        if full <= one:
            return res | {"status": "error: generate(output_len) not slower than generate(1): "
                                    "timing noise, raise --decode-runs"}
        step = (full - one) / (output_len - 1)
        res.update(decode_ms_per_step=step, decode_tokens_per_s=b / (step * 1e-3))
        if device.startswith("cuda"):
            res["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
        return res

    out = {"prefill": [], "decode": []}
    for b in batches:
        out["prefill"].append(guarded(lambda: prefill_point(b, input_len)) | {"batch": b})
        print(f"    prefill b={b}: {_fmt(out['prefill'][-1].get('prefill_ms'), '.1f')} ms",
              flush=True)
    out["prefill_long"] = guarded(lambda: prefill_point(1, prefill_len)) | {"batch": 1}
    print(f"    prefill {prefill_len}: {_fmt(out['prefill_long'].get('prefill_ms'), '.1f')} ms",
          flush=True)
    for b in batches:
        out["decode"].append(guarded(lambda: decode_point(b)) | {"batch": b})
        print(f"    decode b={b}: {_fmt(out['decode'][-1].get('decode_tokens_per_s'), '.1f')} "
              f"tok/s", flush=True)
    return out


# ---- rows, targets, report ---------------------------------------------------------------------

def _fmt(x, spec: str, missing: str = "-") -> str:
    return missing if x is None else format(x, spec)


def _by_batch(items, batch):
    return next((r for r in items or [] if r.get("batch") == batch), {})


def build_rows(p: dict) -> list[dict]:
    """One row per batch size: tessera and each HF attention's prefill ms and decode tok/s."""
    t = p.get("tessera", {}).get("latency", {})
    facts = p["facts"]
    ctx = p["input_len"] + p["output_len"] / 2  # mean context over the decode steps
    rows = []
    for b in p["batches"]:
        tr = _by_batch(t.get("results"), b)
        w = p.get("weights_bytes") or facts["weights_bytes_files"]
        row = {"batch": b, "tessera_prefill_ms": tr.get("prefill_ms"),
               "tessera_decode_tokens_per_s": tr.get("decode_tokens_per_s"),
               "floor_tokens_per_s": b * HBM_BYTES_PER_S / (w + b * ctx *
                                                            facts["kv_bytes_per_token"])}
        for attn, h in p.get("hf", {}).items():
            row[f"hf_{attn}_prefill_ms"] = _by_batch(h.get("prefill"), b).get("prefill_ms")
            tps = _by_batch(h.get("decode"), b).get("decode_tokens_per_s")
            row[f"hf_{attn}_decode_tokens_per_s"] = tps
            if tps and row["tessera_decode_tokens_per_s"]:
                row[f"decode_tessera_over_hf_{attn}"] = row["tessera_decode_tokens_per_s"] / tps
            hp = row[f"hf_{attn}_prefill_ms"]
            if hp and row["tessera_prefill_ms"]:
                row[f"prefill_hf_{attn}_over_tessera"] = hp / row["tessera_prefill_ms"]
        rows.append(row)
    return rows


def long_prefill(p: dict) -> dict:
    tr = _by_batch(p.get("tessera", {}).get("prefill_long", {}).get("results"), 1)
    out = {"input_len": p["prefill_len"], "tessera_ms": tr.get("prefill_ms")}
    for attn, h in p.get("hf", {}).items():
        out[f"hf_{attn}_ms"] = h.get("prefill_long", {}).get("prefill_ms")
    return out


def judge(presets: list[dict]) -> list[dict]:
    out = []
    for name, what, at, bound, value in TARGETS:
        c = {"preset": name, "what": what, "at": at, "bound": bound, "value": value, "met": None}
        p = next((q for q in presets if q["preset"] == name), None)
        if p is not None:
            if what == "prefill_long_ms":
                lp = long_prefill(p)
                got = lp["tessera_ms"] if lp["input_len"] == at else None
                hf = {k: v for k, v in lp.items() if k.startswith("hf_")}
            else:
                row = next((r for r in p["rows"] if r["batch"] == at), {})
                got = row.get("tessera_decode_tokens_per_s")
                hf = {k: v for k, v in row.items() if k.startswith("hf_") and "decode" in k}
            c.update(tessera=got, hf=hf)
            if got is not None:
                c["met"] = got >= value if bound == ">=" else got <= value
            if what == "decode_tokens_per_s" and at == 1 and p.get("floor_tokens_per_s_batch1"):
                c["fraction_of_floor"] = (got or 0) / p["floor_tokens_per_s_batch1"]
        out.append(c)
    return out


def _target_name(c) -> str:
    if c["what"] == "prefill_long_ms":
        return f"{c['preset']} prefill {c['at']} tokens, batch 1: {c['bound']} {c['value']:g} ms"
    return f"{c['preset']} decode batch {c['at']}: {c['bound']} {c['value']:g} tok/s"


def report(data: dict) -> str:
    """e2e_decode.md: the docs/benchmarks.md section, every number from the JSON."""
    meta = data["meta"]
    attns = [a for a in HF_ATTN if any(a in p.get("hf", {}) for p in data["presets"])]
    parts = [f"Measured {meta['date']} on {meta['device']}, torch {meta['torch']}, transformers "
             f"{meta['transformers']}, CUDA {meta['cuda']}; tessera {meta.get('commit', '?')}. "
             f"Random bf16 weights from `tessera make-model`, the same folder for both. tessera: "
             f"`tessera bench` (prefill of b x {meta['input_len']} tokens, then "
             f"{meta['output_len'] - 1} greedy decode steps). HF: {meta['hf_method']}", ""]
    head = (["preset", "batch", "tessera prefill ms"] + [f"HF {a} prefill ms" for a in attns] +
            ["tessera decode tok/s"] + [f"HF {a} decode tok/s" for a in attns] +
            [f"tessera / HF {a}" for a in attns] + ["floor tok/s"])
    parts += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for p in data["presets"]:
        for r in p["rows"]:
            cells = ([p["preset"], str(r["batch"]), _fmt(r["tessera_prefill_ms"], ".1f")] +
                     [_fmt(r.get(f"hf_{a}_prefill_ms"), ".1f") for a in attns] +
                     [_fmt(r["tessera_decode_tokens_per_s"], ",.0f")] +
                     [_fmt(r.get(f"hf_{a}_decode_tokens_per_s"), ",.1f") for a in attns] +
                     [_fmt(r.get(f"decode_tessera_over_hf_{a}"), ".1f") + "x" * bool(
                         r.get(f"decode_tessera_over_hf_{a}")) for a in attns] +
                     [_fmt(r["floor_tokens_per_s"], ",.0f")])
            parts.append("| " + " | ".join(cells) + " |")
    parts += ["", "| preset | prefill, batch 1 | tessera ms | " +
              " | ".join(f"HF {a} ms | HF {a} / tessera" for a in attns) + " |",
              "| --- | --- | --- |" + " --- | --- |" * len(attns)]
    for p in data["presets"]:
        lp = p["long_prefill"]
        cells = [p["preset"], f"{lp['input_len']} tokens", _fmt(lp["tessera_ms"], ".1f")]
        for a in attns:
            hf = lp.get(f"hf_{a}_ms")
            ratio = hf / lp["tessera_ms"] if hf and lp["tessera_ms"] else None
            cells += [_fmt(hf, ".1f"), _fmt(ratio, ".1f") + "x" * bool(ratio)]
        parts.append("| " + " | ".join(cells) + " |")
    parts += ["", "| target | tessera | " + " | ".join(f"HF {a}" for a in attns) + " | met |",
              "| --- | --- |" + " --- |" * len(attns) + " --- |"]
    for c in data.get("criteria", []):
        unit = "ms" if c["what"] == "prefill_long_ms" else "tok/s"
        hf = c.get("hf", {})
        hf_cells = [_fmt(next((v for k, v in hf.items() if k.startswith(f"hf_{a}_")), None),
                         ",.1f") for a in attns]
        frac = f" ({c['fraction_of_floor']:.0%} of the floor)" if c.get("fraction_of_floor") \
            else ""
        met = {True: "yes", False: "**no**", None: "not measured"}[c["met"]]
        got = f"{c['tessera']:,.1f} {unit}{frac}" if c.get("tessera") is not None else "-"
        parts.append(f"| {_target_name(c)} | {got} | " +
                     " | ".join(hf_cells) + f" | {met} |")
    floors = ", ".join(f"{p['preset']} {p['floor_tokens_per_s_batch1']:,.0f} tok/s "
                       f"({p['weights_bytes'] / 1e9:.2f} GB of weights)"
                       for p in data["presets"] if p.get("floor_tokens_per_s_batch1"))
    parts += ["", f"Batch-1 floor (weights read once per token at {HBM_BYTES_PER_S / 1e12:.1f} "
                  f"TB/s): {floors or 'n/a'}. The floor column adds the KV cache read at the mean "
                  f"context ({meta['input_len']} + {meta['output_len']}/2 tokens)."]
    errors = [f"{p['preset']} {k}: {v['error'].splitlines()[0]}" for p in data["presets"]
              for k, v in p.get("tessera", {}).items() if "error" in v]
    if errors:
        parts += ["", "tessera failed: " + "; ".join(errors)]
    return "\n".join(parts) + "\n"


def write_outputs(data: dict, out_dir: Path, plot: bool) -> None:
    md = out_dir / "e2e_decode.md"
    md.write_text(report(data))
    print(f"wrote {md}")
    if not plot:
        return
    try:
        import plot_decode
    except ImportError as e:
        print(f"no plot here ({e}); on a machine with matplotlib run: "
              f"python3 bench/e2e/plot_decode.py {out_dir / 'e2e_decode.json'}")
        return
    print(f"wrote {plot_decode.plot(data, str(out_dir))}")


# ---- main --------------------------------------------------------------------------------------

def measure_preset_tessera(preset, model_dir, args, logs) -> dict:
    binary = find_binary(args.binary)
    ensure_model(binary, preset, model_dir, logs, args.timeout)
    return {
        "latency": tessera_bench(binary, model_dir, args.device, args.batches, args.input_len,
                                 args.output_len, f"{preset}_latency", logs, args.timeout),
        "prefill_long": tessera_bench(binary, model_dir, args.device, [1], args.prefill_len, 2,
                                      f"{preset}_prefill_{args.prefill_len}", logs, args.timeout),
    }


def measure_preset_hf(model_dir, args) -> dict:
    import torch

    out = {}
    for attn in args.hf_attn:
        print(f"  HF transformers, {attn} attention", flush=True)
        t0 = time.perf_counter()
        model = None
        try:
            model = load_hf(model_dir, attn, args.hf_device)
            print(f"    loaded in {time.perf_counter() - t0:.1f}s", flush=True)
            out[attn] = hf_measure(model, args.hf_device, args.batches, args.input_len,
                                   args.output_len, args.prefill_len, args)
            out[attn]["num_parameters"] = sum(p.numel() for p in model.parameters())
        except (RuntimeError, ValueError, OSError) as e:
            print(f"    HF {attn} failed: {e}", flush=True)
            out[attn] = {"error": str(e)[-2000:]}
        finally:
            del model
            gc.collect()
            if args.hf_device.startswith("cuda"):
                torch.cuda.empty_cache()
    return out


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"), help="output folder")
    ap.add_argument("--presets", default="llama-3.2-1b,llama-3-8b")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--input-len", type=int, default=512)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--prefill-len", type=int, default=4096, help="the long prefill, batch 1")
    ap.add_argument("--hf-attn", default=",".join(HF_ATTN), help="HF attention implementations")
    ap.add_argument("--prefill-runs", type=int, default=10, help="HF timed prefills per point")
    ap.add_argument("--decode-runs", type=int, default=3, help="HF timed generate() calls")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help="llama-3.2-1b only, HF sdpa only, 2 timed generate() calls")
    ap.add_argument("--model-dir-root", help="keep checkpoints in ROOT/<preset> (reused when "
                    "there); default: a temporary folder removed at the end")
    ap.add_argument("--binary", help="tessera binary (default $TESSERA_BIN, else "
                    "build/cuda/tessera)")
    ap.add_argument("--device", default="cuda", help="tessera's --device (cpu: plumbing only)")
    ap.add_argument("--hf-device", default="cuda", help="torch device of the HF runs")
    ap.add_argument("--skip-hf", action="store_true", help="tessera only")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per tessera subprocess")
    ap.add_argument("--logs", help="folder for subprocess logs and tessera's JSON "
                    "(default OUT/e2e_logs)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--report", nargs="+", metavar="JSON", help="only redo the tables and the "
                    "plot from earlier runs' JSON (presets merged, next to the first), no GPU")
    args = ap.parse_args()
    if args.quick:
        args.presets, args.hf_attn, args.decode_runs = "llama-3.2-1b", "sdpa", 2
    args.presets = [p for p in args.presets.split(",") if p]
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.hf_attn = [] if args.skip_hf else [a for a in args.hf_attn.split(",") if a]
    if args.output_len < 2:
        ap.error("--output-len must be >= 2 (decode steps = output_len - 1)")
    return args


def merge_reports(paths) -> dict:
    datas = [json.loads(Path(p).read_text()) for p in paths]
    data = dict(datas[0])
    data["presets"] = [p for d in datas for p in d["presets"]]
    data["criteria"] = judge(data["presets"])
    return data


def main():
    args = parse_args()
    if args.report:
        write_outputs(merge_reports(args.report), Path(args.report[0]).resolve().parent,
                      not args.no_plot)
        return 0
    binary = find_binary(args.binary)
    if not binary.exists():
        print(f"decode.py: no tessera binary at {binary} (build the cuda preset's `tessera` "
              f"target, or give --binary / TESSERA_BIN)", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = Path(args.logs) if args.logs else out_dir / "e2e_logs"
    logs.mkdir(parents=True, exist_ok=True)
    root = Path(args.model_dir_root) if args.model_dir_root else \
        Path(tempfile.mkdtemp(prefix="tessera-e2e-"))
    presets = []
    started = time.perf_counter()
    try:
        # Phase 1: every tessera run, before this process holds any GPU memory.
        for preset in args.presets:
            print(f"{preset}: tessera", flush=True)
            model_dir = root / preset
            presets.append({"preset": preset, "model_dir": str(model_dir),
                            "batches": args.batches, "input_len": args.input_len,
                            "output_len": args.output_len, "prefill_len": args.prefill_len,
                            "tessera": measure_preset_tessera(preset, model_dir, args, logs),
                            "facts": checkpoint_facts(model_dir)})
        # Phase 2: HF transformers, one model on the GPU at a time.
        for p in presets:
            print(f"{p['preset']}: HF transformers", flush=True)
            p["hf"] = measure_preset_hf(Path(p["model_dir"]), args) if args.hf_attn else {}
    except (RuntimeError, subprocess.TimeoutExpired) as e:  # make-model failed: nothing to run
        print(f"decode.py: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.model_dir_root:
            shutil.rmtree(root, ignore_errors=True)

    data = {"meta": meta(args), "presets": presets}
    for p in presets:
        lat = p["tessera"]["latency"]
        p["weights_bytes"] = lat.get("weights_bytes") or p["facts"]["weights_bytes_files"]
        p["num_parameters"] = lat.get("num_parameters")
        p["floor_tokens_per_s_batch1"] = HBM_BYTES_PER_S / p["weights_bytes"]
        p["rows"] = build_rows(p)
        p["long_prefill"] = long_prefill(p)
    data["criteria"] = judge(presets)
    path = out_dir / "e2e_decode.json"
    path.write_text(json.dumps(data, indent=1))
    print(report(data))
    print(f"wrote {path}")
    write_outputs(data, out_dir, not args.no_plot)
    print(f"e2e decode benchmark: {time.perf_counter() - started:.0f}s in all")
    failed = any("error" in v for p in presets for v in list(p["tessera"].values()) +
                 list(p["hf"].values()))
    return 1 if failed else 0


def meta(args) -> dict:
    import torch
    import transformers

    dev = (torch.cuda.get_device_name(0) if args.hf_device.startswith("cuda") else
           platform.processor() or platform.machine())
    try:
        commit = subprocess.run(["git", "-C", str(_ROOT), "log", "-1", "--format=%h"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": dev, "torch": torch.__version__,
        "transformers": transformers.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "commit": commit or "?",
        "binary": str(find_binary(args.binary)), "tessera_device": args.device,
        "hf_device": args.hf_device, "input_len": args.input_len, "output_len": args.output_len,
        "prefill_len": args.prefill_len, "batches": args.batches, "hf_attn": args.hf_attn,
        "prefill_runs": args.prefill_runs, "decode_runs": args.decode_runs,
        "warmup": args.warmup, "hbm_bytes_per_s": HBM_BYTES_PER_S,
        "hf_method": ("prefill = one forward over [b, input_len] with use_cache and the last "
                      "position's logits, median of "
                      f"{args.prefill_runs}; decode step = (median generate(output_len) - median "
                      "generate(1)) / (output_len - 1), greedy, min_new_tokens = max_new_tokens, "
                      f"eos unset, median of {args.decode_runs}; bf16, default DynamicCache, no "
                      "torch.compile."),
    }


if __name__ == "__main__":
    sys.exit(main())
